"""People read English, not keys: one date style (GOV.UK's), one sentence per event on every
timeline, states, inputs and choices by the titles and labels of their definitions, and
exports whose headers and values say the same.

Most of it runs on the fictional demo partnership (loaded once, on a fixed day), so every
kind of event the demo writes is checked; the kinds it does not write are made by hand.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from sef_workflow.app import App, build
from sef_workflow.calendar import (
    LONDON,
    WorkingCalendar,
    format_date,
    format_deadline_date,
    format_moment,
    format_period,
    format_time,
)
from sef_workflow.clock import FakeClock
from sef_workflow.config import load_settings
from sef_workflow.definitions import Registry, parse_workflow
from sef_workflow.demo import DEMO_PASSWORD, load_demo
from sef_workflow.errors import DefinitionError
from sef_workflow.models import Event, Notification, Task
from sef_workflow.reports.export import report_csv, report_xlsx
from sef_workflow.reports.figures import build_report
from sef_workflow.views import (
    TEMPLATE_TITLES,
    Timeline,
    describe_task_deadline,
    email_line,
    event_line,
    event_sentence,
    task_data_rows,
    template_title,
)
from sef_workflow.web import create_app

from .conftest import ROOT

#: what a person must never read: a dict, an arrow, None, a key with "_" inside a word, an
#: ISO date
ENGINE = {
    "a dict or set": re.compile(r"[{}]"),
    "an arrow": re.compile(r"->"),
    "None": re.compile(r"\bNone\b"),
    "a key": re.compile(r"\b[A-Za-z0-9]+_[A-Za-z0-9_]+\b"),
    "an ISO date": re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),
}
#: Tuesday 1 December 2026, 2pm in London: the demo's today
TODAY = datetime(2026, 12, 1, 14, 0, tzinfo=LONDON)
CAL = WorkingCalendar()


def engine_text(line: str) -> list[str]:
    """What in ``line`` is the engine's, not English (empty when it reads as English)."""
    return [what for what, pattern in ENGINE.items() if pattern.search(line)]


# ---------------------------------------------------------------------------- dates
@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2027, 1, 6, 14, 30, tzinfo=LONDON), "6 January 2027 at 2:30pm"),
        (datetime(2027, 1, 6, 9, 0, tzinfo=LONDON), "6 January 2027 at 9am"),
        (datetime(2027, 1, 6, 12, 0, tzinfo=LONDON), "6 January 2027 at midday"),
        (datetime(2027, 1, 6, 0, 0, tzinfo=LONDON), "6 January 2027 at midnight"),
        (datetime(2027, 1, 6, 0, 30, tzinfo=LONDON), "6 January 2027 at 12:30am"),
        (datetime(2027, 1, 6, 12, 5, tzinfo=LONDON), "6 January 2027 at 12:05pm"),
        (datetime(2027, 1, 6, 23, 59, tzinfo=LONDON), "6 January 2027 at 11:59pm"),
        # UTC shown in London time: 1pm UTC in July is 2pm BST; 11:30pm UTC on 30 June is
        # already 1 July in London
        (datetime(2026, 7, 1, 13, 0, tzinfo=UTC), "1 July 2026 at 2pm"),
        (datetime(2026, 6, 30, 23, 30, tzinfo=UTC), "1 July 2026 at 12:30am"),
    ],
)
def test_a_moment_reads_as_govuk_writes_it(moment: datetime, expected: str) -> None:
    assert format_moment(moment) == expected


def test_dates_deadlines_times_and_periods() -> None:
    assert format_date(date(2027, 1, 6)) == "6 January 2027"
    assert format_date(date(2026, 12, 25)) == "25 December 2026"
    assert format_deadline_date(date(2027, 1, 6)) == "Wednesday 6 January 2027"
    assert format_deadline_date(date(2026, 12, 25)) == "Friday 25 December 2026"
    assert format_period(date(2026, 4, 1), date(2027, 3, 31)) == "1 April 2026 to 31 March 2027"
    assert [format_time(time(h, m)) for h, m in ((0, 0), (12, 0), (9, 0), (14, 30), (12, 1))] == [
        "midnight",
        "midday",
        "9am",
        "2:30pm",
        "12:01pm",
    ]
    # an aware moment given as a date is its day in London
    assert format_date(datetime(2026, 6, 30, 23, 30, tzinfo=UTC)) == "1 July 2026"


