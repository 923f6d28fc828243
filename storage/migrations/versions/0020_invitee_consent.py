"""Consent to a pending invitation: the planeier (or verge) says what an invited deltaker or
leser may see before they join; accepting turns it into a `consents` row.

Revision ID: 0020_invitee_consent
Revises: 0019_meeting_mail
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_invitee_consent"
down_revision: str | Sequence[str] | None = "0019_meeting_mail"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    # A table of its own rather than columns on `invitations`: email_outbox refers to
    # invitations, so SQLite's batch mode (a rebuild) would cascade into queued e-mail, and a
    # plain ADD COLUMN cannot add the foreign key to the giver.
    op.create_table(
        "invitation_consents",
        sa.Column("invitation_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("given_by_user_id", sa.Integer(), nullable=True),
        sa.Column("given_at", _UTC, nullable=False),
        sa.CheckConstraint(
            "status IN ('given', 'refused')", name=op.f("ck_invitation_consents_status")
        ),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            ["invitations.id"],
            name=op.f("fk_invitation_consents_invitation_id_invitations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["given_by_user_id"],
            ["users.id"],
            name=op.f("fk_invitation_consents_given_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("invitation_id", name=op.f("pk_invitation_consents")),
    )


def downgrade() -> None:
    op.drop_table("invitation_consents")
