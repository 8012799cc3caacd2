"""Appointment rooms and the audit log.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rooms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("jid", sa.String(length=512), nullable=False),
        sa.Column("name", sa.String(length=400), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("audience IN ('everyone', 'owner')", name=op.f("ck_rooms_audience")),
        sa.ForeignKeyConstraint(["appointment_id"], ["appointments.id"],
                                name=op.f("fk_rooms_appointment_id_appointments"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["business_id"], ["businesses.id"],
                                name=op.f("fk_rooms_business_id_businesses"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rooms")),
        sa.UniqueConstraint("appointment_id", "audience", name=op.f("uq_rooms_appointment_id_audience")),
        sa.UniqueConstraint("jid", name=op.f("uq_rooms_jid")),
    )
    op.create_index("ix_rooms_business_id_last_activity_at", "rooms", ["business_id", "last_activity_at"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("actor", sa.String(length=512), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("room_jid", sa.String(length=512), nullable=True),
        sa.Column("subject_jid", sa.String(length=512), nullable=True),
        sa.Column("details", sa.String(length=4000), server_default="{}", nullable=False),
        sa.ForeignKeyConstraint(["business_id"], ["businesses.id"],
                                name=op.f("fk_audit_log_business_id_businesses"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_business_id_at", "audit_log", ["business_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_business_id_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_rooms_business_id_last_activity_at", table_name="rooms")
    op.drop_table("rooms")
