"""The directory: businesses (tenants), people, their memberships, and the roster entries we manage."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dotimely_chat.policies.roles import ROLES, Role
from dotimely_chat.storage.models.base import (
    Base,
    business_fk,
    created_now,
    intpk,
    person_fk,
    sql_in,
    str128,
    str200,
)

if TYPE_CHECKING:
    from dotimely_chat.storage.models.appointments import Appointment


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
        CheckConstraint(sql_in("role", ROLES), name="role"),
        Index("ix_memberships_business_id_role", "business_id", "role"),
    )

    id: Mapped[intpk]
    business_id: Mapped[business_fk]
    person_id: Mapped[person_fk] = mapped_column(index=True)
    role: Mapped[Role] = mapped_column(String(16))
    created_at: Mapped[created_now]

    business: Mapped[Business] = relationship(back_populates="memberships", lazy="raise_on_sql")
    person: Mapped[Person] = relationship(back_populates="memberships", lazy="raise_on_sql")

    def __repr__(self) -> str:
        return f"<Membership business_id={self.business_id} person_id={self.person_id} role={self.role}>"


class RosterItem(Base):
    """A contact this service put into a person's roster, as last pushed.

    The record of what we manage: reconciliation removes only entries found here (never a contact the
    person added themselves), and compares with it to push only what changed.
    """

    __tablename__ = "roster_items"
    __table_args__ = (UniqueConstraint("person_id", "contact_jid"),)

    id: Mapped[intpk]
    person_id: Mapped[person_fk]
    contact_jid: Mapped[str] = mapped_column(String(512))
    name: Mapped[str200]
    groups: Mapped[str] = mapped_column(String(1000))  # JSON list, sorted

    def __repr__(self) -> str:
        return f"<RosterItem person_id={self.person_id} contact={self.contact_jid!r}>"
