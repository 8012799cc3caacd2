"""Room messages with their per-member delivery and read status; presence.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "room_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("stanza_id", sa.String(length=128), nullable=False),
        sa.Column("origin_id", sa.String(length=128), nullable=True),
        sa.Column("message_id", sa.String(length=128), nullable=True),
        sa.Column("sender_id", sa.Integer(), nullable=True),
        sa.Column("sender_jid", sa.String(length=512), nullable=False),
        sa.Column("sent_at", TZ, nullable=False),
        sa.Column("has_attachment", sa.Boolean(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f("fk_room_messages_room_id_rooms"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["sender_id"], ["people.id"], name=op.f("fk_room_messages_sender_id_people"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_room_messages")),
        sa.UniqueConstraint("room_id", "stanza_id", name=op.f("uq_room_messages_room_id_stanza_id")),
    )
    op.create_index("ix_room_messages_room_id_id", "room_messages", ["room_id", "id"])
    op.create_index("ix_room_messages_room_id_origin_id", "room_messages", ["room_id", "origin_id"])
    op.create_index("ix_room_messages_room_id_message_id", "room_messages", ["room_id", "message_id"])
    op.create_table(
        "message_status",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("delivered_at", TZ, nullable=True),
        sa.Column("delivered_via", sa.String(length=16), nullable=True),
        sa.Column("read_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(["message_id"], ["room_messages.id"],
                                name=op.f("fk_message_status_message_id_room_messages"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_message_status_person_id_people"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f("fk_message_status_room_id_rooms"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_status")),
        sa.UniqueConstraint("message_id", "person_id", name=op.f("uq_message_status_message_id_person_id")),
    )
    op.create_index("ix_message_status_room_id_person_id_message_id", "message_status",
                    ["room_id", "person_id", "message_id"])
    op.create_table(
        "member_marks",
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("delivered_upto", sa.Integer(), server_default="0", nullable=False),
        sa.Column("read_upto", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_member_marks_person_id_people"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f("fk_member_marks_room_id_rooms"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("room_id", "person_id", name=op.f("pk_member_marks")),
    )
    op.create_table(
        "presence",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("online", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("last_seen_at", TZ, nullable=True),
        sa.Column("idle_since", TZ, nullable=True),
        sa.Column("status_text", sa.String(length=1000), nullable=True),
        sa.Column("updated_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_presence_person_id_people"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_presence")),
    )


def downgrade() -> None:
    op.drop_table("presence")
    op.drop_table("member_marks")
    op.drop_index("ix_message_status_room_id_person_id_message_id", table_name="message_status")
    op.drop_table("message_status")
    op.drop_index("ix_room_messages_room_id_message_id", table_name="room_messages")
    op.drop_index("ix_room_messages_room_id_origin_id", table_name="room_messages")
    op.drop_index("ix_room_messages_room_id_id", table_name="room_messages")
    op.drop_table("room_messages")
