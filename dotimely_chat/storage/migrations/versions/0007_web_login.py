"""The web page: one-time login links, browser sessions, sealed XMPP passwords (tables added only).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def _ticket_like(name: str, with_used_at: bool) -> None:
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
    ]
    if with_used_at:
        columns.append(sa.Column("used_at", TZ, nullable=True))
    op.create_table(
        name, *columns,
        sa.ForeignKeyConstraint(["business_id"], ["businesses.id"],
                                name=op.f(f"fk_{name}_business_id_businesses"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"],
                                name=op.f(f"fk_{name}_person_id_people"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        sa.UniqueConstraint("token_sha256", name=op.f(f"uq_{name}_token_sha256")),
    )
    op.create_index(f"ix_{name}_expires_at", name, ["expires_at"])


def upgrade() -> None:
    _ticket_like("web_login_tickets", with_used_at=True)
    _ticket_like("web_sessions", with_used_at=False)
    op.create_table(
        "xmpp_credentials",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("sealed_password", sa.String(length=2048), nullable=False),
        sa.Column("updated_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"],
                                name=op.f("fk_xmpp_credentials_person_id_people"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_xmpp_credentials")),
    )


def downgrade() -> None:
    op.drop_table("xmpp_credentials")
    for name in ("web_sessions", "web_login_tickets"):
        op.drop_index(f"ix_{name}_expires_at", table_name=name)
        op.drop_table(name)
