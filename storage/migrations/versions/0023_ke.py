"""The koordinerende enhet's foundation (issue 14): KE administrators per municipality, the
municipality's units, and the unit a plan belongs to.

Revision ID: 0023_ke
Revises: 0021_meeting_notes
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_ke"
down_revision: str | Sequence[str] | None = "0021_meeting_notes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "municipality_admins",
        sa.Column("municipality_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("granted_by_user_id", sa.Integer(), nullable=True),
        sa.Column("granted_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_municipality_admins_municipality_id_municipalities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_municipality_admins_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("municipality_id", "user_id", name=op.f("pk_municipality_admins")),
    )
    op.create_index(
        op.f("ix_municipality_admins_user_id"), "municipality_admins", ["user_id"], unique=False
    )
    op.create_table(
        "units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("municipality_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_units_municipality_id_municipalities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_units")),
        sa.UniqueConstraint("municipality_id", "name", name=op.f("uq_units_municipality_id_name")),
    )
    op.create_index(op.f("ix_units_municipality_id"), "units", ["municipality_id"], unique=False)
    # Plain ALTER TABLE, also on SQLite (see 0005 and 0012): no foreign key.
    op.add_column("plans", sa.Column("unit_id", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_plans_unit_id"), "plans", ["unit_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_plans_unit_id"), table_name="plans")
    op.drop_column("plans", "unit_id")
    op.drop_index(op.f("ix_units_municipality_id"), table_name="units")
    op.drop_table("units")
    op.drop_index(op.f("ix_municipality_admins_user_id"), table_name="municipality_admins")
    op.drop_table("municipality_admins")
