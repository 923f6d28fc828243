"""The access log: append-only, hash-chained (DESIGN.md §5).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=True),
        sa.Column("plan_id", sa.String(length=36), nullable=True),
        sa.Column("zone", sa.String(length=200), nullable=True),
        sa.Column("client_address", sa.String(length=100), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        # Ids are hashed: never reuse one.
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audit_log_plan_id_id", "audit_log", ["plan_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_plan_id_id", table_name="audit_log")
    op.drop_table("audit_log")
