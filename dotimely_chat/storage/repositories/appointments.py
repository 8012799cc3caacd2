"""Appointments mirrored from the booking backend."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from dotimely_chat.storage.models.appointments import Appointment, AppointmentStatus
from dotimely_chat.storage.types import utcnow


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
        return await self._session.scalar(
            select(Appointment)
            .where(Appointment.business_id == business_id, Appointment.id == appointment_id)
            .options(joinedload(Appointment.customer), joinedload(Appointment.staff))
        )

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
