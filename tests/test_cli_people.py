"""The command line for an agency's people: ``sef agencies contacts``, ``sef agencies contact
set|remove``, ``sef agencies list``'s count of named contacts, ``sef agencies link`` for a
senior manager and a named contact, ``sef task give`` and ``sef task more-time``.

Each command runs in-process through click's CliRunner on a real SQLite database; what it
changed is read back through the service of the same configuration. The CLI reads the
system clock, so dates are chosen relative to today.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

import sef_workflow.app
from sef_workflow.calendar import WorkingCalendar, format_deadline_date
from sef_workflow.cli.agencies_staff import PURPOSES_HELP, _tasks_text
from sef_workflow.config import load_settings
from sef_workflow.models import CONTACT_PURPOSES, WebSession
from sef_workflow.service import Actor, Service
from sef_workflow.web import create_app

from .conftest import confirm_sign_in_link
from .test_cli import COORD, MANAGER, Cli, _config, sh

ADMIN = "admin@northshire-scp.example"
POL_LEAD = "lead@police.northshire.example"
POL_DEPUTY = "deputy@police.northshire.example"
POL_CHIEF = "chief@police.northshire.example"
POL_ANALYST = "analyst@police.northshire.example"
ICB_LEAD = "lead@icb.northshire.example"
ICB_CHIEF = "chief@icb.northshire.example"
CSC_LADO = "lado@csc.northshire.example"
JO = "jo@police.northshire.example"
FIGURES = "figures@police.northshire.example"
#: the CLI's calendar (England's bank holidays): dates asked for are working days
WORKING_DAYS = WorkingCalendar()

PEOPLE_CSV = """\
code,name,sector,lead_name,lead_email,deputy_name,deputy_email,manager_name,manager_email,lado_name,lado_email,performance_data_name,performance_data_email
POL,Northshire Constabulary (fictional),police,Lead Police,lead@police.northshire.example,Deputy Police,deputy@police.northshire.example,Chief Police,chief@police.northshire.example,,,Gray Analyst (fictional),analyst@police.northshire.example
ICB,Northshire ICB (fictional),health,Lead Health,lead@icb.northshire.example,,,Chief Health,chief@icb.northshire.example,,,,
CSC,Northshire Children's Services (fictional),local_authority,Lead Council,lead@csc.northshire.example,,,Director Council,director@csc.northshire.example,Drew LADO (fictional),lado@csc.northshire.example,,
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return _config(tmp_path)


@pytest.fixture
def cli(config: Path, tmp_path: Path) -> Cli:
    """The CLI on an upgraded SQLite database with three agencies (POL naming a performance
    data contact, CSC a LADO contact) and a coordinator, a manager and an admin."""
    run = Cli({"SEF_CONFIG": str(config)})
    run("db", "upgrade")
    csv_path = tmp_path / "agencies.csv"
    csv_path.write_text(PEOPLE_CSV, encoding="utf-8")
    run("agencies", "import", str(csv_path))
    run("staff", "add", "--name", "Casey Coord", "--email", COORD, "--role", "coordinator")
    run("staff", "add", "--name", "Morgan Manager", "--email", MANAGER, "--role", "manager")
    run("staff", "add", "--name", "Ash Admin", "--email", ADMIN, "--role", "admin")
    return run


@contextmanager
def service_of(config: Path) -> Iterator[Service]:
    """The service of the CLI's configuration, to read back what a command changed."""
    app = sef_workflow.app.build(load_settings(str(config)))
    try:
        yield app.service
    finally:
        app.db.dispose()


def contacts(config: Path, code: str) -> list[tuple[str, str, str]]:
    """``(purpose, name, email)`` of the named contacts and colleagues of agency ``code``."""
    with service_of(config) as service:
        agency = next(a for a in service.list_agencies() if a.code == code)
        assert agency.id is not None
        return sorted((c.purpose, c.name, c.email) for c in service.contacts_of([agency.id]))


def directory_kinds(config: Path, code: str) -> list[str]:
    """The kinds of the directory log's records about agency ``code``, oldest first."""
    with service_of(config) as service:
        rows = service.directory_log(Actor.system(), agency=code)
    return [e.kind for e, _code in reversed(rows)]


# ----------------------------------------------------------------------------- help


