"""The KE's administration (issue 14): the people a municipality lets coordinate plans, a
retention period per municipality, and the "koordinator" notification kind (the KE appointed
or changed a plan's koordinator).

Revision ID: 0025_ke_admin
Revises: 0024_ke_overview
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_ke_admin"
down_revision: str | Sequence[str] | None = "0024_ke_overview"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = sa.DateTime(timezone=True)
OLD = (
    "message",
    "comment",
    "minutes",
    "assigned",
    "deadline",
    "revision",
    "meeting",
    "meeting_cancelled",
    "meeting_soon",
    "review",
)
NEW = (*OLD, "koordinator")


def _kinds(values: tuple[str, ...]) -> str:
    return f"kind IN ({', '.join(repr(v) for v in values)})"


def _set_kinds(values: tuple[str, ...]) -> None:
    """Replace the kind check of both tables, as 0019 does: on SQLite that rebuilds
    `notifications`, and the outbox rows that point at it (e-mails not yet sent) are kept
    aside and put back in the same transaction."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("CREATE TEMP TABLE outbox_kept_0025 AS SELECT * FROM email_outbox")
    for table in ("notifications", "notification_prefs"):
        with op.batch_alter_table(table, recreate="always" if sqlite else "auto") as batch:
            batch.drop_constraint(op.f(f"ck_{table}_kind"), type_="check")
            batch.create_check_constraint(op.f(f"ck_{table}_kind"), _kinds(values))
    if sqlite:
        op.execute(
            "INSERT INTO email_outbox SELECT * FROM outbox_kept_0025"
            " WHERE id NOT IN (SELECT id FROM email_outbox)"
        )
        op.execute("DROP TABLE outbox_kept_0025")


def upgrade() -> None:
    op.create_table(
        "municipality_coordinators",
        sa.Column("municipality_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("added_by_user_id", sa.Integer(), nullable=True),
        sa.Column("added_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_municipality_coordinators_municipality_id_municipalities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_municipality_coordinators_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["units.id"],
            name=op.f("fk_municipality_coordinators_unit_id_units"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint(
            "municipality_id", "user_id", name=op.f("pk_municipality_coordinators")
        ),
    )
    op.create_index(
        op.f("ix_municipality_coordinators_user_id"),
        "municipality_coordinators",
        ["user_id"],
        unique=False,
    )
    # Plain ALTER TABLE, also on SQLite: NULL means the installation's SAMPLAN_RETENTION_DAYS.
    op.add_column("municipalities", sa.Column("retention_days", sa.Integer(), nullable=True))
    _set_kinds(NEW)


def downgrade() -> None:
    op.execute(f"DELETE FROM notification_prefs WHERE NOT ({_kinds(OLD)})")
    op.execute(f"DELETE FROM notifications WHERE NOT ({_kinds(OLD)})")
    _set_kinds(OLD)
    op.drop_column("municipalities", "retention_days")
    op.drop_index(
        op.f("ix_municipality_coordinators_user_id"), table_name="municipality_coordinators"
    )
    op.drop_table("municipality_coordinators")
