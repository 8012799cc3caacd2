"""What a compliance officer reads: the audit log of a business, and the links to its exports."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from dotimely_chat.storage.models.base import Base, business_fk, created_now, intpk, sql_in


class AuditEntry(Base):
    """Something a compliance officer wants to know: memberships, reverts, removals, exports."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_business_id_at", "business_id", "at"),)

    id: Mapped[intpk]
    business_id: Mapped[business_fk]
    at: Mapped[created_now]
    actor: Mapped[str] = mapped_column(String(512))  # a JID, "component" or "api"
    action: Mapped[str] = mapped_column(String(64))
    room_jid: Mapped[str | None] = mapped_column(String(512))
    subject_jid: Mapped[str | None] = mapped_column(String(512))
    details: Mapped[str] = mapped_column(String(4000), default="{}", server_default="{}")  # JSON

    def __repr__(self) -> str:
        return f"<AuditEntry {self.action} room={self.room_jid} subject={self.subject_jid}>"


class ExportLink(Base):
    """A download link for one export (the owner's ad-hoc command): works once, expires. Only the SHA-256 of
    the link's token is stored, so the table alone opens nothing."""

    __tablename__ = "export_links"
    __table_args__ = (
        CheckConstraint(sql_in("format", ("jsonl", "html")), name="format"),
        Index("ix_export_links_expires_at", "expires_at"),
    )

    id: Mapped[intpk]
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    business_id: Mapped[business_fk]
    requested_by: Mapped[str] = mapped_column(String(512))  # the owner's bare JID
    range_from: Mapped[dt.datetime]
    range_to: Mapped[dt.datetime]
    format: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[created_now]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"<ExportLink business_id={self.business_id} {self.format} used={self.used_at is not None}>"
