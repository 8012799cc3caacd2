"""SQL of delivery/read status and presence. Writes come in batches (one transaction per batch); every
method takes the session of that batch and never commits."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, func, literal, select, union, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from dotimely_chat.policies.presence import PersonPresence
from dotimely_chat.policies.status_marks import CoveragePlan, pick_reference
from dotimely_chat.storage.models.appointments import Appointment, Room
from dotimely_chat.storage.models.directory import Business, Membership, Person
from dotimely_chat.storage.models.status import MemberMark, MessageStatus, PresenceState, RoomMessage


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


# Core statements on the tables (not the ORM classes), so that a list of parameters runs as one executemany.
_MESSAGES = RoomMessage.__table__
_STATUS = MessageStatus.__table__.c
_MARKS = MemberMark.__table__.c
_MEMBER_RANGE = (_STATUS.room_id == bindparam("r"), _STATUS.person_id == bindparam("p"),
                 _STATUS.message_id > bindparam("lo"), _STATUS.message_id <= bindparam("hi"))
_DELIVER = (update(MessageStatus.__table__).where(*_MEMBER_RANGE, _STATUS.delivered_at.is_(None))
            .values(delivered_at=bindparam("at"), delivered_via=bindparam("via")))
_READ = update(MessageStatus.__table__).where(*_MEMBER_RANGE, _STATUS.read_at.is_(None)).values(read_at=bindparam("at"))
_SET_SENT_AT = (update(_MESSAGES).where(_MESSAGES.c.id == bindparam("i")).values(sent_at=bindparam("t")))
_MOVE_MARK = (update(MemberMark.__table__).where(_MARKS.room_id == bindparam("r"), _MARKS.person_id == bindparam("p"))
              .values(delivered_upto=bindparam("d"), read_upto=bindparam("rd")))


def _conversation_people() -> Any:
    """Built once (building this statement per call cost more than running it)."""
    room = (select(Room.id.label("room_id"), Room.jid.label("room_jid"), Room.audience, Room.business_id,
                   Business.external_id.label("business_external_id"), Appointment.customer_id, Appointment.staff_id)
            .join(Business, Business.id == Room.business_id)
            .join(Appointment, Appointment.id == Room.appointment_id)
            .where(Room.jid == bindparam("room_jid")).cte("room"))
    candidates = union(
        select(room.c.customer_id.label("person_id")), select(room.c.staff_id),
        select(Membership.person_id).where(Membership.business_id == room.c.business_id,
                                           Membership.role == "owner")).subquery("candidates")
    return (select(room, Person.id.label("person_id"), Person.jid, Person.display_name, Person.external_id,
                   Membership.role)
            .select_from(room.join(candidates, literal(True)))
            .join(Person, Person.id == candidates.c.person_id)
            .outerjoin(Membership, and_(Membership.person_id == Person.id,
                                        Membership.business_id == room.c.business_id)))


_CONVERSATION_PEOPLE = _conversation_people()
_ROOMS_C = Room.__table__.c
_TOUCH_ROOM = (update(Room.__table__).where(_ROOMS_C.id == bindparam("r"), _ROOMS_C.last_activity_at < bindparam("at"))
               .values(last_activity_at=bindparam("at")))
_MESSAGES_C = _MESSAGES.c
_MESSAGE = select(_MESSAGES).where(_MESSAGES_C.room_id == bindparam("room_id"),
                                   _MESSAGES_C.stanza_id == bindparam("stanza_id"))
_LATEST = select(_MESSAGES).where(_MESSAGES_C.room_id == bindparam("room_id")).order_by(_MESSAGES_C.id.desc()).limit(1)
_STATUSES = (select(_STATUS.person_id, _STATUS.delivered_at, _STATUS.delivered_via, _STATUS.read_at)
             .where(_STATUS.message_id == bindparam("message_id")).order_by(_STATUS.person_id))
_READ_MARKS = (select(_MARKS.person_id, _MARKS.read_upto, _MESSAGES_C.stanza_id, _MESSAGES_C.sent_at)
               .select_from(MemberMark.__table__.outerjoin(_MESSAGES, _MESSAGES_C.id == _MARKS.read_upto))
               .where(_MARKS.room_id == bindparam("room_id")))
_PRESENCE = select(PresenceState.__table__).where(PresenceState.__table__.c.person_id == bindparam("person_id"))


@functools.lru_cache(maxsize=16)
def _unread_counts(members: int) -> Any:
    """For a room of `members` members: each member's copies after their read mark, a scalar subquery each
    (an index range on message_status), parameters p<i> (person) and a<i> (after)."""
    counts = [select(func.count()).select_from(MessageStatus.__table__)
              .where(_STATUS.room_id == bindparam("room_id"), _STATUS.person_id == bindparam(f"p{i}"),
                     _STATUS.message_id > bindparam(f"a{i}")).scalar_subquery().label(f"n{i}")
              for i in range(members)]
    return select(*counts)


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
        # Core statements with a list of parameters: compiled once, sent as multi-row VALUES by SQLAlchemy's
        # "insertmanyvalues" (an ORM statement with .values([...]) is compiled again for every batch).
        statement = (insert(_MESSAGES).on_conflict_do_nothing(index_elements=["room_id", "stanza_id"])
                     .returning(_MESSAGES.c.id, _MESSAGES.c.room_id, _MESSAGES.c.stanza_id))
        result = await self._session.execute(statement, [{
            "room_id": m.room_id, "stanza_id": m.stanza_id, "origin_id": m.origin_id, "message_id": m.message_id,
            "sender_id": m.sender_id, "sender_jid": m.sender_jid, "sent_at": m.sent_at,
            "has_attachment": m.has_attachment} for m in messages])
        ids = {(row.room_id, row.stanza_id): row.id for row in result}
        rows = [{"message_id": ids[(m.room_id, m.stanza_id)], "room_id": m.room_id, "person_id": person,
                 "delivered_at": at, "delivered_via": via, "read_at": None}
                for m in messages if (m.room_id, m.stanza_id) in ids for person, (at, via) in m.delivered.items()]
        if rows:
            await self._session.execute(insert(MessageStatus.__table__), rows)
        latest: dict[int, dt.datetime] = {}
        for m in messages:
            if (m.room_id, m.stanza_id) in ids:
                latest[m.room_id] = max(m.sent_at, latest.get(m.room_id, m.sent_at))
        if latest:  # the conversations list orders rooms by their last message
            await self._session.execute(_TOUCH_ROOM, [{"r": room, "at": at} for room, at in latest.items()])
        return len(ids)

    async def resolve_many(self, references: Collection[tuple[int, str]]) -> dict[tuple[int, str], int]:
        """The ids of the room messages that markers and receipts name, as {(room id, reference): message id}:
        the room's stanza-id, else the sender's origin-id or message id (clients differ, COMPAT.md §5). One
        statement for the whole batch; references matching nothing are left out."""
        if not references:
            return {}
        rooms = sorted({room for room, _ in references})
        names = sorted({name for _, name in references})
        parts = [select(literal(priority).label("priority"), RoomMessage.room_id, column.label("name"),
                        RoomMessage.id).where(RoomMessage.room_id.in_(rooms), column.in_(names))
                 for priority, column in enumerate((RoomMessage.stanza_id, RoomMessage.origin_id,
                                                    RoomMessage.message_id))]
        found: dict[tuple[int, str], list[tuple[int, int]]] = {}
        for row in await self._session.execute(union_all(*parts)):
            found.setdefault((row.room_id, row.name), []).append((row.priority, row.id))
        wanted = set(references)
        return {key: picked for key, candidates in found.items()
                if key in wanted and (picked := pick_reference(candidates)) is not None}

    async def latest_ids(self, room_ids: Collection[int]) -> dict[int, int]:
        """The id of each room's latest recorded message (rooms without messages are left out)."""
        if not room_ids:
            return {}
        rows = await self._session.execute(select(RoomMessage.room_id, func.max(RoomMessage.id)).where(
            RoomMessage.room_id.in_(sorted(room_ids))).group_by(RoomMessage.room_id))
        return {room_id: int(latest) for room_id, latest in rows}

    async def marks_of(self, members: Collection[tuple[int, int]]) -> dict[tuple[int, int], tuple[int, int]]:
        """{(room id, person id): (delivered up to, read up to)} of these members, where they have marks."""
        if not members:
            return {}
        rooms = sorted({room for room, _ in members})
        people = sorted({person for _, person in members})
        rows = await self._session.execute(select(
            MemberMark.room_id, MemberMark.person_id, MemberMark.delivered_upto, MemberMark.read_upto).where(
            MemberMark.room_id.in_(rooms), MemberMark.person_id.in_(people)))
        wanted = set(members)
        return {(r.room_id, r.person_id): (r.delivered_upto, r.read_upto) for r in rows
                if (r.room_id, r.person_id) in wanted}

    async def apply_coverage(self, plan: CoveragePlan, known: Collection[tuple[int, int]]) -> None:
        """Write a coverage plan: the members' copies in each range delivered or read (only copies not yet
        delivered or read keep the first time), then the new marks (`known`: members whose marks exist)."""
        if plan.delivered:
            await self._session.execute(_DELIVER, [
                {"r": c.room_id, "p": c.person_id, "lo": c.after, "hi": c.upto, "at": c.at, "via": c.via}
                for c in plan.delivered])
        if plan.read:
            await self._session.execute(_READ, [
                {"r": c.room_id, "p": c.person_id, "lo": c.after, "hi": c.upto, "at": c.at} for c in plan.read])
        changed = [{"r": room, "p": person, "d": delivered, "rd": read}
                   for (room, person), (delivered, read) in plan.marks.items() if (room, person) in known]
        new = [{"room_id": room, "person_id": person, "delivered_upto": delivered, "read_upto": read}
               for (room, person), (delivered, read) in plan.marks.items() if (room, person) not in known]
        if changed:
            await self._session.execute(_MOVE_MARK, changed)
        if new:
            await self._session.execute(_insert(self._session)(MemberMark.__table__), new)

    async def set_presence(self, person_id: int, state: PersonPresence, at: dt.datetime) -> None:
        """The person's presence now; going offline sets last seen to `at`."""
        insert = _insert(self._session)
        values: dict[str, Any] = {"online": state.online, "show": state.show, "idle_since": state.idle_since,
                                  "status_text": state.status, "updated_at": at}
        if not state.online:
            values["last_seen_at"] = at
        statement = insert(PresenceState).values(person_id=person_id, **values)
        await self._session.execute(statement.on_conflict_do_update(index_elements=["person_id"], set_=values))

    # ------------------------------------------------------------------------------------------- reads
    # The status answers' statements are built once on the tables (module level): building an ORM
    # statement per call cost more than running it (bench/status.py). Rows are read by column name.
    async def message(self, room_id: int, stanza_id: str) -> Any:
        """The recorded message (a row: id, stanza_id, sender_jid, sent_at, has_attachment, ...) or None."""
        return (await self._session.execute(_MESSAGE, {"room_id": room_id, "stanza_id": stanza_id})).first()

    async def statuses(self, message_id: int) -> Sequence[Any]:
        """The message's per-member rows (person_id, delivered_at, delivered_via, read_at), by person."""
        return (await self._session.execute(_STATUSES, {"message_id": message_id})).all()

    async def recent(self, room_ids: Collection[int], limit: int = 20) -> Sequence[RoomMessage]:
        if not room_ids:
            return []
        return (await self._session.scalars(select(RoomMessage).where(RoomMessage.room_id.in_(list(room_ids)))
                                            .order_by(RoomMessage.id.desc()).limit(limit))).all()

    async def read_marks(self, room_id: int) -> dict[int, Any]:
        """person id -> (read_upto, stanza_id, sent_at) of the room's members' read marks, with the message
        each mark names (stanza_id None when none is read, or it left with the retention)."""
        rows = await self._session.execute(_READ_MARKS, {"room_id": room_id})
        return {row.person_id: row for row in rows}

    async def unread_counts(self, room_id: int, read_upto: dict[int, int]) -> dict[int, int]:
        """Each member's copies after their read mark (person id -> mark): messages of others sent while they
        were a member. One statement: a count per member, each an index range on message_status."""
        if not read_upto:
            return {}
        parameters = {"room_id": room_id}
        for i, (person, after) in enumerate(read_upto.items()):
            parameters[f"p{i}"], parameters[f"a{i}"] = person, after
        row = (await self._session.execute(_unread_counts(len(read_upto)), parameters)).one()
        return {person: int(row[i] or 0) for i, person in enumerate(read_upto)}

    async def latest(self, room_id: int) -> Any:
        """The room's latest recorded message (a row) or None."""
        return (await self._session.execute(_LATEST, {"room_id": room_id})).first()

    async def correct_late_times(self, room_jid: str, archived: Collection[tuple[str, dt.datetime]],
                                 late: dt.timedelta) -> int:
        """Messages of the room recorded `late` or more after the archive's time for them (they reached us
        late, over a stalled link): they get the archive's time, never earlier than the time of the message
        recorded before them. `archived` is (stanza-id, archive time). Returns how many were corrected."""
        stamps = dict(archived)
        room_id = await self._session.scalar(select(Room.id).where(Room.jid == room_jid))
        if room_id is None or not stamps:
            return 0
        rows = (await self._session.execute(
            select(RoomMessage.id, RoomMessage.stanza_id, RoomMessage.sent_at)
            .where(RoomMessage.room_id == room_id, RoomMessage.stanza_id.in_(sorted(stamps)))
            .order_by(RoomMessage.id))).all()
        if not rows:
            return 0
        floor = await self._session.scalar(
            select(RoomMessage.sent_at).where(RoomMessage.room_id == room_id, RoomMessage.id < rows[0].id)
            .order_by(RoomMessage.id.desc()).limit(1))
        fixes = []
        for row in rows:
            stamp = stamps[row.stanza_id]
            if row.sent_at - stamp >= late:
                corrected = max(stamp, floor) if floor is not None else stamp
                if corrected < row.sent_at:
                    fixes.append({"i": row.id, "t": corrected})
                    floor = corrected
                    continue
            floor = row.sent_at
        if fixes:
            await self._session.execute(_SET_SENT_AT, fixes)
        return len(fixes)

    async def last_recorded(self) -> list[tuple[str, str | None, dt.datetime | None]]:
        """(room JID, stanza-id, sent at) of every room's latest recorded message (None, None when there is
        none), the rooms with the most recent messages first."""
        latest = (select(func.max(RoomMessage.id)).where(RoomMessage.room_id == Room.id)
                  .correlate(Room).scalar_subquery())
        rows = await self._session.execute(
            select(Room.jid, RoomMessage.stanza_id, RoomMessage.sent_at)
            .outerjoin(RoomMessage, RoomMessage.id == latest)
            .order_by(RoomMessage.id.desc().nulls_last(), Room.id.desc()))
        return [(jid, stanza_id, sent_at) for jid, stanza_id, sent_at in rows]

    async def conversation_people(self, room_jid: str) -> list[Any]:
        """In one statement, a row per person who may be in the room: its appointment's customer and staff
        member and the owners of its business, each with their role in that business (None when they no
        longer belong to it), beside the room's id, audience, business external id and the appointment's
        customer and staff ids. Empty for an unknown room."""
        return list((await self._session.execute(_CONVERSATION_PEOPLE, {"room_jid": room_jid})).all())

    async def presence(self, person_id: int) -> Any:
        """The person's presence row (online, show, last_seen_at, idle_since, status_text) or None."""
        return (await self._session.execute(_PRESENCE, {"person_id": person_id})).first()

    async def online_people(self) -> Sequence[int]:
        return (await self._session.scalars(select(PresenceState.person_id).where(PresenceState.online))).all()
