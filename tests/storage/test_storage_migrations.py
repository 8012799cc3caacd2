"""Migrations: build the schema the models describe, idempotently, and take it down again."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, ForeignKeyConstraint, inspect
from sqlalchemy.engine import Connection

from dotimely_chat.storage import (
    Base,
    BusinessRepository,
    Database,
    MembershipRepository,
    current_revision,
    downgrade_database,
    head_revision,
    migrate,
    upgrade_database,
)

from ..support.tenants import add_tenant

MODEL_TABLES = {
    "businesses", "people", "memberships", "appointments", "roster_items", "rooms", "audit_log",
    "upload_slots", "uploaded_files", "room_messages", "message_status", "member_marks", "presence",
    "export_links", "web_login_tickets", "web_sessions", "xmpp_credentials",
}


def _autogenerate_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))


def _constraints(connection: Connection) -> dict[str, Any]:
    """What autogenerate does not compare: CHECK constraint names, FK names with ON DELETE."""
    inspector = inspect(connection)
    return {
        table: (
            {c["name"] for c in inspector.get_check_constraints(table)},
            {(fk["name"], fk["options"].get("ondelete")) for fk in inspector.get_foreign_keys(table)},
        )
        for table in sorted(MODEL_TABLES)
    }


def _model_constraints() -> dict[str, Any]:
    result = {}
    for name in sorted(MODEL_TABLES):
        table = Base.metadata.tables[name]
        checks = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
        fks = {(c.name, c.ondelete) for c in table.constraints if isinstance(c, ForeignKeyConstraint)}
        result[name] = (checks, fks)
    return result


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as connection:
        return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))


async def test_empty_database_has_no_revision(empty_db: Database) -> None:
    assert await current_revision(empty_db) is None


async def test_upgrade_on_empty_database_builds_the_schema_of_the_models(empty_db: Database) -> None:
    await upgrade_database(empty_db)

    assert await current_revision(empty_db) == head_revision()
    assert await _tables(empty_db) == MODEL_TABLES | {"alembic_version"}
    async with empty_db.engine.connect() as connection:
        assert await connection.run_sync(_autogenerate_diff) == []
        assert await connection.run_sync(_constraints) == _model_constraints()


async def test_upgrade_twice_is_a_no_op(empty_db: Database) -> None:
    await upgrade_database(empty_db)
    async with empty_db.session() as session:
        await BusinessRepository(session).add("ext-1", "Salon")
        await session.commit()

    await upgrade_database(empty_db)

    assert await current_revision(empty_db) == head_revision()
    async with empty_db.session() as session:
        assert [b.external_id for b in await BusinessRepository(session).list()] == ["ext-1"]


async def test_two_processes_upgrading_at_once_migrate_once(empty_db: Database) -> None:
    await asyncio.gather(upgrade_database(empty_db), upgrade_database(empty_db))

    assert await current_revision(empty_db) == head_revision()
    assert await _tables(empty_db) == MODEL_TABLES | {"alembic_version"}


async def test_downgrade_to_base_removes_the_tables(empty_db: Database) -> None:
    await upgrade_database(empty_db)

    await downgrade_database(empty_db)

    assert await current_revision(empty_db) is None
    assert await _tables(empty_db) <= {"alembic_version"}


async def test_upgrade_after_downgrade_rebuilds_the_schema(empty_db: Database) -> None:
    await upgrade_database(empty_db)
    await downgrade_database(empty_db)

    await upgrade_database(empty_db)

    assert await _tables(empty_db) == MODEL_TABLES | {"alembic_version"}


RECREATE_PARENT_TABLE = """
import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("businesses", recreate="always") as batch:
        batch.add_column(sa.Column("note", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("businesses", recreate="always") as batch:
        batch.drop_column("note")
"""


async def test_a_sqlite_migration_that_recreates_a_parent_table_keeps_the_child_rows(
    sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite batch mode drops and recreates the table: with foreign keys on, that DROP would fire
    # ON DELETE CASCADE and silently empty `memberships`. migrate.py switches them off around migrations.
    db = sqlite_db
    tenant = await add_tenant(db, "a")
    migrations = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, migrations)
    (migrations / "versions" / "9999_recreate.py").write_text(
        RECREATE_PARENT_TABLE.format(head=head_revision())
    )
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", migrations)

    await upgrade_database(db)
    await downgrade_database(db, "-1")

    async with db.session() as session:
        members = await MembershipRepository(session).list_for_business(tenant.business_id)
        assert len(members) == 3
