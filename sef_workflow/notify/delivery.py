"""Delivery: claim due outbox rows, send them outside any transaction, record what happened.

One batch is four steps:

1. :meth:`Delivery.claim` — one transaction: due rows (``pending`` and due, or ``sending``
   with an expired lease) become ``sending``, leased to this worker until ``now + lease``,
   with ``attempts + 1``. On PostgreSQL the rows are picked ``FOR UPDATE SKIP LOCKED``, so
   two workers claim different rows; on SQLite the write transaction (``BEGIN IMMEDIATE``)
   serialises claims.
2. :meth:`Delivery.hand_off` — the messages; for each agency email with ``sign_in_next``,
   a fresh single-use sign-in link is minted (only its hash stored, the unused links of
   earlier attempts deleted, each issue in the directory log: one transaction and three
   statements for the batch, committed before anything is sent) and put in place of the
   stored neutral link in that message alone. The outbox row keeps the neutral link.
3. ``sender.send(...)`` — no transaction is open while SMTP talks.
4. :meth:`Delivery.record` — one transaction per batch: a compare-and-set on
   ``(status='sending', leased_by=worker, attempts=<claimed>)`` so a worker whose lease was
   taken over never overwrites the new owner's outcome, then a ``delivery_attempt`` row.

Delivery is at least once: a worker that dies between sending and recording leaves its rows
``sending``; once the lease ends another worker sends them again, with the same Message-ID.

Outcomes: sent; transient (``pending`` again after ``min(cap, base * 2**(attempts-1))``
seconds, ``failed`` after ``max_attempts``); permanent (``failed`` with the server's
reply, listed by :func:`failed` for a coordinator). An agency's lead and deputy each have
their own email, so a refused lead's address is not sent on to the deputy.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import Session, col

from ..access import LinkRequest, carries_neutral_link, mint_for_messages, with_live_link
from ..clock import Clock, SystemClock
from ..db import Database
from ..errors import InvalidInput
from ..models import DeliveryAttempt, Notification
from .listing import count_outbox, failed, get_notification, list_outbox, retry
from .smtp import MailSender, Outgoing, Result, SmtpSender

if TYPE_CHECKING:
    from ..config import LoadedSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryReport:
    """What one batch did."""

    claimed: int
    sent: int
    retrying: int
    failed: int
    #: results not recorded because another worker had taken the row over
    lost_leases: int = 0


def default_worker_id() -> str:
    """``host:pid``: unique among the processes sharing a database."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


def outgoing(n: Notification, from_addr: str) -> Outgoing:
    """The email for an outbox row. Date is when the row was written, so a resend is the
    same message."""
    if n.id is None:  # pragma: no cover - rows from the database have ids
        raise ValueError("notification has no id")
    return Outgoing(
        notification_id=n.id,
        message_id=n.message_id,
        from_addr=from_addr,
        to=n.to_addr,
        cc=tuple(n.cc_addrs or ()),
        subject=n.subject,
        text=n.text_body,
        html=n.html_body,
        ics=n.ics,
        date=n.created_at,
    )


