"""No copy the partnership keeps of any email signs anyone in.

The test partnership (on SQLite and PostgreSQL) and the demo partnership (SQLite) deliver
their emails to a real SMTP server. Every copy kept is then read: the outbox rows, the
outbox pages and each email's page, ``sef outbox show --body``, every activity's page and
evidence pack (its ``.eml`` files and its index), and the log records written meanwhile.
Every link in them is followed from a fresh client with no cookies, any form it lands on is
submitted, and the client is never signed in. The messages the SMTP server received do
carry working links, so the test would catch a return to keeping them.
"""

from __future__ import annotations

import html
import io
import logging
import re
import zipfile
from collections.abc import Iterable
from datetime import datetime, timedelta
from email import message_from_bytes
from email.message import Message
from email.policy import default
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from sef_workflow.app import build
from sef_workflow.calendar import LONDON
from sef_workflow.clock import FakeClock
from sef_workflow.config import load_settings
from sef_workflow.demo import load_demo
from sef_workflow.evidence import evidence_pack
from sef_workflow.models import Activity, Notification
from sef_workflow.service import Actor, Service
from sef_workflow.web import set_password

from .conftest import COORDINATOR, ROOT, answer_form, confirm_sign_in_link
from .smtpd import Received, ScriptedSmtpServer
from .test_cli import Cli
from .test_sign_in_links import LEAD, Site, pre_csrf, site_for

URL_RE = re.compile(r"https?://[^\s\"'<>()\]]+")
FORM_RE = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)
INPUT_RE = re.compile(r"<input\b([^>]*)>", re.I)
ATTR_RE = re.compile(r'(\w[\w-]*)="([^"]*)"')
STAFF_PASSWORD = "coordinator-pass-1"


# ---------------------------------------------------------------------- reading the copies
def urls_in(text: str) -> set[str]:
    return {u.rstrip(".,;") for u in URL_RE.findall(html.unescape(text))}


def message_texts(msg: Message) -> list[str]:
    """Every text part of a message (bodies, the calendar invite), decoded."""
    texts = []
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                texts.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return texts


def kept_copies(
    web: TestClient, db_rows: list[Notification], packs: Iterable[bytes], cli: Cli, shown: int
) -> dict[str, str]:
    """Every copy the partnership keeps of its emails, by where it was read (``sef outbox
    show`` for the first ``shown`` agency emails)."""
    copies: dict[str, str] = {}
    agency_rows = [n.id for n in db_rows if n.sign_in_next is not None]
    for n in db_rows:
        copies[f"notification {n.id}"] = "\n".join(
            [n.subject, n.text_body, n.html_body or "", n.ics or ""]
        )
        copies[f"/outbox/{n.id}"] = web.get(f"/outbox/{n.id}").text
        if n.id in agency_rows[:shown]:
            copies[f"sef outbox show {n.id}"] = cli("outbox", "show", str(n.id), "--body")
    for status in ("", "pending", "sending", "sent", "failed", "cancelled"):
        copies[f"/outbox?status={status}"] = web.get(f"/outbox?status={status}").text
    for i, data in enumerate(packs):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for name in z.namelist():
                if name.endswith(".eml"):
                    msg = message_from_bytes(z.read(name), policy=default)
                    copies[f"pack {i} {name}"] = "\n".join(message_texts(msg))
                elif name.endswith((".html", ".json", ".csv", ".txt")):
                    copies[f"pack {i} {name}"] = z.read(name).decode("utf-8", "replace")
    return copies


# ---------------------------------------------------------------------- following links
def assert_never_signed_in(site: Site, url: str) -> None:
    """Follow ``url`` from a fresh client (GET, redirects on this site), submit every form
    the page it lands on has, as it stands; the client is never signed in."""
    c = site.client()
    target = httpx.URL(url)
    path = target.raw_path.decode()
    page = c.get(path)
    for _ in range(5):
        if page.status_code not in (301, 302, 303, 307) or "://" in page.headers["location"]:
            break
        page = c.get(page.headers["location"])
    for attrs, body in FORM_RE.findall(page.text):
        form = dict(ATTR_RE.findall(attrs))
        fields = {}
        for tag in INPUT_RE.findall(body):
            a = dict(ATTR_RE.findall(tag))
            if "name" in a:
                fields[a["name"]] = html.unescape(a.get("value", ""))
        action = html.unescape(form.get("action", path))
        if form.get("method", "get").lower() == "post":
            c.post(action, data=fields)
        else:
            c.get(action, params=fields)
    assert c.get("/api/me").status_code == 401, url
    portal = c.get("/portal")
    assert portal.status_code == 303, url
    assert portal.headers["location"].startswith("/login"), url
    home = c.get("/")
    assert home.status_code == 303, url


def check_every_copy(site: Site, copies: dict[str, str], logged: str) -> int:
    """No kept copy holds a working link; following every link in them signs nobody in.
    Returns how many distinct links were followed."""
    copies = {**copies, "log records": logged}
    for where, text in copies.items():
        assert "/login/link/" not in text, f"{where} keeps a sign-in link"
    base = site.app.settings.settings.partnership.base_url.rstrip("/")
    links = {u for text in copies.values() for u in urls_in(text) if u.startswith(base)}
    assert any("/login/email" in u for u in links)  # the agency emails' neutral link
    for url in sorted(links):
        assert_never_signed_in(site, url)
    return len(links)


def check_the_mail_server_got_working_links(site: Site, received: list[Received]) -> None:
    """The messages handed to the mail server carry sign-in links that work, once each."""
    live = sorted(
        {
            httpx.URL(u).raw_path.decode()
            for m in received
            for text in message_texts(m.message)
            for u in urls_in(text)
            if "/login/link/" in u
        }
    )
    assert live, "no message handed to the mail server carried a sign-in link"
    person = site.client()
    r = confirm_sign_in_link(person, live[0])
    assert r.status_code == 303
    assert person.get("/api/me").status_code == 200


