"""Appointment rooms: starting a chat, listing conversations.

Order of effects, so nothing is half-created: the room is opened and its affiliations set on the server,
then its record is committed (if that fails the room is destroyed again), then the members get their
bookmark and invitation and the room a notice (derived state, repaired by reconciliation).

A start is idempotent, also when an attempt failed midway (the link lost after the room was made on the
server but before its record was committed, and the destroy could not be sent either): the room's JID is
derived from what it is for (business, appointment, audience, with the rows' creation times so that a
re-created business or appointment with the same ids never lands in an old room) under a secret key, so a
retry opens the same room again instead of making a second one.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from ..errors import FORBIDDEN, NOT_FOUND, DomainError, LinkUnavailable
from ..policies.rooms import Audience, affiliation_fixes, choose_audience, parse_audience, room_name
from ..policies.text import is_plain_id
from ..storage import (
    AppointmentRepository,
    AuditRepository,
    BusinessRepository,
    Database,
    MembershipRepository,
    PersonRepository,
    RoomRepository,
)
from ..storage.models.appointments import Appointment, Room
from ..storage.models.directory import Business
from .input_checks import invalid, refuse_unknown_fields
from .room_members import RoomGateway, RoomMembership, RoomPlan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartChat:
    """Who starts a chat about which appointment: by the backend's ids (API) or by JID (XMPP)."""

    appointment: str
    audience: Audience | None
    initiator_id: str | None = None
    initiator_jid: str | None = None

    @classmethod
    def from_json(cls, body: Any) -> StartChat:
        if not isinstance(body, dict):
            raise invalid("body", "a JSON object is required")
        refuse_unknown_fields(body, ("initiator", "appointment", "audience"))
        for field in ("initiator", "appointment"):
            if not isinstance(body.get(field), str) or not is_plain_id(body[field], 128):
                raise invalid(field, "the booking backend's id is required")
        audience = body.get("audience")
        if audience is not None and parse_audience(audience) is None:
            raise invalid("audience", f"{audience!r} is not 'everyone' or 'owner'")
        return cls(body["appointment"], parse_audience(audience), initiator_id=body["initiator"])


MAX_ROOMS_LISTED = 500


