"""Agencies' sign-in links through the web app, with their emails delivered to a real SMTP
server: opening a link (GET or HEAD, as a mail scanner does) changes nothing and shows what
it leads to; only "Continue" (a POST) spends it and signs in, as the address it was made
for; a used, expired or unknown link offers a new one in place; "Email me a sign-in link"
answers the same whether or not the address is known, and is limited; the mail catcher's
pages exist only while the catcher is the mail route."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import col, select

from sef_workflow import directory_log
from sef_workflow.app import App
from sef_workflow.clock import FakeClock
from sef_workflow.config import load_settings
from sef_workflow.models import LoginLink, Notification, WebSession
from sef_workflow.notify.delivery import deliver_due
from sef_workflow.service import Service
from sef_workflow.web import create_app

from .conftest import COORDINATOR
from .smtpd import Received, ScriptedSmtpServer

LEAD = "lead@police.northshire.example"
DEPUTY = "deputy@police.northshire.example"
ICB_LEAD = "lead@icb.northshire.example"
POLICE = "Northshire Constabulary (fictional)"
LINK_RE = re.compile(r"https?://[^\s\"'<>]*/login/link/[A-Za-z0-9_\-]+(?:\?[^\s\"'<>]*)?")
PRE_RE = re.compile(r'name="csrf_token" value="([^"]*)"')


@dataclass
class Site:
    """The partnership's web app, its emails delivered to a real SMTP server."""

    service: Service
    clock: FakeClock
    app: App
    web: FastAPI
    smtp: ScriptedSmtpServer | None = None
    clients: list[TestClient] = field(default_factory=list)

    def client(self) -> TestClient:
        c = TestClient(self.web, follow_redirects=False)
        self.clients.append(c)
        return c

    def deliver(self) -> list[Received]:
        """Hand every pending email to the SMTP server; the messages it got this time."""
        assert self.smtp is not None
        before = len(self.smtp.received)
        deliver_due(self.service.db, self.app.settings, self.clock, echo=lambda _line: None)
        return self.smtp.received[before:]


def site_for(service: Service, clock: FakeClock, root: Path, smtp_port: int | None) -> Site:
    """The web app over ``service``: mail to the SMTP server on ``smtp_port``, or to the
    embedded catcher (kept under ``root``) when it is None."""
    env = {"SEF_SMTP_HOST": "127.0.0.1", "SEF_SMTP_PORT": str(smtp_port)} if smtp_port else {}
    settings = replace(load_settings(environ=env), root=root)
    assert service.notifier is not None
    service.notifier.sign_in_links = True
    app = App(
        settings=settings,
        db=service.db,
        registry=service.registry,
        calendar=service.calendar,
        service=service,
        notifier=service.notifier,
    )
    web = create_app(app, secret_key="test-secret", upload_dir=root / "uploads")
    return Site(service, clock, app, web)


@pytest.fixture
def site(partnership: Service, clock: FakeClock, tmp_path: Path) -> Iterator[Site]:
    with ScriptedSmtpServer() as smtp:
        s = site_for(partnership, clock, tmp_path, smtp.port)
        s.smtp = smtp
        yield s
        for c in s.clients:
            c.close()


def links_to(messages: list[Received], address: str) -> list[str]:
    """The sign-in links (path and query) in the messages addressed to ``address``."""
    found = []
    for m in messages:
        if address in m.rcpt_tos:
            body = m.message.get_body(preferencelist=("plain",))
            assert body is not None
            found += [httpx.URL(u).raw_path.decode() for u in LINK_RE.findall(body.get_content())]
    return found


def issue_audit(site: Site) -> dict[str, int]:
    """A themed audit whose tools are issued to POL and ICB; their return task by code."""
    svc = site.service
    ref = svc.open_activity(
        COORDINATOR, "themed_audit", "Neglect audit (fictional)", ["POL", "ICB"], {"theme": "x"}
    ).activity.ref
    svc.fire(COORDINATOR, ref, "sample_cases", {"sample_size": 4})
    svc.fire(COORDINATOR, ref, "issue_audit_tools")
    _a, _wf, agencies, tasks = svc.get_activity(ref)
    code = {a.id: a.code for a in agencies}
    return {code[t.agency_id]: t.id for t in tasks if t.agency_id and t.id}


def pre_csrf(html: str) -> str:
    match = PRE_RE.search(html)
    assert match, "no form token on the page"
    return match.group(1)


def confirm(c: TestClient, link: str) -> httpx.Response:
    """Open ``link`` and press Continue."""
    page = c.get(link)
    assert page.status_code == 200, page.text
    path = httpx.URL(link).path
    return c.post(path, data={"csrf_token": pre_csrf(page.text)})


def link_rows(site: Site) -> list[LoginLink]:
    with site.service.db.read() as s:
        return list(s.exec(select(LoginLink)).all())