def test_the_help_lists_every_purpose_with_its_label(cli: Cli) -> None:
    for path in (("agencies", "contact"), ("agencies", "contact", "set")):
        out = " ".join(cli(*path, "--help").split())
        for key, label in CONTACT_PURPOSES.items():
            assert f"{key} = {label}" in out, (path, key)
        assert "colleague" in out
    listed = re.findall(r"(\w+) = ", PURPOSES_HELP)
    assert listed == [*CONTACT_PURPOSES, "colleague"]


# ----------------------------------------------------------------------------- listing


def test_agencies_contacts_lists_each_agencys_people_in_words(cli: Cli) -> None:
    out = cli("agencies", "contacts")
    lines = out.splitlines()
    assert lines[0].split() == ["AGENCY", "WHO", "NAME", "EMAIL"]
    rows = [re.split(r"\s{2,}", ln) for ln in lines[1:]]
    assert rows == [
        ["CSC", "Lead", "Lead Council", "lead@csc.northshire.example"],
        ["CSC", "Senior manager", "Director Council", "director@csc.northshire.example"],
        ["CSC", "LADO (allegations against staff)", "Drew LADO (fictional)", CSC_LADO],
        ["ICB", "Lead", "Lead Health", ICB_LEAD],
        ["ICB", "Senior manager", "Chief Health", ICB_CHIEF],
        ["POL", "Lead", "Lead Police", POL_LEAD],
        ["POL", "Deputy", "Deputy Police", POL_DEPUTY],
        ["POL", "Senior manager", "Chief Police", POL_CHIEF],
        ["POL", "Performance data", "Gray Analyst (fictional)", POL_ANALYST],
    ]
    assert "_" not in "".join(r[1] for r in rows)  # plain English, no keys

    one = cli("agencies", "contacts", "pol")
    assert [ln.split()[0] for ln in one.splitlines()[1:]] == ["POL"] * 4
    assert POL_ANALYST in one

    line = cli.fails(4, "agencies", "contacts", "NOPE")
    assert line == "error: no agency with code NOPE (see: sef agencies list)"


def test_agencies_list_counts_named_contacts(cli: Cli) -> None:
    cli(
        *sh(
            f"--as {COORD} agencies contact set POL colleague --name 'Jo Colleague (fictional)'"
            f" --email {JO}"
        )
    )
    out = cli("agencies", "list")
    header, *rows = out.splitlines()
    assert "CONTACTS" in header.split()
    counts = {r.split()[0]: re.split(r"\s{2,}", r.strip())[-1] for r in rows}
    assert counts == {"CSC": "1", "ICB": "0", "POL": "2"}
    assert "deputy@police.northshire.example" in out


# ----------------------------------------------------------------------------- set, remove


def test_contact_set_adds_replaces_and_adds_colleagues(cli: Cli, config: Path) -> None:
    out = cli(
        *sh(
            f"--as {COORD} agencies contact set icb child_deaths --name 'Hollis Doctor (fictional)'"
            " --email CDOP@icb.northshire.example"
        )
    )
    assert out == (
        "ICB: Hollis Doctor (fictional) <cdop@icb.northshire.example> is now the child death "
        "reviews contact\n"
    )
    assert contacts(config, "ICB") == [
        ("child_deaths", "Hollis Doctor (fictional)", "cdop@icb.northshire.example")
    ]

    out = cli(
        *sh(
            f"--as {ADMIN} agencies contact set POL performance_data"
            f" --name 'Pat Figures (fictional)' --email {FIGURES}"
        )
    )
    assert out == (
        f"POL: Pat Figures (fictional) <{FIGURES}> is now the performance data contact "
        f"(instead of Gray Analyst (fictional) <{POL_ANALYST}>)\n"
    )
    out = cli(
        *sh(
            f"--as {COORD} agencies contact set CSC LADO --name 'Drew LADO (fictional)'"
            f" --email {CSC_LADO}"
        )
    )
    assert out == (
        f"CSC: Drew LADO (fictional) <{CSC_LADO}> is now the LADO (allegations against staff) "
        "contact\n"
    )
    out = cli(
        *sh(
            f"--as {COORD} agencies contact set POL colleague --name 'Jo Colleague (fictional)'"
            f" --email {JO}"
        )
    )
    assert out == f"POL: Jo Colleague (fictional) <{JO}> is now a colleague\n"

    assert contacts(config, "POL") == [
        ("colleague", "Jo Colleague (fictional)", JO),
        ("performance_data", "Pat Figures (fictional)", FIGURES),
    ]
    assert contacts(config, "CSC") == [("lado", "Drew LADO (fictional)", CSC_LADO)]
    assert directory_kinds(config, "POL")[-3:] == [
        "contact_removed",
        "contact_added",
        "contact_added",
    ]
    # the analyst is no longer one of POL's people
    assert "neither staff nor one of an agency's people" in cli.fails(
        4, "agencies", "link", POL_ANALYST
    )


