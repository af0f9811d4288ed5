"""What a change creates: an activity with its reference and pinned definition, the tasks
a step declares (one per agency or one in all) with their deadlines, reminder ladders
and assessment forms, and the action plan linked to an activity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from .. import assessments as forms_
from ..calendar import WorkingCalendar, compute_due
from ..definitions import TaskKind, Workflow
from ..errors import InvalidInput
from ..models import (
    CONTACT_PURPOSES,
    Activity,
    ActivityAgency,
    Agency,
    AssessmentAnswer,
    ReferenceCounter,
    Task,
)
from ..sql import upsert
from .core import UnitOfWork, iso_date, jsonable
from .lookups import activity_agencies
from .values import PLAN_ORIGINS, Outcome


def insert_activity(
    uow: UnitOfWork,
    wf: Workflow,
    *,
    title: str,
    agencies: Sequence[Agency],
    values: Mapping[str, Any],
    parent_id: int | None,
) -> Activity:
    """A new activity of ``wf`` in its initial state, with its agencies and a fresh reference."""
    session, now, core = uow.session, uow.now, uow.core
    definition_id = core.pin(session, wf, now)
    ref = next_reference(uow, wf.reference_prefix, core.calendar.local_date(now).year)
    activity = Activity(
        ref=ref,
        workflow=wf.name,
        definition_id=definition_id,
        state=wf.initial,
        title=title,
        data=dict(values),
        opened_by=uow.actor.id,
        opened_at=now,
        updated_at=now,
        parent_id=parent_id,
    )
    session.add(activity)
    session.flush()
    assert activity.id is not None
    for agency in agencies:
        assert agency.id is not None
        session.add(ActivityAgency(activity_id=activity.id, agency_id=agency.id))
    session.flush()
    return activity


def next_reference(uow: UnitOfWork, prefix: str, year: int) -> str:
    """The next number for the prefix and year, taken atomically (safe for two openers)."""
    table = ReferenceCounter.__table__  # type: ignore[attr-defined]
    number = upsert(
        uow.session,
        table,
        {"prefix": prefix, "year": year, "last": 1},
        ("prefix", "year"),
        {"last": table.c.last + 1},
        returning=table.c.last,
    )
    return f"{prefix}-{year}-{number:03d}"


def create_tasks(
    uow: UnitOfWork,
    wf: Workflow,
    activity: Activity,
    outcome: Outcome,
    *,
    kinds: Sequence[str],
    agencies: Sequence[Agency],
) -> None:
    """The tasks of ``kinds``: one per agency taking part, or one for the business unit."""
    for kind_name in kinds:
        kind = wf.tasks[kind_name]
        if kind.assignee == "each_agency":
            for agency in agencies:
                outcome.created_tasks.append(new_task(uow, kind, activity, agency, {}))
        else:
            outcome.created_tasks.append(new_task(uow, kind, activity, None, {}))


def new_task(
    uow: UnitOfWork,
    kind: TaskKind,
    activity: Activity,
    agency: Agency | None,
    values: Mapping[str, Any],
) -> Task:
    """One task of ``kind``, its deadline counted and its ladder set, its form started."""
    session, now, core = uow.session, uow.now, uow.core
    title = kind.title if agency is None else f"{kind.title}: {agency.name}"
    task = Task(
        activity_id=activity.id or 0,
        kind=kind.name,
        agency_id=agency.id if agency else None,
        state=kind.initial,
        title=title[:300],
        data=dict(values),
        created_at=now,
        updated_at=now,
        category=kind.report_as,
        purpose=task_purpose(kind, activity) if agency is not None else None,
    )
    if kind.deadline is not None:
        basis = _basis(core.calendar, kind, activity, values, now)
        due = compute_due(kind.deadline.rule(), basis, core.calendar)
        task.deadline_status = "running"
        task.due_at = due.at
        task.due_on = due.on
        task.due_all_day = due.all_day
        task.original_due_at = due.at
        task.original_due_on = due.on
        task.next_reminder_at = core.next_reminder(kind, task, now)
    session.add(task)
    session.flush()
    uow.event(
        "task_created",
        activity_id=activity.id or 0,
        task_id=task.id,
        to_state=task.state,
        inputs={"kind": kind.name, "due": iso_date(task.due_on), **jsonable(values)},
    )
    if kind.form is not None:
        form = core.forms.get(kind.form)
        assessment = forms_.start(
            session, core.forms, form, activity, task, agency, uow.actor.id, now
        )
        if assessment.carried_from_id is not None:
            carried = session.execute(
                sa.select(sa.func.count())
                .select_from(AssessmentAnswer)
                .where(col(AssessmentAnswer.assessment_id) == assessment.id)
            ).scalar_one()
            uow.task_event(
                task,
                "assessment_started",
                {
                    "assessment": assessment.id,
                    "form": form.name,
                    "carried_from": assessment.carried_from_id,
                    "carried_forward": carried,
                },
            )
    return task


def task_purpose(kind: TaskKind, activity: Activity) -> str | None:
    """The agency contact purpose a new task of ``kind`` is addressed to, if any: the kind's
    own, or the one the activity's input named (``lead``, or none given: no purpose)."""
    purpose = kind.purpose
    if purpose is None or not purpose.startswith("activity:"):
        return purpose
    value = activity.data.get(purpose.removeprefix("activity:"))
    return value if isinstance(value, str) and value in CONTACT_PURPOSES else None