def sessions(site: Site) -> int:
    with site.service.db.read() as s:
        return len(s.exec(select(WebSession)).all())


def directory_kinds(site: Site) -> list[str]:
    with site.service.db.read() as s:
        return [e.kind for e in directory_log.read(s)]


# ---------------------------------------------------------------------- following a link
def test_opening_a_link_changes_nothing_and_continue_signs_in(site: Site) -> None:
    tasks = issue_audit(site)
    sent = site.deliver()
    [link] = links_to(sent, LEAD)
    # a mail scanner fetches it, more than once, with GET and HEAD
    scanner = site.client()
    assert scanner.head(link).status_code == 200
    for _ in range(3):
        page = scanner.get(link)
        assert page.status_code == 200
    assert all(row.used_at is None for row in link_rows(site))
    assert sessions(site) == 0
    assert "link_used" not in directory_kinds(site)
    # the page names what it opens, and only a person's click submits its one form
    assert POLICE in page.text
    assert re.search(r"This link opens <strong>MAA-\d{4}-\d{3}: [^<]+</strong>", page.text)
    assert ">Continue</button>" in page.text
    assert page.text.count("<form") == 1
    for forbidden in ("<script", 'http-equiv="refresh"', "autofocus", "onload"):
        assert forbidden not in page.text.lower()
    assert 'method="post"' in page.text
    # the person presses Continue: signed in as the lead, on the task
    person = site.client()
    r = confirm(person, link)
    assert r.status_code == 303
    assert r.headers["location"] == f"/tasks/{tasks['POL']}"
    assert person.get(r.headers["location"]).status_code == 200
    assert person.get("/api/me").json()["id"] == LEAD
    assert "link_used" in directory_kinds(site)
    # the link is spent: opening it again says so and offers a new one in place
    again = site.client().get(link)
    assert again.status_code == 403
    assert "already been used" in again.text
    assert 'action="/login/email"' in again.text
    assert f'value="{LEAD}"' in again.text
    assert '/login"' not in again.text.replace('action="/login/email"', "")


def test_continue_needs_the_pages_own_token(site: Site) -> None:
    issue_audit(site)
    [link] = links_to(site.deliver(), LEAD)
    c = site.client()
    c.get(link)
    r = c.post(httpx.URL(link).path, data={"csrf_token": "forged"})
    assert r.status_code == 403
    fresh = site.client()  # no cookie from the page at all
    assert fresh.post(httpx.URL(link).path, data={}).status_code == 403
    assert all(row.used_at is None for row in link_rows(site))
    assert confirm(site.client(), link).status_code == 303


def test_the_deputy_gets_their_own_link_and_acts_as_themselves(site: Site) -> None:
    tasks = issue_audit(site)
    sent = site.deliver()
    lead_links, deputy_links = links_to(sent, LEAD), links_to(sent, DEPUTY)
    assert len(lead_links) == 1
    assert len(deputy_links) == 1
    assert lead_links != deputy_links
    deputy = site.client()
    r = confirm(deputy, deputy_links[0])
    assert r.headers["location"] == f"/tasks/{tasks['POL']}"
    me = deputy.get("/api/me").json()
    assert me["id"] == DEPUTY
    # the lead's own link still works for the lead
    lead = site.client()
    confirm(lead, lead_links[0])
    assert lead.get("/api/me").json()["id"] == LEAD


def test_expired_and_unknown_links_offer_a_new_one(site: Site) -> None:
    issue_audit(site)
    [link] = links_to(site.deliver(), ICB_LEAD)
    site.clock.advance(timedelta(hours=site.app.settings.settings.web.link_hours, minutes=1))
    r = site.client().get(link)
    assert r.status_code == 403
    assert "expired" in r.text
    assert f'value="{ICB_LEAD}"' in r.text
    assert "Email me a new sign-in link" in r.text
    unknown = site.client().get("/login/link/not-a-token")
    assert unknown.status_code == 403
    assert "not one this site made" in unknown.text
    assert 'action="/login/email"' in unknown.text
    assert site.client().head("/login/link/not-a-token").status_code == 403


# ---------------------------------------------------------------------- asking for a link
def sign_in_emails(site: Site) -> list[Notification]:
    with site.service.db.read() as s:
        return list(
            s.exec(select(Notification).where(col(Notification.activity_id).is_(None))).all()
        )


def ask(c: TestClient, email: str, next_url: str = "/portal") -> httpx.Response:
    form = c.get(f"/login/email?next={next_url}")
    assert form.status_code == 200
    return c.post(
        "/login/email",
        data={"email": email, "next": next_url, "csrf_token": pre_csrf(form.text)},
    )


def test_sign_in_page_offers_to_email_a_link(site: Site) -> None:
    page = site.client().get("/login")
    assert 'href="/login/email"' in page.text
    assert "Agency contacts: email me a sign-in link" in page.text


