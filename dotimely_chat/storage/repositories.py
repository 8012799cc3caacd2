"""Repositories: all of the package's SQL. They flush but never commit; the use case owns the transaction.

Anything that belongs to a business takes `business_id` first, and every query on it filters by it, so
a caller holding one business's id cannot reach another's rows.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Sequence
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    Select,
    Table,
    bindparam,
    delete,
    exists,
    false,
    func,
    insert,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, contains_eager, joinedload

from dotimely_chat.policies.roles import Role
from dotimely_chat.storage.models import (
    Appointment,
    AppointmentStatus,
    AuditEntry,
    Business,
    Membership,
    Person,
    Room,
    RosterItem,
    UploadedFile,
    UploadSlot,
)
from dotimely_chat.storage.types import utcnow


class BusinessRepository:
    """Businesses (tenants)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, business_id: int) -> Business | None:
        return await self._session.get(Business, business_id)

    async def get_by_external_id(self, external_id: str, *, include_deleted: bool = False) -> Business | None:
        """The business; a deleted one (a tombstone kept for its history) only with `include_deleted`."""
        query = select(Business).where(Business.external_id == external_id)
        if not include_deleted:
            query = query.where(Business.deleted_at.is_(None))
        return (await self._session.scalars(query)).one_or_none()

    async def add(self, external_id: str, name: str) -> Business:
        business = Business(external_id=external_id, name=name)
        self._session.add(business)
        await self._session.flush()
        return business

    async def list(self) -> Sequence[Business]:
        """The businesses that are not deleted."""
        query = select(Business).where(Business.deleted_at.is_(None)).order_by(Business.id)
        return (await self._session.scalars(query)).all()

    async def delete(self, business_id: int) -> bool:
        """Delete a business row for good; the database cascades to everything of it (memberships,
        appointments, rooms, their messages and status, uploads, the audit log). The API's deletion does not
        do this (services/directory.py): retention purges a deleted business once its records expired."""
        result = await self._session.execute(
            delete(Business).where(Business.id == business_id).returning(Business.id)
        )
        return result.scalar_one_or_none() is not None


class PersonRepository:
    """People: one bare JID each, shared across the businesses they belong to."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, person_id: int) -> Person | None:
        return await self._session.get(Person, person_id)

    async def get_by_external_id(self, external_id: str) -> Person | None:
        query = select(Person).where(Person.external_id == external_id)
        return (await self._session.scalars(query)).one_or_none()

    async def get_by_jid(self, jid: str) -> Person | None:
        """Exact match on the bare JID; the caller normalises it (never a suffix match)."""
        query = select(Person).where(Person.jid == jid)
        return (await self._session.scalars(query)).one_or_none()

    async def get_by_jids(self, jids: Collection[str]) -> dict[str, Person]:
        """Exact matches on bare JIDs, in one statement."""
        if not jids:
            return {}
        return {p.jid: p for p in (await self._session.scalars(select(Person).where(Person.jid.in_(list(jids)))))}

    async def add(
        self,
        external_id: str,
        jid: str,
        display_name: str,
        email: str | None = None,
        phone: str | None = None,
    ) -> Person:
        person = Person(external_id=external_id, jid=jid, display_name=display_name, email=email, phone=phone)
        self._session.add(person)
        await self._session.flush()
        return person


class MembershipRepository:
    """Who belongs to which business, with which role."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, business_id: int, person_id: int, role: Role) -> Membership:
        membership = Membership(business_id=business_id, person_id=person_id, role=role)
        self._session.add(membership)
        await self._session.flush()
        return membership

    async def get(self, business_id: int, person_id: int) -> Membership | None:
        query = select(Membership).where(
            Membership.business_id == business_id, Membership.person_id == person_id
        )
        return (await self._session.scalars(query)).one_or_none()

    async def roles_of(self, business_id: int, person_ids: Collection[int]) -> dict[int, Role]:
        """The roles these people have in the business (people who are not members are left out)."""
        rows = await self._session.execute(select(Membership.person_id, Membership.role).where(
            Membership.business_id == business_id, Membership.person_id.in_(list(person_ids))))
        return {person_id: role for person_id, role in rows}

    async def remove(self, business_id: int, person_id: int) -> bool:
        """Remove a person from a business; True if they were a member."""
        result = await self._session.execute(
            delete(Membership)
            .where(Membership.business_id == business_id, Membership.person_id == person_id)
            .returning(Membership.id)
        )
        return result.scalar_one_or_none() is not None

    async def list_for_business(self, business_id: int, role: Role | None = None) -> Sequence[Membership]:
        """The business's memberships, optionally of one role, each with `person` loaded."""
        query = (
            select(Membership)
            .where(Membership.business_id == business_id)
            .options(joinedload(Membership.person))
            .order_by(Membership.id)
        )
        if role is not None:
            query = query.where(Membership.role == role)
        return (await self._session.scalars(query)).all()

    async def businesses_of_person(self, person_id: int) -> Sequence[Membership]:
        """The person's memberships across businesses, each with `business` loaded (the role is on it)."""
        query = (
            select(Membership)
            .where(Membership.person_id == person_id)
            .options(joinedload(Membership.business))
            .order_by(Membership.business_id)
        )
        return (await self._session.scalars(query)).all()


