"""One running dotimely-chat per state directory, upload directory and database.

A second instance on the same state would do harm before it noticed anything: its start-up clean-up
deletes the first one's uploads in progress, `up` stops "a Prosody left behind" (the first one's), and
its component loops on the server's stream conflict. So each instance holds, for its whole life:
- an exclusive `flock` on `<state>/instance.lock` (taken by the CLI before it touches the state), and on
  `.instance.lock` in the upload directory and beside a SQLite database file (taken by ChatService.start:
  they may live outside the state directory);
- on PostgreSQL, a session advisory lock keyed by the database and schema, on a connection of its own,
  so that two instances with different state directories never share one database.
A lock that is held answers `InstanceLocked` naming the holder (the pid written into the lock file, or
the application name of the PostgreSQL session); the kernel and PostgreSQL drop the locks when the
process dies, even after kill -9, so a stale lock file never blocks a start.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from .storage import Database
from .storage.database import sqlite_file

log = logging.getLogger(__name__)

LOCK_FILE_NAME = "instance.lock"
HIDDEN_LOCK_FILE_NAME = ".instance.lock"
# One advisory lock per (database, schema): tests and tenants of one server use schemas of their own.
_PG_KEY = "hashtextextended('dotimely-chat ' || current_database() || '.' || current_schema(), 0)"


class InstanceLocked(RuntimeError):
    """Another dotimely-chat runs on the same state, upload directory or database."""


def holder_text() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}"


class FileLock:
    """An exclusive, non-blocking flock on one file, held until `release` or the process's end."""

    def __init__(self, path: Path, what: str) -> None:
        self.path, self.what = path, what
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Not O_TRUNC: the holder's pid stays readable until we own the lock. Python opens non-inheritable
        # descriptors, so Prosody (our child) never holds our lock.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "pid unknown"
            os.close(fd)
            raise InstanceLocked(
                f"another dotimely-chat ({holder}) is running on the {self.what}; stop it first, or give this "
                f"one a state_directory of its own (lock file {self.path})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{holder_text()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the last descriptor drops the flock


class PostgresLock:
    """A session advisory lock on a connection kept open for the instance's life."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._connection: AsyncConnection | None = None

    async def acquire(self) -> None:
        connection = await self.database.engine.connect()
        try:
            # Named first, so that a second instance can say who holds the lock.
            await connection.execute(text("SELECT set_config('application_name', :name, false)"),
                                     {"name": f"dotimely-chat {holder_text()}"[:63]})
            locked = (await connection.exec_driver_sql(f"SELECT pg_try_advisory_lock({_PG_KEY})")).scalar()
            if not locked:
                holder = (await connection.exec_driver_sql(
                    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                    f"AND ((l.classid::bigint << 32) | l.objid::bigint) = {_PG_KEY}")).scalar()
                schema = (await connection.exec_driver_sql("SELECT current_schema()")).scalar()
                raise InstanceLocked(
                    f"another dotimely-chat ({holder or 'unknown session'}) is using the database "
                    f"{self.database.display_url} (schema {schema}); stop it first: two instances must not "
                    "share one database")
            await connection.commit()  # the lock is the session's, it outlives the transaction
        except BaseException:
            await connection.close()
            raise
        self._connection = connection

    async def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        with contextlib.suppress(Exception):  # the server may be gone: then so is the lock
            await connection.exec_driver_sql("SELECT pg_advisory_unlock_all()")
            await connection.commit()
        # Never back into the pool holding a lock or our application name.
        with contextlib.suppress(Exception):
            await connection.invalidate()
        with contextlib.suppress(Exception):
            await connection.close()


class ServiceLocks:
    """The locks ChatService takes at start: upload directory, and the database (file or PostgreSQL)."""

    def __init__(self, database: Database, upload_directory: Path) -> None:
        self.files = [FileLock(upload_directory / HIDDEN_LOCK_FILE_NAME, f"upload directory {upload_directory}")]
        self.postgres: PostgresLock | None = None
        if database.dialect_name == "sqlite":
            path = sqlite_file(database.url)
            if path is not None:
                self.files.append(FileLock(path.parent / f".{path.name}.{LOCK_FILE_NAME}", f"database {path}"))
        else:
            self.postgres = PostgresLock(database)

    async def acquire(self) -> None:
        try:
            for lock in self.files:
                lock.acquire()
            if self.postgres is not None:
                await self.postgres.acquire()
        except BaseException:
            await self.release()
            raise

    async def release(self) -> None:
        for lock in self.files:
            lock.release()
        if self.postgres is not None:
            await self.postgres.release()


def lock_state_directory(state_directory: Path) -> FileLock:
    """Taken by `up` and `component` before anything is read or written in the state directory."""
    lock = FileLock(state_directory / LOCK_FILE_NAME, f"state directory {state_directory}")
    lock.acquire()
    return lock