def test_asking_for_a_link_answers_the_same_whoever_asks(site: Site) -> None:
    tasks = issue_audit(site)
    site.deliver()
    target = f"/tasks/{tasks['POL']}"
    known = ask(site.client(), DEPUTY, target)
    unknown = ask(site.client(), "nobody@police.northshire.example", target)
    staff = ask(site.client(), COORDINATOR.id, target)
    assert known.status_code == unknown.status_code == staff.status_code == 200
    for r, address in (
        (known, DEPUTY),
        (unknown, "nobody@police.northshire.example"),
        (staff, COORDINATOR.id),
    ):
        assert "Check your email" in r.text
        assert r.text.replace(address, "ADDRESS") == known.text.replace(DEPUTY, "ADDRESS")
    # only the deputy's asking queued an email, and the log names it
    queued = sign_in_emails(site)
    assert [n.to_addr for n in queued] == [DEPUTY]
    with site.service.db.read() as s:
        asked = [e for e in directory_log.read(s) if e.kind == "link_requested"]
    assert [e.subject for e in asked] == [DEPUTY]
    # the stored copy holds no link that signs in; the message handed over does
    assert "/login/link/" not in queued[0].text_body
    [link] = links_to(site.deliver(), DEPUTY)
    person = site.client()
    r = confirm(person, link)
    assert r.headers["location"] == target
    assert person.get("/api/me").json()["id"] == DEPUTY


def test_asking_checks_the_address(site: Site) -> None:
    c = site.client()
    form = c.get("/login/email")
    for typed, message in (("", "Enter your email address"), ("not an address", "valid")):
        r = c.post("/login/email", data={"email": typed, "csrf_token": pre_csrf(form.text)})
        assert r.status_code == 422
        assert message in r.text
    assert c.post("/login/email", data={"email": LEAD}).status_code == 403  # no form token
    assert sign_in_emails(site) == []


def test_asking_is_limited_per_address_and_per_client(site: Site) -> None:
    def from_client(n: int) -> TestClient:
        c = TestClient(site.web, follow_redirects=False, client=(f"192.0.2.{n}", 50000))
        site.clients.append(c)
        return c

    # one address asked for again and again, from many places, a minute apart
    answers, queued = set(), []
    for i in range(12):
        answers.add(ask(from_client(i), LEAD).text)
        queued.append(len(sign_in_emails(site)))
        site.clock.advance(timedelta(seconds=61))
    assert len(answers) == 1  # the same answer, limited or not
    assert queued[0] == 1
    assert 1 < queued[-1] < 12
    assert queued[-1] == queued[-2]  # limited now: nothing more is sent
    # one client trying many addresses is limited too
    client = from_client(100)
    before = len(sign_in_emails(site))
    for i in range(40):
        ask(client, f"someone{i}@police.northshire.example")
    assert ask(client, ICB_LEAD).status_code == 200
    assert len(sign_in_emails(site)) == before
    assert ask(from_client(101), ICB_LEAD).status_code == 200  # another client is not
    assert len(sign_in_emails(site)) == before + 1
    # a window later it is open again
    site.clock.advance(timedelta(hours=1))
    ask(client, DEPUTY)
    assert len(sign_in_emails(site)) == before + 2


# ---------------------------------------------------------------------- the mail catcher
def test_mail_catcher_pages_only_while_it_is_the_mail_route(
    partnership: Service, clock: FakeClock, tmp_path: Path
) -> None:
    from sef_workflow.service import Actor
    from sef_workflow.web import set_password

    partnership.add_staff(Actor.system(), "Ada Admin", "admin@northshire-scp.example", "admin")
    set_password(partnership.db, "admin@northshire-scp.example", "admin-pass-12345", clock.now())

    def signed_in(s: Site) -> TestClient:
        c = s.client()
        form = c.get("/login")
        r = c.post(
            "/login",
            data={
                "email": "admin@northshire-scp.example",
                "password": "admin-pass-12345",
                "csrf_token": pre_csrf(form.text),
                "next": "/",
            },
        )
        assert r.status_code == 303
        return c

    catcher = signed_in(site_for(partnership, clock, tmp_path, None))
    page = catcher.get("/mail")
    assert page.status_code == 200
    assert "stands in for the inboxes of the people the emails are for" in page.text
    assert 'href="/mail"' in catcher.get("/outbox").text
    with ScriptedSmtpServer() as smtp:
        real = signed_in(site_for(partnership, clock, tmp_path, smtp.port))
        assert real.get("/mail").status_code == 404
        assert real.get("/mail/1").status_code == 404
        outbox = real.get("/outbox")
        assert outbox.status_code == 200
        assert 'href="/mail' not in outbox.text
        assert 'href="/mail' not in real.get("/").text
