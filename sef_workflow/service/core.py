"""What every capability of the service shares.

:class:`Core` holds the database, the workflow definitions (each pinned version compiled
once), the calendar, the clock, the working hours, the assessment forms and the notifier.
:class:`UnitOfWork` is one transaction: its session, the moment it acts at and who acts;
it appends events, compare-and-sets activity and task rows on their ``version`` column,
and queues the emails a change causes in the same transaction. Below them sit the checks
every trigger passes: the transition exists in this state, the actor's role may fire it,
an agency acts only on its own tasks, a reason is there where one is required.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from ..calendar import Due, WorkingCalendar
from ..clock import Clock
from ..db import Database
from ..definitions import Notify, Registry, TaskKind, TransitionDef, Workflow
from ..errors import (
    ConcurrentUpdate,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TransitionNotAllowed,
)
from ..forms import FormRegistry
from ..ladder import Rung, WorkingHours, rungs
from ..ladder import next_at as next_rung_at
from ..models import Activity, Agency, Event, Task, WorkflowDefinition
from ..notify.outbox import About, Notifier
from ..sql import insert_new
from ..views import task_due
from .lookups import activity_agencies, agency_rows
from .values import Actor, Outcome, PlannedNotification


class Core:
    """The database, definitions, calendar, clock, hours, forms and notifier, shared by
    every capability; the compiled definition of each pinned version, built once."""

    def __init__(
        self,
        db: Database,
        registry: Registry,
        calendar: WorkingCalendar,
        clock: Clock,
        notifier: Notifier | None,
        hours: WorkingHours,
        forms: FormRegistry,
    ) -> None:
        self.db = db
        self.registry = registry
        self.calendar = calendar
        self.clock = clock
        self.notifier = notifier
        self.hours = hours
        self.forms = forms
        self._definitions: dict[int, Workflow] = {}

    def workflow_for(self, session: Session, activity: Activity) -> Workflow:
        """The compiled definition the activity is pinned to (built once per version)."""
        wf = self._definitions.get(activity.definition_id)
        if wf is None:
            row = session.get(WorkflowDefinition, activity.definition_id)
            if row is None:  # pragma: no cover - foreign key
                raise NotFound(f"workflow definition {activity.definition_id} not found")
            wf = self.registry.pinned(row.name, row.version, row.source, row.parameters)
            self._definitions[activity.definition_id] = wf
        return wf

    def pin(self, session: Session, wf: Workflow, now: datetime) -> int:
        """The stored row of this definition version, created by whoever opens it first."""
        table = WorkflowDefinition.__table__  # type: ignore[attr-defined]
        values = {
            "name": wf.name,
            "version": wf.version,
            "source": wf.source,
            "parameters": dict(wf.parameters),
            "created_at": now,
        }
        insert_new(session, table, values, ("name", "version"))
        definition_id: int = session.execute(
            sa.select(table.c.id).where(table.c.name == wf.name, table.c.version == wf.version)
        ).scalar_one()
        self._definitions.setdefault(definition_id, wf)
        return definition_id

    def unit(self, actor: Actor) -> UnitOfWork:
        """A unit of work for ``actor`` at this moment, to open with ``with``."""
        return UnitOfWork(self, actor)

    def rungs_for(self, kind: TaskKind, task: Task, due: Due | None = None) -> list[Rung]:
        """The task's reminder ladder laid out against its due date (or ``due``)."""
        due = due or task_due(task)
        if due is None:
            return []
        return rungs(
            kind.ladder, due, self.calendar, self.hours, agency_task=task.agency_id is not None
        )

    def next_reminder(
        self, kind: TaskKind, task: Task, now: datetime, due: Due | None = None
    ) -> datetime | None:
        """When the task's ladder next needs the sweep, counting only rungs after ``now``."""
        return next_rung_at(self.rungs_for(kind, task, due), now)


