"""Moving a plan to another municipality (issue 14): `plan_moves`, the sending KE's record of
each move (to where, when, by whom, with the person's consent), and the "moved" notification
kind (the plan's members are told).

Revision ID: 0027_plan_moves
Revises: 0026_ke_templates
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027_plan_moves"
down_revision: str | Sequence[str] | None = "0026_ke_templates"
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
    "koordinator",
)
NEW = (*OLD, "moved")


def _kinds(values: tuple[str, ...]) -> str:
    return f"kind IN ({', '.join(repr(v) for v in values)})"


def _set_kinds(values: tuple[str, ...]) -> None:
    """Replace the kind check of both tables, as 0019 and 0025 do: on SQLite that rebuilds
    `notifications`, and the outbox rows that point at it (e-mails not yet sent) are kept
    aside and put back in the same transaction."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("CREATE TEMP TABLE outbox_kept_0027 AS SELECT * FROM email_outbox")
    for table in ("notifications", "notification_prefs"):
        with op.batch_alter_table(table, recreate="always" if sqlite else "auto") as batch:
            batch.drop_constraint(op.f(f"ck_{table}_kind"), type_="check")
            batch.create_check_constraint(op.f(f"ck_{table}_kind"), _kinds(values))
    if sqlite:
        op.execute(
            "INSERT INTO email_outbox SELECT * FROM outbox_kept_0027"
            " WHERE id NOT IN (SELECT id FROM email_outbox)"
        )
        op.execute("DROP TABLE outbox_kept_0027")


def upgrade() -> None:
    op.create_table(
        "plan_moves",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("initials", sa.String(length=40), nullable=False),
        sa.Column("from_municipality_id", sa.Integer(), nullable=True),
        sa.Column("from_name", sa.String(length=200), nullable=True),
        sa.Column("to_municipality_id", sa.Integer(), nullable=True),
        sa.Column("to_name", sa.String(length=200), nullable=True),
        sa.Column("consent_giver", sa.String(length=20), nullable=False),
        sa.Column("consent_giver_name", sa.String(length=200), nullable=False),
        sa.Column("consent_giver_user_id", sa.Integer(), nullable=True),
        sa.Column("consent_method", sa.String(length=20), nullable=False),
        sa.Column("consent_given_on", sa.Date(), nullable=False),
        sa.Column("recorded_by_user_id", sa.Integer(), nullable=True),
        sa.Column("moved_at", _UTC, nullable=False),
        sa.Column("appointed_at", _UTC, nullable=True),
        sa.CheckConstraint(
            "kind IN ('internal', 'export', 'import')", name=op.f("ck_plan_moves_kind")
        ),
        sa.CheckConstraint(
            "consent_giver IN ('planeier', 'verge')", name=op.f("ck_plan_moves_consent_giver")
        ),
        sa.CheckConstraint(
            "consent_method IN ('browser', 'oral', 'written')",
            name=op.f("ck_plan_moves_consent_method"),
        ),
        sa.ForeignKeyConstraint(
            ["from_municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_plan_moves_from_municipality_id_municipalities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["to_municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_plan_moves_to_municipality_id_municipalities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["consent_giver_user_id"],
            ["users.id"],
            name=op.f("fk_plan_moves_consent_giver_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_user_id"],
            ["users.id"],
            name=op.f("fk_plan_moves_recorded_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_moves")),
    )
    op.create_index("ix_plan_moves_plan_id", "plan_moves", ["plan_id"], unique=False)
    op.create_index(
        op.f("ix_plan_moves_from_municipality_id"),
        "plan_moves",
        ["from_municipality_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_plan_moves_to_municipality_id"), "plan_moves", ["to_municipality_id"], unique=False
    )
    _set_kinds(NEW)


def downgrade() -> None:
    op.execute(f"DELETE FROM notification_prefs WHERE NOT ({_kinds(OLD)})")
    op.execute(f"DELETE FROM notifications WHERE NOT ({_kinds(OLD)})")
    _set_kinds(OLD)
    op.drop_index(op.f("ix_plan_moves_to_municipality_id"), table_name="plan_moves")
    op.drop_index(op.f("ix_plan_moves_from_municipality_id"), table_name="plan_moves")
    op.drop_index("ix_plan_moves_plan_id", table_name="plan_moves")
    op.drop_table("plan_moves")
