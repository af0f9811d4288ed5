"""Deadlines: extending, pausing, resuming and waiving a task's due date, each with its
reason and, where the rule asks for one, its approver; the reminder ladder is set again
and the agency (or the coordinator) told."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlmodel import Session, select

from ..calendar import DeadlineRule, Due, WorkingCalendar, format_date, shift_for_pause
from ..definitions import Notify, TaskKind
from ..errors import InvalidInput, NotFound, PermissionDenied, TransitionNotAllowed
from ..models import Staff, Task
from .core import Core, iso_date
from .lookups import task_with_activity
from .values import Actor, Outcome


def more_time_choices(actor: Actor, kind: TaskKind, task: Task) -> tuple[bool, bool]:
    """``(may agree, may decline)`` a request for more time waiting on ``task``: the roles
    its deadline's ``more_time_decided_by`` names, an agency's senior manager for their own
    agency's tasks only, never the person who asked; agreeing to move a statutory deadline
    needs a manager."""
    deadline = kind.deadline
    if not task.is_open or task.requested_due_on is None or deadline is None:
        return False, False
    if task.deadline_status not in ("running", "paused") or task.requested_due_by == actor.id:
        return False, False
    if not actor.may(deadline.more_time_decided_by):
        return False, False
    if actor.role == "agency" and (actor.agency_id != task.agency_id or not actor.sees(task)):
        return False, False
    return deadline.waivable or actor.may(("manager",)), True


class Deadlines:
    """Moves, stops, restarts and lifts task deadlines."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def change(
        self,
        actor: Actor,
        task_id: int,
        action: str,
        reason: str,
        approver: str | None,
        *,
        new_due: date | None = None,
    ) -> Outcome:
        """``extend`` (to ``new_due``), ``pause``, ``resume`` or ``waive`` the task's deadline."""
        if not actor.may(("coordinator", "manager")):
            raise PermissionDenied(f"{actor.role} {actor.id} may not {action} deadlines")
        reason = (reason or "").strip()
        if not reason:
            raise InvalidInput(f"a reason is required to {action} a deadline")
        core = self.core
        with core.unit(actor) as uow:
            session, now = uow.session, uow.now
            task, activity = task_with_activity(session, task_id)
            wf = core.workflow_for(session, activity)
            kind = wf.tasks[task.kind]
            where = f"task {task.id} ({task.kind}) of {activity.ref}"
            if not task.is_open:
                raise TransitionNotAllowed(f"{where} is {task.state}: its deadline is closed")
            if kind.deadline is None or task.deadline_status == "none":
                raise TransitionNotAllowed(f"{where} has no deadline")
            rule = kind.deadline.rule()
            needs_manager = action == "waive" or (action == "extend" and not rule.waivable)
            approver_id = _approver(session, approver, actor, action, needs_manager)
            change = _Change(core.calendar, task, rule, where, now)
            if approver_id:
                change.inputs["approver"] = approver_id
            if action == "extend":
                assert new_due is not None
                event_kind = change.extend(new_due)
            elif action == "pause":
                event_kind = change.pause()
            elif action == "resume":
                event_kind = change.resume()
            elif action == "waive":
                event_kind = change.waive()
            else:  # pragma: no cover
                raise ValueError(action)
            changes = change.changes
            if action != "pause":  # the date moves or the deadline ends: update invites
                changes["deadline_sequence"] = task.deadline_sequence + 1
            running = changes.get("deadline_status", change.status) == "running"
            if action in ("extend", "resume") and running:
                changes["next_reminder_at"] = core.next_reminder(kind, task, now, change.due())
            if action == "extend":  # whatever the agency asked for is settled
                changes.update(requested_due_on=None, requested_due_by=None)
            uow.cas_task(task, changes)
            assert activity.id is not None
            event_id = uow.task_event(task, event_kind, change.inputs, reason)
            outcome = Outcome(
                activity=activity, task=task, from_state=task.state, to_state=task.state
            )
            to = "agency" if task.agency_id is not None else "coordinator"
            notice = (Notify(template=event_kind, to=to),)
            uow.notify(wf, notice, activity, outcome, key=f"ev{event_id}", task=task)
            return outcome

    def decide_more_time(
        self,
        actor: Actor,
        task_id: int,
        agree: bool,
        reason: str | None,
        new_due: date | None = None,
    ) -> Outcome:
        """Agree to the date the agency asked for (the deadline moves there, or to ``new_due``
        when the decider changes it: later than the deadline, and checked as an extension
        is) or decline it (with a reason, and the agency is told); who may is the deadline's
        ``more_time_decided_by``. Moving a statutory deadline needs a manager."""
        core = self.core
        reason = (reason or "").strip() or None
        if new_due is not None and not agree:
            raise InvalidInput("a new date goes with agreeing to more time, not declining")
        with core.unit(actor) as uow:
            session, now = uow.session, uow.now
            task, activity = task_with_activity(session, task_id)
            wf = core.workflow_for(session, activity)
            kind = wf.tasks[task.kind]
            where = f"task {task.id} ({task.kind}) of {activity.ref}"
            asked = task.requested_due_on
            if not task.is_open or asked is None or kind.deadline is None:
                raise TransitionNotAllowed(f"{where}: no request for more time is waiting")
            may_agree, may_decline = more_time_choices(actor, kind, task)
            if not may_decline:
                if task.requested_due_by == actor.id:
                    raise PermissionDenied(
                        f"{where}: you asked for this more time, so someone else decides"
                    )
                deciders = kind.deadline.more_time_decided_by
                own = (
                    "; an agency's senior manager for their own agency"
                    if "agency_manager" in deciders
                    else ""
                )
                raise PermissionDenied(
                    f"{actor.role} {actor.id} may not decide on more time for {where} "
                    f"(allowed: {', '.join(deciders)}{own})"
                )
            rule = kind.deadline.rule()
            outcome = Outcome(
                activity=activity, task=task, from_state=task.state, to_state=task.state
            )
            if not agree:
                if reason is None:
                    raise InvalidInput("say why more time is not agreed (a reason)")
                uow.cas_task(task, {"requested_due_on": None, "requested_due_by": None})
                event_id = uow.task_event(
                    task, "more_time_declined", {"asked": asked.isoformat()}, reason
                )
                notice = (Notify(template="more_time_declined", to="agency"),)
                uow.notify(wf, notice, activity, outcome, key=f"ev{event_id}", task=task)
                return outcome
            if not may_agree:
                raise PermissionDenied(
                    f"{where}: moving a statutory deadline needs a manager to agree"
                )
            to = asked if new_due is None else new_due
            if task.due_on is not None and to <= task.due_on:  # moved meanwhile (a pause)
                chosen = "asked for" if new_due is None else "chosen"
                raise InvalidInput(
                    f"{where}: the deadline is already {format_date(task.due_on)}, on or after "
                    f"the date {chosen} ({format_date(to)}); decline the request instead"
                )
            change = _Change(core.calendar, task, rule, where, now)
            change.inputs["approver"] = actor.id
            change.inputs["asked"] = asked.isoformat()
            event_kind = change.extend(to)
            changes = change.changes
            changes["deadline_sequence"] = task.deadline_sequence + 1
            changes.update(requested_due_on=None, requested_due_by=None)
            if changes.get("deadline_status", change.status) == "running":
                changes["next_reminder_at"] = core.next_reminder(kind, task, now, change.due())
            uow.cas_task(task, changes)
            default = (
                "more time agreed as asked"
                if to == asked
                else f"more time agreed until {format_date(to)} (asked for {format_date(asked)})"
            )
            event_id = uow.task_event(task, event_kind, change.inputs, reason or default)
            notice = (Notify(template=event_kind, to="agency"),)
            uow.notify(wf, notice, activity, outcome, key=f"ev{event_id}", task=task)
            return outcome


