"""The shipped migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import sef_workflow.models  # noqa: F401  (registers the tables)
from sef_workflow.db import Database


def test_upgrade_from_empty_matches_models(database: Database) -> None:
    assert database.current_revision() == database.head_revision()
    with database.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, SQLModel.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"


def test_upgrade_is_idempotent(database: Database) -> None:
    database.upgrade()
    assert database.current_revision() == database.head_revision()


def test_sqlite_pragmas(tmp_path: pytest.TempPathFactory) -> None:
    db = Database(f"sqlite:///{tmp_path}/p.db")
    db.upgrade()
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()


def test_events_are_append_only(database: Database) -> None:
    with database.write() as session:
        session.execute(
            sa.text(
                "INSERT INTO workflow_definition (name, version, source, parameters, created_at) "
                "VALUES ('x', 'v1', '', '{}', CURRENT_TIMESTAMP)"
            )
        )
        session.execute(
            sa.text(
                "INSERT INTO activity (ref, workflow, definition_id, state, title, data, opened_by,"
                " opened_at, updated_at, version) VALUES ('T-2026-001', 'x', 1, 's', 't', '{}',"
                " 'a', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)"
            )
        )
        session.execute(
            sa.text(
                "INSERT INTO event (activity_id, at, actor, actor_role, kind, inputs) "
                "VALUES (1, CURRENT_TIMESTAMP, 'a', 'system', 'opened', '{}')"
            )
        )
    for statement in ("UPDATE event SET actor = 'someone else'", "DELETE FROM event"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), database.write() as session:
            session.execute(sa.text(statement))
    with database.read() as session:
        assert session.execute(sa.text("SELECT actor FROM event")).scalar_one() == "a"
