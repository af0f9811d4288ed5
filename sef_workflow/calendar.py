"""Working-day calendar and deadline arithmetic.

Rules
-----
* A **working day** is Monday to Friday, not a bank holiday of the configured nation
  (England by default: ``holidays.country_holidays("GB", subdiv="ENG")``) and not one of the
  partnership's own closure days. A bank holiday that falls at a weekend (e.g. Boxing Day on
  a Saturday) changes nothing by itself; its weekday substitute is the holiday that counts.
* ``add_working_days(start, n)`` never counts ``start``: the 1st working day after Thursday
  18 Dec 2025 is Friday 19 Dec. With ``n == 0`` the result is ``start`` if it is a working
  day, else the next working day.
* ``working_days_between(start, end)`` counts working days ``d`` with ``start < d <= end``
  (negated when ``end < start``). For ``n >= 1`` it undoes ``add_working_days``:
  ``working_days_between(s, add_working_days(s, n)) == n``; for ``n == 0`` that holds when
  ``s`` is a working day (otherwise the result is 1). For ``n < 0`` it holds when ``s`` is a
  working day, and the result is ``n + 1`` when it is not (the half-open interval then does
  not contain ``s``).
* **Calendar months** are clamped at month end: 6 months after 31 Aug 2025 is 28 Feb 2026.
* **Day and month deadlines** are all-day: the item is late once the local due day (in the
  calendar's time zone, Europe/London by default) is over, i.e. from local midnight after it.
* **Hour deadlines** are exact elapsed time (UTC arithmetic), so 48 hours across the change
  from BST to GMT is 48 real hours, not 48 wall-clock hours.
* **Pauses** stop the clock: the due date moves later by the time that passed while paused,
  measured in the rule's own unit.

Everything here is a pure function of its arguments: the current time is always passed in.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Literal, get_args
from zoneinfo import ZoneInfo

import holidays
from dateutil.relativedelta import relativedelta  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "LONDON",
    "DeadlineRule",
    "Direction",
    "Due",
    "Unit",
    "WorkingCalendar",
    "add_months",
    "compute_due",
    "describe_remaining",
    "format_date",
    "format_deadline_date",
    "format_moment",
    "format_period",
    "format_time",
    "is_overdue",
    "remaining",
    "shift_for_pause",
]

LONDON = ZoneInfo("Europe/London")

Unit = Literal["working_days", "calendar_days", "calendar_months", "hours"]
Direction = Literal["after", "before"]

CLOSURE_DAY = "Closure day"

_ONE_DAY = timedelta(days=1)
_ONE_HOUR = timedelta(hours=1)
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@lru_cache(maxsize=512)
def _bank_holidays(country: str, subdiv: str | None, year: int) -> tuple[tuple[date, str], ...]:
    """The bank holidays of one year, as sorted ``(date, name)`` pairs."""
    table = holidays.country_holidays(country, subdiv=subdiv, years=year)
    return tuple(sorted((day, str(name)) for day, name in table.items()))


def _weekdays_upto(d: date) -> int:
    """Number of Mondays-to-Fridays from 1 Jan 0001 (a Monday) up to and including ``d``."""
    weeks, rest = divmod(d.toordinal(), 7)
    return 5 * weeks + min(rest, 5)


def _require_aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {moment!r}")


class WorkingCalendar:
    """Working days of one nation plus the partnership's closure days, in one time zone."""

    def __init__(
        self,
        country: str = "GB",
        subdiv: str | None = "ENG",
        closure_days: Iterable[date] = (),
        tz: ZoneInfo = LONDON,
    ) -> None:
        self.country = country
        self.subdiv = subdiv
        self.tz = tz
        self.closure_days: frozenset[date] = frozenset(closure_days)
        # Validate the country/subdivision eagerly so a bad configuration fails here.
        holidays.country_holidays(country, subdiv=subdiv, years=())
        self._names: dict[date, str] = {}
        self._years: set[int] = set()
        self._off_weekdays: list[date] = sorted(d for d in self.closure_days if d.weekday() < 5)

    def __repr__(self) -> str:
        return (
            f"WorkingCalendar(country={self.country!r}, subdiv={self.subdiv!r}, "
            f"closure_days={len(self.closure_days)} days, tz={self.tz.key!r})"
        )

    # -- holiday loading -------------------------------------------------------------

    def _ensure_years(self, first: int, last: int) -> None:
        """Load bank holidays for every year from ``first`` to ``last`` (with a year's margin)."""
        wanted = range(max(MINYEAR, first - 1), min(MAXYEAR, last + 1) + 1)
        missing = [y for y in wanted if y not in self._years]
        if not missing:
            return
        off = set(self._off_weekdays)
        for year in missing:
            for day, name in _bank_holidays(self.country, self.subdiv, year):
                self._names.setdefault(day, name)
                if day.weekday() < 5:
                    off.add(day)
            self._years.add(year)
        self._off_weekdays = sorted(off)

    def _is_off(self, d: date) -> bool:
        return d in self._names or d in self.closure_days

    # -- single days -----------------------------------------------------------------

    def is_working_day(self, d: date) -> bool:
        """Monday to Friday, not a bank holiday and not a closure day."""
        if d.weekday() >= 5:
            return False
        self._ensure_years(d.year, d.year)
        return not self._is_off(d)

    def holiday_name(self, d: date) -> str | None:
        """The bank holiday's name, ``"Closure day"`` for a closure day, else ``None``."""
        self._ensure_years(d.year, d.year)
        name = self._names.get(d)
        if name is not None:
            return name
        return CLOSURE_DAY if d in self.closure_days else None

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after ``d``."""
        d += _ONE_DAY
        while not self.is_working_day(d):
            d += _ONE_DAY
        return d

    def previous_working_day(self, d: date) -> date:
        """The last working day strictly before ``d``."""
        d -= _ONE_DAY
        while not self.is_working_day(d):
            d -= _ONE_DAY
        return d

    # -- counting --------------------------------------------------------------------

    def _count(self, start: date, end: date) -> int:
        """Working days in ``(start, end]`` for ``start <= end``, with the years loaded."""
        weekdays = _weekdays_upto(end) - _weekdays_upto(start)
        off = bisect_right(self._off_weekdays, end) - bisect_right(self._off_weekdays, start)
        return weekdays - off

    def working_days_between(self, start: date, end: date) -> int:
        """Working days ``d`` with ``start < d <= end``; negated if ``end < start``."""
        if end < start:
            return -self.working_days_between(end, start)
        self._ensure_years(start.year, end.year)
        return self._count(start, end)

    def add_working_days(self, start: date, n: int) -> date:
        """The ``n``-th working day after ``start`` (before it when ``n < 0``).

        ``start`` itself never counts; ``n == 0`` gives ``start`` if it is a working day,
        else the next working day.
        """
        if n == 0:
            return start if self.is_working_day(start) else self.next_working_day(start)
        if n > 0:
            return self._forward(start, n)
        return self._backward(start, -n)

    def _forward(self, start: date, n: int) -> date:
        # Seven consecutive days hold at most five working days, so a step of
        # 7 * (k // 5) + k % 5 days never passes the k-th working day still needed.
        d, k = start, n
        while k > 0:
            step = 7 * (k // 5) + k % 5
            nxt = d + timedelta(days=step)
            self._ensure_years(d.year, nxt.year)
            k -= self._count(d, nxt)
            d = nxt
        # The count reached n at or before d; the last working day up to d is the answer.
        return d if self.is_working_day(d) else self.previous_working_day(d)

    def _backward(self, start: date, n: int) -> date:
        # Mirror image of _forward, counting working days in [d, start).
        d, k = start, n
        while k > 0:
            step = 7 * (k // 5) + k % 5
            prv = d - timedelta(days=step)
            self._ensure_years(prv.year, d.year)
            k -= self._count(prv - _ONE_DAY, d - _ONE_DAY)
            d = prv
        return d if self.is_working_day(d) else self.next_working_day(d)

    # -- time zone -------------------------------------------------------------------

    def local_date(self, moment: datetime) -> date:
        """The date of an aware ``moment`` in this calendar's time zone."""
        _require_aware(moment, "moment")
        return moment.astimezone(self.tz).date()

    def end_of_day(self, d: date) -> datetime:
        """The first instant (UTC) of the local day after ``d``: when ``d`` is over."""
        return datetime.combine(d + _ONE_DAY, time(0), tzinfo=self.tz).astimezone(UTC)


