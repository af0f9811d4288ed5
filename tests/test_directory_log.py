"""The directory log: every change to agencies, contacts and staff written with the change,
read back by staff (service, page, command line), kept by the database as append-only,
in the evidence pack; and the agencies CSV refused where an escalation would go nowhere."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

from sef_workflow import directory_log
from sef_workflow.clock import FakeClock
from sef_workflow.db import Database
from sef_workflow.directory import CSV_COLUMNS, parse_agencies_csv
from sef_workflow.errors import InvalidInput, NotFound, PermissionDenied
from sef_workflow.evidence import DIRECTORY_COLUMNS, evidence_pack
from sef_workflow.models import DirectoryEvent, WebSession
from sef_workflow.service import Actor, Service

from . import test_e2e, test_web
from .conftest import COORDINATOR, FICTIONAL_AGENCIES, MANAGER, process_config
from .test_web import ADMIN, Site, csrf_of

POL, ICB, CSC = FICTIONAL_AGENCIES
OUTSIDER = "someone@outside.example"
#: the web app with the fictional partnership, as the web tests sign in to it
site = test_web.site
WHEN = re.compile(r"\d{1,2} [A-Z][a-z]+ \d{4} at (\d{1,2}(:\d{2})?[ap]m|midday|midnight)  ")
ESCALATING = [
    "Action plan",
    "Agency report or data request",
    "Child safeguarding practice review",
    "Section 11 cycle",
    "Multi-agency themed audit",
]


def records(service: Service, **filters: Any) -> list[DirectoryEvent]:
    """The log oldest first, as the system reads it."""
    return [e for e, _code in service.directory_log(Actor.system(), **filters)][::-1]


def kinds(service: Service, **filters: Any) -> list[tuple[str, str]]:
    return [(e.kind, e.subject) for e in records(service, **filters)]


def add_session(database: Database, email: str, now: datetime, name: str) -> None:
    """A signed-in browser of ``email`` (only the hash of its token is ever stored)."""
    with database.write() as session:
        session.add(
            WebSession(
                token_hash=name.ljust(64, "0"),
                email=email,
                csrf_token="c" * 32,
                created_at=now,
                expires_at=now + timedelta(hours=8),
            )
        )


def sessions_of(database: Database) -> list[str]:
    with database.read() as session:
        return sorted(s.email for s in session.exec(select(WebSession)).all())


# ----------------------------------------------------------------------------- writing


def test_import_records_each_agency_added_then_only_what_changed(service: Service) -> None:
    service.import_agencies(Actor.system(), FICTIONAL_AGENCIES)
    added = records(service)
    assert [(e.kind, e.subject, e.actor, e.actor_role) for e in added] == [
        ("agency_added", code, "system", "system") for code in ("POL", "ICB", "CSC")
    ]
    pol = added[0]
    assert pol.before is None
    assert pol.after == {k: v for k, v in POL.agency_fields().items() if v is not None}
    assert pol.agency_id == next(a.id for a in service.list_agencies() if a.code == "POL")
    assert pol.at == service.clock.now()

    # the same file again changes nothing and writes nothing
    result = service.import_agencies(COORDINATOR, FICTIONAL_AGENCIES)
    assert (result.created, result.updated) == (0, 3)
    assert len(records(service)) == 3

    # a new name, and a lead replaced with the deputy cleared
    changed = dataclasses.replace(
        POL,
        name="Northshire Police (fictional)",
        lead_name="Outside Person",
        lead_email=OUTSIDER,
        deputy_name=None,
        deputy_email=None,
    )
    service.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    service.import_agencies(COORDINATOR, [changed, ICB])
    new = records(service)[3:]
    assert [(e.kind, e.subject, e.actor, e.actor_role) for e in new] == [
        ("agency_changed", "POL", COORDINATOR.id, "coordinator"),
        ("contact_changed", "POL", COORDINATOR.id, "coordinator"),
    ]
    agency, contact = new
    assert agency.before == {"code": "POL", "name": POL.name}
    assert agency.after == {"code": "POL", "name": "Northshire Police (fictional)"}
    assert contact.before == {
        "code": "POL",
        "lead_name": "Lead Police",
        "lead_email": "lead@police.northshire.example",
        "deputy_name": "Deputy Police",
        "deputy_email": "deputy@police.northshire.example",
    }
    assert contact.after == {
        "code": "POL",
        "lead_name": "Outside Person",
        "lead_email": OUTSIDER,
        "deputy_name": None,
        "deputy_email": None,
    }


def test_a_refused_import_writes_no_record(partnership: Service) -> None:
    before = kinds(partnership)
    clash = dataclasses.replace(ICB, lead_email=POL.lead_email)
    with pytest.raises(InvalidInput, match="already one of the people of POL"):
        partnership.import_agencies(COORDINATOR, [dataclasses.replace(CSC, name="New"), clash])
    assert kinds(partnership) == before


def test_a_contact_replaced_or_removed_is_signed_out_everywhere(
    partnership: Service, database: Database
) -> None:
    now = partnership.clock.now()
    for i, email in enumerate(
        (POL.lead_email, POL.lead_email, POL.deputy_email, ICB.lead_email, COORDINATOR.id)
    ):
        add_session(database, email or "", now, f"s{i}")
    # the lead moves to deputy (still a contact); the deputy is removed
    moved = dataclasses.replace(
        POL,
        lead_name="Deputy Police",
        lead_email=POL.deputy_email or "",
        deputy_name="Lead Police",
        deputy_email=POL.lead_email,
    )
    partnership.import_agencies(COORDINATOR, [moved])
    assert sessions_of(database) == sorted(
        [POL.lead_email, POL.lead_email, POL.deputy_email or "", ICB.lead_email, COORDINATOR.id]
    )
    # the old lead replaced by an outside address, the deputy cleared
    replaced = dataclasses.replace(
        POL, lead_email=OUTSIDER, deputy_name=None, deputy_email=None, manager_email=None,
        manager_name=None,
    )  # fmt: skip
    partnership.import_agencies(COORDINATOR, [replaced])
    assert sessions_of(database) == sorted([ICB.lead_email, COORDINATOR.id])
    revoked = [e for e in records(partnership) if e.kind == "sessions_revoked"]
    assert [(e.subject, e.actor, e.before, e.after) for e in revoked] == [
        (
            POL.deputy_email,
            COORDINATOR.id,
            {"sessions": 1},
            {"sessions": 0, "reason": "no longer a contact of POL"},
        ),
        (
            POL.lead_email,
            COORDINATOR.id,
            {"sessions": 2},
            {"sessions": 0, "reason": "no longer a contact of POL"},
        ),
    ]
    with pytest.raises(NotFound):
        partnership.resolve_actor(POL.lead_email)


def test_staff_added_changed_and_deactivated(service: Service, database: Database) -> None:
    system = Actor.system()
    admin = Actor(id=ADMIN, role="admin", name="Ada Admin")
    service.add_staff(system, "Casey Coord", COORDINATOR.id, "coordinator")
    service.add_staff(system, "Casey Coord", COORDINATOR.id, "coordinator")  # no change
    assert [(e.kind, e.subject, e.after) for e in records(service)] == [
        (
            "staff_added",
            COORDINATOR.id,
            {"email": COORDINATOR.id, "name": "Casey Coord", "role": "coordinator"},
        )
    ]
    add_session(database, COORDINATOR.id, service.clock.now(), "coord")
    # a new name alone keeps the person signed in
    service.add_staff(admin, "Casey Coordinator", COORDINATOR.id, "coordinator")
    assert sessions_of(database) == [COORDINATOR.id]
    # a new role signs them out everywhere
    service.add_staff(admin, "Casey Coordinator", COORDINATOR.id, "admin")
    assert sessions_of(database) == []
    add_session(database, COORDINATOR.id, service.clock.now(), "again")
    service.deactivate_staff(admin, COORDINATOR.id)
    assert sessions_of(database) == []
    log = records(service)[1:]
    assert [(e.kind, e.actor, e.before, e.after) for e in log] == [
        (
            "staff_changed",
            ADMIN,
            {"email": COORDINATOR.id, "name": "Casey Coord"},
            {"email": COORDINATOR.id, "name": "Casey Coordinator"},
        ),
        (
            "staff_changed",
            ADMIN,
            {"email": COORDINATOR.id, "role": "coordinator"},
            {"email": COORDINATOR.id, "role": "admin"},
        ),
        (
            "sessions_revoked",
            ADMIN,
            {"sessions": 1},
            {"sessions": 0, "reason": "staff role changed"},
        ),
        (
            "staff_changed",
            ADMIN,
            {"email": COORDINATOR.id, "active": True},
            {"email": COORDINATOR.id, "active": False},
        ),
        (
            "sessions_revoked",
            ADMIN,
            {"sessions": 1},
            {"sessions": 0, "reason": "staff role removed"},
        ),
    ]
    with pytest.raises(PermissionDenied, match="no longer active"):
        service.resolve_actor(COORDINATOR.id)
    # adding them again gives the role back, recorded
    service.add_staff(admin, "Casey Coordinator", COORDINATOR.id, "coordinator")
    last = records(service)[-1]
    assert (last.kind, last.before, last.after) == (
        "staff_changed",
        {"email": COORDINATOR.id, "role": "admin", "active": False},
        {"email": COORDINATOR.id, "role": "coordinator", "active": True},
    )
    with pytest.raises(PermissionDenied):
        service.deactivate_staff(COORDINATOR, ADMIN)
    with pytest.raises(NotFound):
        service.deactivate_staff(admin, "nobody@northshire-scp.example")


# ----------------------------------------------------------------------------- the database


def test_the_database_refuses_to_change_or_delete_a_record(
    partnership: Service, database: Database
) -> None:
    table = DirectoryEvent.__table__  # type: ignore[attr-defined]
    first = records(partnership)[0]
    for statement in (
        sa.update(table).where(table.c.id == first.id).values(actor="someone else"),
        sa.delete(table).where(table.c.id == first.id),
        sa.delete(table),
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), database.write() as session:
            session.execute(statement)
    assert records(partnership)[0] == first
    assert len(records(partnership)) == 5


def test_record_refuses_an_unknown_kind(database: Database) -> None:
    with pytest.raises(ValueError, match="unknown directory record kind"), database.write() as s:
        directory_log.record(
            s, at=datetime.now(UTC), actor="system", actor_role="system", kind="x", subject="y"
        )


# ----------------------------------------------------------------------------- reading


def test_reading_filters_by_agency_and_period_and_refuses_agencies(
    partnership: Service, clock: FakeClock
) -> None:
    clock.advance(timedelta(days=3))  # Thursday 8 January
    partnership.import_agencies(COORDINATOR, [dataclasses.replace(ICB, lead_name="Lead Two")])
    day_one, day_four = date(2026, 1, 5), date(2026, 1, 8)
    assert kinds(partnership, agency="icb") == [
        ("agency_added", "ICB"),
        ("contact_changed", "ICB"),
    ]
    assert kinds(partnership, since=day_four) == [("contact_changed", "ICB")]
    assert len(kinds(partnership, until=day_one)) == 5
    assert (
        kinds(partnership, since=day_one + timedelta(days=1), until=day_four - timedelta(1)) == []
    )
    newest = partnership.directory_log(MANAGER, limit=1)
    assert [(e.kind, code) for e, code in newest] == [("contact_changed", "ICB")]
    lead = partnership.resolve_actor(POL.lead_email)
    with pytest.raises(PermissionDenied, match="may not read the directory log"):
        partnership.directory_log(lead)
    with pytest.raises(NotFound, match="no agency with code NOPE"):
        partnership.directory_log(COORDINATOR, agency="nope")
    with pytest.raises(InvalidInput, match="limit must be between 1 and 5000"):
        partnership.directory_log(COORDINATOR, limit=0)
    with pytest.raises(InvalidInput, match=r"starts .* after it ends"):
        partnership.directory_log(COORDINATOR, since=day_four, until=day_one)


def test_the_log_page_shows_changes_in_words_and_filters(site: Site) -> None:
    service = site.service
    service.import_agencies(
        COORDINATOR, [dataclasses.replace(POL, lead_email=OUTSIDER, deputy_email=None,
                                          deputy_name=None)]
    )  # fmt: skip
    c = site.staff(ADMIN)
    agencies = c.get("/agencies")
    assert 'href="/directory/log"' in agencies.text
    page = c.get("/directory/log")
    assert page.status_code == 200
    text = page.text
    assert "Contact changed: POL" in text
    assert f"Lead&#39;s email: {POL.lead_email} → {OUTSIDER}" in text
    assert f"Deputy&#39;s email: {POL.deputy_email} → none" in text
    assert "5 January 2026 at 9am by coordinator@northshire-scp.example (coordinator)" in text
    assert "Staff member added: admin@northshire-scp.example" in text
    assert "by system (the system)" in text
    assert "contact_changed" not in text
    assert "lead_email" not in text
    # one agency
    icb = c.get("/directory/log?agency=ICB").text
    assert "Agency added: ICB" in icb
    assert "POL" not in icb.split("<ol", 1)[1]
    # a period with nothing in it
    assert (
        "Nothing recorded for ICB in this period"
        in c.get("/directory/log?agency=ICB&since=2026-02-01").text
    )
    # bad filters: a readable page, no 500
    for query, message in (
        ("since=31/01/2026", "From: enter a real date"),
        ("since=2026-02-02&until=2026-02-01", "the period must end on or after"),
        ("agency=NOPE", "there is no agency with code NOPE"),
    ):
        r = c.get(f"/directory/log?{query}")
        assert r.status_code == 422, query
        assert "There is a problem" in r.text
        assert message in r.text
    # managers and coordinators read it; agencies and strangers do not
    assert site.staff(MANAGER.id).get("/directory/log").status_code == 200
    assert site.staff(COORDINATOR.id).get("/directory/log").status_code == 200
    assert site.agency(ICB.lead_email).get("/directory/log").status_code == 403
    assert site.client().get("/directory/log").status_code == 303


def test_the_agencies_page_refuses_a_file_without_senior_managers(site: Site) -> None:
    c = site.staff(COORDINATOR.id)
    page = c.get("/agencies")
    assert "Every agency needs a senior manager" in page.text
    text = "code,name,sector,lead_name,lead_email\nFIRE,Northshire Fire (fictional),police,Gale,gale@fire.example\n"
    r = c.post(
        "/agencies/import",
        data={"csrf_token": csrf_of(page.text)},
        files={"file": ("agencies.csv", text.encode(), "text/csv")},
    )
    assert r.status_code == 422
    assert "row 2: agency FIRE has no senior manager" in r.text
    assert "FIRE" not in [a.code for a in site.service.list_agencies()]


# ----------------------------------------------------------------------------- import refusal


def test_workflows_that_escalate_to_a_senior_manager(partnership: Service) -> None:
    assert sorted(partnership.workflows_needing_manager()) == sorted(ESCALATING)


def test_csv_without_a_senior_manager_is_refused_with_the_row_named(
    partnership: Service,
) -> None:
    header = ",".join(CSV_COLUMNS)
    text = (
        f"{header}\n"
        "FIRE,Northshire Fire (fictional),police,Gale,gale@fire.example,,,Chief Fire,chief@fire.example\n"
        "\n"
        "HOUS,Northshire Homes (fictional),housing,Hale,hale@homes.example,,,,\n"
        "VOL,Northshire Forum (fictional),voluntary,Vale,vale@vcs.example,,,Only A Name,\n"
    )
    needed = partnership.workflows_needing_manager()
    with pytest.raises(InvalidInput) as info:
        parse_agencies_csv(text, "agencies.csv", needed)
    message = str(info.value)
    assert message.startswith("agencies.csv: 2 bad rows, nothing imported: ")
    assert "row 4: agency HOUS has no senior manager (manager_email), but " in message
    assert "Multi-agency themed audit" in message
    assert "row 5: manager_name is given without manager_email" in message
    # a file without the manager columns at all: every row named
    short = "code,name,sector,lead_name,lead_email\nA1,A (fictional),police,L,l@a.example\n"
    with pytest.raises(InvalidInput, match=r"row 2: agency A1 has no senior manager"):
        parse_agencies_csv(short, "short.csv", needed)
    # with no workflow escalating to one, a senior manager stays optional
    assert [r.code for r in parse_agencies_csv(short, "short.csv")] == ["A1"]
    assert [a.code for a in partnership.list_agencies()] == ["CSC", "ICB", "POL"]


# ----------------------------------------------------------------------------- command line


def test_cli_log_and_import_refusal(tmp_path: Path) -> None:
    import subprocess

    env, sef = process_config(tmp_path)

    def run(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*sef, *args], env=env, capture_output=True, text=True, check=False)
        assert result.returncode == code, result.stderr
        return result

    good = tmp_path / "agencies.csv"
    header = ",".join(CSV_COLUMNS)
    good.write_text(
        f"{header}\nPOL,Northshire Constabulary (fictional),police,Lead Police,"
        "lead@police.northshire.example,,,Chief Police,chief@police.northshire.example\n",
        encoding="utf-8",
    )
    run("agencies", "import", str(good))
    run("staff", "add", "--name", "Casey Coord", "--email", COORDINATOR.id, "--role", "coordinator")
    bad = tmp_path / "bad.csv"
    bad.write_text(
        f"{header}\nPOL,Northshire Constabulary (fictional),police,Lead Police,"
        "lead@police.northshire.example,,,,\n",
        encoding="utf-8",
    )
    refused = run("agencies", "import", str(bad), code=8)
    assert refused.stderr.count("\n") == 1
    assert "row 2: agency POL has no senior manager" in refused.stderr
    out = run("directory", "log").stdout.splitlines()
    assert out[0].split() == ["WHEN", "WHAT", "ABOUT", "AGENCY", "BY", "CHANGES"]
    assert "Staff member added" in out[1]
    assert COORDINATOR.id in out[1]
    assert "Agency added" in out[2]
    assert "POL" in out[2]
    assert "Lead's email: lead@police.northshire.example" in out[2]
    assert WHEN.match(out[2]), out[2]  # the one date style, in local time
    only = run("directory", "log", "--agency", "pol", "--limit", "5").stdout.splitlines()
    assert len(only) == 2
    assert "Agency added" in only[1]
    assert run("directory", "log", "--since", "2999-01-01").stdout == "(none)\n"
    assert "limit" in run("directory", "log", "--limit", "0", code=2).stderr
    assert run("directory", "log", "--agency", "NOPE", code=4).stderr.startswith(
        "error: no agency with code NOPE"
    )
    lead = run("--as", "lead@police.northshire.example", "directory", "log", code=7).stderr
    assert lead.startswith("error: agency lead@police.northshire.example may not read")

    # an admin takes the coordinator's role away: they can no longer act, and the log says so
    run(
        "staff",
        "add",
        "--name",
        "Ada Admin",
        "--email",
        "admin@northshire-scp.example",
        "--role",
        "admin",
    )
    coordinator = ("--as", COORDINATOR.id)
    run(*coordinator, "staff", "remove", "admin@northshire-scp.example", code=7)
    removed = run("--as", "admin@northshire-scp.example", "staff", "remove", COORDINATOR.id)
    assert removed.stdout == f"{COORDINATOR.id}: removed (no role; signed out everywhere)\n"
    refused = run(*coordinator, "directory", "log", code=7).stderr
    assert refused == f"error: {COORDINATOR.id} is no longer active\n"
    latest = run("directory", "log", "--limit", "1").stdout.splitlines()[1]
    assert "Staff member changed" in latest
    assert COORDINATOR.id in latest
    assert "admin@northshire-scp.example" in latest
    admin = ("--as", "admin@northshire-scp.example")
    run(*admin, "staff", "remove", "nobody@northshire-scp.example", code=4)
    run("staff", "remove", "admin@northshire-scp.example", code=2)  # nobody said who acts


# ----------------------------------------------------------------------------- evidence pack


def test_evidence_pack_has_the_directory_changes_of_its_agencies(
    partnership: Service, database: Database, clock: FakeClock, tmp_path: Path
) -> None:
    clock.advance(timedelta(hours=1))  # the agencies were added before the activity opened
    outcome = partnership.open_activity(
        COORDINATOR,
        "agency_request",
        "Quarterly indicators (fictional)",
        ["POL", "ICB"],
        {"request_type": "quarterly_system_indicators", "period": "Q4 2025-26"},
    )
    ref = outcome.activity.ref
    add_session(database, POL.lead_email, clock.now(), "pol")
    clock.advance(timedelta(hours=1))
    partnership.import_agencies(
        COORDINATOR,
        [
            dataclasses.replace(POL, lead_email=OUTSIDER),
            dataclasses.replace(CSC, lead_name="Not In The Activity"),
        ],
    )
    partnership.add_staff(Actor.system(), "Ada Admin", ADMIN, "admin")
    pack = evidence_pack(
        database,
        ref,
        upload_dir=tmp_path / "uploads",
        calendar=partnership.calendar,
        partnership="Northshire Safeguarding Children Partnership (fictional)",
        now=clock.now(),
    )
    with zipfile.ZipFile(io.BytesIO(pack)) as zf:
        names = zf.namelist()
        table = zf.read("directory.csv").decode("utf-8")
        index = zf.read("index.html").decode("utf-8")
    assert "directory.csv" in names
    assert names.index("directory.csv") < names.index("index.html")
    rows = list(csv.DictReader(io.StringIO(table)))
    assert table.splitlines()[0] == ",".join(DIRECTORY_COLUMNS)
    # the agencies were added before the activity opened: not in its life
    assert [(r["kind"], r["subject"], r["agency"]) for r in rows] == [
        ("contact_changed", "POL", "POL"),
        ("sessions_revoked", POL.lead_email, "POL"),
    ]
    change = rows[0]
    assert change["what"] == "Contact changed"
    assert change["actor"] == COORDINATOR.id
    assert change["changes"] == f"Lead's email: {POL.lead_email} → {OUTSIDER}"
    assert change["at"] == clock.now().astimezone(UTC).isoformat()
    assert 'href="directory.csv"' in index
    assert "Directory changes (2)" in index
    assert f"Lead&#x27;s email: {POL.lead_email} → {OUTSIDER}" in index
    assert "Not In The Activity" not in table + index


# ----------------------------------------------------------------------------- in a browser

#: the served demo partnership in Debian's chromium, as the end-to-end tests run it
browser_site = test_e2e.site


@pytest.mark.slow
def test_the_log_page_reads_on_a_phone(browser_site: test_e2e.Site) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(test_e2e.CHROMIUM), args=test_e2e.CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
            page.set_default_timeout(15_000)
            test_e2e._sign_in(page, browser_site.base, test_e2e.COORDINATOR, "log-sign-in")
            page.goto(f"{browser_site.base}/agencies")
            page.click("a[href='/directory/log']")
            test_e2e._check_page(page, "Directory log")
            assert page.locator(".log-entry").count() >= 12
            page.select_option("#agency", "POL")
            page.click("form.log-filters button[type=submit]")
            page.wait_for_load_state()
            assert "agency=POL" in page.url
            titles = page.locator(".log-title").all_inner_texts()
            assert titles == ["Named contact added: POL", "Agency added: POL"], titles
            changes = page.locator(".log-changes li").all_inner_texts()
            assert f"Lead's email: {test_e2e.LEADS['POL']}" in changes
            # nothing wider than the phone: no sideways scrolling
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, width
            test_e2e._shot(page, "directory-log-390")
        finally:
            browser.close()
