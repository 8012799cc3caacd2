"""Roster items this service manages.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "roster_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("contact_jid", sa.String(length=512), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("groups", sa.String(length=1000), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roster_items")),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_roster_items_person_id_people"),
                                ondelete="CASCADE"),
        sa.UniqueConstraint("person_id", "contact_jid", name=op.f("uq_roster_items_person_id_contact_jid")),
    )


def downgrade() -> None:
    op.drop_table("roster_items")