def test_a_deadline_names_its_weekday_and_the_original_date() -> None:
    now = datetime(2027, 1, 4, 9, 0, tzinfo=LONDON)  # Monday
    task = Task(
        activity_id=1,
        kind="action",
        title="Action",
        state="in_progress",
        created_at=now,
        due_at=CAL.end_of_day(date(2027, 1, 6)),
        due_on=date(2027, 1, 6),
        original_due_on=date(2026, 12, 18),
        deadline_status="running",
    )
    assert describe_task_deadline(task, now, CAL) == (
        "due Wednesday 6 January 2027 (2 working days left; originally 18 December 2026)"
    )
    hours = Task(
        activity_id=1,
        kind="panel",
        title="Panel",
        state="due",
        created_at=now,
        due_at=datetime(2027, 1, 6, 12, 0, tzinfo=LONDON),
        due_on=date(2027, 1, 6),
        due_all_day=False,
        deadline_status="paused",
    )
    assert (
        describe_task_deadline(hours, now, CAL) == "due Wednesday 6 January 2027 at midday (paused)"
    )
    none = Task(activity_id=1, kind="k", title="t", state="s", created_at=now)
    assert describe_task_deadline(none, now, CAL) == "No deadline"


# ---------------------------------------------------------------------------- definitions
CHOICES = """
[workflow]
name = "labelled"
title = "Labelled"
reference_prefix = "LAB"
initial = "open"
[open]
roles = ["coordinator"]
agencies = "none"
[open.inputs]
listed = { type = "choice", label = "Listed", choices = ["red_flag", "green"] }
labelled = { type = "choice", label = "Labelled", choices = { red_flag = "Red: late", green = "Green: on track" } }
[states.open]
title = "Open"
[states.closed]
title = "Closed"
final = true
[[transitions]]
trigger = "close"
title = "Close it"
source = "open"
dest = "closed"
roles = ["coordinator"]
"""


def test_a_choice_input_may_give_each_choice_its_label() -> None:
    wf = parse_workflow(CHOICES, "labelled.toml")
    listed, labelled = wf.open_inputs
    assert listed.choices == labelled.choices == ("red_flag", "green")
    assert [labelled.label_for(c) for c in labelled.choices] == ["Red: late", "Green: on track"]
    assert [listed.label_for(c) for c in listed.choices] == ["Red flag", "Green"]  # no key
    bad = CHOICES.replace('green = "Green: on track"', 'green = ""')
    with pytest.raises(DefinitionError, match=r"open\.inputs\.labelled\.choices\.green"):
        parse_workflow(bad, "labelled.toml")
    empty = CHOICES.replace('choices = ["red_flag", "green"]', "choices = {}")
    with pytest.raises(DefinitionError, match="a choice input needs a list of choices"):
        parse_workflow(empty, "labelled.toml")


def test_every_shipped_choice_has_a_label() -> None:
    for wf in Registry(ROOT / "workflows").current().values():
        specs = [*wf.open_inputs, *(s for t in wf.transitions for s in t.inputs)]
        for kind in wf.tasks.values():
            specs += [*kind.inputs, *(s for t in kind.transitions for s in t.inputs)]
        for spec in specs:
            if spec.type == "choice":
                labelled = dict(spec.choice_labels)
                assert set(labelled) == set(spec.choices), (wf.name, spec.name)
                for choice in spec.choices:
                    assert not engine_text(spec.label_for(choice)), (wf.name, spec.name, choice)
    contact = next(
        s
        for s in Registry(ROOT / "workflows").get("agency_request").open_inputs
        if s.name == "contact"
    )
    assert contact.label_for("lead") == "The lead"
    assert contact.label_for("lado") == "LADO (allegations against staff)"


def test_every_email_template_has_a_title() -> None:
    names = sorted(
        p.name.removesuffix(".subject.j2") for p in (ROOT / "notifications").glob("*.subject.j2")
    )
    missing = [n for n in names if n not in TEMPLATE_TITLES]
    assert not missing, f"give these templates a title in views.TEMPLATE_TITLES: {missing}"
    for name in names:
        assert not engine_text(TEMPLATE_TITLES[name]), name
    # one nobody has titled reads from its subject, never as its key
    assert template_title("new_thing", "MAA-2026-004: a new thing (Multi-agency themed audit)") == (
        "A new thing"
    )
    assert template_title("new_thing") == "New thing"


