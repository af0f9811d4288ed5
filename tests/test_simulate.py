"""Simulation: one activity in a throwaway database on a fake clock, emails on the right days."""

from __future__ import annotations

import tempfile
from datetime import date, time, timedelta
from pathlib import Path

import pytest

from sef_workflow.app import build_calendar
from sef_workflow.calendar import WorkingCalendar
from sef_workflow.config import LoadedSettings, load_settings
from sef_workflow.errors import InvalidInput, NotFound
from sef_workflow.simulate import SimulatedEmail, Simulation, format_simulation, simulate

ROOT = Path(__file__).resolve().parent.parent
POL = "Northshire Constabulary (fictional)"
ICB = "Northshire Integrated Care Board (fictional)"
NINE = time(9, 0)


@pytest.fixture(scope="module")
def loaded() -> LoadedSettings:
    return load_settings(ROOT / "config.toml", environ={})


@pytest.fixture(scope="module")
def cal(loaded: LoadedSettings) -> WorkingCalendar:
    return build_calendar(loaded)


@pytest.fixture(scope="module")
def christmas(loaded: LoadedSettings) -> Simulation:
    return simulate(
        loaded,
        "themed_audit",
        date(2025, 12, 1),
        agency_replies={"POL": 3},
        agencies=["POL", "ICB"],
        until=date(2026, 1, 20),
    )


@pytest.fixture(scope="module")
def easter(loaded: LoadedSettings) -> Simulation:
    return simulate(loaded, "practice_review", date(2026, 3, 30))


def _about(sim: Simulation, agency: str, deputy: bool = False) -> list[SimulatedEmail]:
    """Emails to the agency or about its task (the business unit's escalation names none);
    the deputy's own copies of the lead's emails only when ``deputy`` is set."""
    return [
        e
        for e in sim.emails
        if (e.agency == agency or agency in (e.task_title or ""))
        and (e.recipient_role == "agency_deputy") == deputy
    ]


def test_agency_that_never_answers_gets_the_whole_ladder(christmas: Simulation) -> None:
    assert christmas.workflow == "themed_audit"
    assert christmas.reference == "MAA-2025-001"
    assert (christmas.start, christmas.until) == (date(2025, 12, 1), date(2026, 1, 20))
    got = [
        (e.day, e.time, e.template, e.recipient_role, e.working_days_left)
        for e in _about(christmas, ICB)
    ]
    assert got == [
        (date(2025, 12, 1), NINE, "audit_tool_issued", "agency", 20),
        (date(2025, 12, 22), NINE, "reminder", "agency", 5),
        (date(2025, 12, 30), NINE, "reminder", "agency", 1),
        (date(2025, 12, 31), NINE, "due_today", "agency", 0),
        (date(2026, 1, 6), NINE, "overdue_chaser", "agency", -3),  # 1 Jan is not counted
        (date(2026, 1, 8), NINE, "escalation_agency_manager", "agency_manager", -5),
        (date(2026, 1, 9), NINE, "overdue_chaser", "agency", -6),
        (date(2026, 1, 14), NINE, "overdue_chaser", "agency", -9),
        (date(2026, 1, 15), NINE, "escalation_business_unit", "business_unit", -10),
    ]
    # the deputy gets each of the lead's emails, in an email of their own
    assert [
        (e.day, e.template, e.working_days_left) for e in _about(christmas, ICB, deputy=True)
    ] == [(d, tpl, left) for d, _t, tpl, role, left in got if role == "agency"]
    bu = _about(christmas, ICB)[-1]
    assert bu.agency is None
    assert bu.task_title == f"Single-agency audit return: {ICB}"


def test_agency_that_answers_gets_the_request_and_no_reminder(christmas: Simulation) -> None:
    got = [(e.day, e.template, e.recipient_role) for e in _about(christmas, POL)]
    assert got == [
        (date(2025, 12, 1), "audit_tool_issued", "agency"),
        (date(2025, 12, 4), "return_received", "coordinator"),  # 3 working days after issue
    ]
    replies = [s for s in christmas.steps if s.kind == "reply"]
    assert [(s.day, s.time) for s in replies] == [(date(2025, 12, 4), NINE)]
    assert POL in replies[0].text
    assert "Submit the audit return" in replies[0].text
    assert replies[0].text.endswith("Now: Submitted")


