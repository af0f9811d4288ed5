"""The figures of the four-questions report for a period, counted in the database.

:func:`build_report` answers, for a period of local dates ``[start, end]`` (both included):

* **How much did we do?** activities opened, closed and cancelled; requests issued to
  agencies and returns received.
* **How well did we do it?** returns on time, chasing needed, statutory steps met on time,
  actions completed by their target date, actions reprogrammed.
* **Are there opportunities to learn and improve?** findings and recommendations, and the
  actions that answer them.
* **Is anyone better off?** actions completed with evidence of impact, Section 11 ratings
  that moved since the previous cycle, re-audit judgements against the first audit.
* **Section 11**: each agency's self and moderated ratings by standard, for the cycle whose
  returns came in last in the period, against the previous cycle.

Every figure is counted with one aggregate query (``GROUP BY``) per table: nothing loads the
tasks themselves, so the report stays fast over a large history. Moments are compared with
the period's bounds in UTC: from local midnight at the start of ``start`` to local midnight
at the end of ``end`` (in the calendar's time zone, so summer time is respected).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from ..calendar import WorkingCalendar, add_months
from ..db import Database
from ..definitions import Registry
from ..errors import InvalidInput, SefError
from ..forms import Form, FormRegistry, Scale
from ..models import (
    SECTORS,
    Activity,
    Agency,
    Assessment,
    AssessmentAnswer,
    Event,
    Finding,
    FormDefinition,
    Task,
    WorkflowDefinition,
)
from .model import SECTION_TITLES, Cell, Chart, Colour, Rated, Report, Section, Series, Table

__all__ = ["MAX_PERIOD_YEARS", "build_report", "reporting_year"]

#: the longest period a report may cover
MAX_PERIOD_YEARS = 5

TOTAL = "Total"
NO_AGENCY = "No agency"
OTHER = "Other"

#: an action plan's ``origin`` input, as the workflow it names (for its title)
_ORIGIN_WORKFLOWS: dict[str, tuple[str, str]] = {
    "audit": ("themed_audit", "Multi-agency themed audit"),
    "practice_review": ("practice_review", "Child safeguarding practice review"),
    "section11": ("section11", "Section 11 cycle"),
}
_ORIGIN_TITLES: dict[str, str] = {"inspection": "Inspection", "other": OTHER}

SECTOR_TITLES: dict[str, str] = {
    "police": "Police",
    "health": "Health",
    "local_authority": "Local authority",
    "education": "Education",
    "probation": "Probation",
    "cafcass": "CAFCASS",
    "housing": "Housing",
    "youth_justice": "Youth justice",
    "voluntary": "Voluntary sector",
    "other": "Other",
}

#: a standard's title in a column heading is cut to about this many characters
SHORT_TITLE = 40
NOT_MODERATED = "not moderated"
NOT_RATED = "not rated"
NO_FIGURE = "—"
#: words a shortened title does not end on
_TRAILING_WORDS = frozenset(
    {"a", "an", "and", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "with"}
)


def reporting_year(today: date, start_month: int) -> tuple[date, date]:
    """The reporting year that holds ``today``, for years starting on the 1st of
    ``start_month``: ``(2026-04-01, 2027-03-31)`` for 1 Dec 2026 and April."""
    if isinstance(start_month, bool) or not isinstance(start_month, int):
        raise InvalidInput(
            f"The reporting year's first month must be a number, not {start_month!r}."
        )
    if not 1 <= start_month <= 12:
        raise InvalidInput(
            f"The reporting year's first month must be from 1 to 12, not {start_month}."
        )
    year = today.year if today.month >= start_month else today.year - 1
    first = date(year, start_month, 1)
    return first, add_months(first, 12) - timedelta(days=1)


# ---------------------------------------------------------------------------------------
# the period and shared helpers


@dataclass(frozen=True)
class _Period:
    start: date
    end: date  #: inclusive
    lo: datetime  #: UTC, the first instant of ``start`` in local time
    hi: datetime  #: UTC, the first instant after ``end`` in local time
    #: open work due before this day is overdue: the period's end, or today if sooner
    overdue_before: date

    def holds(self, column: Any) -> sa.ColumnElement[bool]:
        """``lo <= column < hi`` for a moment column."""
        return sa.and_(column >= self.lo, column < self.hi)

    def holds_day(self, column: Any) -> sa.ColumnElement[bool]:
        """``start <= column <= end`` for a date column."""
        return sa.and_(column >= self.start, column <= self.end)


def _period(
    start: date, end: date, calendar: WorkingCalendar, today: date | None = None
) -> _Period:
    if end < start:
        raise InvalidInput(
            f"The report period ends on {end.isoformat()}, before it starts on "
            f"{start.isoformat()}: choose an end date on or after the start date."
        )
    if end >= add_months(start, 12 * MAX_PERIOD_YEARS):
        raise InvalidInput(
            f"The report period {start.isoformat()} to {end.isoformat()} is longer than "
            f"{MAX_PERIOD_YEARS} years: choose a period of {MAX_PERIOD_YEARS} years or less."
        )
    lo = datetime.combine(start, time(0), tzinfo=calendar.tz).astimezone(UTC)
    cutoff = end if today is None else min(end, today)
    return _Period(start=start, end=end, lo=lo, hi=calendar.end_of_day(end), overdue_before=cutoff)


def _count_if(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
    return sa.func.sum(sa.case((condition, 1), else_=0))


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 2) if whole else None


def _median(histogram: Mapping[int, int]) -> float | None:
    """The median of values given as ``{value: how many}``, to 1 decimal place."""
    n = sum(histogram.values())
    if n == 0:
        return None
    wanted = ((n - 1) // 2, n // 2)
    found: list[int] = []
    seen = 0
    for value in sorted(histogram):
        count = histogram[value]
        for index in wanted:
            if seen <= index < seen + count:
                found.append(value)
        seen += count
    return round(sum(found) / 2.0, 1)


def _short(title: str, limit: int = SHORT_TITLE) -> str:
    """``title`` cut at a word boundary to about ``limit`` characters, with an ellipsis."""
    if len(title) <= limit:
        return title
    words = title[: limit + 1].split(" ")[:-1] or [title[:limit]]
    while len(words) > 1 and words[-1].casefold() in _TRAILING_WORDS:
        words.pop()
    return " ".join(words).rstrip(",;:-–") + "…"


@dataclass
class _Context:
    session: Session
    forms: FormRegistry
    registry: Registry
    period: _Period
    agencies: dict[int, Agency]
    _titles: dict[str, str] = field(default_factory=dict)

    def workflow_title(self, name: str, default: str | None = None) -> str:
        """The workflow's title from its file; ``default`` (or the name) if it is gone."""
        if name not in self._titles:
            try:
                self._titles[name] = self.registry.get(name).title
            except SefError:
                self._titles[name] = default or name
        return self._titles[name]

    def agency_name(self, agency_id: int | None) -> str:
        if agency_id is None:
            return NO_AGENCY
        agency = self.agencies.get(agency_id)
        return agency.name if agency is not None else f"Agency {agency_id}"

    def by_agency(self, agency_ids: Iterable[int | None]) -> list[int | None]:
        """Agencies sorted by name; rows without an agency last."""
        return sorted(
            set(agency_ids), key=lambda a: (a is None, self.agency_name(a).casefold(), a or 0)
        )


