"""The web app: sign-in, roles and agency scope on every route, forms, uploads, the API."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from sef_workflow.app import App
from sef_workflow.clock import FakeClock
from sef_workflow.config import load_settings
from sef_workflow.models import LoginLink, Upload, WebSession
from sef_workflow.service import Actor, Service
from sef_workflow.web import create_app, create_login_link, queries, set_password
from sef_workflow.web.auth import check_password

from .conftest import COORDINATOR, MANAGER

ADMIN = "admin@northshire-scp.example"
PASSWORDS = {
    COORDINATOR.id: "coordinator-pass-1",
    MANAGER.id: "manager-pass-123",
    ADMIN: "admin-pass-12345",
}
POL_LEAD = "lead@police.northshire.example"
ICB_LEAD = "lead@icb.northshire.example"
UPLOAD_LIMIT = 64 * 1024
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]*)"')


@dataclass
class Site:
    service: Service
    clock: FakeClock
    web: FastAPI
    upload_dir: Path
    clients: list[TestClient]

    def client(self) -> TestClient:
        c = TestClient(self.web, follow_redirects=False)
        self.clients.append(c)
        return c

    def staff(self, email: str) -> TestClient:
        c = self.client()
        r = sign_in(c, email, PASSWORDS[email])
        assert r.status_code == 303, r.text
        return c

    def agency(self, email: str) -> TestClient:
        c = self.client()
        token = create_login_link(self.service.db, email, self.clock.now(), service=self.service)
        r = c.get(f"/login/link/{token}")
        assert r.status_code == 303
        assert r.headers["location"] == "/portal"
        return c


@pytest.fixture
def site(partnership: Service, clock: FakeClock, tmp_path: Path) -> Iterator[Site]:
    partnership.add_staff(Actor.system(), "Ada Admin", ADMIN, "admin")
    for email, password in PASSWORDS.items():
        set_password(partnership.db, email, password, clock.now())
    assert partnership.notifier is not None
    app = App(
        settings=load_settings(environ={}),
        db=partnership.db,
        registry=partnership.registry,
        calendar=partnership.calendar,
        service=partnership,
        notifier=partnership.notifier,
    )
    upload_dir = tmp_path / "uploads"
    web = create_app(
        app, secret_key="test-secret", upload_limit=UPLOAD_LIMIT, upload_dir=upload_dir
    )
    s = Site(partnership, clock, web, upload_dir, [])
    yield s
    for c in s.clients:
        c.close()


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no csrf token on the page"
    return match.group(1)


def sign_in(c: TestClient, email: str, password: str) -> httpx.Response:
    page = c.get("/login")
    return c.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text), "next": "/"},
    )


def token(c: TestClient, path: str = "/") -> str:
    r = c.get(path)
    assert r.status_code == 200, (path, r.status_code)
    return csrf_of(r.text)


def open_audit(site: Site, c: TestClient | None = None) -> str:
    c = c or site.staff(COORDINATOR.id)
    r = c.post(
        "/activities/new",
        data={
            "csrf_token": token(c, "/activities/new?workflow=themed_audit"),
            "workflow": "themed_audit",
            "title": "Neglect audit",
            "agencies": ["POL", "ICB", "CSC"],
            "in_theme": "Neglect in adolescents",
        },
    )
    assert r.status_code == 303, r.text
    return r.headers["location"].rsplit("/", 1)[-1]


def fire(c: TestClient, ref: str, trigger: str, **fields: Any) -> httpx.Response:
    page = c.get(f"/activities/{ref}")
    version = re.search(r'name="expected_version" value="(\d+)"', page.text)
    data = {
        "csrf_token": csrf_of(page.text),
        "trigger": trigger,
        "expected_version": version.group(1) if version else "",
        **fields,
    }
    return c.post(f"/activities/{ref}/fire", data=data)


def audit_with_returns(site: Site) -> tuple[str, TestClient, dict[str, int]]:
    """An audit with its returns requested; the coordinator's client; task id by agency."""
    c = site.staff(COORDINATOR.id)
    ref = open_audit(site, c)
    assert fire(c, ref, "sample_cases", in_sample_size="6").status_code == 303
    assert fire(c, ref, "issue_audit_tools").status_code == 303
    _a, _wf, agencies, tasks = site.service.get_activity(ref)
    code = {a.id: a.code for a in agencies}
    return ref, c, {code[t.agency_id]: t.id for t in tasks if t.agency_id and t.id}


