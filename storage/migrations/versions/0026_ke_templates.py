"""The KE's plan templates and public statements (issue 14): a municipality's templates (life
areas with hint and sub-headings, default text for the content sections), its accessibility
statement and privacy notice, and the hint a life area was started with (`zones.hint`).

Revision ID: 0026_ke_templates
Revises: 0025_ke_admin
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026_ke_templates"
down_revision: str | Sequence[str] | None = "0025_ke_admin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "plan_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("municipality_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("about_me", sa.Text(), nullable=False),
        sa.Column("resources", sa.Text(), nullable=False),
        sa.Column("needs", sa.Text(), nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_plan_templates_municipality_id_municipalities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_templates")),
    )
    op.create_index(
        op.f("ix_plan_templates_municipality_id"),
        "plan_templates",
        ["municipality_id"],
        unique=False,
    )
    op.create_table(
        "plan_template_areas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("hint", sa.Text(), nullable=False),
        sa.Column("subheadings", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["plan_templates.id"],
            name=op.f("fk_plan_template_areas_template_id_plan_templates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_template_areas")),
    )
    op.create_index(
        op.f("ix_plan_template_areas_template_id"),
        "plan_template_areas",
        ["template_id"],
        unique=False,
    )
    op.create_table(
        "public_statements",
        sa.Column("municipality_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.Column("updated_by_user_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('tilgjengelighet', 'personvern')", name=op.f("ck_public_statements_kind")
        ),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_public_statements_municipality_id_municipalities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("municipality_id", "kind", name=op.f("pk_public_statements")),
    )
    # Plain ALTER TABLE, also on SQLite: NULL for every area started without a template.
    op.add_column("zones", sa.Column("hint", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("zones") as batch:
        batch.drop_column("hint")
    op.drop_table("public_statements")
    op.drop_index(op.f("ix_plan_template_areas_template_id"), table_name="plan_template_areas")
    op.drop_table("plan_template_areas")
    op.drop_index(op.f("ix_plan_templates_municipality_id"), table_name="plan_templates")
    op.drop_table("plan_templates")
