"""Meetings: scheduling fields (video link, agenda, creator, cancellation) and invitees.

Revision ID: 0007_meetings
Revises: 0005_lifecycle
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_meetings"
down_revision: str | Sequence[str] | None = "0005_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch mode: SQLite cannot add a foreign key to an existing table in place.
    with op.batch_alter_table("meetings") as batch:
        batch.add_column(sa.Column("video_link", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("agenda", sa.Text(), server_default="[]", nullable=False))
        batch.add_column(sa.Column("created_by_user_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key(
            op.f("fk_meetings_created_by_user_id_users"),
            "users",
            ["created_by_user_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_table(
        "meeting_invitees",
        sa.Column("meeting_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_meeting_invitees_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_meeting_invitees_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("meeting_id", "user_id", name=op.f("pk_meeting_invitees")),
    )
    op.create_index(
        op.f("ix_meeting_invitees_user_id"), "meeting_invitees", ["user_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_meeting_invitees_user_id"), table_name="meeting_invitees")
    op.drop_table("meeting_invitees")
    with op.batch_alter_table("meetings") as batch:
        batch.drop_constraint(op.f("fk_meetings_created_by_user_id_users"), type_="foreignkey")
        batch.drop_column("cancelled_at")
        batch.drop_column("updated_at")
        batch.drop_column("created_by_user_id")
        batch.drop_column("agenda")
        batch.drop_column("video_link")