class AppointmentRepository:
    """Appointments mirrored from the booking backend, keyed by (business, external id)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, business_id: int, external_id: str) -> Appointment | None:
        """One appointment of this business, with `customer` and `staff` loaded."""
        query = (
            select(Appointment)
            .where(Appointment.business_id == business_id, Appointment.external_id == external_id)
            .options(joinedload(Appointment.customer), joinedload(Appointment.staff))
        )
        return (await self._session.scalars(query)).one_or_none()

    async def in_range(self, business_id: int, since: dt.datetime, until: dt.datetime,
                       person_id: int | None = None, limit: int = 50) -> Sequence[Appointment]:
        """Appointments starting in [since, until), soonest first; with `person_id`, only theirs."""
        statement = (
            select(Appointment)
            .where(Appointment.business_id == business_id, Appointment.starts_at >= since,
                   Appointment.starts_at < until)
            .options(joinedload(Appointment.customer), joinedload(Appointment.staff))
            .order_by(Appointment.starts_at, Appointment.id).limit(limit)
        )
        if person_id is not None:
            statement = statement.where(or_(Appointment.customer_id == person_id, Appointment.staff_id == person_id))
        return (await self._session.scalars(statement)).all()

    async def get_by_id(self, business_id: int, appointment_id: int) -> Appointment | None:
        """By our own id, with customer and staff loaded."""
        return (await self._session.scalars(
            select(Appointment)
            .where(Appointment.business_id == business_id, Appointment.id == appointment_id)
            .options(joinedload(Appointment.customer), joinedload(Appointment.staff))
        )).first()

    async def upsert(
        self,
        business_id: int,
        external_id: str,
        *,
        customer_id: int,
        staff_id: int,
        starts_at: dt.datetime,
        duration_minutes: int,
        service_name: str,
    ) -> Appointment:
        """Insert or update in one atomic statement (safe under concurrent PUTs); status is kept.

        A new appointment is `booked`; an existing one keeps its status, so re-sending a cancelled
        appointment's details does not revive it (use `set_status`).
        """
        dialect = self._session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        values = {
            "customer_id": customer_id,
            "staff_id": staff_id,
            "starts_at": starts_at,
            "duration_minutes": duration_minutes,
            "service_name": service_name,
        }
        statement = insert(Appointment).values(business_id=business_id, external_id=external_id, **values)
        statement = statement.on_conflict_do_update(
            index_elements=[Appointment.business_id, Appointment.external_id],
            set_={**{key: statement.excluded[key] for key in values}, "updated_at": utcnow()},
        )
        result = await self._session.scalars(
            statement.returning(Appointment), execution_options={"populate_existing": True}
        )
        return result.one()

    async def set_status(
        self, business_id: int, external_id: str, status: AppointmentStatus
    ) -> Appointment | None:
        """Mark an appointment booked or cancelled; None if this business has no such appointment."""
        appointment = await self.get(business_id, external_id)
        if appointment is None:
            return None
        appointment.status = status
        await self._session.flush()
        return appointment

    async def list_for_business(self, business_id: int) -> Sequence[Appointment]:
        """The business's appointments by start time, with `customer` and `staff` loaded."""
        query = (
            select(Appointment)
            .where(Appointment.business_id == business_id)
            .options(joinedload(Appointment.customer), joinedload(Appointment.staff))
            .order_by(Appointment.starts_at, Appointment.id)
        )
        return (await self._session.scalars(query)).all()


