"""sign-in links minted at hand-off, idle sessions, a shared login limiter, the directory log

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sign_in_next", sa.String(length=200), nullable=True))
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("login_link", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notification_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("next_url", sa.String(length=200), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_login_link_notification_id"), ["notification_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_login_link_notification_id_notification"),
            "notification",
            ["notification_id"],
            ["id"],
        )
    op.create_table(
        "login_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempt")),
    )
    with op.batch_alter_table("login_attempt", schema=None) as batch_op:
        batch_op.create_index("ix_login_attempt_key_at", ["key", "at"], unique=False)
    op.create_table(
        "directory_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=254), nullable=False),
        sa.Column("actor_role", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=254), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_directory_event_agency_id_agency")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_event")),
    )
    with op.batch_alter_table("directory_event", schema=None) as batch_op:
        batch_op.create_index("ix_directory_event_agency_id_at", ["agency_id", "at"], unique=False)
        batch_op.create_index("ix_directory_event_at", ["at"], unique=False)
    _append_only("directory_event")


def _append_only(table: str) -> None:
    """The database refuses UPDATE and DELETE on ``table``."""
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_append_only_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} rows are append-only'); END"
            )
        return
    op.execute(
        f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{table} rows are append-only'; END $$"
    )
    op.execute(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS directory_event_append_only_{action}")
    else:
        op.execute("DROP TRIGGER IF EXISTS directory_event_append_only ON directory_event")
        op.execute("DROP FUNCTION IF EXISTS directory_event_append_only()")
    with op.batch_alter_table("directory_event", schema=None) as batch_op:
        batch_op.drop_index("ix_directory_event_at")
        batch_op.drop_index("ix_directory_event_agency_id_at")
    op.drop_table("directory_event")
    with op.batch_alter_table("login_attempt", schema=None) as batch_op:
        batch_op.drop_index("ix_login_attempt_key_at")
    op.drop_table("login_attempt")
    with op.batch_alter_table("login_link", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_login_link_notification_id_notification"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_login_link_notification_id"))
        batch_op.drop_column("next_url")
        batch_op.drop_column("notification_id")
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.drop_column("last_seen_at")
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_column("sign_in_next")
