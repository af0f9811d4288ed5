"""who of the business unit handles a task ("Waiting on you": assign to me), and who asked
for the more time waiting on it

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handled_by", sa.String(length=254), nullable=True))
        batch_op.create_index(batch_op.f("ix_task_handled_by"), ["handled_by"], unique=False)
        batch_op.add_column(sa.Column("requested_due_by", sa.String(length=254), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_column("requested_due_by")
        batch_op.drop_index(batch_op.f("ix_task_handled_by"))
        batch_op.drop_column("handled_by")
