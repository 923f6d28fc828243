"""Plan versions (full-state copies of the zones) and published minutes (DESIGN.md §2, §5).

Revision ID: 0008_versions
Revises: 0007_meetings
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_versions"
down_revision: str | Sequence[str] | None = "0007_meetings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "plan_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("day", sa.Date(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('published', 'daily', 'named', 'before_restore')",
            name=op.f("ck_plan_versions_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["plans.id"],
            name=op.f("fk_plan_versions_plan_id_plans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_plan_versions_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_versions")),
        sa.UniqueConstraint(
            "plan_id", "kind", "day", name=op.f("uq_plan_versions_plan_id_kind_day")
        ),
    )
    op.create_index(
        "ix_plan_versions_plan_id_created_at", "plan_versions", ["plan_id", "created_at"]
    )
    op.create_table(
        "plan_version_zones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("zone_kind", sa.String(length=20), nullable=False),
        sa.Column("zone_key", sa.String(length=64), nullable=False),
        sa.Column("zone_title", sa.String(length=300), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["plan_versions.id"],
            name=op.f("fk_plan_version_zones_version_id_plan_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_version_zones")),
        sa.UniqueConstraint(
            "version_id",
            "zone_kind",
            "zone_key",
            name=op.f("uq_plan_version_zones_version_id_zone_kind_zone_key"),
        ),
    )
    op.create_table(
        "published_minutes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.String(length=36), nullable=False),
        sa.Column("meeting_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("plan_version_id", sa.Integer(), nullable=True),
        sa.Column("published_by", sa.Integer(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.Integer(), nullable=True),
        sa.Column("approved_role", sa.String(length=20), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["plans.id"],
            name=op.f("fk_published_minutes_plan_id_plans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plan_version_id"],
            ["plan_versions.id"],
            name=op.f("fk_published_minutes_plan_version_id_plan_versions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["published_by"],
            ["users.id"],
            name=op.f("fk_published_minutes_published_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["approved_by"],
            ["users.id"],
            name=op.f("fk_published_minutes_approved_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_published_minutes")),
        sa.UniqueConstraint(
            "plan_id",
            "meeting_id",
            "number",
            name=op.f("uq_published_minutes_plan_id_meeting_id_number"),
        ),
    )
    op.create_index(
        "ix_published_minutes_plan_id_published_at",
        "published_minutes",
        ["plan_id", "published_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_published_minutes_plan_id_published_at", table_name="published_minutes")
    op.drop_table("published_minutes")
    op.drop_table("plan_version_zones")
    op.drop_index("ix_plan_versions_plan_id_created_at", table_name="plan_versions")
    op.drop_table("plan_versions")
