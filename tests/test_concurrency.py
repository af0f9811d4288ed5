"""Two fires on the same activity at the same time: exactly one wins, the other changes nothing."""

from __future__ import annotations

import multiprocessing as mp
from datetime import UTC, datetime
from typing import Any

import pytest

from sef_workflow.calendar import WorkingCalendar
from sef_workflow.clock import FakeClock
from sef_workflow.db import Database
from sef_workflow.definitions import Registry
from sef_workflow.errors import ConcurrentUpdate
from sef_workflow.service import Service

from .conftest import COORDINATOR, WORKFLOWS


def _fire_after_barrier(url: str, ref: str, barrier: Any, results: Any) -> None:
    db = Database(url)
    service = Service(
        db, Registry(WORKFLOWS), WorkingCalendar(), FakeClock(datetime(2026, 1, 5, 10, tzinfo=UTC))
    )
    activity = service.get_activity(ref)[0]
    barrier.wait(timeout=30)
    try:
        service.fire(
            COORDINATOR,
            ref,
            "raise_concern",
            reason="Concern passed to the MASH",
            expected_version=activity.version,
        )
        results.put("won")
    except ConcurrentUpdate:
        results.put("concurrent")
    except Exception as exc:  # pragma: no cover - reported by the assertion below
        results.put(f"{type(exc).__name__}: {exc}")
    finally:
        db.dispose()


def test_two_processes_fire_at_once_one_wins(partnership: Service) -> None:
    ref = partnership.open_activity(
        COORDINATOR, "themed_audit", "Concurrency check (fictional)", ["POL"], {"theme": "Neglect"}
    ).activity.ref
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_fire_after_barrier, args=(partnership.db.url, ref, barrier, results))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    outcomes = sorted(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert outcomes == ["concurrent", "won"]
    trail = [e for e in partnership.timeline(ref) if e.trigger == "raise_concern"]
    assert len(trail) == 1
    activity = partnership.get_activity(ref)[0]
    assert activity.version == 2


def test_interleaved_by_hand_second_writer_loses(partnership: Service) -> None:
    """Both read version 1; the first commits; the second's compare-and-set fails."""
    ref = partnership.open_activity(
        COORDINATOR, "themed_audit", "Interleaving check (fictional)", ["POL"], {"theme": "Neglect"}
    ).activity.ref
    seen_by_a = partnership.get_activity(ref)[0].version
    seen_by_b = partnership.get_activity(ref)[0].version
    partnership.fire(
        COORDINATOR, ref, "sample_cases", {"sample_size": 2}, expected_version=seen_by_a
    )
    with pytest.raises(ConcurrentUpdate, match="changed by someone else"):
        partnership.fire(COORDINATOR, ref, "raise_concern", reason="x", expected_version=seen_by_b)
    activity = partnership.get_activity(ref)[0]
    assert (activity.state, activity.version) == ("sampling", 2)
    assert [e.trigger for e in partnership.timeline(ref) if e.kind == "transition"] == [
        "sample_cases"
    ]
