"""Meetings: an edit counter, the .ics SEQUENCE of a rescheduled meeting (RFC 5545).

Revision ID: 0010_meetedit
Revises: 0009_notifications
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_meetedit"
down_revision: str | Sequence[str] | None = "0009_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing meetings were never edited: 0 is their true count.
    with op.batch_alter_table("meetings") as batch:
        batch.add_column(sa.Column("sequence", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("meetings") as batch:
        batch.drop_column("sequence")
