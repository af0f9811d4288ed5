"""Tasks: firing a task's triggers (submitting its assessment form where it has one,
sending it back, withdrawing it), adding a task by hand (an action in an action plan),
and listing and reading tasks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlmodel import col, select

from .. import assessments as forms_
from ..errors import InvalidInput, PermissionDenied, TransitionNotAllowed
from ..inputs import coerce_inputs
from ..models import Activity, Agency, Assessment, Task
from .assessment_view import agency_assessment
from .core import Core, UnitOfWork, check_agency_scope
from .creation import new_task
from .firing import check, move_task, task_effect, withdrawn_notice
from .lookups import activity_by_ref, agencies_by_code, task_with_activity
from .values import Actor, Outcome, TaskFilter


class Tasks:
    """Fires task triggers and adds tasks by hand; lists and reads tasks."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def fire(
        self,
        actor: Actor,
        task_id: int,
        trigger: str,
        *,
        inputs: Mapping[str, Any] | None,
        reason: str | None,
        expected_version: int | None,
    ) -> Outcome:
        with self.core.unit(actor) as uow:
            task, activity = task_with_activity(uow.session, task_id)
            return fire_in(
                uow,
                task,
                activity,
                trigger,
                inputs=inputs,
                reason=reason,
                expected_version=expected_version,
            )

    def add(
        self,
        actor: Actor,
        ref: str,
        kind_name: str,
        agency: str,
        inputs: Mapping[str, Any] | None,
    ) -> Outcome:
        with self.core.unit(actor) as uow:
            activity = activity_by_ref(uow.session, ref)
            return add_in(uow, activity, kind_name, agency, inputs)

    def list_tasks(self, f: TaskFilter) -> list[tuple[Task, Activity, Agency | None]]:
        now = self.core.clock.now()
        with self.core.db.read() as session:
            q = (
                select(Task, Activity, Agency)
                .join(Activity, col(Activity.id) == col(Task.activity_id))
                .join(Agency, col(Agency.id) == col(Task.agency_id), isouter=True)
            )
            if not f.include_closed:
                q = q.where(col(Task.is_open).is_(True))
            if f.agency:
                q = q.where(Agency.code == f.agency.upper())
            if f.state:
                q = q.where(Task.state == f.state)
            if f.kind:
                q = q.where(Task.kind == f.kind)
            if f.activity:
                q = q.where(Activity.ref == f.activity.upper())
            if f.overdue:
                q = q.where(
                    col(Task.is_open).is_(True),
                    Task.deadline_status == "running",
                    col(Task.due_at) <= now,
                )
            if f.due_before is not None:
                q = q.where(col(Task.due_on) < f.due_before, Task.deadline_status != "waived")
            q = q.order_by(col(Task.due_at).is_(None), col(Task.due_at), col(Task.id)).limit(
                f.limit
            )
            return [(t, a, g) for t, a, g in session.exec(q).all()]

    def get_task(self, task_id: int) -> tuple[Task, Activity]:
        with self.core.db.read() as session:
            return task_with_activity(session, task_id)


