"""Starting a plan in the browser (issue 12): who may start plans, the draft ("utkast") state
and the guardian named at the start, retired life areas, and the consent to the plan being
made (`plan_consents`).

Revision ID: 0016_plan_start
Revises: 0015_accounts
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_plan_start"
down_revision: str | Sequence[str] | None = "0015_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Plain ALTER TABLE, also on SQLite (see 0005 and 0012 for why not batch mode). Every
    # plan so far is past its draft, and nobody is marked as a coordinator yet.
    op.add_column(
        "users",
        sa.Column("can_start_plans", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "plans", sa.Column("draft", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("plans", sa.Column("guardian_name", sa.String(length=200), nullable=True))
    op.add_column("plans", sa.Column("guardian_email", sa.String(length=320), nullable=True))
    op.add_column("zones", sa.Column("retired_at", _UTC, nullable=True))
    op.create_table(
        "plan_consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("giver", sa.String(length=20), nullable=False),
        sa.Column("giver_name", sa.String(length=200), nullable=False),
        sa.Column("giver_user_id", sa.Integer(), nullable=True),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("given_on", sa.Date(), nullable=False),
        sa.Column("recorded_by_user_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", _UTC, nullable=False),
        sa.CheckConstraint("status IN ('given', 'refused')", name=op.f("ck_plan_consents_status")),
        sa.CheckConstraint("giver IN ('planeier', 'verge')", name=op.f("ck_plan_consents_giver")),
        sa.CheckConstraint(
            "method IN ('browser', 'oral', 'written')", name=op.f("ck_plan_consents_method")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["plans.id"],
            name=op.f("fk_plan_consents_plan_id_plans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["giver_user_id"],
            ["users.id"],
            name=op.f("fk_plan_consents_giver_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_user_id"],
            ["users.id"],
            name=op.f("fk_plan_consents_recorded_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_consents")),
    )
    op.create_index("ix_plan_consents_plan_id_id", "plan_consents", ["plan_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_plan_consents_plan_id_id", table_name="plan_consents")
    op.drop_table("plan_consents")
    # SQLite >= 3.35 drops a column in place (see upgrade for why not batch mode).
    op.drop_column("zones", "retired_at")
    op.drop_column("plans", "guardian_email")
    op.drop_column("plans", "guardian_name")
    op.drop_column("plans", "draft")
    op.drop_column("users", "can_start_plans")
