"""Rows read by reference, id or code: an activity by its reference, a task or an
assessment with its activity, an activity's tasks and agencies, agencies by code."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import Session, col, select

from ..errors import InvalidInput, NotFound
from ..models import Activity, ActivityAgency, Agency, Assessment, Task

_TASK_WITH_ACTIVITY = (
    select(Task, Activity)
    .join(Activity, col(Activity.id) == col(Task.activity_id))
    .where(col(Task.id) == sa.bindparam("task_id"))
)


def activity_by_ref(session: Session, ref: str) -> Activity:
    activity = session.exec(select(Activity).where(Activity.ref == ref.upper())).first()
    if activity is None:
        raise NotFound(f"no activity with reference {ref}")
    return activity


def task_with_activity(session: Session, task_id: int) -> tuple[Task, Activity]:
    """The task and its activity, in one statement."""
    row = session.exec(_TASK_WITH_ACTIVITY, params={"task_id": task_id}).first()
    if row is None:
        raise NotFound(f"no task with id {task_id}")
    return row[0], row[1]


def assessment_by_id(session: Session, assessment_id: int) -> Assessment:
    assessment = session.get(Assessment, assessment_id)
    if assessment is None:
        raise NotFound(f"no assessment {assessment_id}")
    return assessment


def activity_of(session: Session, assessment: Assessment) -> Activity:
    """The activity the assessment belongs to."""
    activity = session.get(Activity, assessment.activity_id)
    assert activity is not None
    return activity


def tasks_of(session: Session, activity_id: int) -> list[Task]:
    return list(
        session.exec(
            select(Task).where(Task.activity_id == activity_id).order_by(col(Task.id))
        ).all()
    )


def activity_agencies(session: Session, activity_id: int) -> list[Agency]:
    """The agencies taking part in the activity, by name."""
    return list(
        session.exec(
            select(Agency)
            .join(ActivityAgency, col(ActivityAgency.agency_id) == col(Agency.id))
            .where(ActivityAgency.activity_id == activity_id)
            .order_by(col(Agency.name))
        ).all()
    )


def agency_rows(session: Session, ids: Sequence[int]) -> list[Agency]:
    if not ids:
        return []
    return list(session.exec(select(Agency).where(col(Agency.id).in_(ids))).all())


def agencies_by_code(session: Session, codes: Sequence[str]) -> list[Agency]:
    """The active agencies with these codes, in the order given; refused if one is named
    twice, unknown or inactive."""
    wanted = [c.strip().upper() for c in codes if c.strip()]
    if len(set(wanted)) != len(wanted):
        raise InvalidInput(f"an agency is named twice: {', '.join(wanted)}")
    if not wanted:
        return []
    rows = {a.code: a for a in session.exec(select(Agency).where(col(Agency.code).in_(wanted)))}
    missing = [c for c in wanted if c not in rows]
    if missing:
        raise NotFound(f"no agency with code {', '.join(missing)} (see: sef agencies list)")
    inactive = [c for c in wanted if not rows[c].active]
    if inactive:
        raise InvalidInput(f"agency {', '.join(inactive)} is inactive")
    return [rows[c] for c in wanted]
