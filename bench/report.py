"""Period report: ``build_report`` over 100k tasks and 10k assessments, beside one raw
aggregate query over the same rows, in the same run.

Issue: "bench/: the period report over 100k tasks and 10k assessments on PostgreSQL, with
its time beside a raw aggregate query over the same rows in the same run."

For each database (a fresh PostgreSQL schema, dropped afterwards; with ``--sqlite`` also a
SQLite file in a temporary directory) the script:

1. runs the shipped migrations, then writes two reporting years of fictional history
   (1 April 2024 to 31 March 2026) with raw multi-row ``INSERT`` statements on the bare
   driver: 40 agencies; the pinned ``workflow_definition`` rows of every workflow file and
   the ``form_definition`` rows of every form file; themed audits, practice reviews,
   three Section 11 cycles (the second compared with the first, the third still in draft),
   action plans (most spawned by an audit, a review or a cycle, some opened on their own)
   and agency requests; 100k tasks (requests, actions, statutory steps and the business
   unit's own tasks) with realistic due dates, answers, lateness in working days,
   reminders, escalations, reprogrammed target dates and withdrawals; the events each
   change would have written; findings and recommendations (actions answer some); and
   10k assessments with their answers (audit tools, Section 11 self-assessments with
   moderated scores, audit meetings' judgements). Then ``VACUUM ANALYZE`` / ``ANALYZE``;
2. times, alternating, after a warm-up: (a) ``build_report`` for the reporting year
   1 April 2025 to 31 March 2026, as the web page and the CLI call it, and (b) one
   hand-written aggregate query over the same rows on the bare driver: the period's tasks
   by category and agency (COUNT, SUM, AVG) and the Section 11 answers' means by cycle,
   agency and standard, the least the report has to read;
3. checks that both saw the same rows (requests issued and returns received, reminders,
   actions completed, each Section 11 mean), prints the medians, their ratio, the number of
   statements the report sent and what each cost, and PASS or FAIL against the target;
   ``--explain`` adds the plan of the report's heaviest statement and of the raw query.

Run: ``.venv/bin/python bench/report.py`` (``--quick`` for a smoke run, ``--sqlite`` to
run SQLite too, ``--profile`` for a cProfile of one report). PostgreSQL comes from
``SEF_BENCH_POSTGRES_URL`` (else ``SEF_TEST_POSTGRES_URL``, else the local ``test``
database). Exit status 1 if the PostgreSQL target is missed.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import math
import os
import pstats
import random
import sqlite3
import statistics
import sys
import time as clock
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import sqlalchemy as sa
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Json
from sqlalchemy import event as sa_event

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fire_rate as fr  # sibling script, not a package: shared setup helpers

from sef_workflow.calendar import LONDON, WorkingCalendar, add_months
from sef_workflow.db import Database
from sef_workflow.definitions import Registry
from sef_workflow.forms import Form, FormRegistry
from sef_workflow.models import SECTORS
from sef_workflow.reports.figures import build_report, reporting_year
from sef_workflow.reports.model import Rated, Report

FORMS = fr.ROOT / "forms"
BU = fr.COORDINATOR.id
PARTNERSHIP = "Northshire Safeguarding Children Partnership (fictional)"
#: Thursday 2 April 2026, 09:00 in London: the report is produced just after the year ends
NOW = datetime(2026, 4, 2, 9, 0, tzinfo=LONDON).astimezone(UTC)
TODAY = NOW.astimezone(LONDON).date()
DATA_FIRST, DATA_LAST = date(2024, 4, 1), date(2026, 3, 31)
START, END = reporting_year(DATA_LAST, 4)  # 1 April 2025 to 31 March 2026
TARGET_RATIO = 20.0  # the report within 20x of one raw aggregate query
TARGET_MS = 1000.0  # and under one second, at 100k tasks and 10k assessments
WORKFLOWS = ("themed_audit", "practice_review", "section11", "action_plan", "agency_request")
FORM_NAMES = ("section11", "single_agency_audit", "maa_judgements")

# ---------------------------------------------------------------------------------------
# the tables written, in foreign-key order


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


COLUMNS: dict[str, tuple[str, ...]] = {
    "agency": _names(
        "id code name sector lead_name lead_email deputy_name deputy_email manager_name "
        "manager_email active"
    ),
    "staff": _names("id name email role active"),
    "workflow_definition": _names("id name version source parameters created_at"),
    "form_definition": _names("id name version source created_at"),
    "activity": _names(
        "id ref workflow definition_id state title data opened_by opened_at updated_at "
        "closed_at parent_id version"
    ),
    "activity_agency": _names("activity_id agency_id"),
    "finding": _names("id activity_id kind text agency_id question created_at created_by"),
    "task": _names(
        "id activity_id kind agency_id state is_open title data created_at updated_at "
        "closed_at deadline_status due_at due_on due_all_day original_due_on "
        "original_due_at paused_at deadline_sequence next_reminder_at category "
        "answered_at late_working_days reminders_sent escalations_sent finding_id version"
    ),
    "event": _names(
        "id activity_id task_id at actor actor_role kind trigger from_state to_state inputs reason"
    ),
    "assessment": _names(
        "id activity_id task_id agency_id form_definition_id form_name scale stage status "
        "carried_from_id created_at updated_at submitted_at submitted_by version"
    ),
    "assessment_answer": _names(
        "assessment_id question standard rating score evidence carried_forward reviewed "
        "updated_at updated_by moderated_rating moderated_score moderation_reason "
        "moderated_by moderated_at"
    ),
}
SERIAL_TABLES = tuple(t for t, cols in COLUMNS.items() if cols[0] == "id")
UNMODERATED: dict[str, Any] = {
    "moderated_rating": None,
    "moderated_score": None,
    "moderation_reason": None,
    "moderated_by": None,
    "moderated_at": None,
}


# ---------------------------------------------------------------------------------------
# working days and moments


class Days:
    """Working days (England, with bank holidays) as a sorted list, for fast arithmetic."""

    def __init__(self, calendar: WorkingCalendar, first: date, last: date) -> None:
        self.days: list[date] = []
        d = first
        while d <= last:
            if calendar.is_working_day(d):
                self.days.append(d)
            d += timedelta(days=1)

    def add(self, d: date, n: int) -> date:
        """The n-th working day after ``d`` (before it for n < 0); ``d`` for 0."""
        if n > 0:
            return self.days[bisect_right(self.days, d) + n - 1]
        if n < 0:
            return self.days[bisect_left(self.days, d) + n]
        return d

    def between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end`` (negative if before)."""
        return bisect_right(self.days, end) - bisect_right(self.days, start)

    def on_or_after(self, d: date) -> date:
        return self.days[bisect_left(self.days, d)]


def moment(d: date, hour: int, minute: int = 0) -> datetime:
    """A local time in London, in UTC."""
    return datetime.combine(d, time(hour, minute), tzinfo=LONDON).astimezone(UTC)


def end_of(d: date) -> datetime:
    """The first instant after the local day ``d``: an all-day deadline's moment."""
    return moment(d + timedelta(days=1), 0)


def local_day(at: datetime) -> date:
    return at.astimezone(LONDON).date()


# ---------------------------------------------------------------------------------------
# the fictional history


@dataclass
class Life:
    """What happened to a task by NOW."""

    state: str
    is_open: bool
    deadline_status: str
    answered_at: datetime | None = None
    late: int | None = None
    closed_at: datetime | None = None
    reminders: int = 0
    escalations: int = 0
    next_reminder_at: datetime | None = None
    paused_at: datetime | None = None
    withdrawn_at: datetime | None = None
    waived_at: datetime | None = None


@dataclass(frozen=True)
class States:
    pending: str
    answered: str
    closed: str | None  # None: the answered state is final
    submit: str
    close: str | None


REQUEST = States("requested", "submitted", "accepted", "submit", "accept")
ACTION = States(
    "in_progress", "completion_submitted", "signed_off", "submit_completion", "sign_off"
)
STATUTORY = States("due", "done", None, "complete", None)
CHALLENGE = States("awaiting_response", "responded", "accepted", "respond", "accept")
MODERATION = States("pending", "moderated", None, "moderate", None)


