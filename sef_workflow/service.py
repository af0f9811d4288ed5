"""The one door for change.

Every change to an activity, a task, a deadline or the directory goes through
:class:`Service`. Each public method is one transaction: it reads the row, checks state,
role, inputs and guards against the workflow's compiled machine, applies the change with a
compare-and-set on the row's ``version`` column, and appends the events that record it.
If anything fails, nothing is written. The CLI, the web app and the scheduler call this;
none of them writes state itself.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from . import assessments as forms_
from .assessments import AnswerInput, AssessmentView, Moderation
from .calendar import Due, WorkingCalendar, compute_due, format_date, shift_for_pause
from .clock import Clock
from .db import Database
from .definitions import Notify, Registry, TaskKind, TransitionDef, Workflow
from .directory import AgencyRecord, check_record, normalise_email
from .errors import (
    ConcurrentUpdate,
    GuardFailed,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TransitionNotAllowed,
)
from .forms import FormRegistry
from .guards import GuardContext, evaluate
from .inputs import coerce_inputs
from .ladder import Rung, WorkingHours, pick, rungs
from .ladder import next_at as next_rung_at
from .models import (
    STAFF_ROLES,
    Activity,
    ActivityAgency,
    Agency,
    Assessment,
    AssessmentAnswer,
    Event,
    Finding,
    Notification,
    ProgrammeRun,
    ReferenceCounter,
    Staff,
    Task,
    WorkflowDefinition,
)
from .notify.outbox import About, Notifier
from .sql import insert_new, upsert
from .views import task_due

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """Who is acting: a member of staff, an agency contact, or the system itself."""

    id: str
    role: str
    agency_id: int | None = None
    name: str = ""

    @classmethod
    def system(cls) -> Actor:
        return cls(id="system", role="system", name="sef-workflow")

    def may(self, roles: Iterable[str]) -> bool:
        roles = tuple(roles)
        return self.role in roles or (self.role == "admin" and bool(set(roles) & set(STAFF_ROLES)))


@dataclass(frozen=True)
class PlannedNotification:
    """An email a change asks for: which template, to whom, about which task."""

    template: str
    to: str
    activity_id: int
    task_id: int | None = None
    agency_id: int | None = None
    address: str | None = None


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int


@dataclass(frozen=True)
class TaskFilter:
    """Which tasks to list. ``None`` means any."""

    agency: str | None = None
    state: str | None = None
    activity: str | None = None
    kind: str | None = None
    overdue: bool = False
    due_before: date | None = None
    include_closed: bool = False
    limit: int = 500


#: Kinds of finding an activity records.
FINDING_KINDS: tuple[str, ...] = ("finding", "recommendation")
#: An action plan's origin, by the workflow it answers.
PLAN_ORIGINS: dict[str, str] = {
    "themed_audit": "audit",
    "practice_review": "practice_review",
    "section11": "section11",
}


@dataclass(frozen=True)
class Disagreement:
    """An answer whose moderated rating differs from the agency's own: for the challenge event."""

    assessment_id: int
    agency: str
    agency_code: str
    question: str
    standard: str
    text: str
    self_rating: str
    moderated_rating: str
    #: moderated score minus self score: negative when the panel rated lower
    difference: int
    reason: str


def _question_order(number: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(p), "") if p.isdigit() else (0, p) for p in number.split("."))


@dataclass(frozen=True)
class SweepReport:
    """What one reminder sweep found and did."""

    due: int
    sent: int
    skipped: int
    errors: int
    outside_hours: bool = False


@dataclass
class Outcome:
    """What a service call did."""

    activity: Activity
    task: Task | None = None
    from_state: str | None = None
    to_state: str | None = None
    created_tasks: list[Task] = field(default_factory=list)
    spawned: list[Activity] = field(default_factory=list)
    notifications: list[PlannedNotification] = field(default_factory=list)


