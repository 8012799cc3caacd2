"""Initial schema: businesses, people, memberships, appointments.

Revision ID: 0001
Revises:
Create Date: 2025-11-25

Written by hand to match dotimely_chat.storage.models; tests/storage compares the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "businesses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_businesses")),
        sa.UniqueConstraint("external_id", name=op.f("uq_businesses_external_id")),
    )
    op.create_table(
        "people",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("jid", sa.String(length=512), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=64), nullable=True),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
        sa.UniqueConstraint("external_id", name=op.f("uq_people_external_id")),
        sa.UniqueConstraint("jid", name=op.f("uq_people_jid")),
    )
    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            name=op.f("fk_memberships_business_id_businesses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_memberships_person_id_people"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint("business_id", "person_id", name=op.f("uq_memberships_business_id_person_id")),
        sa.CheckConstraint("role IN ('owner', 'staff', 'customer')", name=op.f("ck_memberships_role")),
    )
    op.create_index(op.f("ix_memberships_business_id_role"), "memberships", ["business_id", "role"])
    op.create_index(op.f("ix_memberships_person_id"), "memberships", ["person_id"])
    op.create_table(
        "appointments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("service_name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="booked", nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointments")),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            name=op.f("fk_appointments_business_id_businesses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["people.id"],
            name=op.f("fk_appointments_customer_id_people"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["people.id"], name=op.f("fk_appointments_staff_id_people"), ondelete="RESTRICT"
        ),
        sa.UniqueConstraint(
            "business_id", "external_id", name=op.f("uq_appointments_business_id_external_id")
        ),
        sa.CheckConstraint("duration_minutes > 0", name=op.f("ck_appointments_duration_minutes_positive")),
        sa.CheckConstraint("status IN ('booked', 'cancelled')", name=op.f("ck_appointments_status")),
    )
    op.create_index(
        op.f("ix_appointments_business_id_starts_at"), "appointments", ["business_id", "starts_at"]
    )
    op.create_index(op.f("ix_appointments_customer_id"), "appointments", ["customer_id"])
    op.create_index(op.f("ix_appointments_staff_id"), "appointments", ["staff_id"])


def downgrade() -> None:
    op.drop_table("appointments")
    op.drop_table("memberships")
    op.drop_table("people")
    op.drop_table("businesses")