# Made once: building an alias per call cost a third of the CPU of provisioning (column adaptation is
# memoised per alias object).
_VIEWER = aliased(Membership, name="viewer")
_OTHER = aliased(Membership, name="other")


class DirectoryQueries:
    """Questions across businesses: who shares a business with whom, search."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def shared_memberships(
        self, person_id: int, contact_ids: Collection[int] | None = None, involving_role: Role | None = None
    ) -> Sequence[tuple[Person, Role, Role]]:
        """(contact, viewer's role, contact's role) for every business the person shares with someone.

        A pair appears once per shared business; `contact_ids` limits the contacts looked at.
        """
        viewer, other = _VIEWER, _OTHER

        def pairs(*conditions: Any) -> Select[tuple[Person, Role, Role]]:
            statement = (
                select(Person, viewer.role, other.role)
                .join(other, other.person_id == Person.id)
                .join(viewer, viewer.business_id == other.business_id)
                .where(viewer.person_id == person_id, other.person_id != person_id, *conditions)
            )
            if contact_ids is not None:
                statement = statement.where(other.person_id.in_(list(contact_ids)))
            return statement

        if involving_role is None:
            rows = (await self._session.execute(pairs())).all()
        else:
            # A pre-selection for speed: a customer among 2,000 reads only the owners (two index
            # look-ups, not a scan of the business); the policy still decides on each pair.
            rows = [*(await self._session.execute(pairs(viewer.role == involving_role))).all(),
                    *(await self._session.execute(pairs(viewer.role != involving_role,
                                                        other.role == involving_role))).all()]
        return sorted(((row[0], row[1], row[2]) for row in rows), key=lambda row: row[0].id)

    async def search(
        self, business_id: int, fragment: str, roles: Collection[Role] | None = None,
        limit: int = 50, offset: int = 0,
    ) -> Sequence[Membership]:
        """Members of one business whose name, e-mail or phone contains `fragment` (any case)."""
        statement = (
            select(Membership).join(Membership.person)
            .where(Membership.business_id == business_id)
            .options(contains_eager(Membership.person))
            .order_by(Person.display_name, Person.id).limit(limit).offset(offset)
        )
        if fragment:
            pattern = "%" + fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            statement = statement.where(or_(
                Person.display_name.ilike(pattern, escape="\\"), Person.email.ilike(pattern, escape="\\"),
                Person.phone.ilike(pattern, escape="\\")))
        if roles is not None:
            statement = statement.where(Membership.role.in_(list(roles)))
        return (await self._session.scalars(statement)).all()

    async def count_owners(self, business_id: int) -> int:
        statement = select(func.count()).select_from(Membership).where(
            Membership.business_id == business_id, Membership.role == "owner")
        return int(await self._session.scalar(statement) or 0)

    async def businesses_count(self, person_id: int) -> int:
        statement = select(func.count()).select_from(Membership).where(Membership.person_id == person_id)
        return int(await self._session.scalar(statement) or 0)

    async def people_with_roster_items_only(self) -> Sequence[Person]:
        """People we manage roster entries for but who belong to no business any more."""
        statement = select(Person).where(
            select(RosterItem.id).where(RosterItem.person_id == Person.id).exists(),
            ~select(Membership.id).where(Membership.person_id == Person.id).exists()).order_by(Person.id)
        return (await self._session.scalars(statement)).all()

    async def people_with_memberships(self) -> Sequence[Person]:
        """Everyone who belongs to at least one business (for full reconciliation)."""
        statement = select(Person).where(
            select(Membership.id).where(Membership.person_id == Person.id).exists()).order_by(Person.id)
        return (await self._session.scalars(statement)).all()


class RosterItemRepository:
    """What we last pushed into people's rosters."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def for_person(self, person_id: int, contact_jids: Collection[str] | None = None
                         ) -> dict[str, RosterItem]:
        statement = select(RosterItem).where(RosterItem.person_id == person_id)
        if contact_jids is not None:
            statement = statement.where(RosterItem.contact_jid.in_(list(contact_jids)))
        return {item.contact_jid: item for item in (await self._session.scalars(statement)).all()}

    async def insert(self, person_id: int, items: Sequence[tuple[str, str, str]]) -> None:
        """New entries as (contact_jid, name, groups), in one statement."""
        if items:
            await self._session.execute(insert(RosterItem), [
                {"person_id": person_id, "contact_jid": jid, "name": name, "groups": groups}
                for jid, name, groups in items])

    async def update(self, person_id: int, contact_jid: str, name: str, groups: str) -> None:
        await self._session.execute(update(RosterItem).where(
            RosterItem.person_id == person_id, RosterItem.contact_jid == contact_jid).values(
            name=name, groups=groups))

    async def delete(self, person_id: int, contact_jids: Collection[str]) -> None:
        if contact_jids:
            await self._session.execute(delete(RosterItem).where(
                RosterItem.person_id == person_id, RosterItem.contact_jid.in_(list(contact_jids))))


