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


def test_upgrade_of_a_database_with_rows_fills_the_report_columns(db_url: str) -> None:
    """Migration 0007 rebuilds the task table on SQLite with rows that other tables point at,
    and fills the report columns of tasks recorded before them from their events."""
    from datetime import UTC, date, datetime

    from .conftest import ROOT

    db = Database(db_url)
    db.upgrade("0006")
    meta = sa.MetaData()
    with db.write_engine.begin() as conn:
        meta.reflect(conn)
        t = meta.tables
        now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        agency = conn.execute(
            t["agency"].insert().returning(t["agency"].c.id),
            {
                "code": "POL",
                "name": "Northshire Police (fictional)",
                "sector": "police",
                "lead_name": "Lead (fictional)",
                "lead_email": "lead@police.example",
                "active": True,
            },
        ).scalar_one()
        definition = conn.execute(
            t["workflow_definition"].insert().returning(t["workflow_definition"].c.id),
            {
                "name": "themed_audit",
                "version": "before-0007",
                "source": (ROOT / "workflows" / "themed_audit.toml").read_text(encoding="utf-8"),
                "parameters": {},
                "created_at": now,
            },
        ).scalar_one()
        activity = conn.execute(
            t["activity"].insert().returning(t["activity"].c.id),
            {
                "ref": "MAA-2026-001",
                "workflow": "themed_audit",
                "definition_id": definition,
                "state": "awaiting_returns",
                "title": "Audit (fictional)",
                "data": {},
                "opened_by": "coordinator@example.org",
                "opened_at": now,
                "updated_at": now,
                "version": 1,
            },
        ).scalar_one()
        conn.execute(t["activity_agency"].insert(), {"activity_id": activity, "agency_id": agency})
        due_on = date(2026, 1, 9)  # a Friday
        due_at = datetime(2026, 1, 10, 0, 0, tzinfo=UTC)
        tasks = {}
        for name, state, status in (
            ("late", "submitted", "met"),
            ("on_time", "accepted", "met"),
            ("open", "requested", "running"),
        ):
            tasks[name] = conn.execute(
                t["task"].insert().returning(t["task"].c.id),
                {
                    "activity_id": activity,
                    "kind": "audit_return",
                    "agency_id": agency,
                    "state": state,
                    "is_open": state != "accepted",
                    "title": "Single-agency audit return (fictional)",
                    "data": {},
                    "created_at": now,
                    "updated_at": now,
                    "deadline_status": status,
                    "due_at": due_at,
                    "due_on": due_on,
                    "due_all_day": True,
                    "original_due_at": due_at,
                    "original_due_on": due_on,
                    "deadline_sequence": 0,
                    "version": 2,
                },
            ).scalar_one()
        events = t["event"]

        def event(task: int, at: datetime, kind: str, **values: object) -> None:
            conn.execute(
                events.insert(),
                {
                    "activity_id": activity,
                    "task_id": task,
                    "at": at,
                    "actor": "someone@example.org",
                    "actor_role": "agency",
                    "kind": kind,
                    "inputs": {},
                    **values,
                },
            )

        event(
            tasks["late"],
            datetime(2026, 1, 8, 9, 0, tzinfo=UTC),
            "reminder",
            inputs={"rungs": ["before-1"]},
        )
        event(
            tasks["late"],
            datetime(2026, 1, 13, 9, 0, tzinfo=UTC),
            "reminder",
            inputs={"rungs": ["chase-1", "escalate-1"]},
        )
        # answered on Wednesday 14 January: 3 working days after Friday the 9th
        event(
            tasks["late"],
            datetime(2026, 1, 14, 10, 0, tzinfo=UTC),
            "task_transition",
            trigger="submit",
            from_state="requested",
            to_state="submitted",
        )
        event(
            tasks["on_time"],
            datetime(2026, 1, 7, 10, 0, tzinfo=UTC),
            "task_transition",
            trigger="submit",
            from_state="requested",
            to_state="submitted",
        )
        event(
            tasks["on_time"],
            datetime(2026, 1, 8, 10, 0, tzinfo=UTC),
            "task_transition",
            trigger="accept",
            from_state="submitted",
            to_state="accepted",
        )
    db.upgrade()
    assert db.current_revision() == db.head_revision()
    with db.engine.connect() as conn:
        task = sa.Table("task", sa.MetaData(), autoload_with=conn)
        rows = {
            r.id: r
            for r in conn.execute(
                sa.select(
                    task.c.id,
                    task.c.category,
                    task.c.answered_at,
                    task.c.late_working_days,
                    task.c.reminders_sent,
                    task.c.escalations_sent,
                )
            )
        }
        assert conn.execute(sa.text("SELECT count(*) FROM event")).scalar_one() == 5
    late, on_time, still_open = rows[tasks["late"]], rows[tasks["on_time"]], rows[tasks["open"]]
    assert [late.category, on_time.category, still_open.category] == ["request"] * 3
    assert (late.late_working_days, late.reminders_sent, late.escalations_sent) == (3, 2, 1)
    assert late.answered_at.replace(tzinfo=UTC) == datetime(2026, 1, 14, 10, 0, tzinfo=UTC)
    assert on_time.late_working_days == 0
    assert on_time.answered_at.replace(tzinfo=UTC) == datetime(2026, 1, 7, 10, 0, tzinfo=UTC)
    assert (still_open.answered_at, still_open.late_working_days) == (None, None)
    db.dispose()
