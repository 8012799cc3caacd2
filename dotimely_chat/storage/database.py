"""The database handle: one async engine and its session factory, for SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, Final

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

log = logging.getLogger(__name__)

_DRIVERS: Final[dict[str, str]] = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}

# Applied to every new SQLite connection. WAL lets readers run beside the writer (2x throughput in
# FACTS.md); foreign keys are off by default in SQLite, and our cascades and RESTRICTs depend on them.
SQLITE_PRAGMAS: Final[tuple[str, ...]] = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=5000",
)
DEFAULT_LOCK_WAIT_MS: Final = 5000

# How long a statement of the current task may wait for a lock another writer holds (None: the default,
# SQLite's busy_timeout above; PostgreSQL's server setting). The HTTP API bounds it so that a locked
# database is answered fast with 503 + Retry-After; background work (the recorder, which keeps what it
# could not write) waits the default.
_lock_wait_ms: contextvars.ContextVar[int | None] = contextvars.ContextVar("dotimely_lock_wait_ms", default=None)


@contextmanager
def bounded_lock_waits(seconds: float) -> Iterator[None]:
    """Within this block (and tasks started from it), a lock wait lasts at most `seconds`."""
    token = _lock_wait_ms.set(max(1, int(seconds * 1000)))
    try:
        yield
    finally:
        _lock_wait_ms.reset(token)


@contextmanager
def default_lock_waits() -> Iterator[None]:
    """Within this block, lock waits are the default again: for the derived writes a request makes after its
    own commit (rosters, the web page's password), which must not be given up after the request's bound."""
    token = _lock_wait_ms.set(None)
    try:
        yield
    finally:
        _lock_wait_ms.reset(token)


def sqlite_url_for(state_dir: Path) -> str:
    """The URL of the default SQLite database inside the state directory."""
    return f"sqlite+aiosqlite:///{(state_dir.expanduser().resolve() / 'dotimely.db').as_posix()}"


def normalize_url(url: str) -> URL:
    """Parse a database URL and select our async driver (`postgres://` → `postgresql+asyncpg://`).

    Raises ValueError for anything but PostgreSQL and SQLite, without echoing a password.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError("not a database URL (expected postgresql://… or sqlite:///…)") from exc
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ValueError(
            f"unsupported database {describe_url(url)!r}: use postgresql+asyncpg:// or sqlite+aiosqlite://"
        )
    return parsed.set(drivername=driver)


def describe_url(url: str | URL) -> str:
    """The URL with any password masked, fit for logs and error messages."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "<unparseable database URL>"
    if "password" in parsed.query:
        parsed = parsed.update_query_dict({"password": "***"})
    return parsed.render_as_string(hide_password=True)


def sqlite_file(url: URL) -> Path | None:
    """The file behind a SQLite URL, or None for in-memory and `file:` URI databases."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:") or url.query.get("uri"):
        return None
    return Path(database).expanduser()


def set_sqlite_pragmas(dbapi_connection: Any, _connection_record: Any) -> None:
    """SQLITE_PRAGMAS on each new DB-API connection (a SQLAlchemy "connect" event listener)."""
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


class Database:
    """An async engine plus `expire_on_commit=False` sessions; callers own their transactions."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        connect_args: Mapping[str, Any] | None = None,
        **engine_options: Any,
    ) -> None:
        self._url = normalize_url(url)
        is_sqlite = self._url.get_backend_name() == "sqlite"
        if is_sqlite and (path := sqlite_file(self._url)) is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        if not is_sqlite:
            engine_options.setdefault("pool_pre_ping", True)
        self._engine = create_async_engine(
            self._url, echo=echo, connect_args=dict(connect_args or {}), **engine_options
        )
        if is_sqlite:
            event.listen(self._engine.sync_engine, "connect", set_sqlite_pragmas)
            event.listen(self._engine.sync_engine, "checkout", _sqlite_lock_wait)
        else:
            event.listen(self._engine.sync_engine, "checkout", _postgresql_lock_wait)
        self._sessionmaker = async_sessionmaker(self._engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"<Database {self.display_url}>"

    @property
    def engine(self) -> AsyncEngine:
        """The underlying SQLAlchemy async engine."""
        return self._engine

    @property
    def url(self) -> URL:
        """The normalised URL (with our async driver)."""
        return self._url

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        """The session factory, for code that wants to manage sessions itself."""
        return self._sessionmaker

    @property
    def dialect_name(self) -> str:
        """`"sqlite"` or `"postgresql"`."""
        return self._engine.dialect.name

    @property
    def display_url(self) -> str:
        """The URL with the password masked."""
        return describe_url(self._url)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session; the caller commits, anything uncommitted is rolled back on exit."""
        async with self._sessionmaker() as session:
            yield session

    async def ping(self, timeout: float = 2.0) -> bool:
        """True when a `SELECT 1` succeeds within `timeout` seconds; never raises (for health checks)."""
        try:
            async with asyncio.timeout(timeout):
                async with self._engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - a health check reports, it does not fail
            log.warning("database %s is not answering: %s: %s", self.display_url, type(exc).__name__, exc)
            return False
        return True

    async def health(self, timeout: float = 1.0) -> str:
        """'ok', 'busy' (another writer holds the lock, or no connection came free in time) or
        'unavailable', within about `timeout` seconds; never raises (for /healthz)."""
        path = sqlite_file(self._url) if self.dialect_name == "sqlite" else None
        if path is not None:
            # Its own connection, outside the pool (a pool full of waiting writers must not delay the
            # answer), and a write probe: WAL readers pass a held write lock, writers do not.
            return await asyncio.to_thread(_sqlite_write_probe, path, timeout)
        if await self.ping(timeout):
            return "ok"
        return "busy" if self._engine.pool.checkedout() > 0 else "unavailable"  # type: ignore[attr-defined]

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self._engine.dispose()


def _sqlite_write_probe(path: Path, timeout: float) -> str:
    try:
        connection = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        log.warning("database %s cannot be opened: %s", path, exc)
        return "unavailable"
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
        return "ok"
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc).lower() or "busy" in str(exc).lower():
            log.warning("database %s is locked by another writer", path)
            return "busy"
        log.warning("database %s does not answer: %s", path, exc)
        return "unavailable"
    except sqlite3.Error as exc:
        log.warning("database %s does not answer: %s", path, exc)
        return "unavailable"
    finally:
        connection.close()


def _sqlite_lock_wait(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Set the connection's busy_timeout to what the current task allows (only when it changes)."""
    wanted = _lock_wait_ms.get() or DEFAULT_LOCK_WAIT_MS
    if record.info.get("lock_wait_ms", DEFAULT_LOCK_WAIT_MS) != wanted:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={int(wanted)}")
        finally:
            cursor.close()
        record.info["lock_wait_ms"] = wanted


def _postgresql_lock_wait(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Set the session's lock_timeout to what the current task allows (0 = the server's default, no
    limit). Run on asyncpg's own connection, outside any transaction, so that a rollback keeps it."""
    wanted = _lock_wait_ms.get() or 0
    if record.info.get("lock_wait_ms", 0) == wanted:
        return
    raw, await_ = getattr(dbapi_connection, "_connection", None), getattr(dbapi_connection, "await_", None)
    if raw is None or await_ is None:  # another driver: leave the server's setting
        return
    await_(raw.execute(f"SET lock_timeout = {int(wanted)}"))
    record.info["lock_wait_ms"] = wanted