class RoomRepository:
    """Appointment rooms of a business."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, business_id: int, appointment_id: int, audience: str) -> Room | None:
        return (await self._session.scalars(select(Room).where(
            Room.business_id == business_id, Room.appointment_id == appointment_id, Room.audience == audience))).first()

    async def get_by_jid(self, jid: str) -> Room | None:
        """Exact match on the room's bare JID."""
        return (await self._session.scalars(
            select(Room).where(Room.jid == jid).options(joinedload(Room.appointment)))).first()

    async def add(self, business_id: int, appointment_id: int, audience: str, jid: str, name: str) -> Room:
        room = Room(business_id=business_id, appointment_id=appointment_id, audience=audience, jid=jid, name=name)
        self._session.add(room)
        await self._session.flush()
        return room

    async def for_appointment(self, business_id: int, appointment_id: int) -> Sequence[Room]:
        return (await self._session.scalars(select(Room).where(
            Room.business_id == business_id, Room.appointment_id == appointment_id).order_by(Room.id))).all()

    async def list(self, business_id: int, person_id: int | None = None, limit: int = 100, offset: int = 0
                   ) -> Sequence[Room]:
        """Rooms of a business, most recent activity first; with `person_id`, the rooms of their
        appointments (the owners of the business are in every room, so pass None for them)."""
        statement = (select(Room).join(Room.appointment).where(Room.business_id == business_id)
                     .options(contains_eager(Room.appointment))
                     .order_by(Room.last_activity_at.desc(), Room.id.desc()).limit(limit).offset(offset))
        if person_id is not None:
            statement = statement.where(or_(
                Appointment.staff_id == person_id,
                (Appointment.customer_id == person_id) & (Room.audience == "everyone")))
        return (await self._session.scalars(statement)).unique().all()

    async def all(self) -> Sequence[Room]:
        return (await self._session.scalars(
            select(Room).options(joinedload(Room.appointment)).order_by(Room.id))).all()

    async def touch(self, room_id: int, at: dt.datetime) -> None:
        await self._session.execute(update(Room).where(Room.id == room_id, Room.last_activity_at < at)
                                    .values(last_activity_at=at))