def state_of(site: Site, ref: str) -> tuple[str, int]:
    activity = site.service.get_activity(ref)[0]
    return activity.state, activity.version


# ---------------------------------------------------------------------- sign-in
def test_password_sign_in_good_and_bad(site: Site) -> None:
    c = site.client()
    r = sign_in(c, COORDINATOR.id, "wrong password!")
    assert r.status_code == 401
    assert "There is a problem" in r.text
    assert f'value="{COORDINATOR.id}"' in r.text  # what was typed is kept
    assert c.get("/").status_code == 303
    r = sign_in(c, COORDINATOR.id, PASSWORDS[COORDINATOR.id])
    assert r.status_code == 303
    assert r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    page = c.get("/")
    assert page.status_code == 200
    assert "Dashboard" in page.text
    # only the token's hash is stored
    raw = c.cookies.get("sef_session")
    assert raw
    with site.service.db.read() as s:
        rows = s.exec(select(WebSession)).all()
    assert raw not in {row.token_hash for row in rows}
    # an agency contact has no password; unknown people neither
    assert sign_in(site.client(), POL_LEAD, "anything-at-all").status_code == 401
    assert not check_password(site.service.db, "nobody@example.org", "anything-at-all")


def test_sign_in_form_needs_its_csrf_token(site: Site) -> None:
    c = site.client()
    r = c.post("/login", data={"email": COORDINATOR.id, "password": PASSWORDS[COORDINATOR.id]})
    assert r.status_code == 403
    c.get("/login")
    r = c.post(
        "/login",
        data={
            "email": COORDINATOR.id,
            "password": PASSWORDS[COORDINATOR.id],
            "csrf_token": "forged",
        },
    )
    assert r.status_code == 403


def test_failed_sign_ins_are_rate_limited(site: Site) -> None:
    c = site.client()
    for _ in range(5):
        assert sign_in(c, COORDINATOR.id, "not the password").status_code == 401
    r = sign_in(c, COORDINATOR.id, PASSWORDS[COORDINATOR.id])
    assert r.status_code == 429
    assert "Too many failed attempts" in r.text
    # another person is not blocked
    assert sign_in(site.client(), MANAGER.id, PASSWORDS[MANAGER.id]).status_code == 303
    site.clock.advance(timedelta(minutes=16))
    assert sign_in(c, COORDINATOR.id, PASSWORDS[COORDINATOR.id]).status_code == 303


def test_sessions_expire_and_sign_out_deletes(site: Site) -> None:
    c = site.staff(COORDINATOR.id)
    site.clock.advance(timedelta(hours=7, minutes=59))
    assert c.get("/").status_code == 200
    site.clock.advance(timedelta(minutes=2))
    r = c.get("/activities")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=")
    assert c.get("/api/activities").status_code == 401

    c = site.staff(MANAGER.id)
    before = queries.count(site.service.db, WebSession)
    r = c.post("/logout", data={"csrf_token": token(c)})
    assert r.status_code == 303
    assert queries.count(site.service.db, WebSession) == before - 1
    assert c.get("/").status_code == 303


def test_set_password_checks_its_input(site: Site) -> None:
    from sef_workflow.errors import InvalidInput, NotFound

    with pytest.raises(InvalidInput):
        set_password(site.service.db, COORDINATOR.id, "short")
    with pytest.raises(NotFound):
        set_password(site.service.db, POL_LEAD, "long enough password")


