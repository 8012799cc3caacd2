"""The desktop web page: one-time login tickets, browser sessions, and the sealed XMPP passwords."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from dotimely_chat.storage.models.base import Base, business_fk, created_now, intpk, person_fk
from dotimely_chat.storage.types import utcnow


class WebLoginTicket(Base):
    """A one-time login link for the web page, asked for by the booking backend: works once, expires within
    a minute. Only the SHA-256 of its token is stored."""

    __tablename__ = "web_login_tickets"
    __table_args__ = (Index("ix_web_login_tickets_expires_at", "expires_at"),)

    id: Mapped[intpk]
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    business_id: Mapped[business_fk]
    person_id: Mapped[person_fk]
    created_at: Mapped[created_now]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]


class WebSession(Base):
    """A browser's session on the web page (HttpOnly cookie); only the SHA-256 of the cookie is stored."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_expires_at", "expires_at"),)

    id: Mapped[intpk]
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    business_id: Mapped[business_fk]
    person_id: Mapped[person_fk]
    created_at: Mapped[created_now]
    expires_at: Mapped[dt.datetime]


class XmppCredential(Base):
    """A person's XMPP password, sealed (Fernet) under <state>/web-credentials.key, so that the web page can
    log in without the person typing it. Kept whenever the directory sets or generates a password."""

    __tablename__ = "xmpp_credentials"

    person_id: Mapped[person_fk] = mapped_column(primary_key=True)
    sealed_password: Mapped[str] = mapped_column(String(2048))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
