"""Upload slots and files in storage (migration 0004 and UploadRepository), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from dotimely_chat.storage import (
    Base,
    Database,
    PersonRepository,
    UploadRepository,
    downgrade_database,
    upgrade_database,
    utcnow,
)

from ..storage.conftest import empty_db, postgres_server  # noqa: F401 - fixtures
from ..storage.tenants import add_tenant

UPLOAD_TABLES = {"upload_slots", "uploaded_files"}
ID = "ab" * 20


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
    return [d for d in compare_metadata(context, Base.metadata) if any(t in str(d) for t in UPLOAD_TABLES)]


def _fks(connection: Connection) -> set[tuple[str, str | None]]:
    inspector = inspect(connection)
    return {(fk["name"], fk["options"].get("ondelete")) for t in UPLOAD_TABLES for fk in inspector.get_foreign_keys(t)}


async def test_migration_builds_the_upload_tables_of_the_models_and_drops_them(empty_db: Database) -> None:  # noqa: F811
    await upgrade_database(empty_db)
    async with empty_db.engine.connect() as connection:
        assert UPLOAD_TABLES <= set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
        assert await connection.run_sync(_diff) == []
        assert await connection.run_sync(_fks) == {
            ("fk_upload_slots_business_id_businesses", "CASCADE"), ("fk_upload_slots_person_id_people", "CASCADE"),
            ("fk_uploaded_files_business_id_businesses", "CASCADE"),
            ("fk_uploaded_files_person_id_people", "SET NULL")}
    await downgrade_database(empty_db, "0003")
    async with empty_db.engine.connect() as connection:
        assert not UPLOAD_TABLES & set(await connection.run_sync(lambda c: inspect(c).get_table_names()))


async def test_slots_are_claimed_once_and_count_toward_the_quota(empty_db: Database) -> None:  # noqa: F811
    await upgrade_database(empty_db)
    tenant = await add_tenant(empty_db, "a")
    now = utcnow()
    async with empty_db.session() as session:
        uploads = UploadRepository(session)
        await uploads.add_slot(tenant.business_id, tenant.owner_id, ID, "a.jpg", 5 * 1024**3, "image/jpeg",
                               now + dt.timedelta(minutes=5))
        await uploads.add_slot(tenant.business_id, tenant.owner_id, "cd" * 20, "old.jpg", 7, "image/jpeg",
                               now - dt.timedelta(minutes=1))
        await session.commit()
        assert await uploads.bytes_used(tenant.owner_id, now - dt.timedelta(days=1), now) == 5 * 1024**3
        assert await uploads.set_slot_state(ID, "issued", "uploading") is True
        assert await uploads.set_slot_state(ID, "issued", "uploading") is False
        assert await uploads.set_slot_state(ID, "uploading", "done") is True
        await uploads.add_file(ID, tenant.business_id, tenant.owner_id, "owner.a@chat.test", "a.jpg", 5 * 1024**3,
                               "image/jpeg", "0" * 64)
        await session.commit()
        stored = await uploads.get_file(ID)
        assert stored is not None and stored.size == 5 * 1024**3, "sizes past 2 GiB fit"
        assert (await uploads.file_for_get(ID)) == ("a.jpg", "image/jpeg", 5 * 1024**3)
        assert await uploads.uploader("owner.a@chat.test") == (tenant.owner_id, tenant.business_id)
        assert await uploads.uploader("nobody@chat.test") is None
        put = await uploads.slot_for_put(ID)
        assert put is not None and (put.state, put.jid, put.size) == ("done", "owner.a@chat.test", 5 * 1024**3)
        assert await uploads.bytes_used(tenant.owner_id, now - dt.timedelta(days=1), now) == 5 * 1024**3
        assert await uploads.bytes_used(tenant.owner_id, now + dt.timedelta(days=1), now) == 0
        assert await uploads.bytes_used(tenant.staff_id, now - dt.timedelta(days=1), now) == 0
        assert [f.file_id for f in await uploads.files_of_business(tenant.business_id)] == [ID]
        assert await uploads.known_file_ids([ID, "cd" * 20, "ef" * 20]) == {ID, "cd" * 20}


async def test_stale_slots_go_and_a_slot_being_uploaded_gets_a_grace(empty_db: Database) -> None:  # noqa: F811
    await upgrade_database(empty_db)
    tenant = await add_tenant(empty_db, "a")
    now = utcnow()
    states = {"aa": ("issued", -1), "bb": ("issued", 10), "cc": ("uploading", -1), "dd": ("uploading", -2000),
              "ee": ("done", -1)}
    async with empty_db.session() as session:
        uploads = UploadRepository(session)
        for prefix, (state, minutes) in states.items():
            await uploads.add_slot(tenant.business_id, tenant.customer_id, prefix * 20, "f.pdf", 1,
                                   "application/pdf", now + dt.timedelta(minutes=minutes))
            if state != "issued":
                await uploads.set_slot_state(prefix * 20, "issued", state)
        assert await uploads.delete_stale_slots(now, dt.timedelta(days=1)) == 3
        await session.commit()
        assert await uploads.known_file_ids([p * 20 for p in states]) == {"bb" * 20, "cc" * 20}


async def test_deleting_a_person_removes_their_slots_but_keeps_their_files(empty_db: Database) -> None:  # noqa: F811
    await upgrade_database(empty_db)
    tenant = await add_tenant(empty_db, "a")
    async with empty_db.session() as session:
        uploads = UploadRepository(session)
        await uploads.add_slot(tenant.business_id, tenant.customer_id, ID, "f.pdf", 3, "application/pdf",
                               utcnow() + dt.timedelta(minutes=5))
        await uploads.add_file(ID, tenant.business_id, tenant.customer_id, "customer.a@chat.test", "f.pdf", 3,
                               "application/pdf", "0" * 64)
        await uploads.add_slot(tenant.business_id, tenant.customer_id, "cd" * 20, "g.pdf", 3, "application/pdf",
                               utcnow() + dt.timedelta(minutes=5))
        await session.commit()
    async with empty_db.session() as session:
        await session.delete(await PersonRepository(session).get(tenant.customer_id))
        await session.commit()
    async with empty_db.session() as session:
        uploads = UploadRepository(session)
        assert await uploads.get_slot(ID) is None and await uploads.get_slot("cd" * 20) is None
        stored = await uploads.get_file(ID)
        assert stored is not None and stored.person_id is None and stored.uploader_jid == "customer.a@chat.test"