def test_contact_set_is_refused(cli: Cli, config: Path) -> None:
    set_ = (
        "agencies contact set POL lado --name 'Lee LADO (fictional)'"
        " --email lee@police.northshire.example"
    )
    before = {code: contacts(config, code) for code in ("POL", "ICB", "CSC")}
    logged = directory_kinds(config, "POL")

    line = cli.fails(4, *sh(f"--as {COORD} {set_.replace('POL', 'NOPE', 1)}"))
    assert line == "error: no agency with code NOPE (see: sef agencies list)"

    line = cli.fails(8, *sh(f"--as {COORD} {set_.replace(' lado ', ' dentistry ')}"))
    assert line.startswith("error: unknown contact purpose 'dentistry' (allowed: lado, ")
    assert line.endswith("training, colleague)")

    line = cli.fails(7, *sh(f"--as {POL_LEAD} {set_}"))
    assert line == f"error: agency {POL_LEAD} may not change the directory"
    line = cli.fails(7, *sh(f"--as {MANAGER} {set_}"))
    assert line == f"error: manager {MANAGER} may not change the directory"

    result = cli.run(*sh(set_), code=2)
    assert "say who is acting: --as EMAIL" in result.stderr

    # one address is one person of one agency; staff are not an agency's people
    line = cli.fails(
        8, *sh(f"--as {COORD} agencies contact set POL lado --name X --email {ICB_CHIEF}")
    )
    assert f"{ICB_CHIEF} is already one of the people of ICB" in line
    line = cli.fails(8, *sh(f"--as {COORD} agencies contact set POL lado --name X --email {COORD}"))
    assert line == f"error: {COORD} is a member of staff, not an agency's person"
    line = cli.fails(
        8, *sh(f"--as {COORD} agencies contact set POL lado --name X --email not-an-address")
    )
    assert "lado_email" in line

    assert {code: contacts(config, code) for code in ("POL", "ICB", "CSC")} == before
    assert directory_kinds(config, "POL") == logged


def test_contact_remove(cli: Cli, config: Path) -> None:
    cli(
        *sh(
            f"--as {COORD} agencies contact set POL colleague --name 'Jo Colleague (fictional)'"
            f" --email {JO}"
        )
    )
    cli(*sh(f"--as {COORD} agencies contact set POL lado --name 'Lead Police' --email {POL_LEAD}"))

    out = cli(*sh(f"--as {COORD} agencies contact remove pol performance_data"))
    assert out == (
        f"POL: Gray Analyst (fictional) <{POL_ANALYST}> removed as the performance data contact "
        "(signed out everywhere)\n"
    )
    out = cli(*sh(f"--as {ADMIN} agencies contact remove POL lado"))
    assert out == (
        f"POL: Lead Police <{POL_LEAD}> removed as the LADO (allegations against staff) "
        "contact (still the lead of POL)\n"
    )
    line = cli.fails(8, *sh(f"--as {COORD} agencies contact remove POL colleague"))
    assert line == "error: say which colleague to remove (their email)"
    out = cli(*sh(f"--as {COORD} agencies contact remove POL colleague --email {JO.upper()}"))
    assert out == (
        f"POL: Jo Colleague (fictional) <{JO}> removed as a colleague (signed out everywhere)\n"
    )
    assert contacts(config, "POL") == []
    assert directory_kinds(config, "POL")[-3:] == ["contact_removed"] * 3

    # refused: nothing to remove, unknown agency, unknown purpose, an agency's person
    line = cli.fails(4, *sh(f"--as {COORD} agencies contact remove POL performance_data"))
    assert line == "error: POL has no contact for performance data"
    line = cli.fails(4, *sh(f"--as {COORD} agencies contact remove NOPE lado"))
    assert line == "error: no agency with code NOPE (see: sef agencies list)"
    line = cli.fails(8, *sh(f"--as {COORD} agencies contact remove CSC dentistry"))
    assert "unknown contact purpose 'dentistry'" in line
    line = cli.fails(7, *sh(f"--as {POL_CHIEF} agencies contact remove CSC lado"))
    assert line == f"error: agency {POL_CHIEF} may not change the directory"
    assert contacts(config, "CSC") == [("lado", "Drew LADO (fictional)", CSC_LADO)]