class UnitOfWork:
    """One transaction: its session, the moment and the actor; the events, row changes
    and emails it writes all commit together or not at all.

    ``with core.unit(actor) as uow:`` reads the clock, then opens the transaction; it
    commits when the block returns and rolls back if it raises."""

    __slots__ = ("_transaction", "actor", "core", "now", "session")

    session: Session

    def __init__(self, core: Core, actor: Actor) -> None:
        self.core = core
        self.actor = actor
        self.now = core.clock.now()

    def __enter__(self) -> UnitOfWork:
        self._transaction = self.core.db.write()
        self.session = self._transaction.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return self._transaction.__exit__(exc_type, exc, tb)

    def event(
        self,
        kind: str,
        *,
        activity_id: int | None,
        task_id: int | None = None,
        trigger: str | None = None,
        from_state: str | None = None,
        to_state: str | None = None,
        inputs: Mapping[str, Any] | None = None,
        reason: str | None = None,
    ) -> int:
        """Append an event by the actor at this moment; its id."""
        result = self.session.connection().execute(
            _EVENT_INSERT,
            {
                "activity_id": activity_id,
                "task_id": task_id,
                "at": self.now,
                "actor": self.actor.id,
                "actor_role": self.actor.role,
                "kind": kind,
                "trigger": trigger,
                "from_state": from_state,
                "to_state": to_state,
                "inputs": jsonable(inputs) if inputs else {},
                "reason": reason,
            },
        )
        event_id: int = result.scalar_one()
        return event_id

    def task_event(
        self, task: Task, kind: str, inputs: Mapping[str, Any], reason: str | None = None
    ) -> int:
        """An event on a task that leaves its state as it is (answers, deadline, reminder)."""
        return self.event(
            kind,
            activity_id=task.activity_id,
            task_id=task.id,
            from_state=task.state,
            to_state=task.state,
            inputs=inputs,
            reason=reason,
        )

    def cas_activity(
        self,
        activity: Activity,
        *,
        expected: int,
        state: str,
        data: dict[str, Any],
        closed_at: datetime | None,
    ) -> None:
        """Compare-and-set on the activity's version; the object keeps in step."""
        now = self.now
        table = Activity.__table__  # type: ignore[attr-defined]
        result = self.session.execute(
            sa.update(table)
            .where(table.c.id == activity.id, table.c.version == expected)
            .values(
                state=state, data=data, version=expected + 1, updated_at=now, closed_at=closed_at
            )
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise ConcurrentUpdate(
                f"{activity.ref} was changed by someone else (expected version {expected}, "
                f"now {activity.version}); nothing was written, reload and try again"
            )
        # keep the returned object in step without another SELECT
        if activity in self.session:
            self.session.expunge(activity)
        activity.state = state
        activity.data = data
        activity.version = expected + 1
        activity.updated_at = now
        activity.closed_at = closed_at

    def bump(self, activity: Activity) -> None:
        """Record that the activity changed (tasks added) so concurrent edits notice."""
        self.cas_activity(
            activity,
            expected=activity.version,
            state=activity.state,
            data=activity.data,
            closed_at=activity.closed_at,
        )

    def cas_task(self, task: Task, changes: dict[str, Any], expected: int | None = None) -> None:
        """Compare-and-set on the task's version (its current one unless ``expected``);
        the statement is built once per column set."""
        now = self.now
        expected = task.version if expected is None else expected
        stmt = _task_update(frozenset(changes))
        params = {
            **changes,
            "_id": task.id,
            "_expected": expected,
            "_version": expected + 1,
            "updated_at": now,
        }
        result = self.session.connection().execute(stmt, params)
        if result.rowcount != 1:
            raise ConcurrentUpdate(
                f"task {task.id} was changed by someone else since version {expected}; "
                "nothing was written, reload and try again"
            )
        if task in self.session:
            self.session.expunge(task)
        for key, value in changes.items():
            setattr(task, key, value)
        task.version = expected + 1
        task.updated_at = now

    def notify(
        self,
        wf: Workflow,
        notify: Sequence[Notify],
        activity: Activity,
        outcome: Outcome,
        *,
        key: str,
        task: Task | None = None,
        agencies: Sequence[Agency] | None = None,
    ) -> None:
        """Queue each declared notification in this transaction, one email per recipient.

        ``agency`` and ``agency_manager`` go to the agency of ``task``, or of each task the
        change created; ``activity_agencies`` to every agency taking part.
        """
        notifier = self.core.notifier
        if not notify or notifier is None:
            return
        session = self.session
        assert activity.id is not None
        if agencies is None and any(n.to == "activity_agencies" for n in notify):
            agencies = activity_agencies(session, activity.id)
        agencies = agencies or []
        by_id = {a.id: a for a in agencies}
        wanted = {t.agency_id for t in ([task] if task is not None else outcome.created_tasks)}
        missing = [i for i in wanted if i is not None and i not in by_id]
        if missing:
            by_id.update({a.id: a for a in agency_rows(session, missing)})
        for n in notify:
            if n.to == "agency_manager" or n.to.partition(":")[0] == "agency":
                targets = [task] if task is not None else outcome.created_tasks
                abouts = [
                    About(activity, wf.title, t, by_id.get(t.agency_id))
                    for t in targets
                    if t.agency_id is not None
                ]
            else:
                agency = by_id.get(task.agency_id) if task is not None else None
                abouts = [About(activity, wf.title, task, agency)]
            for about in abouts:
                task_key = about.task.id if about.task is not None else 0
                recipients = notifier.recipients(session, n.to, about, agencies)
                notifier.queue(
                    session,
                    key=f"{key}:t{task_key}",
                    template=n.template,
                    about=about,
                    recipients=recipients,
                    now=self.now,
                )
                outcome.notifications.extend(
                    PlannedNotification(
                        n.template,
                        n.to,
                        activity.id,
                        about.task.id if about.task is not None else None,
                        r.agency.id if r.agency is not None else None,
                        r.to,
                    )
                    for r in recipients
                )


def transition(machine: Workflow | TaskKind, state: str, trigger: str, where: str) -> TransitionDef:
    """The transition ``trigger`` from ``state``; refused, naming what is allowed, if none."""
    t = machine.transition_for(trigger, state)
    if t is None:
        allowed = ", ".join(machine.allowed_triggers(state)) or "none (final state)"
        known = "" if machine.has_trigger(trigger) else " (no such trigger)"
        raise TransitionNotAllowed(
            f"cannot fire '{trigger}'{known} on {where} in state '{state}'; allowed: {allowed}"
        )
    return t


def check_role(actor: Actor, t: TransitionDef, what: str) -> None:
    if not actor.may(t.roles):
        raise PermissionDenied(
            f"{actor.role} {actor.id} may not fire {what} (allowed: {', '.join(t.roles)})"
        )


def check_agency_scope(actor: Actor, task: Task, where: str) -> None:
    """An agency's people act only on its own tasks; a named contact only on those meant for
    them."""
    if actor.role != "agency" or actor.sees(task):
        return
    if task.agency_id is None or task.agency_id != actor.agency_id:
        raise PermissionDenied(f"{where} belongs to another agency")
    raise PermissionDenied(f"{where} is not one of the tasks given to {actor.id}")


def clean_reason(reason: str | None, t: TransitionDef, trigger: str) -> str | None:
    reason = (reason or "").strip() or None
    if t.reason_required and reason is None:
        raise InvalidInput(f"'{trigger}' needs a reason (--reason)")
    return reason


def iso_date(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None


def jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(dict(values), default=str))
    return out


_TASK_TABLE: sa.Table = Task.__table__  # type: ignore[attr-defined]
_EVENT_TABLE: sa.Table = Event.__table__  # type: ignore[attr-defined]
_EVENT_INSERT = sa.insert(_EVENT_TABLE).returning(_EVENT_TABLE.c.id)


@functools.cache
def _task_update(columns: frozenset[str]) -> sa.Update:
    """UPDATE task SET <columns>, version, updated_at WHERE id AND version: built once per set."""
    t = _TASK_TABLE
    return (
        sa.update(t)
        .where(t.c.id == sa.bindparam("_id"), t.c.version == sa.bindparam("_expected"))
        .values(
            {t.c[name]: sa.bindparam(name) for name in sorted(columns)}
            | {t.c.version: sa.bindparam("_version"), t.c.updated_at: sa.bindparam("updated_at")}
        )
    )
