"""Reading delivery/read status and presence, within the rules of PRODUCT.md §3: a member sees the status of
the messages of their own conversations, an owner everything of their business, nobody another business."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ..errors import FORBIDDEN, NOT_FOUND, DomainError
from ..policies.rooms import Parties, room_affiliations
from ..storage import BusinessRepository, Database, MembershipRepository, PersonRepository, RoomRepository
from ..storage.status_store import StatusStore
from ..ttl_cache import TtlLru
from .room_members import RoomMembership


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def overall(statuses: list[dict[str, Any]]) -> str:
    """sent → delivered (to every other member) → read (by every other member)."""
    if statuses and all(s["read_at"] for s in statuses):
        return "read"
    if statuses and all(s["delivered_at"] for s in statuses):
        return "delivered"
    return "sent"


@dataclass(frozen=True)
class Member:
    person_id: int
    external_id: str
    jid: str
    name: str


@dataclass(frozen=True)
class ConversationContext:
    """What a status answer needs of a room besides its status rows: cached per room (see `StatusQueries`)."""

    business_external_id: str
    room_id: int
    room_jid: str
    names: dict[str, str]         # bare JID -> display name, of the plan (sender names)
    members: dict[int, Member]    # the room's members now, by person id


class StatusQueries:
    """Status answers. A room's members and names are cached for `CONTEXT_TTL` seconds and dropped as soon as
    the room's membership changes (`forget`, hooked on `RoomService.members_changed`): a status call then
    costs its status rows only."""

    CONTEXT_TTL = 30.0
    CONTEXT_ENTRIES = 5000

    def __init__(self, database: Database, rooms: RoomMembership, muc_host: str) -> None:
        self.database, self.rooms, self.muc_host = database, rooms, muc_host
        self._contexts: TtlLru[str, ConversationContext] = TtlLru(self.CONTEXT_ENTRIES, self.CONTEXT_TTL)

    def forget(self, room_jid: str) -> None:
        self._contexts.discard(room_jid)

    async def _context(self, session: Any, business_ext: str, conversation: str, viewer_ext: str | None = None,
                       viewer_jid: str | None = None) -> ConversationContext:
        jid = conversation if "@" in conversation else f"{conversation}@{self.muc_host}"
        context = self._contexts.get(jid)
        if context is None:
            context = await self._load_context(session, jid)
            if context is not None:
                self._contexts.put(jid, context)
        if context is None or context.business_external_id != business_ext:
            if context is None and await BusinessRepository(session).get_by_external_id(business_ext) is None:
                raise DomainError(NOT_FOUND, f"no business {business_ext!r}")
            raise DomainError(NOT_FOUND, f"no conversation {conversation!r} in business {business_ext!r}")
        if (viewer_ext is not None or viewer_jid is not None) and not any(
                m.external_id == viewer_ext if viewer_ext else m.jid == viewer_jid for m in context.members.values()):
            raise DomainError(FORBIDDEN, "only the members of a conversation see its status", field="person")
        return context

    @staticmethod
    async def _load_context(session: Any, room_jid: str) -> ConversationContext | None:
        """The room's members by the room rules (policies.rooms), from one statement."""
        rows = await StatusStore(session).conversation_people(room_jid)
        if not rows:
            return None
        first = rows[0]
        jids = {row.person_id: row.jid for row in rows}
        roles = {row.jid: row.role for row in rows if row.role is not None}
        wanted = room_affiliations(first.audience, Parties(customer=jids[first.customer_id], staff=jids[first.staff_id]),
                                   [jid for jid, role in roles.items() if role == "owner"], roles)
        return ConversationContext(first.business_external_id, first.room_id, first.room_jid,
                                   {row.jid: row.display_name for row in rows},
                                   {row.person_id: Member(row.person_id, row.external_id, row.jid, row.display_name)
                                    for row in rows if row.jid in wanted})

    async def message_status(self, business_ext: str, conversation: str, stanza_id: str,
                             viewer_ext: str | None = None, viewer_jid: str | None = None) -> dict[str, Any]:
        async with self.database.session() as session:
            context = await self._context(session, business_ext, conversation, viewer_ext, viewer_jid)
            store = StatusStore(session)
            message = await store.message(context.room_id, stanza_id)
            if message is None:
                raise DomainError(NOT_FOUND, f"no message {stanza_id!r} in this conversation")
            rows = await store.statuses(message.id)
        people = context.members
        members = [{"jid": people[r.person_id].jid if r.person_id in people else None,
                    "name": people[r.person_id].name if r.person_id in people else None,
                    "delivered_at": _iso(r.delivered_at), "delivered_via": r.delivered_via,
                    "read_at": _iso(r.read_at)} for r in rows]
        return {"conversation": context.room_jid.split("@")[0], "stanza_id": message.stanza_id,
                "sender": {"jid": message.sender_jid,
                           "name": context.names.get(message.sender_jid, message.sender_jid)},
                "sent_at": _iso(message.sent_at), "has_attachment": message.has_attachment,
                "status": overall(members), "members": members}

    async def conversation_status(self, business_ext: str, conversation: str, viewer_ext: str | None = None
                                  ) -> dict[str, Any]:
        async with self.database.session() as session:
            context = await self._context(session, business_ext, conversation, viewer_ext)
            store = StatusStore(session)
            marks = await store.read_marks(context.room_id)
            latest = await store.latest(context.room_id)
            read_upto = {person_id: marks[person_id].read_upto if person_id in marks else 0
                         for person_id in context.members}
            unread = await store.unread_counts(context.room_id, read_upto)
        members = []
        for person_id, person in sorted(context.members.items()):
            mark = marks.get(person_id)
            members.append({"jid": person.jid, "name": person.name, "unread": unread.get(person_id, 0),
                            "last_read": {"stanza_id": mark.stanza_id, "sent_at": _iso(mark.sent_at)}
                            if mark is not None and mark.stanza_id else None})
        return {"conversation": context.room_jid.split("@")[0], "jid": context.room_jid,
                "last_message": {"stanza_id": latest.stanza_id, "sender": latest.sender_jid,
                                 "sent_at": _iso(latest.sent_at)} if latest else None,
                "members": members}

    async def presence(self, business_ext: str, person_ext: str, viewer_ext: str | None = None) -> dict[str, Any]:
        async with self.database.session() as session:
            business = await BusinessRepository(session).get_by_external_id(business_ext)
            person = await PersonRepository(session).get_by_external_id(person_ext)
            membership = (person and business and await MembershipRepository(session).get(business.id, person.id))
            if business is None or person is None or not membership:
                raise DomainError(NOT_FOUND, f"no person {person_ext!r} in business {business_ext!r}")
            if viewer_ext is not None:
                viewer = await PersonRepository(session).get_by_external_id(viewer_ext)
                seen_by = viewer and await MembershipRepository(session).get(business.id, viewer.id)
                if not seen_by or (seen_by.role != "owner" and membership.role != "owner"
                                   and viewer is not None and viewer.id != person.id):
                    raise DomainError(FORBIDDEN, "staff and customers see the presence of the owners only",
                                      field="person")
            state = await StatusStore(session).presence(person.id)
        online = bool(state and state.online)
        return {"person": person.external_id, "jid": person.jid, "online": online,
                "show": state.show if state and online else None,
                "last_seen_at": _iso(state.last_seen_at) if state else None,
                "idle_since": _iso(state.idle_since) if state and state.online else None,
                "status": state.status_text if state and state.online else None}

    async def recent_for(self, jid: str, limit: int = 20) -> list[tuple[str, str, str, str]]:
        """(business id, room JID, stanza id, label) of recent messages in the person's conversations."""
        async with self.database.session() as session:
            person = await PersonRepository(session).get_by_jid(jid)
            if person is None:
                return []
            room_ids: dict[int, tuple[str, str]] = {}
            for membership in await MembershipRepository(session).businesses_of_person(person.id):
                owner = membership.role == "owner"
                for room in await RoomRepository(session).list(membership.business_id,
                                                               None if owner else person.id, limit=1000):
                    room_ids[room.id] = (membership.business.external_id, room.jid)
            messages = await StatusStore(session).recent(list(room_ids), limit)
        return [(room_ids[m.room_id][0], room_ids[m.room_id][1], m.stanza_id,
                 f"{m.sent_at:%d %b %H:%M} {m.sender_jid.split('@')[0]} in {room_ids[m.room_id][1].split('@')[0]}")
                for m in messages]