# ----------------------------------------------------------------------------- sign-in links


@pytest.mark.parametrize("email", [POL_CHIEF, POL_ANALYST])
def test_link_signs_in_a_senior_manager_and_a_named_contact(
    cli: Cli, config: Path, tmp_path: Path, email: str
) -> None:
    link = cli("agencies", "link", email.upper()).strip()
    found = re.fullmatch(r"http://127\.0\.0\.1:8000(/login/link/[A-Za-z0-9_-]{20,})", link)
    assert found, link

    app = sef_workflow.app.build(load_settings(str(config)))
    try:
        web = create_app(app, secret_key="test-secret", upload_dir=tmp_path / "uploads")
        with TestClient(web, follow_redirects=False) as client:
            answer = confirm_sign_in_link(client, found.group(1))
            assert answer.status_code == 303, answer.text
            assert client.get(answer.headers["location"]).status_code == 200
        with app.db.read() as session:
            signed_in = [s.email for s in session.exec(select(WebSession))]
        assert signed_in == [email]
    finally:
        app.db.dispose()
    assert "link_used" in directory_kinds(config, "POL")


def test_link_is_refused_for_someone_no_longer_a_contact(cli: Cli) -> None:
    cli(*sh(f"--as {COORD} agencies contact remove POL performance_data"))
    assert "neither staff nor one of an agency's people" in cli.fails(
        4, "agencies", "link", POL_ANALYST
    )
    assert "not an agency contact" in cli.fails(8, "agencies", "link", MANAGER)


# ----------------------------------------------------------------------------- task give


def _audit_returns(cli: Cli) -> dict[str, int]:
    """A themed audit for POL and ICB with its returns issued: task id by agency code."""
    out = cli(
        *sh(
            f"--as {COORD} activity open themed_audit --title 'Neglect audit (fictional)'"
            " --agency POL --agency ICB --input theme=Neglect"
        )
    )
    ref = out.split()[0]
    cli(*sh(f"--as {COORD} activity fire {ref} sample_cases --input sample_size=3"))
    out = cli(*sh(f"--as {COORD} activity fire {ref} issue_audit_tools"))
    found = {
        n: i
        for i, n in re.findall(r"task (\d+): Single-agency audit return: Northshire (\w+)", out)
    }
    return {"POL": int(found["Constabulary"]), "ICB": int(found["ICB"])}


def _holder(config: Path, task_id: int) -> tuple[str | None, str | None]:
    with service_of(config) as service:
        task, _activity = service.get_task(task_id)
    return task.assignee_email, task.assignee_name


def _emails(config: Path, task_id: int, template: str) -> list[str]:
    with service_of(config) as service:
        _task, activity = service.get_task(task_id)
        return sorted(
            n.to_addr
            for n in service.notifications_for(activity.ref)
            if n.task_id == task_id and n.template == template
        )


