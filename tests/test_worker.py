"""The worker: real processes. Two workers on one PostgreSQL database send each rung once;
`sef worker` stops cleanly on SIGTERM and records its runs for `sef status`."""

from __future__ import annotations

import multiprocessing as mp
import signal
import subprocess
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from sef_workflow.calendar import LONDON, WorkingCalendar
from sef_workflow.clock import FakeClock
from sef_workflow.db import Database
from sef_workflow.definitions import Registry
from sef_workflow.models import Event, Notification
from sef_workflow.notify.outbox import Notifier
from sef_workflow.notify.render import Templates
from sef_workflow.service import Service

from .conftest import COORDINATOR, TEMPLATES, WORKFLOWS, process_config, require_postgres

ISSUED = datetime(2025, 12, 1, 10, 0, tzinfo=LONDON)
END = datetime(2026, 1, 20, 17, 0, tzinfo=LONDON)


def _service(url: str, clock: FakeClock) -> Service:
    cal = WorkingCalendar()
    notifier = Notifier(
        Templates(TEMPLATES, "Northshire SCP (fictional)"),
        cal,
        base_url="http://127.0.0.1:8000",
        business_unit_email="business.unit@northshire-scp.example",
    )
    return Service(Database(url), Registry(WORKFLOWS), cal, clock, notifier)


def _sweep_through(url: str, start: Any, step_minutes: int, barrier: Any) -> None:
    """A worker process: sweep on its own fake clock across the whole period."""
    clock = FakeClock(start)
    svc = _service(url, clock)
    barrier.wait(timeout=60)
    t = start
    while t <= END:
        clock.set(t)
        svc.sweep()
        t += timedelta(minutes=step_minutes)
    svc.db.dispose()


@pytest.mark.postgres
def test_two_worker_processes_send_each_rung_once(pg_schema_url: str) -> None:
    require_postgres()
    db = Database(pg_schema_url)
    db.upgrade()
    clock = FakeClock(ISSUED)
    svc = _service(pg_schema_url, clock)
    from sef_workflow.service import Actor

    from .conftest import FICTIONAL_AGENCIES

    svc.import_agencies(Actor.system(), FICTIONAL_AGENCIES)
    svc.add_staff(Actor.system(), "Casey Coord", COORDINATOR.id, "coordinator")
    ref = svc.open_activity(
        COORDINATOR,
        "themed_audit",
        "Two workers (fictional)",
        ["POL", "ICB", "CSC"],
        {"theme": "Neglect"},
    ).activity.ref
    svc.fire(COORDINATOR, ref, "sample_cases", {"sample_size": 2})
    svc.fire(COORDINATOR, ref, "issue_audit_tools")
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    # Different step sizes so the two workers' sweeps interleave unevenly.
    procs = [
        ctx.Process(target=_sweep_through, args=(pg_schema_url, ISSUED, step, barrier))
        for step in (30, 45)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
        assert p.exitcode == 0
    with db.read() as session:
        events = session.exec(select(Event).where(Event.kind == "reminder")).all()
        rows = session.exec(select(Notification)).all()
    sent = Counter((e.task_id, tuple(e.inputs["rungs"])) for e in events)
    assert sent
    assert max(sent.values()) == 1, sent
    # 3 tasks x 8 rungs (2 reminders, due, 3 chasers, 2 escalations), each exactly once
    assert len(sent) == 24
    rung_emails = [r for r in rows if r.dedupe_key.startswith("rung")]
    # one email each; the police and council deputies also get the 6 rungs to their agency
    assert len(rung_emails) == 24 + 2 * 6
    assert len({r.message_id for r in rung_emails}) == 36
    svc.db.dispose()
    db.dispose()


def test_sef_worker_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    env, sef = process_config(tmp_path)
    proc = subprocess.Popen(
        [*sef, "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            out = subprocess.run(
                [*sef, "status"], env=env, capture_output=True, text=True, check=False
            )
            if "deliver" in out.stdout and "never" not in out.stdout.split("deliver", 1)[1][:30]:
                break
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:  # pragma: no cover
            proc.kill()
    assert proc.returncode == 0, err
    assert "received SIGTERM" in err
    assert "worker stopped" in err
    status = subprocess.run([*sef, "status"], env=env, capture_output=True, text=True, check=True)
    assert "sweep" in status.stdout
    assert "outbox: 0 pending" in status.stdout
