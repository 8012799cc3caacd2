"""One store suite, run on SQLite (a file in tmp_path) and PostgreSQL (a fresh schema per test): `db` is
`empty_db` (tests/conftest.py: both servers, tests/support/postgres.py) migrated to head."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from dotimely_chat.storage import Database, upgrade_database

from ..support.tenants import Tenant, add_tenant


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