# ---------------------------------------------------------------------- coordinator
def test_coordinator_opens_a_themed_audit_and_moves_it_on(site: Site) -> None:
    c = site.staff(COORDINATOR.id)
    page = c.get("/activities/new?workflow=themed_audit")
    assert 'for="in_theme"' in page.text
    assert 'id="agency-POL"' in page.text
    # a bad form keeps what was typed and says what to fix
    r = c.post(
        "/activities/new",
        data={
            "csrf_token": csrf_of(page.text),
            "workflow": "themed_audit",
            "title": "",
            "agencies": ["POL"],
            "in_theme": "Typed theme",
        },
    )
    assert r.status_code == 422
    assert "There is a problem" in r.text
    assert 'href="#title"' in r.text
    assert "Typed theme" in r.text
    assert 'value="POL" checked' in r.text
    assert site.service.list_activities() == []

    ref = open_audit(site, c)
    page = c.get(f"/activities/{ref}")
    assert page.status_code == 200
    assert 'aria-current="step">Planning' in page.text
    assert "Record the case sample" in page.text
    assert "Neglect in adolescents" in page.text

    r = fire(c, ref, "sample_cases", in_sample_size="many")
    assert r.status_code == 422
    assert "There is a problem" in r.text
    assert ">many<" in r.text or 'value="many"' in r.text
    assert state_of(site, ref) == ("planning", 1)

    assert fire(c, ref, "sample_cases", in_sample_size="6").status_code == 303
    assert fire(c, ref, "issue_audit_tools").status_code == 303
    page = c.get(f"/activities/{ref}")
    assert 'aria-current="step">Awaiting audit returns' in page.text
    assert page.text.count("Single-agency audit return") >= 3
    assert "email &#39;audit_tool_issued&#39;" in page.text  # emails on the timeline
    assert "due " in page.text

    # a reason is required to cancel: the form comes back
    r = fire(c, ref, "cancel")
    assert r.status_code == 422
    assert state_of(site, ref)[0] == "awaiting_returns"


def test_coordinator_task_actions(site: Site) -> None:
    _ref, c, tasks = audit_with_returns(site)
    pol = tasks["POL"]
    page = c.get(f"/tasks/{pol}")
    assert "Extend the deadline" in page.text
    due_before = site.service.get_task(pol)[0].due_on
    assert due_before is not None
    r = c.post(
        f"/tasks/{pol}/deadline",
        data={"csrf_token": csrf_of(page.text), "action": "extend", "new_due": "", "reason": ""},
    )
    assert r.status_code == 422
    assert "Enter a reason" in r.text
    new_due = due_before + timedelta(days=7)
    r = c.post(
        f"/tasks/{pol}/deadline",
        data={
            "csrf_token": csrf_of(page.text),
            "action": "extend",
            "new_due": new_due.isoformat(),
            "reason": "half term",
        },
    )
    assert r.status_code == 303
    assert site.service.get_task(pol)[0].due_on == new_due
    r = c.post(
        f"/tasks/{pol}/deadline",
        data={"csrf_token": csrf_of(page.text), "action": "pause", "reason": "legal hold"},
    )
    assert r.status_code == 303
    assert site.service.get_task(pol)[0].deadline_status == "paused"
    assert "Resume the deadline" in c.get(f"/tasks/{pol}").text
    # withdraw the task through its trigger
    page = c.get(f"/tasks/{pol}")
    version = site.service.get_task(pol)[0].version
    r = c.post(
        f"/tasks/{pol}/fire",
        data={
            "csrf_token": csrf_of(page.text),
            "trigger": "withdraw",
            "expected_version": str(version),
            "reason": "no cases",
        },
    )
    assert r.status_code == 303
    assert site.service.get_task(pol)[0].state == "withdrawn"


def test_stale_page_says_someone_else_moved_it(site: Site) -> None:
    ref = open_audit(site)
    one, two = site.staff(COORDINATOR.id), site.staff(COORDINATOR.id)
    stale = two.get(f"/activities/{ref}")
    assert fire(one, ref, "sample_cases", in_sample_size="3").status_code == 303
    data = {"csrf_token": csrf_of(stale.text), "expected_version": "1"}
    r = two.post(
        f"/activities/{ref}/fire", data={**data, "trigger": "sample_cases", "in_sample_size": "9"}
    )
    assert r.status_code == 409
    assert "Someone else moved" in r.text
    assert "Cases sampled" in r.text
    # the trigger is still allowed, but the version moved on
    r = two.post(
        f"/activities/{ref}/fire", data={**data, "trigger": "raise_concern", "reason": "x"}
    )
    assert r.status_code == 409
    assert "Someone else moved" in r.text
    assert state_of(site, ref) == ("sampling", 2)
    assert site.service.get_activity(ref)[0].data["sample_size"] == 3