def test_task_give_to_a_named_contact_a_colleague_and_back(cli: Cli, config: Path) -> None:
    tasks = _audit_returns(cli)
    pol = tasks["POL"]

    out = cli(*sh(f"--as {POL_LEAD} task give {pol} {POL_ANALYST} --note 'Your figures'"))
    assert out == (
        f"Task {pol} given to Gray Analyst (fictional) <{POL_ANALYST}>; "
        "they are emailed a sign-in link\n"
    )
    assert _holder(config, pol) == (POL_ANALYST, "Gray Analyst (fictional)")
    assert _emails(config, pol, "task_given_to_you") == [POL_ANALYST]

    # the senior manager gives it on to a colleague not yet one of the agency's people
    new = "jo.colleague@police.northshire.example"
    line = cli.fails(8, *sh(f"--as {POL_CHIEF} task give {pol} {new}"))
    assert line == (
        f"error: {new} is not one of Northshire Constabulary (fictional)'s people: give their "
        "name to add them as a colleague"
    )
    out = cli(*sh(f"--as {POL_CHIEF} task give {pol} {new} --name 'Jo Colleague (fictional)'"))
    assert out == (
        f"Task {pol} given to Jo Colleague (fictional) <{new}>; they are emailed a sign-in link\n"
    )
    assert _holder(config, pol) == (new, "Jo Colleague (fictional)")
    assert ("colleague", "Jo Colleague (fictional)", new) in contacts(config, "POL")
    assert "POL     Colleague" in cli("agencies", "contacts", "POL")

    # the business unit gives it back to the agency as a whole
    out = cli(*sh(f"--as {COORD} task give {pol} {POL_LEAD}"))
    assert out == (
        f"Task {pol} given back to POL as a whole; emailed to {POL_DEPUTY}, {POL_LEAD}\n"
    )
    assert _holder(config, pol) == (None, None)
    timeline = cli("activity", "show", _ref(config, pol))
    task = "“Single-agency audit return: Northshire Constabulary (fictional)”"
    assert f" gave {task} to Gray Analyst (fictional): Your figures\n" in timeline
    assert f" gave {task} to Jo Colleague (fictional)\n" in timeline
    assert f"Casey Coord gave {task} to " in timeline
    assert "task_given" not in timeline


def _ref(config: Path, task_id: int) -> str:
    """The reference of the task's activity."""
    with service_of(config) as service:
        _task, activity = service.get_task(task_id)
    return activity.ref


def test_removing_a_colleague_gives_their_tasks_back(cli: Cli, config: Path) -> None:
    pol = _audit_returns(cli)["POL"]
    cli(*sh(f"--as {POL_DEPUTY} task give {pol} {JO} --name 'Jo Colleague (fictional)'"))
    out = cli(*sh(f"--as {COORD} agencies contact remove POL colleague --email {JO}"))
    assert out == (
        f"POL: Jo Colleague (fictional) <{JO}> removed as a colleague (signed out everywhere); "
        f"task {pol} back with POL\n"
    )
    assert _holder(config, pol) == (None, None)
    out = cli(*sh(f"--as {POL_DEPUTY} task give {pol} {POL_ANALYST}"))
    assert out.startswith(f"Task {pol} given to Gray Analyst (fictional) <{POL_ANALYST}>;")


def test_what_became_of_the_tasks_of_someone_removed_in_words() -> None:
    assert _tasks_text("POL", [], []) == ""
    assert _tasks_text("POL", [3, 4], []) == "; tasks 3, 4 back with POL"
    assert _tasks_text("POL", [3, 4], [4]) == (
        "; task 3 back with POL; task 4 still given to them: give to someone else (sef task give)"
    )


def test_task_give_is_refused(cli: Cli, config: Path) -> None:
    tasks = _audit_returns(cli)
    pol, icb = tasks["POL"], tasks["ICB"]

    # another agency's task, and someone of another agency
    line = cli.fails(7, *sh(f"--as {POL_LEAD} task give {icb} {POL_ANALYST}"))
    assert line.endswith("belongs to another agency")
    line = cli.fails(8, *sh(f"--as {POL_LEAD} task give {pol} {ICB_LEAD}"))
    assert f"{ICB_LEAD} is not one of Northshire Constabulary (fictional)'s people" in line
    line = cli.fails(8, *sh(f"--as {COORD} task give {pol} {ICB_CHIEF} --name 'Chief Health'"))
    assert f"{ICB_CHIEF} is already one of the people of ICB" in line

    # a named contact does not give tasks out; an unknown task; already with them
    line = cli.fails(7, *sh(f"--as {POL_ANALYST} task give {pol} {POL_DEPUTY}"))
    assert line == (
        f"error: agency {POL_ANALYST} may not give tasks to someone else (the agency's lead, "
        "deputy or senior manager may, and the business unit)"
    )
    assert "no task with id 999" in cli.fails(4, *sh(f"--as {COORD} task give 999 {POL_LEAD}"))
    line = cli.fails(8, *sh(f"--as {COORD} task give {pol} {POL_LEAD}"))
    assert line.endswith(f"is already with Lead Police ({POL_LEAD})")

    assert _holder(config, pol) == (None, None)
    assert _holder(config, icb) == (None, None)
    assert _emails(config, pol, "task_given_to_you") == []
    assert [c for c in contacts(config, "POL") if c[0] == "colleague"] == []