def test_steps_tell_the_story_in_order(christmas: Simulation) -> None:
    first_day = [(s.kind, s.text) for s in christmas.steps if s.day == date(2025, 12, 1)]
    kinds = [k for k, _ in first_day]
    assert kinds[:3] == ["state", "state", "state"]  # opened, sample_cases, issue_audit_tools
    assert first_day[2][1] == (
        "Casey Coordinator: Issue audit tools to agencies. Now: Awaiting audit returns"
    )
    tasks = [t for k, t in first_day if k == "task"]
    assert tasks == [
        f"Added the task “Single-agency audit return: {POL}”, due Wednesday 31 December 2025 "
        "(20 working days)",
        f"Added the task “Single-agency audit return: {ICB}”, due Wednesday 31 December 2025 "
        "(20 working days)",
    ]
    assert kinds.count("email") == 4  # each agency's lead and deputy
    assert [(s.day, s.time) for s in christmas.steps] == sorted(
        (s.day, s.time) for s in christmas.steps
    )
    assert len([s for s in christmas.steps if s.kind == "email"]) == len(christmas.emails)


def test_no_email_at_weekends_on_bank_holidays_or_out_of_hours(
    christmas: Simulation, easter: Simulation, cal: WorkingCalendar
) -> None:
    for sim in (christmas, easter):
        assert sim.emails
        for e in sim.emails:
            assert cal.is_working_day(e.day), e
            assert time(9, 0) <= e.time < time(17, 0), e
    assert not any(
        e.day in (date(2025, 12, 25), date(2025, 12, 26), date(2026, 1, 1))
        for e in christmas.emails
    )
    assert not any(e.day in (date(2026, 4, 3), date(2026, 4, 6)) for e in easter.emails)


def test_statutory_clock_over_easter_reminds_coordinator_and_managers(
    easter: Simulation,
) -> None:
    assert easter.workflow == "practice_review"
    statutory = [
        (e.day, e.template, e.recipient_role)
        for e in easter.emails
        if e.task_title is not None and e.task_title.startswith("Send the rapid review")
    ]
    # 15 working days from awareness on Mon 30 Mar: Good Friday and Easter Monday do not
    # count, so the rapid review is due Wed 22 Apr.
    assert any("due Wednesday 22 April 2026 (15 working days)" in s.text for s in easter.steps)
    assert {role for _d, _t, role in statutory} == {"coordinator", "manager"}
    assert sorted({d for d, _t, _r in statutory}) == [
        date(2026, 4, 15),  # 5 working days before
        date(2026, 4, 17),  # 3
        date(2026, 4, 21),  # 1
        date(2026, 4, 22),  # due
        date(2026, 4, 23),
        date(2026, 4, 24),
        date(2026, 4, 27),
        date(2026, 4, 28),
        date(2026, 4, 29),  # the fifth and last chaser
    ]
    assert (date(2026, 4, 22), "due_today", "coordinator") in statutory
    assert (date(2026, 4, 23), "statutory_deadline_escalation", "coordinator") in statutory
    assert (date(2026, 4, 24), "statutory_deadline_escalation", "manager") in statutory
    # The agencies' summaries (5 working days) straddle Easter: reminders Thu 2 Apr and
    # Tue 7 Apr, due Wed 8 Apr. Every agency of the fictional partnership takes part.
    summaries = [e for e in easter.emails if e.template == "agency_summary_requested"]
    assert len(summaries) == 18  # the leads of 12 agencies and the 6 deputies
    pol = [
        (e.day, e.template) for e in _about(easter, POL) if e.template != "practice_review_notice"
    ]
    assert pol[:4] == [
        (date(2026, 3, 30), "agency_summary_requested"),
        (date(2026, 4, 2), "reminder"),
        (date(2026, 4, 7), "reminder"),
        (date(2026, 4, 8), "due_today"),
    ]
    # No until: the simulation stops once no ladder is left.
    assert easter.until == date(2026, 4, 29)
    assert easter.steps[-1].kind == "note"


