"""One store suite, run on SQLite (a file in tmp_path) and PostgreSQL (a fresh schema per test).

PostgreSQL comes from DOTIMELY_TEST_POSTGRES_URL, default postgresql+asyncpg://127.0.0.1:5432/test. When
it cannot be reached the PostgreSQL half is skipped, unless CI is set: then it fails, so a broken CI
database never passes as green.
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from dotimely_chat.storage import Database, describe_url, upgrade_database

from .tenants import Tenant, add_tenant

POSTGRES_URL = os.environ.get("DOTIMELY_TEST_POSTGRES_URL", "postgresql+asyncpg://127.0.0.1:5432/test")


class PostgresServer:
    """The shared PostgreSQL server: checks it once, creates and drops per-test schemas."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._admin = Database(url)
        self._problem: str | None = None
        self._checked = False

    async def require(self) -> None:
        """Skip (or, under CI, fail) the calling test when the server cannot be reached."""
        if not self._checked:
            self._checked = True
            try:
                async with self._admin.engine.connect() as connection:
                    await connection.exec_driver_sql("SELECT 1")
            except Exception as exc:  # noqa: BLE001 - any failure means "not available"
                self._problem = (
                    f"PostgreSQL at {describe_url(self.url)} is not reachable ({type(exc).__name__}: {exc}); "
                    "start it or set DOTIMELY_TEST_POSTGRES_URL"
                )
        if self._problem is None:
            return
        if os.environ.get("CI"):
            pytest.fail(f"{self._problem} [CI is set, so this fails instead of skipping]", pytrace=False)
        pytest.skip(self._problem)

    async def execute(self, sql: str) -> None:
        async with self._admin.engine.begin() as connection:
            await connection.exec_driver_sql(sql)

    async def close(self) -> None:
        await self._admin.dispose()


@pytest.fixture(scope="session")
async def postgres_server() -> AsyncIterator[PostgresServer]:
    server = PostgresServer(POSTGRES_URL)  # creating the engine does not connect
    yield server
    await server.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_db(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_server: PostgresServer
) -> AsyncIterator[Database]:
    """An empty database (no tables): a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'state' / 'dotimely.db'}")
        yield db
        await db.dispose()
        return

    await postgres_server.require()
    schema = f"test_{secrets.token_hex(6)}"
    await postgres_server.execute(f'CREATE SCHEMA "{schema}"')
    db = Database(postgres_server.url, connect_args={"server_settings": {"search_path": schema}})
    try:
        yield db
    finally:
        await db.dispose()
        await postgres_server.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
async def db(empty_db: Database) -> Database:
    """A database migrated to head."""
    await upgrade_database(empty_db)
    return empty_db


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated SQLite database, for SQLite-only behaviour."""
    db = Database(f"sqlite:///{tmp_path / 'dotimely.db'}")
    await upgrade_database(db)
    yield db
    await db.dispose()


@pytest.fixture
def make_tenant(db: Database) -> Callable[[str], Awaitable[Tenant]]:
    """Create more tenants: `await make_tenant("b")`."""
    return functools.partial(add_tenant, db)


@pytest.fixture
async def tenant(db: Database) -> Tenant:
    """Tenant "a", committed."""
    return await add_tenant(db, "a")
