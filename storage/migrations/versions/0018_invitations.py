"""Invitations (issue 12): the koordinator invites someone by e-mail with a one-time link;
e-mail that belongs to no notification (an invitation) goes through the same outbox.

Revision ID: 0018_invitations
Revises: 0017_members
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_invitations"
down_revision: str | Sequence[str] | None = "0017_members"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ROLES = "role IN ('planeier', 'verge', 'deltaker', 'leser')"


def upgrade() -> None:
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("unit", sa.String(length=200), nullable=True),
        sa.Column("contribution", sa.Text(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("expires_at", _UTC, nullable=False),
        sa.Column("accepted_at", _UTC, nullable=True),
        sa.Column("accepted_by_user_id", sa.Integer(), nullable=True),
        sa.Column("withdrawn_at", _UTC, nullable=True),
        sa.Column("resent_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint(ROLES, name=op.f("ck_invitations_role")),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_invitations_plan_id_plans"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["invited_by_user_id"],
            ["users.id"],
            name=op.f("fk_invitations_invited_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["accepted_by_user_id"],
            ["users.id"],
            name=op.f("fk_invitations_accepted_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    op.create_index(op.f("ix_invitations_plan_id"), "invitations", ["plan_id"])
    # An invitation's e-mail has no notification (0015 made that column nullable) but its
    # invitation, deleted with the plan. Nothing refers to email_outbox, so SQLite's batch mode
    # (a table rebuild) is safe here.
    with op.batch_alter_table("email_outbox") as batch:
        batch.add_column(sa.Column("invitation_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_email_outbox_invitation_id_invitations"),
            "invitations",
            ["invitation_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index(op.f("ix_email_outbox_invitation_id"), ["invitation_id"])


def downgrade() -> None:
    op.execute("DELETE FROM email_outbox WHERE invitation_id IS NOT NULL")
    with op.batch_alter_table("email_outbox") as batch:
        batch.drop_index(op.f("ix_email_outbox_invitation_id"))
        batch.drop_constraint(op.f("fk_email_outbox_invitation_id_invitations"), type_="foreignkey")
        batch.drop_column("invitation_id")
    op.drop_index(op.f("ix_invitations_plan_id"), table_name="invitations")
    op.drop_table("invitations")