def staff_client(site: Site, email: str, password: str) -> TestClient:
    c = site.client()
    form = c.get("/login")
    r = c.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": pre_csrf(form.text), "next": "/"},
    )
    assert r.status_code == 303, r.text
    return c


def packs_of(site: Site, now: datetime) -> list[bytes]:
    with site.service.db.read() as s:
        refs = [a.ref for a in s.exec(select(Activity)).all()]
    return [
        evidence_pack(
            site.service.db,
            ref,
            upload_dir=site.app.settings.root / "uploads",
            calendar=site.service.calendar,
            partnership="Northshire Safeguarding Children Partnership (fictional)",
            now=now,
        )
        for ref in refs
    ]


#: loggers of the SMTP server that stands in for the recipients' mail system
MAIL_SERVER_LOGGERS = ("mail.log",)


def partnership_log(caplog: pytest.LogCaptureFixture) -> str:
    """What the partnership's processes logged, at every level (not the mail server's)."""
    return "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith(MAIL_SERVER_LOGGERS)
    )


def notifications(site: Site) -> list[Notification]:
    with site.service.db.read() as s:
        return list(s.exec(select(Notification)).all())


# ---------------------------------------------------------------------- the test partnership
def test_no_copy_of_the_test_partnerships_emails_signs_anyone_in(
    partnership: Service,
    clock: FakeClock,
    tmp_path: Path,
    db_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    set_password(partnership.db, COORDINATOR.id, STAFF_PASSWORD, clock.now())
    with ScriptedSmtpServer() as smtp:
        site = site_for(partnership, clock, tmp_path, smtp.port)
        site.smtp = smtp
        try:
            svc = partnership
            ref = svc.open_activity(
                COORDINATOR,
                "themed_audit",
                "Neglect audit (fictional)",
                ["POL", "ICB", "CSC"],
                {"theme": "Neglect"},
            ).activity.ref
            svc.fire(COORDINATOR, ref, "sample_cases", {"sample_size": 4})
            svc.fire(COORDINATOR, ref, "issue_audit_tools")
            tasks = {t.agency_id: t for t in svc.get_activity(ref)[3] if t.agency_id}
            pol_id = svc.resolve_actor(LEAD).agency_id
            assert pol_id is not None
            pol = Actor(id=LEAD, role="agency", agency_id=pol_id)
            task_id = tasks[pol_id].id
            assert task_id is not None
            answer_form(svc, pol, task_id)
            svc.fire_task(pol, task_id, "submit", {"summary": "Returned (fictional)"})
            svc.fire_task(COORDINATOR, task_id, "send_back", reason="Add the missing cases")
            site.deliver()
            # an agency contact asks for a link; reminders fall due weeks later
            form = site.client().get("/login/email")
            site.client().post(
                "/login/email",
                data={"email": "deputy@csc.northshire.example", "csrf_token": pre_csrf(form.text)},
            )
            clock.advance(timedelta(days=21))
            svc.sweep()
            latest = site.deliver()
            assert smtp.received
            rows = notifications(site)
            assert len(rows) == len(smtp.received)
            web = staff_client(site, COORDINATOR.id, STAFF_PASSWORD)
            cli = Cli({"SEF_DATABASE_URL": db_url})
            copies = kept_copies(web, rows, packs_of(site, clock.now()), cli, len(rows))
            copies[f"/activities/{ref}"] = web.get(f"/activities/{ref}").text
            logged = partnership_log(caplog)
            assert check_every_copy(site, copies, logged) >= 2
            check_the_mail_server_got_working_links(site, latest)
        finally:
            for c in site.clients:
                c.close()


# ---------------------------------------------------------------------- the demo
def test_no_copy_of_the_demos_emails_signs_anyone_in(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with ScriptedSmtpServer() as smtp:
        config = tmp_path / "sef.toml"
        config.write_text(
            f'[database]\nurl = "sqlite:///{tmp_path / "demo.db"}"\n'
            f'[workflows]\ndirectory = "{ROOT / "workflows"}"\n'
            f'templates = "{ROOT / "notifications"}"\nforms = "{ROOT / "forms"}"\n'
            f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\n',
            encoding="utf-8",
        )
        clock = FakeClock(datetime(2026, 12, 1, 14, 0, tzinfo=LONDON))
        app = build(load_settings(config, environ={}), clock=clock)
        printed: list[str] = []
        try:
            load_demo(app, echo=printed.append)
            site = site_for(app.service, clock, tmp_path, smtp.port)
            site.smtp = smtp
            rows = notifications(site)
            assert len(smtp.received) == len(rows) > 50
            web = staff_client(site, "coordinator@northshire-scp.example", "northshire-demo")
            cli = Cli({"SEF_CONFIG": str(config)})
            copies = kept_copies(web, rows, packs_of(site, clock.now()), cli, 8)
            logged = partnership_log(caplog)
            assert check_every_copy(site, copies, logged) >= 2
            check_the_mail_server_got_working_links(site, smtp.received)
            # what the demo prints for the agency view works when followed literally
            [shown] = [line for line in printed if "agency view:" in line]
            [link] = [u for u in urls_in(shown) if "/login/link/" in u]
            agency = site.client()
            r = confirm_sign_in_link(agency, httpx.URL(link).raw_path.decode())
            assert r.status_code == 303
            assert agency.get(r.headers["location"]).status_code == 200
            for c in site.clients:
                c.close()
        finally:
            app.db.dispose()
