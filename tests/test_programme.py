"""The recurring programme: the file checked on load, periods, and opening each entry
exactly once per period (twice run, two services, two real processes, after downtime)."""

from __future__ import annotations

import multiprocessing as mp
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from sef_workflow.calendar import LONDON, WorkingCalendar
from sef_workflow.clock import FakeClock
from sef_workflow.db import Database
from sef_workflow.definitions import Registry
from sef_workflow.errors import DefinitionError
from sef_workflow.models import Activity, ProgrammeRun, Task
from sef_workflow.notify.outbox import Notifier
from sef_workflow.notify.render import Templates
from sef_workflow.programme import (
    DueRule,
    Entry,
    OpenOn,
    Period,
    Programme,
    load_programme,
    period_of,
    programme_actor,
    run_key,
    run_programme,
)
from sef_workflow.programme import running as programme_module
from sef_workflow.service import Service

from .conftest import ROOT, TEMPLATES, WORKFLOWS

BUSINESS_UNIT = "business.unit@northshire-scp.example"
CAL = WorkingCalendar()

QUARTERLY = """
[[entry]]
key = "quarterly-indicators"
workflow = "agency_request"
title = "Quarterly system indicators {period}"
every = "quarter"
open_on = { month = 1, day = 5 }
agencies = "all"
inputs = { request_type = "quarterly_system_indicators", period = "{period}" }
due = { working_days = 20 }
due_input = "due_date"
then = ["issue_request"]
"""

SECTION11 = """
[[entry]]
key = "section11"
workflow = "section11"
title = "Section 11 assessment {period}"
every = "two_years"
anchor_year = 2026
open_on = { month = 1, day = 5 }
agencies = "all"
inputs = { cycle = "{period}" }
due = { working_days = 40 }
due_input = "return_date"
then = ["issue_tool"]
"""

CDOP = """
[[entry]]
key = "cdop-annual-report"
workflow = "agency_request"
title = "CDOP annual report {previous}"
every = "year"
open_on = { month = 1, day = 5 }
agencies = ["health"]
inputs = { request_type = "annual_report", period = "{previous}" }
"""


