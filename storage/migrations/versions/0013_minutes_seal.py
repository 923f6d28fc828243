"""Published minutes: the publication and approval seals, the hash scheme, and whether this
installation vouches for a version (server/core/seals.py).

Revision ID: 0013_minutes_seal
Revises: 0012_user_language
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_minutes_seal"
down_revision: str | Sequence[str] | None = "0012_user_language"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("hash_version", "publication", "publication_sha256", "approval", "approval_sha256")


def upgrade() -> None:
    # Plain ALTER TABLE, also on SQLite (see 0012 for why not batch mode). Existing rows are
    # hash scheme 1: their content hash is what they always had, checked by the old rule.
    op.add_column(
        "published_minutes",
        sa.Column("hash_version", sa.Integer(), nullable=False, server_default="1"),
    )
    op.add_column("published_minutes", sa.Column("publication", sa.Text(), nullable=True))
    op.add_column(
        "published_minutes", sa.Column("publication_sha256", sa.String(length=64), nullable=True)
    )
    op.add_column("published_minutes", sa.Column("approval", sa.Text(), nullable=True))
    op.add_column(
        "published_minutes", sa.Column("approval_sha256", sa.String(length=64), nullable=True)
    )
    op.add_column(
        "published_minutes",
        sa.Column("published_here", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    # A row with a content_user_ids mapping came in through `samplan import`, from a file
    # nobody signed: the server cannot say it was published here.
    op.execute(
        sa.text(
            "UPDATE published_minutes SET published_here = :no WHERE content_user_ids IS NOT NULL"
        ).bindparams(no=False)
    )


def downgrade() -> None:
    # SQLite >= 3.35 drops a column in place (see upgrade for why not batch mode).
    op.drop_column("published_minutes", "published_here")
    for column in reversed(COLUMNS):
        op.drop_column("published_minutes", column)
