"""Appointments mirrored from the booking backend, and the MUC rooms opened for them."""

from __future__ import annotations

import datetime as dt
from typing import Final, Literal, get_args

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dotimely_chat.policies.rooms import AUDIENCES, Audience
from dotimely_chat.storage.models.base import Base, business_fk, created_now, intpk, sql_in, str128, str200
from dotimely_chat.storage.models.directory import Business, Person
from dotimely_chat.storage.types import utcnow

AppointmentStatus = Literal["booked", "cancelled"]
APPOINTMENT_STATUSES: Final[tuple[str, ...]] = get_args(AppointmentStatus)


class Appointment(Base):
    """An appointment mirrored from the booking backend, keyed by (business, external id)."""

    __tablename__ = "appointments"
    __table_args__ = (
        UniqueConstraint("business_id", "external_id"),
        CheckConstraint("duration_minutes > 0", name="duration_minutes_positive"),
        CheckConstraint(sql_in("status", APPOINTMENT_STATUSES), name="status"),
        Index("ix_appointments_business_id_starts_at", "business_id", "starts_at"),
    )

    id: Mapped[intpk]
    business_id: Mapped[business_fk]
    external_id: Mapped[str128]
    customer_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="RESTRICT"), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="RESTRICT"), index=True)
    starts_at: Mapped[dt.datetime]
    duration_minutes: Mapped[int]
    service_name: Mapped[str200]
    status: Mapped[AppointmentStatus] = mapped_column(String(16), default="booked", server_default="booked")
    created_at: Mapped[created_now]
    updated_at: Mapped[dt.datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now()
    )

    business: Mapped[Business] = relationship(back_populates="appointments", lazy="raise_on_sql")
    customer: Mapped[Person] = relationship(foreign_keys=[customer_id], lazy="raise_on_sql")
    staff: Mapped[Person] = relationship(foreign_keys=[staff_id], lazy="raise_on_sql")

    @property
    def ends_at(self) -> dt.datetime:
        """When the appointment ends."""
        return self.starts_at + dt.timedelta(minutes=self.duration_minutes)

    def __repr__(self) -> str:
        return (
            f"<Appointment id={self.id} business_id={self.business_id} "
            f"external_id={self.external_id!r} status={self.status}>"
        )


class Room(Base):
    """The MUC room of one (appointment, audience): created once, kept when the appointment is cancelled."""

    __tablename__ = "rooms"
    __table_args__ = (
        UniqueConstraint("appointment_id", "audience"),
        CheckConstraint(sql_in("audience", AUDIENCES), name="audience"),
        Index("ix_rooms_business_id_last_activity_at", "business_id", "last_activity_at"),
    )

    id: Mapped[intpk]
    business_id: Mapped[business_fk]
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id", ondelete="CASCADE"))
    audience: Mapped[Audience] = mapped_column(String(16))
    jid: Mapped[str] = mapped_column(String(512), unique=True)
    name: Mapped[str] = mapped_column(String(400))
    created_at: Mapped[created_now]
    last_activity_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())

    appointment: Mapped[Appointment] = relationship(lazy="raise_on_sql")

    def __repr__(self) -> str:
        return f"<Room {self.jid} appointment_id={self.appointment_id} audience={self.audience}>"
