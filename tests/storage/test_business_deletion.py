"""Deleting a business on SQLite and PostgreSQL: access goes at once, history (messages and their status,
uploads, the audit log with the deletion itself) stays until the retention expires it, then retention
purges the business; other businesses are untouched."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from dotimely_chat.errors import DomainError
from dotimely_chat.services.directory import DirectoryService
from dotimely_chat.services.retention import prune
from dotimely_chat.storage import AuditRepository, BusinessRepository, Database
from dotimely_chat.storage.models.appointments import Room
from dotimely_chat.storage.models.compliance import AuditEntry, ExportLink
from dotimely_chat.storage.models.directory import Business, Membership
from dotimely_chat.storage.models.status import MessageStatus, RoomMessage
from dotimely_chat.storage.models.uploads import UploadedFile, UploadSlot
from dotimely_chat.storage.models.web import WebLoginTicket, WebSession

from .tenants import Tenant, add_tenant
from .test_storage_compliance import _room_with_messages

NOW = dt.datetime.now(dt.UTC)
DAY = 86400
RETENTION = 30 * DAY


async def _count(db: Database, model: type, business_id: int | None = None) -> int:
    query = select(func.count()).select_from(model)
    if business_id is not None:
        query = query.where(model.business_id == business_id)  # type: ignore[attr-defined]
    async with db.session() as session:
        return int(await session.scalar(query) or 0)


async def _access_and_uploads(db: Database, tenant: Tenant, tag: str) -> None:
    later = NOW + dt.timedelta(hours=1)
    async with db.session() as session:
        session.add(UploadSlot(file_id=f"slot{tag}", business_id=tenant.business_id, person_id=tenant.staff_id,
                               filename="a.png", size=10, content_type="image/png", expires_at=later))
        session.add(UploadedFile(file_id=f"file{tag}", business_id=tenant.business_id, person_id=tenant.staff_id,
                                 uploader_jid="s@test", filename="b.png", size=10, content_type="image/png",
                                 sha256="0" * 64))
        session.add(WebLoginTicket(token_sha256=f"t{tag}", business_id=tenant.business_id,
                                   person_id=tenant.owner_id, expires_at=later))
        session.add(WebSession(token_sha256=f"s{tag}", business_id=tenant.business_id, person_id=tenant.owner_id,
                               expires_at=later))
        session.add(ExportLink(token_sha256=f"e{tag}", business_id=tenant.business_id, requested_by="o@test",
                               range_from=NOW, range_to=later, format="jsonl", expires_at=later))
        await session.commit()


def _directory(db: Database) -> DirectoryService:
    directory = DirectoryService(db, accounts=None, rosters=None, domain="chat.test")  # type: ignore[arg-type]
    directory.businesses.retention_seconds = RETENTION
    return directory


async def test_a_deletion_removes_access_keeps_history_and_says_so(db: Database, tenant: Tenant) -> None:
    other = await add_tenant(db, "b")
    await _room_with_messages(db, tenant, "gone", [10, 0])
    await _room_with_messages(db, other, "stays", [1])
    await _access_and_uploads(db, tenant, "a")
    await _access_and_uploads(db, other, "b")
    directory = _directory(db)

    answer = await directory.businesses.delete("ext-a")

    assert answer["removed"] == {"memberships": 3, "upload_slots": 1, "web_login_tickets": 1, "web_sessions": 1,
                                 "export_links": 1}
    deleted_at = dt.datetime.fromisoformat(answer["deleted_at"])
    assert answer["kept"] == {"appointments": 1, "rooms": 1, "room_messages": 2, "uploaded_files": 1,
                              "audit_entries": 1, "until": (deleted_at + dt.timedelta(seconds=RETENTION)).isoformat()}
    assert answer["export"] == f"/v1/businesses/ext-a/export?from={NOW.date()}&to={deleted_at.date()}"
    for model in (Membership, UploadSlot, WebLoginTicket, WebSession, ExportLink):
        assert await _count(db, model, tenant.business_id) == 0, model
        assert await _count(db, model, other.business_id) > 0, model
    assert await _count(db, RoomMessage) == 3 and await _count(db, MessageStatus) == 3
    assert await _count(db, UploadedFile, tenant.business_id) == 1

    # The deletion's audit entry survives it, with what went and what stays.
    async with db.session() as session:
        entries = await AuditRepository(session).list(tenant.business_id, limit=10)
        assert [e.action for e in entries] == ["business_deleted"]
        # Hidden from the directory; found by the audit log and the export.
        repository = BusinessRepository(session)
        assert await repository.get_by_external_id("ext-a") is None
        assert (await repository.get_by_external_id("ext-a", include_deleted=True)) is not None
        assert [b.external_id for b in await repository.list()] == ["ext-b"]

    with pytest.raises(DomainError) as gone:
        await directory.businesses.get("ext-a")
    assert gone.value.kind.http_status == 404 and "was deleted on" in gone.value.message
    with pytest.raises(DomainError) as reused:
        await directory.businesses.put("ext-a", {"name": "A again"})
    assert reused.value.kind.errcode == "business_deleted"
    assert reused.value.details["kept_until"] == answer["kept"]["until"]
    with pytest.raises(DomainError) as twice:
        await directory.businesses.delete("ext-a")
    assert twice.value.kind.http_status == 404


async def test_retention_expires_a_deleted_business_then_purges_it(db: Database, tenant: Tenant) -> None:
    other = await add_tenant(db, "b")
    await _room_with_messages(db, tenant, "gone", [10, 0])
    await _room_with_messages(db, other, "stays", [0])
    await _access_and_uploads(db, tenant, "a")
    await _directory(db).businesses.delete("ext-a")
    # An export of the deleted business, later, is audited too: the business waits for that entry as well.
    async with db.session() as session:
        entry = AuditRepository(session).add(tenant.business_id, "api", "export")
        entry.at = NOW + dt.timedelta(days=20)
        await session.commit()

    assert (await prune(db, RETENTION, now=NOW)).businesses == 0  # freshly deleted: everything kept
    assert await _count(db, RoomMessage) == 3

    report = await prune(db, RETENTION, now=NOW + dt.timedelta(days=31))
    assert report.messages == 3 and report.audit_entries == 1 and report.businesses == 0
    assert await _count(db, Business) == 2, "the later export's audit entry is still kept"

    report = await prune(db, RETENTION, now=NOW + dt.timedelta(days=51))
    assert report.businesses == 1
    async with db.session() as session:
        assert await BusinessRepository(session).get_by_external_id("ext-a", include_deleted=True) is None
        assert [b.external_id for b in await BusinessRepository(session).list()] == ["ext-b"]
    assert await _count(db, Room, tenant.business_id) == 0
    assert await _count(db, UploadedFile, tenant.business_id) == 0
    assert await _count(db, AuditEntry, tenant.business_id) == 0
    assert await _count(db, Membership, other.business_id) == 3, "other businesses are untouched"


async def test_retention_never_keeps_a_deleted_business(db: Database, tenant: Tenant) -> None:
    directory = _directory(db)
    directory.businesses.retention_seconds = None
    answer = await directory.businesses.delete("ext-a")
    assert answer["kept"]["until"] is None
    assert (await prune(db, None, now=NOW + dt.timedelta(days=10_000))).businesses == 0
    assert await _count(db, Business) == 1