def fire_in(
    uow: UnitOfWork,
    task: Task,
    activity: Activity,
    trigger: str,
    *,
    inputs: Mapping[str, Any] | None,
    reason: str | None,
    expected_version: int | None,
) -> Outcome:
    """Fire ``trigger`` on the task within this unit of work.

    Firing the trigger that submits a task's assessment form submits the form: refused,
    with every unanswered question named, until the required answers are there."""
    session, now = uow.session, uow.now
    wf = uow.core.workflow_for(session, activity)
    kind = wf.tasks[task.kind]
    where = f"task {task.id} ({task.kind}) of {activity.ref}"
    check_agency_scope(uow.actor, task, where)
    t, values, reason = check(
        uow,
        kind,
        activity,
        trigger,
        state=task.state,
        where=where,
        inputs=inputs,
        reason=reason,
        task=task,
    )
    to_state = kind.next_state(trigger, task.state)
    from_state = task.state
    outcome = Outcome(activity=activity, task=task, from_state=from_state)
    assessment = None
    if kind.form is not None:
        assessment = forms_.assessment_of_task(session, task.id or 0)
    if assessment is not None and trigger == kind.form_submit:
        values = {**values, **_submit_form(uow, assessment, where)}
    for g in t.guards:
        name, _, arg = g.partition(":")
        if name == "answers_moderated":  # finishing: no moderation may slip in meanwhile
            moderated = agency_assessment(session, activity, task, arg)
            assert moderated is not None  # the guard passed
            forms_.cas_assessment(session, moderated, moderated.version, {"updated_at": now})
    event_id = move_task(
        uow,
        task,
        kind,
        trigger=trigger,
        to_state=to_state,
        values=values,
        reason=reason,
        event_kind="task_transition",
        expected_version=expected_version,
    )
    if (
        assessment is not None
        and assessment.status == "submitted"
        and not kind.states[task.state].answered
        and not kind.is_final(task.state)
    ):  # sent back for more: the agency can change its answers again
        forms_.cas_assessment(
            session, assessment, assessment.version, {"status": "draft", "updated_at": now}
        )
    for effect in t.effects:
        task_effect(uow, kind, task, effect, reason)
    outcome.to_state = task.state
    if to_state == kind.withdrawn_state:
        withdrawn_notice(uow, wf, activity, task, event_id, outcome)
    uow.notify(wf, t.notify, activity, outcome, key=f"ev{event_id}", task=task)
    return outcome


def _submit_form(uow: UnitOfWork, assessment: Assessment, where: str) -> dict[str, Any]:
    """Submit the task's assessment, refused with every problem named unless complete."""
    session, now = uow.session, uow.now
    form = forms_.pinned_form(session, uow.core.forms, assessment)
    answers = forms_.answers_of(session, assessment.id or 0)
    missing = forms_.problems(form, answers)
    if missing:
        raise InvalidInput(
            f"cannot submit the {form.title} for {where}: {len(missing)} "
            f"{'answer needs' if len(missing) == 1 else 'answers need'} attention: "
            + "; ".join(missing)
        )
    forms_.cas_assessment(
        session,
        assessment,
        assessment.version,
        {
            "status": "submitted",
            "submitted_at": now,
            "submitted_by": uow.actor.id,
            "updated_at": now,
        },
    )
    return {"assessment": assessment.id, **forms_.summary(form, answers)}


def add_in(
    uow: UnitOfWork,
    activity: Activity,
    kind_name: str,
    agency: str,
    inputs: Mapping[str, Any] | None,
    finding_id: int | None = None,
) -> Outcome:
    """Add a task of ``kind_name`` for the agency with code ``agency``, answering the
    finding ``finding_id`` when given, within this unit of work."""
    session, actor = uow.session, uow.actor
    wf = uow.core.workflow_for(session, activity)
    kind = wf.tasks.get(kind_name)
    if kind is None or kind.assignee != "chosen_agency":
        addable = [k.name for k in wf.tasks.values() if k.assignee == "chosen_agency"]
        raise InvalidInput(
            f"{activity.ref}: tasks of kind '{kind_name}' cannot be added by hand "
            f"(allowed: {', '.join(addable) or 'none'})"
        )
    if not actor.may(kind.add_roles):
        raise PermissionDenied(
            f"{actor.role} {actor.id} may not add '{kind_name}' tasks "
            f"(allowed: {', '.join(kind.add_roles)})"
        )
    if wf.is_final(activity.state):
        raise TransitionNotAllowed(f"{activity.ref} is {activity.state}; no tasks can be added")
    values = coerce_inputs(kind.inputs, inputs or {}, f"adding '{kind_name}' to {activity.ref}")
    (agency_row,) = agencies_by_code(session, [agency])
    outcome = Outcome(activity=activity)
    task = new_task(uow, kind, activity, agency_row, values)
    if finding_id is not None:
        uow.cas_task(task, {"finding_id": finding_id})
    outcome.created_tasks.append(task)
    outcome.task = task
    uow.bump(activity)
    uow.notify(wf, kind.add_notify, activity, outcome, key=f"task{task.id}:added", task=task)
    return outcome
