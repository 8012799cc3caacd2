"""Compliance storage on SQLite and PostgreSQL: retention deletes exactly what is older, export links work
once, export reads stay inside their business."""

from __future__ import annotations

import datetime as dt
import hashlib

from dotimely_chat.services.retention import prune
from dotimely_chat.storage import AppointmentRepository, AuditRepository, Database, RoomRepository
from dotimely_chat.storage.compliance_store import ExportLinkRepository, ExportReads
from dotimely_chat.storage.models.compliance import AuditEntry, ExportLink
from dotimely_chat.storage.models.status import MemberMark, MessageStatus, RoomMessage

from .tenants import Tenant, add_tenant

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DAY = 86400


async def _room_with_messages(db: Database, tenant: Tenant, name: str, ages_days: list[int]) -> tuple[int, str]:
    async with db.session() as session:
        appointment = await AppointmentRepository(session).upsert(
            tenant.business_id, f"apt-{name}", customer_id=tenant.customer_id, staff_id=tenant.staff_id,
            starts_at=NOW, duration_minutes=30, service_name="Cut")
        room = await RoomRepository(session).add(tenant.business_id, appointment.id, "everyone",
                                                 f"{name}@rooms.test", f"Room {name}")
        await session.flush()
        for n, age in enumerate(ages_days):
            message = RoomMessage(room_id=room.id, stanza_id=f"{name}-{n}", sender_jid="c@test",
                                  sent_at=NOW - dt.timedelta(days=age))
            session.add(message)
            await session.flush()
            session.add(MessageStatus(message_id=message.id, room_id=room.id, person_id=tenant.staff_id,
                                      delivered_at=message.sent_at, delivered_via="online"))
        session.add(MemberMark(room_id=room.id, person_id=tenant.staff_id, delivered_upto=1, read_upto=1))
        await session.commit()
        return room.id, room.jid


async def _count(db: Database, model: type) -> int:
    from sqlalchemy import func, select
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_retention_deletes_records_older_than_the_retention_only(db: Database, tenant: Tenant) -> None:
    await _room_with_messages(db, tenant, "r1", [400, 40, 10, 0])
    async with db.session() as session:
        audit = AuditRepository(session)
        for age in (400, 5):
            entry = audit.add(tenant.business_id, "api", "member_added")
            entry.at = NOW - dt.timedelta(days=age)
        await session.commit()

    report = await prune(db, 30 * DAY, now=NOW)
    assert (report.messages, report.audit_entries) == (2, 1)
    assert await _count(db, RoomMessage) == 2 and await _count(db, MessageStatus) == 2
    assert await _count(db, AuditEntry) == 1
    assert await _count(db, MemberMark) == 1, "read positions stay (no content, unread counts)"
    again = await prune(db, 30 * DAY, now=NOW)
    assert (again.messages, again.audit_entries) == (0, 0)


async def test_retention_never_keeps_everything(db: Database, tenant: Tenant) -> None:
    await _room_with_messages(db, tenant, "r2", [4000, 1])
    report = await prune(db, None, now=NOW)
    assert report.messages == 0 and await _count(db, RoomMessage) == 2


async def test_retention_works_in_batches(db: Database, tenant: Tenant) -> None:
    await _room_with_messages(db, tenant, "r3", [100] * 2500 + [1])
    report = await prune(db, 30 * DAY, now=NOW)
    assert report.messages == 2500 and await _count(db, RoomMessage) == 1


async def test_an_export_link_works_once_and_not_after_it_expires(db: Database, tenant: Tenant) -> None:
    digest = hashlib.sha256(b"token").hexdigest()
    async with db.session() as session:
        ExportLinkRepository(session).add(digest, tenant.business_id, "owner.a@chat.test", NOW - dt.timedelta(days=1),
                                          NOW, "jsonl", NOW + dt.timedelta(hours=1))
        ExportLinkRepository(session).add("0" * 64, tenant.business_id, "owner.a@chat.test", NOW, NOW,
                                          "html", NOW - dt.timedelta(days=2))
        await session.commit()
    async with db.session() as session:
        links = ExportLinkRepository(session)
        link = await links.get(digest)
        assert link is not None and link.format == "jsonl" and link.range_to == NOW
        assert await links.claim(link.id, NOW) is True
        assert await links.claim(link.id, NOW) is False, "a second download is refused"
        expired = await links.get("0" * 64)
        assert expired is not None and await links.claim(expired.id, NOW) is False
        await session.commit()
    assert (await prune(db, None, now=NOW)).export_links == 1
    assert await _count(db, ExportLink) == 1


async def test_export_reads_stay_inside_the_business(db: Database, tenant: Tenant) -> None:
    other = await add_tenant(db, "other")
    room_id, jid = await _room_with_messages(db, tenant, "mine", [1, 0])
    other_room, _ = await _room_with_messages(db, other, "theirs", [1])
    async with db.session() as session:
        reads = ExportReads(session, tenant.business_id)
        assert [r.jid for r in await reads.rooms(NOW + dt.timedelta(days=1))] == [jid]
        people = await reads.people()
        assert {p.role for p in people.values()} == {"owner", "staff", "customer"}
        assert all(p.jid.endswith(".a@chat.test") for p in people.values())
        statuses = await reads.statuses(room_id, ["mine-0", "mine-1", "theirs-0"])
        assert set(statuses) == {"mine-0", "mine-1"}
        assert statuses["mine-0"][0].person_id == tenant.staff_id
        assert await reads.statuses(other_room, ["mine-0"]) == {}