def _by_source(titles: Iterable[str]) -> list[str]:
    """Source titles in alphabetical order, with "Other" last."""
    return sorted(set(titles), key=lambda t: (t == OTHER, t.casefold()))


def _bar(
    title: str,
    categories: Sequence[str],
    series: Mapping[str, Sequence[Any]],
    unit: str = "",
    colours: Mapping[str, Colour] | None = None,
    kind: str = "bar",
) -> Chart:
    """A bar chart; ``None`` values are drawn as 0."""
    colours = colours or {}
    return Chart(
        kind="stacked_bar" if kind == "stacked_bar" else "bar",
        title=title,
        categories=tuple(categories),
        series=tuple(
            Series(
                name=name,
                values=tuple(float(v) if v is not None else 0.0 for v in values),
                colour=colours.get(name),
            )
            for name, values in series.items()
        ),
        unit=unit,
    )


# ---------------------------------------------------------------------------------------
# the report


def build_report(
    db: Database,
    *,
    forms: FormRegistry,
    registry: Registry,
    calendar: WorkingCalendar,
    start: date,
    end: date,
    partnership: str,
    now: datetime,
    cycle: str | None = None,
) -> Report:
    """The four-questions report for the local dates ``start`` to ``end`` (both included).

    ``cycle`` chooses the Section 11 cycle by reference; by default it is the cycle whose
    self-assessments came in last within the period. Raises :class:`InvalidInput` for a
    period that ends before it starts or is longer than five years, or an unknown cycle.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be a timezone-aware datetime, got {now!r}")
    period = _period(start, end, calendar, calendar.local_date(now))
    with db.read() as session:
        agencies = {a.id: a for a in session.execute(sa.select(Agency)).scalars() if a.id}
        ctx = _Context(session, forms, registry, period, agencies)
        current, previous = _s11_cycles(ctx, cycle)
        returns = _returns(ctx)
        completed = _completed_actions(ctx)
        sections = [
            Section(
                key="how_much",
                title=SECTION_TITLES["how_much"],
                intro=(
                    "The activities the partnership ran in the period and the requests it "
                    "sent to partner agencies."
                ),
                tables=[_activities_by_type(ctx), _requests_by_agency(ctx, returns)],
            ),
            Section(
                key="how_well",
                title=SECTION_TITLES["how_well"],
                intro=(
                    "Whether returns, statutory steps and actions came in on time, and how "
                    "much chasing they needed."
                ),
                tables=[
                    _returns_on_time(ctx, returns),
                    _chasing(ctx, returns),
                    _statutory(ctx),
                    _actions_completed(ctx, completed),
                    _actions_reprogrammed(ctx),
                ],
            ),
            Section(
                key="learn",
                title=SECTION_TITLES["learn"],
                intro=(
                    "What audits, reviews and Section 11 cycles found, and the actions taken "
                    "in response."
                ),
                tables=[_findings(ctx), _actions_by_source(ctx)],
            ),
            Section(
                key="better_off",
                title=SECTION_TITLES["better_off"],
                intro=(
                    "Evidence that practice changed: actions with evidence of impact, Section "
                    "11 ratings that moved since the previous cycle, and re-audit judgements "
                    "against the first audit."
                ),
                tables=[
                    _impact(ctx, completed),
                    *_ratings_moved(ctx, current, previous),
                    _reaudit(ctx),
                ],
            ),
            _section11(ctx, current, previous),
        ]
    return Report(
        title=f"The four questions: {start.isoformat()} to {end.isoformat()}",
        partnership=partnership,
        period_start=start,
        period_end=end,
        generated_at=now.astimezone(UTC),
        sections=sections,
    )


# ---------------------------------------------------------------------------------------
# 1. How much did we do?


def _activities_by_type(ctx: _Context) -> Table:
    p = ctx.period
    opened, closed = col(Activity.opened_at), col(Activity.closed_at)
    cancelled = col(Activity.state) == "cancelled"
    closed_in = sa.and_(closed.is_not(None), p.holds(closed))
    q = (
        sa.select(
            col(Activity.workflow),
            _count_if(p.holds(opened)),
            _count_if(sa.and_(closed_in, sa.not_(cancelled))),
            _count_if(sa.and_(closed_in, cancelled)),
            _count_if(sa.or_(closed.is_(None), closed >= p.hi)),
        )
        .where(opened < p.hi, sa.or_(closed.is_(None), closed >= p.lo))
        .group_by(col(Activity.workflow))
    )
    figures: dict[str, list[int]] = {}
    for workflow, *counts in ctx.session.execute(q).all():
        values = [_int(c) for c in counts]
        if any(values):
            title = ctx.workflow_title(workflow)
            figures[title] = [
                a + b for a, b in zip(figures.get(title, [0] * 4), values, strict=True)
            ]
    titles = sorted(figures, key=str.casefold)
    rows: list[list[Cell]] = [[t, *figures[t]] for t in titles]
    totals = [sum(figures[t][i] for t in titles) for i in range(4)]
    rows.append([TOTAL, *totals])
    return Table(
        key="activities_by_type",
        title="Activities by type",
        columns=["Type", "Opened", "Closed", "Cancelled", "Open at end"],
        rows=rows,
        note=(
            "Activities of each workflow. Opened: opened in the period. Closed: reached a "
            "final state other than cancelled in the period. Cancelled: cancelled in the "
            "period. Open at end: opened before the end of the period and not closed or "
            "cancelled by then. Only types with at least one figure are listed."
        ),
        chart=_bar(
            "Activities opened and closed",
            titles,
            {"Opened": [figures[t][0] for t in titles], "Closed": [figures[t][1] for t in titles]},
        ),
    )


@dataclass(frozen=True)
class _Returns:
    """Requests answered in the period, by agency and by working days late (None: no
    deadline counted)."""

    count: dict[int | None, dict[int | None, int]]
    reminders: dict[int | None, int]
    escalations: dict[int | None, int]


def _returns(ctx: _Context) -> _Returns:
    """One pass over the requests answered in the period, for three tables."""
    late = col(Task.late_working_days)
    q = (
        sa.select(
            col(Task.agency_id),
            late,
            sa.func.count(),
            sa.func.sum(col(Task.reminders_sent)),
            sa.func.sum(col(Task.escalations_sent)),
        )
        .where(col(Task.category) == "request", ctx.period.holds(col(Task.answered_at)))
        .group_by(col(Task.agency_id), late)
    )
    found = _Returns({}, {}, {})
    for agency_id, days, n, reminders, escalations in ctx.session.execute(q).all():
        found.count.setdefault(agency_id, {})[days] = _int(n)
        found.reminders[agency_id] = found.reminders.get(agency_id, 0) + _int(reminders)
        found.escalations[agency_id] = found.escalations.get(agency_id, 0) + _int(escalations)
    return found


def _requests_by_agency(ctx: _Context, returns: _Returns) -> Table:
    issued_q = (
        sa.select(col(Task.agency_id), sa.func.count())
        .where(col(Task.category) == "request", ctx.period.holds(col(Task.created_at)))
        .group_by(col(Task.agency_id))
    )
    issued = {a: _int(n) for a, n in ctx.session.execute(issued_q).all()}
    received = {a: sum(by_late.values()) for a, by_late in returns.count.items()}
    order = ctx.by_agency([*issued, *received])
    names = [ctx.agency_name(a) for a in order]
    rows: list[list[Cell]] = [
        [name, issued.get(a, 0), received.get(a, 0)] for a, name in zip(order, names, strict=True)
    ]
    rows.append([TOTAL, sum(issued.values()), sum(received.values())])
    return Table(
        key="requests_by_agency",
        title="Requests to agencies",
        columns=["Agency", "Requests issued", "Returns received"],
        rows=rows,
        note=(
            "Requests are the returns asked of an agency (audit returns, Section 11 "
            "self-assessments, agency summaries, chronologies, reports and data). Requests "
            "issued: requests created in the period, whatever happened to them later. Returns "
            "received: requests the agency last answered in the period."
        ),
        chart=_bar(
            "Requests issued and returns received",
            names,
            {
                "Requests issued": [issued.get(a, 0) for a in order],
                "Returns received": [received.get(a, 0) for a in order],
            },
        ),
    )


# ---------------------------------------------------------------------------------------
# 2. How well did we do it?


def _returns_on_time(ctx: _Context, returns: _Returns) -> Table:
    histograms: dict[int | None, dict[int, int]] = {}
    for agency_id, by_late in returns.count.items():
        counted = {d: n for d, n in by_late.items() if d is not None}
        if counted:
            histograms[agency_id] = counted

    def row(label: str, hist: Mapping[int, int]) -> list[Cell]:
        returns = sum(hist.values())
        on_time = sum(n for d, n in hist.items() if d <= 0)
        late_only = {d: n for d, n in hist.items() if d > 0}
        return [label, returns, on_time, _pct(on_time, returns), _median(late_only)]

    order = ctx.by_agency(histograms)
    names = [ctx.agency_name(a) for a in order]
    rows = [row(name, histograms[a]) for a, name in zip(order, names, strict=True)]
    everything: dict[int, int] = {}
    for hist in histograms.values():
        for d, n in hist.items():
            everything[d] = everything.get(d, 0) + n
    rows.append(row(TOTAL, everything))
    return Table(
        key="returns_on_time",
        title="Returns on time",
        columns=["Agency", "Returns", "On time", "On time %", "Median working days late"],
        rows=rows,
        note=(
            "Requests the agency last answered in the period that had a deadline (a waived "
            "deadline does not count). On time: answered by the end of the due date in force "
            "when it was answered (an agreed extension counts). Median working days late: the "
            "median of the working days after the due date, over the late returns only; "
            "blank when none was late."
        ),
        chart=_bar(
            "Returns on time (%)",
            names,
            {"On time %": [r[3] for r in rows[:-1]]},
            unit="%",
        ),
    )


def _chasing(ctx: _Context, returns: _Returns) -> Table:
    figures = {
        a: (sum(by_late.values()), returns.reminders[a], returns.escalations[a])
        for a, by_late in returns.count.items()
    }

    def row(label: str, n: int, r: int, e: int) -> list[Cell]:
        return [label, n, r, e, _ratio(r, n), _ratio(e, n)]

    rows = [row(ctx.agency_name(a), *figures[a]) for a in ctx.by_agency(figures)]
    rows.append(row(TOTAL, *(sum(f[i] for f in figures.values()) for i in range(3))))
    return Table(
        key="chasing",
        title="Chasing needed",
        columns=[
            "Agency",
            "Returns",
            "Reminders",
            "Escalations",
            "Reminders per return",
            "Escalations per return",
        ],
        rows=rows,
        note=(
            "Requests the agency last answered in the period, with every reminder and every "
            "escalation (to the agency's senior manager or the partnership's managers) sent "
            "for them, whenever sent. Per return: to 2 decimal places."
        ),
    )


def _statutory(ctx: _Context) -> Table:
    p = ctx.period
    status, late = col(Task.deadline_status), col(Task.late_working_days)
    met = status == "met"
    q = (
        sa.select(
            col(Activity.definition_id),
            col(Task.kind),
            sa.func.count(),
            _count_if(sa.and_(met, late == 0)),
            _count_if(sa.and_(met, late > 0)),
            _count_if(
                sa.and_(
                    col(Task.is_open).is_(True),
                    status == "running",
                    col(Task.answered_at).is_(None),
                    col(Task.due_on) < p.overdue_before,
                )
            ),
            _count_if(status == "waived"),
        )
        .join(Activity, col(Activity.id) == col(Task.activity_id))
        .where(col(Task.category) == "statutory", p.holds_day(col(Task.due_on)))
        .group_by(col(Activity.definition_id), col(Task.kind))
    )
    grouped = [(d, k, [_int(c) for c in cs]) for d, k, *cs in ctx.session.execute(q).all()]
    definitions = _definitions(ctx, {d for d, _, _ in grouped})
    steps: dict[tuple[str, str], list[int]] = {}
    titles: dict[tuple[str, str], tuple[int, str]] = {}
    positions: dict[tuple[str, str], int] = {}
    for definition_id, kind, counts in grouped:
        name, position, title = _step_title(ctx, definitions.get(definition_id), kind)
        key = (name, kind)
        steps[key] = [a + b for a, b in zip(steps.get(key, [0] * 5), counts, strict=True)]
        if key not in titles or definition_id > titles[key][0]:
            titles[key] = (definition_id, title)
        positions[key] = position if key not in positions else min(positions[key], position)
    order = sorted(steps, key=lambda k: (k[0], positions[k], k[1]))
    rows: list[list[Cell]] = [[titles[k][1], *steps[k]] for k in order]
    rows.append([TOTAL, *(sum(s[i] for s in steps.values()) for i in range(5))])
    return Table(
        key="statutory",
        title="Statutory steps",
        columns=["Step", "Due in period", "Met on time", "Met late", "Open and overdue", "Waived"],
        rows=rows,
        note=(
            "The business unit's statutory steps (for example the Panel notification, the "
            "rapid review, publication) whose current due date falls in the period. Met on "
            "time: done by the end of the due date; met late: done after it. Open and "
            "overdue: still open now with a running deadline and a due date before the last "
            "day of the period (or before today, for a period not yet over). Waived: the deadline was waived with a recorded reason."
        ),
    )


def _definitions(ctx: _Context, ids: set[int]) -> dict[int, WorkflowDefinition]:
    if not ids:
        return {}
    q = sa.select(WorkflowDefinition).where(col(WorkflowDefinition.id).in_(sorted(ids)))
    return {d.id: d for d in ctx.session.execute(q).scalars() if d.id is not None}


def _step_title(
    ctx: _Context, definition: WorkflowDefinition | None, kind: str
) -> tuple[str, int, str]:
    """(workflow name, the kind's place in its file, the kind's title) for a task kind."""
    if definition is None:
        return "", 0, kind
    try:
        wf = ctx.registry.pinned(
            definition.name, definition.version, definition.source, definition.parameters
        )
    except SefError:
        return definition.name, 0, kind
    kinds = list(wf.tasks)
    if kind not in wf.tasks:
        return definition.name, len(kinds), kind
    return definition.name, kinds.index(kind), wf.tasks[kind].title


def _completed_actions(ctx: _Context) -> dict[int | None, tuple[int, int, int]]:
    """Actions completed in the period, by agency: (completed, by the target date, with
    evidence of impact), for two tables."""
    evidence = sa.func.trim(sa.func.coalesce(_json_text(col(Task.data), "evidence_of_impact"), ""))
    q = (
        sa.select(
            col(Task.agency_id),
            sa.func.count(),
            _count_if(col(Task.late_working_days) == 0),
            _count_if(evidence != ""),
        )
        .where(col(Task.category) == "action", ctx.period.holds(col(Task.answered_at)))
        .group_by(col(Task.agency_id))
    )
    return {a: (_int(n), _int(k), _int(e)) for a, n, k, e in ctx.session.execute(q).all()}


def _actions_completed(
    ctx: _Context, completed: Mapping[int | None, tuple[int, int, int]]
) -> Table:
    figures = {a: (n, k) for a, (n, k, _) in completed.items()}

    def row(label: str, n: int, k: int) -> list[Cell]:
        return [label, n, k, _pct(k, n)]

    rows = [row(ctx.agency_name(a), *figures[a]) for a in ctx.by_agency(figures)]
    rows.append(row(TOTAL, *(sum(f[i] for f in figures.values()) for i in range(2))))
    return Table(
        key="actions_completed",
        title="Actions completed",
        columns=["Agency", "Completed", "By target date", "By target date %"],
        rows=rows,
        note=(
            "Actions whose completion the agency last submitted in the period. By target "
            "date: submitted by the end of the target date as it stood then (a reprogrammed "
            "date counts); an action with a waived target date is not counted as on time."
        ),
    )


def _actions_reprogrammed(ctx: _Context) -> Table:
    p = ctx.period
    q = (
        sa.select(
            col(Task.agency_id),
            sa.func.count(sa.distinct(col(Event.task_id))),
            sa.func.count(),
        )
        .select_from(Event)
        .join(Task, col(Task.id) == col(Event.task_id))
        .where(col(Event.kind) == "deadline_reprogrammed", p.holds(col(Event.at)))
        .group_by(col(Task.agency_id))
    )
    figures = {a: (_int(n), _int(k)) for a, n, k in ctx.session.execute(q).all()}
    rows: list[list[Cell]] = [[ctx.agency_name(a), *figures[a]] for a in ctx.by_agency(figures)]
    rows.append([TOTAL, *(sum(f[i] for f in figures.values()) for i in range(2))])
    return Table(
        key="actions_reprogrammed",
        title="Actions reprogrammed",
        columns=["Agency", "Actions reprogrammed", "Reprogrammings"],
        rows=rows,
        note=(
            "Target dates moved with a manager's approval in the period (the original date is "
            "kept). Actions reprogrammed: different actions moved at least once; "
            "reprogrammings: every move."
        ),
    )


# ---------------------------------------------------------------------------------------
# 3. Are there opportunities to learn and improve?


def _findings(ctx: _Context) -> Table:
    p = ctx.period
    kind = col(Finding.kind)
    raised = p.holds(col(Finding.created_at))
    findings_q = (
        sa.select(
            col(Activity.workflow),
            _count_if(kind == "finding"),
            _count_if(kind == "recommendation"),
        )
        .select_from(Finding)
        .join(Activity, col(Activity.id) == col(Finding.activity_id))
        .where(raised)
        .group_by(col(Activity.workflow))
    )
    actions_q = (
        sa.select(col(Activity.workflow), sa.func.count(sa.distinct(col(Task.id))))
        .select_from(Task)
        .join(Finding, col(Finding.id) == col(Task.finding_id))
        .join(Activity, col(Activity.id) == col(Finding.activity_id))
        .where(raised)
        .group_by(col(Activity.workflow))
    )
    figures: dict[str, list[int]] = {}
    for workflow, f, r in ctx.session.execute(findings_q).all():
        row = figures.setdefault(ctx.workflow_title(workflow), [0, 0, 0])
        row[0] += _int(f)
        row[1] += _int(r)
    for workflow, n in ctx.session.execute(actions_q).all():
        figures.setdefault(ctx.workflow_title(workflow), [0, 0, 0])[2] += _int(n)
    rows: list[list[Cell]] = [[t, *figures[t]] for t in _by_source(figures)]
    rows.append([TOTAL, *(sum(f[i] for f in figures.values()) for i in range(3))])
    return Table(
        key="findings",
        title="Findings and recommendations",
        columns=["Source", "Findings", "Recommendations", "Actions created from them"],
        rows=rows,
        note=(
            "Findings and recommendations recorded in the period, by the kind of activity "
            "that raised them. Actions created from them: actions (at any date) that answer "
            "one of those findings or recommendations."
        ),
    )


def _action_source(
    ctx: _Context, plan_workflow: str, parent_workflow: str | None, origin: str | None
) -> str:
    """Where an action comes from: the activity that spawned its plan, else the plan's
    stated origin."""
    if plan_workflow != "action_plan":
        return ctx.workflow_title(plan_workflow)
    if parent_workflow is not None:
        return ctx.workflow_title(parent_workflow)
    if origin in _ORIGIN_WORKFLOWS:
        name, default = _ORIGIN_WORKFLOWS[origin]
        return ctx.workflow_title(name, default)
    return _ORIGIN_TITLES.get(origin or "", OTHER)


def _json_text(column: Any, key: str) -> sa.ColumnElement[str]:
    """The text of one key of a JSON column (NULL when absent)."""
    text: sa.ColumnElement[str] = sa.type_coerce(column, sa.JSON)[key].as_string()
    return text


def _actions_by_source(ctx: _Context) -> Table:
    p = ctx.period
    plan, parent = aliased(Activity), aliased(Activity)
    is_open = col(Task.is_open).is_(True)
    rows_q = (
        sa.select(
            col(plan.workflow).label("plan_workflow"),
            col(parent.workflow).label("parent_workflow"),
            _json_text(col(plan.data), "origin").label("origin"),
            sa.case((is_open, 1), else_=0).label("open"),
            sa.case(
                (
                    sa.and_(
                        is_open,
                        col(Task.deadline_status) == "running",
                        col(Task.due_on) < p.overdue_before,
                    ),
                    1,
                ),
                else_=0,
            ).label("overdue"),
            sa.case((p.holds(col(Task.answered_at)), 1), else_=0).label("completed"),
        )
        .select_from(Task)
        .join(plan, col(plan.id) == col(Task.activity_id))
        .outerjoin(parent, col(parent.id) == col(plan.parent_id))
        .where(col(Task.category) == "action", sa.or_(is_open, p.holds(col(Task.answered_at))))
        .subquery()
    )
    c = rows_q.c
    q = sa.select(
        c.plan_workflow,
        c.parent_workflow,
        c.origin,
        sa.func.sum(c.open),
        sa.func.sum(c.overdue),
        sa.func.sum(c.completed),
    ).group_by(c.plan_workflow, c.parent_workflow, c.origin)
    figures: dict[str, list[int]] = {}
    for plan_wf, parent_wf, origin, *counts in ctx.session.execute(q).all():
        source = _action_source(ctx, plan_wf, parent_wf, origin)
        figures[source] = [
            a + _int(b) for a, b in zip(figures.get(source, [0, 0, 0]), counts, strict=True)
        ]
    rows: list[list[Cell]] = [[s, *figures[s]] for s in _by_source(figures)]
    rows.append([TOTAL, *(sum(f[i] for f in figures.values()) for i in range(3))])
    return Table(
        key="actions_by_source",
        title="Actions by where they come from",
        columns=["Source", "Open", "Open and overdue", "Completed in period"],
        rows=rows,
        note=(
            "Actions in action plans, by the activity that opened the plan (an audit, a "
            "practice review, a Section 11 cycle) or, for a plan opened on its own, the origin "
            "recorded on it. Open: still open when the report was produced, whatever the "
            "period. Open and overdue: open, with a running deadline and a target date before "
            "the last day of the period (or before today, for a period not yet over). Completed in period: completion last submitted in "
            "the period."
        ),
    )


# ---------------------------------------------------------------------------------------
# 4. Is anyone better off?


def _impact(ctx: _Context, completed: Mapping[int | None, tuple[int, int, int]]) -> Table:
    figures = {a: (n, e) for a, (n, _, e) in completed.items()}

    def row(label: str, n: int, k: int) -> list[Cell]:
        return [label, n, k, _pct(k, n)]

    rows = [row(ctx.agency_name(a), *figures[a]) for a in ctx.by_agency(figures)]
    rows.append(row(TOTAL, *(sum(f[i] for f in figures.values()) for i in range(2))))
    return Table(
        key="impact",
        title="Evidence of impact",
        columns=["Agency", "Actions completed", "With evidence of impact", "% with evidence"],
        rows=rows,
        note=(
            "Actions whose completion the agency last submitted in the period. With evidence "
            "of impact: the action records evidence of impact (what changed for children and "
            "families), not only evidence that it was done."
        ),
    )


# ---------------------------------------------------------------------------------------
# Section 11 cycles


_COLOURS: dict[str, Colour] = {
    "red": "red",
    "amber": "amber",
    "green": "green",
    "blue": "blue",
    "grey": "grey",
}


@dataclass
class _Cycle:
    """One Section 11 cycle's submitted self-assessments, as means per agency and standard."""

    activity: Activity
    agencies: list[int]  #: agencies with a submitted self-assessment, by name
    self_means: dict[tuple[int, str], float]
    moderated_means: dict[tuple[int, str], float]
    scale: Scale | None
    standards: list[tuple[str, str]]  #: (key, column heading), in the form's order

    @property
    def ref(self) -> str:
        return self.activity.ref

    def colour(self, mean: float) -> Colour:
        if self.scale is None:
            return "grey"
        return _COLOURS.get(self.scale.level_for_score(mean).colour, "grey")

    def positive(self, mean: float) -> bool:
        return self.scale is not None and self.scale.level_for_score(mean).positive

    def green_pct(
        self, standard: str, means: Mapping[tuple[int, str], float], agencies: Iterable[int]
    ) -> float | None:
        """Share of ``agencies`` whose mean for ``standard`` is at a positive level; None
        when none of them has a mean for it."""
        wanted = list(agencies)
        found = [means[(a, standard)] for a in wanted if (a, standard) in means]
        if not found:
            return None
        return _pct(sum(1 for m in found if self.positive(m)), len(wanted))

    def green_share(
        self, standard: str, means: Mapping[tuple[int, str], float], agencies: Iterable[int]
    ) -> float | None:
        """:meth:`green_pct` unrounded, for differences that round once."""
        wanted = list(agencies)
        found = [means[(a, standard)] for a in wanted if (a, standard) in means]
        if not found:
            return None
        return 100.0 * sum(1 for m in found if self.positive(m)) / len(wanted)


