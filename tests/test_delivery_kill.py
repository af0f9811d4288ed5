"""A delivery worker really killed (SIGKILL) mid-batch, on SQLite and PostgreSQL.

A separate Python process claims a batch and starts sending it to a real aiosmtpd server
that takes its time over each message; once the server has some (not all) of them the
process is killed. Its rows stay ``sending`` under its lease; a second worker (this
process, on the FakeClock) takes them over only when the lease has run out and delivers
them. At the server each message arrives once, or twice with the same Message-ID and the
same bytes, and every row ends ``sent``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import timedelta

from sqlmodel import col, select

from sef_workflow.clock import FakeClock
from sef_workflow.db import Database
from sef_workflow.models import DeliveryAttempt, Notification

from .smtpd import Received, ScriptedSmtpServer
from .test_delivery import FROM, START, delivery, message_id, row, seed, sender_for, statuses

COUNT = 12
LEASE = 300
DOOMED = "doomed-worker"

#: the worker process: one batch of everything, two connections, the FakeClock at START
WORKER = """
import sys
from datetime import datetime
from sef_workflow.clock import FakeClock
from sef_workflow.db import Database
from sef_workflow.notify.delivery import Delivery
from sef_workflow.notify.smtp import SmtpSender

url, port, worker, batch, lease, start, from_addr = sys.argv[1:8]
db = Database(url)
sender = SmtpSender("127.0.0.1", int(port), "none", "", "", 10.0, 2, local_hostname="localhost")
Delivery(
    db, sender, FakeClock(datetime.fromisoformat(start)), from_addr=from_addr, worker=worker,
    batch_size=int(batch), lease_seconds=int(lease),
).deliver_once()
print("finished the batch", flush=True)
"""


class SlowSmtpServer(ScriptedSmtpServer):
    """Takes ``delay`` seconds over each message after filing it, before answering."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def _take(self, received: Received) -> str:
        verdict = super()._take(received)
        time.sleep(self.delay)  # blocks this server's loop: every connection waits
        return verdict

    def count(self) -> int:
        with self._lock:
            return len(self.received)


def test_worker_killed_mid_batch_is_taken_over_after_its_lease(
    database: Database, db_url: str
) -> None:
    clock = FakeClock(START)
    ids = seed(database, clock, COUNT)
    smtp = SlowSmtpServer(delay=0.1)
    with smtp:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-W",
                "error",
                "-c",
                WORKER,
                db_url,
                str(smtp.port),
                DOOMED,
                str(COUNT),
                str(LEASE),
                START.isoformat(),
                FROM,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 30
            while smtp.count() < 3 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
            got_before_kill = smtp.count()
        finally:
            if proc.poll() is None:
                proc.kill()
            out, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, (proc.returncode, out, err)
        assert 3 <= got_before_kill < COUNT, (got_before_kill, out, err)
        assert b"finished the batch" not in out
        smtp.delay = 0.0
        early = {r.message_id for r in smtp.received}

        # its rows are still 'sending', leased to the dead worker, and nothing was recorded
        for nid in ids:
            n = row(database, nid)
            assert (n.status, n.leased_by, n.attempts) == ("sending", DOOMED, 1)
            assert n.lease_until == START + timedelta(seconds=LEASE)
        assert statuses(database) == {"sending": COUNT}

        rescuer = delivery(database, sender_for(smtp), clock, worker="rescuer", lease_seconds=LEASE)
        assert rescuer.claim() == []  # the lease holds
        clock.advance(timedelta(seconds=LEASE))
        assert rescuer.claim() == []  # ... to its very end
        clock.advance(timedelta(seconds=1))
        report = rescuer.deliver_once()
        assert (report.claimed, report.sent, report.lost_leases) == (COUNT, COUNT, 0)
        assert rescuer.deliver_once().claimed == 0

        counts = smtp.message_ids()
        expected = {message_id(database, nid) for nid in ids}
        assert set(counts) == expected  # every message arrived
        assert set(counts.values()) <= {1, 2}  # at most twice
        assert early
        assert all(counts[m] == 2 for m in early)  # the first ones were resent
        for mid, times in counts.items():
            copies = smtp.by_message_id(mid)
            assert len(copies) == times
            assert len({c.raw for c in copies}) == 1  # the resend is the same message
    assert statuses(database) == {"sent": COUNT}
    for nid in ids:
        n = row(database, nid)
        assert (n.attempts, n.leased_by, n.lease_until) == (2, None, None)
    with database.read() as session:
        workers = session.exec(
            select(DeliveryAttempt.worker, DeliveryAttempt.outcome).where(
                col(DeliveryAttempt.notification_id).in_(ids)
            )
        ).all()
    assert sorted(workers) == [("rescuer", "sent")] * COUNT  # the dead worker recorded nothing
    with database.read() as session:
        assert session.exec(select(Notification).where(Notification.status != "sent")).all() == []