# ---------------------------------------------------------------------------- the demo
@dataclass
class Demo:
    app: App
    tmp: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The fictional partnership as ``sef demo`` loads it on Tuesday 1 December 2026."""
    tmp = tmp_path_factory.mktemp("demo")
    config = tmp / "sef.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp / "demo.db"}"\n'
        f'[workflows]\ndirectory = "{ROOT / "workflows"}"\n'
        f'templates = "{ROOT / "notifications"}"\nforms = "{ROOT / "forms"}"\n'
        f'[mail]\ncatcher_dir = "{tmp / "mail"}"\ncatcher_port = 0\n',
        encoding="utf-8",
    )
    app = build(load_settings(config, environ={}), clock=FakeClock(TODAY))
    load_demo(app, echo=lambda _line: None)
    try:
        yield Demo(app, tmp)
    finally:
        app.db.dispose()


def _timelines(demo: Demo) -> Iterator[tuple[str, Event | Notification, str]]:
    """Every event and email of every demo activity, as its timeline line."""
    service = demo.app.service
    for activity in service.list_activities():
        _a, wf, _agencies, tasks = service.get_activity(activity.ref)
        words = Timeline.read(service, wf, tasks)
        for e in service.timeline(activity.ref):
            yield activity.ref, e, event_line(e, demo.app.calendar, words)
        for n in service.notifications_for(activity.ref):
            yield activity.ref, n, email_line(n, demo.app.calendar)


#: the kinds of event the demo writes, each said by its own sentence
DEMO_KINDS = {
    "opened",
    "transition",
    "task_created",
    "task_transition",
    "task_completed",
    "assessment_started",
    "answers_saved",
    "moderated",
    "finding_recorded",
    "reminder",
    "spawned",
    "deadline_extended",
    "deadline_reprogrammed",
}


def test_every_event_of_the_demo_is_one_english_sentence(demo: Demo) -> None:
    seen: set[str] = set()
    moment = re.compile(r"^\d{1,2} [A-Z][a-z]+ \d{4} at (\d{1,2}(:\d\d)?[ap]m|midday|midnight) – ")
    for ref, row, line in _timelines(demo):
        assert not engine_text(line), (ref, engine_text(line), line)
        assert moment.match(line), line
        assert "\n" not in line
        if isinstance(row, Event):
            seen.add(row.kind)
        else:
            assert line.split(" – ", 1)[1].startswith("Email “"), line
    assert seen >= DEMO_KINDS, DEMO_KINDS - seen


def test_the_demo_timeline_names_people_and_says_what_they_did(demo: Demo) -> None:
    lines = {line.split(" – ", 1)[1] for _ref, _row, line in _timelines(demo)}
    # a transition by its title, its inputs by their labels, the new state by its title
    assert (
        "Casey Coordinator: Record the case sample (Number of cases sampled: 6). Now: Cases sampled"
        in lines
    )
    # an agency's person by name and agency; a task's transition by its title
    assert any(
        line.startswith(
            "Avery Lead of Northshire Constabulary (fictional) on “Single-agency audit return: "
        )
        and line.endswith(": Submit the audit return (10 answers rated). Now: Submitted")
        for line in lines
    ), "no submitted return"
    # a moved deadline, from and to, with the reason
    assert any(
        re.fullmatch(
            r"Casey Coordinator extended the deadline of “[^”]+” from \d+ \w+ 2026 to \d+ \w+ 2026: .+",
            line,
        )
        for line in lines
    )
    # a reminder by its email's title, with the deadline's weekday
    assert any(re.match(r"“[^”]+” sent about “[^”]+”, due [A-Z][a-z]+day ", line) for line in lines)
    # an email by its title, to whom, and when it was sent
    assert any(
        re.fullmatch(r"Email “Audit tool issued” to \S+ \(the agency's lead\): sent .+ at .+", line)
        for line in lines
    )


def test_the_kinds_the_demo_does_not_write_read_as_sentences() -> None:
    wf = Registry(ROOT / "workflows").get("agency_request")
    at = datetime(2027, 1, 6, 9, 0, tzinfo=LONDON)
    task = Task(
        id=7,
        activity_id=1,
        kind="agency_return",
        title="Report or data return: POL",
        state="requested",
        created_at=at,
    )
    words = Timeline.of(
        wf,
        [task],
        {
            "casey@scp.example": "Casey Coordinator",
            "avery@pol.example": "Avery Lead (Northshire Constabulary)",
        },
    )

    def said(
        kind: str, inputs: dict[str, object], reason: str | None = None, **extra: object
    ) -> str:
        e = Event(
            activity_id=1,
            task_id=7,
            at=at,
            actor=str(extra.pop("actor", "casey@scp.example")),
            actor_role=str(extra.pop("role", "coordinator")),
            kind=kind,
            inputs=inputs,
            reason=reason,
            from_state=str(extra.pop("from_state", "requested")),
            to_state=str(extra.pop("to_state", "requested")),
            trigger=extra.pop("trigger", None),  # type: ignore[arg-type]
        )
        line = event_sentence(e, words)
        assert not engine_text(line), (kind, line)
        return line

    task_name = "“Report or data return: POL”"
    assert (
        said(
            "deadline_extended",
            {"from": "2027-02-04", "to": "2027-02-18", "approver": "casey@scp.example"},
            "reason",
        )
        == f"Casey Coordinator extended the deadline of {task_name} from 4 February 2027 to 18 February 2027: reason"
    )
    assert said("deadline_paused", {}, "Legal hold") == (
        f"Casey Coordinator paused the deadline of {task_name}: Legal hold"
    )
    assert said("deadline_resumed", {"from": "2027-02-04", "to": "2027-02-11"}, "Back") == (
        f"Casey Coordinator restarted the deadline of {task_name}; it moved from 4 February 2027 "
        "to 11 February 2027: Back"
    )
    assert said("deadline_waived", {"approver": "manager@scp.example"}, "Not involved") == (
        f"Casey Coordinator waived the deadline of {task_name}, approved by manager@scp.example: "
        "Not involved"
    )
    assert said("more_time_declined", {"asked": "2027-01-20"}, "Board meets later") == (
        f"Casey Coordinator declined more time for {task_name} (asked for 20 January 2027): "
        "Board meets later"
    )
    assert said(
        "task_given",
        {"to": "gray@pol.example", "name": "Gray Analyst", "from": None},
        "Your figures",
    ) == (f"Casey Coordinator gave {task_name} to Gray Analyst: Your figures")
    assert said("task_given", {"to": None, "name": None, "from": "gray@pol.example"}, "Left") == (
        f"{task_name} went back to the agency: Left"
    )
    assert (
        said("task_withdrawn", {}, "Superseded")
        == f"Casey Coordinator withdrew {task_name}: Superseded"
    )
    taken = {"to": "casey@scp.example", "name": "Casey Coordinator", "from": None}
    assert said("task_handled", taken) == f"Casey Coordinator took {task_name} to handle"
    given = {"to": "drew@scp.example", "name": "Drew Coordinator", "from": "casey@scp.example"}
    assert said("task_handled", given) == (
        f"Casey Coordinator gave {task_name} to Drew Coordinator to handle"
    )
    # an agency asking for more time: the transition's title, the date by its label
    asked = said(
        "task_transition",
        {"requested_date": "2027-01-20"},
        "Staff away",
        actor="avery@pol.example",
        role="agency",
        trigger="request_extension",
    )
    assert asked.startswith(f"Avery Lead (Northshire Constabulary) on {task_name}: ")
    assert "(Date you can manage: 20 January 2027)" in asked
    # a kind nobody has taught this module yet still reads as words, its dates too
    assert said("more_time_agreed", {"asked": "2027-01-20", "to_state": None}) == (
        f"Casey Coordinator: more time agreed on {task_name} (Asked: 20 January 2027)"
    )


def test_a_moved_target_date_no_longer_shows_as_current(demo: Demo) -> None:
    """The demo's ICB action asked to move its target date and a manager approved it: its
    summary shows the new date with the original, and neither the request's proposed date
    nor a key."""
    service = demo.app.service
    moved = [
        (t, a)
        for a in service.list_activities(workflow="action_plan")
        for t in service.get_activity(a.ref)[3]
        if t.original_due_on is not None and t.due_on != t.original_due_on and t.is_open
    ]
    assert moved
    task, activity = moved[0]
    wf = service.get_activity(activity.ref)[1]
    rows = dict(task_data_rows(task, wf.tasks[task.kind]))
    assert task.due_on is not None
    assert task.original_due_on is not None
    assert rows["Target date"] == (
        f"{format_date(task.due_on)} (originally {format_date(task.original_due_on)})"
    )
    assert "Proposed new target date" not in rows
    assert rows["BRAG status"].startswith(("Blue", "Green", "Amber", "Red"))
    for label, value in rows.items():
        assert not engine_text(f"{label}: {value}"), (label, value)


# ---------------------------------------------------------------------------- the web and exports
@pytest.fixture(scope="module")
def manager(demo: Demo) -> Iterator[TestClient]:
    web = create_app(demo.app, secret_key="test-secret", upload_dir=demo.tmp / "uploads")
    with TestClient(web, follow_redirects=False) as c:
        page = c.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
        assert token is not None
        r = c.post(
            "/login",
            data={
                "email": "manager@northshire-scp.example",
                "password": DEMO_PASSWORD,
                "csrf_token": token.group(1),
                "next": "/",
            },
        )
        assert r.status_code == 303, r.text
        yield c


def test_the_overdue_csv_uses_titles_and_keeps_an_iso_date_for_machines(
    manager: TestClient,
) -> None:
    r = manager.get("/manager/overdue.csv")
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows
    assert not [h for h in rows[0] if engine_text(h) and h != "Due date (YYYY-MM-DD)"]
    states = {row["State"] for row in rows}
    assert "In progress" in states  # an action, by its state's title
    assert "in_progress" not in r.text
    assert "reprogramme_requested" not in r.text
    assert {row["Status"] for row in rows} <= {"Overdue", "Due soon"}
    for row in rows:
        iso = row.pop("Due date (YYYY-MM-DD)")
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", iso)
        assert row["Due"] == format_deadline_date(date.fromisoformat(iso))
        assert not [v for v in row.values() if engine_text(v)], row


@pytest.mark.parametrize("path", ["/manager/overdue", "/activities", "/outbox", "/reports"])
def test_pages_show_states_and_dates_in_words(manager: TestClient, path: str) -> None:
    r = manager.get(path)
    assert r.status_code == 200
    body = re.sub(r"(?s)<(script|style|head|form|select|svg).*?</\1>", " ", r.text)
    body = re.sub(r"<[^>]+>", " ", body)  # the words, not the markup (hrefs and ids are keys)
    assert not ENGINE["an ISO date"].search(body), path
    assert not ENGINE["a key"].search(body), (path, ENGINE["a key"].findall(body)[:5])
    assert not ENGINE["None"].search(body), path


def test_report_exports_say_the_period_once_and_use_titles(demo: Demo) -> None:
    app = demo.app
    report = build_report(
        app.db,
        forms=app.forms,
        registry=app.registry,
        calendar=app.calendar,
        start=date(2026, 4, 1),
        end=date(2027, 3, 31),
        partnership="Northshire Safeguarding Children Partnership (fictional)",
        now=TODAY,
    )
    assert report.title == "The four questions: 1 April 2026 to 31 March 2027"
    rows = list(csv.reader(io.StringIO(report_csv(report))))
    assert rows[2] == ["Period", "1 April 2026 to 31 March 2027"]
    assert rows[3] == ["Period (YYYY-MM-DD)", "2026-04-01", "2027-03-31"]
    assert rows[4] == ["Generated", "1 December 2026 at 2pm"]
    for row in rows[6:]:  # every table: headers and values in words
        assert not [c for c in row if engine_text(c) and not re.fullmatch(r"[\d.,%-]+", c)], row
    book = load_workbook(io.BytesIO(report_xlsx(report)))
    contents = book["Contents"]
    assert contents["A1"].value == report.title
    for sheet in book.worksheets[1:]:
        for row in sheet.iter_rows(values_only=True):
            for cell in row:
                if isinstance(cell, str):
                    assert not engine_text(cell), (sheet.title, cell)