class Service:
    """Opens activities, fires triggers, manages deadlines; one transaction per call."""

    def __init__(
        self,
        db: Database,
        registry: Registry,
        calendar: WorkingCalendar,
        clock: Clock,
        notifier: Notifier | None = None,
        hours: WorkingHours | None = None,
        forms: FormRegistry | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.calendar = calendar
        self.clock = clock
        self.notifier = notifier
        self.hours = hours or WorkingHours()
        #: assessment forms; by default the ``forms`` folder beside the workflows folder
        self.forms = forms or FormRegistry(registry.directory.parent / "forms")
        self._definitions: dict[int, Workflow] = {}

    # ------------------------------------------------------------------ definitions
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

    def _pin(self, session: Session, wf: Workflow, now: datetime) -> int:
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

    # ------------------------------------------------------------------ directory
    def import_agencies(self, actor: Actor, records: Sequence[AgencyRecord]) -> ImportResult:
        """Create or update agencies by code, all in one transaction."""
        if not actor.may(("admin", "coordinator", "system")):
            raise PermissionDenied(f"{actor.role} {actor.id} may not change the directory")
        checked: list[AgencyRecord] = []
        for i, record in enumerate(records, start=1):
            try:
                checked.append(check_record(record))
            except ValueError as exc:
                raise InvalidInput(f"agency {i} ({record.code}): {exc}; nothing imported") from None
        created = updated = 0
        with self.db.write() as session:
            existing = {a.code: a for a in session.exec(select(Agency))}
            by_name = {a.name.lower(): a for a in existing.values()}
            contact_of: dict[str, str] = {}  # an agency contact acts for one agency only
            incoming = {r.code for r in checked}
            for a in existing.values():
                if a.code not in incoming:
                    for address in (a.lead_email, a.deputy_email):
                        if address:
                            contact_of[address] = a.code
            for record in checked:
                for address in (record.lead_email, record.deputy_email):
                    if address and contact_of.setdefault(address, record.code) != record.code:
                        raise InvalidInput(
                            f"agency {record.code}: {address} is already a contact of "
                            f"{contact_of[address]}; an agency contact acts for one agency only; "
                            "nothing imported"
                        )
            for record in checked:
                other = by_name.get(record.name.lower())
                if other is not None and other.code != record.code:
                    raise InvalidInput(
                        f"agency {record.code}: duplicate name {record.name!r}, already used by "
                        f"{other.code}; nothing imported"
                    )
                row = existing.get(record.code)
                if row is None:
                    row = Agency(**record.__dict__)
                    session.add(row)
                    existing[record.code] = row
                    created += 1
                else:
                    for key, value in record.__dict__.items():
                        setattr(row, key, value)
                    row.active = True
                    updated += 1
                by_name[record.name.lower()] = row
            session.flush()
        return ImportResult(created=created, updated=updated)

    def add_staff(self, actor: Actor, name: str, email: str, role: str) -> Staff:
        """Add a coordinator, manager or admin (or update the one with that email)."""
        if not actor.may(("admin", "system")):
            raise PermissionDenied(f"{actor.role} {actor.id} may not change staff")
        if role not in STAFF_ROLES:
            raise InvalidInput(f"unknown staff role {role!r} (allowed: {', '.join(STAFF_ROLES)})")
        if not name.strip():
            raise InvalidInput("staff need a name")
        try:
            address = normalise_email(email)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        with self.db.write() as session:
            row = session.exec(select(Staff).where(Staff.email == address)).first()
            if row is None:
                row = Staff(name=name.strip(), email=address, role=role)
                session.add(row)
            else:
                row.name, row.role, row.active = name.strip(), role, True
            session.flush()
            return row

    def resolve_actor(self, email: str) -> Actor:
        """The staff member, or the agency whose lead or deputy has this email."""
        address = email.strip().lower()
        with self.db.read() as session:
            staff = session.exec(select(Staff).where(Staff.email == address)).first()
            if staff is not None:
                if not staff.active:
                    raise PermissionDenied(f"{address} is no longer active")
                return Actor(id=staff.email, role=staff.role, name=staff.name)
            agency = session.exec(
                select(Agency).where(
                    sa.or_(col(Agency.lead_email) == address, col(Agency.deputy_email) == address)
                )
            ).first()
            if agency is not None and agency.active:
                return Actor(id=address, role="agency", agency_id=agency.id, name=agency.name)
        raise NotFound(f"{address} is neither staff nor an agency contact (see: sef staff list)")

    # ------------------------------------------------------------------ outbox
    def retry_email(self, actor: Actor, notification_id: int) -> None:
        """Put a failed email back in the queue, due now (coordinators and managers)."""
        if not actor.may(("coordinator", "manager")):
            raise PermissionDenied(f"{actor.role} {actor.id} may not retry emails")
        from .notify.delivery import retry

        retry(self.db, notification_id, self.clock)
        log.info("email %s queued again by %s", notification_id, actor.id)

    # ------------------------------------------------------------------ reading
    def get_activity(self, ref: str) -> tuple[Activity, Workflow, list[Agency], list[Task]]:
        with self.db.read() as session:
            activity = self._activity(session, ref)
            assert activity.id is not None
            return (
                activity,
                self.workflow_for(session, activity),
                self._activity_agencies(session, activity.id),
                self._tasks_of(session, activity.id),
            )

    def list_activities(
        self, workflow: str | None = None, state: str | None = None, include_closed: bool = True
    ) -> list[Activity]:
        with self.db.read() as session:
            q = select(Activity).order_by(col(Activity.opened_at).desc(), col(Activity.id).desc())
            if workflow:
                q = q.where(Activity.workflow == workflow)
            if state:
                q = q.where(Activity.state == state)
            if not include_closed:
                q = q.where(col(Activity.closed_at).is_(None))
            return list(session.exec(q).all())

    def list_tasks(self, f: TaskFilter) -> list[tuple[Task, Activity, Agency | None]]:
        now = self.clock.now()
        with self.db.read() as session:
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
        with self.db.read() as session:
            return self._task(session, task_id)

    def timeline(self, ref: str) -> list[Event]:
        with self.db.read() as session:
            activity = self._activity(session, ref)
            return list(
                session.exec(
                    select(Event).where(Event.activity_id == activity.id).order_by(col(Event.id))
                ).all()
            )

    def notifications_for(self, ref: str) -> list[Notification]:
        """The activity's emails, oldest first, with their delivery state."""
        with self.db.read() as session:
            activity = self._activity(session, ref)
            return list(
                session.exec(
                    select(Notification)
                    .where(Notification.activity_id == activity.id)
                    .order_by(col(Notification.id))
                ).all()
            )

    def list_agencies(self) -> list[Agency]:
        with self.db.read() as session:
            return list(session.exec(select(Agency).order_by(col(Agency.code))).all())

    def list_staff(self) -> list[Staff]:
        with self.db.read() as session:
            return list(
                session.exec(select(Staff).order_by(col(Staff.role), col(Staff.email))).all()
            )

    # ------------------------------------------------------------------ activities
    def open_activity(
        self,
        actor: Actor,
        workflow: str,
        title: str,
        agencies: Sequence[str] = (),
        inputs: Mapping[str, Any] | None = None,
        parent_ref: str | None = None,
    ) -> Outcome:
        """Open a new activity of ``workflow`` for the agencies named by code."""
        outcome = self._open(actor, workflow, title, agencies, inputs, parent_ref, None)
        assert outcome is not None
        return outcome

    def open_once(
        self,
        actor: Actor,
        key: str,
        workflow: str,
        title: str,
        agencies: Sequence[str] = (),
        inputs: Mapping[str, Any] | None = None,
    ) -> Outcome | None:
        """Open an activity unless one was already opened under ``key`` (e.g. a programme
        entry and its period); ``None`` when it was. Safe for several workers at once."""
        try:
            return self._open(actor, workflow, title, agencies, inputs, None, key)
        except _AlreadyOpened:
            return None

    def _open(
        self,
        actor: Actor,
        workflow: str,
        title: str,
        agencies: Sequence[str],
        inputs: Mapping[str, Any] | None,
        parent_ref: str | None,
        once_key: str | None,
    ) -> Outcome | None:
        wf = self.registry.get(workflow)
        if not actor.may(wf.open_roles):
            raise PermissionDenied(
                f"{actor.role} {actor.id} may not open a {wf.name} (allowed: {', '.join(wf.open_roles)})"
            )
        title = title.strip()
        if not title:
            raise InvalidInput("an activity needs a title")
        values = coerce_inputs(wf.open_inputs, inputs or {}, f"opening {wf.name}")
        now = self.clock.now()
        with self.db.write() as session:
            agency_rows = self._agencies_by_code(session, agencies)
            if wf.agencies == "required" and not agency_rows:
                raise InvalidInput(f"a {wf.name} needs at least one agency (--agency CODE)")
            if wf.agencies == "none" and agency_rows:
                raise InvalidInput(f"a {wf.name} does not take agencies")
            parent_id = None
            if parent_ref is not None:
                parent_id = self._activity(session, parent_ref).id
            activity = self._insert_activity(
                session, actor, wf, title, agency_rows, values, now, parent_id
            )
            outcome = Outcome(activity=activity, to_state=activity.state)
            event_id = self._event(
                session,
                activity.id,
                None,
                actor,
                now,
                "opened",
                None,
                None,
                activity.state,
                values,
                None,
            )
            self._create_tasks(
                session, actor, wf, activity, wf.open_creates, agency_rows, now, outcome
            )
            self._notify(
                session,
                wf,
                wf.open_notify,
                activity,
                outcome,
                f"ev{event_id}",
                now,
                agencies=agency_rows,
            )
            if once_key is not None and not self._claim_once(session, once_key, activity, now):
                raise _AlreadyOpened  # by this worker earlier or another: undo all of it
        return outcome

    def _claim_once(self, session: Session, key: str, activity: Activity, now: datetime) -> bool:
        table = ProgrammeRun.__table__  # type: ignore[attr-defined]
        values = {"key": key[:200], "activity_id": activity.id, "opened_at": now}
        return insert_new(session, table, values, ("key",))

    def _insert_activity(
        self,
        session: Session,
        actor: Actor,
        wf: Workflow,
        title: str,
        agencies: Sequence[Agency],
        values: Mapping[str, Any],
        now: datetime,
        parent_id: int | None,
    ) -> Activity:
        definition_id = self._pin(session, wf, now)
        ref = self._next_reference(session, wf.reference_prefix, self.calendar.local_date(now).year)
        activity = Activity(
            ref=ref,
            workflow=wf.name,
            definition_id=definition_id,
            state=wf.initial,
            title=title,
            data=dict(values),
            opened_by=actor.id,
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

    def _next_reference(self, session: Session, prefix: str, year: int) -> str:
        """The next number for the prefix and year, taken atomically (safe for two openers)."""
        table = ReferenceCounter.__table__  # type: ignore[attr-defined]
        number = upsert(
            session,
            table,
            {"prefix": prefix, "year": year, "last": 1},
            ("prefix", "year"),
            {"last": table.c.last + 1},
            returning=table.c.last,
        )
        return f"{prefix}-{year}-{number:03d}"

    def fire(
        self,
        actor: Actor,
        ref: str,
        trigger: str,
        inputs: Mapping[str, Any] | None = None,
        reason: str | None = None,
        expected_version: int | None = None,
        answers: Mapping[str, AnswerInput] | None = None,
    ) -> Outcome:
        """Fire ``trigger`` on the activity ``ref``. A transition that records a judgements
        form takes its ratings in ``answers``; they are checked and kept as an assessment."""
        now = self.clock.now()
        with self.db.write() as session:
            activity = self._activity(session, ref)
            wf = self.workflow_for(session, activity)
            assert activity.id is not None
            needs_tasks = self._needs_tasks(wf, activity.state, trigger)
            tasks = self._tasks_of(session, activity.id) if needs_tasks else []
            t, values, reason = self._check(
                session,
                actor,
                wf,
                activity,
                activity.state,
                trigger,
                activity.ref,
                inputs,
                reason,
                tasks if needs_tasks else None,
            )
            from_state = activity.state
            to_state = wf.next_state(trigger, from_state)
            if t.form is not None:
                values = {
                    **values,
                    **self._record_judgements(session, actor, activity, t, answers or {}, now),
                }
            elif answers:
                raise InvalidInput(f"'{trigger}' on {activity.ref} records no form answers")
            data = {**activity.data, **values}
            expected = activity.version if expected_version is None else expected_version
            closed_at = now if wf.is_final(to_state) else None
            self._cas_activity(session, activity, expected, to_state, data, now, closed_at)
            outcome = Outcome(activity=activity, from_state=from_state, to_state=to_state)
            event_id = self._event(
                session,
                activity.id,
                None,
                actor,
                now,
                "transition",
                trigger,
                from_state,
                to_state,
                values,
                reason,
            )
            for kind_name in t.completes:
                kind = wf.tasks[kind_name]
                assert kind.complete_state is not None
                for task in tasks:
                    if task.kind == kind_name and task.is_open:
                        self._move_task(
                            session,
                            actor,
                            now,
                            task,
                            kind,
                            trigger,
                            kind.complete_state,
                            {},
                            reason,
                            "task_completed",
                        )
            agencies = self._activity_agencies(session, activity.id)
            self._create_tasks(session, actor, wf, activity, t.creates, agencies, now, outcome)
            for effect in t.effects:
                self._activity_effect(
                    session, actor, wf, activity, effect, tasks, agencies, now, reason, outcome
                )
            self._notify(
                session, wf, t.notify, activity, outcome, f"ev{event_id}", now, agencies=agencies
            )
        return outcome

    def _record_judgements(
        self,
        session: Session,
        actor: Actor,
        activity: Activity,
        t: TransitionDef,
        answers: Mapping[str, AnswerInput],
        now: datetime,
    ) -> dict[str, Any]:
        """A meeting's judgements: every required rating there, stored as a submitted
        assessment of the transition's stage (recorded again, it replaces the ratings)."""
        assert t.form is not None
        assert t.form_stage is not None
        form = self.forms.get(t.form)
        scale = forms_.scale_for(self.forms, form, activity)
        where = f"'{t.trigger}' on {activity.ref}"
        clean = forms_.clean_answers(form, scale, answers, where)
        table = AssessmentAnswer.__table__  # type: ignore[attr-defined]
        existing = session.exec(
            select(Assessment).where(
                Assessment.activity_id == activity.id,
                Assessment.stage == t.form_stage,
                Assessment.form_name == form.name,
                col(Assessment.task_id).is_(None),
            )
        ).first()
        if existing is None:
            assessment = Assessment(
                activity_id=activity.id or 0,
                form_definition_id=forms_.pin_form(session, form, now),
                form_name=form.name,
                scale=scale.name,
                scale_definition=forms_.scale_snapshot(scale),
                stage=t.form_stage,
                status="draft",
                created_at=now,
                updated_at=now,
            )
            session.add(assessment)
            session.flush()
        else:
            assessment = existing
            session.execute(sa.delete(table).where(table.c.assessment_id == assessment.id))
        forms_.write_answers(session, assessment, form, scale, clean, {}, actor.id, now)
        stored = forms_.answers_of(session, assessment.id or 0)
        missing = forms_.problems(form, stored)
        if missing:
            raise InvalidInput(f"cannot record {where}: " + "; ".join(missing))
        forms_.cas_assessment(
            session,
            assessment,
            assessment.version,
            {
                "status": "submitted",
                "submitted_at": now,
                "submitted_by": actor.id,
                "updated_at": now,
                "form_definition_id": forms_.pin_form(session, form, now),
                "scale": scale.name,
                "scale_definition": forms_.scale_snapshot(scale),
            },
        )
        return {"assessment": assessment.id, **forms_.summary(form, stored)}

    def _cas_activity(
        self,
        session: Session,
        activity: Activity,
        expected: int,
        state: str,
        data: dict[str, Any],
        now: datetime,
        closed_at: datetime | None,
    ) -> None:
        table = Activity.__table__  # type: ignore[attr-defined]
        result = session.execute(
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
        if activity in session:
            session.expunge(activity)
        activity.state = state
        activity.data = data
        activity.version = expected + 1
        activity.updated_at = now
        activity.closed_at = closed_at

    def _needs_tasks(self, wf: Workflow, state: str, trigger: str) -> bool:
        t = wf.transition_for(trigger, state)
        return t is not None and bool(t.guards or t.completes or "withdraw_open_tasks" in t.effects)

    def _check(
        self,
        session: Session,
        actor: Actor,
        machine: Workflow | TaskKind,
        activity: Activity,
        state: str,
        trigger: str,
        where: str,
        inputs: Mapping[str, Any] | None,
        reason: str | None,
        tasks: list[Task] | None,
        *,
        task: Task | None = None,
    ) -> tuple[TransitionDef, dict[str, Any], str | None]:
        """The transition ``trigger`` from ``state``, once state, role, inputs, reason and
        guards allow it; its checked inputs and reason. Raises the error that says why not."""
        t = self._transition(machine, state, trigger, where)
        self._check_role(actor, t, f"'{trigger}' on {where}")
        values = coerce_inputs(t.inputs, inputs or {}, f"'{trigger}' on {where}")
        reason = _clean_reason(reason, t, trigger)
        if t.guards:
            assert activity.id is not None
            extra: dict[str, Any] = {}
            for g in t.guards:
                name, _, arg = g.partition(":")
                if name == "answers_moderated" and task is not None:
                    extra["unmoderated"] = self._unmoderated(session, activity, task, arg)
            ctx = GuardContext(
                activity_data=activity.data,
                agency_count=self._agency_count(session, activity.id),
                tasks=tasks if tasks is not None else self._tasks_of(session, activity.id),
                inputs=values,
                task=task,
                extra=extra,
            )
            refused = evaluate(t.guards, ctx)
            if refused is not None:
                raise GuardFailed(
                    f"cannot fire '{trigger}' on {where}: guard '{refused[0]}' refused: "
                    f"{refused[1]}"
                )
        return t, values, reason

    # ------------------------------------------------------------------ tasks
    def fire_task(
        self,
        actor: Actor,
        task_id: int,
        trigger: str,
        inputs: Mapping[str, Any] | None = None,
        reason: str | None = None,
        expected_version: int | None = None,
    ) -> Outcome:
        """Fire ``trigger`` on one task (an agency's return, an action, a statutory step).

        Firing the trigger that submits a task's assessment form submits the form: refused,
        with every unanswered question named, until the required answers are there."""
        now = self.clock.now()
        with self.db.write() as session:
            task, activity = self._task(session, task_id)
            return self._fire_task(
                session, actor, task, activity, trigger, inputs, reason, expected_version, now
            )

    def _fire_task(
        self,
        session: Session,
        actor: Actor,
        task: Task,
        activity: Activity,
        trigger: str,
        inputs: Mapping[str, Any] | None,
        reason: str | None,
        expected_version: int | None,
        now: datetime,
    ) -> Outcome:
        wf = self.workflow_for(session, activity)
        kind = wf.tasks[task.kind]
        where = f"task {task.id} ({task.kind}) of {activity.ref}"
        self._check_agency_scope(actor, task, where)
        t, values, reason = self._check(
            session,
            actor,
            kind,
            activity,
            task.state,
            trigger,
            where,
            inputs,
            reason,
            None,
            task=task,
        )
        to_state = kind.next_state(trigger, task.state)
        from_state = task.state
        outcome = Outcome(activity=activity, task=task, from_state=from_state)
        assessment = None
        if kind.form is not None:
            assessment = forms_.assessment_of_task(session, task.id or 0)
        if assessment is not None and trigger == kind.form_submit:
            values = {**values, **self._submit_form(session, actor, assessment, where, now)}
        for g in t.guards:
            name, _, arg = g.partition(":")
            if name == "answers_moderated":  # finishing: no moderation may slip in meanwhile
                moderated = self._agency_assessment(session, activity, task, arg)
                assert moderated is not None  # the guard passed
                forms_.cas_assessment(session, moderated, moderated.version, {"updated_at": now})
        event_id = self._move_task(
            session,
            actor,
            now,
            task,
            kind,
            trigger,
            to_state,
            values,
            reason,
            "task_transition",
            expected_version,
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
            self._task_effect(session, actor, kind, activity, task, effect, now, reason)
        outcome.to_state = task.state
        if to_state == kind.withdrawn_state:
            self._withdrawn_notice(session, wf, activity, task, event_id, now, outcome)
        self._notify(session, wf, t.notify, activity, outcome, f"ev{event_id}", now, task=task)
        return outcome

    def _submit_form(
        self, session: Session, actor: Actor, assessment: Assessment, where: str, now: datetime
    ) -> dict[str, Any]:
        form = forms_.pinned_form(session, self.forms, assessment)
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
                "submitted_by": actor.id,
                "updated_at": now,
            },
        )
        return {"assessment": assessment.id, **forms_.summary(form, answers)}

    def add_task(
        self,
        actor: Actor,
        ref: str,
        kind_name: str,
        agency: str,
        inputs: Mapping[str, Any] | None = None,
    ) -> Outcome:
        """Add a task by hand (an action in an action plan) for the agency with code ``agency``."""
        now = self.clock.now()
        with self.db.write() as session:
            activity = self._activity(session, ref)
            return self._add_task(session, actor, activity, kind_name, agency, inputs, now)

    def _add_task(
        self,
        session: Session,
        actor: Actor,
        activity: Activity,
        kind_name: str,
        agency: str,
        inputs: Mapping[str, Any] | None,
        now: datetime,
        finding_id: int | None = None,
    ) -> Outcome:
        wf = self.workflow_for(session, activity)
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
        (agency_row,) = self._agencies_by_code(session, [agency])
        outcome = Outcome(activity=activity)
        task = self._new_task(session, actor, kind, activity, agency_row, values, now)
        if finding_id is not None:
            self._cas_task(session, task, task.version, {"finding_id": finding_id}, now)
        outcome.created_tasks.append(task)
        outcome.task = task
        self._bump_activity(session, activity, now)
        self._notify(
            session,
            wf,
            kind.add_notify,
            activity,
            outcome,
            f"task{task.id}:added",
            now,
            task=task,
        )
        return outcome

    # ------------------------------------------------------------------ assessments
    def assessment_for_task(self, actor: Actor, task_id: int) -> AssessmentView:
        """The assessment form of a task, with its answers, for its agency or for staff."""
        with self.db.read() as session:
            task, activity = self._task(session, task_id)
            self._check_agency_scope(actor, task, f"task {task_id} of {activity.ref}")
            assessment = forms_.assessment_of_task(session, task_id)
            if assessment is None:
                raise NotFound(f"task {task_id} of {activity.ref} has no assessment form")
            return self._assessment_view(session, assessment, activity, task)

    def assessment(self, actor: Actor, assessment_id: int) -> AssessmentView:
        with self.db.read() as session:
            assessment = session.get(Assessment, assessment_id)
            if assessment is None:
                raise NotFound(f"no assessment {assessment_id}")
            if actor.role == "agency" and assessment.agency_id != actor.agency_id:
                raise PermissionDenied(f"assessment {assessment_id} belongs to another agency")
            activity = session.get(Activity, assessment.activity_id)
            assert activity is not None
            task = session.get(Task, assessment.task_id) if assessment.task_id else None
            return self._assessment_view(session, assessment, activity, task)

    def assessments_of(self, ref: str) -> list[AssessmentView]:
        """Every assessment of an activity (staff pages: moderation, judgements)."""
        with self.db.read() as session:
            activity = self._activity(session, ref)
            rows = session.exec(
                select(Assessment)
                .where(Assessment.activity_id == activity.id)
                .order_by(col(Assessment.id))
            ).all()
            tasks = {t.id: t for t in self._tasks_of(session, activity.id or 0)}
            return [self._assessment_view(session, a, activity, tasks.get(a.task_id)) for a in rows]

    def save_answers(
        self,
        actor: Actor,
        task_id: int,
        answers: Mapping[str, AnswerInput],
        expected_version: int | None = None,
    ) -> AssessmentView:
        """Save answers part-way (nothing is required yet); the agency can come back later."""
        now = self.clock.now()
        with self.db.write() as session:
            task, activity = self._task(session, task_id)
            self._save_answers(session, actor, task, activity, answers, expected_version, now)
        return self.assessment_for_task(actor, task_id)

    def submit_assessment(
        self,
        actor: Actor,
        task_id: int,
        answers: Mapping[str, AnswerInput] | None = None,
        expected_version: int | None = None,
    ) -> Outcome:
        """Save the answers given and submit, in one transaction: refused, with every
        question that needs attention named and nothing saved, unless the form is complete."""
        now = self.clock.now()
        with self.db.write() as session:
            task, activity = self._task(session, task_id)
            wf = self.workflow_for(session, activity)
            kind = wf.tasks[task.kind]
            if kind.form is None or kind.form_submit is None:
                raise InvalidInput(f"task {task_id} of {activity.ref} has no assessment form")
            if answers or expected_version is not None:  # the page's version is checked too
                self._save_answers(
                    session, actor, task, activity, answers or {}, expected_version, now
                )
            return self._fire_task(
                session, actor, task, activity, kind.form_submit, {}, None, None, now
            )

    def _save_answers(
        self,
        session: Session,
        actor: Actor,
        task: Task,
        activity: Activity,
        answers: Mapping[str, AnswerInput],
        expected_version: int | None,
        now: datetime,
    ) -> None:
        where = f"task {task.id} ({task.kind}) of {activity.ref}"
        self._check_agency_scope(actor, task, where)
        wf = self.workflow_for(session, activity)
        kind = wf.tasks[task.kind]
        assessment = forms_.assessment_of_task(session, task.id or 0)
        if assessment is None or kind.form_submit is None:
            raise NotFound(f"{where} has no assessment form")
        t = kind.transition_for(kind.form_submit, task.state)
        if t is None or assessment.status != "draft":
            raise TransitionNotAllowed(
                f"{where} is {task.state}: its answers can no longer be changed"
            )
        self._check_role(actor, t, f"answering {where}")
        form = forms_.pinned_form(session, self.forms, assessment)
        scale = forms_.scale_of(self.forms, assessment)
        clean = forms_.clean_answers(form, scale, answers, f"answers for {where}")
        current = forms_.answers_of(session, assessment.id or 0)
        expected = assessment.version if expected_version is None else expected_version
        changed = forms_.write_answers(
            session, assessment, form, scale, clean, current, actor.id, now
        )
        forms_.cas_assessment(session, assessment, expected, {"updated_at": now})
        if changed:
            self._event(
                session,
                activity.id,
                task.id,
                actor,
                now,
                "answers_saved",
                None,
                task.state,
                task.state,
                {"assessment": assessment.id, "questions": changed},
                None,
            )

    def moderate(
        self,
        actor: Actor,
        assessment_id: int,
        ratings: Mapping[str, Moderation],
        expected_version: int | None = None,
    ) -> AssessmentView:
        """Record moderated ratings (a reason is required where one differs from the self
        rating). Coordinators and managers only, on a submitted assessment."""
        now = self.clock.now()
        with self.db.write() as session:
            assessment = session.get(Assessment, assessment_id)
            if assessment is None:
                raise NotFound(f"no assessment {assessment_id}")
            if not actor.may(("coordinator", "manager")):
                raise PermissionDenied(
                    f"{actor.role} {actor.id} may not moderate (allowed: coordinator, manager)"
                )
            activity = session.get(Activity, assessment.activity_id)
            assert activity is not None
            where = f"assessment {assessment_id} of {activity.ref}"
            if assessment.status != "submitted":
                raise TransitionNotAllowed(f"{where} has not been submitted; nothing to moderate")
            view = self._assessment_view(session, assessment, activity, None)
            if view.moderation_released:
                raise TransitionNotAllowed(
                    f"moderation of {where} is finished and released to the agency"
                )
            errors: list[str] = []
            rows: list[tuple[str, str, int, str | None]] = []
            for number, given in ratings.items():
                try:
                    q = view.form.question(number)
                except KeyError:
                    errors.append(f"no question '{number}' in form '{view.form.name}'")
                    continue
                rating = (given.rating or "").strip()
                if not forms_.has_level(view.scale, rating):
                    errors.append(
                        f"{forms_.describe(q)}: '{rating}' is not a rating on the "
                        f"{view.scale.title} scale (allowed: {', '.join(view.scale.keys())})"
                    )
                    continue
                reason = (given.reason or "").strip() or None
                answer = view.answers.get(number)
                self_rating = answer.rating if answer is not None else None
                if rating != self_rating and reason is None:
                    errors.append(
                        f"{forms_.describe(q)}: give the reason the moderated rating "
                        f"({rating}) differs from the self rating ({self_rating or 'none'})"
                    )
                    continue
                if reason is not None and len(reason) > forms_.MAX_REASON:
                    errors.append(f"{forms_.describe(q)}: the reason is too long")
                    continue
                rows.append((number, rating, view.scale.level(rating).score, reason))
            if errors:
                raise InvalidInput(f"moderating {where}: {'; '.join(errors)}; nothing was saved")
            expected = assessment.version if expected_version is None else expected_version
            changed: dict[str, str] = {}
            table = AssessmentAnswer.__table__  # type: ignore[attr-defined]
            for number, rating, score, reason in rows:
                answer = view.answers.get(number)
                if (
                    answer is not None
                    and answer.moderated_rating == rating
                    and answer.moderation_reason == reason
                ):
                    continue
                values = {
                    "moderated_rating": rating,
                    "moderated_score": score,
                    "moderation_reason": reason,
                    "moderated_by": actor.id,
                    "moderated_at": now,
                }
                if answer is None:
                    session.execute(
                        sa.insert(table).values(
                            assessment_id=assessment_id,
                            question=number,
                            standard=view.form.question(number).standard,
                            updated_at=now,
                            updated_by=actor.id,
                            **values,
                        )
                    )
                else:
                    session.execute(
                        sa.update(table)
                        .where(table.c.assessment_id == assessment_id, table.c.question == number)
                        .values(**values)
                    )
                changed[number] = rating
            forms_.cas_assessment(session, assessment, expected, {"updated_at": now})
            if changed:
                # on the activity, not the agency's task: the agency sees moderated ratings
                # only once moderation is finished
                self._event(
                    session,
                    activity.id,
                    None,
                    actor,
                    now,
                    "moderated",
                    None,
                    None,
                    None,
                    {"assessment": assessment_id, "moderated": changed},
                    None,
                )
            self._bump_activity(session, activity, now)
        return self.assessment(actor, assessment_id)

    def _assessment_view(
        self, session: Session, assessment: Assessment, activity: Activity, task: Task | None
    ) -> AssessmentView:
        if task is None and assessment.task_id is not None:
            task = session.get(Task, assessment.task_id)
        form = forms_.pinned_form(session, self.forms, assessment)
        answers = forms_.answers_of(session, assessment.id or 0)
        agency = session.get(Agency, assessment.agency_id) if assessment.agency_id else None
        editable = False
        released = task is None  # a meeting's judgements are not moderated
        if task is not None:
            wf = self.workflow_for(session, activity)
            kind = wf.tasks[task.kind]
            editable = (
                assessment.status == "draft"
                and kind.form_submit is not None
                and kind.transition_for(kind.form_submit, task.state) is not None
            )
            released = self._moderation_released(session, wf, activity, task)
        carried_ref = None
        if assessment.carried_from_id is not None:
            carried_ref = session.execute(
                sa.select(Activity.ref)  # type: ignore[call-overload]
                .join(Assessment, col(Assessment.activity_id) == col(Activity.id))
                .where(col(Assessment.id) == assessment.carried_from_id)
            ).scalar_one_or_none()
        return AssessmentView(
            assessment=assessment,
            form=form,
            scale=forms_.scale_of(self.forms, assessment),
            answers=answers,
            activity=activity,
            task=task,
            agency=agency,
            editable=editable,
            moderation_released=released,
            carried_from_ref=carried_ref,
            problems=forms_.problems(form, answers) if assessment.status == "draft" else [],
        )

    def _moderation_released(
        self, session: Session, wf: Workflow, activity: Activity, task: Task
    ) -> bool:
        """True once the agency's moderation task (one guarded by answers_moderated on this
        task's kind) has finished."""
        kinds = [
            k.name
            for k in wf.tasks.values()
            if any(f"answers_moderated:{task.kind}" in t.guards for t in k.transitions)
        ]
        if not kinds:
            return False
        rows = session.exec(
            select(Task).where(
                Task.activity_id == activity.id,
                col(Task.kind).in_(kinds),
                Task.agency_id == task.agency_id,
            )
        ).all()
        return any(not r.is_open and r.state != wf.tasks[r.kind].withdrawn_state for r in rows)

    def _agency_assessment(
        self, session: Session, activity: Activity, task: Task, kind: str
    ) -> Assessment | None:
        """The same agency's assessment on its ``kind`` task in the activity."""
        ids = [
            t.id or 0
            for t in self._tasks_of(session, activity.id or 0)
            if t.kind == kind and t.agency_id == task.agency_id
        ]
        return forms_.agency_assessment(session, activity.id or 0, task.agency_id, ids)

    def _unmoderated(
        self, session: Session, activity: Activity, task: Task, kind: str
    ) -> int | None:
        """How many answers of the agency's ``kind`` assessment have no moderated rating."""
        assessment = self._agency_assessment(session, activity, task, kind)
        if assessment is None or assessment.status != "submitted":
            return None
        view = self._assessment_view(session, assessment, activity, None)
        return len(view.unmoderated())

    def disagreements(self, ref: str) -> list[Disagreement]:
        """Answers whose moderated rating differs from the self rating: the challenge list."""
        out: list[Disagreement] = []
        for view in self.assessments_of(ref):
            for a in view.disagreements():
                q = view.form.question(a.question)
                out.append(
                    Disagreement(
                        assessment_id=view.assessment.id or 0,
                        agency=view.agency.name if view.agency else "",
                        agency_code=view.agency.code if view.agency else "",
                        question=q.number,
                        standard=q.standard,
                        text=q.text,
                        self_rating=view.scale.level(a.rating).label if a.rating else "none",
                        moderated_rating=view.scale.level(a.moderated_rating or "").label,
                        difference=(a.moderated_score or 0) - (a.score or 0),
                        reason=a.moderation_reason or "",
                    )
                )
        out.sort(key=lambda d: (d.agency, _question_order(d.question)))
        return out

    # ------------------------------------------------------------------ findings and actions
    def record_finding(
        self,
        actor: Actor,
        ref: str,
        kind: str,
        text: str,
        agency: str | None = None,
    ) -> Finding:
        """Record a finding or recommendation of an activity."""
        now = self.clock.now()
        with self.db.write() as session:
            activity = self._activity(session, ref)
            return self._record_finding(session, actor, activity, kind, text, agency, None, now)

    def _record_finding(
        self,
        session: Session,
        actor: Actor,
        activity: Activity,
        kind: str,
        text: str,
        agency: str | None,
        question: str | None,
        now: datetime,
    ) -> Finding:
        if not actor.may(("coordinator", "manager")):
            raise PermissionDenied(
                f"{actor.role} {actor.id} may not record findings (allowed: coordinator, manager)"
            )
        if kind not in FINDING_KINDS:
            raise InvalidInput(
                f"'{kind}' is not a kind of finding (allowed: {', '.join(FINDING_KINDS)})"
            )
        text = (text or "").strip()
        if not text:
            raise InvalidInput(f"{activity.ref}: the {kind} has no text")
        if len(text) > 4000:
            raise InvalidInput(f"{activity.ref}: the {kind} is longer than 4000 characters")
        wf = self.workflow_for(session, activity)
        if wf.is_final(activity.state):
            raise TransitionNotAllowed(f"{activity.ref} is {activity.state}; nothing can be added")
        agency_row = self._agencies_by_code(session, [agency])[0] if agency else None
        finding = Finding(
            activity_id=activity.id or 0,
            kind=kind,
            text=text,
            agency_id=agency_row.id if agency_row else None,
            question=question,
            created_at=now,
            created_by=actor.id,
        )
        session.add(finding)
        session.flush()
        self._event(
            session,
            activity.id,
            None,
            actor,
            now,
            "finding_recorded",
            None,
            None,
            None,
            {
                "finding": finding.id,
                "kind": kind,
                "text": text,
                "agency": agency_row.code if agency_row else None,
                "question": question,
            },
            None,
        )
        self._bump_activity(session, activity, now)
        return finding

    def findings(self, ref: str) -> list[tuple[Finding, Agency | None, list[Task]]]:
        """An activity's findings and recommendations, each with the actions answering it."""
        with self.db.read() as session:
            activity = self._activity(session, ref)
            rows = session.exec(
                select(Finding).where(Finding.activity_id == activity.id).order_by(col(Finding.id))
            ).all()
            ids = [f.id for f in rows]
            actions = (
                session.exec(select(Task).where(col(Task.finding_id).in_(ids))).all() if ids else []
            )
            agencies = {a.id: a for a in session.exec(select(Agency)).all()}
            return [
                (
                    f,
                    agencies.get(f.agency_id) if f.agency_id else None,
                    [t for t in actions if t.finding_id == f.id],
                )
                for f in rows
            ]

    def raise_action(
        self,
        actor: Actor,
        ref: str,
        agency: str,
        inputs: Mapping[str, Any],
        finding_id: int | None = None,
    ) -> Outcome:
        """An action for ``agency`` in the activity's action plan (opened if there is none),
        answering a finding or recommendation when ``finding_id`` is given."""
        now = self.clock.now()
        with self.db.write() as session:
            activity = self._activity(session, ref)
            finding = None
            if finding_id is not None:
                finding = session.get(Finding, finding_id)
                if finding is None or finding.activity_id != activity.id:
                    raise NotFound(f"{activity.ref} has no finding {finding_id}")
            return self._raise_action(session, actor, activity, agency, inputs, finding, now)

    def raise_action_from_question(
        self,
        actor: Actor,
        assessment_id: int,
        question: str,
        inputs: Mapping[str, Any],
        agency: str | None = None,
    ) -> Outcome:
        """Record the question as a recommendation and raise an action on it for the
        assessment's agency (or ``agency`` for a meeting's judgements), in one transaction."""
        now = self.clock.now()
        with self.db.write() as session:
            assessment = session.get(Assessment, assessment_id)
            if assessment is None:
                raise NotFound(f"no assessment {assessment_id}")
            activity = session.get(Activity, assessment.activity_id)
            assert activity is not None
            form = forms_.pinned_form(session, self.forms, assessment)
            try:
                q = form.question(question)
            except KeyError:
                raise NotFound(f"no question '{question}' in form '{form.name}'") from None
            if agency is None:
                row = session.get(Agency, assessment.agency_id) if assessment.agency_id else None
                if row is None:
                    raise InvalidInput("choose the agency that owns the action")
                agency = row.code
            text = f"{form.title}, question {q.number}: {q.text}"
            finding = self._record_finding(
                session,
                actor,
                activity,
                "recommendation",
                text[:4000],
                agency,
                f"{form.name} {q.number}",
                now,
            )
            return self._raise_action(session, actor, activity, agency, inputs, finding, now)

    def _raise_action(
        self,
        session: Session,
        actor: Actor,
        activity: Activity,
        agency: str,
        inputs: Mapping[str, Any],
        finding: Finding | None,
        now: datetime,
    ) -> Outcome:
        if self.workflow_for(session, activity).is_final(activity.state):
            raise TransitionNotAllowed(
                f"{activity.ref} is {activity.state}; no actions can be raised on it"
            )
        plan = activity
        if activity.workflow != "action_plan":
            open_plan = self._open_child_plan(session, activity)
            if open_plan is not None:
                plan = open_plan
            else:
                plan = self._open_plan_for(session, actor, activity, now)
                # compare-and-set on the activity: two people raising the first action at
                # once cannot open two plans
                self._bump_activity(session, activity, now)
        (agency_row,) = self._agencies_by_code(session, [agency])
        insert_new(
            session,
            ActivityAgency.__table__,  # type: ignore[attr-defined]
            {"activity_id": plan.id, "agency_id": agency_row.id},
            ("activity_id", "agency_id"),
        )
        values = dict(inputs)
        if finding is not None and not values.get("recommendation"):
            values["recommendation"] = finding.text
        outcome = self._add_task(
            session,
            actor,
            plan,
            "action",
            agency_row.code,
            values,
            now,
            finding.id if finding is not None else None,
        )
        if plan is not activity:
            outcome.spawned.append(plan)
        return outcome

    def _open_child_plan(self, session: Session, activity: Activity) -> Activity | None:
        return session.exec(
            select(Activity)
            .where(
                Activity.parent_id == activity.id,
                Activity.workflow == "action_plan",
                col(Activity.closed_at).is_(None),
            )
            .order_by(col(Activity.id).desc())
            .limit(1)
        ).first()

    def _open_plan_for(
        self,
        session: Session,
        actor: Actor,
        activity: Activity,
        now: datetime,
        agencies: Sequence[Agency] | None = None,
    ) -> Activity:
        """A linked action plan for the activity, with its agencies and its origin."""
        plan_wf = self.registry.get("action_plan")
        if agencies is None:
            agencies = self._activity_agencies(session, activity.id or 0)
        origin = PLAN_ORIGINS.get(activity.workflow, "other")
        child = self._insert_activity(
            session,
            actor,
            plan_wf,
            f"Action plan: {activity.title}"[:300],
            agencies,
            {"origin": origin},
            now,
            activity.id,
        )
        self._event(
            session,
            child.id or 0,
            None,
            actor,
            now,
            "opened",
            None,
            None,
            child.state,
            {"spawned_from": activity.ref},
            None,
        )
        self._event(
            session,
            activity.id or 0,
            None,
            actor,
            now,
            "spawned",
            None,
            None,
            None,
            {"action_plan": child.ref},
            None,
        )
        return child

    # ------------------------------------------------------------------ deadlines
    def extend_deadline(
        self,
        actor: Actor,
        task_id: int,
        new_due: date,
        reason: str,
        approver: str | None = None,
    ) -> Outcome:
        """Move a task's due date later (or earlier), keeping its original date."""
        return self._deadline_change(actor, task_id, "extend", reason, approver, new_due=new_due)

    def pause_deadline(self, actor: Actor, task_id: int, reason: str) -> Outcome:
        """Stop the task's clock (waiting on a partner, legal hold)."""
        return self._deadline_change(actor, task_id, "pause", reason, None)

    def resume_deadline(self, actor: Actor, task_id: int, reason: str) -> Outcome:
        """Restart a paused clock; the due date moves by the time spent paused."""
        return self._deadline_change(actor, task_id, "resume", reason, None)

    def waive_deadline(self, actor: Actor, task_id: int, reason: str, approver: str) -> Outcome:
        """Lift the deadline where the rule allows it, with the approver recorded."""
        return self._deadline_change(actor, task_id, "waive", reason, approver)

    def _deadline_change(
        self,
        actor: Actor,
        task_id: int,
        action: str,
        reason: str,
        approver: str | None,
        *,
        new_due: date | None = None,
    ) -> Outcome:
        if not actor.may(("coordinator", "manager")):
            raise PermissionDenied(f"{actor.role} {actor.id} may not {action} deadlines")
        reason = (reason or "").strip()
        if not reason:
            raise InvalidInput(f"a reason is required to {action} a deadline")
        now = self.clock.now()
        with self.db.write() as session:
            task, activity = self._task(session, task_id)
            wf = self.workflow_for(session, activity)
            kind = wf.tasks[task.kind]
            where = f"task {task.id} ({task.kind}) of {activity.ref}"
            if not task.is_open:
                raise TransitionNotAllowed(f"{where} is {task.state}: its deadline is closed")
            if kind.deadline is None or task.deadline_status == "none":
                raise TransitionNotAllowed(f"{where} has no deadline")
            rule = kind.deadline.rule()
            status = task.deadline_status
            needs_manager = action == "waive" or (action == "extend" and not rule.waivable)
            approver_id = self._approver(session, approver, actor, action, needs_manager)
            changes: dict[str, Any] = {}
            inputs: dict[str, Any] = {"approver": approver_id} if approver_id else {}
            if action == "extend":
                assert new_due is not None
                if status not in ("running", "paused"):
                    raise TransitionNotAllowed(f"{where}: deadline is {status}; cannot extend")
                created_on = self.calendar.local_date(task.created_at)
                if new_due < created_on:
                    raise InvalidInput(
                        f"{where}: {format_date(new_due)} is before the task was set "
                        f"({format_date(created_on)})"
                    )
                if rule.unit == "working_days" and not self.calendar.is_working_day(new_due):
                    why = self.calendar.holiday_name(new_due) or "a weekend"
                    raise InvalidInput(
                        f"{where}: {format_date(new_due)} is not a working day ({why}); "
                        "this deadline counts working days"
                    )
                if task.due_all_day:
                    due = Due(at=self.calendar.end_of_day(new_due), on=new_due, all_day=True)
                else:
                    assert task.due_at is not None
                    at_local = task.due_at.astimezone(self.calendar.tz)
                    moved = datetime.combine(new_due, at_local.timetz())
                    due = Due(at=moved, on=new_due, all_day=False)
                inputs.update({"from": _iso(task.due_on), "to": new_due.isoformat()})
                changes.update(due_at=due.at, due_on=due.on)
                kind_name = "deadline_extended"
            elif action == "pause":
                if not rule.pausable:
                    raise TransitionNotAllowed(f"{where}: this deadline cannot be paused")
                if status != "running":
                    raise TransitionNotAllowed(f"{where}: deadline is {status}; cannot pause")
                changes.update(deadline_status="paused", paused_at=now, next_reminder_at=None)
                kind_name = "deadline_paused"
            elif action == "resume":
                if status != "paused" or task.paused_at is None:
                    raise TransitionNotAllowed(f"{where}: deadline is {status}; cannot resume")
                assert task.due_at is not None
                assert task.due_on is not None
                old = Due(at=task.due_at, on=task.due_on, all_day=task.due_all_day)
                due = shift_for_pause(rule, old, task.paused_at, now, self.calendar)
                inputs.update({"from": _iso(task.due_on), "to": due.on.isoformat()})
                changes.update(
                    deadline_status="running", paused_at=None, due_at=due.at, due_on=due.on
                )
                kind_name = "deadline_resumed"
            elif action == "waive":
                if not rule.waivable:
                    raise TransitionNotAllowed(
                        f"{where}: this deadline is statutory and cannot be waived"
                    )
                if status not in ("running", "paused"):
                    raise TransitionNotAllowed(f"{where}: deadline is {status}; cannot waive")
                changes.update(deadline_status="waived", paused_at=None, next_reminder_at=None)
                kind_name = "deadline_waived"
            else:  # pragma: no cover
                raise ValueError(action)
            if action != "pause":  # the date moves or the deadline ends: update invites
                changes["deadline_sequence"] = task.deadline_sequence + 1
            if (
                action in ("extend", "resume")
                and changes.get("deadline_status", status) == "running"
            ):
                new_at = changes.get("due_at", task.due_at)
                new_on = changes.get("due_on", task.due_on)
                assert new_at is not None
                assert new_on is not None
                rescheduled = Due(at=new_at, on=new_on, all_day=task.due_all_day)
                changes["next_reminder_at"] = self._next_reminder(kind, task, now, rescheduled)
            self._cas_task(session, task, task.version, changes, now)
            assert activity.id is not None
            event_id = self._event(
                session,
                activity.id,
                task.id,
                actor,
                now,
                kind_name,
                None,
                task.state,
                task.state,
                inputs,
                reason,
            )
            outcome = Outcome(
                activity=activity, task=task, from_state=task.state, to_state=task.state
            )
            to = "agency" if task.agency_id is not None else "coordinator"
            self._notify(
                session,
                wf,
                (Notify(template=kind_name, to=to),),
                activity,
                outcome,
                f"ev{event_id}",
                now,
                task=task,
            )
            return outcome

    def _approver(
        self, session: Session, approver: str | None, actor: Actor, action: str, manager: bool
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

    # ------------------------------------------------------------------ reminders
    def _rungs_for(self, kind: TaskKind, task: Task, due: Due | None = None) -> list[Rung]:
        due = due or task_due(task)
        if due is None:
            return []
        return rungs(
            kind.ladder, due, self.calendar, self.hours, agency_task=task.agency_id is not None
        )

    def _next_reminder(
        self, kind: TaskKind, task: Task, now: datetime, due: Due | None = None
    ) -> datetime | None:
        """When the task's ladder next needs the sweep, counting only rungs after ``now``."""
        return next_rung_at(self._rungs_for(kind, task, due), now)

    def sweep(self, limit: int = 1000) -> SweepReport:
        """Send every reminder, chaser and escalation that is due now, one task at a time.

        Reads only tasks whose ``next_reminder_at`` has passed (an indexed column), so a
        sweep costs what is due, not what is open. Outside working hours, or on a day that
        is not a working day, nothing is sent: the rungs wait for the next opening.
        """
        started = self.clock.now()
        with self.db.read() as session:
            due_ids = list(
                session.exec(
                    select(Task.id)
                    .where(col(Task.next_reminder_at) <= started)
                    .order_by(col(Task.next_reminder_at), col(Task.id))
                    .limit(limit)
                ).all()
            )
        if not self.hours.is_open(started, self.calendar):
            return SweepReport(due=len(due_ids), sent=0, skipped=0, errors=0, outside_hours=True)
        sent = skipped = errors = 0
        for task_id in due_ids:
            assert task_id is not None
            try:
                s, k = self._sweep_task(task_id)
            except ConcurrentUpdate:
                continue  # another worker took this task's rung first
            except Exception:  # one bad task never stops a sweep
                log.exception("reminder sweep failed for task %s", task_id)
                errors += 1
                continue
            sent += s
            skipped += k
        return SweepReport(due=len(due_ids), sent=sent, skipped=skipped, errors=errors)

    def _sweep_task(self, task_id: int) -> tuple[int, int]:
        """Claim and send the due rung(s) of one task; returns (rungs sent, rungs skipped)."""
        now = self.clock.now()
        actor = Actor.system()
        with self.db.write() as session:
            task, activity = self._task(session, task_id)
            since = task.next_reminder_at
            if since is None or since > now or not task.is_open:
                return 0, 0  # handled meanwhile
            wf = self.workflow_for(session, activity)
            kind = wf.tasks[task.kind]
            if task.deadline_status != "running":
                self._cas_task(session, task, task.version, {"next_reminder_at": None}, now)
                return 0, 0
            due = task_due(task)
            assert due is not None
            chosen = pick(self._rungs_for(kind, task, due), since, now)
            changes: dict[str, Any] = {"next_reminder_at": chosen.next_at}
            escalations = sum(1 for r in chosen.send if r.key.startswith("escalate"))
            if escalations:
                changes["escalations_sent"] = task.escalations_sent + escalations
            if len(chosen.send) > escalations:
                changes["reminders_sent"] = task.reminders_sent + len(chosen.send) - escalations
            self._cas_task(session, task, task.version, changes, now)
            if not chosen.send:
                return 0, 0
            event_id = self._event(
                session,
                activity.id,
                task.id,
                actor,
                now,
                "reminder",
                None,
                task.state,
                task.state,
                {
                    "rungs": [r.key for r in chosen.send],
                    "templates": [r.template for r in chosen.send],
                    "due": due.on.isoformat(),
                    "skipped": [r.key for r in chosen.skipped],
                },
                None,
            )
            outcome = Outcome(activity=activity, task=task)
            notify = tuple(Notify(r.template, to) for r in chosen.send for to in r.to)
            self._notify(
                session,
                wf,
                notify,
                activity,
                outcome,
                f"rung{task.id}@{due.on}:ev{event_id}",
                now,
                task=task,
            )
            return len(chosen.send), len(chosen.skipped)

    # ------------------------------------------------------------------ internals
    def _transition(
        self, machine: Workflow | TaskKind, state: str, trigger: str, where: str
    ) -> TransitionDef:
        t = machine.transition_for(trigger, state)
        if t is None:
            allowed = ", ".join(machine.allowed_triggers(state)) or "none (final state)"
            known = "" if machine.has_trigger(trigger) else " (no such trigger)"
            raise TransitionNotAllowed(
                f"cannot fire '{trigger}'{known} on {where} in state '{state}'; allowed: {allowed}"
            )
        return t

    def _check_role(self, actor: Actor, t: TransitionDef, what: str) -> None:
        if not actor.may(t.roles):
            raise PermissionDenied(
                f"{actor.role} {actor.id} may not fire {what} (allowed: {', '.join(t.roles)})"
            )

    def _check_agency_scope(self, actor: Actor, task: Task, where: str) -> None:
        if actor.role == "agency" and (task.agency_id is None or task.agency_id != actor.agency_id):
            raise PermissionDenied(f"{where} belongs to another agency")

    def _activity(self, session: Session, ref: str) -> Activity:
        activity = session.exec(select(Activity).where(Activity.ref == ref.upper())).first()
        if activity is None:
            raise NotFound(f"no activity with reference {ref}")
        return activity

    def _task(self, session: Session, task_id: int) -> tuple[Task, Activity]:
        row = session.exec(_TASK_WITH_ACTIVITY, params={"task_id": task_id}).first()
        if row is None:
            raise NotFound(f"no task with id {task_id}")
        return row[0], row[1]

    def _tasks_of(self, session: Session, activity_id: int) -> list[Task]:
        return list(
            session.exec(
                select(Task).where(Task.activity_id == activity_id).order_by(col(Task.id))
            ).all()
        )

    def _agency_count(self, session: Session, activity_id: int) -> int:
        return len(self._activity_agencies(session, activity_id))

    def _activity_agencies(self, session: Session, activity_id: int) -> list[Agency]:
        return list(
            session.exec(
                select(Agency)
                .join(ActivityAgency, col(ActivityAgency.agency_id) == col(Agency.id))
                .where(ActivityAgency.activity_id == activity_id)
                .order_by(col(Agency.name))
            ).all()
        )

    def _agency_rows(self, session: Session, ids: Sequence[int]) -> list[Agency]:
        if not ids:
            return []
        return list(session.exec(select(Agency).where(col(Agency.id).in_(ids))).all())

    def _agencies_by_code(self, session: Session, codes: Sequence[str]) -> list[Agency]:
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

    def _create_tasks(
        self,
        session: Session,
        actor: Actor,
        wf: Workflow,
        activity: Activity,
        kinds: Sequence[str],
        agencies: Sequence[Agency],
        now: datetime,
        outcome: Outcome,
    ) -> None:
        for kind_name in kinds:
            kind = wf.tasks[kind_name]
            if kind.assignee == "each_agency":
                for agency in agencies:
                    outcome.created_tasks.append(
                        self._new_task(session, actor, kind, activity, agency, {}, now)
                    )
            else:
                outcome.created_tasks.append(
                    self._new_task(session, actor, kind, activity, None, {}, now)
                )

    def _new_task(
        self,
        session: Session,
        actor: Actor,
        kind: TaskKind,
        activity: Activity,
        agency: Agency | None,
        values: Mapping[str, Any],
        now: datetime,
    ) -> Task:
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
        )
        if kind.deadline is not None:
            basis = self._basis(kind, activity, values, now)
            due = compute_due(kind.deadline.rule(), basis, self.calendar)
            task.deadline_status = "running"
            task.due_at = due.at
            task.due_on = due.on
            task.due_all_day = due.all_day
            task.original_due_at = due.at
            task.original_due_on = due.on
            task.next_reminder_at = self._next_reminder(kind, task, now)
        session.add(task)
        session.flush()
        self._event(
            session,
            activity.id or 0,
            task.id,
            actor,
            now,
            "task_created",
            None,
            None,
            task.state,
            {"kind": kind.name, "due": _iso(task.due_on), **_jsonable(values)},
            None,
        )
        if kind.form is not None:
            form = self.forms.get(kind.form)
            assessment = forms_.start(
                session, self.forms, form, activity, task, agency, actor.id, now
            )
            if assessment.carried_from_id is not None:
                carried = session.execute(
                    sa.select(sa.func.count())
                    .select_from(AssessmentAnswer)
                    .where(col(AssessmentAnswer.assessment_id) == assessment.id)
                ).scalar_one()
                self._event(
                    session,
                    activity.id or 0,
                    task.id,
                    actor,
                    now,
                    "assessment_started",
                    None,
                    task.state,
                    task.state,
                    {
                        "assessment": assessment.id,
                        "form": form.name,
                        "carried_from": assessment.carried_from_id,
                        "carried_forward": carried,
                    },
                    None,
                )
        return task

    def _basis(
        self, kind: TaskKind, activity: Activity, values: Mapping[str, Any], now: datetime
    ) -> datetime:
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
        return self._as_moment(raw, basis)

    def _as_moment(self, raw: Any, what: str) -> datetime:
        if isinstance(raw, datetime):
            return raw
        if isinstance(raw, date):
            return datetime.combine(raw, time(0), tzinfo=self.calendar.tz)
        if isinstance(raw, str):
            try:
                if "T" in raw:
                    return datetime.fromisoformat(raw)
                return datetime.combine(date.fromisoformat(raw), time(0), tzinfo=self.calendar.tz)
            except ValueError:
                pass
        raise InvalidInput(f"'{what}' is not a date: {raw!r}")

    def _move_task(
        self,
        session: Session,
        actor: Actor,
        now: datetime,
        task: Task,
        kind: TaskKind,
        trigger: str,
        to_state: str,
        values: Mapping[str, Any],
        reason: str | None,
        event_kind: str,
        expected_version: int | None = None,
    ) -> int:
        from_state = task.state
        changes: dict[str, Any] = {"state": to_state}
        if values:
            changes["data"] = {**task.data, **values}
        if kind.is_final(to_state):
            changes.update(is_open=False, closed_at=now, next_reminder_at=None)
        answered = kind.states[to_state].answered or kind.is_final(to_state)
        live = task.deadline_status in ("running", "paused")
        was_answered = kind.states[from_state].answered or kind.is_final(from_state)
        if answered and not was_answered and to_state != kind.withdrawn_state:
            changes["answered_at"] = now
            if live and task.due_on is not None:
                changes["late_working_days"] = self._late_working_days(task, now)
            elif task.deadline_status != "met":
                changes["late_working_days"] = None
        if to_state == kind.withdrawn_state and (live or task.deadline_status == "met"):
            changes.update(deadline_status="withdrawn", paused_at=None, next_reminder_at=None)
        elif live and answered:  # answered on time or late, paused or not: the clock stops
            changes.update(deadline_status="met", paused_at=None, next_reminder_at=None)
        elif task.deadline_status == "met" and not answered:
            # sent back for more: the clock runs again, and so does the ladder
            changes["deadline_status"] = "running"
            changes["next_reminder_at"] = self._next_reminder(kind, task, now)
        expected = task.version if expected_version is None else expected_version
        self._cas_task(session, task, expected, changes, now)
        return self._event(
            session,
            task.activity_id,
            task.id,
            actor,
            now,
            event_kind,
            trigger,
            from_state,
            to_state,
            values,
            reason,
        )

    def _late_working_days(self, task: Task, now: datetime) -> int:
        """0 if answered by the deadline; else the working days since the due date, at
        least 1 (an answer on the Saturday after a Friday deadline is late)."""
        due_at = task.due_at
        if due_at is None or now <= due_at:
            return 0
        assert task.due_on is not None
        late = self.calendar.working_days_between(task.due_on, self.calendar.local_date(now))
        return max(late, 1)

    def _cas_task(
        self, session: Session, task: Task, expected: int, changes: dict[str, Any], now: datetime
    ) -> None:
        """Compare-and-set on the task's version; the statement is built once per column set."""
        stmt = _task_update(frozenset(changes))
        params = {
            **changes,
            "_id": task.id,
            "_expected": expected,
            "_version": expected + 1,
            "updated_at": now,
        }
        result = session.connection().execute(stmt, params)
        if result.rowcount != 1:
            raise ConcurrentUpdate(
                f"task {task.id} was changed by someone else since version {expected}; "
                "nothing was written, reload and try again"
            )
        if task in session:
            session.expunge(task)
        for key, value in changes.items():
            setattr(task, key, value)
        task.version = expected + 1
        task.updated_at = now

    def _bump_activity(self, session: Session, activity: Activity, now: datetime) -> None:
        """Record that the activity changed (tasks added) so concurrent edits notice."""
        self._cas_activity(
            session,
            activity,
            activity.version,
            activity.state,
            activity.data,
            now,
            activity.closed_at,
        )

    def _activity_effect(
        self,
        session: Session,
        actor: Actor,
        wf: Workflow,
        activity: Activity,
        effect: str,
        tasks: Sequence[Task],
        agencies: Sequence[Agency],
        now: datetime,
        reason: str | None,
        outcome: Outcome,
    ) -> None:
        if effect == "withdraw_open_tasks":
            for task in tasks:
                if task.is_open:
                    kind = wf.tasks[task.kind]
                    assert kind.withdrawn_state is not None
                    event_id = self._move_task(
                        session,
                        actor,
                        now,
                        task,
                        kind,
                        "withdraw",
                        kind.withdrawn_state,
                        {},
                        reason,
                        "task_withdrawn",
                    )
                    self._withdrawn_notice(session, wf, activity, task, event_id, now, outcome)
        elif effect == "spawn_action_plan":
            existing = self._open_child_plan(session, activity)
            if existing is not None:  # actions already raised (from a question or a finding)
                self._event(
                    session,
                    activity.id or 0,
                    None,
                    actor,
                    now,
                    "spawned",
                    None,
                    None,
                    None,
                    {"action_plan": existing.ref, "already_open": True},
                    None,
                )
                outcome.spawned.append(existing)
                return
            child = self._open_plan_for(session, actor, activity, now, agencies)
            outcome.spawned.append(child)
        else:  # pragma: no cover - validated at load
            raise ValueError(effect)

    def _task_effect(
        self,
        session: Session,
        actor: Actor,
        kind: TaskKind,
        activity: Activity,
        task: Task,
        effect: str,
        now: datetime,
        reason: str | None,
    ) -> None:
        if effect == "reprogramme":
            raw = task.data.get("new_target_date")
            if raw in (None, ""):
                raise InvalidInput(
                    f"task {task.id}: no new_target_date requested to reprogramme to"
                )
            new_on = self._as_moment(raw, "new_target_date")
            new_date = self.calendar.local_date(new_on)
            due = Due(at=self.calendar.end_of_day(new_date), on=new_date, all_day=True)
            changes = {
                "due_at": due.at,
                "due_on": due.on,
                "deadline_status": "running",
                "paused_at": None,
                "deadline_sequence": task.deadline_sequence + 1,
                "next_reminder_at": self._next_reminder(kind, task, now, due),
            }
            old = task.due_on
            self._cas_task(session, task, task.version, changes, now)
            self._event(
                session,
                activity.id or 0,
                task.id,
                actor,
                now,
                "deadline_reprogrammed",
                None,
                task.state,
                task.state,
                {
                    "from": _iso(old),
                    "to": due.on.isoformat(),
                    "original": _iso(task.original_due_on),
                },
                reason,
            )
        else:  # pragma: no cover - validated at load
            raise ValueError(effect)

    def _withdrawn_notice(
        self,
        session: Session,
        wf: Workflow,
        activity: Activity,
        task: Task,
        event_id: int,
        now: datetime,
        outcome: Outcome,
    ) -> None:
        """Tell the agency its request is withdrawn, cancelling the calendar entry."""
        if task.agency_id is None or task.due_on is None:
            return
        self._notify(
            session,
            wf,
            (Notify("request_withdrawn", "agency"),),
            activity,
            outcome,
            f"ev{event_id}",
            now,
            task=task,
        )

    def _notify(
        self,
        session: Session,
        wf: Workflow,
        notify: Sequence[Notify],
        activity: Activity,
        outcome: Outcome,
        key: str,
        now: datetime,
        *,
        task: Task | None = None,
        agencies: Sequence[Agency] | None = None,
    ) -> None:
        """Queue each declared notification in this transaction, one email per recipient.

        ``agency`` and ``agency_manager`` go to the agency of ``task``, or of each task the
        change created; ``activity_agencies`` to every agency taking part.
        """
        if not notify or self.notifier is None:
            return
        assert activity.id is not None
        if agencies is None and any(n.to == "activity_agencies" for n in notify):
            agencies = self._activity_agencies(session, activity.id)
        agencies = agencies or []
        by_id = {a.id: a for a in agencies}
        wanted = {t.agency_id for t in ([task] if task is not None else outcome.created_tasks)}
        missing = [i for i in wanted if i is not None and i not in by_id]
        if missing:
            by_id.update({a.id: a for a in self._agency_rows(session, missing)})
        for n in notify:
            if n.to in ("agency", "agency_manager"):
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
                recipients = self.notifier.recipients(session, n.to, about, agencies)
                self.notifier.queue(
                    session,
                    key=f"{key}:t{task_key}",
                    template=n.template,
                    about=about,
                    recipients=recipients,
                    now=now,
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

    def _event(
        self,
        session: Session,
        activity_id: int | None,
        task_id: int | None,
        actor: Actor,
        now: datetime,
        kind: str,
        trigger: str | None,
        from_state: str | None,
        to_state: str | None,
        inputs: Mapping[str, Any],
        reason: str | None,
    ) -> int:
        result = session.connection().execute(
            _EVENT_INSERT,
            {
                "activity_id": activity_id,
                "task_id": task_id,
                "at": now,
                "actor": actor.id,
                "actor_role": actor.role,
                "kind": kind,
                "trigger": trigger,
                "from_state": from_state,
                "to_state": to_state,
                "inputs": _jsonable(inputs) if inputs else {},
                "reason": reason,
            },
        )
        event_id: int = result.scalar_one()
        return event_id


_TASK_TABLE: sa.Table = Task.__table__  # type: ignore[attr-defined]
_EVENT_TABLE: sa.Table = Event.__table__  # type: ignore[attr-defined]
_EVENT_INSERT = sa.insert(_EVENT_TABLE).returning(_EVENT_TABLE.c.id)
_TASK_WITH_ACTIVITY = (
    select(Task, Activity)
    .join(Activity, col(Activity.id) == col(Task.activity_id))
    .where(col(Task.id) == sa.bindparam("task_id"))
)


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


class _AlreadyOpened(Exception):
    """Raised inside a transaction to roll back an opening that was already made."""


def _clean_reason(reason: str | None, t: TransitionDef, trigger: str) -> str | None:
    reason = (reason or "").strip() or None
    if t.reason_required and reason is None:
        raise InvalidInput(f"'{trigger}' needs a reason (--reason)")
    return reason


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(dict(values), default=str))
    return out


__all__ = [
    "Actor",
    "ImportResult",
    "Outcome",
    "PlannedNotification",
    "Service",
    "SweepReport",
    "TaskFilter",
]