# ---------------------------------------------------------------------- agency portal
def test_agency_link_is_single_use_expiring_and_scoped(site: Site) -> None:
    ref, _c, tasks = audit_with_returns(site)
    now = site.clock.now()
    link = create_login_link(site.service.db, POL_LEAD, now, service=site.service)
    with site.service.db.read() as s:
        stored = {row.token_hash for row in s.exec(select(LoginLink)).all()}
    assert link not in stored  # only the hash
    c = site.client()
    assert c.get(f"/login/link/{link}").status_code == 303
    portal = c.get("/portal")
    assert portal.status_code == 200
    assert f'href="/tasks/{tasks["POL"]}"' in portal.text
    assert f'href="/tasks/{tasks["ICB"]}"' not in portal.text
    assert f'href="/tasks/{tasks["CSC"]}"' not in portal.text
    # single use
    again = site.client().get(f"/login/link/{link}")
    assert again.status_code == 403
    assert "already been used" in again.text
    # expired
    old = create_login_link(site.service.db, ICB_LEAD, now, service=site.service)
    site.clock.advance(timedelta(hours=72, minutes=1))
    r = site.client().get(f"/login/link/{old}")
    assert r.status_code == 403
    assert "expired" in r.text
    # unknown
    assert site.client().get("/login/link/not-a-token").status_code == 403
    # staff get no link
    from sef_workflow.errors import InvalidInput

    with pytest.raises(InvalidInput):
        create_login_link(site.service.db, COORDINATOR.id, now, service=site.service)
    # without the service, the link is scoped the same way
    create_login_link(site.service.db, ICB_LEAD, site.clock.now())
    assert ref


def test_agency_submits_a_return_with_an_upload(site: Site) -> None:
    _ref, coordinator, tasks = audit_with_returns(site)
    pol, icb = tasks["POL"], tasks["ICB"]
    c = site.agency(POL_LEAD)
    page = c.get(f"/tasks/{pol}")
    assert page.status_code == 200
    assert 'type="file"' in page.text
    assert 'enctype="multipart/form-data"' in page.text
    csrf = csrf_of(page.text)
    version = site.service.get_task(pol)[0].version

    def submit(name: str, content: bytes, task_id: int = pol) -> httpx.Response:
        return c.post(
            f"/tasks/{task_id}/fire",
            data={
                "csrf_token": csrf,
                "trigger": "submit",
                "expected_version": str(version),
                "in_summary": "Our return",
            },
            files={"upload": (name, content, "application/octet-stream")},
        )

    r = submit("big.pdf", b"x" * (UPLOAD_LIMIT + 1))
    assert r.status_code == 422
    assert "larger than the limit" in r.text
    assert "Our return" in r.text  # kept
    r = submit("tool.exe", b"MZ")
    assert r.status_code == 422
    assert "not accepted" in r.text
    r = submit("return.pdf", b"%PDF-1.4 fine", task_id=icb)
    assert r.status_code == 404
    assert site.service.get_task(pol)[0].state == "requested"
    assert site.service.get_task(icb)[0].state == "requested"
    assert queries.count(site.service.db, Upload) == 0
    assert not site.upload_dir.exists() or list(site.upload_dir.iterdir()) == []

    r = submit("Return (final).pdf", b"%PDF-1.4 the return")
    assert r.status_code == 303
    task = site.service.get_task(pol)[0]
    assert task.state == "submitted"
    assert "Attached file: Return (final).pdf" in task.data["summary"]
    with site.service.db.read() as s:
        (upload,) = s.exec(select(Upload)).all()
    assert upload.task_id == pol
    assert upload.uploaded_by == POL_LEAD
    assert upload.content_type == "application/pdf"
    stored = site.upload_dir / upload.stored_name
    assert stored.read_bytes() == b"%PDF-1.4 the return"
    assert "Return" not in upload.stored_name
    # the file: this agency and staff, never another agency
    assert c.get(f"/uploads/{upload.id}").content == b"%PDF-1.4 the return"
    assert coordinator.get(f"/uploads/{upload.id}").status_code == 200
    other = site.agency(ICB_LEAD)
    assert other.get(f"/uploads/{upload.id}").status_code == 404
    assert other.get(f"/tasks/{pol}").status_code == 404
    # the submission is on the activity's timeline and the coordinator is told
    page = coordinator.get(f"/activities/{task_ref(site, pol)}")
    assert "task" in page.text
    assert "&#39;submit&#39;" in page.text
    assert "return_received" in page.text


