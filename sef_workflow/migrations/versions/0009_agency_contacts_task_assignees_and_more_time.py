"""agency contacts by purpose, tasks given to a person, a pending request for more time

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agency_contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_agency_contact_agency_id_agency")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_contact")),
        sa.UniqueConstraint(
            "agency_id", "purpose", "email", name=op.f("uq_agency_contact_agency_id_purpose_email")
        ),
    )
    with op.batch_alter_table("agency_contact", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agency_contact_agency_id"), ["agency_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_agency_contact_email"), ["email"], unique=False)
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purpose", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("assignee_email", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("assignee_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("requested_due_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_column("requested_due_on")
        batch_op.drop_column("assignee_name")
        batch_op.drop_column("assignee_email")
        batch_op.drop_column("purpose")
    with op.batch_alter_table("agency_contact", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agency_contact_email"))
        batch_op.drop_index(batch_op.f("ix_agency_contact_agency_id"))
    op.drop_table("agency_contact")
