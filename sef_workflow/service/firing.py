"""How a trigger is checked and applied, for activities and tasks alike: the full check
(state, role, inputs, reason, guards), moving a task to its next state with its deadline
and answered date kept right, the effects a transition declares (withdrawing open tasks,
spawning an action plan, reprogramming a deadline) and the notice of a withdrawn request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ..calendar import Due, format_date
from ..definitions import Notify, TaskKind, TransitionDef, Workflow, guard_words
from ..errors import GuardFailed, InvalidInput, TransitionNotAllowed
from ..guards import GuardContext, Words, evaluate
from ..inputs import coerce_inputs
from ..models import Activity, Agency, Task
from .assessment_view import unmoderated
from .core import UnitOfWork, check_role, clean_reason, iso_date, transition
from .creation import as_moment, open_child_plan, open_plan_for
from .lookups import activity_agencies, tasks_of
from .values import Outcome


def needs_tasks(wf: Workflow, state: str, trigger: str) -> bool:
    """Whether firing ``trigger`` from ``state`` looks at or changes the activity's tasks."""
    t = wf.transition_for(trigger, state)
    return t is not None and bool(t.guards or t.completes or "withdraw_open_tasks" in t.effects)


def check(
    uow: UnitOfWork,
    machine: Workflow | TaskKind,
    activity: Activity,
    trigger: str,
    *,
    state: str,
    where: str,
    inputs: Mapping[str, Any] | None,
    reason: str | None,
    tasks: list[Task] | None = None,
    task: Task | None = None,
) -> tuple[TransitionDef, dict[str, Any], str | None]:
    """The transition ``trigger`` from ``state``, once state, role, inputs, reason and
    guards allow it; its checked inputs and reason. Raises the error that says why not."""
    session = uow.session
    t = transition(machine, state, trigger, where)
    check_role(uow.actor, t, f"'{trigger}' on {where}")
    values = coerce_inputs(t.inputs, inputs or {}, f"'{trigger}' on {where}")
    reason = clean_reason(reason, t, trigger)
    if t.guards:
        assert activity.id is not None
        extra: dict[str, Any] = {}
        for g in t.guards:
            name, _, arg = g.partition(":")
            if name == "answers_moderated" and task is not None:
                extra["unmoderated"] = unmoderated(uow.core, session, activity, task, arg)
        agencies = activity_agencies(session, activity.id)
        seen = tasks if tasks is not None else tasks_of(session, activity.id)
        ctx = GuardContext(
            activity_data=activity.data,
            agency_count=len(agencies),
            tasks=seen,
            inputs=values,
            task=task,
            extra=extra,
            words=_words(uow, machine, activity, agencies, seen, task),
        )
        refused = evaluate(t.guards, ctx)
        if refused is not None:  # the same English a page shows beside the button it withholds
            raise GuardFailed(f"“{t.title}” cannot be done on {where} yet: {refused[1]}")
    return t, values, reason


def _words(
    uow: UnitOfWork,
    machine: Workflow | TaskKind,
    activity: Activity,
    agencies: Sequence[Agency],
    tasks: Sequence[Task],
    task: Task | None,
) -> Words:
    """The names a refused guard is explained with: titles and labels from the workflow,
    and the code of every agency the activity's tasks belong to."""
    codes = {a.id: a.code for a in agencies if a.id is not None}
    for t in (*tasks, *([task] if task is not None else [])):
        if t.agency_id is not None and t.agency_id not in codes:
            found = uow.session.get(Agency, t.agency_id)
            codes[t.agency_id] = found.code if found is not None else "an agency"
    wf = uow.core.workflow_for(uow.session, activity)
    owner = codes.get(task.agency_id) if task is not None and task.agency_id else None
    return guard_words(wf, machine, codes, owner)


def move_task(
    uow: UnitOfWork,
    task: Task,
    kind: TaskKind,
    *,
    trigger: str,
    to_state: str,
    values: Mapping[str, Any],
    reason: str | None,
    event_kind: str,
    expected_version: int | None = None,
) -> int:
    """Move the task to ``to_state``: closed if final, its clock stopped when answered and
    running again when sent back; the event's id."""
    now = uow.now
    from_state = task.state
    changes: dict[str, Any] = {"state": to_state}
    if values:
        changes["data"] = {**task.data, **values}
    if kind.is_final(to_state):
        changes.update(is_open=False, closed_at=now, next_reminder_at=None)
    answered = kind.states[to_state].answered or kind.is_final(to_state)
    if answered and task.requested_due_on is not None:  # answered: no more time to decide
        changes.update(requested_due_on=None, requested_due_by=None)
    live = task.deadline_status in ("running", "paused")
    was_answered = kind.states[from_state].answered or kind.is_final(from_state)
    if answered and not was_answered and to_state != kind.withdrawn_state:
        changes["answered_at"] = now
        if live and task.due_on is not None:
            changes["late_working_days"] = _late_working_days(uow, task)
        elif task.deadline_status != "met":
            changes["late_working_days"] = None
    if to_state == kind.withdrawn_state and (live or task.deadline_status == "met"):
        changes.update(deadline_status="withdrawn", paused_at=None, next_reminder_at=None)
    elif live and answered:  # answered on time or late, paused or not: the clock stops
        changes.update(deadline_status="met", paused_at=None, next_reminder_at=None)
    elif task.deadline_status == "met" and not answered:
        # sent back for more: the clock runs again, and so does the ladder
        changes["deadline_status"] = "running"
        changes["next_reminder_at"] = uow.core.next_reminder(kind, task, now)
    uow.cas_task(task, changes, expected_version)
    return uow.event(
        event_kind,
        activity_id=task.activity_id,
        task_id=task.id,
        trigger=trigger,
        from_state=from_state,
        to_state=to_state,
        inputs=values,
        reason=reason,
    )


