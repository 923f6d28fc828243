"""Accounts: deactivation, "Glemt passord" links (hashes only), and outbox e-mail that
belongs to no notification (a reset link), emptied once sent.

Revision ID: 0015_accounts
Revises: 0014_zone_changes
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_accounts"
down_revision: str | Sequence[str] | None = "0014_zone_changes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Plain ALTER TABLE on `users`, also on SQLite (see 0012: batch mode would rebuild it and
    # cascade into every membership). NULL: every account so far is active.
    op.add_column("users", sa.Column("deactivated_at", _UTC, nullable=True))
    op.add_column("users", sa.Column("deactivated_by", sa.Integer(), nullable=True))
    op.create_table(
        "password_resets",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("expires_at", _UTC, nullable=False),
        sa.Column("used_at", _UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_password_resets_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_resets")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_password_resets_token_hash")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_password_resets_user_id"), "password_resets", ["user_id"])
    # Batch mode on SQLite rebuilds `email_outbox`; nothing refers to it, so nothing cascades.
    with op.batch_alter_table("email_outbox") as batch:
        batch.alter_column("notification_id", existing_type=_BIG_ID, nullable=True)
        batch.add_column(
            sa.Column("erase_after_send", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    op.execute("DELETE FROM email_outbox WHERE notification_id IS NULL")
    with op.batch_alter_table("email_outbox") as batch:
        batch.drop_column("erase_after_send")
        batch.alter_column("notification_id", existing_type=_BIG_ID, nullable=False)
    op.drop_index(op.f("ix_password_resets_user_id"), table_name="password_resets")
    op.drop_table("password_resets")
    op.drop_column("users", "deactivated_by")
    op.drop_column("users", "deactivated_at")
