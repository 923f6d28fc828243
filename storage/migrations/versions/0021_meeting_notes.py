"""Notes before a meeting ("Før møtet", issue 13): the person's own words, each with its own
readers, so they live in SQL and never in a zone.

Revision ID: 0021_meeting_notes
Revises: 0020_invitee_consent
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_meeting_notes"
down_revision: str | Sequence[str] | None = "0020_invitee_consent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "meeting_notes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("meeting_id", sa.String(length=64), nullable=False),
        sa.Column("author_user_id", sa.Integer(), nullable=False),
        sa.Column("author_role", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("audience", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.Column("proposed_by_user_id", sa.Integer(), nullable=True),
        sa.Column("proposed_at", _UTC, nullable=True),
        sa.Column("answer", sa.String(length=10), nullable=True),
        sa.Column("answered_at", _UTC, nullable=True),
        sa.Column("agenda_item_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint("kind IN ('topic', 'good', 'hard')", name=op.f("ck_meeting_notes_kind")),
        sa.CheckConstraint(
            "audience IN ('me', 'koordinator', 'group')", name=op.f("ck_meeting_notes_audience")
        ),
        sa.CheckConstraint(
            "answer IS NULL OR answer IN ('yes', 'no')", name=op.f("ck_meeting_notes_answer")
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_meeting_notes_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["users.id"],
            name=op.f("fk_meeting_notes_author_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by_user_id"],
            ["users.id"],
            name=op.f("fk_meeting_notes_proposed_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_notes")),
    )
    op.create_index(
        op.f("ix_meeting_notes_meeting_id"), "meeting_notes", ["meeting_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_meeting_notes_meeting_id"), table_name="meeting_notes")
    op.drop_table("meeting_notes")
