"""Sign-in links minted when an email is handed to the mail server, against a real SMTP server
(tests/smtpd.py) on SQLite and PostgreSQL.

The outbox keeps an agency email with a link that signs nobody in; the message the server
receives carries a fresh single-use link whose hash is stored with the email it went in and
where it lands. A retry sends a new link and the earlier one no longer exists; the lead and
the deputy each get their own message and link; every link issued or used is in the
directory log; looking at a link changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from sef_workflow import directory_log
from sef_workflow.access import (
    LinkRequest,
    mint_for_messages,
    neutral_link,
    peek_login_link,
    token_hash,
    use_login_link,
)
from sef_workflow.app import build_notifier
from sef_workflow.clock import FakeClock
from sef_workflow.config import load_settings
from sef_workflow.errors import PermissionDenied
from sef_workflow.models import Agency, DirectoryEvent, LoginLink, Notification
from sef_workflow.notify.delivery import Delivery
from sef_workflow.notify.smtp import SmtpSender
from sef_workflow.service import Service

from .conftest import COORDINATOR
from .smtpd import Received, ScriptedSmtpServer

BASE = "http://127.0.0.1:8000"
FROM = "business.unit@northshire-scp.example"
LEAD = "lead@police.northshire.example"
DEPUTY = "deputy@police.northshire.example"
LIVE = re.compile(r"http://127\.0\.0\.1:8000/login/link/([A-Za-z0-9_-]+)(\S*)")


@pytest.fixture
def smtp() -> Iterator[ScriptedSmtpServer]:
    with ScriptedSmtpServer() as server:
        yield server


def worker(svc: Service, smtp: ScriptedSmtpServer, **kw: Any) -> Delivery:
    sender = SmtpSender("127.0.0.1", smtp.port, "none", "", "", 5.0, 2, local_hostname="localhost")
    return Delivery(svc.db, sender, svc.clock, from_addr=FROM, worker="worker-a", **kw)


def issue(svc: Service, codes: list[str]) -> str:
    """A themed audit whose tools are issued to ``codes``; agency emails carry sign-in links."""
    assert svc.notifier is not None
    svc.notifier.sign_in_links = True
    ref = svc.open_activity(
        COORDINATOR, "themed_audit", "Neglect audit (fictional)", codes, {"theme": "Neglect"}
    ).activity.ref
    svc.fire(COORDINATOR, ref, "sample_cases", {"sample_size": 3})
    svc.fire(COORDINATOR, ref, "issue_audit_tools")
    return ref


def rows(svc: Service) -> list[Notification]:
    with svc.db.read() as session:
        return list(session.exec(select(Notification).order_by(col(Notification.id))).all())


def links(svc: Service) -> list[LoginLink]:
    with svc.db.read() as session:
        return list(session.exec(select(LoginLink)).all())


def events(svc: Service, kind: str) -> list[DirectoryEvent]:
    with svc.db.read() as session:
        return [e for e in directory_log.read(session) if e.kind == kind]


def bodies(m: Received) -> tuple[str, str]:
    text, html = m.message.get_body(("plain",)), m.message.get_body(("html",))
    assert text is not None
    assert html is not None
    return text.get_content(), html.get_content()


def token_in(m: Received) -> str:
    """The one sign-in token ``m`` carries, the same in its text and its HTML."""
    text, html = bodies(m)
    found = LIVE.findall(text)
    assert len(found) == 1, text
    token, rest = found[0]
    assert rest == ""  # the address carries the token only; where it lands is stored
    assert f'href="{BASE}/login/link/{token}"' in html
    assert "/login/email" not in text + html  # the neutral link was replaced, everywhere
    return str(token)


def to(smtp: ScriptedSmtpServer, address: str) -> list[Received]:
    return [m for m in smtp.received if m.rcpt_tos == (address,)]


# ----------------------------------------------------------------------------- hand-off
def test_the_outbox_keeps_a_neutral_link_and_the_server_gets_a_working_one(
    partnership: Service, smtp: ScriptedSmtpServer
) -> None:
    issue(partnership, ["POL"])
    before = {n.id: (n.text_body, n.html_body) for n in rows(partnership)}
    assert links(partnership) == []  # nothing minted while the email waits in the outbox

    report = worker(partnership, smtp).deliver_once()
    assert report.sent == 2

    stored = {link.token_hash: link for link in links(partnership)}
    for n in rows(partnership):
        assert n.status == "sent"
        assert (n.text_body, n.html_body) == before[n.id]  # the row never changes
        assert neutral_link(BASE, n.sign_in_next) in n.text_body
        assert "/login/link/" not in n.text_body + n.html_body
        [got] = to(smtp, n.to_addr)
        token = token_in(got)
        link = stored[token_hash(token)]
        assert (link.notification_id, link.next_url) == (n.id, f"/tasks/{n.task_id}")
        assert (link.email, link.agency_id) == (n.to_addr, n.agency_id)
        assert link.used_at is None
        assert token not in str([(x.token_hash, x.email) for x in stored.values()])
    issued = events(partnership, "link_issued")
    assert sorted(e.subject for e in issued) == [DEPUTY, LEAD]
    assert {(e.actor, e.actor_role) for e in issued} == {("system", "system")}
    assert all(e.after is not None and e.after["lands_on"].startswith("/tasks/") for e in issued)


def test_a_retry_sends_a_new_link_and_the_first_no_longer_exists(
    partnership: Service, smtp: ScriptedSmtpServer, clock: FakeClock
) -> None:
    issue(partnership, ["ICB"])  # a lead and no deputy: one email
    [n] = rows(partnership)
    smtp.fail_next(1)  # 451 at the end of DATA: the server has seen the message, not taken it
    delivery = worker(partnership, smtp)

    assert delivery.deliver_once().retrying == 1
    [first_link] = links(partnership)
    assert first_link.notification_id == n.id
    clock.advance(timedelta(minutes=5))
    assert delivery.deliver_once().sent == 1

    [second] = smtp.received
    token = token_in(second)
    [now_stored] = links(partnership)  # the first link was deleted with the second's minting
    assert now_stored.token_hash == token_hash(token) != first_link.token_hash
    assert peek_login_link(partnership.db, token, clock.now()).status == "valid"
    assert len(events(partnership, "link_issued")) == 2


def test_a_used_link_is_kept_when_the_email_is_sent_again(
    partnership: Service, smtp: ScriptedSmtpServer, clock: FakeClock
) -> None:
    issue(partnership, ["ICB"])
    [n] = rows(partnership)
    assert n.id is not None
    delivery = worker(partnership, smtp)
    assert delivery.deliver_once().sent == 1
    used = use_login_link(partnership.db, token_in(smtp.received[0]), clock.now())
    # a worker that died after sending sends the row again: a fresh link, the spent one kept
    again = delivery.hand_off([n])
    assert LIVE.search(again[0].text) is not None
    kept = {link.token_hash: link.used_at for link in links(partnership)}
    assert len(kept) == 2
    assert kept[used.token_hash] == clock.now()


def test_lead_and_deputy_each_receive_their_own_message_and_link(
    partnership: Service, smtp: ScriptedSmtpServer
) -> None:
    issue(partnership, ["POL"])
    assert worker(partnership, smtp).deliver_once().sent == 2
    [lead], [deputy] = to(smtp, LEAD), to(smtp, DEPUTY)
    assert len(smtp.received) == 2
    for m, address in ((lead, LEAD), (deputy, DEPUTY)):
        assert m.message["To"] == address
        assert m.message["Cc"] is None
    assert lead.message_id != deputy.message_id
    lead_token, deputy_token = token_in(lead), token_in(deputy)
    assert lead_token != deputy_token
    now = partnership.clock.now()
    assert peek_login_link(partnership.db, lead_token, now).email == LEAD
    assert peek_login_link(partnership.db, deputy_token, now).email == DEPUTY
    assert "Dear Deputy Police," in bodies(deputy)[0]


def test_a_batch_mints_with_the_same_few_statements_however_large(
    partnership: Service, smtp: ScriptedSmtpServer
) -> None:
    for _ in range(3):
        issue(partnership, ["POL", "ICB", "CSC"])  # 5 agency emails each
    all_rows = rows(partnership)
    assert len(all_rows) == 15
    delivery = worker(partnership, smtp)
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    counts = []
    engine = partnership.db.write_engine
    for batch in (all_rows[:2], all_rows[2:]):
        seen.clear()
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            delivery.hand_off(batch)
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
        writes = [s for s in seen if s.lstrip().upper().startswith(("INSERT", "DELETE"))]
        counts.append(len(writes))
    assert counts == [3, 3]  # delete earlier links, insert the links, insert their records


# ----------------------------------------------------------------------------- lifetime
def test_link_hours_is_the_lifetime_of_every_link_made(
    partnership: Service, smtp: ScriptedSmtpServer, tmp_path: Path
) -> None:
    env = {"SEF_WEB_LINK_HOURS": "5", "SEF_SMTP_HOST": "127.0.0.1", "SEF_SMTP_PORT": str(smtp.port)}
    loaded = replace(load_settings(environ=env), root=tmp_path)
    notifier = build_notifier(loaded, partnership.calendar)
    assert notifier.link_lifetime == timedelta(hours=5)
    assert notifier.sign_in_links
    assert partnership.notifier is not None
    partnership.notifier.link_lifetime = notifier.link_lifetime
    issue(partnership, ["ICB"])
    [n] = rows(partnership)
    assert "works for 5 hours" in n.text_body

    delivery = Delivery.from_settings(partnership.db, loaded, partnership.clock)
    assert delivery.link_lifetime == timedelta(hours=5)
    assert delivery.deliver_once().sent == 1
    [link] = links(partnership)
    assert link.expires_at - link.created_at == timedelta(hours=5)
    assert "works for 5 hours" in bodies(smtp.received[0])[0]


# ----------------------------------------------------------------------------- looking, using
def _mint(svc: Service, next_url: str = "/portal") -> str:
    with svc.db.write() as session:
        agency = session.exec(select(Agency).where(Agency.code == "ICB")).one()
        assert agency.id is not None
        n = Notification(
            dedupe_key=f"test:peek:{next_url}",
            message_id="<peek@northshire-scp.example>",
            agency_id=agency.id,
            template="sign_in_link",
            recipient_role="agency",
            to_addr=agency.lead_email,
            subject="Your sign-in link",
            text_body="fictional",
            html_body="fictional",
            next_attempt_at=svc.clock.now(),
            created_at=svc.clock.now(),
            sign_in_next=next_url,
        )
        session.add(n)
        session.flush()
        assert n.id is not None
        wanted = [LinkRequest(n.id, agency.lead_email, agency.id, next_url)]
        return mint_for_messages(session, wanted, svc.clock.now(), timedelta(hours=2))[n.id]


def _snapshot(svc: Service) -> tuple[list[tuple[Any, ...]], int]:
    with svc.db.read() as session:
        stored = [
            (x.token_hash, x.email, x.used_at, x.expires_at)
            for x in session.exec(select(LoginLink).order_by(col(LoginLink.token_hash)))
        ]
        count = session.execute(sa.select(sa.func.count()).select_from(DirectoryEvent)).scalar_one()
    return stored, int(count)


def test_peeking_at_a_link_changes_nothing(partnership: Service, clock: FakeClock) -> None:
    token = _mint(partnership, "/tasks/7")
    before = _snapshot(partnership)
    now = clock.now()
    for _ in range(3):  # a scanner's GET and HEAD, then the person's GET
        state = peek_login_link(partnership.db, token, now)
        assert (state.status, state.email, state.next_url) == (
            "valid",
            "lead@icb.northshire.example",
            "/tasks/7",
        )
    assert peek_login_link(partnership.db, token, now + timedelta(hours=2)).status == "expired"
    assert peek_login_link(partnership.db, "not-a-token", now).status == "unknown"
    assert peek_login_link(partnership.db, "not-a-token", now).email is None
    assert _snapshot(partnership) == before
    use_login_link(partnership.db, token, now)
    assert peek_login_link(partnership.db, token, now).status == "used"


def test_using_a_link_spends_it_once_and_records_it(partnership: Service, clock: FakeClock) -> None:
    token = _mint(partnership, "/tasks/7")
    now = clock.now()
    link = use_login_link(partnership.db, token, now)
    assert (link.email, link.next_url) == ("lead@icb.northshire.example", "/tasks/7")
    with pytest.raises(PermissionDenied, match="already been used"):
        use_login_link(partnership.db, token, now)
    [used] = events(partnership, "link_used")
    assert (used.actor, used.actor_role, used.subject) == (link.email, "agency", link.email)
    assert used.agency_id == link.agency_id
    assert used.after == {"lands_on": "/tasks/7"}
    expired = _mint(partnership, "/portal")
    with pytest.raises(PermissionDenied, match="expired"):
        use_login_link(partnership.db, expired, now + timedelta(hours=3))
    with pytest.raises(PermissionDenied, match="not valid"):
        use_login_link(partnership.db, "not-a-token", now)
    assert len(events(partnership, "link_used")) == 1  # a refusal records nothing


# ----------------------------------------------------------------------------- asked for
def test_a_link_asked_for_is_queued_once_a_minute_and_minted_at_hand_off(
    partnership: Service, smtp: ScriptedSmtpServer, clock: FakeClock
) -> None:
    notifier = partnership.notifier
    assert notifier is not None
    with partnership.db.write() as session:
        police = session.exec(select(Agency).where(Agency.code == "POL")).one()
        ask = {"email": DEPUTY.upper(), "agency": police, "next_url": "/tasks/3"}
        assert notifier.queue_sign_in_link(session, now=clock.now(), **ask)
        assert not notifier.queue_sign_in_link(session, now=clock.now(), **ask)
        later = clock.now() + timedelta(seconds=59)
        assert not notifier.queue_sign_in_link(session, now=later, **ask)
    [n] = rows(partnership)
    assert (n.template, n.to_addr, n.recipient_role) == ("sign_in_link", DEPUTY, "agency_deputy")
    assert (n.sign_in_next, n.activity_id, n.task_id) == ("/tasks/3", None, None)
    assert n.subject == "Your sign-in link to the secure application"
    assert neutral_link(BASE, "/tasks/3") in n.text_body
    assert "Dear Deputy Police," in n.text_body
    assert "works once, for 72 hours" in n.text_body
    assert "sign-in page" in n.text_body
    assert "works once, for 72 hours" in n.html_body

    assert worker(partnership, smtp).deliver_once().sent == 1
    token = token_in(smtp.received[0])
    assert peek_login_link(partnership.db, token, clock.now()).next_url == "/tasks/3"

    clock.advance(timedelta(seconds=61))
    with partnership.db.write() as session:
        police = session.exec(select(Agency).where(Agency.code == "POL")).one()
        assert notifier.queue_sign_in_link(
            session, email=LEAD, agency=police, next_url="//elsewhere.example", now=clock.now()
        )
    asked = [r for r in rows(partnership) if r.to_addr == LEAD]
    assert [(r.recipient_role, r.sign_in_next) for r in asked] == [("agency", "/portal")]
