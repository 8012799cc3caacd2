"""Schema migrations from inside the running program (no alembic.ini, no `python -m alembic`).

Each command runs on one connection in one transaction, inside the caller's event loop (Alembic's
"connection sharing" cookbook recipe), serialised across processes (an advisory lock on PostgreSQL,
BEGIN IMMEDIATE on SQLite). On SQLite the migration runs with foreign keys off, because
batch mode recreates tables and dropping a parent table with them on would fire ON DELETE CASCADE;
`PRAGMA foreign_key_check` must come back clean before the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Final, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from dotimely_chat.storage.database import Database

log = logging.getLogger(__name__)

MIGRATIONS_DIR: Final[Path] = Path(__file__).resolve().parent / "migrations"

T = TypeVar("T")

_LOCK_KEY: Final = int.from_bytes(b"dotimely", "big")  # pg_advisory_xact_lock key for migrations


class MigrationError(RuntimeError):
    """A migration left the database inconsistent and was rolled back."""


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config built in code, pointing at our migrations and, if given, a live connection."""
    config = Config()
    # ConfigParser interpolation: a '%' in the install path must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


async def _run(db: Database, work: Callable[[Connection], T]) -> T:
    """Run `work` on one connection in one transaction, one migrating process at a time."""
    async with db.engine.connect() as connection:
        if db.dialect_name != "sqlite":
            async with connection.begin():
                # Two processes starting at once (the CLI and the component) must not both migrate.
                await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
                return await connection.run_sync(work)

        # PRAGMA foreign_keys is a no-op inside a transaction, so switch it before BEGIN. The driver
        # (sqlite3's legacy mode) would not open a transaction for DDL by itself: BEGIN explicitly, and
        # IMMEDIATE so that a second migrating process waits (busy_timeout) instead of failing.
        await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        await connection.commit()
        try:
            await connection.exec_driver_sql("BEGIN IMMEDIATE")
            result = await connection.run_sync(work)
            violations = (await connection.exec_driver_sql("PRAGMA foreign_key_check")).all()
            if violations:
                raise MigrationError(f"foreign key violations after migration: {violations[:10]}")
            await connection.commit()
            return result
        finally:
            await connection.rollback()
            await connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            await connection.commit()


async def upgrade_database(db: Database, revision: str = "head") -> None:
    """Upgrade the schema to `revision`; a no-op when it is already there."""
    log.info("upgrading database %s to %s", db.display_url, revision)

    def work(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    await _run(db, work)


async def downgrade_database(db: Database, revision: str = "base") -> None:
    """Downgrade the schema to `revision` (`base` drops every table we created)."""
    log.warning("downgrading database %s to %s", db.display_url, revision)

    def work(connection: Connection) -> None:
        command.downgrade(alembic_config(connection), revision)

    await _run(db, work)


async def current_revision(db: Database) -> str | None:
    """The schema's revision, or None for a database that was never migrated."""

    def work(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with db.engine.connect() as connection:
        return await connection.run_sync(work)


def head_revision() -> str | None:
    """The newest revision this code knows (to tell an operator the database is behind)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
