"""Plan lifecycle: when a plan was closed (retention counts from it) and the person's birth
date (who may give consent follows the person's age).

Revision ID: 0005_lifecycle
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_lifecycle"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE, also on SQLite: batch mode would rebuild `plans`, and dropping the old
    # table with foreign keys on (storage.db turns them on) cascades into every plan's data.
    op.add_column("plans", sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("plans", sa.Column("person_birth_date", sa.Date(), nullable=True))
    # A plan closed before this revision has no closing time: its retention counts from now,
    # never from an invented earlier date.
    op.execute("UPDATE plans SET closed_at = CURRENT_TIMESTAMP WHERE status = 'closed'")


def downgrade() -> None:
    # SQLite >= 3.35 drops a column in place (see upgrade for why not batch mode).
    op.drop_column("plans", "person_birth_date")
    op.drop_column("plans", "closed_at")
