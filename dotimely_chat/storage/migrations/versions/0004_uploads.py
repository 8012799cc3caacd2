"""Attachments: upload slots and stored files.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "upload_slots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.String(length=64), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=128), nullable=False),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.CheckConstraint("size > 0", name=op.f("ck_upload_slots_size_positive")),
        sa.ForeignKeyConstraint(["business_id"], ["businesses.id"],
                                name=op.f("fk_upload_slots_business_id_businesses"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"],
                                name=op.f("fk_upload_slots_person_id_people"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload_slots")),
        sa.UniqueConstraint("file_id", name=op.f("uq_upload_slots_file_id")),
    )
    op.create_index("ix_upload_slots_person_id_expires_at", "upload_slots", ["person_id", "expires_at"])
    op.create_index("ix_upload_slots_expires_at", "upload_slots", ["expires_at"])
    op.create_table(
        "uploaded_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.String(length=64), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("uploader_jid", sa.String(length=512), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=128), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["business_id"], ["businesses.id"],
                                name=op.f("fk_uploaded_files_business_id_businesses"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"],
                                name=op.f("fk_uploaded_files_person_id_people"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploaded_files")),
        sa.UniqueConstraint("file_id", name=op.f("uq_uploaded_files_file_id")),
    )
    op.create_index("ix_uploaded_files_business_id_created_at", "uploaded_files", ["business_id", "created_at"])
    op.create_index("ix_uploaded_files_person_id_created_at", "uploaded_files", ["person_id", "created_at"])
    op.create_index("ix_uploaded_files_created_at", "uploaded_files", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_uploaded_files_created_at", table_name="uploaded_files")
    op.drop_index("ix_uploaded_files_person_id_created_at", table_name="uploaded_files")
    op.drop_index("ix_uploaded_files_business_id_created_at", table_name="uploaded_files")
    op.drop_table("uploaded_files")
    op.drop_index("ix_upload_slots_expires_at", table_name="upload_slots")
    op.drop_index("ix_upload_slots_person_id_expires_at", table_name="upload_slots")
    op.drop_table("upload_slots")