def add_months(d: date, n: int) -> date:
    """``d`` plus ``n`` calendar months (``n`` may be negative), clamped to month end."""
    result: date = d + relativedelta(months=n)
    return result


# ---------------------------------------------------------------------------- words
# One date style everywhere a person reads, GOV.UK's, independent of locale: "6 January 2027";
# a deadline with its weekday, "Wednesday 6 January 2027"; a moment "6 January 2027 at
# 2:30pm" (times as 9am, 2:30pm, midday, midnight). Machines get ISO 8601 instead.


def _local_day(d: date) -> date:
    """``d``, or the day an aware datetime falls on in the partnership's time zone."""
    if isinstance(d, datetime):
        return d.astimezone(LONDON).date() if d.tzinfo is not None else d.date()
    return d


def format_date(d: date) -> str:
    """A date as people read it: ``"6 January 2027"`` (an aware datetime: its day in
    Europe/London)."""
    d = _local_day(d)
    return f"{d.day} {_MONTH_NAMES[d.month - 1]} {d.year}"


def format_deadline_date(d: date) -> str:
    """A deadline's date, with its weekday: ``"Wednesday 6 January 2027"``."""
    d = _local_day(d)
    return f"{_WEEKDAY_NAMES[d.weekday()]} {format_date(d)}"