# ----------------------------------------------------------------------------- more time


def _data_request(cli: Cli, due: date) -> dict[str, int]:
    """A quarterly data request to POL's and ICB's performance data contacts, issued with
    ``due``: task id by agency code."""
    out = cli(
        *sh(
            f"--as {COORD} activity open agency_request --title 'Q3 indicators (fictional)'"
            " --agency POL --agency ICB --input request_type=quarterly_system_indicators"
            " --input contact=performance_data"
        )
    )
    ref = out.split()[0]
    out = cli(*sh(f"--as {COORD} activity fire {ref} issue_request --input due_date={due}"))
    found = {
        n: i for i, n in re.findall(r"task (\d+): Report or data return: Northshire (\w+)", out)
    }
    return {"POL": int(found["Constabulary"]), "ICB": int(found["ICB"])}


def _deadline(config: Path, task_id: int) -> tuple[date | None, date | None, date | None]:
    """The task's due date, its original (kept when it moves), and the date asked for (while
    a request waits)."""
    with service_of(config) as service:
        task, _activity = service.get_task(task_id)
    return task.due_on, task.original_due_on, task.requested_due_on


def test_task_more_time_agreed_by_the_senior_manager(cli: Cli, config: Path) -> None:
    due = WORKING_DAYS.add_working_days(date.today(), 30)
    asked = WORKING_DAYS.add_working_days(due, 10)
    pol = _data_request(cli, due)["POL"]

    line = cli.fails(5, *sh(f"--as {POL_CHIEF} task more-time {pol} --agree"))
    assert line.endswith(
        f"task {pol} (agency_return) of {_ref(config, pol)}: no request for more time is waiting"
    )

    # the performance data contact the request went to asks for more time
    cli(
        *sh(
            f"--as {POL_ANALYST} task fire {pol} request_extension"
            f" --input requested_date={asked} --reason 'Data system upgrade (fictional)'"
        )
    )
    assert _deadline(config, pol)[2] == asked

    # refused: the lead, another agency's senior manager, a decline without a reason, no choice
    for who in (POL_LEAD, ICB_CHIEF):
        line = cli.fails(7, *sh(f"--as {who} task more-time {pol} --agree"))
        assert line.startswith(f"error: agency {who} may not decide on more time for task {pol}")
    line = cli.fails(8, *sh(f"--as {POL_CHIEF} task more-time {pol} --decline"))
    assert line == "error: say why more time is not agreed (a reason)"
    result = cli.run(*sh(f"--as {POL_CHIEF} task more-time {pol}"), code=2)
    assert "give --agree or --decline" in result.stderr
    assert _deadline(config, pol)[0] == due

    out = cli(*sh(f"--as {POL_CHIEF} task more-time {pol} --agree"))
    assert out == f"More time agreed: task {pol} is now due {format_deadline_date(asked)}\n"
    assert _deadline(config, pol) == (asked, due, None)

    # nothing is waiting any more
    line = cli.fails(5, *sh(f"--as {POL_CHIEF} task more-time {pol} --agree"))
    assert line.endswith("no request for more time is waiting")
    assert _deadline(config, pol) == (asked, due, None)


def test_task_more_time_declined_by_the_coordinator(cli: Cli, config: Path) -> None:
    due = WORKING_DAYS.add_working_days(date.today(), 30)
    icb = _data_request(cli, due)["ICB"]
    cli(
        *sh(
            f"--as {ICB_LEAD} task fire {icb} request_extension"
            f" --input requested_date={WORKING_DAYS.add_working_days(due, 5)} --reason 'Staff away (fictional)'"
        )
    )
    out = cli(
        *sh(
            f"--as {COORD} task more-time {icb} --decline --reason 'The board meets the week"
            " after (fictional)'"
        )
    )
    assert out == (
        f"More time declined: task {icb} is still due {format_deadline_date(due)}; "
        "the agency is told why\n"
    )
    assert _deadline(config, icb) == (due, due, None)
    assert _emails(config, icb, "more_time_declined") == [ICB_LEAD]
    assert "no request for more time is waiting" in cli.fails(
        5, *sh(f"--as {COORD} task more-time {icb} --decline --reason again")
    )
