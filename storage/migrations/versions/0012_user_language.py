"""Users: the language each user chose (pages on a new browser, and their e-mail).

Revision ID: 0012_user_language
Revises: 0010_meetedit
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_user_language"
down_revision: str | Sequence[str] | None = "0011_minutes_people"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE, also on SQLite: batch mode would rebuild `users`, and dropping the old
    # table with foreign keys on cascades into every membership, session and notification.
    # NULL for everyone so far: nobody has chosen, and bokmål stays their default.
    op.add_column("users", sa.Column("language", sa.String(length=8), nullable=True))


def downgrade() -> None:
    # SQLite >= 3.35 drops a column in place (see upgrade for why not batch mode).
    op.drop_column("users", "language")
