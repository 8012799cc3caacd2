"""Export download links (single use, expiring; only the token's SHA-256 is stored).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "export_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(length=512), nullable=False),
        sa.Column("range_from", TZ, nullable=False),
        sa.Column("range_to", TZ, nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("used_at", TZ, nullable=True),
        sa.CheckConstraint("format IN ('jsonl', 'html')", name=op.f("ck_export_links_format")),
        sa.ForeignKeyConstraint(["business_id"], ["businesses.id"],
                                name=op.f("fk_export_links_business_id_businesses"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_links")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_export_links_token_sha256")),
    )
    op.create_index("ix_export_links_expires_at", "export_links", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_export_links_expires_at", table_name="export_links")
    op.drop_table("export_links")
