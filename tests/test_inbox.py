""" "Waiting on you": what waits on each person, most urgent first, with the one action it
needs; taking an item or giving it to a colleague; agreeing to more time on a date of the
decider's choosing; staff emails that link to the exact task. On SQLite and PostgreSQL,
through the service and through ``sef inbox`` / ``sef task take``."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlmodel import col, select

from sef_workflow.calendar import LONDON, format_date
from sef_workflow.clock import FakeClock
from sef_workflow.errors import (
    InvalidInput,
    NotFound,
    PermissionDenied,
    TransitionNotAllowed,
)
from sef_workflow.models import Event, Notification, Task
from sef_workflow.service import Actor, Service
from sef_workflow.service.inbox import WaitingItem

from .conftest import COORDINATOR, MANAGER, answer_form
from .test_cli import COORD, Cli, _config, _issue, _setup, answer_args

POL_LEAD = "lead@police.northshire.example"
POL_DEPUTY = "deputy@police.northshire.example"
POL_CHIEF = "chief@police.northshire.example"
ICB_LEAD = "lead@icb.northshire.example"
SECOND = Actor(
    id="second.coordinator@northshire-scp.example",
    role="coordinator",
    name="Sam Second (fictional)",
)


# ----------------------------------------------------------------------------- helpers
def audit(svc: Service, agencies: tuple[str, ...] = ("POL", "ICB", "CSC")) -> tuple[str, dict]:
    """A themed audit with its returns issued (20 working days), by the coordinator; its
    reference and the return tasks by agency code."""
    ref = svc.open_activity(
        COORDINATOR, "themed_audit", "Neglect audit (fictional)", list(agencies), {"theme": "N"}
    ).activity.ref
    svc.fire(COORDINATOR, ref, "sample_cases", {"sample_size": 4})
    out = svc.fire(COORDINATOR, ref, "issue_audit_tools")
    codes = {a.id: a.code for a in svc.list_agencies()}
    return ref, {codes[t.agency_id]: t.id for t in out.created_tasks}


def submit(svc: Service, email: str, task_id: int) -> None:
    person = svc.resolve_actor(email)
    answer_form(svc, person, task_id)
    svc.fire_task(person, task_id, "submit", {"summary": "Sent (fictional)"})


def task(svc: Service, task_id: int) -> Task:
    return svc.get_task(task_id)[0]


def kinds(items: list[WaitingItem]) -> list[tuple[str, int | None]]:
    return [(i.kind, i.task_id) for i in items]


def events(svc: Service, kind: str) -> list[Event]:
    with svc.db.read() as session:
        return list(
            session.exec(select(Event).where(Event.kind == kind).order_by(col(Event.id))).all()
        )


def emails(svc: Service, template: str) -> list[Notification]:
    with svc.db.read() as session:
        q = select(Notification).where(Notification.template == template)
        return list(session.exec(q.order_by(col(Notification.id))).all())


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=LONDON)


# ----------------------------------------------------------------------------- coordinators
def test_a_submitted_return_waits_on_the_coordinator_until_accepted(partnership: Service) -> None:
    ref, tasks = audit(partnership)
    assert partnership.waiting_on(COORDINATOR) == []  # the agencies owe them, not us
    submit(partnership, POL_LEAD, tasks["POL"])

    [item] = partnership.waiting_on(COORDINATOR)
    assert item.kind == "review"
    assert item.kind_text == "Return to review"
    assert (item.task_id, item.reference, item.title) == (
        tasks["POL"],
        ref,
        "Single-agency audit return: Northshire Constabulary (fictional)",
    )
    assert (item.agency_code, item.agency_name) == ("POL", "Northshire Constabulary (fictional)")
    assert (item.needs, item.action, item.url) == (
        "Review the return",
        "Review the return",
        f"/tasks/{tasks['POL']}",
    )
    # the agency's deadline is met: nothing counts down for the review
    assert (item.due_on, item.working_days_left, item.overdue) == (None, None, False)
    assert (item.handled_by, item.assigned_to, item.may_take) == (None, "nobody yet", True)
    # the manager does not accept returns
    assert partnership.waiting_on(MANAGER, show="all") == []

    partnership.fire_task(COORDINATOR, tasks["POL"], "accept")
    assert partnership.waiting_on(COORDINATOR) == []
    assert partnership.waiting_on(COORDINATOR, show="all") == []


def test_show_must_be_one_of_three_and_the_system_has_no_list(partnership: Service) -> None:
    with pytest.raises(InvalidInput, match="show must be one of mine, unassigned, all"):
        partnership.waiting_on(COORDINATOR, show="everything")
    with pytest.raises(PermissionDenied, match="has no list of work"):
        partnership.waiting_on(Actor.system())


# ----------------------------------------------------------------------------- agencies
def test_the_agency_sees_what_waits_for_its_answer_then_what_is_sent_back(
    partnership: Service,
) -> None:
    _ref, tasks = audit(partnership)
    lead = partnership.resolve_actor(POL_LEAD)
    [item] = partnership.waiting_on(lead)
    assert (item.kind, item.kind_text, item.task_id) == (
        "answer",
        "Request to answer",
        tasks["POL"],
    )
    assert (item.needs, item.url) == ("Submit the audit return", f"/tasks/{tasks['POL']}")
    assert (item.working_days_left, item.overdue) == (20, False)
    assert item.deadline_text == "20 working days left"
    assert item.due_on == task(partnership, tasks["POL"]).due_on
    assert item.assigned_to == "the agency's lead and deputy"
    assert item.may_take is False  # taking is the business unit's
    # another agency's lead sees its own return only
    assert kinds(partnership.waiting_on(partnership.resolve_actor(ICB_LEAD))) == [
        ("answer", tasks["ICB"])
    ]

    submit(partnership, POL_LEAD, tasks["POL"])
    assert partnership.waiting_on(lead) == []
    partnership.fire_task(COORDINATOR, tasks["POL"], "send_back", reason="Add case 3")
    [back] = partnership.waiting_on(lead)
    assert (back.kind, back.kind_text, back.needs) == (
        "sent_back",
        "Sent back to you",
        "Sent back to you: answer again",
    )
    assert back.action == "Submit the audit return"
    deputy = partnership.resolve_actor(POL_DEPUTY)
    assert kinds(partnership.waiting_on(deputy)) == [("sent_back", tasks["POL"])]

    # given to the deputy by name: the deputy's, no longer the lead's own
    partnership.give_task(lead, tasks["POL"], POL_DEPUTY)
    assert partnership.waiting_on(lead) == []
    assert kinds(partnership.waiting_on(lead, show="all")) == [("sent_back", tasks["POL"])]
    assert partnership.waiting_on(lead, show="unassigned") == []
    [given] = partnership.waiting_on(deputy)
    assert given.assigned_to == f"Deputy Police <{POL_DEPUTY}>"


def test_most_urgent_first(partnership: Service, clock: FakeClock) -> None:
    """Overdue (most overdue first), then fewest working days left, then no deadline."""
    ids = [audit(partnership, ("POL",))[1]["POL"] for _ in range(5)]
    late3, late1, soon, later, paused = ids
    for task_id, due in ((late3, date(2026, 1, 6)), (late1, date(2026, 1, 8))):
        partnership.extend_deadline(COORDINATOR, task_id, due, "Test dates (fictional)")
    partnership.extend_deadline(COORDINATOR, soon, date(2026, 1, 14), "Test dates (fictional)")
    partnership.pause_deadline(COORDINATOR, paused, "Legal hold (fictional)")
    clock.set(at(date(2026, 1, 9)))  # a Friday

    items = partnership.waiting_on(partnership.resolve_actor(POL_LEAD))
    assert [i.task_id for i in items] == [late3, late1, soon, later, paused]
    assert [(i.working_days_left, i.overdue) for i in items] == [
        (-3, True),
        (-1, True),
        (3, False),
        (16, False),
        (None, False),
    ]
    assert [i.deadline_text for i in items[:3]] == [
        "3 working days overdue",
        "1 working day overdue",
        "3 working days left",
    ]
    assert items[-1].deadline_text.endswith("clock paused")


# ----------------------------------------------------------------------------- more time
def test_more_time_is_agreed_on_a_changed_date_or_declined(partnership: Service) -> None:
    ref, tasks = audit(partnership, ("POL", "ICB"))
    pol, icb = tasks["POL"], tasks["ICB"]
    lead = partnership.resolve_actor(POL_LEAD)
    due = task(partnership, pol).due_on
    assert due == date(2026, 2, 2)
    partnership.fire_task(
        lead, pol, "request_extension", {"requested_date": "2026-02-13"}, reason="Staff away"
    )

    [item] = partnership.waiting_on(COORDINATOR)
    assert (item.kind, item.kind_text, item.task_id) == ("more_time", "Request for more time", pol)
    assert item.needs == f"Decide on more time until {format_date(date(2026, 2, 13))}"
    assert (item.asked_until, item.may_agree, item.may_decline) == (date(2026, 2, 13), True, True)
    assert item.url == f"/tasks/{pol}#more-time-title"
    assert (item.due_on, item.working_days_left) == (due, 20)
    # the agency sees that it asked, still to answer
    [own] = partnership.waiting_on(lead)
    assert own.kind == "answer"
    assert own.note == (
        f"More time asked for until {format_date(date(2026, 2, 13))}: waiting for a decision."
    )
    # a manager may decide it too, but it is the coordinator's activity
    assert partnership.waiting_on(MANAGER) == []
    assert kinds(partnership.waiting_on(MANAGER, show="all")) == [("more_time", pol)]

    # the date is checked as an extension is; nothing changes when refused
    with pytest.raises(InvalidInput, match="not a working day"):
        partnership.decide_more_time(COORDINATOR, pol, True, new_due=date(2026, 2, 7))
    with pytest.raises(InvalidInput, match="decline the request instead"):
        partnership.decide_more_time(COORDINATOR, pol, True, new_due=date(2026, 1, 30))
    with pytest.raises(InvalidInput, match="goes with agreeing"):
        partnership.decide_more_time(COORDINATOR, pol, False, "No", new_due=date(2026, 2, 9))
    assert task(partnership, pol).requested_due_on == date(2026, 2, 13)
    assert events(partnership, "deadline_extended") == []

    partnership.decide_more_time(COORDINATOR, pol, True, new_due=date(2026, 2, 9))
    agreed = task(partnership, pol)
    assert (agreed.due_on, agreed.original_due_on, agreed.requested_due_on) == (
        date(2026, 2, 9),
        due,
        None,
    )
    [extended] = events(partnership, "deadline_extended")
    assert extended.inputs == {
        "approver": COORDINATOR.id,
        "asked": "2026-02-13",
        "from": "2026-02-02",
        "to": "2026-02-09",
    }
    assert extended.reason == (
        f"more time agreed until {format_date(date(2026, 2, 9))} "
        f"(asked for {format_date(date(2026, 2, 13))})"
    )
    told = emails(partnership, "deadline_extended")
    assert sorted(n.to_addr for n in told) == [POL_DEPUTY, POL_LEAD]
    assert partnership.waiting_on(COORDINATOR) == []

    # declined from the list: the deadline stays, the agency is told
    icb_lead = partnership.resolve_actor(ICB_LEAD)
    partnership.fire_task(
        icb_lead, icb, "request_extension", {"requested_date": "2026-02-20"}, reason="Busy"
    )
    assert kinds(partnership.waiting_on(COORDINATOR)) == [("more_time", icb)]
    partnership.decide_more_time(COORDINATOR, icb, False, "The meeting is on 4 February")
    assert (task(partnership, icb).due_on, task(partnership, icb).requested_due_on) == (due, None)
    assert [n.to_addr for n in emails(partnership, "more_time_declined")] == [ICB_LEAD]
    assert partnership.waiting_on(COORDINATOR) == []
    assert ref.startswith("MAA-")


# ----------------------------------------------------------------------------- managers
def test_a_manager_sees_new_target_dates_sign_offs_and_the_plan_to_sign_off(
    partnership: Service,
) -> None:
    plan = partnership.open_activity(
        COORDINATOR, "action_plan", "Neglect actions (fictional)", ["POL"]
    ).activity.ref
    out = partnership.add_task(
        COORDINATOR,
        plan,
        "action",
        "POL",
        {
            "description": "Audit supervision records monthly (fictional)",
            "lead_name": "Named lead (fictional)",
            "target_date": "2026-03-02",
        },
    )
    action = out.task.id if out.task is not None else out.created_tasks[0].id
    assert action is not None
    lead = partnership.resolve_actor(POL_LEAD)
    assert [(i.kind, i.kind_text, i.needs) for i in partnership.waiting_on(lead)] == [
        ("answer", "Action to complete", "Mark complete with evidence")
    ]
    assert partnership.waiting_on(MANAGER, show="all") == []

    partnership.fire_task(
        lead,
        action,
        "request_reprogramme",
        {"new_target_date": "2026-03-30"},
        reason="Staff changes (fictional)",
    )
    [item] = partnership.waiting_on(MANAGER)  # only a manager decides: every manager's own
    assert (item.kind, item.kind_text, item.task_id) == (
        "decision",
        "New target date requested",
        action,
    )
    assert item.needs == f"Decide on a new target date: {format_date(date(2026, 3, 30))}"
    assert item.for_managers is True
    assert partnership.waiting_on(COORDINATOR, show="all") == []
    assert partnership.waiting_on(lead) == []  # waiting on the manager, not the agency
    partnership.fire_task(MANAGER, action, "approve_reprogramme")
    assert partnership.waiting_on(MANAGER) == []

    partnership.fire(COORDINATOR, plan, "start_monitoring", {"owning_subgroup": "QA (fictional)"})
    partnership.fire_task(
        lead,
        action,
        "submit_completion",
        {
            "evidence_of_completion": "Monthly audits since March (fictional)",
            "evidence_of_impact": "Supervision gaps halved (fictional)",
        },
    )
    [sign] = partnership.waiting_on(MANAGER)
    assert (sign.kind, sign.needs, sign.kind_text) == (
        "decision",
        "Sign off the action",
        "Completed: awaiting subgroup sign-off",
    )
    assert (sign.working_days_left, sign.url) == (None, f"/tasks/{action}")
    assert partnership.waiting_on(COORDINATOR, show="all") == []  # the manager signs off
    partnership.fire_task(MANAGER, action, "sign_off")
    assert partnership.waiting_on(MANAGER) == []

    partnership.fire(COORDINATOR, plan, "submit_for_signoff")
    [whole] = partnership.waiting_on(MANAGER)
    assert (whole.kind, whole.task_id, whole.reference) == ("decision", None, plan)
    assert (whole.needs, whole.url, whole.may_take) == (
        "Awaiting subgroup sign-off",
        f"/activities/{plan}",
        False,
    )
    partnership.fire(MANAGER, plan, "sign_off_plan", {"impact_summary": "Fewer gaps (fictional)"})
    assert partnership.waiting_on(MANAGER, show="all") == []


# ----------------------------------------------------------------------------- clocks
def test_statutory_clocks_close_to_breach_wait_on_the_business_unit(
    partnership: Service, clock: FakeClock
) -> None:
    ref = partnership.open_activity(
        COORDINATOR,
        "practice_review",
        "Serious incident (fictional)",
        ["POL"],
        {"awareness_date": "2026-01-05"},
    ).activity.ref
    [item] = partnership.waiting_on(COORDINATOR)
    assert (item.kind, item.kind_text, item.reference) == ("statutory", "Statutory deadline", ref)
    assert item.needs == "Statutory clock: 5 working days left"
    assert (item.url, item.agency_code, item.agency_name) == (
        f"/activities/{ref}",
        "",
        "The business unit",
    )
    assert partnership.waiting_on(MANAGER, show="all") == []

    clock.set(at(date(2026, 1, 14)))  # two working days past the deadline (12 January)
    [late] = partnership.waiting_on(COORDINATOR)
    assert late.needs == "Statutory clock: overdue 2 working days"
    assert (late.overdue, late.working_days_left) == (True, -2)


def test_escalations_wait_on_the_senior_manager_and_the_business_unit(
    partnership: Service, clock: FakeClock
) -> None:
    _ref, tasks = audit(partnership, ("POL",))
    pol = tasks["POL"]
    due = task(partnership, pol).due_on
    assert due is not None
    cal = partnership.calendar
    chief = partnership.resolve_actor(POL_CHIEF)
    assert partnership.waiting_on(chief) == [
        i for i in partnership.waiting_on(chief) if i.kind == "answer"
    ]
    for n in (5, 10):  # the ladder: the senior manager after 5 working days, us after 10
        clock.set(at(cal.add_working_days(due, n)))
        partnership.sweep()

    [to_us] = [i for i in partnership.waiting_on(COORDINATOR) if i.kind == "escalation"]
    assert (to_us.task_id, to_us.needs, to_us.overdue) == (
        pol,
        "Escalated to you: overdue 10 working days",
        True,
    )
    assert (to_us.url, to_us.kind_text) == (f"/tasks/{pol}", "Escalation")
    assert kinds(partnership.waiting_on(chief)) == [("escalation", pol), ("answer", pol)]
    # the lead is chased, not escalated to
    assert kinds(partnership.waiting_on(partnership.resolve_actor(POL_LEAD))) == [("answer", pol)]

    submit(partnership, POL_LEAD, pol)  # answered: nothing escalated is left, a review is
    assert kinds(partnership.waiting_on(COORDINATOR)) == [("review", pol)]
    assert partnership.waiting_on(chief) == []


# ----------------------------------------------------------------------------- taking
def test_taking_an_item_and_giving_it_to_a_colleague(partnership: Service) -> None:
    partnership.add_staff(Actor.system(), SECOND.name, SECOND.id, "coordinator")
    ref, tasks = audit(partnership)
    pol = tasks["POL"]
    submit(partnership, POL_LEAD, pol)
    version = task(partnership, pol).version
    # opened by the first coordinator: theirs until someone takes it
    assert partnership.waiting_on(SECOND) == []
    assert kinds(partnership.waiting_on(SECOND, show="unassigned")) == [("review", pol)]

    out = partnership.take(SECOND, pol)
    assert out.task is not None
    assert out.task.handled_by == SECOND.id
    taken = task(partnership, pol)
    assert (taken.handled_by, taken.version, taken.state) == (SECOND.id, version, "submitted")
    [ev] = events(partnership, "task_handled")
    assert (ev.task_id, ev.actor, ev.actor_role, ev.inputs) == (
        pol,
        SECOND.id,
        "coordinator",
        {"to": SECOND.id, "name": SECOND.name, "from": None},
    )
    [mine] = partnership.waiting_on(SECOND)
    assert (mine.handled_by, mine.assigned_to) == (SECOND.id, f"{SECOND.name} <{SECOND.id}>")
    assert partnership.waiting_on(COORDINATOR) == []
    assert partnership.waiting_on(COORDINATOR, show="unassigned") == []
    assert kinds(partnership.waiting_on(COORDINATOR, show="all")) == [("review", pol)]

    # given to a colleague
    partnership.take(SECOND, pol, COORDINATOR.id.upper())
    assert task(partnership, pol).handled_by == COORDINATOR.id
    assert kinds(partnership.waiting_on(COORDINATOR)) == [("review", pol)]
    assert partnership.waiting_on(SECOND) == []

    before = len(partnership.timeline(ref))
    with pytest.raises(InvalidInput, match="already handled by Casey Coord"):
        partnership.take(COORDINATOR, pol)
    with pytest.raises(NotFound, match="is not an active member of staff"):
        partnership.take(COORDINATOR, pol, POL_LEAD)
    with pytest.raises(InvalidInput, match="is not an email address"):
        partnership.take(COORDINATOR, pol, "not an address")
    with pytest.raises(PermissionDenied, match="may not take tasks"):
        partnership.take(partnership.resolve_actor(POL_LEAD), pol)
    with pytest.raises(NotFound, match="no task with id"):
        partnership.take(COORDINATOR, 999_999)
    partnership.deactivate_staff(Actor.system(), SECOND.id)
    with pytest.raises(NotFound, match="is not an active member of staff"):
        partnership.take(COORDINATOR, pol, SECOND.id)
    assert len(partnership.timeline(ref)) == before
    partnership.fire_task(COORDINATOR, pol, "accept")
    with pytest.raises(TransitionNotAllowed, match="is closed"):
        partnership.take(MANAGER, pol)
    assert task(partnership, pol).handled_by == COORDINATOR.id


# ----------------------------------------------------------------------------- emails
def test_staff_emails_link_to_the_exact_task(partnership: Service) -> None:
    ref, tasks = audit(partnership, ("POL",))
    lead = partnership.resolve_actor(POL_LEAD)
    partnership.fire_task(
        lead, tasks["POL"], "request_extension", {"requested_date": "2026-02-13"}, reason="Away"
    )
    [asked] = emails(partnership, "extension_requested")
    assert asked.to_addr == COORDINATOR.id
    link = f"http://127.0.0.1:8000/tasks/{tasks['POL']}"
    assert link in asked.text_body
    assert f'href="{link}"' in asked.html_body
    assert "/activities/" not in asked.text_body
    # an email about the activity as a whole keeps the activity's page
    review = partnership.open_activity(
        COORDINATOR,
        "practice_review",
        "Incident (fictional)",
        ["POL"],
        {"awareness_date": "2026-01-05"},
    ).activity.ref
    opened = [n for n in emails(partnership, "practice_review_opened") if n.to_addr == MANAGER.id]
    assert len(opened) == 1
    assert f"http://127.0.0.1:8000/activities/{review}" in opened[0].text_body
    assert ref != review


# ----------------------------------------------------------------------------- the command line
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_cli(request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    env = {"SEF_CONFIG": str(_config(tmp_path))}
    if request.param == "postgres":
        env["SEF_DATABASE_URL"] = request.getfixturevalue("pg_schema_url")
    return Cli(env)


def _open_audit(cli: Cli, *agencies: str) -> str:
    args = [a for code in agencies for a in ("--agency", code)]
    out = cli(
        "--as",
        COORD,
        "activity",
        "open",
        "themed_audit",
        "--title",
        "Audit (fictional)",
        *args,
        "--input",
        "theme=Neglect",
    )
    found = re.match(r"(MAA-\d{4}-\d{3}) opened", out)
    assert found, out
    return found.group(1)


def _task_ids(cli: Cli, ref: str) -> dict[str, str]:
    out = cli("--as", COORD, "task", "list", "--activity", ref)
    return {m.group(2): m.group(1) for m in re.finditer(r"^(\d+)\s+\S+\s+([A-Z]+)\s", out, re.M)}


def test_sef_inbox_and_task_take(any_cli: Cli, tmp_path: Path) -> None:
    cli = any_cli
    _setup(cli, tmp_path)
    second = "second@northshire-scp.example"
    cli(
        "staff",
        "add",
        "--name",
        "Sam Second (fictional)",
        "--email",
        second,
        "--role",
        "coordinator",
    )
    ref = _open_audit(cli, "POL", "ICB")
    _issue(cli, ref)
    ids = _task_ids(cli, ref)
    assert cli("--as", COORD, "inbox").strip() == "Nothing is waiting on you (mine)."

    pol = ids["POL"]
    cli("--as", POL_LEAD, "assessment", "answer", pol, *answer_args("single_agency_audit"))
    out = cli("inbox", "--as", POL_LEAD)
    assert "ICB" not in out  # another agency's request is not the police's
    assert "Submit the audit return" in out
    assert f"{pol} Single-agency audit return" in out
    cli("--as", POL_LEAD, "task", "fire", pol, "submit", "--input", "summary=Done")

    out = cli("inbox", "--as", COORD)
    lines = out.splitlines()
    assert lines[0].split() == ["DEADLINE", "WHAT", "IT", "NEEDS", "TASK", "AGENCY", "WITH"]
    assert "Review the return" in lines[1]
    assert f"{pol} Single-agency audit return: Northshire" in lines[1]
    assert f"(fictional) ({ref})" in lines[1]
    assert "POL" in lines[1]
    assert "nobody yet" in lines[1]
    assert lines[-1] == "1 item waiting on you (mine), most urgent first."
    assert "Nothing is waiting" in cli("inbox", "--as", second)
    assert "Review the return" in cli("inbox", "--show", "unassigned", "--as", second)

    assert cli("--as", second, "task", "take", pol).strip() == (
        f"Task {pol} of {ref} is now handled by Sam Second (fictional) <{second}>"
    )
    assert "Review the return" in cli("--as", second, "inbox")
    assert "Nothing is waiting" in cli("--as", second, "inbox", "--show", "unassigned")
    assert "Nothing is waiting" in cli("--as", COORD, "inbox")
    out = cli("--as", second, "task", "take", pol, "--to", COORD)
    assert out.strip() == f"Task {pol} of {ref} is now handled by Casey Coord <{COORD}>"
    assert "Review the return" in cli("--as", COORD, "inbox", "--show", "all")

    assert "is not an active member of staff" in cli.fails(
        4, "--as", COORD, "task", "take", pol, "--to", POL_LEAD
    )
    assert "may not take tasks" in cli.fails(7, "--as", POL_LEAD, "task", "take", pol)
    refused = cli.run("inbox", "--show", "everything", "--as", COORD, code=2)
    assert "'everything' is not one of 'mine', 'unassigned', 'all'" in refused.stderr
