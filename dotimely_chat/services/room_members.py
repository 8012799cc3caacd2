"""Membership follows the appointment: room affiliations, configuration and bookmarks are brought back to
what the directory says — after appointment changes, after changes someone else made in a room (reverted
at once, with an audit entry), and for every room after each reconnection."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..policies.rooms import Affiliation, Audience, Parties, affiliation_fixes, room_affiliations, room_name
from ..storage import (
    AppointmentRepository,
    AuditRepository,
    Database,
    MembershipRepository,
    RoomRepository,
)
from ..storage.models.appointments import Appointment
from ..storage.models.directory import Person
from .appointments import AppointmentChange
from .status import RoomMembers

log = logging.getLogger(__name__)
RECONCILE_CONCURRENCY = 16
Cause = Literal["follow", "revert"]


class RoomGateway(Protocol):
    """The server's MUC service and users' PEP bookmarks (component.muc.MucRooms)."""

    async def open_room(self, room_jid: str, name: str, description: str = "") -> bool: ...
    async def ensure_config(self, room_jid: str, name: str, description: str = "") -> list[str]: ...
    async def get_affiliations(self, room_jid: str) -> dict[str, str]: ...
    async def set_affiliation(self, room_jid: str, jid: str, affiliation: str, reason: str = "") -> None: ...
    async def send_notice(self, room_jid: str, text: str) -> None: ...
    async def invite(self, room_jid: str, user_jid: str, reason: str) -> None: ...
    async def publish_bookmark(self, user_jid: str, room_jid: str, name: str, nick: str) -> None: ...
    async def retract_bookmark(self, user_jid: str, room_jid: str) -> None: ...
    async def destroy(self, room_jid: str) -> None: ...


@dataclass(frozen=True)
class RoomPlan:
    """What a room must be, from its appointment and the directory."""

    business_id: int
    appointment_id: str
    status: str
    service: str
    starts_at: dt.datetime
    customer_name: str
    staff_name: str
    affiliations: dict[str, Affiliation]
    names: dict[str, str] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)  # bare JID -> the owners, customer and staff

    @property
    def when(self) -> str:
        return self.starts_at.astimezone(dt.UTC).strftime("%a %d %b %H:%M UTC")

    @property
    def description(self) -> str:
        return f"{self.service} with {self.staff_name}, {self.when}"

    def name(self, audience: Audience) -> str:
        return room_name(self.service, self.customer_name, self.starts_at, audience)


class RoomMembership:
    def __init__(self, database: Database, gateway: RoomGateway, untouchable: set[str]) -> None:
        self.database, self.gateway, self.untouchable = database, gateway, set(untouchable)
        self._room_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.members_changed: list[Callable[[str], None]] = []  # e.g. the status observer's cache

    async def status_members(self, room_jid: str) -> RoomMembers | None:
        """The room's members by person id (for the status observer); None for a room that is not ours."""
        async with self.database.session() as session:
            room = await RoomRepository(session).get_by_jid(room_jid)
            if room is None:
                return None
            plan = await self.plan(session, room.business_id, room.appointment_id, room.audience)
            return RoomMembers(room.id, room.business_id,
                               {jid: plan.people[jid].id for jid in plan.affiliations if jid in plan.people})

    # ------------------------------------------------------------------------------------------ plan
    @staticmethod
    def parties_of(appointment: Appointment) -> Parties:
        return Parties(customer=appointment.customer.jid, staff=appointment.staff.jid)

    async def plan(self, session: Any, business_id: int, appointment_id: int, audience: Audience) -> RoomPlan:
        appointment = await AppointmentRepository(session).get_by_id(business_id, appointment_id)
        assert appointment is not None
        memberships = MembershipRepository(session)
        owners = await memberships.list_for_business(business_id, "owner")
        parties = (appointment.customer, appointment.staff)
        found = await memberships.roles_of(business_id, [person.id for person in parties])
        roles = {person.jid: found[person.id] for person in parties if person.id in found}
        people = {m.person.jid: m.person for m in owners} | {person.jid: person for person in parties}
        names = {jid: person.display_name for jid, person in people.items()}
        wanted = room_affiliations(audience, self.parties_of(appointment), [m.person.jid for m in owners], roles)
        return RoomPlan(business_id, appointment.external_id, appointment.status, appointment.service_name,
                        appointment.starts_at, appointment.customer.display_name,
                        appointment.staff.display_name, wanted, names, people)

    # ----------------------------------------------------------------------------------- side effects
    async def add_bookmarks(self, room_jid: str, name: str, members: Iterable[str], names: dict[str, str],
                            invite: bool = True) -> None:
        """XEP-0402 bookmark (autojoin) for each member and, for new members (`invite`), an XEP-0249
        invitation to those of their clients that do not join from it; failures are logged."""
        async def one(member: str) -> None:
            try:
                await self.gateway.publish_bookmark(member, room_jid, name, names.get(member, member.split("@")[0]))
            except Exception as exc:  # noqa: BLE001 - the invitation still goes; reconciliation retries
                log.warning("Bookmark of %s for %s failed: %s", room_jid, member, exc)
            if not invite:
                return
            try:
                await self.gateway.invite(room_jid, member, f"Chat about your appointment: {name}")
            except Exception as exc:  # noqa: BLE001
                log.warning("Invitation to %s for %s failed: %s", room_jid, member, exc)

        await asyncio.gather(*(one(m) for m in members))

    async def remove_bookmarks(self, room_jid: str, members: Iterable[str]) -> None:
        async def one(member: str) -> None:
            try:
                await self.gateway.retract_bookmark(member, room_jid)
            except Exception as exc:  # noqa: BLE001
                log.warning("Removing the bookmark of %s for %s failed: %s", room_jid, member, exc)

        await asyncio.gather(*(one(m) for m in members))

    async def notice(self, room_jid: str, text: str) -> None:
        try:
            await self.gateway.send_notice(room_jid, text)
        except Exception as exc:  # noqa: BLE001 - a notice is not worth failing a change for
            log.warning("Notice to %s failed: %s", room_jid, exc)

    # ----------------------------------------------------------------------------------- reconcile
    async def reconcile_room(self, room_jid: str, cause: Cause, actor: str = "component",
                             rejoin: bool = False) -> int:
        """Bring one room back to its plan; returns the number of changes made."""
        async with self._room_locks[room_jid]:
            async with self.database.session() as session:
                room = await RoomRepository(session).get_by_jid(room_jid)
                if room is None:
                    return 0
                plan = await self.plan(session, room.business_id, room.appointment_id, room.audience)
            name = plan.name(room.audience)
            if rejoin:
                await self.gateway.open_room(room_jid, name, plan.description)
            fixed_config = await self.gateway.ensure_config(room_jid, name, plan.description)
            actual = await self.gateway.get_affiliations(room_jid)
            fixes = affiliation_fixes(plan.affiliations, actual, self.untouchable)
            for jid, affiliation in fixes:
                await self.gateway.set_affiliation(room_jid, jid, affiliation, "membership follows the appointment")
            async with self.database.session() as session:
                audit = AuditRepository(session)
                for jid, affiliation in fixes:
                    before = actual.get(jid, "none")
                    action = ("affiliation_reverted" if cause == "revert"
                              else "member_added" if affiliation != "none" else "member_removed")
                    audit.add(room.business_id, actor, action, room_jid=room_jid, subject_jid=jid,
                                    details={"from": before, "to": affiliation})
                if fixed_config:
                    audit.add(room.business_id, actor, "config_reverted", room_jid=room_jid,
                                    details={"fields": fixed_config})
                if name != room.name:
                    stored = await RoomRepository(session).get_by_jid(room_jid)
                    assert stored is not None
                    stored.name = name
                await session.commit()
            added = [jid for jid, aff in fixes if aff != "none" and actual.get(jid, "none") in ("none", "outcast")]
            removed = [jid for jid, aff in fixes if aff == "none" and actual.get(jid) in ("member", "admin")]
            await self.add_bookmarks(room_jid, name, added, plan.names)
            if name != room.name:  # every bookmark carries the room's name; the others are in the room already
                await self.add_bookmarks(room_jid, name, [j for j in plan.affiliations if j not in added], plan.names,
                                         invite=False)
            await self.remove_bookmarks(room_jid, removed)
            if fixes:
                for listener in self.members_changed:
                    listener(room_jid)
            if fixes or fixed_config:
                log.info("Room %s: %d affiliation(s) and %d config field(s) put back (%s)", room_jid, len(fixes),
                         len(fixed_config), cause)
            return len(fixes) + len(fixed_config)

    async def reconcile_all(self) -> int:
        """After every (re)connection: rejoin every room, put back what changed while we were away."""
        async with self.database.session() as session:
            rooms = [room.jid for room in await RoomRepository(session).all()]
        semaphore = asyncio.Semaphore(RECONCILE_CONCURRENCY)
        changes = 0

        async def one(jid: str) -> None:
            nonlocal changes
            async with semaphore:
                try:
                    changes += await self.reconcile_room(jid, "revert", rejoin=True)
                except Exception:
                    log.exception("Reconciling room %s failed", jid)

        await asyncio.gather(*(one(jid) for jid in rooms))
        log.info("Rooms reconciled: %d rooms, %d changes put back", len(rooms), changes)
        return changes

    # ------------------------------------------------------------------------------- what others did
    async def on_affiliation_change(self, change: Any) -> None:
        """A room told us an affiliation changed: if it is not what the plan says, put it back."""
        jid, affiliation = str(change.jid), str(change.affiliation)
        if jid in self.untouchable:
            return
        async with self.database.session() as session:
            room = await RoomRepository(session).get_by_jid(str(change.room_jid))
            if room is None:
                return
            plan = await self.plan(session, room.business_id, room.appointment_id, room.audience)
        if plan.affiliations.get(jid, "none") == affiliation:
            return
        log.warning("Room %s: %s made %s %s; putting it back", room.jid, change.actor or "someone", jid, affiliation)
        async with self.database.session() as session:  # what someone else did, before we put it back
            AuditRepository(session).add(room.business_id, str(change.actor or "unknown"), "affiliation_changed",
                                         room_jid=room.jid, subject_jid=jid, details={
                                             "to": affiliation, "wanted": plan.affiliations.get(jid, "none"),
                                             "status_codes": sorted(int(c) for c in change.status_codes)})
            await session.commit()
        await self.reconcile_room(room.jid, "revert", actor=str(change.actor or "unknown"))

    async def on_config_change(self, room_jid: str) -> None:
        await self.reconcile_room(room_jid, "revert")

    # -------------------------------------------------------------------------- appointment changes
    async def appointment_changed(self, change: AppointmentChange) -> None:
        async with self.database.session() as session:
            rooms = await RoomRepository(session).for_appointment(change.business_id, change.appointment_id)
            if not rooms:
                return
            plan = await self.plan(session, change.business_id, change.appointment_id, rooms[0].audience)
            audit = AuditRepository(session)
            for action, happened in (("appointment_rescheduled", change.rescheduled),
                                     ("staff_reassigned", change.old_staff_id is not None),
                                     ("customer_changed", change.old_customer_id is not None),
                                     ("appointment_cancelled", change.cancelled)):
                if happened:
                    audit.add(change.business_id, "api", action, details={"appointment": plan.appointment_id})
            await session.commit()
        for room in rooms:
            await self.reconcile_room(room.jid, "follow")
            if change.rescheduled:
                await self.notice(room.jid, f"The appointment moved to {plan.when}.")
            if change.old_staff_id is not None:
                await self.notice(room.jid, f"{plan.staff_name} now takes care of this appointment.")
            if change.cancelled:
                await self.notice(room.jid, "The appointment was cancelled. This chat stays readable.")

    async def membership_changed(self, business_id: int, person_id: int, involves_owner: bool) -> None:
        """A person joined, left or changed role in a business: their rooms (every room, for owners)."""
        async with self.database.session() as session:
            rooms = await RoomRepository(session).list(business_id, None if involves_owner else person_id,
                                                       limit=100_000)
            jids = [room.jid for room in rooms]
        for jid in jids:
            try:
                await self.reconcile_room(jid, "follow")
            except Exception:
                log.exception("Reconciling room %s after a membership change failed", jid)
