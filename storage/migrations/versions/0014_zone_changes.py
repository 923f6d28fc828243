"""Who changed what, recorded by the server: the author of every logged update, and the
record of each change compaction folds away (crdt/authorship.py, storage ZoneLog.compact).

Revision ID: 0014_zone_changes
Revises: 0013_minutes_seal
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_zone_changes"
down_revision: str | Sequence[str] | None = "0013_minutes_seal"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Plain ALTER TABLE, also on SQLite (see 0012). Updates logged before this have no author.
    op.add_column("zone_updates", sa.Column("user_id", sa.Integer(), nullable=True))
    op.create_table(
        "zone_changes",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("zone_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("at", _UTC, nullable=False),
        sa.Column("items", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["zone_id"],
            ["zones.id"],
            name=op.f("fk_zone_changes_zone_id_zones"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zone_changes")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_zone_changes_zone_id_id", "zone_changes", ["zone_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_zone_changes_zone_id_id", table_name="zone_changes")
    op.drop_table("zone_changes")
    op.drop_column("zone_updates", "user_id")