class RoomService(RoomMembership):
    def __init__(self, database: Database, gateway: RoomGateway, muc_host: str, untouchable: set[str],
                 room_key: bytes | None = None) -> None:
        super().__init__(database, gateway, untouchable)
        self.muc_host = muc_host
        # Keyed so that room JIDs cannot be guessed; give a stable key (app.py: the component secret) so that
        # a retry after a restart still finds the room of a failed attempt.
        self.room_key = room_key or secrets.token_bytes(32)
        self._start_locks: defaultdict[tuple[int, str], asyncio.Lock] = defaultdict(asyncio.Lock)
        self.welcomes: dict[str, asyncio.Task[None]] = {}  # room JID -> bookmarks, invitations, notice

    # ------------------------------------------------------------------------------------------- start
    async def start_chat(self, business_ext: str, request: StartChat) -> tuple[dict[str, Any], bool]:
        """The room of (appointment, audience) — created the first time, returned afterwards."""
        async with self.database.session() as session:
            business = await BusinessRepository(session).get_by_external_id(business_ext)
            if business is None:
                raise DomainError(NOT_FOUND, f"no business {business_ext!r}")
            appointment = await AppointmentRepository(session).get(business.id, request.appointment)
            if appointment is None:
                raise DomainError(NOT_FOUND, f"no appointment {request.appointment!r} in business {business_ext!r}",
                                  field="appointment")
            people = PersonRepository(session)
            initiator = (await people.get_by_external_id(request.initiator_id) if request.initiator_id
                         else await people.get_by_jid(request.initiator_jid or ""))
            membership = initiator and await MembershipRepository(session).get(business.id, initiator.id)
            if initiator is None or not membership:
                raise DomainError(FORBIDDEN, "the initiator is not a person of this business", field="initiator")
            decision = choose_audience(membership.role, initiator.jid,  # type: ignore[arg-type]
                                       self.parties_of(appointment), request.audience)
            if decision.audience is None:
                raise DomainError(FORBIDDEN, decision.reason, field="audience")
            audience: Audience = decision.audience
            key = (appointment.id, audience)
            initiator_jid = initiator.jid
            jid = self.room_jid_for(business, appointment, audience)
        async with self._start_locks[key]:
            async with self.database.session() as session:
                existing = await RoomRepository(session).get(business.id, appointment.id, audience)
                if existing is not None:
                    return await self.room_json(existing.jid), False
            return await self._create(business.id, appointment.id, audience, initiator_jid, jid)

    def room_jid_for(self, business: Business, appointment: Appointment, audience: Audience) -> str:
        """The room of (business, appointment, audience): the same for every attempt to start it."""
        what = "\x1f".join((str(business.id), business.external_id, business.created_at.isoformat(),
                            str(appointment.id), appointment.external_id, appointment.created_at.isoformat(),
                            audience))
        digest = hmac.new(self.room_key, what.encode(), hashlib.sha256).hexdigest()[:16]
        return f"appt-{digest}@{self.muc_host}"

    async def _create(self, business_id: int, appointment_id: int, audience: Audience, initiator: str, jid: str
                      ) -> tuple[dict[str, Any], bool]:
        async with self.database.session() as session:
            plan = await self.plan(session, business_id, appointment_id, audience)
        name = room_name(plan.service, plan.customer_name, plan.starts_at, audience)
        created = await self.gateway.open_room(jid, name, plan.description)
        try:
            if created:
                changes = list(plan.affiliations.items())
            else:  # left by an attempt that failed midway: make it what the plan says
                log.info("Room %s exists already (an earlier attempt to start it failed midway): using it", jid)
                changes = affiliation_fixes(plan.affiliations, await self.gateway.get_affiliations(jid),
                                            self.untouchable)
            await asyncio.gather(*(self.gateway.set_affiliation(jid, member, affiliation, "appointment room")
                                   for member, affiliation in changes))
            async with self.database.session() as session:
                room = await RoomRepository(session).add(business_id, appointment_id, audience, jid, name)
                audit = AuditRepository(session)
                audit.add(business_id, initiator, "room_created", room_jid=jid,
                          details={"audience": audience, "appointment_id": appointment_id})
                for member, affiliation in plan.affiliations.items():
                    audit.add(business_id, "component", "member_added", room_jid=jid, subject_jid=member,
                              details={"affiliation": affiliation})
                await session.commit()
        except BaseException as exc:
            await self._discard(jid)
            if isinstance(exc, IntegrityError):  # another process made it first
                async with self.database.session() as session:
                    other = await RoomRepository(session).get(business_id, appointment_id, audience)
                    if other is not None:
                        return self._room_json(other, plan), False
            raise
        log.info("Room %s created for appointment %d (%s) by %s", jid, appointment_id, audience, initiator)
        # The room is usable now; bookmarks, invitations and the notice follow without holding the caller.
        task = asyncio.create_task(self.welcome(room, plan, list(plan.affiliations)))
        self.welcomes[jid] = task
        task.add_done_callback(lambda _: self.welcomes.pop(jid, None))
        return self._room_json(room, plan), True

    async def _discard(self, jid: str) -> None:
        try:
            await self.gateway.destroy(jid)
        except LinkUnavailable:  # the retry opens this same room again (room_jid_for)
            log.warning("Could not destroy room %s after a failed start: the link is down", jid)
        except Exception:  # noqa: BLE001 - the original error matters more
            log.exception("Could not destroy room %s after a failed write", jid)

    async def welcome(self, room: Room, plan: RoomPlan, members: list[str]) -> None:
        """Bookmarks and invitations for `members`, and the creation notice. Never raises."""
        try:
            await asyncio.gather(
                self.add_bookmarks(room.jid, room.name, members, plan.names),
                self.notice(room.jid, f"This chat is about {plan.service} on {plan.when} with "
                                      f"{plan.customer_name} and {plan.staff_name}. "
                                      "The business's owners can read it."))
        except Exception:  # noqa: BLE001 - reconciliation publishes missing bookmarks again
            log.exception("Welcoming the members of %s failed", room.jid)

    # ------------------------------------------------------------------------------------------- views
    async def room_json(self, room_jid: str) -> dict[str, Any]:
        async with self.database.session() as session:
            room = await RoomRepository(session).get_by_jid(room_jid)
            if room is None:
                raise DomainError(NOT_FOUND, f"no room {room_jid}")
            plan = await self.plan(session, room.business_id, room.appointment_id, room.audience)
            return self._room_json(room, plan)

    def _room_json(self, room: Room, plan: RoomPlan) -> dict[str, Any]:
        return {
            "id": room.jid.split("@")[0], "jid": room.jid, "name": room.name, "kind": room.audience, "appointment": plan.appointment_id,
            "appointment_status": plan.status, "service": plan.service, "customer_name": plan.customer_name,
            "starts_at": plan.starts_at.isoformat(),
            "members": [{"jid": jid, "name": plan.names.get(jid, jid), "affiliation": aff}
                        for jid, aff in sorted(plan.affiliations.items())],
            "created_at": room.created_at.isoformat(), "last_activity_at": room.last_activity_at.isoformat(),
        }

    async def list_rooms(self, business_ext: str, person_ext: str | None = None,
                         limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        if not 1 <= limit <= MAX_ROOMS_LISTED or offset < 0:
            raise invalid("limit", f"limit must be 1 to {MAX_ROOMS_LISTED} and offset at least 0")
        async with self.database.session() as session:
            business = await BusinessRepository(session).get_by_external_id(business_ext)
            if business is None:
                raise DomainError(NOT_FOUND, f"no business {business_ext!r}")
            person_id: int | None = None
            if person_ext is not None:
                person = await PersonRepository(session).get_by_external_id(person_ext)
                membership = person and await MembershipRepository(session).get(business.id, person.id)
                if person is None or not membership:
                    raise DomainError(NOT_FOUND, f"no person {person_ext!r} in business {business_ext!r}",
                                      field="person")
                person_id = None if membership.role == "owner" else person.id
            rooms = await RoomRepository(session).list(business.id, person_id, limit, offset)
            return [self._room_json(room, await self.plan(session, business.id, room.appointment_id, room.audience))
                    for room in rooms]