def format_time(t: time | datetime) -> str:
    """A time of day, GOV.UK style: ``"9am"``, ``"2:30pm"``, ``"midday"``, ``"midnight"``."""
    hour, minute = t.hour, t.minute
    if minute == 0 and hour == 0:
        return "midnight"
    if minute == 0 and hour == 12:
        return "midday"
    suffix = "am" if hour < 12 else "pm"
    shown = hour % 12 or 12
    return f"{shown}{suffix}" if minute == 0 else f"{shown}:{minute:02d}{suffix}"


def format_moment(moment: datetime, tz: tzinfo = LONDON) -> str:
    """A moment in the partnership's time zone: ``"6 January 2027 at 2:30pm"``."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(tz)
    return f"{format_date(moment.date())} at {format_time(moment)}"


def format_period(start: date, end: date) -> str:
    """A span of days: ``"1 April 2026 to 31 March 2027"``."""
    return f"{format_date(start)} to {format_date(end)}"


@dataclass(frozen=True)
class DeadlineRule:
    """How a deadline is computed from its basis moment."""

    unit: Unit
    amount: int
    direction: Direction = "after"
    waivable: bool = False
    pausable: bool = True

    def __post_init__(self) -> None:
        if self.unit not in get_args(Unit):
            raise ValueError(f"unknown deadline unit {self.unit!r}")
        if self.direction not in get_args(Direction):
            raise ValueError(f"unknown deadline direction {self.direction!r}")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError(f"deadline amount must be an int, got {self.amount!r}")
        if self.amount < 0:
            raise ValueError(f"deadline amount must be >= 0, got {self.amount}")


@dataclass(frozen=True)
class Due:
    """When something is due: late from ``at`` (UTC) onwards."""

    at: datetime
    on: date
    all_day: bool

    def __post_init__(self) -> None:
        _require_aware(self.at, "Due.at")


def _all_day(on: date, cal: WorkingCalendar) -> Due:
    return Due(at=cal.end_of_day(on), on=on, all_day=True)


def compute_due(rule: DeadlineRule, basis: datetime, cal: WorkingCalendar) -> Due:
    """The due moment of ``rule`` counted from the aware datetime ``basis``."""
    _require_aware(basis, "basis")
    sign = 1 if rule.direction == "after" else -1
    amount = sign * rule.amount
    if rule.unit == "hours":
        at = basis.astimezone(UTC) + timedelta(hours=amount)
        return Due(at=at, on=cal.local_date(at), all_day=False)
    start = cal.local_date(basis)
    if rule.unit == "working_days":
        on = cal.add_working_days(start, amount)
    elif rule.unit == "calendar_days":
        on = start + timedelta(days=amount)
    else:
        on = add_months(start, amount)
    return _all_day(on, cal)


def is_overdue(due: Due, now: datetime) -> bool:
    """True once ``now`` has reached ``due.at``."""
    _require_aware(now, "now")
    return now >= due.at


def remaining(due: Due, now: datetime, cal: WorkingCalendar) -> int:
    """Time left: working days for all-day dues, whole hours otherwise; negative if late.

    All-day: ``working_days_between(today, due.on)`` while today <= due.on (0 = due today, or
    no working day left before a due date that is not a working day), and
    ``-working_days_between(due.on, today)`` once today is past it (0 until a working day has
    passed). Hours: ceiling of the hours left, or floor (negative) once past ``due.at``.
    """
    if due.all_day:
        today = cal.local_date(now)
        if today <= due.on:
            return cal.working_days_between(today, due.on)
        return -cal.working_days_between(due.on, today)
    _require_aware(now, "now")
    left = (due.at.astimezone(UTC) - now.astimezone(UTC)) / _ONE_HOUR
    return math.ceil(left) if left > 0 else math.floor(left)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def describe_remaining(due: Due, now: datetime, cal: WorkingCalendar) -> str:
    """Human phrase for :func:`remaining`.

    All-day: ``"3 working days left"``, ``"due today"``, ``"2 working days overdue"``; a
    due date after today with no working day left before it reads ``"due Sunday 14 December
    2025"``, and a past due date with no working day since reads ``"overdue (due Friday 12
    December 2025)"``.
    Hours: ``"5 hours left"``, ``"due now"``, ``"2 hours overdue"``.
    """
    left = remaining(due, now, cal)
    if due.all_day:
        today = cal.local_date(now)
        if today == due.on:
            return "due today"
        if today < due.on:
            if left == 0:
                return f"due {format_deadline_date(due.on)}"
            return f"{_plural(left, 'working day')} left"
        if left == 0:
            return f"overdue (due {format_deadline_date(due.on)})"
        return f"{_plural(-left, 'working day')} overdue"
    if left > 0:
        return f"{_plural(left, 'hour')} left"
    if left == 0:
        return "due now"
    return f"{_plural(-left, 'hour')} overdue"


def shift_for_pause(
    rule: DeadlineRule,
    due: Due,
    paused_at: datetime,
    resumed_at: datetime,
    cal: WorkingCalendar,
) -> Due:
    """Move ``due`` later by the time spent paused, measured in the rule's unit.

    Working days: by the working days in ``(local(paused_at), local(resumed_at)]``.
    Calendar days and months: by the calendar days elapsed between the local dates.
    Hours: by the exact elapsed time. Raises ``ValueError`` for a rule that is not pausable
    or a pause that ends before it starts.
    """
    _require_aware(paused_at, "paused_at")
    _require_aware(resumed_at, "resumed_at")
    if not rule.pausable:
        raise ValueError("this deadline cannot be paused")
    if resumed_at < paused_at:
        raise ValueError("a pause cannot end before it starts")
    if rule.unit == "hours":
        at = due.at.astimezone(UTC) + (resumed_at.astimezone(UTC) - paused_at.astimezone(UTC))
        return Due(at=at, on=cal.local_date(at), all_day=False)
    paused_on, resumed_on = cal.local_date(paused_at), cal.local_date(resumed_at)
    if rule.unit == "working_days":
        n = cal.working_days_between(paused_on, resumed_on)
        on = cal.add_working_days(due.on, n) if n > 0 else due.on
    else:
        on = due.on + (resumed_on - paused_on)
    return _all_day(on, cal)