def task_ref(site: Site, task_id: int) -> str:
    return site.service.get_task(task_id)[1].ref


# ---------------------------------------------------------------------- every route
PAGES = [
    "/",
    "/activities",
    "/activities/new",
    "/activities/new?workflow=themed_audit",
    "/activities/{ref}",
    "/manager/overdue",
    "/manager/overdue.csv",
    "/portal",
    "/tasks/{pol}",
    "/tasks/{icb}",
    "/api/activities",
    "/api/activities/{ref}",
    "/api/tasks",
    "/api/tasks/{pol}",
    "/api/tasks/{icb}",
    "/api/agencies",
    "/api/me",
]
STAFF_OK = dict.fromkeys(PAGES, 200) | {"/portal": 403}
POL_OK = dict.fromkeys(PAGES, 403) | {
    "/": 303,
    "/portal": 200,
    "/tasks/{pol}": 200,
    "/tasks/{icb}": 404,
    "/api/tasks": 200,
    "/api/tasks/{pol}": 200,
    "/api/tasks/{icb}": 404,
    "/api/agencies": 200,
    "/api/me": 200,
}
EXPECTED: dict[str, dict[str, int]] = {
    "anonymous": {p: 401 if p.startswith("/api/") else 303 for p in PAGES},
    "coordinator": STAFF_OK,
    "manager": STAFF_OK,
    "admin": STAFF_OK,
    "agency POL": POL_OK,
}


def test_every_route_as_each_role(site: Site) -> None:
    ref, _c, tasks = audit_with_returns(site)
    clients = {
        "anonymous": site.client(),
        "coordinator": site.staff(COORDINATOR.id),
        "manager": site.staff(MANAGER.id),
        "admin": site.staff(ADMIN),
        "agency POL": site.agency(POL_LEAD),
    }
    for role, expected in EXPECTED.items():
        for page, status in expected.items():
            path = page.format(ref=ref, pol=tasks["POL"], icb=tasks["ICB"])
            r = clients[role].get(path)
            assert r.status_code == status, (role, path, r.status_code)
    assert clients["anonymous"].get("/api/openapi.json").status_code == 200
    assert clients["coordinator"].get("/activities/NOPE-2026-001").status_code == 404
    assert "Page not found" in clients["coordinator"].get("/no/such/page").text
    # agency data through the API: its own only
    pol = clients["agency POL"]
    listed = pol.get("/api/tasks").json()
    assert [t["id"] for t in listed] == [tasks["POL"]]
    assert [a["code"] for a in pol.get("/api/agencies").json()] == ["POL"]
    assert [t["agency"] for t in pol.get("/api/tasks?agency=ICB").json()] == []
    assert len(clients["manager"].get("/api/tasks").json()) == 3


