"""The database schema: businesses (tenants), people, their memberships, and appointments.

Ids are our own integers; `external_id` is the booking backend's id for the same thing. Migrations in
`migrations/versions` must match these models exactly (a test compares them).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar, Final, Literal, get_args

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    MetaData,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from dotimely_chat.policies.roles import ROLES, Role
from dotimely_chat.policies.rooms import AUDIENCES, Audience
from dotimely_chat.storage.types import UTCDateTime, utcnow

AppointmentStatus = Literal["booked", "cancelled"]
APPOINTMENT_STATUSES: Final[tuple[str, ...]] = get_args(AppointmentStatus)

NAMING_CONVENTION: Final[dict[str, str]] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _in(column: str, values: tuple[str, ...]) -> str:
    """SQL text for `column IN (...)` over fixed literals (never user input)."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


intpk = Annotated[int, mapped_column(primary_key=True)]
created_now = Annotated[dt.datetime, mapped_column(UTCDateTime(), default=utcnow, server_default=func.now())]
str128 = Annotated[str, mapped_column(String(128))]
str200 = Annotated[str, mapped_column(String(200))]


class Base(DeclarativeBase):
    """Declarative base; constraint names follow `NAMING_CONVENTION` so migrations can name them."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UTCDateTime()}


class Business(Base):
    """A tenant: one business of the booking backend.

    A deleted business stays as a tombstone (`deleted_at` set, no memberships) so that its history (rooms,
    messages and their status, uploads, the audit log with the deletion itself) lives until the retention
    expires it like any other's; services/retention.py then deletes the row and the cascade takes the rest.
    """

    __tablename__ = "businesses"

    id: Mapped[intpk]
    external_id: Mapped[str128] = mapped_column(unique=True)
    name: Mapped[str200]
    created_at: Mapped[created_now]
    deleted_at: Mapped[dt.datetime | None]

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="business", lazy="raise_on_sql", cascade="all, delete-orphan", passive_deletes=True
    )
    appointments: Mapped[list[Appointment]] = relationship(
        back_populates="business", lazy="raise_on_sql", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<Business id={self.id} external_id={self.external_id!r}>"


class Person(Base):
    """One XMPP account (bare JID); may belong to several businesses."""

    __tablename__ = "people"

    id: Mapped[intpk]
    external_id: Mapped[str128] = mapped_column(unique=True)
    jid: Mapped[str] = mapped_column(String(512), unique=True)
    display_name: Mapped[str200]
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[created_now]

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="person", lazy="raise_on_sql", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<Person id={self.id} jid={self.jid!r}>"


class Membership(Base):
    """A person's single role in one business."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("business_id", "person_id"),
        CheckConstraint(_in("role", ROLES), name="role"),
        Index("ix_memberships_business_id_role", "business_id", "role"),
    )

    id: Mapped[intpk]
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(String(16))
    created_at: Mapped[created_now]

    business: Mapped[Business] = relationship(back_populates="memberships", lazy="raise_on_sql")
    person: Mapped[Person] = relationship(back_populates="memberships", lazy="raise_on_sql")

    def __repr__(self) -> str:
        return f"<Membership business_id={self.business_id} person_id={self.person_id} role={self.role}>"


class Appointment(Base):
    """An appointment mirrored from the booking backend, keyed by (business, external id)."""

    __tablename__ = "appointments"
    __table_args__ = (
        UniqueConstraint("business_id", "external_id"),
        CheckConstraint("duration_minutes > 0", name="duration_minutes_positive"),
        CheckConstraint(_in("status", APPOINTMENT_STATUSES), name="status"),
        Index("ix_appointments_business_id_starts_at", "business_id", "starts_at"),
    )

    id: Mapped[intpk]
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
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