class AuditRepository:
    """The audit log of a business (append only)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, business_id: int, actor: str, action: str, *, room_jid: str | None = None,
            subject_jid: str | None = None, details: dict[str, Any] | None = None) -> AuditEntry:
        entry = AuditEntry(business_id=business_id, actor=actor, action=action, room_jid=room_jid,
                           subject_jid=subject_jid, details=json.dumps(details or {}, sort_keys=True))
        self._session.add(entry)  # written with the use case's commit (no round trip per entry)
        return entry

    async def list(self, business_id: int, since: dt.datetime | None = None, until: dt.datetime | None = None,
                   limit: int = 1000) -> Sequence[AuditEntry]:
        statement = select(AuditEntry).where(AuditEntry.business_id == business_id)
        if since is not None:
            statement = statement.where(AuditEntry.at >= since)
        if until is not None:
            statement = statement.where(AuditEntry.at < until)
        return (await self._session.scalars(statement.order_by(AuditEntry.at, AuditEntry.id).limit(limit))).all()


# ------------------------------------------------------------------------------------------- uploads

# The hot paths of attachments (slot, PUT, GET) run these statements, built once on the tables: building
# and caching an ORM statement per call cost more CPU than the query itself (bench/uploads.py). A slot is
# used once its file row exists (same file_id, unique): one INSERT records a PUT.
_SLOTS, _FILES = cast(Table, UploadSlot.__table__), cast(Table, UploadedFile.__table__)
_PEOPLE, _MEMBERSHIPS = cast(Table, Person.__table__), cast(Table, Membership.__table__)
_UNUSED = ~exists().where(_FILES.c.file_id == _SLOTS.c.file_id)
_UPLOADER = (select(_PEOPLE.c.id, func.min(_MEMBERSHIPS.c.business_id))
             .join(_MEMBERSHIPS, _MEMBERSHIPS.c.person_id == _PEOPLE.c.id)
             .where(_PEOPLE.c.jid == bindparam("jid")).group_by(_PEOPLE.c.id))
# (person, first business, bytes stored since :since + bytes of open slots) in one round trip.
_QUOTA = (select(_PEOPLE.c.id, func.min(_MEMBERSHIPS.c.business_id),
                 select(func.coalesce(func.sum(_FILES.c.size), 0)).where(
                     _FILES.c.person_id == _PEOPLE.c.id, _FILES.c.created_at >= bindparam("since"))
                 .scalar_subquery()
                 + select(func.coalesce(func.sum(_SLOTS.c.size), 0)).where(
                     _SLOTS.c.person_id == _PEOPLE.c.id, _SLOTS.c.expires_at > bindparam("now"), _UNUSED)
                 .scalar_subquery())
          .join(_MEMBERSHIPS, _MEMBERSHIPS.c.person_id == _PEOPLE.c.id)
          .where(_PEOPLE.c.jid == bindparam("jid")).group_by(_PEOPLE.c.id))
# The slot writer's batch: membership of every asker in one query, and the usage of people not yet in its
# ledger (files stored since :since, unused slots not expired) in another.
_UPLOADERS = (select(_PEOPLE.c.jid, _PEOPLE.c.id, func.min(_MEMBERSHIPS.c.business_id))
              .join(_MEMBERSHIPS, _MEMBERSHIPS.c.person_id == _PEOPLE.c.id)
              .where(_PEOPLE.c.jid.in_(bindparam("jids", expanding=True))).group_by(_PEOPLE.c.id, _PEOPLE.c.jid))
_USAGE = union_all(
    select(_FILES.c.person_id, _FILES.c.file_id, _FILES.c.size, _FILES.c.created_at, false()).where(
        _FILES.c.person_id.in_(bindparam("people", expanding=True)), _FILES.c.created_at >= bindparam("since")),
    select(_SLOTS.c.person_id, _SLOTS.c.file_id, _SLOTS.c.size, _SLOTS.c.expires_at, true()).where(
        _SLOTS.c.person_id.in_(bindparam("people", expanding=True)), _SLOTS.c.expires_at > bindparam("now"),
        _UNUSED))
_SLOT_FOR_PUT = (select(_SLOTS.c.business_id, _SLOTS.c.person_id, _SLOTS.c.filename, _SLOTS.c.size,
                        _SLOTS.c.content_type, _SLOTS.c.expires_at, _PEOPLE.c.jid, ~_UNUSED)
                 .join(_PEOPLE, _PEOPLE.c.id == _SLOTS.c.person_id).where(_SLOTS.c.file_id == bindparam("file_id")))
# The file row, from its slot (which must still exist: a person or business deleted takes it along).
_ADD_FILE = insert(_FILES).from_select(
    ["file_id", "business_id", "person_id", "uploader_jid", "filename", "size", "content_type", "sha256",
     "created_at"],
    select(_SLOTS.c.file_id, _SLOTS.c.business_id, _SLOTS.c.person_id, bindparam("uploader_jid"),
           _SLOTS.c.filename, _SLOTS.c.size, _SLOTS.c.content_type, bindparam("sha256"),
           bindparam("created_at", type_=UploadedFile.created_at.type))
    .where(_SLOTS.c.file_id == bindparam("slot_file_id"), _UNUSED))
_FILE_FOR_GET = select(_FILES.c.filename, _FILES.c.content_type, _FILES.c.size).where(
    _FILES.c.file_id == bindparam("file_id"))


class UploadRepository:
    """Upload slots and stored files, looked up by their unguessable file id (the URL is the capability);
    quota by person, listings and retention by business or time."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def uploader(self, jid: str) -> tuple[int, int] | None:
        """(person id, first business id) of the person with this bare JID, if they belong to a business."""
        row = (await self._session.execute(_UPLOADER, {"jid": jid})).first()
        return (row[0], row[1]) if row else None

    async def uploader_with_usage(self, jid: str, since: dt.datetime, now: dt.datetime
                                  ) -> tuple[int, int, int] | None:
        """(person id, first business id, bytes used: stored since `since` + open slots) or None."""
        row = (await self._session.execute(_QUOTA, {"jid": jid, "since": since, "now": now})).first()
        return (row[0], row[1], int(row[2])) if row else None

    async def add_slot(self, business_id: int, person_id: int, file_id: str, filename: str, size: int,
                       content_type: str, expires_at: dt.datetime) -> None:
        await self._session.execute(insert(_SLOTS), {
            "business_id": business_id, "person_id": person_id, "file_id": file_id, "filename": filename,
            "size": size, "content_type": content_type, "expires_at": expires_at, "created_at": utcnow()})

    async def get_slot(self, file_id: str) -> UploadSlot | None:
        return (await self._session.scalars(select(UploadSlot).where(UploadSlot.file_id == file_id))).one_or_none()

    async def slot_for_put(self, file_id: str) -> Any:
        """The slot's fields, its person's JID and whether it is used (a Row), or None."""
        return (await self._session.execute(_SLOT_FOR_PUT, {"file_id": file_id})).first()

    async def add_file(self, file_id: str, uploader_jid: str, sha256: str) -> bool:
        """Record the file of an unused slot; False when the slot is gone or used (nothing written)."""
        result = await self._session.execute(_ADD_FILE, {
            "slot_file_id": file_id, "uploader_jid": uploader_jid, "sha256": sha256, "created_at": utcnow()})
        return cast(CursorResult[Any], result).rowcount == 1

    async def get_file(self, file_id: str) -> UploadedFile | None:
        query = select(UploadedFile).where(UploadedFile.file_id == file_id)
        return (await self._session.scalars(query)).one_or_none()

    async def file_for_get(self, file_id: str) -> Any:
        """(filename, content_type, size) of a stored file (a Row), or None."""
        return (await self._session.execute(_FILE_FOR_GET, {"file_id": file_id})).first()

    async def files_of_business(self, business_id: int, limit: int = 1000) -> Sequence[UploadedFile]:
        query = (select(UploadedFile).where(UploadedFile.business_id == business_id)
                 .order_by(UploadedFile.created_at, UploadedFile.id).limit(limit))
        return (await self._session.scalars(query)).all()

    async def delete_stale_slots(self, now: dt.datetime, keep: Collection[str] = ()) -> int:
        """Forget expired slots but those in `keep` (being uploaded: a slow PUT may outlast its slot)."""
        statement = delete(UploadSlot).where(UploadSlot.expires_at < now)
        if keep:
            statement = statement.where(UploadSlot.file_id.not_in(list(keep)))
        result = await self._session.execute(statement.returning(UploadSlot.id))
        return len(result.all())

    async def files_created_before(self, before: dt.datetime, limit: int = 500) -> Sequence[UploadedFile]:
        query = (select(UploadedFile).where(UploadedFile.created_at < before)
                 .order_by(UploadedFile.created_at).limit(limit))
        return (await self._session.scalars(query)).all()

    async def delete_files(self, file_ids: Collection[str]) -> None:
        await self._session.execute(delete(UploadedFile).where(UploadedFile.file_id.in_(list(file_ids))))

    async def known_file_ids(self, candidates: Collection[str]) -> set[str]:
        """Which of `candidates` have a stored file or a slot (the rest on disk are orphans)."""
        ids = list(candidates)
        files = await self._session.scalars(select(UploadedFile.file_id).where(UploadedFile.file_id.in_(ids)))
        slots = await self._session.scalars(select(UploadSlot.file_id).where(UploadSlot.file_id.in_(ids)))
        return set(files.all()) | set(slots.all())


