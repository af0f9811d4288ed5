"""Delivery rate: emails rendered into the outbox and delivered over SMTP, beside a raw loop.

One local aiosmtpd server on 127.0.0.1 (its own process by default; a handler that counts
and discards) takes mail from both paths:

* **product**: for each notification, ``Notifier.recipients`` + ``Notifier.queue`` render
  the ``audit_tool_issued`` email (subject, text, HTML, the deadline's ``.ics``) for an
  agency's open audit return, one to its lead and one to its deputy where it has one, and
  insert them into the outbox, inside ``Database.write()`` transactions of ``--txn``
  notifications (100 by default, as a sweep would batch them); then
  ``Delivery(...).deliver_once()`` in a loop until nothing is claimed, with ``SmtpSender``
  and the shipped defaults (batch 50, 4 connections), minting each email's sign-in link as
  it is handed over. Render+queue and delivery are timed separately and together.
* **raw**: the very same outbox rows, turned into bytes with ``build_message`` before the
  clock starts, sent by a plain aiosmtplib loop over **one** connection (``sendmail`` each).

Rates count emails (N notifications make about 1.5 N of them). The N notifications are split into ``--rounds`` chunks; each round runs the product on a
fresh chunk and then the raw loop on that chunk's messages, so drift hits both alike. A
warm-up round runs first, untimed. Target (issue 3): product end-to-end rate at least 50%
of the raw rate.

Run: ``.venv/bin/python bench/delivery.py`` (``--quick`` for N=300, ``--db postgres|both``).
PostgreSQL comes from ``SEF_BENCH_POSTGRES_URL`` (else ``SEF_TEST_POSTGRES_URL``, else the
local ``test`` database), in a fresh ``bench_<random>`` schema dropped afterwards. Exit
status 1 if the target is missed on any database run.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import multiprocessing as mp
import pstats
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import aiosmtplib
import sqlalchemy as sa
from sqlmodel import col, select

from sef_workflow.calendar import LONDON, WorkingCalendar
from sef_workflow.clock import FakeClock
from sef_workflow.db import Database
from sef_workflow.definitions import Registry
from sef_workflow.directory import AgencyRecord
from sef_workflow.models import Activity, Agency, Notification, Task
from sef_workflow.notify.delivery import Delivery, outgoing
from sef_workflow.notify.outbox import About, Notifier
from sef_workflow.notify.render import Templates
from sef_workflow.notify.smtp import SmtpSender, build_message, envelope_address
from sef_workflow.service import Actor, Service

# the same paths and throwaway databases as fire_rate.py
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fire_rate import ROOT, WORKFLOWS, postgres_schema, sqlite_database

TARGET = 0.50
TEMPLATE = "audit_tool_issued"
FROM = "business.unit@northshire-scp.example"
COORDINATOR = Actor(id="coordinator@northshire-scp.example", role="coordinator", name="Casey")
HOST = "127.0.0.1"


# ---------------------------------------------------------------------------------------
# the SMTP server


class _CountingHandler:
    """Accepts every message and throws it away, counting it."""

    def __init__(self, counter: Any) -> None:
        self.counter = counter

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.counter.get_lock():
            self.counter.value += 1
        return "250 2.0.0 OK"


def _serve(counter: Any, ports: Any, stop: Any) -> None:
    """The server process: aiosmtpd on 127.0.0.1, a free port, until ``stop`` is set."""
    from sef_workflow.notify.catcher import LocalController

    controller = LocalController(
        _CountingHandler(counter), hostname=HOST, port=0, server_hostname="bench.localhost"
    )
    controller.start()
    ports.put(controller.port)
    stop.wait()
    controller.stop()


class Server:
    """A counting aiosmtpd server, in its own process (or a thread of this one)."""

    def __init__(self, in_thread: bool) -> None:
        ctx = mp.get_context("spawn")
        self.counter = ctx.Value("q", 0)
        self._stop = ctx.Event()
        self._proc: Any = None
        self._controller: Any = None
        if in_thread:
            from sef_workflow.notify.catcher import LocalController

            self._controller = LocalController(
                _CountingHandler(self.counter), hostname=HOST, port=0, server_hostname="bench"
            )
            self._controller.start()
            self.port = int(self._controller.port)
        else:
            ports = ctx.Queue()
            self._proc = ctx.Process(target=_serve, args=(self.counter, ports, self._stop))
            self._proc.start()
            self.port = int(ports.get(timeout=60))

    @property
    def received(self) -> int:
        return int(self.counter.value)

    def close(self) -> None:
        if self._controller is not None:
            self._controller.stop()
        if self._proc is not None:
            self._stop.set()
            self._proc.join(timeout=30)


# ---------------------------------------------------------------------------------------
# databases


def fictional_agencies(count: int) -> list[AgencyRecord]:
    """Agencies with a lead and (every other one) a deputy, who has an email of their own."""
    return [
        AgencyRecord(
            code=f"BA{i:02d}",
            name=f"Benchmark Agency {i:02d} (fictional)",
            sector="police",
            lead_name=f"Lead {i:02d}",
            lead_email=f"lead{i:02d}@agency{i:02d}.bench.example",
            deputy_name=f"Deputy {i:02d}" if i % 2 else None,
            deputy_email=f"deputy{i:02d}@agency{i:02d}.bench.example" if i % 2 else None,
            manager_name=f"Manager {i:02d}",
            manager_email=f"manager{i:02d}@agency{i:02d}.bench.example",
        )
        for i in range(1, count + 1)
    ]


def make_notifier(calendar: WorkingCalendar) -> Notifier:
    """The outbox notifier, built as tests/conftest.py builds it, with agencies' sign-in
    links as the application has them."""
    return Notifier(
        Templates(
            ROOT / "notifications", "Northshire Safeguarding Children Partnership (fictional)"
        ),
        calendar,
        base_url="http://127.0.0.1:8000",
        business_unit_email=FROM,
        sign_in_links=True,
    )


@dataclass
class Fixture:
    db: Database
    clock: FakeClock
    notifier: Notifier
    #: what each notification is about: an agency's open audit return
    abouts: list[About]
    setup_seconds: float


def build_fixture(url: str, tasks: int, agencies: int) -> Fixture:
    """Schema, agencies, and ``themed_audit`` activities with open ``audit_return`` tasks.

    The activities are opened through the service (without a notifier, so the outbox starts
    empty); the notifications the benchmark queues are about these tasks.
    """
    started = time.perf_counter()
    db = Database(url)
    db.upgrade()
    clock = FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=LONDON))
    calendar = WorkingCalendar()
    registry = Registry(WORKFLOWS)
    service = Service(db, registry, calendar, clock)
    records = fictional_agencies(agencies)
    service.import_agencies(Actor.system(), records)
    service.add_staff(Actor.system(), "Casey Coord", COORDINATOR.id, "coordinator")
    task_ids: list[int] = []
    number = 0
    while len(task_ids) < tasks:
        number += 1
        ref = service.open_activity(
            COORDINATOR,
            "themed_audit",
            f"Benchmark audit {number} (fictional)",
            [r.code for r in records],
            {"theme": "fictional theme"},
        ).activity.ref
        service.fire(COORDINATOR, ref, "sample_cases", {"sample_size": 3})
        issued = service.fire(COORDINATOR, ref, "issue_audit_tools")
        task_ids += [t.id for t in issued.created_tasks if t.id is not None]
    title = registry.get("themed_audit").title
    with db.read() as session:
        by_task = {t.id: t for t in session.exec(select(Task).where(col(Task.id).in_(task_ids)))}
        activities = {a.id: a for a in session.exec(select(Activity))}
        agency_rows = {a.id: a for a in session.exec(select(Agency))}
    abouts = []
    for tid in task_ids[:tasks]:
        task = by_task[tid]
        abouts.append(About(activities[task.activity_id], title, task, agency_rows[task.agency_id]))
    return Fixture(db, clock, make_notifier(calendar), abouts, time.perf_counter() - started)


# ---------------------------------------------------------------------------------------
# the two paths


def queue_chunk(fx: Fixture, keys: Sequence[str], abouts: Sequence[About], txn: int) -> int:
    """Render and insert one notification per key (an email per recipient), ``txn`` per
    ``Database.write()``; returns how many emails."""
    notifier, now = fx.notifier, fx.clock.now()
    emails = 0
    for start in range(0, len(keys), txn):
        with fx.db.write() as session:
            for key, about in zip(
                keys[start : start + txn], abouts[start : start + txn], strict=True
            ):
                recipients = notifier.recipients(session, "agency", about, ())
                added = notifier.queue(
                    session,
                    key=key,
                    template=TEMPLATE,
                    about=about,
                    recipients=recipients,
                    now=now,
                )
                if added != len(recipients) or not recipients:
                    raise SystemExit(f"{key}: queued {added} rows, expected {len(recipients)}")
                emails += added
    return emails


def deliver_all(delivery: Delivery) -> int:
    """``deliver_once`` until a batch claims nothing; returns how many were sent."""
    sent = 0
    while True:
        report = delivery.deliver_once()
        if report.claimed == 0:
            return sent
        if report.sent != report.claimed:
            raise SystemExit(f"delivery: {report}")
        sent += report.sent


@dataclass(frozen=True)
class Prebuilt:
    sender: str
    recipients: list[str]
    data: bytes


def prebuild(fx: Fixture, keys: Sequence[str], emails: int) -> list[Prebuilt]:
    """The outbox rows for ``keys`` (``emails`` of them), as the bytes and envelope
    ``SmtpSender`` would send."""
    with fx.db.read() as session:
        rows = list(
            session.exec(
                select(Notification)
                .where(col(Notification.dedupe_key).like(keys[0].rsplit(":", 1)[0] + ":%"))
                .order_by(col(Notification.id))
            )
        )
    if len(rows) != emails:
        raise SystemExit(f"expected {emails} outbox rows, found {len(rows)}")
    out = []
    for n in rows:
        m = outgoing(n, FROM)
        recipients = [envelope_address(a) for a in m.recipients]
        out.append(Prebuilt(envelope_address(m.from_addr), recipients, build_message(m)))
    return out


async def raw_send(port: int, messages: Sequence[Prebuilt]) -> None:
    """One aiosmtplib connection, ``sendmail`` for each message, then QUIT."""
    client = aiosmtplib.SMTP(hostname=HOST, port=port, local_hostname="localhost", timeout=30)
    await client.connect()
    try:
        for m in messages:
            refused, _reply = await client.sendmail(m.sender, m.recipients, m.data)
            if refused:
                raise SystemExit(f"raw: refused {refused}")
    finally:
        await client.quit()


def run_raw(port: int, messages: Sequence[Prebuilt]) -> None:
    asyncio.run(raw_send(port, messages))


@dataclass
class Timing:
    wall: float = 0.0
    cpu: float = 0.0

    def add(self, fn: Callable[[], Any], profiler: cProfile.Profile | None = None) -> Any:
        gc.collect()
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        try:
            return fn()
        finally:
            if profiler is not None:
                profiler.disable()
            self.wall += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu


@dataclass
class Result:
    label: str
    n: int
    render: Timing = field(default_factory=Timing)
    deliver: Timing = field(default_factory=Timing)
    raw: Timing = field(default_factory=Timing)

    def rate(self, seconds: float) -> float:
        return self.n / seconds

    @property
    def product_wall(self) -> float:
        return self.render.wall + self.deliver.wall

    @property
    def ratio(self) -> float:
        return self.raw.wall / self.product_wall

    @property
    def delivery_ratio(self) -> float:
        return self.raw.wall / self.deliver.wall


@dataclass(frozen=True)
class Options:
    n: int
    warmup: int
    rounds: int
    txn: int
    agencies: int
    tasks: int
    profile: bool
    top: int


def chunks(total: int, parts: int) -> list[range]:
    size, extra = divmod(total, parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        out.append(range(start, end))
        start = end
    return out


def run_one(label: str, url: str, server: Server, opts: Options) -> Result:
    fx = build_fixture(url, opts.tasks, opts.agencies)
    print(
        f"  {label}: setup {fx.setup_seconds:.1f}s ({len(fx.abouts)} open audit returns, "
        f"{opts.agencies} agencies); warm-up {opts.warmup}; timing {opts.n} per path "
        f"in {opts.rounds} rounds",
        flush=True,
    )
    sender = SmtpSender(HOST, server.port, "none", "", "", 30.0, local_hostname="localhost")
    delivery = Delivery(fx.db, sender, fx.clock, from_addr=FROM, worker=f"bench-{label}")
    profilers = (
        {"render+queue": cProfile.Profile(), "delivery": cProfile.Profile()} if opts.profile else {}
    )
    result = Result(label, 0)  # counts the emails of the timed rounds
    try:
        plan = [("warm", range(opts.warmup))] + [
            (f"r{i}", r) for i, r in enumerate(chunks(opts.n, opts.rounds))
        ]
        offset = 0
        for name, rng in plan:
            count = len(rng)
            keys = [f"bench:{name}:{i:06d}" for i in range(count)]
            abouts = [fx.abouts[(offset + i) % len(fx.abouts)] for i in range(count)]
            offset += count
            timed = name != "warm"
            before = server.received
            render = result.render if timed else Timing()
            deliver = result.deliver if timed else Timing()
            emails = render.add(
                partial(queue_chunk, fx, keys, abouts, opts.txn),
                profilers.get("render+queue") if timed else None,
            )
            sent = deliver.add(
                lambda: deliver_all(delivery), profilers.get("delivery") if timed else None
            )
            if sent != emails or server.received - before != emails:
                raise SystemExit(
                    f"{label} {name}: delivered {sent}, server got {server.received - before}, "
                    f"expected {emails}"
                )
            result.n += emails if timed else 0
            messages = prebuild(fx, keys, emails)  # untimed: the raw loop sends ready bytes
            before = server.received
            raw = result.raw if timed else Timing()
            raw.add(partial(run_raw, server.port, messages))
            if server.received - before != emails:
                raise SystemExit(f"{label} {name}: raw sent {server.received - before}")
        with fx.db.read() as session:
            left = session.exec(
                select(sa.func.count()).where(col(Notification.status) != "sent")
            ).one()
        if left:
            raise SystemExit(f"{label}: {left} notifications not sent")
    finally:
        fx.db.dispose()
    for what, profiler in profilers.items():
        print(f"\n  --- {label}: {what}, cProfile (timed rounds), by cumulative time ---")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(opts.top)
        print(f"  --- {label}: {what}, by own time ---")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(opts.top)
    return result


# ---------------------------------------------------------------------------------------
# report


def report(results: Sequence[Result], opts: Options, in_thread: bool) -> bool:
    print()
    print(
        f"'{TEMPLATE}' emails per second (N={opts.n} notifications per path, "
        f"{opts.rounds} interleaved rounds, queued {opts.txn} per transaction; server in "
        f"{'a thread of this process' if in_thread else 'its own process'})"
    )
    header = (
        f"{'database':<9} {'render+queue':>12} {'delivery':>9} {'product':>8} {'raw':>7} "
        f"{'ratio':>6} {'delivery ratio':>15} {'target':>7}"
    )
    print(header)
    print("-" * len(header))
    ok = True
    for r in results:
        passed = r.ratio >= TARGET
        ok = ok and passed
        print(
            f"{r.label:<9} {r.rate(r.render.wall):>12.0f} {r.rate(r.deliver.wall):>9.0f} "
            f"{r.rate(r.product_wall):>8.0f} {r.rate(r.raw.wall):>7.0f} {r.ratio:>6.2f} "
            f"{r.delivery_ratio:>15.2f} {'PASS' if passed else 'FAIL':>7}"
        )
    print()
    print("Per message, µs (wall / this process's CPU)")
    header = f"{'database':<9} {'render+queue':>17} {'delivery':>17} {'raw':>17}"
    print(header)
    print("-" * len(header))
    for r in results:
        cells = [
            f"{t.wall / r.n * 1e6:>8.0f} /{t.cpu / r.n * 1e6:>7.0f}"
            for t in (r.render, r.deliver, r.raw)
        ]
        print(f"{r.label:<9} {cells[0]:>17} {cells[1]:>17} {cells[2]:>17}")
    print()
    print("  render+queue  : Notifier.recipients + Notifier.queue (Jinja2 subject/text/HTML,")
    print("                  .ics invite, INSERT ... dedupe) in Database.write() transactions")
    print("  delivery      : Delivery.deliver_once() until empty: claim (lease UPDATE ...")
    print("                  RETURNING), sign-in links minted (one transaction per batch),")
    print("                  SmtpSender (build_message, 4 connections), one record")
    print("                  transaction per batch (CAS UPDATE + delivery_attempt INSERT)")
    print("  product       : N / (render+queue + delivery), end to end")
    print("  raw           : the same messages' bytes, prebuilt, aiosmtplib sendmail over ONE")
    print("                  connection; no database, no rendering")
    print("  ratio         : product rate / raw rate; delivery ratio: delivery rate / raw rate")
    print()
    verdict = "PASS" if ok else "FAIL"
    worst = min((r.ratio for r in results), default=0.0)
    print(f"target: product >= {TARGET:.2f} of raw: {verdict} (lowest measured {worst:.2f})")
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="timed messages per path (2000)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: N=300")
    parser.add_argument("--warmup", type=int, default=None, help="untimed messages first")
    parser.add_argument("--rounds", type=int, default=4, help="product/raw interleaving (4)")
    parser.add_argument("--txn", type=int, default=100, help="notifications per transaction")
    parser.add_argument("--agencies", type=int, default=8, help="fictional agencies (8)")
    parser.add_argument(
        "--tasks", type=int, default=200, help="open audit returns the emails are about (200)"
    )
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument(
        "--server-thread",
        action="store_true",
        help="run aiosmtpd in a thread of this process (shares the GIL) instead of its own",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the product path")
    parser.add_argument("--top", type=int, default=25, help="lines per profile listing (25)")
    args = parser.parse_args(argv)
    n = 300 if args.quick else args.n
    warmup = args.warmup if args.warmup is not None else max(50, min(200, n // 10))
    rounds = max(1, min(args.rounds, n))
    if n < 1 or warmup < 1 or args.txn < 1 or args.agencies < 1 or args.tasks < 1:
        parser.error("--n, --warmup, --txn, --agencies and --tasks must be >= 1")
    opts = Options(n, warmup, rounds, args.txn, args.agencies, args.tasks, args.profile, args.top)
    print(f"delivery benchmark: N={n} per path, '{TEMPLATE}' emails", flush=True)
    server = Server(args.server_thread)
    results: list[Result] = []
    try:
        if args.db in ("sqlite", "both"):
            with sqlite_database() as url:
                results.append(run_one("sqlite", url, server, opts))
        if args.db in ("postgres", "both"):
            with postgres_schema() as url:
                results.append(run_one("postgres", url, server, opts))
    finally:
        server.close()
    return 0 if report(results, opts, args.server_thread) else 1


if __name__ == "__main__":
    sys.exit(main())