def test_changes_refused_for_the_wrong_role_change_nothing(site: Site) -> None:
    ref, coordinator, tasks = audit_with_returns(site)
    before = state_of(site, ref)
    icb_before = site.service.get_task(tasks["ICB"])[0]
    pol = site.agency(POL_LEAD)
    pol_csrf = token(pol, "/portal")
    # an agency on the coordinator's forms
    r = pol.post(
        f"/activities/{ref}/fire",
        data={"csrf_token": pol_csrf, "trigger": "cancel", "reason": "x"},
    )
    assert r.status_code == 403
    r = pol.post(
        f"/tasks/{tasks['POL']}/deadline",
        data={"csrf_token": pol_csrf, "action": "waive", "reason": "x", "approver": "me"},
    )
    assert r.status_code == 403
    r = pol.post("/activities/new", data={"csrf_token": pol_csrf, "workflow": "themed_audit"})
    assert r.status_code == 403
    # an agency on another agency's task
    r = pol.post(
        f"/tasks/{tasks['ICB']}/fire",
        data={"csrf_token": pol_csrf, "trigger": "submit", "in_summary": "not ours"},
    )
    assert r.status_code == 404
    # an agency firing a coordinator's trigger on its own task
    r = pol.post(
        f"/tasks/{tasks['POL']}/fire",
        data={"csrf_token": pol_csrf, "trigger": "withdraw", "reason": "x"},
    )
    assert r.status_code == 403
    # a manager on a coordinator-only trigger
    manager = site.staff(MANAGER.id)
    r = manager.post(
        f"/activities/{ref}/fire",
        data={"csrf_token": token(manager), "trigger": "raise_concern", "reason": "x"},
    )
    assert r.status_code == 403
    assert state_of(site, ref) == before
    after = site.service.get_task(tasks["ICB"])[0]
    assert (after.state, after.version) == (icb_before.state, icb_before.version)
    assert site.service.get_task(tasks["POL"])[0].state == "requested"
    assert coordinator.get("/").status_code == 200


def test_forged_or_missing_csrf_is_refused(site: Site) -> None:
    ref = open_audit(site)
    c = site.staff(COORDINATOR.id)
    for data in (
        {"trigger": "sample_cases", "in_sample_size": "4"},
        {"trigger": "sample_cases", "in_sample_size": "4", "csrf_token": "forged"},
    ):
        r = c.post(f"/activities/{ref}/fire", data=data)
        assert r.status_code == 403
        assert "nothing was changed" in r.text
    # another session's token is not this session's
    other = site.staff(COORDINATOR.id)
    r = c.post(
        f"/activities/{ref}/fire",
        data={"trigger": "sample_cases", "in_sample_size": "4", "csrf_token": token(other)},
    )
    assert r.status_code == 403
    r = c.post("/logout", data={})
    assert r.status_code == 403
    assert c.get("/").status_code == 200  # still signed in
    r = c.post(f"/api/activities/{ref}/fire", json={"trigger": "sample_cases"})
    assert r.status_code == 403
    assert state_of(site, ref) == ("planning", 1)


