"""The KE overview's two settings per municipality (issue 14): how many days back an edit or
a meeting makes a plan "in use", and how many days an evaluation counts as "within the
revision period".

Revision ID: 0024_ke_overview
Revises: 0023_ke
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_ke_overview"
down_revision: str | Sequence[str] | None = "0023_ke"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE with a server default, also on SQLite (no table rebuild).
    op.add_column(
        "municipalities",
        sa.Column("in_use_days", sa.Integer(), nullable=False, server_default=sa.text("90")),
    )
    op.add_column(
        "municipalities",
        sa.Column("revision_days", sa.Integer(), nullable=False, server_default=sa.text("365")),
    )


def downgrade() -> None:
    op.drop_column("municipalities", "revision_days")
    op.drop_column("municipalities", "in_use_days")