def _basis(
    calendar: WorkingCalendar,
    kind: TaskKind,
    activity: Activity,
    values: Mapping[str, Any],
    now: datetime,
) -> datetime:
    """The moment the task's deadline counts from: its creation, or a date it was given."""
    assert kind.deadline is not None
    basis = kind.deadline.basis
    if basis == "created":
        return now
    source, _, name = basis.partition(":")
    raw = (activity.data if source == "activity" else values).get(name)
    if raw in (None, ""):
        raise InvalidInput(
            f"{activity.ref}: task '{kind.name}' counts its deadline from '{basis}', "
            "which has no value yet"
        )
    return as_moment(calendar, raw, basis)


def as_moment(calendar: WorkingCalendar, raw: Any, what: str) -> datetime:
    """A date or moment given as a value or an ISO string; a date is its local midnight."""
    if isinstance(raw, datetime):
        return raw
    if isinstance(raw, date):
        return datetime.combine(raw, time(0), tzinfo=calendar.tz)
    if isinstance(raw, str):
        try:
            if "T" in raw:
                return datetime.fromisoformat(raw)
            return datetime.combine(date.fromisoformat(raw), time(0), tzinfo=calendar.tz)
        except ValueError:
            pass
    raise InvalidInput(f"'{what}' is not a date: {raw!r}")


def open_child_plan(uow: UnitOfWork, activity: Activity) -> Activity | None:
    """The activity's action plan that is still open, if there is one."""
    return uow.session.exec(
        select(Activity)
        .where(
            Activity.parent_id == activity.id,
            Activity.workflow == "action_plan",
            col(Activity.closed_at).is_(None),
        )
        .order_by(col(Activity.id).desc())
        .limit(1)
    ).first()


def open_plan_for(
    uow: UnitOfWork, activity: Activity, agencies: Sequence[Agency] | None = None
) -> Activity:
    """A linked action plan for the activity, with its agencies and its origin."""
    plan_wf = uow.core.registry.get("action_plan")
    if agencies is None:
        agencies = activity_agencies(uow.session, activity.id or 0)
    origin = PLAN_ORIGINS.get(activity.workflow, "other")
    child = insert_activity(
        uow,
        plan_wf,
        title=f"Action plan: {activity.title}"[:300],
        agencies=agencies,
        values={"origin": origin},
        parent_id=activity.id,
    )
    uow.event(
        "opened",
        activity_id=child.id or 0,
        to_state=child.state,
        inputs={"spawned_from": activity.ref},
    )
    uow.event("spawned", activity_id=activity.id or 0, inputs={"action_plan": child.ref})
    return child
