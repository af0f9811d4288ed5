"""Periods, pure: which period of an entry contains a day, when its activity opens,
whether that day has come, the once-only key of a period and the due date it gives."""

from __future__ import annotations

import calendar as _stdcal
from datetime import date, timedelta
from typing import Any

from ..calendar import WorkingCalendar, add_months
from .entries import Entry, Period

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_ONE_DAY = timedelta(days=1)


def days_in_month(year: int, month: int) -> int:
    return _stdcal.monthrange(year, month)[1]


def _on(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, days_in_month(year, month)))


def _span(start: date, end: date) -> str:
    return str(start.year) if start.year == end.year else f"{start.year}-{end.year % 100:02d}"


def _bounds(entry: Entry, d: date) -> tuple[date, date, str]:
    """The period of ``entry`` that contains ``d``: first day, last day, label."""
    if entry.every == "month":
        start = d.replace(day=1)
        return start, add_months(start, 1) - _ONE_DAY, f"{_MONTHS[d.month - 1]} {d.year}"
    first = entry.year_start
    year_from = date(d.year if d.month >= first else d.year - 1, first, 1)
    year_to = add_months(year_from, 12) - _ONE_DAY
    if entry.every == "quarter":
        q = ((d.month - first) % 12) // 3
        start = add_months(year_from, 3 * q)
        return start, add_months(start, 3) - _ONE_DAY, f"{_span(year_from, year_to)} Q{q + 1}"
    if entry.every == "year":
        return year_from, year_to, _span(year_from, year_to)
    assert entry.anchor_year is not None  # checked on load
    cycle = entry.anchor_year + 2 * ((year_from.year - entry.anchor_year) // 2)
    start = date(cycle, first, 1)
    end = add_months(start, 24) - _ONE_DAY
    return start, end, _span(start, end)


def _nominal_opening(entry: Entry, start: date) -> date:
    on = entry.open_on
    if entry.every == "month":
        return _on(start.year, start.month, on.day)
    assert on.month is not None  # checked on load
    if entry.every == "quarter":
        m = add_months(start, on.month - 1)
        return _on(m.year, m.month, on.day)
    year = start.year if on.month >= start.month else start.year + 1
    return _on(year, on.month, on.day)


def current_period(entry: Entry, today: date, calendar: WorkingCalendar | None = None) -> Period:
    """The period of ``entry`` containing ``today``, whether or not it has opened yet."""
    start, end, label = _bounds(entry, today)
    opens_on = _nominal_opening(entry, start)
    if calendar is not None and not calendar.is_working_day(opens_on):
        moved = calendar.next_working_day(opens_on)
        if moved <= end:
            opens_on = moved
    previous = _bounds(entry, start - _ONE_DAY)[2]
    return Period(label=label, start=start, end=end, opens_on=opens_on, previous=previous)


def period_of(entry: Entry, today: date, calendar: WorkingCalendar | None = None) -> Period | None:
    """The period containing ``today`` if its opening day has come (on or after it), else
    ``None``. With ``calendar``, an opening day that is not a working day moves to the next
    working day (as long as that is still in the period). A period that opens before the
    entry's ``start_date`` is never due."""
    period = current_period(entry, today, calendar)
    if today < period.opens_on:
        return None
    if entry.start_date is not None and period.opens_on < entry.start_date:
        return None
    return period


def run_key(entry: Entry, period: Period) -> str:
    """The once-only key of ``entry`` in ``period``: ``programme:<key>:<label>``."""
    return f"programme:{entry.key}:{period.label}"


def render(template: str, period: Period) -> str:
    return template.format_map(period.placeholders())


def render_inputs(entry: Entry, period: Period) -> dict[str, Any]:
    values = period.placeholders()
    return {
        name: value.format_map(values) if isinstance(value, str) else value
        for name, value in entry.inputs.items()
    }


def due_date(entry: Entry, opened_on: date, calendar: WorkingCalendar) -> date | None:
    """The due date given to the workflow for an activity opened on ``opened_on``."""
    if entry.due is None:
        return None
    if entry.due.unit == "working_days":
        return calendar.add_working_days(opened_on, entry.due.amount)
    return opened_on + timedelta(days=entry.due.amount)
