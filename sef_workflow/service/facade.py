"""The one door for change: :class:`Service`, which the command line, the web app and the
scheduler call, each public method one transaction handed to the capability that owns it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlmodel import Session

from ..assessments import AnswerInput, AssessmentView, Moderation
from ..calendar import WorkingCalendar
from ..clock import Clock
from ..db import Database
from ..definitions import Registry, Workflow
from ..directory import AgencyRecord
from ..forms import FormRegistry
from ..ladder import WorkingHours
from ..models import (
    Activity,
    Agency,
    AgencyContact,
    DirectoryEvent,
    Event,
    Finding,
    Notification,
    Staff,
    Task,
)
from ..notify.outbox import Notifier
from .activities import Activities, AlreadyOpened
from .assessments import Assessments
from .assignment import Assignment
from .core import Core
from .deadlines import Deadlines
from .directory import Directory
from .findings import Findings
from .inbox import Inbox, WaitingItem
from .sign_in import SignIn
from .sweep import Sweep
from .tasks import Tasks
from .values import Actor, Disagreement, ImportResult, Outcome, SweepReport, TaskFilter


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
        core = Core(
            db,
            registry,
            calendar,
            clock,
            notifier,
            hours or WorkingHours(),
            # assessment forms; by default the ``forms`` folder beside the workflows folder
            forms or FormRegistry(registry.directory.parent / "forms"),
        )
        self._core = core
        self._activities = Activities(core)
        self._tasks = Tasks(core)
        self._deadlines = Deadlines(core)
        self._assessments = Assessments(core)
        self._findings = Findings(core)
        self._directory = Directory(core)
        self._sign_in = SignIn(core, self._directory)
        self._sweep = Sweep(core)
        self._assignment = Assignment(core)
        self._inbox = Inbox(core)

    @property
    def db(self) -> Database:
        return self._core.db

    @property
    def registry(self) -> Registry:
        return self._core.registry

    @property
    def calendar(self) -> WorkingCalendar:
        return self._core.calendar

    @property
    def clock(self) -> Clock:
        return self._core.clock

    @property
    def notifier(self) -> Notifier | None:
        return self._core.notifier

    @property
    def hours(self) -> WorkingHours:
        return self._core.hours

    @property
    def forms(self) -> FormRegistry:
        """The assessment forms."""
        return self._core.forms

    def workflow_for(self, session: Session, activity: Activity) -> Workflow:
        """The compiled definition the activity is pinned to (built once per version)."""
        return self._core.workflow_for(session, activity)

    # ------------------------------------------------------------------ directory
    def import_agencies(self, actor: Actor, records: Sequence[AgencyRecord]) -> ImportResult:
        """Create or update agencies by code, all in one transaction."""
        return self._directory.import_agencies(actor, records)

    def add_staff(self, actor: Actor, name: str, email: str, role: str) -> Staff:
        """Add a coordinator, manager or admin (or update the one with that email)."""
        return self._directory.add_staff(actor, name, email, role)

    def deactivate_staff(self, actor: Actor, email: str) -> Staff:
        """Take away a member of staff's role (admins): they are signed out everywhere."""
        return self._directory.deactivate_staff(actor, email)

    def directory_log(
        self,
        actor: Actor,
        *,
        agency: str | None = None,
        since: date | None = None,
        until: date | None = None,
        limit: int = 500,
    ) -> list[tuple[DirectoryEvent, str]]:
        """The directory log newest first, each record with its agency's code ("" for none):
        of one agency (by code), within a period of local days. Staff only."""
        return self._directory.log(actor, agency=agency, since=since, until=until, limit=limit)

    def set_contact(
        self, actor: Actor, agency: str, purpose: str, name: str, email: str
    ) -> AgencyContact:
        """Make ``name <email>`` the agency's contact for ``purpose`` (its LADO contact, ...),
        replacing the one before, or add a colleague (purpose ``colleague``)."""
        return self._directory.set_contact(actor, agency, purpose, name, email)

    def remove_contact(
        self, actor: Actor, agency: str, purpose: str, email: str | None = None
    ) -> int:
        """Remove the agency's contact for ``purpose`` (a colleague by email)."""
        return self._directory.remove_contact(actor, agency, purpose, email)

    def contacts_of(self, agency_ids: Sequence[int] | None = None) -> list[AgencyContact]:
        """Named contacts and colleagues (of the given agencies)."""
        return self._directory.contacts_of(agency_ids)

    def people_of(self, agency_id: int) -> list[tuple[str, str, str]]:
        """``(email, name, what they are)`` for each person of the agency a task can go to."""
        return self._assignment.people_of(agency_id)

    def give_task(
        self,
        actor: Actor,
        task_id: int,
        email: str,
        name: str | None = None,
        note: str | None = None,
    ) -> Outcome:
        """Give a task to one of its agency's people, or to a colleague added as one (the
        agency's lead, deputy or senior manager, or staff); recorded on the timeline and
        emailed to them."""
        return self._assignment.give(actor, task_id, email, name, note)

    def decide_more_time(
        self,
        actor: Actor,
        task_id: int,
        agree: bool,
        reason: str | None = None,
        new_due: date | None = None,
    ) -> Outcome:
        """Agree to the date an agency asked for (the deadline moves there, or to ``new_due``
        when the decider changes it, checked as an extension is) or decline it with a
        reason; who may is the workflow's choice (``more_time_decided_by``). The agency is
        told either way."""
        return self._deadlines.decide_more_time(actor, task_id, agree, reason, new_due)

    # ------------------------------------------------------------------ waiting on you
    def waiting_on(self, actor: Actor, *, show: str = "mine") -> list[WaitingItem]:
        """What waits on ``actor``, most urgent first (overdue, most overdue first; then the
        fewest working days left; then no deadline), each item with the one action it needs.

        Coordinators and admins: returns to review, requests for more time to decide, the
        business unit's statutory steps close to their deadline, escalations to the
        business unit. Managers: decisions only a manager takes (sign-offs, new target
        dates, approvals), requests for more time, escalations to them. An agency's people:
        the tasks waiting for their answer (requested or sent back); a senior manager also
        the escalations sent to them and requests for more time they may decide.

        ``show``: ``mine`` (handled by me, or handled by nobody on an activity I opened; for
        a manager also what only a manager may decide; for an agency's people, what is
        given to them or to nobody), ``unassigned`` (handled by nobody) or ``all``."""
        return self._inbox.waiting_on(actor, show)

    def take(self, actor: Actor, task_id: int, to_email: str | None = None) -> Outcome:
        """Record who of the business unit handles the task: the actor ("Assign to me"), or
        the colleague ``to_email`` (active staff). On the task's timeline (``task_handled``);
        staff only. The task's version and state are left as they are."""
        return self._inbox.take(actor, task_id, to_email)

    def workflows_needing_manager(self) -> list[str]:
        """The titles of the workflows that escalate to an agency's senior manager: while
        any does, every agency imported needs one."""
        return self._directory.workflows_needing_manager()

    def resolve_actor(self, email: str) -> Actor:
        """The staff member, or the person of an agency with this email: its lead, deputy,
        senior manager or a named contact (with their position and purposes)."""
        return self._directory.resolve_actor(email)

    def request_sign_in_link(self, email: str, next_url: str | None, client: str) -> bool:
        """Email the agency contact ``email`` a fresh sign-in link landing on ``next_url``
        and record the request (``client`` is the asking address); False, with nothing
        changed, when the address is not an active agency contact."""
        return self._sign_in.request_link(email, next_url, client)

    def list_agencies(self) -> list[Agency]:
        return self._directory.list_agencies()

    def list_staff(self) -> list[Staff]:
        return self._directory.list_staff()

    # ------------------------------------------------------------------ outbox
    def retry_email(self, actor: Actor, notification_id: int) -> None:
        """Put a failed email back in the queue, due now (coordinators and managers)."""
        self._sweep.retry_email(actor, notification_id)

    # ------------------------------------------------------------------ activities
    def get_activity(self, ref: str) -> tuple[Activity, Workflow, list[Agency], list[Task]]:
        return self._activities.get_activity(ref)

    def list_activities(
        self, workflow: str | None = None, state: str | None = None, include_closed: bool = True
    ) -> list[Activity]:
        return self._activities.list_activities(workflow, state, include_closed)

    def timeline(self, ref: str) -> list[Event]:
        return self._activities.timeline(ref)

    def notifications_for(self, ref: str) -> list[Notification]:
        """The activity's emails, oldest first, with their delivery state."""
        return self._activities.notifications_for(ref)

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
        return self._activities.open(
            actor, workflow, title, agencies=agencies, inputs=inputs, parent_ref=parent_ref
        )

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
            return self._activities.open(
                actor, workflow, title, agencies=agencies, inputs=inputs, once_key=key
            )
        except AlreadyOpened:
            return None

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
        return self._activities.fire(
            actor,
            ref,
            trigger,
            inputs=inputs,
            reason=reason,
            expected_version=expected_version,
            answers=answers,
        )

    # ------------------------------------------------------------------ tasks
    def list_tasks(self, f: TaskFilter) -> list[tuple[Task, Activity, Agency | None]]:
        return self._tasks.list_tasks(f)

    def get_task(self, task_id: int) -> tuple[Task, Activity]:
        return self._tasks.get_task(task_id)

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
        return self._tasks.fire(
            actor, task_id, trigger, inputs=inputs, reason=reason, expected_version=expected_version
        )

    def add_task(
        self,
        actor: Actor,
        ref: str,
        kind_name: str,
        agency: str,
        inputs: Mapping[str, Any] | None = None,
    ) -> Outcome:
        """Add a task by hand (an action in an action plan) for the agency with code ``agency``."""
        return self._tasks.add(actor, ref, kind_name, agency, inputs)

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
        return self._deadlines.change(actor, task_id, "extend", reason, approver, new_due=new_due)

    def pause_deadline(self, actor: Actor, task_id: int, reason: str) -> Outcome:
        """Stop the task's clock (waiting on a partner, legal hold)."""
        return self._deadlines.change(actor, task_id, "pause", reason, None)

    def resume_deadline(self, actor: Actor, task_id: int, reason: str) -> Outcome:
        """Restart a paused clock; the due date moves by the time spent paused."""
        return self._deadlines.change(actor, task_id, "resume", reason, None)

    def waive_deadline(self, actor: Actor, task_id: int, reason: str, approver: str) -> Outcome:
        """Lift the deadline where the rule allows it, with the approver recorded."""
        return self._deadlines.change(actor, task_id, "waive", reason, approver)

    # ------------------------------------------------------------------ assessments
    def assessment_for_task(self, actor: Actor, task_id: int) -> AssessmentView:
        """The assessment form of a task, with its answers, for its agency or for staff."""
        return self._assessments.for_task(actor, task_id)

    def assessment(self, actor: Actor, assessment_id: int) -> AssessmentView:
        return self._assessments.get(actor, assessment_id)

    def assessments_of(self, ref: str) -> list[AssessmentView]:
        """Every assessment of an activity (staff pages: moderation, judgements)."""
        return self._assessments.of(ref)

    def save_answers(
        self,
        actor: Actor,
        task_id: int,
        answers: Mapping[str, AnswerInput],
        expected_version: int | None = None,
    ) -> AssessmentView:
        """Save answers part-way (nothing is required yet); the agency can come back later."""
        return self._assessments.save(actor, task_id, answers, expected_version)

    def submit_assessment(
        self,
        actor: Actor,
        task_id: int,
        answers: Mapping[str, AnswerInput] | None = None,
        expected_version: int | None = None,
    ) -> Outcome:
        """Save the answers given and submit, in one transaction: refused, with every
        question that needs attention named and nothing saved, unless the form is complete."""
        return self._assessments.submit(actor, task_id, answers, expected_version)

    def moderate(
        self,
        actor: Actor,
        assessment_id: int,
        ratings: Mapping[str, Moderation],
        expected_version: int | None = None,
    ) -> AssessmentView:
        """Record moderated ratings (a reason is required where one differs from the self
        rating). Coordinators and managers only, on a submitted assessment."""
        return self._assessments.moderate(actor, assessment_id, ratings, expected_version)

    def disagreements(self, ref: str) -> list[Disagreement]:
        """Answers whose moderated rating differs from the self rating: the challenge list."""
        return self._assessments.disagreements(ref)

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
        return self._findings.record(actor, ref, kind, text, agency)

    def findings(self, ref: str) -> list[tuple[Finding, Agency | None, list[Task]]]:
        """An activity's findings and recommendations, each with the actions answering it."""
        return self._findings.of(ref)

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
        return self._findings.raise_action(actor, ref, agency, inputs=inputs, finding_id=finding_id)

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
        return self._findings.raise_from_question(
            actor, assessment_id, question, inputs=inputs, agency=agency
        )

    # ------------------------------------------------------------------ reminders
    def sweep(self, limit: int = 1000) -> SweepReport:
        """Send every reminder, chaser and escalation that is due now, one task at a time.

        Reads only tasks whose ``next_reminder_at`` has passed (an indexed column), so a
        sweep costs what is due, not what is open. Outside working hours, or on a day that
        is not a working day, nothing is sent: the rungs wait for the next opening.
        """
        return self._sweep.sweep(limit)