def message_id_for(dedupe_key: str, domain: str) -> str:
    """The Message-ID the :class:`~sef_workflow.notify.outbox.Notifier` gives a dedupe key."""
    digest = hashlib.sha256(dedupe_key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def backoff(attempts: int, base_seconds: int, cap_seconds: int) -> timedelta:
    """Delay before the next try after ``attempts`` tries: base, 2 x base, 4 x base ... cap."""
    exponent = max(attempts - 1, 0)
    if exponent >= 32:  # 2**32 x base is past any cap
        return timedelta(seconds=cap_seconds)
    return timedelta(seconds=min(cap_seconds, base_seconds * 2**exponent))


class Delivery:
    """Delivers the outbox through a :class:`~sef_workflow.notify.smtp.MailSender`."""

    def __init__(
        self,
        db: Database,
        sender: MailSender,
        clock: Clock,
        *,
        from_addr: str,
        worker: str,
        batch_size: int = 50,
        lease_seconds: int = 300,
        max_attempts: int = 8,
        retry_base_seconds: int = 60,
        retry_cap_seconds: int = 3600,
        link_lifetime: timedelta = timedelta(hours=72),
    ) -> None:
        if batch_size < 1 or lease_seconds < 1 or max_attempts < 1:
            raise ValueError("batch_size, lease_seconds and max_attempts must be at least 1")
        if not worker or len(worker) > 64:
            raise ValueError("worker must be 1 to 64 characters")
        self.db = db
        self.sender = sender
        self.clock = clock
        self.from_addr = from_addr
        self.worker = worker
        self.batch_size = batch_size
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self.retry_base_seconds = retry_base_seconds
        self.retry_cap_seconds = retry_cap_seconds
        #: how long a sign-in link minted at hand-off works
        self.link_lifetime = link_lifetime

    @classmethod
    def from_settings(
        cls,
        db: Database,
        loaded: LoadedSettings,
        clock: Clock,
        *,
        sender: MailSender | None = None,
        worker: str | None = None,
        catcher_port: int | None = None,
    ) -> Delivery:
        """A delivery worker configured by ``[smtp]`` and ``[mail]``.

        With no ``smtp.host`` mail goes to the embedded catcher on 127.0.0.1 (at
        ``catcher_port``, by default ``mail.catcher_port``), which the caller runs.
        """
        s = loaded.settings
        if sender is None:
            if s.smtp.host:
                sender = SmtpSender(
                    s.smtp.host,
                    s.smtp.port,
                    s.smtp.tls,
                    s.smtp.username,
                    s.smtp.password,
                    s.smtp.timeout_seconds,
                    s.mail.connections,
                )
            else:
                port = s.mail.catcher_port if catcher_port is None else catcher_port
                sender = SmtpSender(
                    "127.0.0.1",
                    port,
                    "none",
                    "",
                    "",
                    s.smtp.timeout_seconds,
                    s.mail.connections,
                    local_hostname="localhost",
                )
        return cls(
            db,
            sender,
            clock,
            from_addr=s.smtp.from_address or s.partnership.business_unit_email,
            worker=worker or default_worker_id(),
            batch_size=s.mail.batch_size,
            lease_seconds=s.mail.lease_seconds,
            max_attempts=s.mail.max_attempts,
            retry_base_seconds=s.mail.retry_base_seconds,
            retry_cap_seconds=s.mail.retry_cap_seconds,
            link_lifetime=timedelta(hours=s.web.link_hours),
        )

    # ------------------------------------------------------------------ claim
    def claim(self) -> list[Notification]:
        """Lease up to ``batch_size`` due rows to this worker, oldest due first."""
        now = self.clock.now()
        t = Notification.__table__  # type: ignore[attr-defined]
        with self.db.write() as session:
            due = (
                sa.select(t.c.id)
                .where(
                    sa.or_(
                        sa.and_(t.c.status == "pending", t.c.next_attempt_at <= now),
                        sa.and_(t.c.status == "sending", t.c.lease_until < now),
                    )
                )
                .order_by(t.c.next_attempt_at, t.c.id)
                .limit(self.batch_size)
            )
            if session.get_bind().dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            stmt = (
                sa.update(Notification)
                .where(col(Notification.id).in_(due.scalar_subquery()))
                .values(
                    status="sending",
                    lease_until=now + self.lease,
                    leased_by=self.worker,
                    attempts=col(Notification.attempts) + 1,
                )
                .returning(Notification)
                .execution_options(synchronize_session=False)
            )
            rows = list(session.execute(stmt).scalars().all())
        rows.sort(key=lambda n: (n.next_attempt_at, n.id or 0))
        return rows

    # ------------------------------------------------------------------ send
    def deliver_once(self) -> DeliveryReport:
        """Claim a batch, send it (no transaction open), record each outcome."""
        batch = self.claim()
        if not batch:
            return DeliveryReport(0, 0, 0, 0)
        messages = self.hand_off(batch)
        try:
            results = asyncio.run(self.sender.send(messages))
        except Exception as exc:  # the sender broke: retry the batch later, do not lose it
            log.exception("mail sender failed on a batch of %d", len(messages))
            detail = f"sender error: {type(exc).__name__}: {exc}"
            results = [Result(m.notification_id, "transient", None, detail) for m in messages]
        return self.record(results, batch)

    def hand_off(self, batch: Sequence[Notification]) -> list[Outgoing]:
        """The messages for claimed rows, each agency email's neutral link replaced by a
        sign-in link minted now (committed before anything is sent); the rows keep theirs."""
        messages = [outgoing(n, self.from_addr) for n in batch]
        wanted = [
            LinkRequest(m.notification_id, n.to_addr, n.agency_id, n.sign_in_next)
            for n, m in zip(batch, messages, strict=True)
            if n.sign_in_next is not None
            and n.agency_id is not None
            and carries_neutral_link(m.text + m.html, n.sign_in_next)
        ]
        if not wanted:
            return messages
        with self.db.write() as session:
            tokens = mint_for_messages(session, wanted, self.clock.now(), self.link_lifetime)
        lands_on = {w.notification_id: w.next_url for w in wanted}
        for i, m in enumerate(messages):
            token = tokens.get(m.notification_id)
            if token is not None:
                where = lands_on[m.notification_id]
                text, html = (
                    with_live_link(m.text, where, token),
                    with_live_link(m.html, where, token),
                )
                messages[i] = replace(m, text=text, html=html)
        return messages

    def run(self, stop: threading.Event, interval: float) -> None:
        """Deliver until ``stop`` is set, waiting ``interval`` seconds when there is nothing
        (more) to do. A batch in hand is always finished before stopping."""
        while not stop.is_set():
            try:
                report = self.deliver_once()
            except Exception:  # the database is away, say: try again next interval
                log.exception("delivery batch failed")
                report = None
            if report is None or report.claimed < self.batch_size:
                stop.wait(interval)

    # ------------------------------------------------------------------ record
    def record(self, results: Sequence[Result], claimed: Sequence[Notification]) -> DeliveryReport:
        """Record the batch's results in one transaction; ``claimed`` is what :meth:`claim`
        returned (its lease and attempt count are checked, so a stale worker writes no
        state). A claimed row without a result counts as a transient failure."""
        by_id = {n.id: n for n in claimed if n.id is not None}
        answered = {r.notification_id for r in results}
        todo = list(results) + [
            Result(i, "transient", None, "no result from the mail sender")
            for i in by_id
            if i not in answered
        ]
        seen: set[int] = set()
        pairs: list[tuple[Notification, Result]] = []
        for result in todo:
            n = by_id.get(result.notification_id)
            if n is None or result.notification_id in seen:
                log.error(
                    "ignored a result for notification %s: not in the batch, or twice",
                    result.notification_id,
                )
                continue
            seen.add(result.notification_id)
            pairs.append((n, result))
        counts = {"sent": 0, "retrying": 0, "failed": 0, "lost": 0}
        try:  # the whole batch in one transaction
            batch_counts = dict.fromkeys(counts, 0)
            with self.db.write() as session:
                for n, result in pairs:
                    self._record_one(session, n, result, batch_counts)
            counts = batch_counts
        except Exception:  # then row by row, so one bad row never stops the rest
            log.exception(
                "could not record a batch of %d at once; recording one by one", len(pairs)
            )
            for n, result in pairs:
                row_counts = dict.fromkeys(counts, 0)
                try:
                    with self.db.write() as session:
                        self._record_one(session, n, result, row_counts)
                except Exception:  # its lease will expire and another worker retries it
                    log.exception("could not record delivery of notification %s", n.id)
                    continue
                for key, value in row_counts.items():
                    counts[key] += value
        return DeliveryReport(
            claimed=len(claimed),
            sent=counts["sent"],
            retrying=counts["retrying"],
            failed=counts["failed"],
            lost_leases=counts["lost"],
        )

    def _record_one(
        self, session: Session, n: Notification, result: Result, counts: dict[str, int]
    ) -> None:
        now = self.clock.now()
        outcome = result.outcome
        values: dict[str, Any] = {"lease_until": None, "leased_by": None}
        if outcome == "sent":
            values |= {"status": "sent", "sent_at": now, "last_error": None}
            counted = "sent"
        elif outcome == "transient" and n.attempts < self.max_attempts:
            delay = backoff(n.attempts, self.retry_base_seconds, self.retry_cap_seconds)
            values |= {
                "status": "pending",
                "next_attempt_at": now + delay,
                "last_error": result.detail,
            }
            counted = "retrying"
        else:  # permanent, or transient too many times
            error = result.detail
            if outcome == "transient":
                error = f"gave up after {n.attempts} attempts: {error}"
            values |= {"status": "failed", "last_error": error}
            counted = "failed"
        updated = session.connection().execute(
            _record_update(frozenset(values)),
            {**values, "_id": n.id, "_worker": self.worker, "_attempts": n.attempts},
        )
        applied = updated.rowcount == 1
        detail = result.detail if applied else f"(lease lost, row not updated) {result.detail}"
        session.connection().execute(
            _ATTEMPT_INSERT,
            {
                "notification_id": result.notification_id,
                "at": now,
                "worker": self.worker,
                "outcome": outcome,
                "code": result.code,
                "detail": detail,
            },
        )
        if not applied:
            counts["lost"] += 1
            return
        counts[counted] += 1


_NOTIFICATION: sa.Table = Notification.__table__  # type: ignore[attr-defined]
_ATTEMPT_INSERT = sa.insert(DeliveryAttempt.__table__)  # type: ignore[attr-defined]


@functools.cache
def _record_update(columns: frozenset[str]) -> sa.Update:
    """The compare-and-set that records an outcome: only while this worker holds the lease."""
    t = _NOTIFICATION
    return (
        sa.update(t)
        .where(
            t.c.id == sa.bindparam("_id"),
            t.c.status == "sending",
            t.c.leased_by == sa.bindparam("_worker"),
            t.c.attempts == sa.bindparam("_attempts"),
        )
        .values({t.c[name]: sa.bindparam(name) for name in sorted(columns)})
    )


def deliver_due(
    db: Database,
    loaded: LoadedSettings,
    clock: Clock,
    *,
    until_empty: bool = True,
    echo: Any = print,
) -> DeliveryReport:
    """Deliver what is due now, by ``loaded`` settings; the embedded catcher runs meanwhile
    when no SMTP server is configured. One progress line per batch."""
    from .catcher import MailCatcher

    catcher = None if loaded.settings.smtp.host else MailCatcher.from_settings(loaded, port=0)
    totals = dict.fromkeys(("claimed", "sent", "retrying", "failed", "lost_leases"), 0)
    try:
        if catcher is not None:
            catcher.start()
        delivery = Delivery.from_settings(
            db,
            loaded,
            clock,
            catcher_port=catcher.port if catcher is not None else None,
        )
        for batch in range(1, 10_000):
            report = delivery.deliver_once()
            if report.claimed == 0:
                break
            for key in totals:
                totals[key] += getattr(report, key)
            echo(
                f"batch {batch}: {report.claimed} claimed, {report.sent} sent, "
                f"{report.retrying} to retry, {report.failed} failed"
            )
            if not until_empty:
                break
    finally:
        if catcher is not None:
            catcher.stop()
    return DeliveryReport(**totals)


def send_test_message(
    db: Database, loaded: LoadedSettings, clock: Clock, to_addr: str
) -> tuple[bool, str]:
    """One fictional message through the configured server; what the server replied."""

    from ..directory import normalise_email
    from .catcher import MailCatcher

    try:
        address = normalise_email(to_addr)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    s = loaded.settings
    now = clock.now()
    token = hashlib.sha256(f"{address}{now.isoformat()}".encode()).hexdigest()[:24]
    domain = s.partnership.business_unit_email.rpartition("@")[2] or "sef-workflow.invalid"
    message = Outgoing(
        notification_id=0,
        message_id=f"<test-{token}@{domain}>",
        from_addr=s.smtp.from_address or s.partnership.business_unit_email,
        to=address,
        cc=(),
        subject=f"sef-workflow test message ({s.partnership.name})",
        text="This is a test message from sef-workflow. No action is needed.\n",
        html="<p>This is a test message from sef-workflow. No action is needed.</p>\n",
        ics=None,
        date=now,
    )
    catcher = None if s.smtp.host else MailCatcher.from_settings(loaded, port=0)
    try:
        if catcher is not None:
            catcher.start()
        delivery = Delivery.from_settings(
            db,
            loaded,
            SystemClock(),
            catcher_port=catcher.port if catcher is not None else None,
        )
        where = (
            f"{s.smtp.host}:{s.smtp.port} (tls {s.smtp.tls})"
            if s.smtp.host
            else f"the embedded mail catcher on 127.0.0.1:{catcher.port if catcher else '?'}"
        )
        (result,) = asyncio.run(delivery.sender.send([message]))
    finally:
        if catcher is not None:
            catcher.stop()
    code = f"{result.code} " if result.code else ""
    said = f"{code}{result.detail}".strip() or "no reply text"
    if result.outcome == "sent":
        return True, f"accepted by {where}: {said} (Message-ID {message.message_id})"
    return False, f"{result.outcome} failure from {where}: {said}"


__all__ = [
    "Delivery",
    "DeliveryReport",
    "backoff",
    "count_outbox",
    "default_worker_id",
    "deliver_due",
    "failed",
    "get_notification",
    "list_outbox",
    "message_id_for",
    "outgoing",
    "retry",
    "send_test_message",
]
