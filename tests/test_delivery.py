"""Delivery against real SMTP servers (aiosmtpd on 127.0.0.1) on SQLite and PostgreSQL.

Time is the FakeClock: backoff and leases pass by advancing it, never by sleeping.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar
from sqlmodel import col, func, select

from sef_workflow.clock import FakeClock
from sef_workflow.db import Database
from sef_workflow.errors import InvalidInput, NotFound
from sef_workflow.models import Agency, DeliveryAttempt, Notification
from sef_workflow.notify.catcher import MailCatcher, list_messages, read_message
from sef_workflow.notify.delivery import (
    Delivery,
    backoff,
    failed,
    message_id_for,
    retry,
)
from sef_workflow.notify.ics import deadline_invite
from sef_workflow.notify.outbox import insert_notification
from sef_workflow.notify.smtp import (
    Outgoing,
    RecordingSender,
    Result,
    SmtpSender,
    build_message,
)

from .smtpd import ScriptedSmtpServer

FROM = "business.unit@northshire-scp.example"
DOMAIN = "northshire-scp.example"
LEAD = "lead@police.northshire.example"
DEPUTY = "deputy@police.northshire.example"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


# ---------------------------------------------------------------------------- helpers
@pytest.fixture
def smtp() -> Iterator[ScriptedSmtpServer]:
    """A scripted SMTP server, up."""
    with ScriptedSmtpServer() as server:
        yield server


def sender_for(server: ScriptedSmtpServer | MailCatcher, connections: int = 2) -> SmtpSender:
    return SmtpSender(
        "127.0.0.1", server.port, "none", "", "", 5.0, connections, local_hostname="localhost"
    )


def delivery(
    database: Database, sender: Any, clock: FakeClock, worker: str = "worker-a", **kw: Any
) -> Delivery:
    return Delivery(database, sender, clock, from_addr=FROM, worker=worker, **kw)


def add_agency(database: Database, deputy: str | None = DEPUTY) -> int:
    with database.write() as session:
        agency = Agency(
            code="POL",
            name="Northshire Constabulary (fictional)",
            sector="police",
            lead_name="Lead Police",
            lead_email=LEAD,
            deputy_name="Deputy Police" if deputy else None,
            deputy_email=deputy,
        )
        session.add(agency)
        session.flush()
        assert agency.id is not None
        return agency.id


def invite(cancel: bool = False) -> str:
    return deadline_invite(
        task_id=41,
        domain=DOMAIN,
        sequence=3,
        summary="MAA-2026-004: audit deadline",
        due_on=date(2026, 1, 16),
        link="http://127.0.0.1:8000/activities/MAA-2026-004",
        organizer=FROM,
        attendee=LEAD,
        now=START,
        cancel=cancel,
    )


def seed(
    database: Database,
    clock: FakeClock,
    count: int = 1,
    *,
    prefix: str = "n",
    to: str | None = None,
    cc: tuple[str, ...] = (),
    agency_id: int | None = None,
    role: str = "business_unit",
    ics: str | None = None,
) -> list[int]:
    """Insert ``count`` pending notifications (fictional text); returns their ids in order."""
    keys = [f"test:{prefix}:{i}" for i in range(count)]
    with database.write() as session:
        for i, key in enumerate(keys):
            insert_notification(
                session,
                {
                    "dedupe_key": key,
                    "message_id": message_id_for(key, DOMAIN),
                    "activity_id": None,
                    "task_id": None,
                    "agency_id": agency_id,
                    "template": "return_requested",
                    "recipient_role": role,
                    "to_addr": to or f"person{i}@agency{i % 7}.northshire.example",
                    "cc_addrs": list(cc),
                    "subject": f"MAA-2026-004: return requested ({prefix} {i})",
                    "text_body": f"Dear colleague,\n\nA return is requested for MAA-2026-004 ({i}).\n",
                    "html_body": f"<p>Dear colleague,</p><p>A return is requested ({i}).</p>",
                    "ics": ics,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": clock.now(),
                    "created_at": clock.now(),
                },
            )
    with database.read() as session:
        rows = session.exec(
            select(Notification.dedupe_key, Notification.id).where(
                col(Notification.dedupe_key).in_(keys)
            )
        ).all()
    ids = dict(rows)
    return [ids[k] for k in keys]  # type: ignore[misc]


def row(database: Database, notification_id: int) -> Notification:
    with database.read() as session:
        n = session.get(Notification, notification_id)
        assert n is not None
        return n


def attempts_of(database: Database, notification_id: int) -> list[DeliveryAttempt]:
    with database.read() as session:
        return list(
            session.exec(
                select(DeliveryAttempt)
                .where(DeliveryAttempt.notification_id == notification_id)
                .order_by(col(DeliveryAttempt.id))
            ).all()
        )


def statuses(database: Database) -> dict[str, int]:
    with database.read() as session:
        rows = session.exec(
            select(Notification.status, func.count()).group_by(col(Notification.status))
        ).all()
    return dict(rows)


def message_id(database: Database, notification_id: int) -> str:
    return row(database, notification_id).message_id


# ---------------------------------------------------------------------------- delivered
def test_delivered_message_carries_headers_parts_and_invite(
    database: Database, clock: FakeClock, smtp: ScriptedSmtpServer
) -> None:
    agency_id = add_agency(database)
    [nid] = seed(
        database, clock, to=LEAD, cc=(DEPUTY,), agency_id=agency_id, role="agency", ics=invite()
    )

    report = delivery(database, sender_for(smtp), clock).deliver_once()

    assert (report.claimed, report.sent, report.retrying, report.failed) == (1, 1, 0, 0)
    [got] = smtp.received
    n = row(database, nid)
    msg = got.message
    assert got.mail_from == FROM
    assert got.rcpt_tos == (LEAD, DEPUTY)
    assert msg["From"] == FROM
    assert msg["To"] == LEAD
    assert msg["Cc"] == DEPUTY
    assert msg["Message-ID"] == n.message_id
    assert msg["Date"].datetime == START
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Subject"] == n.subject
    assert msg.get_content_type() == "multipart/mixed"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None
    assert html is not None
    assert text.get_content().replace("\r\n", "\n") == n.text_body  # CRLF on the wire
    assert html.get_content().replace("\r\n", "\n") == n.html_body
    [cal] = [p for p in msg.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert cal.get_filename() == "deadline.ics"
    assert cal.get_param("method") == "REQUEST"
    event = Calendar.from_ical(cal.get_content()).walk("VEVENT")[0]
    assert str(event["UID"]) == f"sef-task-41@{DOMAIN}"
    assert event.get("SEQUENCE") == 3

    assert n.status == "sent"
    assert n.sent_at == START
    assert (n.lease_until, n.leased_by, n.attempts) == (None, None, 1)
    [attempt] = attempts_of(database, nid)
    assert (attempt.outcome, attempt.code, attempt.worker) == ("sent", 250, "worker-a")
    assert delivery(database, sender_for(smtp), clock).deliver_once().claimed == 0


def test_message_without_invite_or_cc_is_just_the_alternatives() -> None:
    m = Outgoing(
        7,
        "<abc@example.org>",
        FROM,
        LEAD,
        (),
        "Reminder — MAA-2026-004",
        "Text",
        "<p>HTML</p>",
        None,
        START,
    )
    raw = build_message(m)
    assert raw == build_message(m)  # same bytes every attempt
    assert b"\nCc:" not in raw
    msg = message_from_bytes(raw, policy=default)
    assert msg.get_content_type() == "multipart/alternative"
    assert str(msg["Subject"]) == "Reminder — MAA-2026-004"
    cancel = build_message(
        Outgoing(8, "<c@example.org>", FROM, LEAD, (), "Lifted", "t", "h", invite(True), START)
    )
    assert b"method=CANCEL" in cancel


def test_connections_are_spread_and_each_reused(smtp: ScriptedSmtpServer) -> None:
    messages = [
        Outgoing(
            i, f"<m{i}@example.org>", FROM, f"p{i}@example.org", (), f"S{i}", "t", "h", None, START
        )
        for i in range(12)
    ]
    results = asyncio.run(sender_for(smtp, connections=4).send(messages))
    assert [r.outcome for r in results] == ["sent"] * 12
    assert [r.notification_id for r in results] == list(range(12))
    assert len({r.peer for r in smtp.received}) == 4
    assert sorted(smtp.message_ids().values()) == [1] * 12


def test_partly_refused_message_is_sent_and_a_refused_message_is_permanent(
    smtp: ScriptedSmtpServer,
) -> None:
    def mail(i: int, cc: tuple[str, ...] = ()) -> Outgoing:
        return Outgoing(i, f"<r{i}@example.org>", FROM, LEAD, cc, "S", "t", "h", None, START)

    smtp.refuse(DEPUTY)
    [copy_refused] = asyncio.run(sender_for(smtp).send([mail(1, (DEPUTY,))]))
    assert (copy_refused.outcome, copy_refused.code) == ("sent", 250)
    assert copy_refused.refused == {DEPUTY: f"550 5.1.1 <{DEPUTY}>: mailbox unavailable"}
    assert DEPUTY in copy_refused.detail  # kept in the attempt's detail

    smtp.fail_next(1, "554 5.7.1 Message rejected by policy")
    [rejected] = asyncio.run(sender_for(smtp).send([mail(2)]))
    assert (rejected.outcome, rejected.code) == ("permanent", 554)
    assert rejected.detail == "554 5.7.1 Message rejected by policy"
    assert rejected.refused == {}  # the message, not the lead's address: no deputy fallback
    assert [r.message_id for r in smtp.received] == ["<r1@example.org>"]


# ---------------------------------------------------------------------------- transient
def test_server_down_then_up_loses_nothing_and_doubles_nothing(
    database: Database, clock: FakeClock
) -> None:
    server = ScriptedSmtpServer()  # not started: connection refused
    ids = seed(database, clock, 5)
    worker = delivery(database, sender_for(server), clock)

    first = worker.deliver_once()
    assert (first.claimed, first.retrying, first.sent) == (5, 5, 0)
    for nid in ids:
        n = row(database, nid)
        assert (n.status, n.attempts) == ("pending", 1)
        assert n.next_attempt_at == START + timedelta(seconds=60)
        assert "cannot connect" in (n.last_error or "")
        assert [a.outcome for a in attempts_of(database, nid)] == ["transient"]
    assert worker.deliver_once().claimed == 0  # not due yet

    clock.advance(timedelta(seconds=61))
    with server:
        second = worker.deliver_once()
        assert (second.claimed, second.sent) == (5, 5)
        assert worker.deliver_once().claimed == 0
        counts = server.message_ids()
    assert sorted(counts) == sorted(message_id(database, nid) for nid in ids)
    assert set(counts.values()) == {1}
    assert statuses(database) == {"sent": 5}


def test_451_retried_with_exponential_backoff_then_delivered_once(
    database: Database, clock: FakeClock, smtp: ScriptedSmtpServer
) -> None:
    [nid] = seed(database, clock)
    worker = delivery(database, sender_for(smtp), clock)
    smtp.fail_next(2)

    assert worker.deliver_once().retrying == 1
    assert row(database, nid).next_attempt_at == START + timedelta(seconds=60)
    clock.advance(timedelta(seconds=60))
    assert worker.deliver_once().retrying == 1
    n = row(database, nid)
    assert n.next_attempt_at == clock.now() + timedelta(seconds=120)  # doubled
    assert (n.last_error or "").startswith("451 4.3.0")
    clock.advance(timedelta(seconds=119))
    assert worker.deliver_once().claimed == 0
    clock.advance(timedelta(seconds=1))
    assert worker.deliver_once().sent == 1

    n = row(database, nid)
    assert (n.status, n.attempts) == ("sent", 3)
    assert [(a.outcome, a.code) for a in attempts_of(database, nid)] == [
        ("transient", 451),
        ("transient", 451),
        ("sent", 250),
    ]
    assert smtp.message_ids() == {n.message_id: 1}


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff(a, 60, 3600).total_seconds() for a in (1, 2, 3, 6, 7, 50)] == [
        60,
        120,
        240,
        1920,
        3600,
        3600,
    ]


def test_connection_dropped_during_data_is_retried_then_delivered(
    database: Database, clock: FakeClock, smtp: ScriptedSmtpServer
) -> None:
    ids = seed(database, clock, 3)
    worker = delivery(database, sender_for(smtp, connections=1), clock)
    smtp.drop_next(1)

    report = worker.deliver_once()
    # the first message's connection dropped; one reconnect carried the other two
    assert (report.sent, report.retrying) == (2, 1)
    assert row(database, ids[0]).status == "pending"
    assert len(smtp.dropped) == 1
    clock.advance(timedelta(seconds=60))
    assert worker.deliver_once().sent == 1

    counts = smtp.message_ids()
    assert sorted(counts) == sorted(message_id(database, nid) for nid in ids)
    assert set(counts.values()) == {1}
    assert [a.outcome for a in attempts_of(database, ids[0])] == ["transient", "sent"]


def test_max_attempts_then_failed_and_retry_puts_it_back(
    database: Database, clock: FakeClock
) -> None:
    server = ScriptedSmtpServer()  # down
    [nid] = seed(database, clock)
    worker = delivery(database, sender_for(server), clock, max_attempts=2)

    assert worker.deliver_once().retrying == 1
    clock.advance(timedelta(seconds=60))
    assert worker.deliver_once().failed == 1
    n = row(database, nid)
    assert (n.status, n.attempts) == ("failed", 2)
    assert (n.last_error or "").startswith("gave up after 2 attempts: cannot connect")
    assert [f.id for f in failed(database)] == [nid]

    with pytest.raises(InvalidInput, match="only a failed"):
        retry(database, seed(database, clock, prefix="other")[0], clock)
    with pytest.raises(NotFound):
        retry(database, 999_999, clock)

    clock.advance(timedelta(hours=1))
    retry(database, nid, clock)
    n = row(database, nid)
    assert (n.status, n.attempts, n.next_attempt_at) == ("pending", 0, clock.now())
    assert failed(database) == []
    with server:
        assert worker.deliver_once().sent == 2
        assert server.message_ids()[n.message_id] == 1
    assert [a.outcome for a in attempts_of(database, nid)] == ["transient", "transient", "sent"]


# ---------------------------------------------------------------------------- permanent
def test_550_for_the_lead_with_the_deputy_copied_in(
    database: Database, clock: FakeClock, smtp: ScriptedSmtpServer
) -> None:
    agency_id = add_agency(database)
    [nid] = seed(database, clock, to=LEAD, cc=(DEPUTY,), agency_id=agency_id, role="agency")
    smtp.refuse(LEAD)

    report = delivery(database, sender_for(smtp), clock).deliver_once()

    assert report.failed == 1
    n = row(database, nid)
    assert n.status == "failed"
    assert (n.last_error or "").startswith(f"550 5.1.1 <{LEAD}>: mailbox unavailable")
    assert DEPUTY in (n.last_error or "")
    [got] = smtp.received
    assert got.rcpt_tos == (DEPUTY,)
    assert got.message_id == n.message_id
    [attempt] = attempts_of(database, nid)
    assert (attempt.outcome, attempt.code) == ("permanent", 550)
    assert [f.id for f in failed(database)] == [nid]
    assert statuses(database) == {"failed": 1}


def test_550_for_the_lead_is_failed_and_not_sent_on(
    database: Database, clock: FakeClock, smtp: ScriptedSmtpServer
) -> None:
    """The deputy has an email of their own: a refused lead's is shown to a coordinator,
    not sent on to anyone else."""
    agency_id = add_agency(database)
    [nid] = seed(database, clock, to=LEAD, agency_id=agency_id, role="agency", ics=invite())
    seed(database, clock, 2, prefix="ok")
    smtp.refuse(LEAD)
    worker = delivery(database, sender_for(smtp), clock)

    first = worker.deliver_once()
    assert (first.sent, first.failed) == (2, 1)
    assert [f.id for f in failed(database)] == [nid]
    assert worker.deliver_once().claimed == 0  # nothing else was queued
    assert LEAD not in {to for r in smtp.received for to in r.rcpt_tos}
    assert statuses(database) == {"sent": 2, "failed": 1}


def test_recording_sender_scripted_refusal(database: Database, clock: FakeClock) -> None:
    agency_id = add_agency(database)
    seed(database, clock, to=LEAD, agency_id=agency_id, role="agency")
    seed(database, clock, 2, prefix="ok")
    sender = RecordingSender()
    sender.script(LEAD, "permanent", 550, "5.1.1 no such user")
    worker = delivery(database, sender, clock)

    report = worker.deliver_once()
    assert (report.sent, report.failed) == (2, 1)
    assert worker.deliver_once().claimed == 0
    assert LEAD not in [m.to for m in sender.delivered]
    assert len(sender.messages) == 3
    assert statuses(database) == {"sent": 2, "failed": 1}


# ---------------------------------------------------------------------------- workers
def test_worker_that_dies_mid_batch_is_taken_over_after_its_lease(
    database: Database, clock: FakeClock, smtp: ScriptedSmtpServer
) -> None:
    ids = seed(database, clock, 4)
    a = delivery(database, sender_for(smtp), clock, worker="worker-a", lease_seconds=300)
    b = delivery(database, sender_for(smtp), clock, worker="worker-b", lease_seconds=300)

    claimed_by_a = a.claim()  # ... and worker A dies before sending or recording
    assert sorted(n.id or 0 for n in claimed_by_a) == ids
    assert all(row(database, i).leased_by == "worker-a" for i in ids)
    assert b.claim() == []
    clock.advance(timedelta(seconds=300))
    assert b.claim() == []  # the lease runs to its end

    clock.advance(timedelta(seconds=1))
    report = b.deliver_once()
    assert (report.claimed, report.sent) == (4, 4)
    assert all(row(database, i).attempts == 2 for i in ids)

    # worker A comes back to life and records its stale batch: nothing is overwritten
    stale = [Result(i, "transient", 451, "late") for i in ids]
    late = a.record(stale, claimed_by_a)
    assert (late.lost_leases, late.retrying, late.sent) == (4, 0, 0)
    assert statuses(database) == {"sent": 4}
    assert set(smtp.message_ids().values()) == {1}
    assert [x.worker for x in attempts_of(database, ids[0])] == ["worker-b", "worker-a"]


class _StopDuringSend(RecordingSender):
    """Asks the loop to stop while a batch is being sent."""

    def __init__(self, stop: threading.Event) -> None:
        super().__init__()
        self.stop = stop

    async def send(self, messages: Sequence[Outgoing]) -> list[Result]:
        self.stop.set()
        return await super().send(messages)


def test_run_finishes_the_batch_in_hand_before_stopping(
    database: Database, clock: FakeClock
) -> None:
    seed(database, clock, 3)
    stop = threading.Event()
    sender = _StopDuringSend(stop)
    worker = delivery(database, sender, clock, batch_size=2)

    thread = threading.Thread(target=worker.run, args=(stop, 30.0))
    thread.start()
    thread.join(timeout=30)

    assert not thread.is_alive()
    assert sender.batches == 1
    assert statuses(database) == {"sent": 2, "pending": 1}  # recorded, not left 'sending'


def _deliver_until_empty(url: str, port: int, worker: str, barrier: Any, out: Any) -> None:
    """A delivery worker process: loop until nothing is pending or being sent."""
    db = Database(url)
    try:
        sender = SmtpSender("127.0.0.1", port, "none", "", "", 10.0, 2, local_hostname="localhost")
        d = Delivery(db, sender, FakeClock(START), from_addr=FROM, worker=worker, batch_size=10)
        barrier.wait(timeout=60)
        sent = batches = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            report = d.deliver_once()
            sent += report.sent
            batches += 1 if report.claimed else 0
            if report.claimed == 0:
                with db.read() as session:
                    left = session.exec(
                        select(func.count()).where(
                            col(Notification.status).in_(["pending", "sending"])
                        )
                    ).one()
                if left == 0:
                    break
        out.put((worker, sent, batches))
    except Exception as exc:  # pragma: no cover - reported by the assertions
        out.put((worker, f"{type(exc).__name__}: {exc}", 0))
    finally:
        db.dispose()


@pytest.mark.postgres
@pytest.mark.slow
def test_two_worker_processes_on_postgresql_deliver_each_message_once(
    pg_schema_url: str, smtp: ScriptedSmtpServer
) -> None:
    database = Database(pg_schema_url)
    database.upgrade()
    try:
        ids = seed(database, FakeClock(START), 200)
        ctx = mp.get_context("spawn")
        barrier = ctx.Barrier(2)
        out = ctx.Queue()
        procs = [
            ctx.Process(
                target=_deliver_until_empty, args=(pg_schema_url, smtp.port, w, barrier, out)
            )
            for w in ("proc-a", "proc-b")
        ]
        for p in procs:
            p.start()
        reports = [out.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=30)
            assert p.exitcode == 0
        assert all(isinstance(sent, int) for _, sent, _ in reports), reports
        assert sum(sent for _, sent, _ in reports) == 200
        counts = smtp.message_ids()
        assert len(counts) == 200
        assert set(counts.values()) == {1}
        assert sorted(counts) == sorted(message_id(database, i) for i in ids)
        assert statuses(database) == {"sent": 200}
        with database.read() as session:
            assert session.exec(select(func.count()).select_from(DeliveryAttempt)).one() == 200
    finally:
        database.dispose()


# ---------------------------------------------------------------------------- catcher
def test_catcher_keeps_each_message_as_a_file(
    database: Database, clock: FakeClock, tmp_path: Path
) -> None:
    folder = tmp_path / "mail"
    ids = seed(database, clock, 3, cc=("copy@agency.northshire.example",))
    with MailCatcher(folder, 0, clock=clock) as catcher:
        assert catcher.port > 0
        report = delivery(database, sender_for(catcher), clock).deliver_once()
    assert report.sent == 3

    listed = list_messages(folder)
    assert len(listed) == 3
    assert not [p for p in folder.iterdir() if p.suffix != ".eml"]  # no temporary files left
    assert {m.message_id for m in listed} == {message_id(database, i) for i in ids}
    first = listed[0]
    assert first.file.name.startswith("20260105T090000")
    assert first.date == START
    assert first.from_ == FROM
    assert first.cc == "copy@agency.northshire.example"
    assert first.envelope_to == (first.to, "copy@agency.northshire.example")
    assert first.subject.startswith("MAA-2026-004: return requested")

    msg = read_message(folder, 1)
    assert msg["Message-ID"] == first.message_id
    body = msg.get_body(("plain",))
    assert body is not None
    assert "A return is requested" in body.get_content()
    assert read_message(folder, first.file.stem)["Message-ID"] == first.message_id
    assert read_message(folder, "-1")["Message-ID"] == listed[-1].message_id
    with pytest.raises(NotFound):
        read_message(folder, 4)
    with pytest.raises(NotFound):
        read_message(folder, "nope.eml")