# ---------------------------------------------------------------------- manager
def test_manager_sees_overdue_and_exports_csv(site: Site) -> None:
    ref, _c, tasks = audit_with_returns(site)
    manager = site.staff(MANAGER.id)
    page = manager.get("/manager/overdue")
    assert "Overdue (0)" in page.text
    assert "Due soon (0)" in page.text
    site.clock.advance(timedelta(days=25))  # within a week of 20 working days
    manager = site.staff(MANAGER.id)
    page = manager.get("/manager/overdue")
    assert "Due soon (3)" in page.text
    site.clock.advance(timedelta(days=20))
    manager = site.staff(MANAGER.id)
    page = manager.get("/manager/overdue")
    assert "Overdue (3)" in page.text
    assert "Northshire Constabulary (fictional)" in page.text
    page = manager.get("/manager/overdue?agency=POL&workflow=themed_audit")
    assert "Overdue (1)" in page.text
    dashboard = manager.get("/")
    assert "Overdue by agency" in dashboard.text
    assert "/manager/overdue?agency=ICB" in dashboard.text

    r = manager.get("/manager/overdue.csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 3
    assert {row["agency"] for row in rows} == {"POL", "ICB", "CSC"}
    assert {row["status"] for row in rows} == {"overdue"}
    assert {row["activity"] for row in rows} == {ref}
    rows = list(csv.DictReader(io.StringIO(manager.get("/manager/overdue.csv?agency=ICB").text)))
    assert [int(row["task_id"]) for row in rows] == [tasks["ICB"]]
    assert site.agency(POL_LEAD).get("/manager/overdue.csv").status_code == 403


# ---------------------------------------------------------------------- API
def test_api_fires_with_the_same_permissions(site: Site) -> None:
    ref, coordinator, tasks = audit_with_returns(site)
    headers = {"X-CSRF-Token": coordinator.get("/api/me").json()["csrf_token"]}
    listed = coordinator.get("/api/activities").json()
    assert [a["ref"] for a in listed] == [ref]
    detail = coordinator.get(f"/api/activities/{ref}").json()
    assert detail["state"] == "awaiting_returns"
    assert "raise_concern" in detail["allowed_triggers"]
    assert len(detail["tasks"]) == 3
    version = detail["version"]

    def post(body: dict[str, Any]) -> httpx.Response:
        return coordinator.post(f"/api/activities/{ref}/fire", json=body, headers=headers)

    r = post({"trigger": "approve_findings"})
    assert r.status_code == 409
    assert r.json()["error"] == "transition_not_allowed"
    r = post({"trigger": "convene_meeting", "inputs": {"meeting_date": "2026-02-01"}})
    assert r.status_code == 409
    assert r.json()["error"] == "guard_failed"
    r = post({"trigger": "raise_concern"})
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_input"
    r = post({"trigger": "raise_concern", "reason": "x", "expected_version": version - 1})
    assert r.status_code == 409
    assert r.json()["error"] == "concurrent_update"
    assert coordinator.get("/api/activities/NOPE-2026-001").status_code == 404
    r = post({"trigger": "raise_concern", "reason": "worried", "expected_version": version})
    assert r.status_code == 200
    assert r.json()["version"] == version + 1

    manager = site.staff(MANAGER.id)
    r = manager.post(
        f"/api/activities/{ref}/fire",
        json={"trigger": "raise_concern", "reason": "x"},
        headers={"X-CSRF-Token": manager.get("/api/me").json()["csrf_token"]},
    )
    assert r.status_code == 403
    assert r.json()["error"] == "permission_denied"

    pol = site.agency(POL_LEAD)
    pol_headers = {"X-CSRF-Token": pol.get("/api/me").json()["csrf_token"]}
    r = pol.post(f"/api/activities/{ref}/fire", json={"trigger": "cancel"}, headers=pol_headers)
    assert r.status_code == 403
    body = {"trigger": "submit", "inputs": {"summary": "via the API"}}
    r = pol.post(f"/api/tasks/{tasks['ICB']}/fire", json=body, headers=pol_headers)
    assert r.status_code == 404
    r = pol.post(f"/api/tasks/{tasks['POL']}/fire", json=body, headers={})
    assert r.status_code == 403
    r = pol.post(f"/api/tasks/{tasks['POL']}/fire", json=body, headers=pol_headers)
    assert r.status_code == 200
    assert r.json()["state"] == "submitted"
    r = pol.post(f"/api/tasks/{tasks['POL']}/fire", json=body, headers=pol_headers)
    assert r.status_code == 409
    assert site.service.get_task(tasks["ICB"])[0].state == "requested"
    spec = site.client().get("/api/openapi.json").json()
    assert "/api/tasks/{task_id}/fire" in spec["paths"]


def test_headers_and_requests_too_large_to_read(site: Site) -> None:
    _ref, _c, tasks = audit_with_returns(site)
    c = site.agency(POL_LEAD)
    page = c.get(f"/tasks/{tasks['POL']}")
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    huge = b"x" * (UPLOAD_LIMIT + 1024 * 1024 + 10)
    r = c.post(
        f"/tasks/{tasks['POL']}/fire",
        data={"csrf_token": csrf_of(page.text), "trigger": "submit", "in_summary": "big"},
        files={"upload": ("big.pdf", huge, "application/pdf")},
    )
    assert r.status_code == 413
    assert "Nothing was saved" in r.text
    assert site.service.get_task(tasks["POL"])[0].state == "requested"
    assert queries.count(site.service.db, Upload) == 0
