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

from ..support.tenants import add_tenant

UPLOAD_TABLES = {"upload_slots", "uploaded_files"}
ID = "ab" * 20


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
    return [d for d in compare_metadata(context, Base.metadata) if any(t in str(d) for t in UPLOAD_TABLES)]


def _fks(connection: Connection) -> set[tuple[str, str | None]]:
    inspector = inspect(connection)
    return {(fk["name"], fk["options"].get("ondelete")) for t in UPLOAD_TABLES for fk in inspector.get_foreign_keys(t)}


async def test_migration_builds_the_upload_tables_of_the_models_and_drops_them(empty_db: Database) -> None:
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


async def test_a_slot_is_used_once_and_counts_toward_the_quota(empty_db: Database) -> None:
    await upgrade_database(empty_db)
    tenant = await add_tenant(empty_db, "a")
    owner = "owner.a@chat.test"
    now, day = utcnow(), dt.timedelta(days=1)
    async with empty_db.session() as session:
        uploads = UploadRepository(session)
        await uploads.add_slot(tenant.business_id, tenant.owner_id, ID, "a.jpg", 5 * 1024**3, "image/jpeg",
                               now + dt.timedelta(minutes=5))
        await uploads.add_slot(tenant.business_id, tenant.owner_id, "cd" * 20, "old.jpg", 7, "image/jpeg",
                               now - dt.timedelta(minutes=1))
        await session.commit()
        assert await uploads.uploader(owner) == (tenant.owner_id, tenant.business_id)
        assert await uploads.uploader("nobody@chat.test") is None
        assert await uploads.uploader_with_usage(owner, now - day, now) == (
            tenant.owner_id, tenant.business_id, 5 * 1024**3), "the open slot counts, the expired one not"
        assert await uploads.uploader_with_usage("nobody@chat.test", now, now) is None
        put = await uploads.slot_for_put(ID)
        assert put is not None and (put.jid, put.size, bool(put[-1])) == (owner, 5 * 1024**3, False)

        assert await uploads.add_file(ID, owner, "0" * 64) is True
        assert await uploads.add_file(ID, owner, "1" * 64) is False, "a slot is used once"
        assert await uploads.add_file("ef" * 20, owner, "0" * 64) is False, "no slot, no file"
        await session.commit()
        stored = await uploads.get_file(ID)
        assert stored is not None and stored.size == 5 * 1024**3, "sizes past 2 GiB fit"
        assert (stored.business_id, stored.person_id, stored.sha256) == (tenant.business_id, tenant.owner_id, "0" * 64)
        assert (await uploads.file_for_get(ID)) == ("a.jpg", "image/jpeg", 5 * 1024**3)
        put = await uploads.slot_for_put(ID)
        assert put is not None and bool(put[-1]) is True
        assert (await uploads.uploader_with_usage(owner, now - day, now))[2] == 5 * 1024**3, "counted once"
        assert (await uploads.uploader_with_usage(owner, now + day, now))[2] == 0
        assert (await uploads.uploader_with_usage("staff.a@chat.test", now - day, now))[2] == 0
        assert [f.file_id for f in await uploads.files_of_business(tenant.business_id)] == [ID]
        assert await uploads.known_file_ids([ID, "cd" * 20, "ef" * 20]) == {ID, "cd" * 20}


async def test_expired_slots_go_but_those_being_uploaded(empty_db: Database) -> None:
    await upgrade_database(empty_db)
    tenant = await add_tenant(empty_db, "a")
    now = utcnow()
    minutes = {"aa": -1, "bb": 10, "cc": -2000, "dd": -1}
    async with empty_db.session() as session:
        uploads = UploadRepository(session)
        for prefix, offset in minutes.items():
            await uploads.add_slot(tenant.business_id, tenant.customer_id, prefix * 20, "f.pdf", 1,
                                   "application/pdf", now + dt.timedelta(minutes=offset))
        await uploads.add_file("dd" * 20, "customer.a@chat.test", "0" * 64)
        assert await uploads.delete_stale_slots(now, keep={"cc" * 20}) == 2
        await session.commit()
        assert await uploads.known_file_ids([p * 20 for p in minutes]) == {"bb" * 20, "cc" * 20, "dd" * 20}
        assert await uploads.get_slot("dd" * 20) is None and await uploads.get_file("dd" * 20) is not None


async def test_deleting_a_person_removes_their_slots_but_keeps_their_files(empty_db: Database) -> None:
    await upgrade_database(empty_db)
    tenant = await add_tenant(empty_db, "a")
    async with empty_db.session() as session:
        uploads = UploadRepository(session)
        await uploads.add_slot(tenant.business_id, tenant.customer_id, ID, "f.pdf", 3, "application/pdf",
                               utcnow() + dt.timedelta(minutes=5))
        await uploads.add_file(ID, "customer.a@chat.test", "0" * 64)
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
