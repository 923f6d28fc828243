"""The KE's own thresholds for the log control's flags (issue 14): the night's hours and
"many plans in a row" (how many plans within how many minutes), one row per municipality
that changed them; no row means the defaults (22-06, 10 plans in 60 minutes).

Revision ID: 0028_ke_log_thresholds
Revises: 0026_ke_templates
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028_ke_log_thresholds"
down_revision: str | Sequence[str] | None = "0027_plan_moves"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ke_log_thresholds",
        sa.Column("municipality_id", sa.Integer(), nullable=False),
        sa.Column("night_from", sa.Integer(), nullable=False),
        sa.Column("night_until", sa.Integer(), nullable=False),
        sa.Column("burst_plans", sa.Integer(), nullable=False),
        sa.Column("burst_minutes", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_ke_log_thresholds_municipality_id_municipalities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("municipality_id", name=op.f("pk_ke_log_thresholds")),
    )


def downgrade() -> None:
    op.drop_table("ke_log_thresholds")