def _submitted_returns() -> list[sa.ColumnElement[bool]]:
    return [
        col(Assessment.stage) == "return",
        col(Assessment.status) == "submitted",
        col(Assessment.agency_id).is_not(None),
    ]


def _s11_cycles(ctx: _Context, ref: str | None) -> tuple[_Cycle | None, _Cycle | None]:
    """The cycle to report on and the one before it."""
    s = ctx.session
    is_s11 = col(Activity.workflow) == "section11"
    activity: Activity | None
    if ref is not None:
        activity = (
            s.execute(sa.select(Activity).where(col(Activity.ref) == ref, is_s11)).scalars().first()
        )
        if activity is None:
            raise InvalidInput(f"There is no Section 11 cycle with the reference {ref!r}.")
    else:
        last = sa.func.max(col(Assessment.submitted_at))
        q = (
            sa.select(col(Assessment.activity_id))
            .join(Activity, col(Activity.id) == col(Assessment.activity_id))
            .where(is_s11, *_submitted_returns(), ctx.period.holds(col(Assessment.submitted_at)))
            .group_by(col(Assessment.activity_id))
            .order_by(last.desc(), col(Assessment.activity_id).desc())
            .limit(1)
        )
        chosen = s.execute(q).scalars().first()
        if chosen is None:
            return None, None
        activity = s.get(Activity, chosen)
        if activity is None:  # pragma: no cover - foreign key
            return None, None
    previous: Activity | None = None
    previous_ref = (activity.data or {}).get("previous_cycle")
    if isinstance(previous_ref, str) and previous_ref.strip():
        previous = (
            s.execute(
                sa.select(Activity).where(
                    col(Activity.ref) == previous_ref.strip(),
                    is_s11,
                    col(Activity.id) != activity.id,
                )
            )
            .scalars()
            .first()
        )
    if previous is None:
        has_returns = (
            sa.select(col(Assessment.id))
            .where(col(Assessment.activity_id) == col(Activity.id), *_submitted_returns())
            .exists()
        )
        previous = (
            s.execute(
                sa.select(Activity)
                .where(is_s11, col(Activity.opened_at) < activity.opened_at, has_returns)
                .order_by(col(Activity.opened_at).desc(), col(Activity.id).desc())
                .limit(1)
            )
            .scalars()
            .first()
        )
    current = _load_cycle(ctx, activity)
    return current, _load_cycle(ctx, previous) if previous is not None else None


