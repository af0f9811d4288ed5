"""Running one simulated activity: the throwaway database and the fictional partnership,
the fake clock moved sweep by sweep, the agencies' replies, and the steps read back from
the events and the outbox."""

from __future__ import annotations

import tempfile
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import cast

import sqlalchemy as sa
from sqlmodel import col, select

from ..app import build_calendar, build_notifier, build_registry
from ..assessments import fill
from ..calendar import describe_remaining, format_deadline_date, format_time, remaining
from ..clock import FakeClock
from ..config import LoadedSettings
from ..db import Database
from ..definitions import Workflow
from ..demo import COORDINATOR, MANAGER, agencies_csv
from ..directory import AgencyRecord, parse_agencies_csv
from ..errors import InvalidInput, NotFound, SefError
from ..forms import FormRegistry
from ..ladder import WorkingHours
from ..models import Agency, Event, Notification, Task
from ..service import Actor, Service
from ..views import Timeline, event_sentence, task_due, task_state_title, template_title
from .issue import issue_path, placeholders
from .story import SimulatedEmail, SimulatedStep, Simulation, StepKind, plural

#: How long a simulation runs when no ``until`` is given (it may stop sooner).
DEFAULT_DAYS = 60

_NO_REPLIES: Mapping[str, int] = MappingProxyType({})

#: whom an email went to, by its recipient role ("of <agency>" follows for an agency's)
_ROLE_LABELS = {
    "agency": "the lead",
    "agency_deputy": "the deputy",
    "agency_contact": "the named contact",
    "agency_manager": "the senior manager",
    "coordinator": "the coordinator",
    "manager": "a manager",
    "business_unit": "the business unit",
}


# ---------------------------------------------------------------------------------------
# the simulation


def simulate(
    loaded: LoadedSettings,
    workflow: str,
    start: date,
    *,
    agency_replies: Mapping[str, int] = _NO_REPLIES,
    until: date | None = None,
    agencies: Sequence[str] | None = None,
    sweep_every: timedelta = timedelta(hours=1),
) -> Simulation:
    """Run one ``workflow`` activity from ``start`` in a throwaway database; see the module.

    ``agency_replies`` maps an agency code to the number of working days after the issue on
    which it answers (0: the issue day); agencies not named never answer. ``agencies``
    picks the agency codes taking part (default: every agency of the fictional
    partnership). Raises :class:`NotFound` for an unknown workflow or agency code and
    :class:`InvalidInput` for inconsistent arguments.
    """
    registry = build_registry(loaded)
    wf = registry.get(workflow)  # NotFound before anything is built
    if sweep_every <= timedelta(0):
        raise InvalidInput(f"sweep_every must be positive, got {sweep_every}")
    if until is not None and until < start:
        raise InvalidInput(f"--until {until.isoformat()} is before --start {start.isoformat()}")
    records = parse_agencies_csv(agencies_csv(), "demo agencies")
    known = [r.code for r in records]
    codes = _taking_part(wf, known, agencies)
    replies = _check_replies(agency_replies, codes)

    calendar = build_calendar(loaded)
    notifier = build_notifier(loaded, calendar)
    opening, closing = loaded.working_hours()
    hours = WorkingHours(opening, closing)
    clock = FakeClock(hours.opening(start, calendar))
    with tempfile.TemporaryDirectory(prefix="sef-simulate-") as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'simulation.db'}")
        try:
            db.upgrade()
            svc = Service(
                db, registry, calendar, clock, notifier, hours, FormRegistry(loaded.forms_dir())
            )
            run = _Run(svc, clock, wf, hours)
            run.setup(records)
            return run.play(start, codes, replies, until, sweep_every)
        finally:
            db.dispose()


def _taking_part(wf: Workflow, known: Sequence[str], agencies: Sequence[str] | None) -> list[str]:
    if wf.agencies == "none":
        if agencies:
            raise InvalidInput(f"“{wf.title}” does not take agencies")
        return []
    if agencies is None:
        return list(known)
    codes = [c.strip().upper() for c in agencies if c.strip()]
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise NotFound(
            f"no agency with code {', '.join(unknown)} in the fictional partnership "
            f"(codes: {', '.join(known)})"
        )
    if len(set(codes)) != len(codes):
        raise InvalidInput(f"an agency is named twice: {', '.join(codes)}")
    if wf.agencies == "required" and not codes:
        raise InvalidInput(f"“{wf.title}” needs at least one agency")
    return codes


