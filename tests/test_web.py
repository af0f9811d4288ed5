"""The web app: sign-in, roles and agency scope on every route, forms, uploads, the API."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
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
from sef_workflow.models import DeliveryAttempt, LoginLink, Notification, Upload, WebSession
from sef_workflow.service import Actor, Service
from sef_workflow.web import create_app, create_login_link, queries, set_password
from sef_workflow.web.auth import check_password

from .conftest import COORDINATOR, MANAGER, answer_form, confirm_sign_in_link

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
        r = confirm_sign_in_link(c, f"/login/link/{token}")
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
        # a root of its own: the embedded mail catcher keeps messages under it
        settings=replace(load_settings(environ={}), root=tmp_path),
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
    return r.headers["location"].split("?")[0].rsplit("/", 1)[-1]


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
    for t in tasks:  # each agency's audit tool filled in, ready to submit
        if t.agency_id and t.id:
            answer_form(site.service, Actor(id="x", role="agency", agency_id=t.agency_id), t.id)
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
    for _ in range(9):  # in use, never idle for the idle timeout, until the lifetime ends
        site.clock.advance(timedelta(minutes=50))
        assert c.get("/").status_code == 200
    site.clock.advance(timedelta(minutes=29))
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
    assert "Email “Audit tool issued” to " in page.text  # emails on the timeline
    assert "Casey Coord: Issue audit tools to agencies. Now: Awaiting audit returns" in page.text
    assert "Casey Coord: Record the case sample (Number of cases sampled: 6)" in page.text
    assert "due " in page.text
    timeline = page.text.split('<ol class="timeline">')[1]
    for engine in ("->", "{", "None", "_", "2026-0"):
        assert engine not in timeline.split("</ol>")[0], engine

    # a reason is required to cancel: the form comes back
    r = fire(c, ref, "cancel")
    assert r.status_code == 422
    assert state_of(site, ref)[0] == "awaiting_returns"


def test_new_activity_previews_deadlines_in_working_days(site: Site) -> None:
    c = site.staff(COORDINATOR.id)
    # counted from issue: shown at once (Mon 5 Jan 2026 + 20 working days)
    page = c.get("/activities/new?workflow=themed_audit")
    assert "If opened today and issued now" in page.text
    assert "Single-agency audit return</strong>: due 2 February 2026" in page.text
    assert "20 working days left" in page.text
    assert 'name="action" value="preview"' in page.text
    # counted from a date typed on the form: asks for it, then computes from it
    page = c.get("/activities/new?workflow=practice_review")
    assert "enter it and choose" in page.text
    data = {
        "csrf_token": csrf_of(page.text),
        "workflow": "practice_review",
        "title": "Child A",
        "agencies": ["POL", "ICB"],
        "in_awareness_date-day": "2",  # a date as day, month and year
        "in_awareness_date-month": "1",
        "in_awareness_date-year": "2026",
        "action": "preview",
    }
    r = c.post("/activities/new", data=data)
    assert r.status_code == 200
    assert "due 9 January 2026" in r.text  # Fri 2 Jan + 5 working days
    assert "4 working days left" in r.text
    assert 'value="Child A"' in r.text  # what was typed is kept
    assert 'value="POL" checked' in r.text
    assert re.search(r'id="in_awareness_date-year"[^>]*value="2026"', r.text)
    r = c.post("/activities/new", data={**data, "in_awareness_date-day": "soon"})
    assert r.status_code == 200
    assert "is not a date" in r.text
    assert site.service.list_activities() == []  # previewing changes nothing
    # issued with a date given later: says so
    page = c.get("/activities/new?workflow=agency_request")
    assert "due on the “Due date” given when it is issued" in page.text
    # the preview still needs the session's CSRF token
    r = c.post("/activities/new", data={**data, "csrf_token": "forged"})
    assert r.status_code == 403


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
    assert confirm_sign_in_link(c, f"/login/link/{link}").status_code == 303
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
    assert ": Submit the audit return" in page.text
    assert "Email “Return received” to " in page.text


def task_ref(site: Site, task_id: int) -> str:
    return site.service.get_task(task_id)[1].ref


# ---------------------------------------------------------------------- outbox and mail
def fail_email(site: Site, reply: str = "550 5.1.1 mailbox unavailable") -> Notification:
    """Mark the oldest email failed, as the delivery worker would after a permanent refusal."""
    now = site.clock.now()
    with site.service.db.write() as s:
        n = s.exec(select(Notification).order_by(Notification.id)).first()  # type: ignore[arg-type]
        assert n is not None
        assert n.id is not None
        n.status, n.attempts, n.last_error = "failed", 1, reply
        s.add(n)
        s.add(
            DeliveryAttempt(
                notification_id=n.id,
                at=now,
                worker="w1",
                outcome="permanent",
                code=550,
                detail=reply,
            )
        )
        s.flush()
        s.expunge(n)
        return n


def test_outbox_lists_failed_emails_and_retries_them(site: Site) -> None:
    ref, c, _tasks = audit_with_returns(site)
    failed = fail_email(site)
    page = c.get("/outbox")
    assert page.status_code == 200
    assert 'class="row-failed"' in page.text
    assert "The server replied: 550 5.1.1 mailbox unavailable" in page.text
    assert f'action="/outbox/{failed.id}/retry"' in page.text
    assert page.text.count('/retry"') == 1  # only the failed one
    assert f'href="/activities/{ref}"' in page.text
    only = c.get("/outbox?status=failed")
    assert only.text.count('href="/outbox/') == 1
    assert "No emails with status cancelled" in c.get("/outbox?status=cancelled").text
    assert 'href="/outbox?status=failed"' in c.get("/").text
    detail = c.get(f"/outbox/{failed.id}")
    assert detail.status_code == 200
    assert failed.message_id.strip("<>") in detail.text
    assert failed.to_addr in detail.text
    assert "Permanent" in detail.text
    assert "Not delivered" in detail.text
    assert ">550<" in detail.text
    assert c.get("/outbox/999999").status_code == 404
    # retry needs the session's CSRF token; without it nothing changes
    r = c.post(f"/outbox/{failed.id}/retry", data={"csrf_token": "forged"})
    assert r.status_code == 403
    pol = site.agency(POL_LEAD)
    r = pol.post(f"/outbox/{failed.id}/retry", data={"csrf_token": token(pol, "/portal")})
    assert r.status_code == 403
    with site.service.db.read() as s:
        assert s.get(Notification, failed.id).status == "failed"  # type: ignore[union-attr]
    r = c.post(f"/outbox/{failed.id}/retry", data={"csrf_token": csrf_of(detail.text)})
    assert r.status_code == 303
    assert r.headers["location"] == f"/outbox/{failed.id}"
    with site.service.db.read() as s:
        row = s.get(Notification, failed.id)
        assert row is not None
        assert (row.status, row.attempts) == ("pending", 0)
    # only a failed email can be retried
    r = c.post(f"/outbox/{failed.id}/retry", data={"csrf_token": csrf_of(detail.text)})
    assert r.status_code == 422
    assert "only a failed" in r.text


def test_mail_catcher_pages_list_and_show_messages(site: Site, tmp_path: Path) -> None:
    from email.message import EmailMessage

    c = site.staff(COORDINATOR.id)
    assert "kept no messages yet" in c.get("/mail").text
    folder = tmp_path / "var" / "mail"
    folder.mkdir(parents=True)
    for i, subject in enumerate(["First <one>", "Second"], start=1):
        msg = EmailMessage()
        msg["From"] = "sef@northshire-scp.example"
        msg["To"] = POL_LEAD
        msg["Subject"] = subject
        msg["Date"] = "Mon, 05 Jan 2026 09:00:00 +0000"
        msg.set_content(f"Body of message {i}: MAA-2026-001")
        (folder / f"20260105T090000-{i:06d}.eml").write_bytes(bytes(msg))
    page = c.get("/mail")
    assert page.status_code == 200
    assert 'href="/mail/1">First &lt;one&gt;' in page.text
    assert page.text.index('href="/mail/2"') < page.text.index('href="/mail/1"')  # newest first
    one = c.get("/mail/1")
    assert one.status_code == 200
    assert "Body of message 1: MAA-2026-001" in one.text
    assert POL_LEAD in one.text
    assert c.get("/mail/3").status_code == 404
    assert c.get("/mail/0").status_code == 404
    assert site.agency(POL_LEAD).get("/mail/1").status_code == 403


# ---------------------------------------------------------------------- agencies
AGENCY_HEADER = "code,name,sector,lead_name,lead_email,manager_name,manager_email\n"
FIRE_CHIEF = ",Chief Fire,chief@fire.northshire.example"


def test_agencies_admin_lists_contacts_and_imports_csv(site: Site) -> None:
    from sef_workflow.models import Agency

    c = site.staff(COORDINATOR.id)
    page = c.get("/agencies")
    assert page.status_code == 200
    assert "Northshire Constabulary (fictional)" in page.text
    assert POL_LEAD in page.text
    assert 'enctype="multipart/form-data"' in page.text
    before = queries.count(site.service.db, Agency)

    def upload(text: str, client: TestClient = c, csrf: str | None = None) -> httpx.Response:
        return client.post(
            "/agencies/import",
            data={"csrf_token": csrf if csrf is not None else csrf_of(page.text)},
            files={"file": ("agencies.csv", text.encode(), "text/csv")},
        )

    # every bad row is listed; nothing is imported
    bad = AGENCY_HEADER + (
        f"FIRE,Northshire Fire (fictional),police,Gale Lead,lead@fire.northshire.example{FIRE_CHIEF}\n"
        "BAD!,Bad code,police,X Lead,x@example.org\n"
        "NOEMAIL,No email,police,Y Lead,not-an-email\n"
    )
    r = upload(bad)
    assert r.status_code == 422
    assert "There is a problem" in r.text
    assert "2 bad rows, nothing imported." in r.text
    assert re.search(r'<li><a href="#file">row 3: code', r.text)
    assert re.search(r'<li><a href="#file">row 4: lead_email', r.text)
    assert queries.count(site.service.db, Agency) == before
    r = upload(
        AGENCY_HEADER
        + f"POL2,Northshire Constabulary (fictional),police,Z,z@x.example{FIRE_CHIEF}\n"
    )
    assert r.status_code == 422
    assert "duplicate name" in r.text
    assert queries.count(site.service.db, Agency) == before
    r = c.post("/agencies/import", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 422
    assert "Choose a CSV file" in r.text
    r = upload(AGENCY_HEADER.encode("utf-16").decode("latin-1"))
    assert r.status_code == 422
    # forged CSRF, a manager and an agency are refused, and nothing changes
    good = AGENCY_HEADER + (
        f"FIRE,Northshire Fire (fictional),police,Gale Lead,lead@fire.northshire.example{FIRE_CHIEF}\n"
    )
    assert upload(good, csrf="forged").status_code == 403
    manager = site.staff(MANAGER.id)
    assert upload(good, manager, token(manager)).status_code == 403
    pol = site.agency(POL_LEAD)
    assert upload(good, pol, token(pol, "/portal")).status_code == 403
    assert queries.count(site.service.db, Agency) == before
    # a good file is imported in one go
    r = upload(good)
    assert r.status_code == 303
    assert r.headers["location"] == "/agencies?created=1&updated=0"
    page = c.get(r.headers["location"])
    assert "1 created, 0 updated" in page.text
    assert "lead@fire.northshire.example" in page.text
    assert queries.count(site.service.db, Agency) == before + 1
    admin = site.staff(ADMIN)
    assert "Northshire Fire (fictional)" in admin.get("/agencies").text


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
    "/outbox",
    "/outbox?status=failed",
    "/outbox/{email}",
    "/mail",
    "/agencies",
    "/directory/log",
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
#: open to anyone, signed in or not: asking for a sign-in link, and a link's page (which
#: changes nothing; an unknown link is refused)
SIGN_IN_PAGES = {
    "/login": 200,
    "/login/email": 200,
    "/login/email?next=/tasks/{pol}": 200,
    "/login/link/not-a-token": 403,
}
EXPECTED: dict[str, dict[str, int]] = {
    role: pages | SIGN_IN_PAGES
    for role, pages in {
        "anonymous": {p: 401 if p.startswith("/api/") else 303 for p in PAGES},
        "coordinator": STAFF_OK,
        "manager": STAFF_OK | {"/agencies": 403},
        "admin": STAFF_OK,
        "agency POL": POL_OK,
    }.items()
}


def test_every_route_as_each_role(site: Site) -> None:
    ref, _c, tasks = audit_with_returns(site)
    email = fail_email(site).id
    clients = {
        "anonymous": site.client(),
        "coordinator": site.staff(COORDINATOR.id),
        "manager": site.staff(MANAGER.id),
        "admin": site.staff(ADMIN),
        "agency POL": site.agency(POL_LEAD),
    }
    for role, expected in EXPECTED.items():
        for page, status in expected.items():
            path = page.format(ref=ref, pol=tasks["POL"], icb=tasks["ICB"], email=email)
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
    page = manager.get("/manager/overdue?group=activity")
    assert f"<h3>{ref}: " in page.text  # grouped by activity, not agency
    assert "<h3>Northshire Constabulary (fictional)</h3>" not in page.text
    dashboard = manager.get("/")
    assert "Overdue by agency" in dashboard.text
    assert "/manager/overdue?agency=ICB" in dashboard.text

    r = manager.get("/manager/overdue.csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 3
    assert {row["Agency code"] for row in rows} == {"POL", "ICB", "CSC"}
    assert "Northshire Constabulary (fictional)" in {row["Agency"] for row in rows}
    assert {row["Status"] for row in rows} == {"Overdue"}
    assert {row["Activity"] for row in rows} == {ref}
    assert {row["Kind of activity"] for row in rows} == {"Multi-agency themed audit"}
    assert {row["State"] for row in rows} == {"Requested"}
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["Due date (YYYY-MM-DD)"]) for row in rows)
    assert all(
        re.fullmatch(r"[A-Z][a-z]+day \d{1,2} [A-Z][a-z]+ \d{4}", row["Due"]) for row in rows
    )
    rows = list(csv.DictReader(io.StringIO(manager.get("/manager/overdue.csv?agency=ICB").text)))
    assert [int(row["Task number"]) for row in rows] == [tasks["ICB"]]
    assert site.agency(POL_LEAD).get("/manager/overdue.csv").status_code == 403


def test_overdue_page_has_a_brag_chart_with_a_text_table(site: Site) -> None:
    svc = site.service
    plan = svc.open_activity(COORDINATOR, "action_plan", "Neglect actions", ["POL", "ICB"])
    ref = plan.activity.ref
    action = {"description": "Train staff", "lead_name": "Avery", "target_date": "2026-03-31"}
    ids = []
    for code in ("POL", "POL", "ICB", "ICB"):
        outcome = svc.add_task(COORDINATOR, ref, "action", code, action)
        ids.append(outcome.created_tasks[0].id)
    for task_id, brag in zip(ids[:3], ("green", "red", "red"), strict=True):
        svc.fire_task(COORDINATOR, task_id, "update_progress", {"brag": brag, "progress_note": "x"})
    manager = site.staff(MANAGER.id)
    page = manager.get("/manager/overdue")
    assert page.status_code == 200
    # the chart needs no script: the page has only the site's small enhancements (app.js)
    assert re.findall(r"<script[^>]*>", page.text) == ['<script src="/static/app.js" defer>']
    svg = re.search(r"<svg[^>]*>", page.text)
    assert svg is not None
    assert 'role="img"' in svg.group(0)
    assert (
        'aria-label="Bar chart of 4 open action-plan actions by BRAG status: blue 0, '
        'green 1, amber 0, red 2, not rated 1"' in svg.group(0)
    )
    table = page.text[page.text.index('class="table brag-table"') :]
    table = table[: table.index("</table>")]
    cells = re.findall(r"</span> (\w[\w ]*)</th><td class=\"numeric\">(\d+)</td>", table)
    assert cells == [
        ("Blue", "0"),
        ("Green", "1"),
        ("Amber", "0"),
        ("Red", "2"),
        ("Not rated", "1"),
    ]
    # the chart follows the agency filter, and is not shown for another kind of activity
    page = manager.get("/manager/overdue?agency=ICB")
    assert "Bar chart of 2 open action-plan actions" in page.text
    assert "red 1, not rated 1" in page.text
    assert "<svg" not in manager.get("/manager/overdue?workflow=themed_audit").text
    # a closed action no longer counts
    svc.fire_task(COORDINATOR, ids[3], "withdraw", reason="merged")
    assert "Bar chart of 3 open" in manager.get("/manager/overdue").text


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


def test_agency_updates_an_action_and_a_manager_signs_it_off(site: Site) -> None:
    svc = site.service
    plan = svc.open_activity(COORDINATOR, "action_plan", "Action plan (fictional)", ["POL"])
    ref = plan.activity.ref
    (action,) = svc.add_task(
        COORDINATOR,
        ref,
        "action",
        "POL",
        {
            "description": "Invite health to every strategy discussion",
            "lead_name": "Police safeguarding lead (fictional)",
            "target_date": "2026-03-31",
        },
    ).created_tasks
    assert action.id is not None
    c = site.agency(POL_LEAD)
    assert f"/tasks/{action.id}" in c.get("/portal").text  # the portal lists actions too

    def post(client: TestClient, trigger: str, **fields: str) -> httpx.Response:
        page = client.get(f"/tasks/{action.id}")
        version = svc.get_task(action.id or 0)[0].version
        data = {
            "csrf_token": csrf_of(page.text),
            "trigger": trigger,
            "expected_version": str(version),
        }
        data |= {f"in_{k}": v for k, v in fields.items()}
        return client.post(f"/tasks/{action.id}/fire", data=data)

    assert post(c, "update_progress", brag="green", progress_note="On track").status_code == 303
    assert (
        post(
            c, "submit_completion", evidence_of_completion="Health attended 9 of 10 discussions"
        ).status_code
        == 303
    )
    assert (
        post(
            c, "record_impact", evidence_of_impact="Earlier health information in decisions"
        ).status_code
        == 303
    )
    task = svc.get_task(action.id)[0]
    assert (task.state, task.data["brag"]) == ("completion_submitted", "green")
    manager = site.staff(MANAGER.id)
    assert post(manager, "sign_off").status_code == 303
    assert svc.get_task(action.id)[0].state == "signed_off"
    timeline = site.staff(COORDINATOR.id).get(f"/activities/{ref}").text
    assert "Email “Action updated” to " in timeline  # the coordinator was told