@dataclass
class PendingAssessment:
    """An assessment before its id is given (some audit tools may be left out)."""

    activity_id: int
    task_id: int | None
    agency_id: int | None
    form: str
    scale: str
    stage: str
    created_at: datetime
    submitted_at: datetime | None
    submitted_by: str | None
    answers: list[dict[str, Any]]
    carried_from: PendingAssessment | None = None
    droppable: bool = False
    ident: int | None = None


@dataclass
class Spec:
    """An activity to write, in order of opening."""

    opened: date
    workflow: str
    number: int  # within its workflow, for the reference
    parent: Spec | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    ident: int | None = None
    findings: list[int] = field(default_factory=list)


@dataclass
class Counts:
    tasks: dict[str, int]
    activities: dict[str, int]
    assessments: dict[str, int]
    answers: int
    events: int
    reprogrammings: int
    findings: int
    agencies: int

    @property
    def total_tasks(self) -> int:
        return sum(self.tasks.values())

    @property
    def total_assessments(self) -> int:
        return sum(self.assessments.values())


class History:
    """Builds every row in memory, in foreign-key order, with ids given here."""

    def __init__(self, n_tasks: int, n_assessments: int, n_agencies: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n_tasks, self.n_assessments, self.n_agencies = n_tasks, n_assessments, n_agencies
        calendar = WorkingCalendar()
        self.days = Days(calendar, date(2023, 1, 1), date(2028, 12, 31))
        self.rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in COLUMNS}
        self.next_id: dict[str, int] = dict.fromkeys(SERIAL_TABLES, 1)
        self.registry = Registry(fr.WORKFLOWS)
        self.forms = FormRegistry(FORMS)
        self.definitions: dict[str, int] = {}
        self.form_definitions: dict[str, int] = {}
        self.agencies: list[tuple[int, str, str]] = []  # (id, name, lead email)
        self.assessments: list[PendingAssessment] = []
        self.reprogrammings = 0
        self.cycle_ids: dict[int, int] = {}  # Section 11 cycles' activity ids by year

    # -- rows

    def add(self, table: str, **values: Any) -> int:
        columns = COLUMNS[table]
        ident = 0
        if columns[0] == "id" and "id" not in values:
            ident = values["id"] = self.next_id[table]
            self.next_id[table] += 1
        self.rows[table].append(tuple(values[c] for c in columns))
        return ident

    def event(
        self,
        activity_id: int,
        task_id: int | None,
        at: datetime,
        kind: str,
        *,
        actor: str = BU,
        role: str = "coordinator",
        trigger: str | None = None,
        from_state: str | None = None,
        to_state: str | None = None,
        inputs: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> None:
        self.add(
            "event",
            activity_id=activity_id,
            task_id=task_id,
            at=at,
            actor=actor,
            actor_role=role,
            kind=kind,
            trigger=trigger,
            from_state=from_state,
            to_state=to_state,
            inputs=inputs or {},
            reason=reason,
        )

    # -- reference data

    def reference_data(self) -> None:
        created = moment(date(2024, 1, 8), 9)
        sectors = [s for s in SECTORS if s != "other"]
        for i in range(1, self.n_agencies + 1):
            sector = sectors[(i - 1) % len(sectors)]
            name = f"Benchmark {sector.replace('_', ' ').title()} Agency {i:02d} (fictional)"
            lead = f"lead{i:02d}@agency{i:02d}.bench.example"
            ident = self.add(
                "agency",
                code=f"BA{i:02d}",
                name=name,
                sector=sector,
                lead_name=f"Lead {i:02d}",
                lead_email=lead,
                deputy_name=f"Deputy {i:02d}" if i % 2 else None,
                deputy_email=f"deputy{i:02d}@agency{i:02d}.bench.example" if i % 2 else None,
                manager_name=f"Manager {i:02d}",
                manager_email=f"manager{i:02d}@agency{i:02d}.bench.example",
                active=i % 17 != 0,
            )
            self.agencies.append((ident, name, lead))
        self.add("staff", name="Casey Coord", email=BU, role="coordinator", active=True)
        for name in WORKFLOWS:
            wf = self.registry.get(name)
            self.definitions[name] = self.add(
                "workflow_definition",
                name=wf.name,
                version=wf.version,
                source=wf.source,
                parameters=dict(wf.parameters),
                created_at=created,
            )
        for name in FORM_NAMES:
            form = self.forms.get(name)
            self.form_definitions[name] = self.add(
                "form_definition",
                name=form.name,
                version=form.version,
                source=form.source,
                created_at=created,
            )

    # -- the plan of activities

    def plan(self) -> list[Spec]:
        rng, days = self.rng, self.days
        specs: list[Spec] = []
        tasks = 0
        assessments = 0

        def some_day(first: date = DATA_FIRST, last: date = DATA_LAST) -> date:
            return days.on_or_after(first + timedelta(days=rng.randrange((last - first).days)))

        # three Section 11 cycles: 2024 (closed), 2025 (reported on), 2026 (drafts)
        for number, opened in enumerate((date(2024, 5, 13), date(2025, 5, 12), date(2026, 3, 2))):
            spec = Spec(opened, "section11", number + 1)
            specs.append(spec)
            tasks += self.n_agencies * (1 if number == 2 else 3)
            assessments += self.n_agencies
        # practice reviews: about one per 250 tasks
        for number in range(max(2, self.n_tasks // 250)):
            local = rng.random() < 0.3
            agencies = rng.randint(4, 8)
            # opened early enough for every step to have been created by NOW
            spec = Spec(some_day(last=DATA_LAST - timedelta(days=45)), "practice_review", number)
            spec.extra = {"local": local, "agencies": agencies}
            specs.append(spec)
            tasks += 2 + agencies + ((2 + agencies) if local else 0)
        # themed audits: enough returns for the assessments asked for, with some to spare
        per_audit = 8 * 0.93 + 1.3  # audit tools started or returned, and judgements
        base = max(self.n_assessments - assessments, 0) / per_audit
        n_audits = max(2, math.ceil(base * 1.06 + 3 * math.sqrt(base)))
        for number in range(n_audits):
            agencies = rng.randint(4, 12)
            spec = Spec(some_day(last=DATA_LAST - timedelta(days=15)), "themed_audit", number)
            spec.extra = {"agencies": agencies, "cancelled": rng.random() < 0.03}
            specs.append(spec)
            tasks += 0 if spec.extra["cancelled"] else agencies  # a cancelled audit issued none
        # action plans: from audits and reviews that reached their findings, from the
        # first two Section 11 cycles, and some opened on their own
        plans: list[Spec] = []
        for spec in specs:
            if spec.workflow == "themed_audit" and not spec.extra["cancelled"]:
                findings_day = days.add(spec.opened, 10 + 20 + 10 + 5)
                if findings_day < TODAY - timedelta(days=30) and rng.random() < 0.45:
                    plans.append(Spec(days.add(findings_day, 10), "action_plan", 0, spec))
            elif spec.workflow == "practice_review":
                decided = days.add(spec.opened, 15)
                if decided < TODAY - timedelta(days=30) and rng.random() < 0.5:
                    plans.append(Spec(days.add(decided, 15), "action_plan", 0, spec))
            elif spec.workflow == "section11" and spec.number < 3:
                plans.append(Spec(days.add(spec.opened, 80), "action_plan", 0, spec))
        for _ in range(max(1, len(plans) // 6)):
            plan = Spec(some_day(last=DATA_LAST - timedelta(days=20)), "action_plan", 0)
            plan.extra["origin"] = rng.choice(
                ("inspection", "inspection", "other", "audit", "practice_review", "section11")
            )
            plans.append(plan)
        action_budget = int(self.n_tasks * 0.30)
        weights = [rng.uniform(0.4, 1.6) for _ in plans]
        total_weight = sum(weights)
        given = 0
        for i, (plan, weight) in enumerate(zip(plans, weights, strict=True)):
            n = (
                action_budget - given
                if i == len(plans) - 1
                else max(1, round(action_budget * weight / total_weight))
            )
            n = max(0, min(n, action_budget - given))
            plan.extra["actions"] = n
            given += n
        tasks += given
        specs.extend(plans)
        # agency requests (data, reports) fill the rest
        remainder = self.n_tasks - tasks
        if remainder < 0:
            raise SystemExit(
                f"{self.n_tasks:,} tasks are too few for {self.n_assessments:,} assessments"
            )
        number = 0
        while remainder > 0:
            agencies = min(remainder, rng.randint(5, self.n_agencies))
            challenge = agencies < remainder and rng.random() < 0.05
            if challenge and agencies + 1 > remainder:
                challenge = False
            spec = Spec(some_day(last=DATA_LAST - timedelta(days=5)), "agency_request", number)
            spec.extra = {"agencies": agencies, "challenge": challenge}
            specs.append(spec)
            remainder -= agencies + (1 if challenge else 0)
            number += 1
        specs.sort(key=lambda s: (s.opened, s.parent is not None))
        counters: dict[tuple[str, int], int] = {}
        for spec in specs:
            key = (spec.workflow, spec.opened.year)
            counters[key] = counters.get(key, 0) + 1
            spec.number = counters[key]
        return specs

    # -- tasks

    def life(
        self,
        created: date,
        due_on: date,
        states: States,
        *,
        p_late: float,
        late_mean: float = 4.0,
        p_stuck: float = 0.02,
        p_close: float = 0.85,
        can_answer: bool = True,
        rare: bool = True,
    ) -> Life:
        """What became of a task created on ``created`` and due on ``due_on``, by NOW.

        ``p_late``: share answered after the due date, ``late_mean`` working days late on
        average; ``p_stuck``: share never answered (overdue once the date passes);
        ``p_close``: share of answers accepted (closed) some days later; ``rare``: some are
        withdrawn or have their deadline waived."""
        rng, days = self.rng, self.days
        can_answer = can_answer and rng.random() >= p_stuck
        r = rng.random() if rare else 1.0
        if r < 0.02:
            withdrawn = min(days.add(created, rng.randint(1, 10)), days.add(TODAY, -1))
            at = moment(withdrawn, rng.randint(9, 16), rng.randrange(60))
            return Life("withdrawn", False, "withdrawn", closed_at=at, withdrawn_at=at)
        if not can_answer:
            answer = date.max  # not answered by NOW, whatever the due date
        elif rng.random() < p_late:
            late = min(1 + int(rng.expovariate(1 / late_mean)), 10 * int(late_mean))
            answer = days.add(due_on, late)
        else:
            answer = max(days.add(due_on, -rng.randint(0, 8)), days.add(created, 1))
        # a deadline is waived once it has passed, for a task not answered by then
        waived = r < 0.04 and due_on < min(answer, TODAY)
        ref = min(answer, TODAY)
        before = sum(1 for d in (days.add(due_on, -5), days.add(due_on, -1), due_on) if d < ref)
        overdue = max(days.between(due_on, ref), 0)
        chases, escalations = min(overdue, 3), int(overdue >= 4) + int(overdue >= 8)
        waived_at = moment(days.add(due_on, 1), 10) if waived else None
        if waived_at is not None:
            chases, escalations = min(chases, 1), 0
        if answer >= TODAY:
            status = "waived" if waived_at is not None else "running"
            paused = status == "running" and rng.random() < 0.01
            return Life(
                states.pending,
                True,
                "paused" if paused else status,
                reminders=before + chases,
                escalations=escalations,
                next_reminder_at=moment(days.add(TODAY, 1), 9) if status == "running" else None,
                paused_at=moment(days.add(TODAY, -3), 11) if paused else None,
                waived_at=waived_at,
            )
        answered_at = moment(answer, rng.randint(9, 17), rng.randrange(60))
        life = Life(
            states.answered,
            states.closed is not None,
            "waived" if waived_at is not None else "met",
            answered_at=answered_at,
            late=None if waived_at is not None else max(days.between(due_on, answer), 0),
            reminders=before + chases,
            escalations=escalations,
            waived_at=waived_at,
        )
        if states.closed is None:
            life.is_open, life.closed_at = False, answered_at
        else:
            closing = days.add(answer, rng.randint(1, 10))
            if closing < TODAY and rng.random() < p_close:
                life.state, life.is_open = states.closed, False
                life.closed_at = moment(closing, rng.randint(9, 17), rng.randrange(60))
        return life

    def task(
        self,
        spec: Spec,
        kind: str,
        category: str,
        agency: tuple[int, str, str] | None,
        created_at: datetime,
        due_on: date,
        life: Life,
        states: States,
        *,
        title: str,
        data: dict[str, Any] | None = None,
        original_due_on: date | None = None,
        finding_id: int | None = None,
        initial: str | None = None,
    ) -> int:
        assert spec.ident is not None
        activity = spec.ident
        agency_id, _, lead = agency if agency is not None else (None, "", BU)
        due_at = end_of(due_on)
        original = original_due_on or due_on
        ends = [x for x in (life.answered_at, life.closed_at, life.waived_at) if x is not None]
        version = 1 + sum(1 for x in (life.answered_at, life.closed_at) if x is not None)
        task_id = self.add(
            "task",
            activity_id=activity,
            kind=kind,
            agency_id=agency_id,
            state=life.state,
            is_open=life.is_open,
            title=title[:300],
            data=data or {},
            created_at=created_at,
            updated_at=max([created_at, *ends]),
            closed_at=life.closed_at,
            deadline_status=life.deadline_status,
            due_at=due_at,
            due_on=due_on,
            due_all_day=True,
            original_due_on=original,
            original_due_at=end_of(original),
            paused_at=life.paused_at,
            deadline_sequence=0 if original == due_on else 1,
            next_reminder_at=life.next_reminder_at,
            category=category,
            answered_at=life.answered_at,
            late_working_days=life.late,
            reminders_sent=life.reminders,
            escalations_sent=life.escalations,
            finding_id=finding_id,
            version=version,
        )
        start = initial or states.pending
        self.event(activity, task_id, created_at, "task_created", to_state=start)
        agency_role = ("agency", lead) if agency is not None else ("coordinator", BU)
        if life.waived_at is not None:
            self.event(
                activity,
                task_id,
                life.waived_at,
                "deadline_waived",
                role="manager",
                actor="manager@northshire-scp.example",
                reason="Waived with the manager's approval (fictional)",
            )
        if life.answered_at is not None:
            self.event(
                activity,
                task_id,
                life.answered_at,
                "task_transition",
                actor=agency_role[1],
                role=agency_role[0],
                trigger=states.submit,
                from_state=start,
                to_state=states.answered,
            )
        if life.withdrawn_at is not None:
            self.event(
                activity,
                task_id,
                life.withdrawn_at,
                "task_transition",
                trigger="withdraw",
                from_state=start,
                to_state="withdrawn",
            )
        elif life.closed_at is not None and states.closed is not None:
            self.event(
                activity,
                task_id,
                life.closed_at,
                "task_transition",
                trigger=states.close,
                from_state=states.answered,
                to_state=states.closed,
            )
        return task_id

    # -- activities

    def activity(
        self,
        spec: Spec,
        state: str,
        title: str,
        data: dict[str, Any],
        agencies: Sequence[tuple[int, str, str]],
        closed: date | None = None,
    ) -> int:
        rng = self.rng
        prefix = {
            "themed_audit": "MAA",
            "practice_review": "CSPR",
            "section11": "S11",
            "action_plan": "AP",
            "agency_request": "REQ",
        }[spec.workflow]
        opened_at = moment(spec.opened, rng.randint(9, 16), rng.randrange(60))
        closed_at = (
            moment(min(closed, self.days.add(TODAY, -1)), rng.randint(9, 16), rng.randrange(60))
            if closed is not None and state in ("closed", "cancelled")
            else None
        )
        ref = f"{prefix}-{spec.opened.year}-{spec.number:04d}"
        spec.ident = self.add(
            "activity",
            ref=ref,
            workflow=spec.workflow,
            definition_id=self.definitions[spec.workflow],
            state=state,
            title=title,
            data=data,
            opened_by=BU,
            opened_at=opened_at,
            updated_at=closed_at or opened_at,
            closed_at=closed_at,
            parent_id=spec.parent.ident if spec.parent is not None else None,
            version=1,
        )
        for agency_id, _, _ in agencies:
            self.add("activity_agency", activity_id=spec.ident, agency_id=agency_id)
        first = next(iter(self.registry.get(spec.workflow).states))
        self.event(spec.ident, None, opened_at, "opened", to_state=first)
        if spec.parent is not None and spec.parent.ident is not None:
            self.event(spec.parent.ident, None, opened_at, "spawned", inputs={"ref": ref})
        return spec.ident

    def findings(self, spec: Spec, day: date, n_findings: int, n_recs: int, source: str) -> None:
        assert spec.ident is not None
        rng = self.rng
        day = min(day, self.days.add(TODAY, -1))
        for kind, n in (("finding", n_findings), ("recommendation", n_recs)):
            for i in range(n):
                agency = rng.choice(self.agencies) if rng.random() < 0.3 else None
                spec.findings.append(
                    self.add(
                        "finding",
                        activity_id=spec.ident,
                        kind=kind,
                        text=f"Fictional {kind} {i + 1} of the {source}",
                        agency_id=agency[0] if agency is not None else None,
                        question=None,
                        created_at=moment(day, rng.randint(9, 16), rng.randrange(60)),
                        created_by=BU,
                    )
                )

    def choose_agencies(self, n: int) -> list[tuple[int, str, str]]:
        return sorted(self.rng.sample(self.agencies, min(n, len(self.agencies))))

    # -- assessments

    def answers(
        self,
        form: Form,
        scale: str,
        at: datetime,
        by: str,
        *,
        base: dict[str, int] | None = None,
        fill: float = 1.0,
        carried: bool = False,
        reviewed: bool = True,
    ) -> list[dict[str, Any]]:
        rng = self.rng
        levels = self.forms.scale(scale).levels
        out = []
        for q in form.questions():
            if fill < 1.0 and rng.random() > fill:
                continue
            if base is not None and q.number in base:
                score = min(max(base[q.number] + rng.choice((-1, 0, 0, 0, 1, 1)), 0), 3)
            else:
                score = rng.choices((0, 1, 2, 3), weights=(1, 3, 5, 2))[0]
            level = next((lv for lv in levels if lv.score == score), levels[-1])
            out.append(
                {
                    "question": q.number,
                    "standard": q.standard,
                    "rating": level.key,
                    "score": level.score,
                    "evidence": f"Fictional evidence for question {q.number}.",
                    "carried_forward": carried,
                    "reviewed": reviewed,
                    "updated_at": at,
                    "updated_by": by,
                }
            )
        return out

    def moderate(self, answers: list[dict[str, Any]], at: datetime, scale: str) -> None:
        levels = self.forms.scale(scale).levels
        for a in answers:
            moderated = max(a["score"] - (1 if self.rng.random() < 0.25 else 0), 0)
            level = next(lv for lv in levels if lv.score == moderated)
            a["moderated_rating"] = level.key
            a["moderated_score"] = level.score
            a["moderated_by"] = BU
            a["moderated_at"] = at
            if moderated != a["score"]:
                a["moderation_reason"] = "The evidence seen supports a lower score (fictional)."

    # -- one activity of each kind

    def write_section11(self, spec: Spec, previous: dict[int, PendingAssessment]) -> None:
        days = self.days
        cycle = {2024: 1, 2025: 2, 2026: 3}[spec.opened.year]
        closed = days.add(spec.opened, 200) if cycle == 1 else None
        data: dict[str, Any] = {"grading_scale": "zero_to_three"}
        if cycle > 1:
            data["previous_cycle"] = f"S11-{spec.opened.year - 1}-0001"
        state = {1: "closed", 2: "monitoring", 3: "awaiting_returns"}[cycle]
        self.activity(
            spec,
            state,
            f"Section 11 cycle {spec.opened.year} (fictional)",
            data,
            self.agencies,
            closed,
        )
        assert spec.ident is not None
        self.cycle_ids[spec.opened.year] = spec.ident
        issued = moment(days.add(spec.opened, 1), 10)
        due = days.add(spec.opened, 31)
        form = self.forms.get("section11")
        mine: dict[int, PendingAssessment] = {}
        moderation_day = days.add(due, 25)
        for agency in self.agencies:
            life = self.life(
                spec.opened, due, REQUEST, p_late=0.3, p_stuck=0, can_answer=cycle < 3, rare=False
            )
            task_id = self.task(
                spec,
                "s11_return",
                "request",
                agency,
                issued,
                due,
                life,
                REQUEST,
                title=f"Section 11 self-assessment: {agency[1]}",
            )
            earlier = previous.get(agency[0])
            base = {a["question"]: a["score"] for a in earlier.answers} if earlier else None
            at = life.answered_at or moment(days.add(spec.opened, 2), 9)
            answers = self.answers(
                form,
                "zero_to_three",
                at,
                agency[2],
                base=base,
                carried=earlier is not None,
                reviewed=cycle < 3,
            )
            if life.answered_at is not None and not (cycle == 2 and agency[0] % 13 == 0):
                self.moderate(answers, moment(moderation_day, 14), "zero_to_three")
            assessment = PendingAssessment(
                spec.ident,
                task_id,
                agency[0],
                "section11",
                "zero_to_three",
                "return",
                issued,
                life.answered_at,
                agency[2] if life.answered_at else None,
                answers,
                carried_from=earlier,
            )
            self.assessments.append(assessment)
            mine[agency[0]] = assessment
            if cycle < 3:
                moderated = cycle == 1 or agency[0] % 13 != 0
                self.task(
                    spec,
                    "moderation",
                    "none",
                    agency,
                    moment(due, 17),
                    moderation_day,
                    Life(
                        "moderated" if moderated else "pending",
                        not moderated,
                        "none",
                        closed_at=moment(moderation_day, 14) if moderated else None,
                    ),
                    MODERATION,
                    title=f"Moderation: {agency[1]}",
                )
                plan_day = days.add(moderation_day, 30)
                self.task(
                    spec,
                    "agency_action_plan",
                    "request",
                    agency,
                    moment(plan_day, 10),
                    days.add(plan_day, 20),
                    self.life(plan_day, days.add(plan_day, 20), REQUEST, p_late=0.3),
                    REQUEST,
                    title=f"Agency action plan: {agency[1]}",
                )
        previous.clear()
        previous.update(mine)
        if cycle < 3:
            self.findings(spec, days.add(moderation_day, 15), 3, 2, "Section 11 cycle")

    def write_review(self, spec: Spec) -> None:
        rng, days = self.rng, self.days
        local: bool = spec.extra["local"]
        agencies = self.choose_agencies(spec.extra["agencies"])
        decided = days.add(spec.opened, 15)
        publication = add_months(decided, 6) if local else None
        finished = (publication or decided) + timedelta(days=60)
        state = (
            ("closed" if finished < TODAY else "review_in_progress")
            if local
            else ("closed" if finished < TODAY else "learning_actions")
        )
        self.activity(
            spec,
            state,
            f"Child safeguarding practice review {spec.number} (fictional)",
            {"basis": "awareness"},
            agencies,
            finished,
        )
        opened_at = moment(spec.opened, 10)
        steps: list[tuple[str, date, str]] = [
            ("panel_notification", days.add(spec.opened, 5), "Notify the national Panel"),
            ("rapid_review", days.add(spec.opened, 15), "Send the rapid review"),
        ]
        if publication is not None:
            steps.append(("publication", publication, "Publish the review"))
            steps.append(("panel_report", days.add(publication, -7), "Send the report"))
        for kind, due, title in steps:
            created = (
                opened_at if kind in ("panel_notification", "rapid_review") else moment(decided, 15)
            )
            created_day = local_day(created)
            life = self.life(created_day, due, STATUTORY, p_late=0.1)
            self.task(spec, kind, "statutory", None, created, due, life, STATUTORY, title=title)
        for agency in agencies:
            due = days.add(spec.opened, 7)
            life = self.life(spec.opened, due, REQUEST, p_late=0.25)
            self.task(
                spec,
                "agency_summary",
                "request",
                agency,
                opened_at,
                due,
                life,
                REQUEST,
                title=f"Agency summary: {agency[1]}",
            )
            if local:
                asked = days.add(decided, 10)
                due = days.add(asked, 20)
                life = self.life(asked, due, REQUEST, p_late=0.35)
                self.task(
                    spec,
                    "chronology",
                    "request",
                    agency,
                    moment(asked, 11),
                    due,
                    life,
                    REQUEST,
                    title=f"Chronology: {agency[1]}",
                )
        if decided < TODAY:
            self.findings(spec, decided, 0, rng.randint(2, 5), "practice review")

    def write_audit(self, spec: Spec) -> None:
        rng, days = self.rng, self.days
        agencies = self.choose_agencies(spec.extra["agencies"])
        cancelled: bool = spec.extra["cancelled"]
        issued = days.add(spec.opened, 10)
        due = days.add(issued, 20)
        meeting = days.add(due, 10)
        reaudit = add_months(meeting, 6) if rng.random() < 0.35 else None
        if cancelled:
            state, closed = "cancelled", days.add(spec.opened, 8)
        elif reaudit is not None and reaudit < TODAY:
            state, closed = "closed", days.add(reaudit, 10)
        elif meeting < TODAY:
            state, closed = "action_planning", None
        else:
            state, closed = "awaiting_returns", None
        self.activity(
            spec,
            state,
            f"Themed audit {spec.number} (fictional theme)",
            {"theme": "fictional theme", "sample_size": 3},
            agencies,
            closed,
        )
        assert spec.ident is not None
        if cancelled:
            return
        form = self.forms.get("single_agency_audit")
        created = moment(issued, 10)
        for agency in agencies:
            life = self.life(issued, due, REQUEST, p_late=0.35)
            task_id = self.task(
                spec,
                "audit_return",
                "request",
                agency,
                created,
                due,
                life,
                REQUEST,
                title=f"Single-agency audit return: {agency[1]}",
            )
            if life.answered_at is None and (life.state == "withdrawn" or rng.random() < 0.5):
                continue  # not started
            at = life.answered_at or moment(days.add(issued, 3), 14)
            self.assessments.append(
                PendingAssessment(
                    spec.ident,
                    task_id,
                    agency[0],
                    "single_agency_audit",
                    "ofsted",
                    "return",
                    created,
                    life.answered_at,
                    agency[2] if life.answered_at else None,
                    self.answers(
                        form, "ofsted", at, agency[2], fill=1.0 if life.answered_at else 0.6
                    ),
                    droppable=True,
                )
            )
        judgements = self.forms.get("maa_judgements")
        if meeting < TODAY:
            at = moment(meeting, 15)
            first = PendingAssessment(
                spec.ident,
                None,
                None,
                "maa_judgements",
                "ofsted",
                "first",
                at,
                at,
                BU,
                self.answers(judgements, "ofsted", at, BU),
            )
            self.assessments.append(first)
            self.findings(
                spec, days.add(meeting, 5), rng.randint(1, 4), rng.randint(1, 3), "themed audit"
            )
            if reaudit is not None and reaudit < TODAY:
                at = moment(reaudit, 15)
                base = {a["question"]: a["score"] for a in first.answers}
                self.assessments.append(
                    PendingAssessment(
                        spec.ident,
                        None,
                        None,
                        "maa_judgements",
                        "ofsted",
                        "reaudit",
                        at,
                        at,
                        BU,
                        self.answers(judgements, "ofsted", at, BU, base=base),
                    )
                )

    def write_plan(self, spec: Spec) -> None:
        rng, days = self.rng, self.days
        parent = spec.parent
        data: dict[str, Any] = {}
        if parent is None:
            data["origin"] = spec.extra["origin"]
            source = data["origin"].replace("_", " ")
        else:
            source = parent.workflow.replace("_", " ")
        n: int = spec.extra["actions"]
        agencies = self.choose_agencies(rng.randint(3, min(15, len(self.agencies))))
        closed = days.add(spec.opened, 400) if rng.random() < 0.5 else None
        self.activity(
            spec,
            "closed" if closed is not None and closed < TODAY else "monitoring",
            f"Action plan from the {source} (fictional)",
            data,
            agencies,
            closed,
        )
        findings = parent.findings if parent is not None else []
        for i in range(n):
            agency = agencies[i % len(agencies)]
            created_day = days.add(spec.opened, rng.randint(0, 20))
            if created_day >= TODAY:
                created_day = days.add(TODAY, -1)
            first_due = created_day + timedelta(days=rng.randint(40, 270))
            due = first_due
            moves: list[tuple[date, date, date]] = []  # (asked on, from, to)
            if rng.random() < 0.10:
                when = created_day
                for _ in range(rng.randint(1, 2)):
                    # moved with approval some time before the target date in force
                    when += timedelta(days=rng.randint(10, max(11, (due - when).days)))
                    if when >= TODAY:
                        break
                    moved = due + timedelta(days=rng.randint(20, 90))
                    moves.append((when, due, moved))
                    due = moved
            life = self.action_life(created_day, due)
            # an action completed before a move was asked for was not moved
            while moves and life.answered_at and local_day(life.answered_at) <= moves[-1][0]:
                moves.pop()
                due = moves[-1][2] if moves else first_due
                life = self.action_life(created_day, due)
            original = first_due if moves else None
            data_a: dict[str, Any] = {
                "description": f"Fictional action {i + 1}",
                "lead_name": f"Lead {agency[0]:02d}",
                "target_date": due.isoformat(),
                "success_measure": "A fictional measure of success",
            }
            if life.answered_at is not None:
                data_a["evidence_of_completion"] = "Fictional evidence of completion"
                roll = rng.random()
                if roll < 0.6:
                    data_a["evidence_of_impact"] = "Fictional evidence of impact for families"
                elif roll < 0.7:
                    data_a["evidence_of_impact"] = "  "
            finding = rng.choice(findings) if findings and rng.random() < 0.5 else None
            task_id = self.task(
                spec,
                "action",
                "action",
                agency,
                moment(created_day, rng.randint(9, 16)),
                due,
                life,
                ACTION,
                title=f"Action {i + 1} for {agency[1]}",
                data=data_a,
                original_due_on=original,
                finding_id=finding,
            )
            assert spec.ident is not None
            for when, before, after in moves:
                self.reprogrammings += 1
                self.event(
                    spec.ident,
                    task_id,
                    moment(when, rng.randint(9, 16), rng.randrange(60)),
                    "deadline_reprogrammed",
                    actor="manager@northshire-scp.example",
                    role="manager",
                    inputs={
                        "from": before.isoformat(),
                        "to": after.isoformat(),
                        "original": first_due.isoformat(),
                    },
                    reason="Agreed by the subgroup (fictional)",
                )

    def action_life(self, created: date, due: date) -> Life:
        """Actions slip more than returns: a third late, by five weeks on average."""
        return self.life(created, due, ACTION, p_late=0.35, late_mean=25, p_stuck=0.06, p_close=0.7)

    def write_request(self, spec: Spec) -> None:
        rng, days = self.rng, self.days
        agencies = self.choose_agencies(spec.extra["agencies"])
        due = days.add(spec.opened, rng.choice((10, 15, 20)))
        finished = days.add(due, 40)
        self.activity(
            spec,
            "closed" if finished < TODAY else "requested",
            f"Quarterly data request {spec.number} (fictional)",
            {"request_details": "Fictional indicators"},
            agencies,
            finished,
        )
        created = moment(spec.opened, rng.randint(9, 12))
        for agency in agencies:
            life = self.life(spec.opened, due, REQUEST, p_late=0.35)
            self.task(
                spec,
                "agency_return",
                "request",
                agency,
                created,
                due,
                life,
                REQUEST,
                title=f"Data return: {agency[1]}",
            )
        if spec.extra["challenge"]:
            asked = days.add(due, 10)
            agency = rng.choice(agencies)
            life = self.life(asked, days.add(asked, 10), CHALLENGE, p_late=0.3)
            self.task(
                spec,
                "challenge_response",
                "request",
                agency,
                moment(asked, 14),
                days.add(asked, 10),
                life,
                CHALLENGE,
                title=f"Challenge response: {agency[1]}",
                initial="awaiting_response",
            )

    # -- everything

    def build(self) -> Counts:
        self.reference_data()
        specs = self.plan()
        previous: dict[int, PendingAssessment] = {}
        for spec in specs:
            if spec.workflow == "section11":
                self.write_section11(spec, previous)
            elif spec.workflow == "practice_review":
                self.write_review(spec)
            elif spec.workflow == "themed_audit":
                self.write_audit(spec)
            elif spec.workflow == "action_plan":
                self.write_plan(spec)
            else:
                self.write_request(spec)
        self.write_assessments()
        for table, wanted in (("task", self.n_tasks), ("assessment", self.n_assessments)):
            if len(self.rows[table]) != wanted:
                raise SystemExit(f"wrote {len(self.rows[table]):,} {table} rows, not {wanted:,}")
        tasks: dict[str, int] = {}
        for row in self.rows["task"]:
            category = row[COLUMNS["task"].index("category")]
            tasks[category] = tasks.get(category, 0) + 1
        activities: dict[str, int] = {}
        for row in self.rows["activity"]:
            activities[row[2]] = activities.get(row[2], 0) + 1
        assessments: dict[str, int] = {}
        for row in self.rows["assessment"]:
            key = f"{row[5]} {row[8]}"
            assessments[key] = assessments.get(key, 0) + 1
        return Counts(
            tasks=tasks,
            activities=activities,
            assessments=assessments,
            answers=len(self.rows["assessment_answer"]),
            events=len(self.rows["event"]),
            reprogrammings=self.reprogrammings,
            findings=len(self.rows["finding"]),
            agencies=len(self.agencies),
        )

    def write_assessments(self) -> None:
        """Keep exactly the number asked for (leaving out some audit tools, at random),
        then give ids in order of creation."""
        fixed = [a for a in self.assessments if not a.droppable]
        optional = [i for i, a in enumerate(self.assessments) if a.droppable]
        room = max(self.n_assessments - len(fixed), 0)
        keep = set(self.rng.sample(optional, room)) if room < len(optional) else set(optional)
        chosen = [a for i, a in enumerate(self.assessments) if not a.droppable or i in keep]
        chosen.sort(key=lambda a: a.created_at)
        for a in chosen:
            assert a.carried_from is None or a.carried_from.ident is not None
            a.ident = self.add(
                "assessment",
                activity_id=a.activity_id,
                task_id=a.task_id,
                agency_id=a.agency_id,
                form_definition_id=self.form_definitions[a.form],
                form_name=a.form,
                scale=a.scale,
                stage=a.stage,
                status="submitted" if a.submitted_at is not None else "draft",
                carried_from_id=a.carried_from.ident if a.carried_from is not None else None,
                created_at=a.created_at,
                updated_at=a.submitted_at or a.created_at,
                submitted_at=a.submitted_at,
                submitted_by=a.submitted_by,
                version=1 + len(a.answers) // 5,
            )
            for answer in a.answers:
                self.add("assessment_answer", **{**UNMODERATED, **answer, "assessment_id": a.ident})


# ---------------------------------------------------------------------------------------
# loading: multi-row INSERTs on the bare driver


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


def _pg_value(value: Any) -> Any:
    return Json(value) if isinstance(value, dict | list) else value


PG_ROWS = 10_000  # rows per INSERT on PostgreSQL


def _chunks(rows: list[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def load(url: str, is_sqlite: bool, history: History) -> None:
    """Every row with multi-row INSERTs in one transaction (on SQLite ``INSERT ... VALUES``
    with up to 30k parameters; on PostgreSQL ``INSERT ... SELECT * FROM unnest(arrays)``,
    one array per column, 10k rows a statement), then the serial sequences moved past the
    ids given here and the statistics gathered."""
    if is_sqlite:
        path = sa.engine.make_url(url).database or ""
        lite = sqlite3.connect(path, isolation_level=None)
        try:
            lite.execute("PRAGMA journal_mode=WAL")
            lite.execute("PRAGMA synchronous=OFF")  # loading only; the service runs NORMAL
            lite.execute("BEGIN")
            for table, columns in COLUMNS.items():
                names = ", ".join(f'"{c}"' for c in columns)
                one = "(" + ", ".join("?" * len(columns)) + ")"
                for chunk in _chunks(history.rows[table], max(1, 30_000 // len(columns))):
                    sql = f"INSERT INTO {table} ({names}) VALUES " + ", ".join([one] * len(chunk))
                    lite.execute(sql, [_sqlite_value(v) for row in chunk for v in row])
            lite.execute("COMMIT")
            lite.execute("ANALYZE")
            lite.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            lite.close()
        return
    with psycopg.connect(_conninfo(url)) as conn:
        with conn.cursor() as cur:
            for table, columns in COLUMNS.items():
                # One array per column, unnested into rows: a multi-row INSERT whose
                # statement text stays short (psycopg parses long statements slowly).
                cur.execute(
                    "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                    (table,),
                )
                types: dict[str, str] = dict(cur.fetchall())
                arrays = ", ".join(f"%s::{types[c]}[]" for c in columns)
                names = ", ".join(f'"{c}"' for c in columns)
                sql = f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays})"
                for chunk in _chunks(history.rows[table], PG_ROWS):
                    cur.execute(
                        sql, [[_pg_value(v) for v in values] for values in zip(*chunk, strict=True)]
                    )
            for table in SERIAL_TABLES:
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                )
        conn.commit()
        conn.autocommit = True
        for table in COLUMNS:
            conn.execute(f"VACUUM ANALYZE {table}")


def _conninfo(url: str) -> str:
    """A libpq connection string for a SQLAlchemy URL, its query (``options``) included."""
    u = sa.engine.make_url(url)
    parts = {"host": u.host, "port": u.port, "user": u.username, "password": u.password}
    parts["dbname"] = u.database
    fields: dict[str, Any] = {**parts, **u.query}
    return make_conninfo("", **{k: v for k, v in fields.items() if v is not None})


# ---------------------------------------------------------------------------------------
# the raw baseline: one hand-written aggregate query on the bare driver

#: The least the report has to read: the period's tasks by category and agency (created,
#: answered, reminders and escalations of the answered, lateness; statutory steps due in the
#: period and open actions are in the filter) and the Section 11 answers' means by cycle,
#: agency and standard. One statement, one round trip.
RAW_SQL = """
SELECT 'task' AS part, category AS name, agency_id, NULL AS cycle,
       count(*) AS n,
       sum(CASE WHEN created_at >= :lo AND created_at < :hi THEN 1 ELSE 0 END) AS created,
       sum(CASE WHEN answered_at >= :lo AND answered_at < :hi THEN 1 ELSE 0 END) AS answered,
       sum(CASE WHEN answered_at >= :lo AND answered_at < :hi
                THEN reminders_sent ELSE 0 END) AS reminders,
       sum(CASE WHEN answered_at >= :lo AND answered_at < :hi
                THEN escalations_sent ELSE 0 END) AS escalations,
       avg(late_working_days) AS mean_1,
       NULL AS mean_2
FROM task
WHERE category <> 'none'
  AND ((created_at >= :lo AND created_at < :hi) OR (answered_at >= :lo AND answered_at < :hi)
       OR (due_on >= :first AND due_on <= :last) OR is_open)
GROUP BY category, agency_id
UNION ALL
SELECT 'answer', s.standard, a.agency_id, a.activity_id,
       count(*), 0, 0, 0, 0, avg(s.score), avg(s.moderated_score)
FROM assessment a JOIN assessment_answer s ON s.assessment_id = a.id
WHERE a.form_name = 'section11' AND a.stage = 'return' AND a.status = 'submitted'
  AND a.agency_id IS NOT NULL
GROUP BY a.activity_id, a.agency_id, s.standard
"""


def raw_params(is_sqlite: bool) -> dict[str, Any]:
    lo = datetime.combine(START, time(0), tzinfo=LONDON).astimezone(UTC)
    hi = end_of(END)
    params: dict[str, Any] = {"lo": lo, "hi": hi, "first": START, "last": END}
    return {k: _sqlite_value(v) for k, v in params.items()} if is_sqlite else params


class Raw:
    """The baseline query on a bare connection kept open (as a pool would keep it)."""

    def __init__(self, url: str, is_sqlite: bool) -> None:
        self.is_sqlite = is_sqlite
        self.params = raw_params(is_sqlite)
        if is_sqlite:
            self.lite: sqlite3.Connection | None = sqlite3.connect(
                sa.engine.make_url(url).database or "", isolation_level=None
            )
            self.pg: psycopg.Connection[Any] | None = None
            self.sql = RAW_SQL
        else:
            self.pg = psycopg.connect(_conninfo(url), autocommit=True)
            self.lite = None
            self.sql = RAW_SQL
            for name in self.params:
                self.sql = self.sql.replace(f":{name}", f"%({name})s")

    def run(self) -> list[tuple[Any, ...]]:
        if self.lite is not None:
            return self.lite.execute(self.sql, self.params).fetchall()
        assert self.pg is not None
        return self.pg.execute(self.sql, self.params).fetchall()

    def explain(self) -> list[str]:
        if self.lite is not None:
            return [
                str(r[3]) for r in self.lite.execute("EXPLAIN QUERY PLAN " + self.sql, self.params)
            ]
        assert self.pg is not None
        plan = self.pg.execute("EXPLAIN (ANALYZE, BUFFERS) " + self.sql, self.params)
        return [str(r[0]) for r in plan]

    def close(self) -> None:
        if self.lite is not None:
            self.lite.close()
        if self.pg is not None:
            self.pg.close()


# ---------------------------------------------------------------------------------------
# the product path and what it sends


@dataclass
class Statement:
    function: str
    sql: str
    params: Any
    ms: float
    rows: int


def report_once(db: Database, forms: FormRegistry, registry: Registry) -> Report:
    return build_report(
        db,
        forms=forms,
        registry=registry,
        calendar=WorkingCalendar(),
        start=START,
        end=END,
        partnership=PARTNERSHIP,
        now=NOW,
    )


def _figures_function() -> str:
    """The innermost figure function of sef_workflow/reports/ on the stack (the shared query
    helpers of reports/counting.py are passed over for the figure that called them)."""
    frame = sys._getframe(2)
    reports = str(Path("sef_workflow", "reports")) + os.sep
    helpers = str(Path("reports", "counting.py"))
    while frame is not None:
        name = frame.f_code.co_filename
        if reports in name and not name.endswith(helpers):
            return frame.f_code.co_name
        frame = frame.f_back  # type: ignore[assignment]
    return "?"


def capture(db: Database, fn: Callable[[], Any]) -> list[Statement]:
    """Run ``fn`` once, recording every statement sent on the read engine and its time."""
    seen: list[Statement] = []
    started: list[float] = []

    def before(_c: Any, _cur: Any, statement: str, params: Any, *_a: Any) -> None:
        seen.append(Statement(_figures_function(), statement, params, 0.0, -1))
        started.append(clock.perf_counter())

    def after(_c: Any, cursor: Any, *_a: Any) -> None:
        seen[-1].ms = (clock.perf_counter() - started[-1]) * 1000
        seen[-1].rows = getattr(cursor, "rowcount", -1)

    sa_event.listen(db.engine, "before_cursor_execute", before)
    sa_event.listen(db.engine, "after_cursor_execute", after)
    try:
        fn()
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", before)
        sa_event.remove(db.engine, "after_cursor_execute", after)
    return seen


def explain_statement(db: Database, s: Statement) -> list[str]:
    with db.engine.connect() as conn:
        if db.is_sqlite:
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + s.sql, s.params)
            lines = [str(r[3]) for r in plan]
        else:
            plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + s.sql, s.params)
            lines = [str(r[0]) for r in plan]
        conn.rollback()
    return lines


# ---------------------------------------------------------------------------------------
# both saw the same rows


def check(report: Report, raw: list[tuple[Any, ...]], history: History) -> list[str]:
    """The report's totals against the raw query's: requests issued, returns received,
    reminders, escalations, actions completed, and every Section 11 mean of the cycle."""
    problems: list[str] = []
    tasks: dict[str, list[int]] = {}
    means: dict[tuple[int, int, str], tuple[float | None, float | None]] = {}
    for part, name, agency_id, cycle, _n, created, answered, rem, esc, m1, m2 in raw:
        if part == "task":
            sums = tasks.setdefault(name, [0, 0, 0, 0])
            for i, v in enumerate((created, answered, rem, esc)):
                sums[i] += int(v or 0)
        else:
            means[(int(cycle), int(agency_id), name)] = (
                float(m1) if m1 is not None else None,
                float(m2) if m2 is not None else None,
            )

    def same(what: str, got: Any, expected: Any) -> None:
        if got != expected:
            problems.append(f"{what}: report {got!r}, raw {expected!r}")

    request = tasks.get("request", [0, 0, 0, 0])
    requests = report.table("requests_by_agency")
    same("requests issued", requests.cell("Total", "Requests issued"), request[0])
    same("returns received", requests.cell("Total", "Returns received"), request[1])
    chasing = report.table("chasing")
    same("reminders", chasing.cell("Total", "Reminders"), request[2])
    same("escalations", chasing.cell("Total", "Escalations"), request[3])
    actions = report.table("actions_completed")
    same("actions completed", actions.cell("Total", "Completed"), tasks.get("action", [0] * 4)[1])
    s11 = next(s for s in report.sections if s.key == "section11")
    current = history.cycle_ids.get(2025)
    if current is None or "S11-2025-0001" not in s11.intro or "S11-2024-0001" not in s11.intro:
        problems.append(f"Section 11: not cycle S11-2025-0001 against S11-2024-0001: {s11.intro}")
    else:
        keys = [s.key for s in history.forms.get("section11").standards]
        names = {a: n for a, n, _ in history.agencies}
        checked = 0
        for key, index in (("s11_self", 0), ("s11_moderated", 1)):
            table = report.table(key)
            for (cycle, agency_id, standard), pair in means.items():
                if cycle != current:
                    continue
                cell = table.row(names[agency_id])[1 + keys.index(standard)]
                got = cell.value if isinstance(cell, Rated) else None
                expected = pair[index]
                if (got is None) != (expected is None) or (
                    got is not None and expected is not None and abs(got - expected) > 1e-3
                ):
                    problems.append(f"{key} {names[agency_id]} {standard}: {got} != {expected}")
                checked += 1
        if not checked:
            problems.append("Section 11: the raw query found no answers of the cycle")
        if not report.table("ratings_moved").rows:
            problems.append("Section 11: no ratings compared with the previous cycle")
    return problems


# ---------------------------------------------------------------------------------------
# one database


@dataclass
class Timing:
    wall: list[float] = field(default_factory=list)  # ms
    cpu: list[float] = field(default_factory=list)  # this process's CPU ms

    def run(self, fn: Callable[[], Any]) -> Any:
        gc.collect()
        cpu, wall = clock.process_time(), clock.perf_counter()
        result = fn()
        self.wall.append((clock.perf_counter() - wall) * 1000)
        self.cpu.append((clock.process_time() - cpu) * 1000)
        return result

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


@dataclass
class Result:
    label: str
    counts: Counts
    report: Timing
    raw: Timing
    statements: list[Statement]
    raw_rows: int

    @property
    def queries(self) -> int:
        """The report's queries (not SQLite's BEGIN, which the engine sends itself)."""
        return sum(1 for s in self.statements if s.sql.lstrip().upper().startswith("SELECT"))

    @property
    def ratio(self) -> float:
        return self.report.median / self.raw.median

    @property
    def passed(self) -> bool:
        return self.ratio <= TARGET_RATIO and self.report.median < TARGET_MS


@dataclass(frozen=True)
class Options:
    tasks: int
    assessments: int
    agencies: int
    runs: int
    warmup: int
    seed: int
    explain: bool
    profile: bool
    top: int
    pg_settings: tuple[str, ...] = ()


def with_settings(url: str, settings: Sequence[str]) -> str:
    """``url`` (whose last query parameter is ``options=-csearch_path...``) with
    ``-cNAME=VALUE`` added for each setting: every connection of the run gets them."""
    return url + "".join(quote(f" -c{s}") for s in settings)


def run_database(label: str, opts: Options) -> Result:
    with ExitStack() as stack:
        database = fr.sqlite_database() if label == "sqlite" else fr.postgres_schema()
        url = stack.enter_context(database)
        if label == "postgres" and opts.pg_settings:
            url = with_settings(url, opts.pg_settings)
            print(f"  {label}: experiment, every connection: {', '.join(opts.pg_settings)}")
        db = Database(url)
        stack.callback(db.dispose)  # before the schema is dropped
        db.upgrade()
        started = clock.perf_counter()
        history = History(opts.tasks, opts.assessments, opts.agencies, opts.seed)
        counts = history.build()
        built = clock.perf_counter()
        load(url, db.is_sqlite, history)
        loaded = clock.perf_counter()
        with db.engine.connect() as conn:
            stored = {
                t: int(conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar_one())
                for t in COLUMNS
            }
        for table, written in history.rows.items():
            if stored[table] != len(written):
                raise SystemExit(f"{label}: {table} has {stored[table]} rows, not {len(written)}")
        print_counts(label, counts, stored, built - started, loaded - built)
        # The rows are in the database now: free them, so that the collector does not walk
        # a million tuples during the timed runs.
        history.rows.clear()
        history.assessments.clear()
        gc.collect()

        forms, registry = FormRegistry(FORMS), Registry(fr.WORKFLOWS)
        raw = Raw(url, db.is_sqlite)
        stack.callback(raw.close)
        report_timing, raw_timing = Timing(), Timing()
        for _ in range(opts.warmup):
            report_once(db, forms, registry)
            raw.run()
        report: Report | None = None
        rows: list[tuple[Any, ...]] = []
        for i in range(opts.runs):  # alternate which goes first, so drift hits both alike
            if i % 2:
                rows = raw_timing.run(raw.run)
                report = report_timing.run(lambda: report_once(db, forms, registry))
            else:
                report = report_timing.run(lambda: report_once(db, forms, registry))
                rows = raw_timing.run(raw.run)
        assert report is not None
        problems = check(report, rows, history)
        if problems:
            for p in problems:
                print(f"  {label}: MISMATCH {p}")
            raise SystemExit(f"{label}: the report and the raw query disagree")
        statements = capture(db, lambda: report_once(db, forms, registry))
        result = Result(label, counts, report_timing, raw_timing, statements, len(rows))
        print_result(result, opts)
        if opts.explain:
            heaviest = max(statements, key=lambda s: s.ms)
            print(
                f"\n  {label}: plan of the report's heaviest statement ({heaviest.function}, "
                f"{heaviest.ms:.1f} ms):"
            )
            print("    " + " ".join(heaviest.sql.split())[:2000])
            for line in explain_statement(db, heaviest):
                print(f"    {line}")
            print(f"\n  {label}: plan of the raw query:")
            for line in raw.explain():
                print(f"    {line}")
        if opts.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            report_once(db, forms, registry)
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(opts.top)
            stats.sort_stats("tottime").print_stats(opts.top)
            print(f"\n  {label}: cProfile of one build_report")
            print(out.getvalue())
        return result


def print_counts(
    label: str, c: Counts, stored: dict[str, int], build_s: float, load_s: float
) -> None:
    tasks = ", ".join(f"{k} {v:,}" for k, v in sorted(c.tasks.items()))
    activities = ", ".join(f"{k} {v:,}" for k, v in sorted(c.activities.items()))
    assessments = ", ".join(f"{k} {v:,}" for k, v in sorted(c.assessments.items()))
    print(
        f"  {label}: {c.total_tasks:,} tasks ({tasks}); {sum(c.activities.values()):,} "
        f"activities ({activities}); {c.total_assessments:,} assessments ({assessments}); "
        f"{c.answers:,} answers; {c.events:,} events ({c.reprogrammings:,} reprogrammings); "
        f"{c.findings:,} findings; {c.agencies} agencies",
        flush=True,
    )
    print(
        f"  {label}: rows generated in {build_s:.1f}s, inserted (multi-row INSERT) and "
        f"analysed in {load_s:.1f}s; " + ", ".join(f"{t} {n:,}" for t, n in stored.items()),
        flush=True,
    )


def print_result(r: Result, opts: Options) -> None:
    print()
    print(
        f"{r.label}: {START.isoformat()} to {END.isoformat()}, {opts.runs} timed runs each "
        f"after {opts.warmup} warm-up, alternating"
    )
    header = f"{'path':<34} {'median ms':>9} {'min ms':>8} {'max ms':>8} {'CPU ms':>8} {'rows':>6}"
    print(header)
    print("-" * len(header))
    n_statements = r.queries
    for name, t, rows in (
        (f"report: build_report ({n_statements} queries)", r.report, "-"),
        ("raw: one aggregate query", r.raw, f"{r.raw_rows}"),
    ):
        print(
            f"{name:<34} {t.median:>9.1f} {min(t.wall):>8.1f} {max(t.wall):>8.1f} "
            f"{t.cpu_median:>8.1f} {rows:>6}"
        )
    sql_ms = sum(s.ms for s in r.statements)
    print(
        f"ratio report/raw: {r.ratio:.1f}x; target <= {TARGET_RATIO:.0f}x and < "
        f"{TARGET_MS:.0f} ms: {'PASS' if r.passed else 'FAIL'}"
    )
    print()
    print(
        f"{r.label}: the report's statements in one instrumented run ({n_statements} "
        f"queries, {len(r.statements)} statements, {sql_ms:.1f} ms from execute to result "
        "in the driver), heaviest first"
    )
    header = f"{'function':<24} {'ms':>8} {'rows':>6}  statement"
    print(header)
    print("-" * 100)
    for s in sorted(r.statements, key=lambda s: s.ms, reverse=True)[: opts.top]:
        text = " ".join(s.sql.split())
        print(f"{s.function:<24} {s.ms:>8.2f} {s.rows:>6}  {text[:60]}")


def parse_size(text: str) -> int:
    text = text.strip().lower().replace(",", "").replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--tasks", type=parse_size, default=100_000, help="tasks (100k)")
    parser.add_argument("--assessments", type=parse_size, default=10_000, help="(10k)")
    parser.add_argument("--agencies", type=int, default=40, help="fictional agencies (40)")
    parser.add_argument("--quick", action="store_true", help="10k tasks, 1k assessments, 5 runs")
    parser.add_argument("--runs", type=int, default=None, help="timed runs of each path (15)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs of each first (3)")
    parser.add_argument("--sqlite", action="store_true", help="run SQLite too (after PostgreSQL)")
    parser.add_argument("--sqlite-only", action="store_true", help="run SQLite only")
    parser.add_argument("--seed", type=int, default=2026, help="random seed of the history")
    parser.add_argument("--explain", action="store_true", help="plans of the heaviest queries")
    parser.add_argument("--profile", action="store_true", help="cProfile one build_report")
    parser.add_argument("--top", type=int, default=12, help="lines per listing (12)")
    parser.add_argument(
        "--pg-set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an experiment: a PostgreSQL setting for every connection of the run "
        "(e.g. random_page_cost=1.1); repeatable",
    )
    args = parser.parse_args(argv)
    tasks = 10_000 if args.quick else args.tasks
    assessments = 1_000 if args.quick else args.assessments
    runs = args.runs or (5 if args.quick else 15)
    if runs < 1 or args.warmup < 0 or args.agencies < 8 or tasks < 1_000 or assessments < 200:
        parser.error(
            "--runs >= 1, --warmup >= 0, --agencies >= 8, --tasks >= 1k, --assessments >= 200"
        )
    opts = Options(
        tasks,
        assessments,
        args.agencies,
        runs,
        args.warmup,
        args.seed,
        args.explain,
        args.profile,
        args.top,
        tuple(args.pg_set),
    )
    wanted = (
        ("sqlite",)
        if args.sqlite_only
        else (("postgres", "sqlite") if args.sqlite else ("postgres",))
    )
    print(
        f"report benchmark: {tasks:,} tasks, {assessments:,} assessments, {args.agencies} "
        f"agencies, history {DATA_FIRST.isoformat()} to {DATA_LAST.isoformat()}, report "
        f"{START.isoformat()} to {END.isoformat()}, now "
        f"{NOW.astimezone(LONDON):%a %d %b %Y %H:%M} London",
        flush=True,
    )
    started = clock.perf_counter()
    results = [run_database(label, opts) for label in wanted]
    print()
    for r in results:
        official = r.label == "postgres" and tasks >= 100_000 and assessments >= 10_000
        print(
            f"{r.label}: report {r.report.median:.1f} ms, raw {r.raw.median:.1f} ms, ratio "
            f"{r.ratio:.1f}x (target <= {TARGET_RATIO:.0f}x and < {TARGET_MS:.0f} ms): "
            f"{'PASS' if r.passed else 'FAIL'}"
            + ("" if official else " (indicative: the target is for PostgreSQL at 100k/10k)")
        )
    print(f"\ntotal time {clock.perf_counter() - started:.0f}s")
    return 0 if all(r.passed for r in results if r.label == "postgres") else 1


if __name__ == "__main__":
    sys.exit(main())
