"""SQL of delivery/read status and presence. Writes come in batches (one transaction per batch); every
method takes the session of that batch and never commits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from dotimely_chat.storage.models import MemberMark, MessageStatus, PresenceState, RoomMessage


@dataclass(frozen=True)
class NewMessage:
    room_id: int
    stanza_id: str
    origin_id: str | None
    message_id: str | None
    sender_id: int | None
    sender_jid: str
    sent_at: dt.datetime
    has_attachment: bool
    delivered: dict[int, tuple[dt.datetime | None, str | None]]  # other members -> (delivered at, via)


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


class StatusStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # ------------------------------------------------------------------------------------------ writes
    async def add_messages(self, messages: list[NewMessage]) -> int:
        """Record messages and one status row per other member, in two statements; messages recorded
        before (same room and stanza-id) are skipped. Returns how many were new."""
        if not messages:
            return 0
        insert = _insert(self._session)
        statement = insert(RoomMessage).values([{
            "room_id": m.room_id, "stanza_id": m.stanza_id, "origin_id": m.origin_id, "message_id": m.message_id,
            "sender_id": m.sender_id, "sender_jid": m.sender_jid, "sent_at": m.sent_at,
            "has_attachment": m.has_attachment} for m in messages])
        statement = statement.on_conflict_do_nothing(index_elements=["room_id", "stanza_id"]).returning(
            RoomMessage.id, RoomMessage.room_id, RoomMessage.stanza_id)
        ids = {(row.room_id, row.stanza_id): row.id for row in await self._session.execute(statement)}
        rows = [{"message_id": ids[(m.room_id, m.stanza_id)], "room_id": m.room_id, "person_id": person,
                 "delivered_at": at, "delivered_via": via, "read_at": None}
                for m in messages if (m.room_id, m.stanza_id) in ids for person, (at, via) in m.delivered.items()]
        if rows:
            await self._session.execute(insert(MessageStatus), rows)
        return len(ids)

    async def resolve(self, room_id: int, reference: str) -> int | None:
        """The id of the room message a marker or receipt names: the room's stanza-id, else the sender's
        origin-id or message id (clients differ, COMPAT.md §5)."""
        for column in (RoomMessage.stanza_id, RoomMessage.origin_id, RoomMessage.message_id):
            found = await self._session.scalar(select(RoomMessage.id).where(
                RoomMessage.room_id == room_id, column == reference).order_by(RoomMessage.id.desc()).limit(1))
            if found is not None:
                return int(found)
        return None

    async def cover(self, room_id: int, person_id: int, upto: int, at: dt.datetime, via: str,
                    read: bool) -> None:
        """Mark the member's copies up to message `upto` delivered (and read): only those past the member's
        marks, so a marker costs what it covers, not the room's history."""
        mark = await self._session.get(MemberMark, (room_id, person_id))
        if mark is None:
            mark = MemberMark(room_id=room_id, person_id=person_id, delivered_upto=0, read_upto=0)
            self._session.add(mark)
        rows = and_(MessageStatus.room_id == room_id, MessageStatus.person_id == person_id)
        if upto > mark.delivered_upto:
            await self._session.execute(update(MessageStatus).where(
                rows, MessageStatus.message_id > mark.delivered_upto, MessageStatus.message_id <= upto,
                MessageStatus.delivered_at.is_(None)).values(delivered_at=at, delivered_via=via))
            mark.delivered_upto = upto
        if read and upto > mark.read_upto:
            await self._session.execute(update(MessageStatus).where(
                rows, MessageStatus.message_id > mark.read_upto, MessageStatus.message_id <= upto,
                MessageStatus.read_at.is_(None)).values(read_at=at))
            mark.read_upto = upto
        await self._session.flush()

    async def deliver_all(self, room_id: int, person_id: int, at: dt.datetime, via: str) -> None:
        """A member entered the room: everything they had not received is delivered now."""
        latest = await self._session.scalar(select(func.max(RoomMessage.id)).where(RoomMessage.room_id == room_id))
        if latest is not None:
            await self.cover(room_id, person_id, int(latest), at, via, read=False)

    async def set_presence(self, person_id: int, online: bool, at: dt.datetime, idle_since: dt.datetime | None,
                           status_text: str | None) -> None:
        insert = _insert(self._session)
        values = {"online": online, "idle_since": idle_since, "status_text": status_text, "updated_at": at}
        if not online:
            values["last_seen_at"] = at
        statement = insert(PresenceState).values(person_id=person_id, **values)
        await self._session.execute(statement.on_conflict_do_update(index_elements=["person_id"], set_=values))

    # ------------------------------------------------------------------------------------------- reads
    async def message(self, room_id: int, stanza_id: str) -> RoomMessage | None:
        return await self._session.scalar(select(RoomMessage).where(
            RoomMessage.room_id == room_id, RoomMessage.stanza_id == stanza_id))

    async def statuses(self, message_id: int) -> Sequence[MessageStatus]:
        return (await self._session.scalars(select(MessageStatus).where(
            MessageStatus.message_id == message_id).order_by(MessageStatus.person_id))).all()

    async def recent(self, room_ids: Collection[int], limit: int = 20) -> Sequence[RoomMessage]:
        if not room_ids:
            return []
        return (await self._session.scalars(select(RoomMessage).where(RoomMessage.room_id.in_(list(room_ids)))
                                            .order_by(RoomMessage.id.desc()).limit(limit))).all()

    async def marks(self, room_id: int) -> dict[int, MemberMark]:
        rows = await self._session.scalars(select(MemberMark).where(MemberMark.room_id == room_id))
        return {mark.person_id: mark for mark in rows}

    async def unread(self, room_id: int, person_id: int, after: int) -> int:
        """The member's copies after `after` (their read mark): messages of others sent while they were a
        member (an index range on message_status, not a scan of the room)."""
        return int(await self._session.scalar(select(func.count()).select_from(MessageStatus).where(
            MessageStatus.room_id == room_id, MessageStatus.person_id == person_id,
            MessageStatus.message_id > after)) or 0)

    async def latest(self, room_id: int) -> RoomMessage | None:
        return await self._session.scalar(select(RoomMessage).where(RoomMessage.room_id == room_id)
                                          .order_by(RoomMessage.id.desc()).limit(1))

    async def by_ids(self, message_ids: Collection[int]) -> dict[int, RoomMessage]:
        if not message_ids:
            return {}
        rows = await self._session.scalars(select(RoomMessage).where(RoomMessage.id.in_(list(message_ids))))
        return {m.id: m for m in rows}

    async def presence(self, person_id: int) -> PresenceState | None:
        return await self._session.get(PresenceState, person_id)

    async def online_people(self) -> Sequence[int]:
        return (await self._session.scalars(select(PresenceState.person_id).where(PresenceState.online))).all()
