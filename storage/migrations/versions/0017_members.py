"""Memberships: who last wrote a member's contribution, and when (issue 11).

`memberships.contribution` is the one owner of what each member contributes (element d of the
regulation); the content zone's old `contributions` list is no longer written. Rows from
before this revision have no recorded writer (NULL).

Revision ID: 0017_members
Revises: 0016_plan_start
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_members"
down_revision: str | Sequence[str] | None = "0016_plan_start"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE, also on SQLite (see 0012: batch mode would rebuild `memberships`).
    op.add_column("memberships", sa.Column("contribution_updated_by", sa.Integer(), nullable=True))
    op.add_column(
        "memberships",
        sa.Column("contribution_updated_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("memberships", "contribution_updated_at")
    op.drop_column("memberships", "contribution_updated_by")