def _check_replies(replies: Mapping[str, int], codes: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for raw_code, days in replies.items():
        code = raw_code.strip().upper()
        if code not in codes:
            raise InvalidInput(
                f"agency {code} answers in the simulation but does not take part "
                f"(taking part: {', '.join(codes) or 'none'})"
            )
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            raise InvalidInput(f"agency {code}: reply after {days!r} working days (expected >= 0)")
        out[code] = days
    return out


@dataclass(frozen=True)
class _Reply:
    at: datetime
    code: str
    days: int


class _Run:
    """One simulation: the service, the clock, and what has been recorded so far."""

    def __init__(self, svc: Service, clock: FakeClock, wf: Workflow, hours: WorkingHours) -> None:
        self.svc = svc
        self.cal = svc.calendar
        self.clock = clock
        self.wf = wf
        self.hours = hours
        self.coordinator = Actor(id=COORDINATOR[1], role="coordinator", name=COORDINATOR[0])
        self.manager = Actor(id=MANAGER[1], role="manager", name=MANAGER[0])
        self.agencies: dict[str, Agency] = {}
        self.names: dict[int, str] = {}
        self.last_event = 0
        self.last_email = 0
        self.steps: list[SimulatedStep] = []
        self.emails: list[SimulatedEmail] = []

    # -- the fictional partnership
    def setup(self, records: Sequence[AgencyRecord]) -> None:
        system = Actor.system()
        self.svc.import_agencies(system, records)
        self.svc.add_staff(system, COORDINATOR[0], COORDINATOR[1], "coordinator")
        self.svc.add_staff(system, MANAGER[0], MANAGER[1], "manager")
        for a in self.svc.list_agencies():
            assert a.id is not None
            self.agencies[a.code] = a
            self.names[a.id] = a.name

    def _staff_for(self, roles: Sequence[str]) -> Actor | None:
        if self.coordinator.may(roles):
            return self.coordinator
        if self.manager.may(roles):
            return self.manager
        return None

    # -- the story
    def play(
        self,
        start: date,
        codes: Sequence[str],
        replies: Mapping[str, int],
        until: date | None,
        sweep_every: timedelta,
    ) -> Simulation:
        wf = self.wf
        opener = self._staff_for(wf.open_roles)
        if opener is None:
            raise InvalidInput(
                f"“{wf.title}” is opened by {', '.join(wf.open_roles)}, not by a coordinator "
                "or manager; it cannot be simulated"
            )
        today = self.cal.local_date(self.clock.now())
        path = issue_path(wf, codes, today, self._staff_for)
        ref = self.svc.open_activity(
            opener,
            wf.name,
            f"Simulation: {wf.title} (fictional)",
            codes,
            placeholders(wf.open_inputs, today),
        ).activity.ref
        self._collect()
        for t in path:
            actor = self._staff_for(t.roles)
            assert actor is not None  # the search only takes transitions staff may fire
            reason = "Simulation" if t.reason_required else None
            self.svc.fire(actor, ref, t.trigger, placeholders(t.inputs, today), reason)
            self._collect()

        issued = self.clock.now()
        issue_day = self.cal.local_date(issued)
        last_day = until if until is not None else start + timedelta(days=DEFAULT_DAYS)
        end = self.cal.end_of_day(last_day)
        pending = deque(self._plan_replies(issued, codes, replies, end))
        has_tasks = any(t.agency_id is not None for t in self.svc.get_activity(ref)[3])
        if codes and has_tasks:
            self._note(self._issue_note(codes, replies, issue_day, end))

        next_due = self._next_due()
        tick = issued
        stopped_early = False
        while True:
            target = min(
                end,
                next_due if next_due is not None else end,
                pending[0].at if pending else end,
            )
            tick = _next_tick(tick, target, sweep_every)
            while pending and pending[0].at <= tick and pending[0].at < end:
                self._answer(ref, pending.popleft())
                next_due = self._next_due()
            if tick >= end:
                break
            self.clock.set(tick)
            if next_due is not None and next_due <= tick and self.hours.is_open(tick, self.cal):
                report = self.svc.sweep()
                self._collect()
                if report.errors:
                    self._note(f"the sweep failed for {report.errors} task(s); see the log")
                next_due = self._next_due()
            if until is None and next_due is None and not pending:
                stopped_early = True
                break
        if stopped_early:
            last_day = self.cal.local_date(self.clock.now())
            self._note("no reminder is left to send and no reply is pending: the simulation ends")
        return Simulation(
            workflow=wf.name,
            reference=ref,
            start=start,
            until=last_day,
            steps=self.steps,
            emails=self.emails,
            title=wf.title,
        )

    def _plan_replies(
        self, issued: datetime, codes: Sequence[str], replies: Mapping[str, int], end: datetime
    ) -> list[_Reply]:
        issue_day = self.cal.local_date(issued)
        planned = []
        for code in codes:
            if code not in replies:
                continue
            day = self.cal.add_working_days(issue_day, replies[code])
            at = max(self.hours.opening(day, self.cal), issued)
            planned.append(_Reply(at, code, replies[code]))
        return sorted(planned, key=lambda r: (r.at, codes.index(r.code)))

    def _issue_note(
        self, codes: Sequence[str], replies: Mapping[str, int], issue_day: date, end: datetime
    ) -> str:
        parts = []
        for code in codes:
            if code in replies:
                day = self.cal.add_working_days(issue_day, replies[code])
                when = (
                    f"answers on {format_deadline_date(day)} "
                    f"({plural(replies[code], 'working day')} after)"
                )
                if self.hours.opening(day, self.cal) >= end:
                    when += ", after the simulation ends"
                parts.append(f"{code} {when}")
            else:
                parts.append(f"{code} never answers")
        return "Request issued to " + ", ".join(codes) + ": " + "; ".join(parts)

    def _answer(self, ref: str, reply: _Reply) -> None:
        self.clock.set(reply.at)
        agency = self.agencies[reply.code]
        assert agency.id is not None
        actor = Actor(id=agency.lead_email, role="agency", agency_id=agency.id, name=agency.name)
        today = self.cal.local_date(reply.at)
        answered = False
        for task in self.svc.get_activity(ref)[3]:
            if task.agency_id != agency.id or not task.is_open or task.id is None:
                continue
            kind = self.wf.tasks[task.kind]
            t = next(
                (t for t in kind.transitions if "agency" in t.roles and task.state in t.sources),
                None,
            )
            if t is None:
                continue
            reason = "Simulation" if t.reason_required else None
            try:
                if kind.form is not None and t.trigger == kind.form_submit:
                    view = self.svc.assessment_for_task(actor, task.id)
                    out = self.svc.submit_assessment(
                        actor, task.id, fill(view.form, view.scale, evidence="Simulation")
                    )
                else:
                    out = self.svc.fire_task(
                        actor, task.id, t.trigger, placeholders(t.inputs, today), reason
                    )
            except SefError as exc:
                self._note(f"{agency.name} could not answer '{task.title}': {exc}")
                continue
            answered = True
            now_in = task_state_title(self.wf, task.kind, out.to_state)
            self._step(
                "reply",
                f"{agency.name} answers, {plural(reply.days, 'working day')} after the issue: "
                f"{t.title} (“{task.title}”). Now: {now_in}",
            )
            self._collect()
        if not answered:
            self._note(f"{agency.name} has no open task to answer")

    # -- reading what happened
    def _next_due(self) -> datetime | None:
        with self.svc.db.read() as session:
            value = session.execute(sa.select(sa.func.min(col(Task.next_reminder_at)))).scalar_one()
        return cast(datetime | None, value)

    def _step(self, kind: StepKind, text: str, at: datetime | None = None) -> None:
        local = (at or self.clock.now()).astimezone(self.cal.tz)
        self.steps.append(
            SimulatedStep(local.date(), local.time().replace(tzinfo=None), kind, text)
        )

    def _note(self, text: str) -> None:
        self._step("note", text)

    def _collect(self) -> None:
        """Turn the events and emails written since the last call into steps."""
        with self.svc.db.read() as session:
            events = session.exec(
                select(Event).where(col(Event.id) > self.last_event).order_by(col(Event.id))
            ).all()
            notes = session.exec(
                select(Notification)
                .where(col(Notification.id) > self.last_email)
                .order_by(col(Notification.id))
            ).all()
            ids = {e.task_id for e in events} | {n.task_id for n in notes}
            tasks = {
                t.id: t
                for t in session.exec(select(Task).where(col(Task.id).in_(ids - {None}))).all()
            }
        words = Timeline.read(self.svc, self.wf, tasks.values())
        for e in events:
            assert e.id is not None
            self.last_event = e.id
            self._event_step(e, tasks.get(e.task_id), words)
        for n in notes:
            assert n.id is not None
            self.last_email = n.id
            self._email(n, tasks.get(n.task_id))

    def _event_step(self, e: Event, task: Task | None, words: Timeline) -> None:
        title = f"“{task.title}”" if task is not None else f"task {e.task_id}"
        if e.kind in ("opened", "transition"):
            self._step("state", event_sentence(e, words), e.at)
        elif e.kind == "task_created":
            self._step("task", f"Added the task {title}, {self._deadline(task)}", e.at)
        elif e.kind == "reminder":
            skipped = len(e.inputs.get("skipped") or [])
            if skipped:
                stale = plural(skipped, "earlier reminder")
                self._step("note", f"{title}: {stale} no longer due, not sent", e.at)
        elif e.kind in ("task_transition", "answers_saved") and e.actor_role == "agency":
            pass  # recorded as the reply itself
        elif e.kind.startswith(("task_", "deadline_")):
            self._step("task", event_sentence(e, words), e.at)
        else:
            self._step("note", event_sentence(e, words), e.at)

    def _deadline(self, task: Task | None) -> str:
        due = task_due(task) if task is not None else None
        if task is None or due is None or task.deadline_status == "none":
            return "no deadline"
        created = self.cal.local_date(task.created_at)
        if due.all_day:
            n = self.cal.working_days_between(created, due.on)
            return f"due {format_deadline_date(due.on)} ({plural(n, 'working day')})"
        at = due.at.astimezone(self.cal.tz)
        hours = remaining(due, task.created_at, self.cal)
        return f"due {format_deadline_date(due.on)} at {format_time(at)} ({plural(hours, 'hour')})"

    def _email(self, n: Notification, task: Task | None) -> None:
        local = n.created_at.astimezone(self.cal.tz)
        agency = self.names.get(n.agency_id) if n.agency_id is not None else None
        left: int | None = None
        deadline = ""
        due = task_due(task) if task is not None else None
        if task is not None and due is not None and task.deadline_status in ("running", "paused"):
            if due.all_day:
                left = remaining(due, n.created_at, self.cal)
            deadline = describe_remaining(due, n.created_at, self.cal)
        email = SimulatedEmail(
            day=local.date(),
            time=local.time().replace(tzinfo=None),
            template=n.template,
            recipient_role=n.recipient_role,
            agency=agency,
            task_title=task.title if task is not None else None,
            working_days_left=left,
        )
        self.emails.append(email)
        who = _ROLE_LABELS.get(n.recipient_role, n.recipient_role.replace("_", " "))
        if agency is not None:
            who += f" of {agency}"
        elif task is not None:
            who += f", about “{task.title}”"
        text = f"“{template_title(n.template, n.subject)}” to {who}"
        if deadline:
            text += f", {deadline}"
        self._step("email", text, n.created_at)


def _next_tick(tick: datetime, target: datetime, step: timedelta) -> datetime:
    """The first ``tick + k * step`` (k >= 1) at or after ``target``."""
    k = max(1, -((tick - target) // step))
    return tick + k * step
