"""Published minutes: who the user ids inside an imported version's frozen content are here.

The content keeps the ids of the database it was published in (the hash covers them); an
import that gave people other ids stores {id inside content: users.id here} beside it. NULL
(every row so far) means the minutes were published in this database and their ids are ours.

Revision ID: 0011_minutes_people
Revises: 0010_meetedit
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_minutes_people"
down_revision: str | Sequence[str] | None = "0010_meetedit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("published_minutes") as batch:
        batch.add_column(sa.Column("content_user_ids", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("published_minutes") as batch:
        batch.drop_column("content_user_ids")
