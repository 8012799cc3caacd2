"""SQL of compliance: what an export reads (rooms, people, recorded status, audit), its download links, and
retention (deleting the component's records past `archive.retention`). Methods never commit."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dotimely_chat.storage.models.appointments import Appointment, Room
from dotimely_chat.storage.models.compliance import AuditEntry, ExportLink
from dotimely_chat.storage.models.directory import Membership, Person
from dotimely_chat.storage.models.status import MessageStatus, RoomMessage

PRUNE_BATCH = 1000


@dataclass(frozen=True)
class ExportRoom:
    id: int
    jid: str
    name: str
    audience: str
    created_at: dt.datetime
    appointment: str
    service_name: str
    starts_at: dt.datetime
    appointment_status: str


@dataclass(frozen=True)
class ExportPerson:
    jid: str
    name: str
    role: str | None  # None: no longer in the business


@dataclass(frozen=True)
class RecordedStatus:
    person_id: int
    delivered_at: dt.datetime | None
    delivered_via: str | None
    read_at: dt.datetime | None


class ExportReads:
    """Reads of one business for an export; every query is bounded by the business id."""

    def __init__(self, session: AsyncSession, business_id: int) -> None:
        self._session, self.business_id = session, business_id

    async def rooms(self, created_before: dt.datetime) -> Sequence[ExportRoom]:
        rows = await self._session.execute(
            select(Room.id, Room.jid, Room.name, Room.audience, Room.created_at, Appointment.external_id,
                   Appointment.service_name, Appointment.starts_at, Appointment.status)
            .join(Appointment, Appointment.id == Room.appointment_id)
            .where(Room.business_id == self.business_id, Appointment.business_id == self.business_id,
                   Room.created_at < created_before)
            .order_by(Room.created_at, Room.id))
        return [ExportRoom(*row) for row in rows]

    async def people(self) -> dict[int, ExportPerson]:
        """Person id -> person, for the members of the business."""
        rows = await self._session.execute(
            select(Person.id, Person.jid, Person.display_name, Membership.role)
            .join(Membership, Membership.person_id == Person.id)
            .where(Membership.business_id == self.business_id))
        return {pid: ExportPerson(jid, name, role) for pid, jid, name, role in rows}

    async def former_people(self, person_ids: Collection[int]) -> dict[int, ExportPerson]:
        """People no longer in the business (their recorded status stays): id -> person, role None."""
        if not person_ids:
            return {}
        rows = await self._session.execute(select(Person.id, Person.jid, Person.display_name)
                                           .where(Person.id.in_(list(person_ids))))
        return {pid: ExportPerson(jid, name, None) for pid, jid, name in rows}

    async def statuses(self, room_id: int, stanza_ids: Collection[str]) -> dict[str, list[RecordedStatus]]:
        """Stanza-id -> the recorded per-member status of those messages of the room."""
        if not stanza_ids:
            return {}
        rows = await self._session.execute(
            select(RoomMessage.stanza_id, MessageStatus.person_id, MessageStatus.delivered_at,
                   MessageStatus.delivered_via, MessageStatus.read_at)
            .join(MessageStatus, MessageStatus.message_id == RoomMessage.id)
            .where(RoomMessage.room_id == room_id, RoomMessage.stanza_id.in_(list(stanza_ids)))
            .order_by(RoomMessage.stanza_id, MessageStatus.person_id))
        found: dict[str, list[RecordedStatus]] = {}
        for stanza_id, *status in rows:
            found.setdefault(stanza_id, []).append(RecordedStatus(*status))
        return found

    async def audit(self, since: dt.datetime, until: dt.datetime, batch: int = 1000
                    ) -> AsyncIterator[AuditEntry]:
        """Audit entries of the business in [since, until), oldest first, read in batches."""
        after = 0
        while True:
            entries = (await self._session.scalars(
                select(AuditEntry).where(AuditEntry.business_id == self.business_id, AuditEntry.at >= since,
                                         AuditEntry.at < until, AuditEntry.id > after)
                .order_by(AuditEntry.id).limit(batch))).all()
            for entry in entries:
                yield entry
            if len(entries) < batch:
                return
            after = entries[-1].id


class ExportLinkRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, token_sha256: str, business_id: int, requested_by: str, range_from: dt.datetime,
            range_to: dt.datetime, fmt: str, expires_at: dt.datetime) -> ExportLink:
        link = ExportLink(token_sha256=token_sha256, business_id=business_id, requested_by=requested_by,
                          range_from=range_from, range_to=range_to, format=fmt, expires_at=expires_at)
        self._session.add(link)
        return link

    async def get(self, token_sha256: str) -> ExportLink | None:
        return await self._session.scalar(select(ExportLink).where(ExportLink.token_sha256 == token_sha256))

    async def claim(self, link_id: int, now: dt.datetime) -> bool:
        """Mark the link used, if it is still unused and unexpired; True for exactly one caller."""
        result = await self._session.execute(
            update(ExportLink).where(ExportLink.id == link_id, ExportLink.used_at.is_(None),
                                     ExportLink.expires_at > now)
            .values(used_at=now).execution_options(synchronize_session=False))
        return bool(result.rowcount)  # type: ignore[attr-defined]


class RetentionStore:
    """Deletes the component's records older than the retention, in batches (short write locks)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def delete_messages_before(self, before: dt.datetime, batch: int = PRUNE_BATCH) -> int:
        """Room messages sent before `before` with their per-member status rows; returns messages deleted."""
        ids = (await self._session.scalars(select(RoomMessage.id).where(RoomMessage.sent_at < before)
                                           .order_by(RoomMessage.id).limit(batch))).all()
        if not ids:
            return 0
        await self._session.execute(delete(MessageStatus).where(MessageStatus.message_id.in_(ids))
                                    .execution_options(synchronize_session=False))
        await self._session.execute(delete(RoomMessage).where(RoomMessage.id.in_(ids))
                                    .execution_options(synchronize_session=False))
        return len(ids)

    async def delete_audit_before(self, before: dt.datetime, batch: int = PRUNE_BATCH) -> int:
        ids = (await self._session.scalars(select(AuditEntry.id).where(AuditEntry.at < before)
                                           .order_by(AuditEntry.id).limit(batch))).all()
        if ids:
            await self._session.execute(delete(AuditEntry).where(AuditEntry.id.in_(ids))
                                        .execution_options(synchronize_session=False))
        return len(ids)

    async def delete_export_links_expired_before(self, before: dt.datetime) -> int:
        result = await self._session.execute(delete(ExportLink).where(ExportLink.expires_at < before)
                                             .execution_options(synchronize_session=False))
        return int(result.rowcount)  # type: ignore[attr-defined]
