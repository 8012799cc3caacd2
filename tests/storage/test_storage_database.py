"""The database handle: URLs, health checks, SQLite pragmas."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

import pytest
from sqlalchemy.dialects import sqlite

from dotimely_chat.storage import Database, UTCDateTime, describe_url, normalize_url, sqlite_url_for


async def test_ping_is_true_on_a_live_database(db: Database) -> None:
    assert await db.ping() is True


async def test_ping_is_false_on_a_closed_port_without_raising() -> None:
    db = Database("postgresql://127.0.0.1:1/test")
    try:
        assert await db.ping(timeout=2.0) is False
    finally:
        await db.dispose()


async def test_ping_gives_up_after_its_timeout() -> None:
    async def accept_and_say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # hold the connection open until the client leaves
        writer.close()

    server = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    db = Database(f"postgresql://127.0.0.1:{port}/test")
    started = time.monotonic()
    try:
        assert await db.ping(timeout=0.3) is False
        assert time.monotonic() - started < 2.0
    finally:
        await db.dispose()
        server.close()
        await server.wait_closed()


async def test_sqlite_runs_in_wal_mode_with_foreign_keys_on(sqlite_db: Database) -> None:
    async with sqlite_db.engine.connect() as first, sqlite_db.engine.connect() as second:
        for connection in (first, second):  # the pragmas are set on every new connection
            pragmas = {
                name: (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
            }
            assert pragmas == {
                "journal_mode": "wal",
                "foreign_keys": 1,
                "synchronous": 1,
                "busy_timeout": 5000,
            }


async def test_sqlite_database_directory_is_created(tmp_path: Path) -> None:
    db = Database(sqlite_url_for(tmp_path / "state" / "nested"))
    try:
        assert await db.ping() is True
        assert (tmp_path / "state" / "nested" / "dotimely.db").is_file()
    finally:
        await db.dispose()


def test_sqlite_url_for_points_at_an_absolute_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert sqlite_url_for(Path("state")) == f"sqlite+aiosqlite:///{tmp_path.resolve()}/state/dotimely.db"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@db.test/chat", "postgresql+asyncpg://u@db.test/chat"),
        ("postgresql://u@db.test:5433/chat", "postgresql+asyncpg://u@db.test:5433/chat"),
        ("postgresql+asyncpg://db.test/chat", "postgresql+asyncpg://db.test/chat"),
        ("sqlite:///relative.db", "sqlite+aiosqlite:///relative.db"),
        ("sqlite:////abs/dotimely.db", "sqlite+aiosqlite:////abs/dotimely.db"),
    ],
)
def test_database_urls_get_our_async_drivers(given: str, expected: str) -> None:
    assert normalize_url(given).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize("url", ["mysql://u:s3cret@db.test/chat", "postgresql+psycopg2://u:s3cret@db.test/x"])
def test_unsupported_databases_are_refused_without_leaking_the_password(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported database") as excinfo:
        Database(url)
    assert "s3cret" not in str(excinfo.value)


@pytest.mark.parametrize(
    "url", ["postgresql://chat:s3cret@db.test/chat", "postgresql://db.test/chat?user=chat&password=s3cret"]
)
def test_describe_url_hides_the_password(url: str) -> None:
    shown = describe_url(url)
    assert "s3cret" not in shown
    assert "db.test" in shown


def test_describe_url_survives_garbage() -> None:
    assert describe_url("not a url") == "<unparseable database URL>"


def test_utc_datetime_refuses_naive_values() -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(dt.datetime(2025, 1, 1), sqlite.dialect())