def test_replies_stop_ladders_and_the_simulation_ends_early(loaded: LoadedSettings) -> None:
    sim = simulate(
        loaded,
        "themed_audit",
        date(2025, 12, 1),
        agency_replies={"pol": 0, "ICB": 16},
        agencies=["POL", "ICB"],
    )
    assert [(e.day, e.template) for e in _about(sim, ICB)] == [
        (date(2025, 12, 1), "audit_tool_issued"),
        (date(2025, 12, 22), "reminder"),
        (date(2025, 12, 23), "return_received"),  # the 16th working day: no more rungs
    ]
    assert [(e.day, e.template) for e in _about(sim, POL)] == [
        (date(2025, 12, 1), "audit_tool_issued"),
        (date(2025, 12, 1), "return_received"),  # answered on the day of issue
    ]
    assert sim.until == date(2025, 12, 23)


def test_sweep_interval_does_not_change_the_emails(
    loaded: LoadedSettings, christmas: Simulation
) -> None:
    other = simulate(
        loaded,
        "themed_audit",
        date(2025, 12, 1),
        agency_replies={"POL": 3},
        agencies=["POL", "ICB"],
        until=date(2026, 1, 20),
        sweep_every=timedelta(minutes=20),
    )
    assert other.emails == christmas.emails


def test_format_prints_day_by_day_with_a_summary(
    christmas: Simulation, cal: WorkingCalendar
) -> None:
    lines = format_simulation(christmas, cal)
    assert lines[0] == (
        "Simulation of Multi-agency themed audit MAA-2025-001: 1 December 2025 to 20 January 2026"
    )
    reminder = f"  9am      Email     “Reminder” to the lead of {ICB}, 5 working days left"
    assert reminder in lines
    assert f"  9am      Email     “Due today” to the lead of {ICB}, due today" in lines
    assert "  9am      Reply     " + POL in "\n".join(lines)
    # each day under a heading with its weekday, after a blank line
    i = lines.index(reminder)
    assert lines[i - 2 : i] == ["", "Monday 22 December 2025"]
    assert "Saturday" not in "\n".join(lines)  # no step falls at a weekend
    assert lines[-1] == (
        "19 emails on 10 days: “Audit tool issued” 4, “Return received” 1, “Reminder” 4, "
        "“Due today” 2, “Overdue chaser” 6, “Escalation to the agency's senior manager” 1, "
        "“Escalation to the business unit” 1"
    )
    # plain English only: no keys, no dicts, no arrows, no ISO dates
    text = "\n".join(lines)
    for engine in ("->", "{", "_", "None", "2025-12-"):
        assert engine not in text, engine


def test_the_database_is_thrown_away(
    loaded: LoadedSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    sim = simulate(
        loaded, "themed_audit", date(2025, 12, 1), agencies=["POL"], until=date(2025, 12, 2)
    )
    assert [e.template for e in sim.emails] == ["audit_tool_issued"] * 2  # lead and deputy
    assert list(tmp_path.iterdir()) == []


def test_unknown_workflow_is_not_found(loaded: LoadedSettings) -> None:
    with pytest.raises(NotFound, match="no workflow named 'nope'"):
        simulate(loaded, "nope", date(2025, 12, 1))


def test_bad_arguments_are_refused(loaded: LoadedSettings) -> None:
    start = date(2025, 12, 1)
    with pytest.raises(NotFound, match="XYZ"):
        simulate(loaded, "themed_audit", start, agencies=["POL", "XYZ"])
    with pytest.raises(InvalidInput, match="does not take part"):
        simulate(loaded, "themed_audit", start, agencies=["POL"], agency_replies={"ICB": 2})
    with pytest.raises(InvalidInput, match="before"):
        simulate(loaded, "themed_audit", start, until=date(2025, 11, 30))
    with pytest.raises(InvalidInput, match=">= 0"):
        simulate(loaded, "themed_audit", start, agencies=["POL"], agency_replies={"POL": -1})
    with pytest.raises(InvalidInput, match="positive"):
        simulate(loaded, "themed_audit", start, sweep_every=timedelta(0))
    with pytest.raises(InvalidInput, match="nothing to simulate"):
        simulate(loaded, "action_plan", start, agencies=["POL"])
