"""What the observer records: room messages, each member's delivery and read status, presence."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from dotimely_chat.storage.models.base import Base, intpk, person_fk, str128
from dotimely_chat.storage.types import utcnow


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
    person_id: Mapped[person_fk]
    delivered_at: Mapped[dt.datetime | None]
    delivered_via: Mapped[str | None] = mapped_column(String(16))  # online | join | receipt | marker
    read_at: Mapped[dt.datetime | None]


class MemberMark(Base):
    """How far a member's copies of a room are delivered and read (the last message id covered)."""

    __tablename__ = "member_marks"

    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[person_fk] = mapped_column(primary_key=True)
    delivered_upto: Mapped[int] = mapped_column(default=0, server_default="0")
    read_upto: Mapped[int] = mapped_column(default=0, server_default="0")


class PresenceState(Base):
    """A person's presence as the server reported it (XEP-0356 managed entity)."""

    __tablename__ = "presence"

    person_id: Mapped[person_fk] = mapped_column(primary_key=True)
    online: Mapped[bool] = mapped_column(default=False, server_default="0")
    show: Mapped[str | None] = mapped_column(String(4))  # chat | away | xa | dnd; None = plainly available
    last_seen_at: Mapped[dt.datetime | None]
    idle_since: Mapped[dt.datetime | None]
    status_text: Mapped[str | None] = mapped_column(String(1000))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