class _Change:
    """One deadline change worked out before it is written: the task's new columns and
    the event's inputs. Each step refuses what its rule or the deadline's status forbids
    and returns the event's kind."""

    def __init__(
        self, calendar: WorkingCalendar, task: Task, rule: DeadlineRule, where: str, now: datetime
    ) -> None:
        self.calendar = calendar
        self.task = task
        self.rule = rule
        self.where = where
        self.now = now
        self.status = task.deadline_status
        self.changes: dict[str, Any] = {}
        self.inputs: dict[str, Any] = {}

    def extend(self, new_due: date) -> str:
        task, where, calendar = self.task, self.where, self.calendar
        if self.status not in ("running", "paused"):
            raise TransitionNotAllowed(f"{where}: deadline is {self.status}; cannot extend")
        created_on = calendar.local_date(task.created_at)
        if new_due < created_on:
            raise InvalidInput(
                f"{where}: {format_date(new_due)} is before the task was set "
                f"({format_date(created_on)})"
            )
        if self.rule.unit == "working_days" and not calendar.is_working_day(new_due):
            why = calendar.holiday_name(new_due) or "a weekend"
            raise InvalidInput(
                f"{where}: {format_date(new_due)} is not a working day ({why}); "
                "this deadline counts working days"
            )
        if task.due_all_day:
            due = Due(at=calendar.end_of_day(new_due), on=new_due, all_day=True)
        else:
            assert task.due_at is not None
            at_local = task.due_at.astimezone(calendar.tz)
            moved = datetime.combine(new_due, at_local.timetz())
            due = Due(at=moved, on=new_due, all_day=False)
        self.inputs.update({"from": iso_date(task.due_on), "to": new_due.isoformat()})
        self.changes.update(due_at=due.at, due_on=due.on)
        return "deadline_extended"

    def pause(self) -> str:
        if not self.rule.pausable:
            raise TransitionNotAllowed(f"{self.where}: this deadline cannot be paused")
        if self.status != "running":
            raise TransitionNotAllowed(f"{self.where}: deadline is {self.status}; cannot pause")
        self.changes.update(deadline_status="paused", paused_at=self.now, next_reminder_at=None)
        return "deadline_paused"

    def resume(self) -> str:
        task = self.task
        if self.status != "paused" or task.paused_at is None:
            raise TransitionNotAllowed(f"{self.where}: deadline is {self.status}; cannot resume")
        assert task.due_at is not None
        assert task.due_on is not None
        old = Due(at=task.due_at, on=task.due_on, all_day=task.due_all_day)
        due = shift_for_pause(self.rule, old, task.paused_at, self.now, self.calendar)
        self.inputs.update({"from": iso_date(task.due_on), "to": due.on.isoformat()})
        self.changes.update(deadline_status="running", paused_at=None, due_at=due.at, due_on=due.on)
        return "deadline_resumed"

    def waive(self) -> str:
        if not self.rule.waivable:
            raise TransitionNotAllowed(
                f"{self.where}: this deadline is statutory and cannot be waived"
            )
        if self.status not in ("running", "paused"):
            raise TransitionNotAllowed(f"{self.where}: deadline is {self.status}; cannot waive")
        self.changes.update(deadline_status="waived", paused_at=None, next_reminder_at=None)
        return "deadline_waived"

    def due(self) -> Due:
        """The due date once the change is made."""
        task, changes = self.task, self.changes
        new_at = changes.get("due_at", task.due_at)
        new_on = changes.get("due_on", task.due_on)
        assert new_at is not None
        assert new_on is not None
        return Due(at=new_at, on=new_on, all_day=task.due_all_day)


def _approver(
    session: Session, approver: str | None, actor: Actor, action: str, manager: bool
) -> str | None:
    """Who approved; a manager where the rule needs one. Pause and resume need nobody."""
    what = "waiving a deadline" if action == "waive" else "moving a statutory deadline"
    if approver is None:
        if manager:
            raise InvalidInput(f"{what} needs an approver (a manager's email, --approver)")
        return actor.id if action == "extend" else None
    staff = session.exec(select(Staff).where(Staff.email == approver.lower())).first()
    if staff is None or not staff.active:
        raise NotFound(f"approver {approver} is not active staff")
    if manager and staff.role not in ("manager", "admin"):
        raise PermissionDenied(f"approver {approver} is a {staff.role}; {what} needs a manager")
    return staff.email
