"""Tests for sef_workflow.calendar: working days, months, hours and pauses (England)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sef_workflow.calendar import (
    LONDON,
    DeadlineRule,
    Due,
    WorkingCalendar,
    add_months,
    compute_due,
    describe_remaining,
    format_date,
    is_overdue,
    remaining,
    shift_for_pause,
)

ENGLAND = WorkingCalendar()
REFERENCE_HOLIDAYS = holidays.country_holidays("GB", subdiv="ENG")
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, database=None)


def london(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def all_day(on: date, cal: WorkingCalendar = ENGLAND) -> Due:
    return compute_due(DeadlineRule("calendar_days", 0), london(on.year, on.month, on.day), cal)


# -- reference implementation: one day at a time ---------------------------------------


def naive_is_working(d: date, closures: frozenset[date]) -> bool:
    return d.weekday() < 5 and d not in REFERENCE_HOLIDAYS and d not in closures


def naive_add(start: date, n: int, closures: frozenset[date]) -> date:
    step = timedelta(days=1 if n >= 0 else -1)
    if n == 0:
        d = start
        while not naive_is_working(d, closures):
            d += step
        return d
    d, left = start, abs(n)
    while left:
        d += step
        if naive_is_working(d, closures):
            left -= 1
    return d


def naive_between(start: date, end: date, closures: frozenset[date]) -> int:
    if end < start:
        return -naive_between(end, start, closures)
    days = (end - start).days
    return sum(naive_is_working(start + timedelta(days=i), closures) for i in range(1, days + 1))


# -- known answers -----------------------------------------------------------------------


class TestKnownAnswers:
    def test_five_working_days_over_christmas_2025(self) -> None:
        assert ENGLAND.add_working_days(date(2025, 12, 18), 5) == date(2025, 12, 29)

    def test_fifteen_working_days_over_christmas_2025(self) -> None:
        assert ENGLAND.add_working_days(date(2025, 12, 18), 15) == date(2026, 1, 13)

    def test_closure_day_pushes_the_fifth_day(self) -> None:
        cal = WorkingCalendar(closure_days=[date(2025, 12, 29)])
        assert cal.add_working_days(date(2025, 12, 18), 5) == date(2025, 12, 30)
        assert cal.holiday_name(date(2025, 12, 29)) == "Closure day"
        assert not cal.is_working_day(date(2025, 12, 29))

    def test_six_calendar_months_clamped_to_february(self) -> None:
        assert add_months(date(2025, 8, 31), 6) == date(2026, 2, 28)

    @pytest.mark.parametrize(
        ("start", "n", "expected"),
        [
            # Easter 2026: Good Friday 3 Apr, Easter Monday 6 Apr.
            (date(2026, 4, 1), 5, date(2026, 4, 10)),
            (date(2026, 4, 2), 1, date(2026, 4, 7)),
            (date(2026, 4, 3), 1, date(2026, 4, 7)),
            (date(2026, 4, 9), -7, date(2026, 3, 27)),
            (date(2026, 4, 7), -1, date(2026, 4, 2)),
            # Christmas 2026: Fri 25 Dec, Boxing Day Sat 26 (substitute Mon 28), New Year Fri 1 Jan.
            (date(2026, 12, 23), 5, date(2027, 1, 4)),
            (date(2026, 12, 24), 1, date(2026, 12, 29)),
            (date(2027, 1, 4), -5, date(2026, 12, 23)),
            # Early May (4 May), spring (25 May) and August (31 Aug) bank holidays 2026.
            (date(2026, 5, 1), 1, date(2026, 5, 5)),
            (date(2026, 5, 22), 3, date(2026, 5, 28)),
            (date(2026, 8, 28), 1, date(2026, 9, 1)),
            (date(2026, 9, 1), -1, date(2026, 8, 28)),
            # Start never counts, even when it is a working day; n == 0 stays or rolls on.
            (date(2025, 12, 18), 1, date(2025, 12, 19)),
            (date(2025, 12, 18), 0, date(2025, 12, 18)),
            (date(2025, 12, 25), 0, date(2025, 12, 29)),
            (date(2026, 5, 2), 0, date(2026, 5, 5)),
        ],
    )
    def test_add_working_days(self, start: date, n: int, expected: date) -> None:
        assert ENGLAND.add_working_days(start, n) == expected

    @pytest.mark.parametrize(
        ("start", "end", "expected"),
        [
            (date(2026, 4, 2), date(2026, 4, 7), 1),
            (date(2026, 12, 24), date(2027, 1, 4), 4),
            (date(2025, 12, 31), date(2026, 12, 31), 253),  # 261 weekdays - 8 bank holidays
            (date(2026, 4, 7), date(2026, 4, 2), -1),
            (date(2026, 4, 4), date(2026, 4, 6), 0),
            (date(2026, 4, 4), date(2026, 4, 4), 0),
        ],
    )
    def test_working_days_between(self, start: date, end: date, expected: int) -> None:
        assert ENGLAND.working_days_between(start, end) == expected

    @pytest.mark.parametrize(
        ("d", "months", "expected"),
        [
            (date(2028, 1, 31), 1, date(2028, 2, 29)),
            (date(2027, 1, 31), 1, date(2027, 2, 28)),
            (date(2028, 2, 29), 12, date(2029, 2, 28)),
            (date(2026, 3, 31), -1, date(2026, 2, 28)),
            (date(2026, 3, 31), -13, date(2025, 2, 28)),
            (date(2025, 8, 15), 0, date(2025, 8, 15)),
        ],
    )
    def test_add_months(self, d: date, months: int, expected: date) -> None:
        assert add_months(d, months) == expected


class TestSingleDays:
    def test_weekend_bank_holiday_has_a_name_and_a_weekday_substitute(self) -> None:
        assert ENGLAND.holiday_name(date(2026, 12, 26)) == "Boxing Day"
        assert ENGLAND.holiday_name(date(2026, 12, 28)) == "Boxing Day (observed)"
        assert not ENGLAND.is_working_day(date(2026, 12, 28))
        assert ENGLAND.is_working_day(date(2026, 12, 29))

    def test_ordinary_days(self) -> None:
        assert ENGLAND.holiday_name(date(2026, 4, 2)) is None
        assert ENGLAND.is_working_day(date(2026, 4, 2))
        assert not ENGLAND.is_working_day(date(2026, 4, 4))  # Saturday
        assert ENGLAND.holiday_name(date(2026, 4, 4)) is None

    def test_bank_holiday_name_wins_over_closure(self) -> None:
        cal = WorkingCalendar(closure_days=[date(2025, 12, 25)])
        assert cal.holiday_name(date(2025, 12, 25)) == "Christmas Day"

    def test_next_and_previous_are_strict(self) -> None:
        assert ENGLAND.next_working_day(date(2026, 4, 2)) == date(2026, 4, 7)
        assert ENGLAND.next_working_day(date(2026, 4, 7)) == date(2026, 4, 8)
        assert ENGLAND.previous_working_day(date(2026, 4, 7)) == date(2026, 4, 2)
        assert ENGLAND.previous_working_day(date(2026, 4, 2)) == date(2026, 4, 1)

    def test_easter_monday_needs_the_subdivision(self) -> None:
        assert not ENGLAND.is_working_day(date(2026, 4, 6))
        assert WorkingCalendar(subdiv=None).is_working_day(date(2026, 4, 6))

    def test_other_nations_are_configurable(self) -> None:
        scotland = WorkingCalendar(subdiv="SCT")
        assert not scotland.is_working_day(date(2026, 1, 2))
        assert ENGLAND.is_working_day(date(2026, 1, 2))

    def test_unknown_country_fails_at_construction(self) -> None:
        with pytest.raises(NotImplementedError):
            WorkingCalendar(country="XX")

    def test_local_date(self) -> None:
        assert ENGLAND.local_date(utc(2026, 7, 1, 23, 30)) == date(2026, 7, 2)  # BST
        assert ENGLAND.local_date(utc(2026, 1, 1, 23, 30)) == date(2026, 1, 1)  # GMT
        with pytest.raises(ValueError, match="timezone-aware"):
            ENGLAND.local_date(datetime(2026, 1, 1, 12))

    def test_years_are_loaded_for_the_whole_span(self) -> None:
        fresh = WorkingCalendar()
        total = fresh.working_days_between(date(2019, 12, 31), date(2035, 12, 31))
        yearly = sum(
            WorkingCalendar().working_days_between(date(y - 1, 12, 31), date(y, 12, 31))
            for y in range(2020, 2036)
        )
        assert total == yearly
        assert total == naive_between(date(2019, 12, 31), date(2035, 12, 31), frozenset())
        assert fresh.add_working_days(date(2020, 1, 1), 3000) == naive_add(
            date(2020, 1, 1), 3000, frozenset()
        )

    def test_format_date(self) -> None:
        assert format_date(date(2025, 12, 29)) == "29 December 2025"
        assert format_date(date(2026, 4, 3)) == "3 April 2026"


# -- deadlines ---------------------------------------------------------------------------


class TestComputeDue:
    def test_panel_notification_five_working_days(self) -> None:
        due = compute_due(DeadlineRule("working_days", 5), london(2025, 12, 18, 16), ENGLAND)
        assert due == Due(at=utc(2025, 12, 30), on=date(2025, 12, 29), all_day=True)

    def test_basis_is_taken_as_a_local_date(self) -> None:
        # 23:30 UTC on 1 Apr 2026 is 00:30 BST on Thu 2 Apr.
        due = compute_due(DeadlineRule("working_days", 5), utc(2026, 4, 1, 23, 30), ENGLAND)
        assert due.on == date(2026, 4, 13)
        assert due.at == utc(2026, 4, 13, 23)

    def test_end_of_day_in_bst_and_gmt(self) -> None:
        assert all_day(date(2026, 7, 15)).at == utc(2026, 7, 15, 23)
        assert all_day(date(2026, 1, 15)).at == utc(2026, 1, 16)
        # Due Sat 24 Oct 2026: midnight after it is still BST (clocks go back at 02:00 on 25th).
        assert all_day(date(2026, 10, 24)).at == utc(2026, 10, 24, 23)
        # Due Sat 28 Mar 2026: midnight after it is still GMT (clocks go forward at 01:00 on 29th).
        assert all_day(date(2026, 3, 28)).at == utc(2026, 3, 29)
        # Due the day the clocks change: the next midnight is in the new offset.
        assert all_day(date(2026, 10, 25)).at == utc(2026, 10, 26)
        assert all_day(date(2026, 3, 29)).at == utc(2026, 3, 29, 23)
        assert all_day(date(2026, 7, 15)).at.utcoffset() == timedelta(0)

    def test_publication_six_months(self) -> None:
        due = compute_due(DeadlineRule("calendar_months", 6), london(2025, 8, 31, 10), ENGLAND)
        assert due.on == date(2026, 2, 28)
        assert due.at == utc(2026, 3, 1)

    def test_before_counts_backwards(self) -> None:
        rule = DeadlineRule("working_days", 7, direction="before")
        due = compute_due(rule, london(2026, 4, 9, 9), ENGLAND)
        assert due.on == date(2026, 3, 27)
        assert due.all_day

    def test_calendar_days_before_and_after(self) -> None:
        after = compute_due(DeadlineRule("calendar_days", 10), london(2026, 12, 28), ENGLAND)
        assert after.on == date(2027, 1, 7)
        before = compute_due(
            DeadlineRule("calendar_months", 1, direction="before"), london(2028, 3, 31), ENGLAND
        )
        assert before.on == date(2028, 2, 29)

    def test_48_hours_across_the_end_of_bst(self) -> None:
        due = compute_due(DeadlineRule("hours", 48), london(2026, 10, 24, 12), ENGLAND)
        # 12:00 BST = 11:00 UTC; 48 real hours later is 11:00 UTC = 11:00 GMT on Mon 26 Oct.
        assert due.at == utc(2026, 10, 26, 11)
        assert due.at.astimezone(LONDON).hour == 11
        assert due.on == date(2026, 10, 26)
        assert not due.all_day

    def test_48_hours_across_the_start_of_bst(self) -> None:
        due = compute_due(DeadlineRule("hours", 48), london(2026, 3, 28, 12), ENGLAND)
        assert due.at == utc(2026, 3, 30, 12)
        assert due.at.astimezone(LONDON).hour == 13

    def test_hours_before_and_local_date_of_at(self) -> None:
        rule = DeadlineRule("hours", 72, direction="before")
        due = compute_due(rule, utc(2026, 6, 4, 23, 30), ENGLAND)
        assert due.at == utc(2026, 6, 1, 23, 30)
        assert due.on == date(2026, 6, 2)  # 00:30 BST

    def test_naive_basis_rejected(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            compute_due(DeadlineRule("hours", 1), datetime(2026, 1, 1), ENGLAND)

    def test_rule_validation(self) -> None:
        with pytest.raises(ValueError, match=">= 0"):
            DeadlineRule("working_days", -1)
        with pytest.raises(ValueError, match="unit"):
            DeadlineRule("fortnights", 1)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="direction"):
            DeadlineRule("hours", 1, direction="around")  # type: ignore[arg-type]


class TestRemaining:
    DUE = all_day(date(2025, 12, 29))  # Mon 29 Dec 2025

    @pytest.mark.parametrize(
        ("now", "left", "text", "late"),
        [
            (london(2025, 12, 22, 9), 3, "3 working days left", False),
            (london(2025, 12, 24, 9), 1, "1 working day left", False),
            (london(2025, 12, 27, 9), 1, "1 working day left", False),
            (london(2025, 12, 29, 0), 0, "due today", False),
            (london(2025, 12, 29, 23, 59), 0, "due today", False),
            (london(2025, 12, 30, 0), -1, "1 working day overdue", True),
            (london(2026, 1, 2, 9), -3, "3 working days overdue", True),
        ],
    )
    def test_all_day(self, now: datetime, left: int, text: str, late: bool) -> None:
        assert remaining(self.DUE, now, ENGLAND) == left
        assert describe_remaining(self.DUE, now, ENGLAND) == text
        assert is_overdue(self.DUE, now) is late

    def test_late_over_the_weekend_after_the_due_day(self) -> None:
        due = all_day(date(2025, 12, 12))  # Friday
        saturday = london(2025, 12, 13, 10)
        assert is_overdue(due, saturday)
        assert remaining(due, saturday, ENGLAND) == 0
        assert describe_remaining(due, saturday, ENGLAND) == "overdue (due Friday 12 December 2025)"
        monday = london(2025, 12, 15, 10)
        assert describe_remaining(due, monday, ENGLAND) == "1 working day overdue"

    def test_due_on_a_weekend_with_no_working_day_left(self) -> None:
        due = all_day(date(2025, 12, 14))  # Sunday
        saturday = london(2025, 12, 13, 10)
        assert remaining(due, saturday, ENGLAND) == 0
        assert not is_overdue(due, saturday)
        assert describe_remaining(due, saturday, ENGLAND) == "due Sunday 14 December 2025"

    @pytest.mark.parametrize(
        ("now", "left", "text", "late"),
        [
            (utc(2026, 10, 26, 6), 5, "5 hours left", False),
            (utc(2026, 10, 26, 10, 30), 1, "1 hour left", False),
            (utc(2026, 10, 26, 11), 0, "due now", True),
            (utc(2026, 10, 26, 11, 1), -1, "1 hour overdue", True),
            (utc(2026, 10, 26, 13), -2, "2 hours overdue", True),
            (london(2026, 10, 24, 12), 48, "48 hours left", False),
        ],
    )
    def test_hours(self, now: datetime, left: int, text: str, late: bool) -> None:
        due = compute_due(DeadlineRule("hours", 48), london(2026, 10, 24, 12), ENGLAND)
        assert remaining(due, now, ENGLAND) == left
        assert describe_remaining(due, now, ENGLAND) == text
        assert is_overdue(due, now) is late


class TestPause:
    def test_working_days_pause(self) -> None:
        rule = DeadlineRule("working_days", 5)
        due = compute_due(rule, london(2025, 12, 18, 9), ENGLAND)
        shifted = shift_for_pause(rule, due, london(2026, 1, 5, 9), london(2026, 1, 9, 17), ENGLAND)
        # Paused for 4 working days (6-9 Jan): 29 Dec + 4 working days = Mon 5 Jan 2026.
        assert shifted == all_day(date(2026, 1, 5))

    def test_pause_within_a_day_changes_nothing(self) -> None:
        rule = DeadlineRule("working_days", 5)
        due = compute_due(rule, london(2025, 12, 18, 9), ENGLAND)
        shifted = shift_for_pause(
            rule, due, london(2025, 12, 19, 9), london(2025, 12, 19, 17), ENGLAND
        )
        assert shifted == due

    def test_calendar_pause_shifts_by_days(self) -> None:
        rule = DeadlineRule("calendar_months", 6)
        due = compute_due(rule, london(2025, 8, 31), ENGLAND)
        shifted = shift_for_pause(rule, due, london(2026, 1, 1), london(2026, 1, 11), ENGLAND)
        assert shifted.on == date(2026, 3, 10)
        assert shifted.at == utc(2026, 3, 11)

    def test_hours_pause_uses_elapsed_time_across_clock_change(self) -> None:
        rule = DeadlineRule("hours", 48)
        due = compute_due(rule, london(2026, 10, 24, 12), ENGLAND)
        # 00:30 BST to 03:30 GMT on 25 Oct 2026 is 4 real hours (3 on the wall clock).
        shifted = shift_for_pause(
            rule, due, london(2026, 10, 25, 0, 30), london(2026, 10, 25, 3, 30), ENGLAND
        )
        assert shifted.at == utc(2026, 10, 26, 15)
        assert shifted.on == date(2026, 10, 26)
        assert not shifted.all_day

    def test_unpausable_and_backwards_pauses_rejected(self) -> None:
        rule = DeadlineRule("working_days", 5, pausable=False)
        due = compute_due(rule, london(2025, 12, 18), ENGLAND)
        with pytest.raises(ValueError, match="cannot be paused"):
            shift_for_pause(rule, due, london(2026, 1, 5), london(2026, 1, 6), ENGLAND)
        pausable = DeadlineRule("working_days", 5)
        with pytest.raises(ValueError, match="before it starts"):
            shift_for_pause(pausable, due, london(2026, 1, 6), london(2026, 1, 5), ENGLAND)


def test_other_time_zone() -> None:
    cal = WorkingCalendar(tz=ZoneInfo("UTC"))
    assert cal.tz == ZoneInfo("UTC")
    due = compute_due(DeadlineRule("working_days", 5), utc(2025, 12, 18, 12), cal)
    assert due.at == utc(2025, 12, 30)


# -- properties --------------------------------------------------------------------------

DATES = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))
COUNTS = st.integers(min_value=0, max_value=400)


@st.composite
def calendars(draw: st.DrawFn) -> tuple[date, frozenset[date], WorkingCalendar]:
    """A start date and a calendar whose closure days cluster around it."""
    start = draw(DATES)
    offsets = draw(st.lists(st.integers(min_value=-120, max_value=600), max_size=40))
    closures = frozenset(start + timedelta(days=k) for k in offsets)
    return start, closures, WorkingCalendar(closure_days=closures)


@PROPERTY_SETTINGS
@given(calendars(), COUNTS)
def test_add_then_count_agrees(case: tuple[date, frozenset[date], WorkingCalendar], n: int) -> None:
    start, _, cal = case
    end = cal.add_working_days(start, n)
    if n >= 1 or cal.is_working_day(start):
        assert cal.working_days_between(start, end) == n
    else:
        assert cal.working_days_between(start, end) == 1
    if n >= 1:
        back = cal.add_working_days(start, -n)
        expected = -n if cal.is_working_day(start) else -n + 1
        assert cal.working_days_between(start, back) == expected


@PROPERTY_SETTINGS
@given(calendars(), COUNTS.filter(lambda n: n > 0), st.booleans())
def test_results_are_working_days(
    case: tuple[date, frozenset[date], WorkingCalendar], n: int, backwards: bool
) -> None:
    start, closures, cal = case
    result = cal.add_working_days(start, -n if backwards else n)
    assert result.weekday() < 5
    assert result not in REFERENCE_HOLIDAYS
    assert result not in closures
    assert (result < start) if backwards else (result > start)


@PROPERTY_SETTINGS
@given(calendars(), COUNTS)
def test_add_then_subtract_returns_to_a_working_start(
    case: tuple[date, frozenset[date], WorkingCalendar], n: int
) -> None:
    start, _, cal = case
    start = cal.add_working_days(start, 0)
    assert cal.add_working_days(cal.add_working_days(start, n), -n) == start
    assert cal.add_working_days(cal.add_working_days(start, -n), n) == start


@PROPERTY_SETTINGS
@given(calendars(), COUNTS)
def test_monotonic_in_n(case: tuple[date, frozenset[date], WorkingCalendar], n: int) -> None:
    start, _, cal = case
    here, there = cal.add_working_days(start, n), cal.add_working_days(start, n + 1)
    if n >= 1 or cal.is_working_day(start):
        assert here < there
    else:
        assert here == there
    assert cal.add_working_days(start, -n - 1) < cal.add_working_days(start, -n) or n == 0


@PROPERTY_SETTINGS
@given(calendars(), DATES, DATES)
def test_between_is_antisymmetric_and_additive(
    case: tuple[date, frozenset[date], WorkingCalendar], b: date, c: date
) -> None:
    a, _, cal = case
    assert cal.working_days_between(a, b) == -cal.working_days_between(b, a)
    assert cal.working_days_between(a, a) == 0
    assert cal.working_days_between(a, b) + cal.working_days_between(b, c) == (
        cal.working_days_between(a, c)
    )


@PROPERTY_SETTINGS
@given(calendars(), st.integers(min_value=-400, max_value=400))
def test_matches_day_by_day_reference(
    case: tuple[date, frozenset[date], WorkingCalendar], n: int
) -> None:
    start, closures, cal = case
    result = cal.add_working_days(start, n)
    assert result == naive_add(start, n, closures)
    assert cal.working_days_between(start, result) == naive_between(start, result, closures)
