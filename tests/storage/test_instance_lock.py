"""A second instance on the same database or upload directory is refused before it touches anything, on
SQLite (a lock file beside the database) and PostgreSQL (an advisory lock per database and schema)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dotimely_chat.instance_lock import HIDDEN_LOCK_FILE_NAME, FileLock, InstanceLocked, ServiceLocks
from dotimely_chat.storage import Database


async def test_a_second_instance_on_the_same_database_is_refused_until_the_first_stops(
    db: Database, tmp_path: Path
) -> None:
    first = ServiceLocks(db, tmp_path / "uploads-1")
    second = ServiceLocks(db, tmp_path / "uploads-2")  # its own upload directory: only the database is shared
    await first.acquire()
    try:
        with pytest.raises(InstanceLocked) as refused:
            await second.acquire()
        message = str(refused.value)
        assert message.startswith("another dotimely-chat (")
        assert "database" in message and "stop it first" in message
        # The refused instance holds nothing: not even the upload directory it did lock on the way.
        upload_lock = FileLock(tmp_path / "uploads-2" / HIDDEN_LOCK_FILE_NAME, "upload directory")
        upload_lock.acquire()
        upload_lock.release()
    finally:
        await first.release()
    await second.acquire()  # the first one's lock went with it
    await second.release()


async def test_the_database_still_answers_after_the_lock_is_released(db: Database, tmp_path: Path) -> None:
    locks = ServiceLocks(db, tmp_path / "uploads")
    await locks.acquire()
    await locks.release()
    async with db.engine.connect() as connection:
        assert (await connection.exec_driver_sql("SELECT 1")).scalar() == 1
    assert await db.ping()


def test_a_held_state_lock_names_its_holder_and_a_released_one_is_free(tmp_path: Path) -> None:
    first = FileLock(tmp_path / "state" / "instance.lock", f"state directory {tmp_path / 'state'}")
    first.acquire()
    try:
        with pytest.raises(InstanceLocked) as refused:
            FileLock(first.path, "state directory").acquire()
        assert "pid " in str(refused.value) and str(first.path) in str(refused.value)
    finally:
        first.release()
    again = FileLock(first.path, "state directory")
    again.acquire()  # a lock file left behind blocks nothing: the lock is the flock, not the file
    again.release()