class RosterItem(Base):
    """A contact this service put into a person's roster, as last pushed.

    The record of what we manage: reconciliation removes only entries found here (never a contact the
    person added themselves), and compares with it to push only what changed.
    """

    __tablename__ = "roster_items"
    __table_args__ = (UniqueConstraint("person_id", "contact_jid"),)

    id: Mapped[intpk]
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    contact_jid: Mapped[str] = mapped_column(String(512))
    name: Mapped[str200]
    groups: Mapped[str] = mapped_column(String(1000))  # JSON list, sorted

    def __repr__(self) -> str:
        return f"<RosterItem person_id={self.person_id} contact={self.contact_jid!r}>"



class Room(Base):
    """The MUC room of one (appointment, audience): created once, kept when the appointment is cancelled."""

    __tablename__ = "rooms"
    __table_args__ = (
        UniqueConstraint("appointment_id", "audience"),
        CheckConstraint(_in("audience", AUDIENCES), name="audience"),
        Index("ix_rooms_business_id_last_activity_at", "business_id", "last_activity_at"),
    )

    id: Mapped[intpk]
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id", ondelete="CASCADE"))
    audience: Mapped[Audience] = mapped_column(String(16))
    jid: Mapped[str] = mapped_column(String(512), unique=True)
    name: Mapped[str] = mapped_column(String(400))
    created_at: Mapped[created_now]
    last_activity_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())

    appointment: Mapped[Appointment] = relationship(lazy="raise_on_sql")

    def __repr__(self) -> str:
        return f"<Room {self.jid} appointment_id={self.appointment_id} audience={self.audience}>"


class AuditEntry(Base):
    """Something a compliance officer wants to know: memberships, reverts, removals, exports."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_business_id_at", "business_id", "at"),)

    id: Mapped[intpk]
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    at: Mapped[created_now]
    actor: Mapped[str] = mapped_column(String(512))  # a JID, "component" or "api"
    action: Mapped[str] = mapped_column(String(64))
    room_jid: Mapped[str | None] = mapped_column(String(512))
    subject_jid: Mapped[str | None] = mapped_column(String(512))
    details: Mapped[str] = mapped_column(String(4000), default="{}", server_default="{}")  # JSON

    def __repr__(self) -> str:
        return f"<AuditEntry {self.action} room={self.room_jid} subject={self.subject_jid}>"


class RoomMessage(Base):
    """A message the observer saw in a room, keyed by the room's stanza-id (XEP-0359)."""

    __tablename__ = "room_messages"
    __table_args__ = (
        UniqueConstraint("room_id", "stanza_id"),
        Index("ix_room_messages_room_id_id", "room_id", "id"),
        Index("ix_room_messages_room_id_origin_id", "room_id", "origin_id"),
        Index("ix_room_messages_room_id_message_id", "room_id", "message_id"),
    )

    id: Mapped[intpk]  # also the order of messages: a marker covers every earlier id of its room
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    stanza_id: Mapped[str128]
    origin_id: Mapped[str | None] = mapped_column(String(128))
    message_id: Mapped[str | None] = mapped_column(String(128))
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    sender_jid: Mapped[str] = mapped_column(String(512))
    sent_at: Mapped[dt.datetime]
    has_attachment: Mapped[bool] = mapped_column(default=False, server_default="0")


class MessageStatus(Base):
    """One member's copy of one room message: when it was delivered (and how we know), when read."""

    __tablename__ = "message_status"
    __table_args__ = (
        UniqueConstraint("message_id", "person_id"),
        Index("ix_message_status_room_id_person_id_message_id", "room_id", "person_id", "message_id"),
    )

    id: Mapped[intpk]
    message_id: Mapped[int] = mapped_column(ForeignKey("room_messages.id", ondelete="CASCADE"))
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    delivered_at: Mapped[dt.datetime | None]
    delivered_via: Mapped[str | None] = mapped_column(String(16))  # online | join | receipt | marker
    read_at: Mapped[dt.datetime | None]


class MemberMark(Base):
    """How far a member's copies of a room are delivered and read (the last message id covered)."""

    __tablename__ = "member_marks"

    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    delivered_upto: Mapped[int] = mapped_column(default=0, server_default="0")
    read_upto: Mapped[int] = mapped_column(default=0, server_default="0")