def _load_cycle(ctx: _Context, activity: Activity) -> _Cycle:
    s = ctx.session
    mine = [col(Assessment.activity_id) == activity.id, *_submitted_returns()]
    agency_ids = [
        a
        for a in s.execute(sa.select(col(Assessment.agency_id)).where(*mine).distinct()).scalars()
        if a is not None
    ]
    kind_q = (
        sa.select(
            col(Assessment.form_name),
            col(Assessment.scale),
            sa.func.max(col(Assessment.form_definition_id)),
        )
        .where(*mine)
        .group_by(col(Assessment.form_name), col(Assessment.scale))
        .order_by(sa.func.count().desc(), col(Assessment.form_name), col(Assessment.scale))
        .limit(1)
    )
    kind = s.execute(kind_q).first()
    means_q = (
        sa.select(
            col(Assessment.agency_id),
            col(AssessmentAnswer.standard),
            sa.func.avg(col(AssessmentAnswer.score)),
            sa.func.avg(col(AssessmentAnswer.moderated_score)),
        )
        .join(Assessment, col(Assessment.id) == col(AssessmentAnswer.assessment_id))
        .where(*mine)
        .group_by(col(Assessment.agency_id), col(AssessmentAnswer.standard))
    )
    self_means: dict[tuple[int, str], float] = {}
    moderated_means: dict[tuple[int, str], float] = {}
    seen: set[str] = set()
    for agency_id, standard, self_mean, moderated_mean in s.execute(means_q).all():
        seen.add(standard)
        if self_mean is not None:
            self_means[(agency_id, standard)] = float(self_mean)
        if moderated_mean is not None:
            moderated_means[(agency_id, standard)] = float(moderated_mean)
    scale: Scale | None = None
    form: Form | None = None
    if kind is not None:
        form_name, scale_name, definition_id = kind
        try:
            scale = ctx.forms.scale(scale_name)
        except SefError:
            scale = None
        form = _form(ctx, form_name, definition_id)
    standards: list[tuple[str, str]] = []
    for standard in form.standards if form is not None else ():
        standards.append((standard.key, f"{standard.key}. {_short(standard.title)}"))
    known = {k for k, _ in standards}
    standards.extend((k, k) for k in sorted(seen - known, key=_natural))
    return _Cycle(
        activity=activity,
        agencies=[a for a in ctx.by_agency(agency_ids) if a is not None],
        self_means=self_means,
        moderated_means=moderated_means,
        scale=scale,
        standards=standards,
    )


