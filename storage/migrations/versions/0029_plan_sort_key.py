"""The plan's name as a Norwegian sort key (`plans.sort_key`), with an index by municipality:
the KE overview sorts, counts and pages its first page in SQL instead of reading and sorting
every plan of the municipality in Python (issue 14).

The column compares byte by byte on both databases ("C" collation on PostgreSQL, SQLite's
BINARY), so SQL's order is Python's. Existing plans are filled here with a frozen copy of
storage.sort_keys.name_key (a migration must not change when that module does).

Revision ID: 0029_plan_sort_key
Revises: 0028_ke_log_thresholds
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029_plan_sort_key"
down_revision: str | Sequence[str] | None = "0028_ke_log_thresholds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NORWEGIAN = (("æ", "{"), ("ä", "{"), ("ø", "|"), ("ö", "|"), ("å", "}"))
_BATCH = 1000


def _name_key(text: str | None) -> str:
    folded = (text or "").casefold().replace("aa", "å")
    if not folded.isascii():
        for letter, after_z in _NORWEGIAN:
            folded = folded.replace(letter, after_z)
    return folded


def upgrade() -> None:
    sort_key = sa.String(400).with_variant(sa.String(400, collation="C"), "postgresql")
    op.add_column("plans", sa.Column("sort_key", sort_key, nullable=False, server_default=""))
    plans = sa.table("plans", sa.column("id", sa.String), sa.column("person_name", sa.String))
    key = sa.table("plans", sa.column("id", sa.String), sa.column("sort_key", sa.String))
    conn = op.get_bind()
    rows = conn.execute(sa.select(plans.c.id, plans.c.person_name)).all()
    update = (
        sa.update(key)
        .where(key.c.id == sa.bindparam("plan_id"))
        .values(sort_key=sa.bindparam("key"))
    )
    for start in range(0, len(rows), _BATCH):
        batch = rows[start : start + _BATCH]
        conn.execute(update, [{"plan_id": i, "key": _name_key(name)} for i, name in batch])
    op.create_index(
        "ix_plans_municipality_id_sort_key", "plans", ["municipality_id", "sort_key", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_plans_municipality_id_sort_key", table_name="plans")
    # A plain DROP COLUMN (SQLite 3.35+): a batch rebuild of `plans` would cascade (0005).
    op.drop_column("plans", "sort_key")