class PresenceState(Base):
    """A person's presence as the server reported it (XEP-0356 managed entity)."""

    __tablename__ = "presence"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    online: Mapped[bool] = mapped_column(default=False, server_default="0")
    show: Mapped[str | None] = mapped_column(String(4))  # chat | away | xa | dnd; None = plainly available
    last_seen_at: Mapped[dt.datetime | None]
    idle_since: Mapped[dt.datetime | None]
    status_text: Mapped[str | None] = mapped_column(String(1000))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())


# ------------------------------------------------------------------------------------------- uploads


class UploadSlot(Base):
    """An XEP-0363 slot: single use (used once its UploadedFile exists), expiring. The PUT token is an HMAC
    over it, never stored."""

    __tablename__ = "upload_slots"
    __table_args__ = (
        CheckConstraint("size > 0", name="size_positive"),
        Index("ix_upload_slots_person_id_expires_at", "person_id", "expires_at"),
        Index("ix_upload_slots_expires_at", "expires_at"),
    )

    id: Mapped[intpk]
    file_id: Mapped[str] = mapped_column(String(64), unique=True)  # the URL's id, 160 random bits
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str128]
    created_at: Mapped[created_now]
    expires_at: Mapped[dt.datetime]

    def __repr__(self) -> str:
        return f"<UploadSlot {self.file_id[:6]}… person_id={self.person_id}>"


class UploadedFile(Base):
    """A stored attachment: who uploaded it for which business, its size, type and SHA-256."""

    __tablename__ = "uploaded_files"
    __table_args__ = (
        Index("ix_uploaded_files_business_id_created_at", "business_id", "created_at"),
        Index("ix_uploaded_files_person_id_created_at", "person_id", "created_at"),
        Index("ix_uploaded_files_created_at", "created_at"),
    )

    id: Mapped[intpk]
    file_id: Mapped[str] = mapped_column(String(64), unique=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    uploader_jid: Mapped[str] = mapped_column(String(512))
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str128]
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[created_now]

    def __repr__(self) -> str:
        return f"<UploadedFile {self.file_id[:6]}… business_id={self.business_id} size={self.size}>"


# ------------------------------------------------------------------------------------------- compliance


class ExportLink(Base):
    """A download link for one export (the owner's ad-hoc command): works once, expires. Only the SHA-256 of
    the link's token is stored, so the table alone opens nothing."""

    __tablename__ = "export_links"
    __table_args__ = (
        CheckConstraint(_in("format", ("jsonl", "html")), name="format"),
        Index("ix_export_links_expires_at", "expires_at"),
    )

    id: Mapped[intpk]
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    requested_by: Mapped[str] = mapped_column(String(512))  # the owner's bare JID
    range_from: Mapped[dt.datetime]
    range_to: Mapped[dt.datetime]
    format: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[created_now]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"<ExportLink business_id={self.business_id} {self.format} used={self.used_at is not None}>"


# --------------------------------------------------------------------------------------------- web page


class WebLoginTicket(Base):
    """A one-time login link for the web page, asked for by the booking backend: works once, expires within
    a minute. Only the SHA-256 of its token is stored."""

    __tablename__ = "web_login_tickets"
    __table_args__ = (Index("ix_web_login_tickets_expires_at", "expires_at"),)

    id: Mapped[intpk]
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    created_at: Mapped[created_now]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]


class WebSession(Base):
    """A browser's session on the web page (HttpOnly cookie); only the SHA-256 of the cookie is stored."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_expires_at", "expires_at"),)

    id: Mapped[intpk]
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    created_at: Mapped[created_now]
    expires_at: Mapped[dt.datetime]


class XmppCredential(Base):
    """A person's XMPP password, sealed (Fernet) under <state>/web-credentials.key, so that the web page can
    log in without the person typing it. Kept whenever the directory sets or generates a password."""

    __tablename__ = "xmpp_credentials"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    sealed_password: Mapped[str] = mapped_column(String(2048))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
