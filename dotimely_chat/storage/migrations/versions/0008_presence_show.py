"""Presence keeps the clients' <show> (chat, away, xa, dnd): one nullable column added.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("presence") as batch:
        batch.add_column(sa.Column("show", sa.String(length=4), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("presence") as batch:
        batch.drop_column("show")
