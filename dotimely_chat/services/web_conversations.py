"""What the web page shows a person: the conversations list, Start New (people or appointments), presence
and room message status. Everything is scoped to the business the person's login link was made for."""

from __future__ import annotations

import logging
from typing import Any

from ..errors import BAD_REQUEST, FORBIDDEN, NOT_FOUND, DomainError
from ..policies.rooms import parse_audience
from ..policies.web_login import Peer, audiences_offered, one_to_one_peers, search_hits, start_new_mode
from ..storage import Database, DirectoryQueries, MembershipRepository, PersonRepository
from .appointments import AppointmentService
from .input_checks import refuse_unknown_fields
from .rooms import RoomService, StartChat
from .status_queries import StatusQueries
from .web_login import WebUser

log = logging.getLogger(__name__)

MAX_ROOMS_WITH_UNREAD = 100  # rooms further down the list show no count (one status query per room)
MAX_SEARCH = 20


class WebConversations:
    def __init__(self, database: Database, rooms: RoomService, appointments: AppointmentService,
                 status: StatusQueries) -> None:
        self.database, self.rooms, self.appointments, self.status = database, rooms, appointments, status

    async def _peers(self, user: WebUser, fragment: str = "", limit: int = 10_000) -> list[Peer]:
        async with self.database.session() as session:
            rows = await DirectoryQueries(session).search(user.business_id, fragment.strip(), None, limit, 0)
            return [Peer(m.person.jid, m.person.display_name, m.role) for m in rows]  # type: ignore[arg-type]

    async def conversations(self, user: WebUser) -> dict[str, Any]:
        """Rooms (most recent activity first, with the person's unread count) and one-to-one contacts.

        One-to-one history lives in each person's own archive at the server, which only their client may read:
        the page orders those chats by their last archived message (one MAM query), rooms by our records."""
        rooms = await self.rooms.list_rooms(user.business_ext, user.person_ext, limit=500)
        items: list[dict[str, Any]] = []
        for index, room in enumerate(rooms):
            unread: int | None = None
            if index < MAX_ROOMS_WITH_UNREAD:
                unread = await self._unread(user, room["jid"])
            items.append({"kind": "room", "jid": room["jid"], "name": room["name"], "audience": room["kind"],
                          "appointment_status": room["appointment_status"], "service": room["service"],
                          "customer_name": room["customer_name"], "starts_at": room["starts_at"],
                          "last_activity_at": room["last_activity_at"], "unread": unread})
        for peer in one_to_one_peers(user.jid, user.role, await self._peers(user)):
            items.append({"kind": "chat", "jid": peer.jid, "name": peer.name, "role": peer.role,
                          "last_activity_at": None, "unread": None})
        return {"me": user.to_json(), "start_new": start_new_mode(user.role), "conversations": items}

    async def _unread(self, user: WebUser, room_jid: str) -> int | None:
        try:
            status = await self.status.conversation_status(user.business_ext, room_jid, user.person_ext)
        except DomainError:
            return None
        mine = [m for m in status["members"] if m["jid"] == user.jid]
        return int(mine[0]["unread"]) if mine else None

    async def search(self, user: WebUser, fragment: str) -> list[dict[str, Any]]:
        """Start New → search, in Converse's `xhr_user_search_url` shape (a list of {jid, fullname})."""
        fragment = fragment.strip()
        if len(fragment) > 200:
            raise DomainError(BAD_REQUEST, "q: at most 200 characters", field="q")
        hits = search_hits(user.jid, user.role, await self._peers(user, fragment, 200))[:MAX_SEARCH]
        return [{"jid": p.jid, "fullname": p.name, "role": p.role, "kind": "person"} for p in hits]

    async def appointments_of(self, user: WebUser) -> dict[str, Any]:
        """Start New for staff and customers: their recent and upcoming appointments in this business."""
        choices = [appointment for business, _, _, appointment in await self.appointments.choices_for(user.jid)
                   if business == user.business_ext]
        return {"audiences": list(audiences_offered(user.role)), "appointments": choices}

    async def start_room(self, user: WebUser, body: Any) -> tuple[dict[str, Any], bool]:
        if not isinstance(body, dict) or not isinstance(body.get("appointment"), str):
            raise DomainError(BAD_REQUEST, "appointment: the appointment's id is required", field="appointment")
        refuse_unknown_fields(body, ("appointment", "audience"))
        raw = body.get("audience")
        audience = parse_audience(raw) if raw is not None else None
        if raw is not None and (audience is None or audience not in audiences_offered(user.role)):
            raise DomainError(BAD_REQUEST, f"audience: {raw!r} is not one of "
                              f"{', '.join(audiences_offered(user.role))}", field="audience")
        room, created = await self.rooms.start_chat(
            user.business_ext, StartChat(body["appointment"], audience, initiator_jid=user.jid))
        log.info("Web page: %s started or opened room %s in business %s", user.jid, room["jid"], user.business_ext)
        return {"jid": room["jid"], "name": room["name"], "audience": room["kind"]}, created

    async def presence(self, user: WebUser, jid: str) -> dict[str, Any]:
        async with self.database.session() as session:
            person = await PersonRepository(session).get_by_jid(jid)
            member = person and await MembershipRepository(session).get(user.business_id, person.id)
            if person is None or not member:
                raise DomainError(NOT_FOUND, f"no person {jid!r} in your business", field="jid")
            person_ext = person.external_id
        return await self.status.presence(user.business_ext, person_ext, user.person_ext)

    async def message_status(self, user: WebUser, room_jid: str, stanza_id: str) -> dict[str, Any]:
        body = await self.status.message_status(user.business_ext, room_jid, stanza_id, user.person_ext)
        if body["sender"]["jid"] != user.jid and user.role != "owner":
            raise DomainError(FORBIDDEN, "you see who has and who read your own messages", field="stanza_id")
        return body