def _write(tmp_path: Path, text: str, name: str = "programme.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _load(tmp_path: Path, text: str) -> Programme:
    return load_programme(_write(tmp_path, text), Registry(WORKFLOWS))


def _at(d: date, hour: int = 9) -> datetime:
    return datetime(d.year, d.month, d.day, hour, 0, tzinfo=LONDON)


def _runs(svc: Service) -> list[str]:
    with svc.db.read() as session:
        return sorted(session.exec(select(ProgrammeRun.key)).all())


def _activities(svc: Service) -> list[Activity]:
    return sorted(svc.list_activities(), key=lambda a: a.id or 0)


# ------------------------------------------------------------------------------ the file


def test_shipped_programme_loads_against_the_real_workflows() -> None:
    programme = load_programme(ROOT / "programme.toml", Registry(Path("workflows")))
    by_key = {e.key: e for e in programme.entries}
    assert set(by_key) == {
        "quarterly-indicators",
        "lado-annual-report",
        "private-fostering-annual-report",
        "cdop-annual-report",
        "section11",
    }
    quarterly = by_key["quarterly-indicators"]
    assert (quarterly.every, quarterly.agencies, quarterly.then) == (
        "quarter",
        "all",
        ("issue_request",),
    )
    assert quarterly.due == DueRule("working_days", 20)
    assert by_key["lado-annual-report"].agencies == ("local_authority",)
    assert by_key["cdop-annual-report"].agencies == ("health",)
    s11 = by_key["section11"]
    assert (s11.workflow, s11.every, s11.anchor_year, s11.due_input) == (
        "section11",
        "two_years",
        2026,
        "return_date",
    )
    assert s11.inputs == {"cycle": "{period}"}
    assert programme.source == ROOT / "programme.toml"


def test_missing_file_is_an_empty_programme(tmp_path: Path) -> None:
    programme = load_programme(tmp_path / "nowhere.toml", Registry(WORKFLOWS))
    assert programme.entries == ()


def test_the_entry_in_the_docs_loads(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "programme.md").read_text(encoding="utf-8")
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    (entry,) = _load(tmp_path, example).entries
    assert (entry.key, entry.year_start, entry.open_on) == (
        "quarterly-indicators",
        4,
        OpenOn(day=10, month=1),
    )


def test_several_entries_load_in_file_order(tmp_path: Path) -> None:
    programme = _load(tmp_path, QUARTERLY + SECTION11 + CDOP)
    assert [e.key for e in programme.entries] == [
        "quarterly-indicators",
        "section11",
        "cdop-annual-report",
    ]
    assert programme.get("section11").open_on == OpenOn(day=5, month=1)


Q = "entry[0] (quarterly-indicators)"


@pytest.mark.parametrize(
    ("old", "new", "key", "message"),
    [
        ('every = "quarter"', 'every = "annual"', f"{Q}.every", "unknown cadence 'annual'"),
        ('every = "quarter"', 'every = "quarter"\noften = true', f"{Q}.often", "unknown key"),
        (
            'workflow = "agency_request"',
            'workflow = "data_request"',
            f"{Q}.workflow",
            "unknown workflow 'data_request'",
        ),
        ("month = 1, day = 5", "month = 4, day = 5", f"{Q}.open_on.month", "from 1 to 3"),
        ("month = 1, day = 5", "month = 1, day = 0", f"{Q}.open_on.day", "from 1 to 31"),
        ("month = 1, day = 5", "day = 5", f"{Q}.open_on.month", "is required"),
        ("month = 1, day = 5", "month = 1, day = 5, week = 2", f"{Q}.open_on.week", "unknown key"),
        (
            'every = "quarter"\nopen_on = { month = 1, day = 5 }',
            'every = "year"\nopen_on = { month = 2, day = 30 }',
            f"{Q}.open_on.day",
            "from 1 to 29",
        ),
        (
            'every = "quarter"\nopen_on = { month = 1, day = 5 }',
            'every = "year"\nopen_on = { month = 13, day = 1 }',
            f"{Q}.open_on.month",
            "from 1 to 12",
        ),
        ('every = "quarter"', 'every = "month"', f"{Q}.open_on.month", "every = 'month'"),
        (
            'period = "{period}" }',
            'periode = "{period}" }',
            f"{Q}.inputs.periode",
            "unknown input: opening agency_request takes request_type, period",
        ),
        (
            'request_type = "quarterly_system_indicators"',
            'request_type = "quarterly"',
            f"{Q}.inputs.request_type",
            "'quarterly' is not allowed",
        ),
        (
            'request_type = "quarterly_system_indicators", ',
            "",
            f"{Q}.inputs",
            "missing required input request_type",
        ),
        (
            'period = "{period}" }',
            'period = "{quarter}" }',
            f"{Q}.inputs.period",
            "unknown placeholder {quarter}",
        ),
        ('indicators {period}"', 'indicators {when}"', f"{Q}.title", "unknown placeholder {when}"),
        ('indicators {period}"', 'indicators {period"', f"{Q}.title", "brace"),
        (
            'agencies = "all"',
            'agencies = ["helth"]',
            f"{Q}.agencies[0]",
            "unknown agency selector 'helth'",
        ),
        ('agencies = "all"', 'agencies = ["all"]', f"{Q}.agencies[0]", "unknown agency selector"),
        ('agencies = "all"', 'agencies = "everyone"', f"{Q}.agencies", "must be 'all'"),
        ('agencies = "all"\n', "", f"{Q}.agencies", "is required"),
        ('then = ["issue_request"]', 'then = ["mark_received"]', f"{Q}.then[0]", "cannot fire"),
        ('then = ["issue_request"]', 'then = ["cancel"]', f"{Q}.then[0]", "needs a reason"),
        ('due_input = "due_date"', 'due_input = "period"', f"{Q}.due_input", "not a date input"),
        ('due_input = "due_date"\n', "", f"{Q}.due_input", "is required with due"),
        (
            'due = { working_days = 20 }\ndue_input = "due_date"\n',
            "",
            f"{Q}.then[0]",
            "needs input due_date",
        ),
        ("due = { working_days = 20 }", "due = { weeks = 4 }", f"{Q}.due.weeks", "unknown key"),
        ("due = { working_days = 20 }", "due = { working_days = -1 }", f"{Q}.due.working_days", ""),
        (
            'every = "quarter"',
            'every = "quarter"\nanchor_year = 2026',
            f"{Q}.anchor_year",
            "only for every = 'two_years'",
        ),
        ('every = "quarter"', 'every = "two_years"', f"{Q}.anchor_year", "is required"),
        ('every = "quarter"', 'every = "quarter"\nyear_start = 13', f"{Q}.year_start", "1 to 12"),
        (
            'every = "quarter"',
            'every = "quarter"\nstart_date = "April"',
            f"{Q}.start_date",
            "must be a date",
        ),
        (
            'key = "quarterly-indicators"',
            'key = "Quarterly Indicators"',
            "entry[0].key",
            "lower-case id",
        ),
    ],
)
def test_invalid_entries_name_the_file_and_the_key(
    tmp_path: Path, old: str, new: str, key: str, message: str
) -> None:
    assert old in QUARTERLY
    path = _write(tmp_path, QUARTERLY.replace(old, new))
    with pytest.raises(DefinitionError) as err:
        load_programme(path, Registry(WORKFLOWS))
    text = str(err.value)
    assert text.startswith(f"{path}: key '{key}': "), text
    assert message in text


def test_required_open_input_of_section11(tmp_path: Path) -> None:
    path = _write(tmp_path, SECTION11.replace('inputs = { cycle = "{period}" }\n', ""))
    with pytest.raises(DefinitionError, match=r"key 'entry\[0\] \(section11\)\.inputs': missing"):
        load_programme(path, Registry(WORKFLOWS))


def test_duplicate_keys_unknown_sections_and_malformed_toml(tmp_path: Path) -> None:
    path = _write(tmp_path, QUARTERLY + QUARTERLY)
    with pytest.raises(DefinitionError) as err:
        load_programme(path, Registry(WORKFLOWS))
    assert str(err.value).startswith(f"{path}: key 'entry[1].key': duplicate key")

    path = _write(tmp_path, '[programme]\nname = "x"\n' + QUARTERLY)
    with pytest.raises(DefinitionError) as err:
        load_programme(path, Registry(WORKFLOWS))
    assert str(err.value).startswith(f"{path}: key 'programme': unknown key")

    path = _write(tmp_path, QUARTERLY + "\n[[entry]\n")
    with pytest.raises(DefinitionError) as err:
        load_programme(path, Registry(WORKFLOWS))
    assert str(err.value).startswith(f"{path}: malformed TOML")


def test_workflow_the_programme_may_not_open(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS, folder)
    source = folder / "agency_request.toml"
    text = source.read_text(encoding="utf-8")
    # opened and issued by managers only (the rest of the workflow stays consistent)
    source.write_text(text.replace('roles = ["coordinator", "manager"]', 'roles = ["manager"]'))
    path = _write(tmp_path, QUARTERLY)
    with pytest.raises(DefinitionError) as err:
        load_programme(path, Registry(folder))
    assert str(err.value).startswith(f"{path}: key '{Q}.workflow': the programme opens")


# ------------------------------------------------------------------------------ periods


def _entry(every: Any, open_on: OpenOn, **kw: Any) -> Entry:
    return Entry(key="e", workflow="agency_request", title="t", every=every, open_on=open_on, **kw)


def _label(entry: Entry, d: date, cal: WorkingCalendar | None = None) -> str | None:
    period = period_of(entry, d, cal)
    return None if period is None else period.label


def test_period_of_month() -> None:
    e = _entry("month", OpenOn(day=31))
    assert _label(e, date(2026, 1, 30)) is None
    p = period_of(e, date(2026, 1, 31))
    assert p == Period(
        "Jan 2026", date(2026, 1, 1), date(2026, 1, 31), date(2026, 1, 31), "Dec 2025"
    )
    # day 31 is the last day of a shorter month
    assert _label(e, date(2026, 2, 27)) is None
    assert _label(e, date(2026, 2, 28)) == "Feb 2026"
    assert _label(e, date(2028, 2, 29)) == "Feb 2028"


def test_period_of_quarter_calendar_years_and_year_end() -> None:
    e = _entry("quarter", OpenOn(day=5, month=1))
    assert _label(e, date(2026, 1, 4)) is None
    p = period_of(e, date(2026, 1, 5))
    assert p == Period("2026 Q1", date(2026, 1, 1), date(2026, 3, 31), date(2026, 1, 5), "2025 Q4")
    assert _label(e, date(2026, 3, 31)) == "2026 Q1"
    assert _label(e, date(2026, 4, 4)) is None
    assert _label(e, date(2026, 4, 5)) == "2026 Q2"
    assert _label(e, date(2026, 12, 31)) == "2026 Q4"
    assert _label(e, date(2027, 1, 1)) is None
    # the third month of the quarter
    e3 = _entry("quarter", OpenOn(day=31, month=3))
    assert _label(e3, date(2026, 6, 29)) is None
    assert _label(e3, date(2026, 6, 30)) == "2026 Q2"  # June has 30 days


def test_period_of_quarter_financial_years() -> None:
    e = _entry("quarter", OpenOn(day=10, month=1), year_start=4)
    p = period_of(e, date(2026, 1, 12))
    assert p is not None
    assert (p.label, p.start, p.end, p.previous) == (
        "2025-26 Q4",
        date(2026, 1, 1),
        date(2026, 3, 31),
        "2025-26 Q3",
    )
    assert p.placeholders() == {"period": "2025-26 Q4", "year": "2026", "previous": "2025-26 Q3"}
    assert _label(e, date(2026, 4, 10)) == "2026-27 Q1"
    assert period_of(e, date(2026, 4, 10)).previous == "2025-26 Q4"  # type: ignore[union-attr]
    assert _label(e, date(2026, 12, 31)) == "2026-27 Q3"


def test_period_of_year_across_the_year_end() -> None:
    e = _entry("year", OpenOn(day=15, month=12))
    assert _label(e, date(2026, 12, 14)) is None
    assert _label(e, date(2026, 12, 15)) == "2026"
    assert _label(e, date(2026, 12, 31)) == "2026"
    assert _label(e, date(2027, 1, 1)) is None  # a new year, not open until 15 Dec
    # a financial year opening in February: the February of the year's second calendar year
    fy = _entry("year", OpenOn(day=29, month=2), year_start=4)
    p = period_of(fy, date(2027, 3, 31))
    assert p is not None
    assert (p.label, p.opens_on, p.previous) == ("2026-27", date(2027, 2, 28), "2025-26")
    assert _label(fy, date(2027, 2, 27)) is None
    assert _label(fy, date(2028, 2, 29)) == "2027-28"
    assert _label(fy, date(2027, 4, 1)) is None


def test_period_of_two_years_with_anchor() -> None:
    e = _entry("two_years", OpenOn(day=1, month=9), anchor_year=2026)
    assert _label(e, date(2026, 8, 31)) is None
    p = period_of(e, date(2026, 9, 1))
    assert p == Period("2026-27", date(2026, 1, 1), date(2027, 12, 31), date(2026, 9, 1), "2024-25")
    assert _label(e, date(2027, 3, 1)) == "2026-27"  # the second year of the same cycle
    assert _label(e, date(2027, 12, 31)) == "2026-27"
    assert _label(e, date(2028, 1, 5)) is None  # the next cycle opens in September
    assert _label(e, date(2028, 9, 1)) == "2028-29"
    assert _label(e, date(2025, 10, 1)) == "2024-25"  # before the anchor: same rhythm
    odd = _entry("two_years", OpenOn(day=1, month=9), anchor_year=2025)
    assert _label(odd, date(2026, 9, 1)) == "2025-26"
    assert _label(odd, date(2027, 9, 1)) == "2027-28"
    fy = _entry("two_years", OpenOn(day=1, month=5), anchor_year=2026, year_start=4)
    assert _label(fy, date(2028, 3, 31)) == "2026-28"
    assert _label(fy, date(2028, 4, 30)) is None
    assert _label(fy, date(2028, 5, 1)) == "2028-30"


def test_opening_day_moves_to_the_next_working_day() -> None:
    # 1 Jan 2026 is a bank holiday: with the calendar the quarter opens on Friday 2 Jan
    e = _entry("quarter", OpenOn(day=1, month=1))
    assert _label(e, date(2026, 1, 1)) == "2026 Q1"
    assert _label(e, date(2026, 1, 1), CAL) is None
    assert period_of(e, date(2026, 1, 2), CAL).opens_on == date(2026, 1, 2)  # type: ignore[union-attr]
    # 5 Apr 2026 is Easter Sunday, 6 Apr Easter Monday: the second quarter opens on 7 Apr
    e5 = _entry("quarter", OpenOn(day=5, month=1))
    assert _label(e5, date(2026, 4, 6), CAL) is None
    assert _label(e5, date(2026, 4, 7), CAL) == "2026 Q2"
    # Sunday 31 May 2026: the next working day is in June, so it opens on the day itself
    m = _entry("month", OpenOn(day=31))
    assert period_of(m, date(2026, 5, 31), CAL).opens_on == date(2026, 5, 31)  # type: ignore[union-attr]


def test_start_date_skips_periods_opening_before_it() -> None:
    e = _entry("year", OpenOn(day=1, month=5), year_start=4, start_date=date(2026, 4, 1))
    assert _label(e, date(2026, 1, 5)) is None  # the 2025-26 period opened in May 2025
    assert _label(e, date(2026, 5, 1)) == "2026-27"


# ------------------------------------------------------------------------------ running


def test_run_opens_each_entry_once_per_period(
    partnership: Service, clock: FakeClock, tmp_path: Path, notifier: Notifier
) -> None:
    programme = _load(tmp_path, QUARTERLY + SECTION11 + CDOP)
    report = run_programme(partnership, programme)  # Monday 5 Jan 2026, 09:00
    assert report.errors == []
    assert (len(report.opened), report.already, report.not_due) == (3, 0, 0)
    assert _runs(partnership) == [
        "programme:cdop-annual-report:2026",
        "programme:quarterly-indicators:2026 Q1",
        "programme:section11:2026-27",
    ]
    due = CAL.add_working_days(date(2026, 1, 5), 20)
    quarterly, s11, cdop = _activities(partnership)
    assert f"{quarterly.ref} (quarterly-indicators 2026 Q1)" in report.opened
    assert quarterly.title == "Quarterly system indicators 2026 Q1"
    assert (quarterly.state, quarterly.data["period"], quarterly.data["due_date"]) == (
        "requested",
        "2026 Q1",
        due.isoformat(),
    )
    assert quarterly.opened_by == BUSINESS_UNIT
    _, _, agencies, tasks = partnership.get_activity(quarterly.ref)
    assert sorted(a.code for a in agencies) == ["CSC", "ICB", "POL"]
    assert sorted(t.due_on for t in tasks if t.due_on) == [due] * 3
    assert (s11.workflow, s11.state, s11.data["cycle"]) == (
        "section11",
        "awaiting_returns",
        "2026-27",
    )
    assert s11.data["return_date"] == CAL.add_working_days(date(2026, 1, 5), 40).isoformat()
    assert (cdop.title, cdop.state) == ("CDOP annual report 2025", "preparing")
    assert [a.code for a in partnership.get_activity(cdop.ref)[2]] == ["ICB"]

    # again, later the same day and the next week: nothing more
    again = run_programme(partnership, programme)
    assert (again.opened, again.already, again.errors) == ([], 3, [])
    clock.advance(timedelta(days=7))
    assert run_programme(partnership, programme).already == 3

    # a second service (another worker) on the same database
    other_db = Database(partnership.db.url)
    try:
        other = Service(
            other_db, Registry(WORKFLOWS), WorkingCalendar(), FakeClock(clock.now()), notifier
        )
        second = run_programme(other, load_programme(programme.source, other.registry))
    finally:
        other_db.dispose()
    assert (second.opened, second.already, second.errors) == ([], 3, [])
    assert len(_activities(partnership)) == 3


def test_downtime_opens_once_later_in_the_period_and_next_quarter_opens_anew(
    partnership: Service, clock: FakeClock, tmp_path: Path
) -> None:
    programme = _load(tmp_path, QUARTERLY)
    clock.set(_at(date(2026, 1, 2)))  # before the opening day
    assert run_programme(partnership, programme).not_due == 1
    # the worker was down from 2 Jan until Friday 20 Feb: it opens the quarter late, once
    clock.set(_at(date(2026, 2, 20), 14))
    report = run_programme(partnership, programme)
    assert (len(report.opened), report.errors) == (1, [])
    (activity,) = _activities(partnership)
    assert activity.title == "Quarterly system indicators 2026 Q1"
    # agencies get the full time, counted from the day it actually went out
    assert activity.data["due_date"] == CAL.add_working_days(date(2026, 2, 20), 20).isoformat()
    assert run_programme(partnership, programme).already == 1

    # the second quarter: 5 Apr is Easter Sunday and 6 Apr Easter Monday
    for day in (date(2026, 4, 1), date(2026, 4, 5), date(2026, 4, 6)):
        clock.set(_at(day))
        report = run_programme(partnership, programme)
        assert (report.opened, report.not_due) == ([], 1), day
    clock.set(_at(date(2026, 4, 7), 8))
    report = run_programme(partnership, programme)
    assert len(report.opened) == 1
    assert "quarterly-indicators 2026 Q2" in report.opened[0]
    assert run_programme(partnership, programme).already == 1
    assert [a.title for a in _activities(partnership)] == [
        "Quarterly system indicators 2026 Q1",
        "Quarterly system indicators 2026 Q2",
    ]


def test_a_period_that_passed_entirely_is_not_opened(
    partnership: Service, clock: FakeClock, tmp_path: Path
) -> None:
    programme = _load(tmp_path, QUARTERLY)
    clock.set(_at(date(2026, 1, 2)))
    assert run_programme(partnership, programme).not_due == 1
    clock.set(_at(date(2026, 4, 8)))  # down for the whole first quarter
    assert len(run_programme(partnership, programme).opened) == 1
    assert _runs(partnership) == ["programme:quarterly-indicators:2026 Q2"]


def test_a_bad_entry_does_not_stop_the_others(partnership: Service, tmp_path: Path) -> None:
    broken = QUARTERLY.replace("quarterly-indicators", "police-only").replace(
        'agencies = "all"', 'agencies = ["XYZ"]'
    )
    programme = _load(tmp_path, broken + QUARTERLY + CDOP)
    report = run_programme(partnership, programme)
    assert len(report.opened) == 2
    (error,) = report.errors
    assert error.startswith("police-only (2026 Q1): agency XYZ is not an active agency")
    again = run_programme(partnership, programme)
    assert (again.already, len(again.errors)) == (2, 1)
    assert len(_activities(partnership)) == 2


def test_then_triggers_missed_by_a_stopped_worker_fire_on_the_next_run(
    partnership: Service, clock: FakeClock, tmp_path: Path
) -> None:
    programme = _load(tmp_path, QUARTERLY)
    entry = programme.entries[0]
    period = period_of(entry, date(2026, 1, 5), CAL)
    assert period is not None
    # a worker opened it and stopped before firing issue_request
    outcome = partnership.open_once(
        programme_actor(partnership),
        run_key(entry, period),
        "agency_request",
        "Quarterly system indicators 2026 Q1",
        ["POL", "ICB", "CSC"],
        {"request_type": "quarterly_system_indicators", "period": "2026 Q1"},
    )
    assert outcome is not None
    clock.advance(timedelta(days=1))
    report = run_programme(partnership, programme)
    assert (report.opened, report.already, report.errors) == ([], 1, [])
    activity = partnership.get_activity(outcome.activity.ref)[0]
    assert activity.state == "requested"
    assert activity.data["due_date"] == CAL.add_working_days(date(2026, 1, 5), 20).isoformat()
    with partnership.db.read() as session:
        tasks = session.exec(select(Task).where(col(Task.activity_id) == activity.id)).all()
    assert len(tasks) == 3
    # and only once
    assert run_programme(partnership, programme).errors == []
    assert partnership.get_activity(activity.ref)[0].version == activity.version


def test_lost_race_after_the_check_counts_as_already_opened(
    partnership: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interleaved by hand: another worker opens between this worker's check and its open."""
    programme = _load(tmp_path, QUARTERLY)
    assert len(run_programme(partnership, programme).opened) == 1  # "the other worker"
    version = _activities(partnership)[0].version
    monkeypatch.setattr(programme_module, "_existing", lambda service, keys: {})
    report = run_programme(partnership, programme)
    assert (report.opened, report.already, report.errors) == ([], 1, [])
    (activity,) = _activities(partnership)
    assert activity.version == version  # issue_request not fired again


def test_a_clash_on_a_shared_row_is_retried_once(
    partnership: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    programme = _load(tmp_path, QUARTERLY)
    real = partnership.open_once
    calls: list[str] = []

    def clashing(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[1])
        if len(calls) == 1:
            raise sa.exc.IntegrityError("INSERT INTO reference_counter", {}, Exception("dup"))
        return real(*args, **kwargs)

    monkeypatch.setattr(partnership, "open_once", clashing)
    report = run_programme(partnership, programme)
    assert (len(report.opened), report.errors) == (1, [])
    assert calls == ["programme:quarterly-indicators:2026 Q1"] * 2


def test_shipped_programme_over_two_years(partnership: Service, clock: FakeClock) -> None:
    programme = load_programme(ROOT / "programme.toml", partnership.registry)
    opened: list[str] = []
    day = date(2026, 1, 1)
    while day <= date(2027, 12, 31):
        clock.set(_at(day, 7))
        report = run_programme(partnership, programme)
        assert report.errors == [], day
        opened += [f"{day} {o.split(' (', 1)[1].rstrip(')')}" for o in report.opened]
        day += timedelta(days=1)
    assert opened == [
        "2026-01-12 quarterly-indicators 2025-26 Q4",
        "2026-04-10 quarterly-indicators 2026-27 Q1",
        "2026-05-01 lado-annual-report 2026-27",
        "2026-06-01 private-fostering-annual-report 2026-27",
        "2026-07-01 cdop-annual-report 2026-27",
        "2026-07-10 quarterly-indicators 2026-27 Q2",
        "2026-09-01 section11 2026-27",
        "2026-10-12 quarterly-indicators 2026-27 Q3",
        "2027-01-11 quarterly-indicators 2026-27 Q4",
        "2027-04-12 quarterly-indicators 2027-28 Q1",
        "2027-05-04 lado-annual-report 2027-28",
        "2027-06-01 private-fostering-annual-report 2027-28",
        "2027-07-01 cdop-annual-report 2027-28",
        "2027-07-12 quarterly-indicators 2027-28 Q2",
        "2027-10-11 quarterly-indicators 2027-28 Q3",
    ]
    titles = {a.title: a for a in _activities(partnership)}
    lado = titles["LADO annual report 2025-26"]
    assert [a.code for a in partnership.get_activity(lado.ref)[2]] == ["CSC"]
    assert titles["Quarterly system indicators 2025-26 Q3"].data["period"] == "2025-26 Q3"
    s11 = titles["Section 11 assessment 2026-27"]
    assert (s11.state, s11.data["cycle"]) == ("awaiting_returns", "2026-27")
    assert len(_runs(partnership)) == len(opened) == len(titles)


# ------------------------------------------------------------------------------ two workers


def _worker(url: str, path: str, days: list[str], barrier: Any, results: Any) -> None:
    db = Database(url)
    clock = FakeClock(_at(date.fromisoformat(days[0])))
    cal = WorkingCalendar()
    notifier = Notifier(
        Templates(TEMPLATES, "Northshire Safeguarding Children Partnership (fictional)"),
        cal,
        base_url="http://127.0.0.1:8000",
        business_unit_email=BUSINESS_UNIT,
    )
    service = Service(db, Registry(WORKFLOWS), cal, clock, notifier)
    try:
        programme = load_programme(Path(path), service.registry)
        for day in days:
            clock.set(_at(date.fromisoformat(day)))
            barrier.wait(timeout=60)
            report = run_programme(service, programme)
            results.put((day, len(report.opened), report.already, report.errors))
    except Exception as exc:  # pragma: no cover - reported by the assertion below
        results.put(("crash", 0, 0, [f"{type(exc).__name__}: {exc}"]))
    finally:
        db.dispose()


def test_two_worker_processes_open_each_entry_once_per_period(
    partnership: Service, tmp_path: Path
) -> None:
    path = _write(tmp_path, QUARTERLY + SECTION11 + CDOP)
    days = ["2026-01-05", "2026-01-06", "2026-04-07", "2027-01-05"]
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(partnership.db.url, str(path), days, barrier, results))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    rows = [results.get(timeout=120) for _ in range(2 * len(days))]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert [errors for *_, errors in rows if errors] == []
    opened = {day: sum(n for d, n, _, _ in rows if d == day) for day in days}
    # 5 Jan: all three; 6 Jan: nothing new; 7 Apr: the second quarter; 5 Jan 2027: the
    # first quarter of 2027 and the CDOP report for 2027 (the Section 11 cycle runs on)
    assert opened == {"2026-01-05": 3, "2026-01-06": 0, "2026-04-07": 1, "2027-01-05": 2}
    assert _runs(partnership) == [
        "programme:cdop-annual-report:2026",
        "programme:cdop-annual-report:2027",
        "programme:quarterly-indicators:2026 Q1",
        "programme:quarterly-indicators:2026 Q2",
        "programme:quarterly-indicators:2027 Q1",
        "programme:section11:2026-27",
    ]
    activities = _activities(partnership)
    assert len(activities) == 6
    # every then trigger fired exactly once, whichever worker got there
    for a in activities:
        fired = [e.trigger for e in partnership.timeline(a.ref) if e.kind == "transition"]
        expected = {"agency_request": ["issue_request"], "section11": ["issue_tool"]}
        assert fired == ([] if "CDOP" in a.title else expected[a.workflow]), a.title
