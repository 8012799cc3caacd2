"""Appointments from the booking backend: create, update (reschedule, reassign), cancel.

A change that matters to an appointment's rooms (time, staff member, customer, service, cancellation) is
handed to the room service after the commit, which renames rooms, moves memberships and posts notices.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import BAD_REQUEST, NOT_FOUND, DomainError
from ..policies.text import EARLIEST_YEAR, LATEST_YEAR, is_plain_id, non_xml_text_reason, within_calendar
from ..storage import (
    AppointmentRepository,
    BusinessRepository,
    Database,
    MembershipRepository,
    PersonRepository,
)
from ..storage.models.appointments import Appointment
from .input_checks import check_external_id, invalid, refuse_unknown_fields

log = logging.getLogger(__name__)

MAX_DURATION_MINUTES = 24 * 60


@dataclass(frozen=True)
class AppointmentInput:
    customer: str
    staff: str
    starts_at: dt.datetime
    duration_minutes: int
    service_name: str

    @classmethod
    def from_json(cls, body: Any) -> AppointmentInput:
        if not isinstance(body, dict):
            raise invalid("body", "a JSON object is required")
        refuse_unknown_fields(body, ("customer", "duration_minutes", "service_name", "staff", "starts_at"))
        for field in ("customer", "staff"):
            if not isinstance(body.get(field), str) or not is_plain_id(body[field], 128):
                raise invalid(field, "the booking backend's id of a person of this business is required")
        raw = body.get("starts_at")
        try:
            starts_at = dt.datetime.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            starts_at = None
        if starts_at is None or starts_at.tzinfo is None:
            raise invalid("starts_at", f"{str(raw)[:60]!r} is not an ISO 8601 time with a time zone, "
                                       "e.g. '2026-12-01T10:00:00+01:00'")
        if not within_calendar(starts_at):  # the end, the UTC form and room names must stay computable
            raise invalid("starts_at", f"a time in the years {EARLIEST_YEAR} to {LATEST_YEAR} is required")
        duration = body.get("duration_minutes")
        if isinstance(duration, bool) or not isinstance(duration, int) or not 1 <= duration <= MAX_DURATION_MINUTES:
            raise invalid("duration_minutes", f"{duration!r} is not a whole number of minutes from 1 to "
                                              f"{MAX_DURATION_MINUTES}")
        service = body.get("service_name")
        if not isinstance(service, str) or not service.strip() or len(service) > 200:
            raise invalid("service_name", "a name of 1 to 200 characters is required")
        if reason := non_xml_text_reason(service):  # it names the appointment's rooms
            raise invalid("service_name", reason)
        return cls(body["customer"], body["staff"], starts_at.astimezone(dt.UTC), duration, " ".join(service.split()))


@dataclass(frozen=True)
class AppointmentChange:
    """What changed in one PUT, for the rooms."""

    business_id: int
    appointment_id: int
    created: bool
    rescheduled: bool = False
    old_staff_id: int | None = None
    old_customer_id: int | None = None
    renamed_service: bool = False
    cancelled: bool = False


class AppointmentListener(Protocol):
    async def appointment_changed(self, change: AppointmentChange) -> None: ...


def appointment_json(appointment: Appointment) -> dict[str, Any]:
    return {"id": appointment.external_id, "customer": appointment.customer.external_id,
            "staff": appointment.staff.external_id, "starts_at": appointment.starts_at.isoformat(),
            "duration_minutes": appointment.duration_minutes, "service_name": appointment.service_name,
            "status": appointment.status}


class AppointmentService:
    def __init__(self, database: Database, listener: AppointmentListener | None = None) -> None:
        self.database, self.listener = database, listener

    async def put(self, business_ext: str, appointment_ext: str, data: AppointmentInput
                  ) -> tuple[dict[str, Any], bool]:
        check_external_id("appointment", appointment_ext)
        async with self.database.session() as session:
            business = await BusinessRepository(session).get_by_external_id(business_ext)
            if business is None:
                raise DomainError(NOT_FOUND, f"no business {business_ext!r}")
            ids: dict[str, int] = {}
            for field, role in (("customer", "customer"), ("staff", "staff")):
                person = await PersonRepository(session).get_by_external_id(getattr(data, field))
                membership = person and await MembershipRepository(session).get(business.id, person.id)
                if person is None or not membership or membership.role != role:
                    raise DomainError(BAD_REQUEST, f"{field}: {getattr(data, field)!r} is not a {role} of "
                                                   f"business {business_ext!r}", field=field)
                ids[field] = person.id
            repo = AppointmentRepository(session)
            before = await repo.get(business.id, appointment_ext)
            previous = None if before is None else (before.starts_at, before.staff_id, before.customer_id,
                                                    before.service_name)
            await repo.upsert(business.id, appointment_ext, customer_id=ids["customer"], staff_id=ids["staff"],
                              starts_at=data.starts_at, duration_minutes=data.duration_minutes,
                              service_name=data.service_name)
            await session.commit()
            appointment = await repo.get(business.id, appointment_ext)
            assert appointment is not None
            body = appointment_json(appointment)
        change = AppointmentChange(business.id, appointment.id, created=previous is None)
        if previous is not None:
            change = AppointmentChange(
                business.id, appointment.id, created=False,
                rescheduled=previous[0] != appointment.starts_at,
                old_staff_id=previous[1] if previous[1] != appointment.staff_id else None,
                old_customer_id=previous[2] if previous[2] != appointment.customer_id else None,
                renamed_service=previous[3] != appointment.service_name)
        log.info("Appointment %s of %s %s", appointment_ext, business_ext, "created" if change.created else "updated")
        await self._notify(change)
        return body, change.created

    async def get(self, business_ext: str, appointment_ext: str) -> dict[str, Any]:
        async with self.database.session() as session:
            appointment = await self._appointment(session, business_ext, appointment_ext)
            return appointment_json(appointment)

    async def cancel(self, business_ext: str, appointment_ext: str) -> dict[str, Any]:
        async with self.database.session() as session:
            appointment = await self._appointment(session, business_ext, appointment_ext)
            was_cancelled = appointment.status == "cancelled"
            appointment.status = "cancelled"
            await session.commit()
            body = appointment_json(appointment)
        if not was_cancelled:
            log.info("Appointment %s of %s cancelled", appointment_ext, business_ext)
            await self._notify(AppointmentChange(appointment.business_id, appointment.id, created=False,
                                                 cancelled=True))
        return body

    async def choices_for(self, jid: str, past_days: int = 7, future_days: int = 60
                          ) -> list[tuple[str, str, str, dict[str, Any]]]:
        """(business id, business name, the person's role, appointment) for the person's recent and upcoming
        appointments in every business they belong to; owners see every appointment of their business."""
        now = dt.datetime.now(dt.UTC)
        since, until = now - dt.timedelta(days=past_days), now + dt.timedelta(days=future_days)
        choices = []
        async with self.database.session() as session:
            person = await PersonRepository(session).get_by_jid(jid)
            if person is None:
                return []
            for membership in await MembershipRepository(session).businesses_of_person(person.id):
                owner = membership.role == "owner"
                for appointment in await AppointmentRepository(session).in_range(
                        membership.business_id, since, until, None if owner else person.id):
                    choices.append((membership.business.external_id, membership.business.name, membership.role,
                                    appointment_json(appointment)))
        return choices

    async def _appointment(self, session: Any, business_ext: str, appointment_ext: str) -> Appointment:
        business = await BusinessRepository(session).get_by_external_id(business_ext)
        appointment = business and await AppointmentRepository(session).get(business.id, appointment_ext)
        if not appointment:
            raise DomainError(NOT_FOUND, f"no appointment {appointment_ext!r} in business {business_ext!r}")
        return appointment

    async def _notify(self, change: AppointmentChange) -> None:
        if self.listener is None:
            return
        try:
            await self.listener.appointment_changed(change)
        except Exception:  # noqa: BLE001 - rooms are reconciled again at the next resynchronisation
            log.exception("Updating the rooms of appointment %d failed", change.appointment_id)