class UploadBatchRepository:
    """The upload writer's statements on a synchronous Core connection: the writer runs a whole batch in
    one call (SQLite: in its own thread; PostgreSQL: through `run_sync`) instead of awaiting each statement
    (on aiosqlite, each costs several thread hops). The same statements as UploadRepository; never commits."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def uploaders(self, jids: Collection[str]) -> dict[str, tuple[int, int]]:
        """{bare JID: (person id, first business id)} of those of `jids` who belong to a business."""
        rows = self._connection.execute(_UPLOADERS, {"jids": list(jids)})
        return {row[0]: (row[1], row[2]) for row in rows}

    def usage_rows(self, person_ids: Collection[int], since: dt.datetime, now: dt.datetime
                   ) -> list[tuple[int, str, int, dt.datetime, bool]]:
        """(person id, file id, size, when, is a slot) of files stored since `since` and of unused slots not
        expired at `now` (`when`: stored at, or expires at): what the quota counts."""
        rows = self._connection.execute(_USAGE, {"people": list(person_ids), "since": since, "now": now})
        return [(row[0], row[1], int(row[2]), row[3], bool(row[4])) for row in rows]

    def add_slots(self, slots: Sequence[dict[str, Any]]) -> None:
        """Insert slots (dicts of business_id, person_id, file_id, filename, size, content_type, expires_at,
        created_at) in one executemany."""
        self._connection.execute(insert(_SLOTS), list(slots))

    def add_file(self, file_id: str, uploader_jid: str, sha256: str, created_at: dt.datetime) -> bool:
        """Record the file of an unused slot; False when the slot is gone or used (nothing written)."""
        result = self._connection.execute(_ADD_FILE, {
            "slot_file_id": file_id, "uploader_jid": uploader_jid, "sha256": sha256, "created_at": created_at})
        return result.rowcount == 1