def _natural(key: str) -> tuple[Any, ...]:
    """Sort key putting "2" before "10"."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in key.split("."))


def _form(ctx: _Context, name: str, definition_id: int | None) -> Form | None:
    """The form file of that name; the version an assessment was pinned to if it is gone."""
    try:
        return ctx.forms.get(name)
    except SefError:
        pass
    row = ctx.session.get(FormDefinition, definition_id) if definition_id is not None else None
    if row is None:
        return None
    try:
        return ctx.forms.pinned(row.name, row.version, row.source)
    except SefError:
        return None


def _direction(change: float) -> str:
    if change > 0:
        return "improved"
    if change < 0:
        return "fell back"
    return "same"


def _change(current: float, previous: float) -> float:
    change = round(current - previous, 2)
    return change if change != 0 else 0.0  # never -0.0


def _ratings_moved(ctx: _Context, current: _Cycle | None, previous: _Cycle | None) -> list[Table]:
    rows: list[list[Cell]] = []
    counts: dict[int, dict[str, int]] = {}
    if current is not None and previous is not None:
        both = [a for a in current.agencies if a in set(previous.agencies)]
        for agency_id in both:
            tally = counts.setdefault(agency_id, {"improved": 0, "same": 0, "fell back": 0})
            for key, heading in current.standards:
                now_mean = current.moderated_means.get((agency_id, key))
                before = previous.moderated_means.get((agency_id, key))
                if now_mean is None or before is None:
                    continue
                change = _change(now_mean, before)
                direction = _direction(change)
                tally[direction] += 1
                rows.append(
                    [
                        ctx.agency_name(agency_id),
                        heading,
                        round(before, 2),
                        round(now_mean, 2),
                        change,
                        direction,
                    ]
                )
        which = f"cycle {current.ref} against cycle {previous.ref}"
    elif current is not None:
        which = f"cycle {current.ref}; there is no earlier cycle to compare it with"
    else:
        which = "no Section 11 cycle had self-assessments submitted in the period"
    summary_order = [a for a in counts if any(counts[a].values())]
    names = [ctx.agency_name(a) for a in summary_order]
    summary_rows: list[list[Cell]] = [
        [name, counts[a]["improved"], counts[a]["same"], counts[a]["fell back"]]
        for a, name in zip(summary_order, names, strict=True)
    ]
    moved = Table(
        key="ratings_moved",
        title="Section 11 ratings that moved",
        columns=[
            "Agency",
            "Standard",
            "Previous moderated",
            "Current moderated",
            "Change",
            "Direction",
        ],
        rows=rows,
        note=(
            "For each agency and standard rated in both Section 11 cycles ("
            f"{which}): the mean of the moderated scores of the standard's questions in each "
            "cycle, to 2 decimal places, and the change between them."
        ),
    )
    summary = Table(
        key="ratings_moved_summary",
        title="Section 11 standards improved, the same or fallen back",
        columns=["Agency", "Improved", "Same", "Fell back"],
        rows=summary_rows,
        note=(
            "For each agency in both Section 11 cycles, the number of standards whose mean "
            f"moderated score rose, stayed the same or fell ({which})."
        ),
        chart=_bar(
            "Section 11 standards improved, the same or fallen back",
            names,
            {
                "Improved": [r[1] for r in summary_rows],
                "Same": [r[2] for r in summary_rows],
                "Fell back": [r[3] for r in summary_rows],
            },
            colours={"Improved": "green", "Same": "grey", "Fell back": "red"},
            kind="stacked_bar",
        ),
    )
    return [moved, summary]


# ---------------------------------------------------------------------------------------
# re-audit judgements


@dataclass(frozen=True)
class _Judgement:
    label: str | None
    score: float | None


def _judgement(scale: Scale | None, rating: str | None, score: int | None) -> _Judgement:
    if scale is not None and rating is not None:
        try:
            level = scale.level(rating)
            return _Judgement(level.label, level.score)
        except KeyError:
            pass
    if scale is not None and score is not None:
        return _Judgement(scale.level_for_score(score).label, score)
    return _Judgement(rating, score)


def _reaudit(ctx: _Context) -> Table:
    s, p = ctx.session, ctx.period
    meeting = [
        col(Assessment.agency_id).is_(None),
        col(Assessment.status) == "submitted",
        col(Activity.workflow) == "themed_audit",
    ]
    audits_q = (
        sa.select(col(Assessment.activity_id))
        .join(Activity, col(Activity.id) == col(Assessment.activity_id))
        .where(*meeting, col(Assessment.stage) == "reaudit", p.holds(col(Assessment.submitted_at)))
        .distinct()
    )
    audit_ids = list(s.execute(audits_q).scalars())
    rows: list[list[Cell]] = []
    if audit_ids:
        assessments_q = (
            sa.select(Assessment, col(Activity.ref))
            .join(Activity, col(Activity.id) == col(Assessment.activity_id))
            .where(
                *meeting,
                col(Assessment.activity_id).in_(audit_ids),
                col(Assessment.stage).in_(("first", "reaudit")),
            )
            .order_by(col(Assessment.submitted_at), col(Assessment.id))
        )
        latest: dict[tuple[int, str], Assessment] = {}
        refs: dict[int, str] = {}
        for assessment, ref in s.execute(assessments_q).all():
            # the last one submitted of each stage; a re-audit after the period is not used
            if assessment.stage == "reaudit" and (
                assessment.submitted_at is None or assessment.submitted_at >= p.hi
            ):
                continue
            latest[(assessment.activity_id, assessment.stage)] = assessment
            refs[assessment.activity_id] = ref
        chosen = {a.id: a for a in latest.values() if a.id is not None}
        answers: dict[int, dict[str, tuple[str | None, int | None]]] = {}
        if chosen:
            answers_q = sa.select(
                col(AssessmentAnswer.assessment_id),
                col(AssessmentAnswer.question),
                col(AssessmentAnswer.rating),
                col(AssessmentAnswer.score),
            ).where(col(AssessmentAnswer.assessment_id).in_(sorted(chosen)))
            for assessment_id, question, rating, score in s.execute(answers_q).all():
                answers.setdefault(assessment_id, {})[question] = (rating, score)
        for audit_id in sorted(refs, key=lambda a: refs[a]):
            second = latest.get((audit_id, "reaudit"))
            if second is None:
                continue
            first = latest.get((audit_id, "first"))
            form = _form(ctx, second.form_name, second.form_definition_id)
            first_answers = answers.get(first.id or 0, {}) if first is not None else {}
            second_answers = answers.get(second.id or 0, {})
            order = [q.number for q in form.questions()] if form is not None else []
            extra = sorted((set(first_answers) | set(second_answers)) - set(order))
            for number in [*order, *extra]:
                if number not in first_answers and number not in second_answers:
                    continue
                before = _judgement(
                    _scale(ctx, first.scale) if first is not None else None,
                    *first_answers.get(number, (None, None)),
                )
                after = _judgement(
                    _scale(ctx, second.scale), *second_answers.get(number, (None, None))
                )
                change: str | None = None
                if before.score is not None and after.score is not None:
                    change = (
                        "better"
                        if after.score > before.score
                        else "worse"
                        if after.score < before.score
                        else "same"
                    )
                rows.append(
                    [
                        refs[audit_id],
                        _question_title(form, number),
                        before.label,
                        after.label,
                        change,
                    ]
                )
    return Table(
        key="reaudit",
        title="Re-audit judgements against the first audit",
        columns=["Audit", "Judgement", "First audit", "Re-audit", "Change"],
        rows=rows,
        note=(
            "Multi-agency themed audits whose re-audit judgements were recorded in the period: "
            "each judgement of the audit meeting at the first audit and at the re-audit (the "
            "last recorded of each), and whether it is better, the same or worse."
        ),
    )


def _scale(ctx: _Context, name: str) -> Scale | None:
    try:
        return ctx.forms.scale(name)
    except SefError:
        return None


def _question_title(form: Form | None, number: str) -> str:
    if form is not None:
        try:
            return form.question(number).text
        except KeyError:
            pass
    return number.replace("_", " ").capitalize()


# ---------------------------------------------------------------------------------------
# 5. Section 11: agencies by standard


def _pct_rating(pct: float | None, missing: str) -> Rated:
    if pct is None:
        return Rated(missing, "grey")
    colour: Colour = "green" if pct >= 75 else "amber" if pct >= 50 else "red"
    return Rated(f"{pct:.0f}%", colour, pct)


def _mean_rating(cycle: _Cycle, mean: float | None, missing: str) -> Rated:
    if mean is None:
        return Rated(missing, "grey")
    return Rated(f"{mean:.2f}", cycle.colour(mean), round(mean, 4))


def _change_rating(current: float | None, previous: float | None) -> Rated:
    if current is None or previous is None:
        return Rated(NO_FIGURE, "none")
    change = _change(current, previous)
    if change > 0:
        return Rated(f"{change:+.2f}", "green", change)
    if change < 0:
        return Rated(f"{change:+.2f}", "red", change)
    return Rated("0.00", "grey", 0.0)


def _section11(ctx: _Context, current: _Cycle | None, previous: _Cycle | None) -> Section:
    headings = [h for _, h in current.standards] if current is not None else []
    keys = [k for k, _ in current.standards] if current is not None else []

    def agency_rows(cell: Callable[[_Cycle, int, str], Cell]) -> list[list[Cell]]:
        if current is None:
            return []
        return [
            [ctx.agency_name(a), *(cell(current, a, k) for k in keys)] for a in current.agencies
        ]

    if current is None:
        intro = (
            "No Section 11 self-assessments were submitted in the period, so there is no "
            "cycle to show."
        )
        which = "no cycle in the period"
    else:
        compared = (
            f" It is compared with the previous cycle, {previous.ref}."
            if previous is not None
            else " There is no earlier cycle to compare it with."
        )
        intro = (
            f"Section 11 cycle {current.ref} ({current.activity.title}): "
            f"{len(current.agencies)} agencies submitted a self-assessment.{compared}"
        )
        which = f"cycle {current.ref}"
    scale_note = (
        f" Colours follow the {current.scale.title} scale: a mean takes the colour of the "
        "highest level whose score it reaches."
        if current is not None and current.scale is not None
        else ""
    )
    self_table = Table(
        key="s11_self",
        title="Self-assessment by standard",
        columns=["Agency", *headings],
        rows=agency_rows(lambda c, a, k: _mean_rating(c, c.self_means.get((a, k)), NOT_RATED)),
        note=(
            f"Each agency's own scores ({which}): the mean score of the standard's questions "
            f"in its submitted self-assessment.{scale_note}"
        ),
        chart=Chart(kind="heatmap", title="Self-assessment by agency and standard"),
    )
    moderated_table = Table(
        key="s11_moderated",
        title="Moderated ratings by standard",
        columns=["Agency", *headings],
        rows=agency_rows(
            lambda c, a, k: _mean_rating(c, c.moderated_means.get((a, k)), NOT_MODERATED)
        ),
        note=(
            f"The partnership's moderated scores ({which}): the mean moderated score of the "
            f'standard\'s questions; "{NOT_MODERATED}" where none of them has been moderated.'
            f"{scale_note}"
        ),
        chart=Chart(kind="heatmap", title="Moderated ratings by agency and standard"),
    )
    green_rows: list[list[Cell]] = []
    if current is not None:
        for key, heading in current.standards:
            self_pct = current.green_pct(key, current.self_means, current.agencies)
            moderated_pct = current.green_pct(key, current.moderated_means, current.agencies)
            previous_pct = (
                previous.green_pct(key, previous.moderated_means, previous.agencies)
                if previous is not None
                else None
            )
            now_share = current.green_share(key, current.moderated_means, current.agencies)
            before_share = (
                previous.green_share(key, previous.moderated_means, previous.agencies)
                if previous is not None
                else None
            )
            points = (
                round(now_share - before_share, 1)
                if now_share is not None and before_share is not None
                else None
            )
            green_rows.append([heading, self_pct, moderated_pct, previous_pct, points])
    # a standard nobody has a score for is left out of the chart rather than drawn as 0%
    charted = [any(v is not None for v in row[1:4]) for row in green_rows]
    series: dict[str, list[Any]] = {
        "Self % green": [r[1] for r in green_rows],
        "Moderated % green": [r[2] for r in green_rows],
    }
    if previous is not None:
        series["Previous moderated % green"] = [r[3] for r in green_rows]
    green_table = Table(
        key="s11_green",
        title="Agencies rated green by standard",
        columns=[
            "Standard",
            "Self % green",
            "Moderated % green",
            "Previous moderated % green",
            "Change (points)",
        ],
        rows=green_rows,
        note=(
            f"The share of agencies with a submitted self-assessment ({which}) whose mean "
            "score for the standard is at a green or blue level, by their own scores and as "
            "moderated, and as moderated in the previous cycle"
            + (f" ({previous.ref})" if previous is not None else " (none)")
            + ". Blank where no agency has a score for the standard. Change: moderated now "
            "minus previous, in percentage points."
        ),
        chart=_bar(
            "Agencies rated green by standard (%)",
            [h for h, keep in zip(headings, charted, strict=True) if keep],
            {
                name: [v for v, keep in zip(values, charted, strict=True) if keep]
                for name, values in series.items()
            },
            unit="%",
        ),
    )
    sector_rows: list[list[Cell]] = []
    if current is not None:
        by_sector: dict[str, list[int]] = {}
        for a in current.agencies:
            sector = ctx.agencies[a].sector if a in ctx.agencies else "other"
            by_sector.setdefault(sector, []).append(a)
        rank = {name: i for i, name in enumerate(SECTORS)}
        for sector in sorted(by_sector, key=lambda x: (rank.get(x, len(rank)), x)):
            members = by_sector[sector]
            sector_rows.append(
                [
                    SECTOR_TITLES.get(sector, sector.replace("_", " ").capitalize()),
                    *(
                        _pct_rating(
                            current.green_pct(k, current.moderated_means, members),
                            NOT_MODERATED,
                        )
                        for k in keys
                    ),
                ]
            )
    sector_table = Table(
        key="s11_sector",
        title="Moderated ratings green by sector",
        columns=["Sector", *headings],
        rows=sector_rows,
        note=(
            f"For each sector ({which}), the share of its agencies with a submitted "
            "self-assessment whose mean moderated score for the standard is at a green or "
            "blue level. Green: 75% or more; amber: 50% or more; red: under 50%; "
            f'"{NOT_MODERATED}" where none of the sector\'s agencies has a moderated score.'
        ),
        chart=Chart(kind="heatmap", title="Moderated ratings green by sector and standard"),
    )
    change_table = Table(
        key="s11_change",
        title="Change in moderated ratings since the previous cycle",
        columns=["Agency", *headings],
        rows=agency_rows(
            lambda c, a, k: _change_rating(
                c.moderated_means.get((a, k)),
                previous.moderated_means.get((a, k)) if previous is not None else None,
            )
        ),
        note=(
            f"The mean moderated score for the standard ({which}) minus the same mean in the "
            "previous cycle"
            + (f" ({previous.ref})" if previous is not None else " (none)")
            + f'. Green: higher; red: lower; grey: the same; "{NO_FIGURE}": one of the '
            "cycles has no moderated score for it."
        ),
        chart=Chart(kind="heatmap", title="Change in moderated ratings by agency and standard"),
    )
    return Section(
        key="section11",
        title=SECTION_TITLES["section11"],
        intro=intro,
        tables=[self_table, moderated_table, green_table, sector_table, change_table],
    )
