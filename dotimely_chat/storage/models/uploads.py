"""XEP-0363 attachments: the slots handed out and the files stored."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from dotimely_chat.storage.models.base import Base, business_fk, created_now, intpk, person_fk, str128


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
    business_id: Mapped[business_fk]
    person_id: Mapped[person_fk]
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
    business_id: Mapped[business_fk]
    # The file outlives its uploader (it is the business's record): the person's id is cleared instead.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    uploader_jid: Mapped[str] = mapped_column(String(512))
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str128]
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[created_now]

    def __repr__(self) -> str:
        return f"<UploadedFile {self.file_id[:6]}… business_id={self.business_id} size={self.size}>"
