"""The counting every figure of the four-questions report shares.

This module owns the report's period (local dates turned into UTC bounds), the context the
tables are counted in (the read session, the forms, the workflows, the agencies), the
query shapes several tables share (tasks of a category by agency, the returns answered in
the period, the actions completed in it) and the shapes of their rows: a row per agency or
per source with a total row, a share as a percentage, a bar chart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, col

from ..calendar import WorkingCalendar, add_months, format_date, format_period
from ..definitions import Registry
from ..errors import InvalidInput, SefError
from ..forms import FormRegistry
from ..models import Agency, Task
from .model import Cell, Chart, Colour, Series, Table

#: the longest period a report may cover
MAX_PERIOD_YEARS = 5

TOTAL = "Total"
NO_AGENCY = "No agency"
OTHER = "Other"

#: a standard's title in a column heading is cut to about this many characters
SHORT_TITLE = 40
#: words a shortened title does not end on
_TRAILING_WORDS = frozenset(
    {"a", "an", "and", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "with"}
)

K = TypeVar("K")
V = TypeVar("V")


# ---------------------------------------------------------------------------------------
# the period


@dataclass(frozen=True)
class Period:
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


def period_of(
    start: date, end: date, calendar: WorkingCalendar, today: date | None = None
) -> Period:
    if end < start:
        raise InvalidInput(
            f"The report period ends on {format_date(end)}, before it starts on "
            f"{format_date(start)}: choose an end date on or after the start date."
        )
    if end >= add_months(start, 12 * MAX_PERIOD_YEARS):
        raise InvalidInput(
            f"The report period {format_period(start, end)} is longer than "
            f"{MAX_PERIOD_YEARS} years: choose a period of {MAX_PERIOD_YEARS} years or less."
        )
    lo = datetime.combine(start, time(0), tzinfo=calendar.tz).astimezone(UTC)
    cutoff = end if today is None else min(end, today)
    return Period(start=start, end=end, lo=lo, hi=calendar.end_of_day(end), overdue_before=cutoff)


# ---------------------------------------------------------------------------------------
# numbers


def count_if(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
    return sa.func.sum(sa.case((condition, 1), else_=0))


def json_text(column: Any, key: str) -> sa.ColumnElement[str]:
    """The text of one key of a JSON column (NULL when absent)."""
    text: sa.ColumnElement[str] = sa.type_coerce(column, sa.JSON)[key].as_string()
    return text


def whole(value: Any) -> int:
    """A count from the database; 0 for NULL (a sum over no rows)."""
    return int(value) if value is not None else 0


def pct(part: int, total: int) -> float | None:
    return round(100.0 * part / total, 1) if total else None


def ratio(part: int, total: int) -> float | None:
    return round(part / total, 2) if total else None


def median(histogram: Mapping[int, int]) -> float | None:
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


def sums(figures: Iterable[Sequence[int]], width: int) -> list[int]:
    """The column totals of ``width`` columns (zeros when there are no rows)."""
    rows = list(figures)
    return [sum(f[i] for f in rows) for i in range(width)]


def add_into(figures: MutableMapping[K, list[int]], key: K, values: Iterable[Any]) -> None:
    """Add ``values`` (counts, NULL as 0) to the row of ``key``, column by column, making the
    row if it is new: rows of several groups that share one title."""
    counts = [whole(v) for v in values]
    before = figures.get(key, [0] * len(counts))
    figures[key] = [a + b for a, b in zip(before, counts, strict=True)]


def short(title: str, limit: int = SHORT_TITLE) -> str:
    """``title`` cut at a word boundary to about ``limit`` characters, with an ellipsis."""
    if len(title) <= limit:
        return title
    words = title[: limit + 1].split(" ")[:-1] or [title[:limit]]
    while len(words) > 1 and words[-1].casefold() in _TRAILING_WORDS:
        words.pop()
    return " ".join(words).rstrip(",;:-–") + "…"


# ---------------------------------------------------------------------------------------
# the context


@dataclass
class Context:
    session: Session
    forms: FormRegistry
    registry: Registry
    period: Period
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


# ---------------------------------------------------------------------------------------
# the tasks of a category, by agency


def tasks_by_agency(
    ctx: Context,
    category: str,
    moment: Any,
    *figures: Any,
    by: Sequence[Any] = (),
) -> Sequence[Any]:
    """``(agency, *by, *figures)`` for the tasks of ``category`` whose ``moment`` falls in
    the period, one row per agency (and per value of the ``by`` columns)."""
    q = (
        sa.select(col(Task.agency_id), *by, *figures)
        .where(col(Task.category) == category, ctx.period.holds(moment))
        .group_by(col(Task.agency_id), *by)
    )
    return ctx.session.execute(q).all()


@dataclass(frozen=True)
class Returns:
    """Requests answered in the period, by agency and by working days late (None: no
    deadline counted)."""

    count: dict[int | None, dict[int | None, int]]
    reminders: dict[int | None, int]
    escalations: dict[int | None, int]


def answered_returns(ctx: Context) -> Returns:
    """One pass over the requests answered in the period, for three tables."""
    late = col(Task.late_working_days)
    found = Returns({}, {}, {})
    for agency_id, days, n, reminders, escalations in tasks_by_agency(
        ctx,
        "request",
        col(Task.answered_at),
        sa.func.count(),
        sa.func.sum(col(Task.reminders_sent)),
        sa.func.sum(col(Task.escalations_sent)),
        by=(late,),
    ):
        found.count.setdefault(agency_id, {})[days] = whole(n)
        found.reminders[agency_id] = found.reminders.get(agency_id, 0) + whole(reminders)
        found.escalations[agency_id] = found.escalations.get(agency_id, 0) + whole(escalations)
    return found


#: actions completed in the period by agency: (completed, by the target date, with evidence
#: of impact)
Completed = Mapping[int | None, tuple[int, int, int]]


def completed_actions(ctx: Context) -> dict[int | None, tuple[int, int, int]]:
    """Actions completed in the period, by agency: (completed, by the target date, with
    evidence of impact), for two tables."""
    evidence = sa.func.trim(sa.func.coalesce(json_text(col(Task.data), "evidence_of_impact"), ""))
    rows = tasks_by_agency(
        ctx,
        "action",
        col(Task.answered_at),
        sa.func.count(),
        count_if(col(Task.late_working_days) == 0),
        count_if(evidence != ""),
    )
    return {a: (whole(n), whole(k), whole(e)) for a, n, k, e in rows}


# ---------------------------------------------------------------------------------------
# rows


def per_agency(
    ctx: Context,
    figures: Mapping[int | None, V],
    row: Callable[[str, V], list[Cell]],
    total: V,
) -> list[list[Cell]]:
    """A row per agency, by name (no agency last), then the total row."""
    rows = [row(ctx.agency_name(a), figures[a]) for a in ctx.by_agency(figures)]
    rows.append(row(TOTAL, total))
    return rows


def counts_per_agency(
    ctx: Context, figures: Mapping[int | None, Sequence[int]], width: int
) -> list[list[Cell]]:
    """A row of counts per agency, then their totals."""
    return per_agency(ctx, figures, lambda label, f: [label, *f], sums(figures.values(), width))


def completed_share(
    ctx: Context,
    completed: Completed,
    which: int,
    table: tuple[str, str],
    columns: Sequence[str],
    note: str,
) -> Table:
    """The actions completed in the period per agency, how many of them the count at
    ``which`` of :func:`completed_actions` holds, and their share: ``table`` is the key and
    title, ``columns`` the headings after the agency's, ``note`` what the count means."""

    def row(label: str, f: Sequence[int]) -> list[Cell]:
        n, k = f
        return [label, n, k, pct(k, n)]

    figures = {a: (f[0], f[which]) for a, f in completed.items()}
    key, title = table
    return Table(
        key=key,
        title=title,
        columns=["Agency", *columns],
        rows=per_agency(ctx, figures, row, sums(figures.values(), 2)),
        note=f"Actions whose completion the agency last submitted in the period. {note}",
    )


def titled_rows(labelled: Iterable[tuple[str, Sequence[int]]], width: int) -> list[list[Cell]]:
    """A row of ``width`` counts per ``(title, counts)``, then their totals."""
    pairs = list(labelled)
    rows: list[list[Cell]] = [[title, *counts] for title, counts in pairs]
    rows.append([TOTAL, *sums((counts for _, counts in pairs), width)])
    return rows


def by_source(titles: Iterable[str]) -> list[str]:
    """Source titles in alphabetical order, with "Other" last."""
    return sorted(set(titles), key=lambda t: (t == OTHER, t.casefold()))


def bar(
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
