"""Meetings tell people: four notification kinds and an e-mail's calendar attachment.

Revision ID: 0019_meeting_mail
Revises: 0018_invitations
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_meeting_mail"
down_revision: str | Sequence[str] | None = "0018_invitations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ("message", "comment", "minutes", "assigned", "deadline", "revision")
NEW = (*OLD, "meeting", "meeting_cancelled", "meeting_soon", "review")


def _kinds(values: tuple[str, ...]) -> str:
    return f"kind IN ({', '.join(repr(v) for v in values)})"


def _set_kinds(values: tuple[str, ...]) -> None:
    """Replace the kind check of both tables. On SQLite that rebuilds `notifications`, and
    dropping the old table (foreign keys on) deletes every outbox row that points at it: those
    are e-mails not yet sent, so they are kept aside and put back in the same transaction."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("CREATE TEMP TABLE outbox_kept AS SELECT * FROM email_outbox")
    for table in ("notifications", "notification_prefs"):
        with op.batch_alter_table(table, recreate="always" if sqlite else "auto") as batch:
            batch.drop_constraint(op.f(f"ck_{table}_kind"), type_="check")
            batch.create_check_constraint(op.f(f"ck_{table}_kind"), _kinds(values))
    if sqlite:
        op.execute(
            "INSERT INTO email_outbox SELECT * FROM outbox_kept"
            " WHERE id NOT IN (SELECT id FROM email_outbox)"
        )
        op.execute("DROP TABLE outbox_kept")


def upgrade() -> None:
    _set_kinds(NEW)
    op.add_column("email_outbox", sa.Column("calendar", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("email_outbox", "calendar")
    op.execute(f"DELETE FROM notification_prefs WHERE NOT ({_kinds(OLD)})")
    op.execute(f"DELETE FROM notifications WHERE NOT ({_kinds(OLD)})")
    _set_kinds(OLD)