def _late_working_days(uow: UnitOfWork, task: Task) -> int:
    """0 if answered by the deadline; else the working days since the due date, at
    least 1 (an answer on the Saturday after a Friday deadline is late)."""
    now: datetime = uow.now
    due_at = task.due_at
    if due_at is None or now <= due_at:
        return 0
    assert task.due_on is not None
    calendar = uow.core.calendar
    late = calendar.working_days_between(task.due_on, calendar.local_date(now))
    return max(late, 1)


def activity_effect(
    uow: UnitOfWork,
    wf: Workflow,
    activity: Activity,
    effect: str,
    *,
    tasks: Sequence[Task],
    agencies: Sequence[Agency],
    reason: str | None,
    outcome: Outcome,
) -> None:
    """Apply an activity transition's declared effect."""
    if effect == "withdraw_open_tasks":
        for task in tasks:
            if task.is_open:
                kind = wf.tasks[task.kind]
                assert kind.withdrawn_state is not None
                event_id = move_task(
                    uow,
                    task,
                    kind,
                    trigger="withdraw",
                    to_state=kind.withdrawn_state,
                    values={},
                    reason=reason,
                    event_kind="task_withdrawn",
                )
                withdrawn_notice(uow, wf, activity, task, event_id, outcome)
    elif effect == "spawn_action_plan":
        existing = open_child_plan(uow, activity)
        if existing is not None:  # actions already raised (from a question or a finding)
            uow.event(
                "spawned",
                activity_id=activity.id or 0,
                inputs={"action_plan": existing.ref, "already_open": True},
            )
            outcome.spawned.append(existing)
            return
        outcome.spawned.append(open_plan_for(uow, activity, agencies))
    else:  # pragma: no cover - validated at load
        raise ValueError(effect)


def task_effect(
    uow: UnitOfWork, kind: TaskKind, task: Task, effect: str, reason: str | None
) -> None:
    """Apply a task transition's declared effect."""
    if effect == "reprogramme":
        raw = task.data.get("new_target_date")
        if raw in (None, ""):
            raise InvalidInput(f"task {task.id}: no new_target_date requested to reprogramme to")
        calendar = uow.core.calendar
        new_date = calendar.local_date(as_moment(calendar, raw, "new_target_date"))
        due = Due(at=calendar.end_of_day(new_date), on=new_date, all_day=True)
        changes = {
            "due_at": due.at,
            "due_on": due.on,
            "deadline_status": "running",
            "paused_at": None,
            "deadline_sequence": task.deadline_sequence + 1,
            "next_reminder_at": uow.core.next_reminder(kind, task, uow.now, due),
        }
        old = task.due_on
        uow.cas_task(task, changes)
        uow.task_event(
            task,
            "deadline_reprogrammed",
            {
                "from": iso_date(old),
                "to": due.on.isoformat(),
                "original": iso_date(task.original_due_on),
            },
            reason,
        )
    elif effect == "ask_for_more_time":
        calendar = uow.core.calendar
        wanted = calendar.local_date(
            as_moment(calendar, task.data.get("requested_date"), "requested_date")
        )
        where = f"task {task.id}"
        if task.deadline_status not in ("running", "paused") or task.due_on is None:
            raise TransitionNotAllowed(f"{where} has no running deadline to move")
        if wanted <= task.due_on:
            raise InvalidInput(
                f"{where}: the date you can manage ({format_date(wanted)}) must be after the "
                f"deadline ({format_date(task.due_on)})"
            )
        counts_working_days = kind.deadline is not None and kind.deadline.unit == "working_days"
        if counts_working_days and not calendar.is_working_day(wanted):
            why = calendar.holiday_name(wanted) or "a weekend"
            raise InvalidInput(
                f"{where}: {format_date(wanted)} is not a working day ({why}); this deadline "
                "counts working days"
            )
        uow.cas_task(task, {"requested_due_on": wanted, "requested_due_by": uow.actor.id})
    else:  # pragma: no cover - validated at load
        raise ValueError(effect)


def withdrawn_notice(
    uow: UnitOfWork,
    wf: Workflow,
    activity: Activity,
    task: Task,
    event_id: int,
    outcome: Outcome,
) -> None:
    """Tell the agency its request is withdrawn, cancelling the calendar entry."""
    if task.agency_id is None or task.due_on is None:
        return
    notice = (Notify("request_withdrawn", "agency"),)
    uow.notify(wf, notice, activity, outcome, key=f"ev{event_id}", task=task)
