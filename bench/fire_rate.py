"""Fire rate: ``Service.fire_task`` against the same writes in raw SQL, SQLite and PostgreSQL.

For each database the script builds a fresh schema with the shipped migrations, imports a
few fictional agencies, opens ``agency_request`` activities and fires ``issue_request``
until there are enough ``agency_return`` tasks (a return whose submit carries a summary and
no assessment form), then times three ways of submitting those returns (each on its own, disjoint set of tasks):

* **service**: ``service.fire_task(agency, task_id, "submit", {"summary": "fictional"})``,
  one transaction per call (read task + activity, compare-and-set UPDATE, INSERT event,
  commit);
* **raw, one transaction per fire**: the same logical writes with hand-written SQL through
  the same driver (``sqlite3`` / ``psycopg``), no SQLAlchemy at all: BEGIN, SELECT the task
  joined to its activity, UPDATE task SET state, data, version, updated_at WHERE id AND
  version, INSERT the event, COMMIT;
* **raw, one transaction for all N**: the same statements, all N fires in a single
  transaction; a ceiling that shows what per-transaction commit costs.

The service and per-transaction raw runs are interleaved in ``--rounds`` chunks so that
drift (table growth, WAL checkpoints, autovacuum) hits both alike. Every path is warmed up
on its own extra tasks first. At the end the script checks that every task was submitted
exactly once and wrote exactly one event.

Run: ``.venv/bin/python bench/fire_rate.py`` (``--quick`` for a smoke run, ``--n 5000``
for a longer one). PostgreSQL comes from ``SEF_BENCH_POSTGRES_URL`` (else
``SEF_TEST_POSTGRES_URL``, else the local ``test`` database); the script creates its own
schema there and drops it afterwards. Exit status 1 if the PostgreSQL target is missed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import sqlalchemy as sa
from psycopg.types.json import Json
from sqlalchemy import event as sa_event

from sef_workflow.calendar import LONDON, WorkingCalendar
from sef_workflow.clock import FakeClock
from sef_workflow.db import Database
from sef_workflow.definitions import Registry
from sef_workflow.directory import AgencyRecord
from sef_workflow.models import Activity, Task
from sef_workflow.service import Actor, Service

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
POSTGRES_URL = os.environ.get(
    "SEF_BENCH_POSTGRES_URL",
    os.environ.get("SEF_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
)
TARGET = 0.40
TRIGGER = "submit"
DUE_DATE = "2026-02-27"  # a month after the fake clock's start
INPUTS = {"summary": "fictional"}
SOURCES = ("requested", "returned")
DEST = "submitted"
RAW_TRIPS = 5  # BEGIN, SELECT, UPDATE, INSERT, COMMIT
COORDINATOR = Actor(id="coordinator@northshire-scp.example", role="coordinator", name="Casey")

# The baseline reads every column of the task and its activity, as the service's ORM load
# does. The lists come from the table metadata (read once, no ORM at run time), so the
# baseline keeps step if a column is added.
TASK_COLUMNS = tuple(c.name for c in Task.__table__.columns)  # type: ignore[attr-defined]
ACTIVITY_COLUMNS = tuple(c.name for c in Activity.__table__.columns)  # type: ignore[attr-defined]
# Column positions in the joined row (task columns first).
T_ACTIVITY, T_AGENCY, T_STATE, T_DATA, T_VERSION = (
    TASK_COLUMNS.index(c) for c in ("activity_id", "agency_id", "state", "data", "version")
)
SELECT_SQL = (
    "SELECT "
    + ", ".join([f"t.{c}" for c in TASK_COLUMNS] + [f"a.{c}" for c in ACTIVITY_COLUMNS])
    + " FROM task t JOIN activity a ON a.id = t.activity_id WHERE t.id = %s"
)
UPDATE_SQL = (
    "UPDATE task SET state = %s, data = %s, version = version + 1, updated_at = %s "
    "WHERE id = %s AND version = %s"
)
INSERT_SQL = (
    'INSERT INTO event (activity_id, task_id, at, actor, actor_role, kind, "trigger", '
    "from_state, to_state, inputs, reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "RETURNING id"  # the service reads the new event's id back too (notification keys)
)


# ---------------------------------------------------------------------------------------
# setup


def fictional_agencies(count: int) -> list[AgencyRecord]:
    sectors = ("police", "health", "local_authority", "education", "probation", "housing")
    return [
        AgencyRecord(
            code=f"BA{i:02d}",
            name=f"Benchmark Agency {i:02d} (fictional)",
            sector=sectors[i % len(sectors)],
            lead_name=f"Lead {i:02d}",
            lead_email=f"lead{i:02d}@agency{i:02d}.bench.example",
            manager_name=f"Manager {i:02d}",
            manager_email=f"manager{i:02d}@agency{i:02d}.bench.example",
        )
        for i in range(1, count + 1)
    ]


@dataclass
class Fixture:
    """A database with the schema, the agencies and enough open audit returns."""

    label: str
    url: str
    db: Database
    service: Service
    clock: FakeClock
    actors: dict[int, Actor]
    tasks: list[tuple[int, int]]  # (task id, agency id), in creation order
    setup_seconds: float


def make_notifier(calendar: WorkingCalendar) -> Any:
    """The outbox notifier, built as tests/conftest.py builds it."""
    from sef_workflow.notify.outbox import Notifier
    from sef_workflow.notify.render import Templates

    return Notifier(
        Templates(
            ROOT / "notifications", "Northshire Safeguarding Children Partnership (fictional)"
        ),
        calendar,
        base_url="http://127.0.0.1:8000",
        business_unit_email="business.unit@northshire-scp.example",
    )


def build_fixture(
    label: str, url: str, tasks_needed: int, agencies: int, notifier: bool = False
) -> Fixture:
    started = time.perf_counter()
    db = Database(url)
    db.upgrade()
    clock = FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=LONDON))
    calendar = WorkingCalendar()
    if notifier:
        service = Service(db, Registry(WORKFLOWS), calendar, clock, make_notifier(calendar))
    else:
        service = Service(db, Registry(WORKFLOWS), calendar, clock)
    records = fictional_agencies(agencies)
    system = Actor.system()
    service.import_agencies(system, records)
    service.add_staff(system, "Casey Coord", COORDINATOR.id, "coordinator")
    actors: dict[int, Actor] = {}
    for record in records:
        actor = service.resolve_actor(record.lead_email)
        assert actor.agency_id is not None
        actors[actor.agency_id] = actor
    codes = [r.code for r in records]
    tasks: list[tuple[int, int]] = []
    number = 0
    while len(tasks) < tasks_needed:
        number += 1
        opened = service.open_activity(
            COORDINATOR,
            "agency_request",
            f"Benchmark request {number} (fictional)",
            codes,
            {"request_type": "quarterly_system_indicators"},
        )
        ref = opened.activity.ref
        issued = service.fire(
            COORDINATOR,
            ref,
            "issue_request",
            {"due_date": DUE_DATE, "request_details": "Fictional indicator data"},
        )
        for task in issued.created_tasks:
            assert task.id is not None
            assert task.agency_id is not None
            tasks.append((task.id, task.agency_id))
    return Fixture(
        label, url, db, service, clock, actors, tasks[:tasks_needed], time.perf_counter() - started
    )


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="sef-bench-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'bench.db'}"


@contextmanager
def postgres_schema() -> Iterator[str]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# ---------------------------------------------------------------------------------------
# the raw-SQL baseline


class RawFirer:
    """The same logical writes as ``fire_task``, in hand-written SQL on the bare driver."""

    def __init__(self, url: str) -> None:
        parsed = sa.engine.make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            # Same settings as sef_workflow.db: WAL, foreign keys, synchronous=NORMAL, and
            # writes start with BEGIN IMMEDIATE; the driver does not open transactions.
            conn = sqlite3.connect(parsed.database or "", isolation_level=None)
            for pragma in (
                "PRAGMA journal_mode=WAL",
                "PRAGMA foreign_keys=ON",
                "PRAGMA synchronous=NORMAL",
                "PRAGMA busy_timeout=5000",
            ):
                conn.execute(pragma)
            self.sqlite: sqlite3.Connection | None = conn
            self.pg: psycopg.Connection[Any] | None = None
            self.select, self.update, self.insert = (
                s.replace("%s", "?") for s in (SELECT_SQL, UPDATE_SQL, INSERT_SQL)
            )
        else:
            conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
            # autocommit off, like SQLAlchemy: psycopg sends BEGIN before the first statement.
            self.pg = psycopg.connect(conninfo)
            self.sqlite = None
            self.select, self.update, self.insert = SELECT_SQL, UPDATE_SQL, INSERT_SQL

    def close(self) -> None:
        if self.sqlite is not None:
            self.sqlite.close()
        if self.pg is not None:
            self.pg.close()

    def _begin(self) -> Any:
        if self.sqlite is not None:
            self.sqlite.execute("BEGIN IMMEDIATE")
            return self.sqlite.cursor()
        assert self.pg is not None
        return self.pg.cursor()

    def _commit(self) -> None:
        if self.sqlite is not None:
            self.sqlite.execute("COMMIT")
        else:
            assert self.pg is not None
            self.pg.commit()

    def _fire(self, cur: Any, task_id: int, actor: Actor, now: datetime) -> None:
        cur.execute(self.select, (task_id,))
        row = cur.fetchone()
        if row is None:
            raise LookupError(f"no task {task_id}")
        state, version = row[T_STATE], row[T_VERSION]
        if state not in SOURCES or row[T_AGENCY] != actor.agency_id:
            raise RuntimeError(f"task {task_id}: cannot {TRIGGER} from {state}")
        raw_data = row[T_DATA]
        data = json.loads(raw_data) if isinstance(raw_data, str) else raw_data
        new_data = {**data, **INPUTS}
        if self.is_sqlite:
            # SQLite keeps naive UTC text, as SQLAlchemy writes it; JSON as text.
            at: Any = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            data_param: Any = json.dumps(new_data)
            inputs_param: Any = json.dumps(INPUTS)
        else:
            at, data_param, inputs_param = now, Json(new_data), Json(dict(INPUTS))
        cur.execute(self.update, (DEST, data_param, at, task_id, version))
        if cur.rowcount != 1:
            raise RuntimeError(f"task {task_id} changed under us")
        cur.execute(
            self.insert,
            (
                row[T_ACTIVITY],
                task_id,
                at,
                actor.id,
                actor.role,
                "task_transition",
                TRIGGER,
                state,
                DEST,
                inputs_param,
                None,
            ),
        )
        if cur.fetchone() is None:
            raise RuntimeError(f"task {task_id}: no event id")

    def fire_each(
        self, tasks: Sequence[tuple[int, int]], actors: dict[int, Actor], clock: FakeClock
    ) -> None:
        """One transaction per fire."""
        for task_id, agency_id in tasks:
            cur = self._begin()
            self._fire(cur, task_id, actors[agency_id], clock.now())
            self._commit()

    def fire_all_in_one(
        self, tasks: Sequence[tuple[int, int]], actors: dict[int, Actor], clock: FakeClock
    ) -> None:
        """Every fire in a single transaction."""
        cur = self._begin()
        for task_id, agency_id in tasks:
            self._fire(cur, task_id, actors[agency_id], clock.now())
        self._commit()


# ---------------------------------------------------------------------------------------
# the service path


def service_fire_each(fx: Fixture, tasks: Sequence[tuple[int, int]]) -> None:
    fire_task, actors = fx.service.fire_task, fx.actors
    for task_id, agency_id in tasks:
        fire_task(actors[agency_id], task_id, TRIGGER, INPUTS)


@dataclass
class Trips:
    """What one service fire sends to the database, counted during the warm-up."""

    statements: float  # SQL statements through SQLAlchemy (BEGIN IMMEDIATE counts on SQLite)
    pings: float  # pool pre-ping round trips (pool_pre_ping=True on PostgreSQL)
    round_trips: float  # statements + pings + COMMIT (+ BEGIN, which psycopg sends itself)


def count_trips(fx: Fixture, tasks: Sequence[tuple[int, int]]) -> Trips:
    """Fire ``tasks`` through the service, counting statements and pool pings."""
    engine = fx.db.write_engine
    dialect: Any = engine.dialect
    seen = {"statements": 0, "pings": 0}

    def on_execute(*_args: Any) -> None:
        seen["statements"] += 1

    original_ping = dialect.do_ping

    def counting_ping(dbapi_connection: Any) -> bool:
        seen["pings"] += 1
        return bool(original_ping(dbapi_connection))

    sa_event.listen(engine, "before_cursor_execute", on_execute)
    dialect.do_ping = counting_ping
    try:
        service_fire_each(fx, tasks)
    finally:
        del dialect.do_ping  # back to the class's method
        sa_event.remove(engine, "before_cursor_execute", on_execute)
    count = max(1, len(tasks))
    statements, pings = seen["statements"] / count, seen["pings"] / count
    begin = 0 if fx.db.is_sqlite else 1
    return Trips(statements, pings, statements + pings + 1 + begin)


@dataclass
class Timing:
    wall: float = 0.0
    cpu: float = 0.0  # this process's CPU time: the client-side cost, apart from waiting

    def add(self, fn: Callable[[], None]) -> None:
        gc.collect()
        cpu, wall = time.process_time(), time.perf_counter()
        fn()
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu


# ---------------------------------------------------------------------------------------
# one database


@dataclass
class Result:
    label: str
    n: int
    service: Timing
    raw: Timing
    single: Timing
    trips: Trips

    @property
    def service_rate(self) -> float:
        return self.n / self.service.wall

    @property
    def raw_rate(self) -> float:
        return self.n / self.raw.wall

    @property
    def single_rate(self) -> float:
        return self.n / self.single.wall

    @property
    def ratio(self) -> float:
        return self.service_rate / self.raw_rate

    @property
    def single_ratio(self) -> float:
        return self.service_rate / self.single_rate

    def per_fire_us(self, seconds: float) -> float:
        return seconds / self.n * 1e6


def chunks(items: Sequence[tuple[int, int]], parts: int) -> list[Sequence[tuple[int, int]]]:
    size, extra = divmod(len(items), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        out.append(items[start:end])
        start = end
    return out


@dataclass(frozen=True)
class Options:
    n: int
    warmup: int
    rounds: int
    agencies: int
    notifier: bool


def run_one(label: str, url: str, opts: Options) -> Result:
    n, warmup, rounds = opts.n, opts.warmup, opts.rounds
    fx = build_fixture(label, url, 3 * (n + warmup), opts.agencies, opts.notifier)
    raw = RawFirer(url)
    try:
        # Deal the tasks out round-robin so each path touches the same spread of rows.
        service_tasks, raw_tasks, single_tasks = (fx.tasks[i::3] for i in range(3))
        print(
            f"  {label}: setup {fx.setup_seconds:.1f}s ({len(fx.tasks)} agency_return tasks); "
            f"warm-up {warmup} fires per path; timing {n} per path",
            flush=True,
        )
        # Warm-up: caches, prepared statements, the pool, the compiled workflow.
        half = warmup // 2
        service_fire_each(fx, service_tasks[:half])
        trips = count_trips(fx, service_tasks[half:warmup])
        raw.fire_each(raw_tasks[:warmup], fx.actors, fx.clock)
        raw.fire_all_in_one(single_tasks[:warmup], fx.actors, fx.clock)

        service, raw_each, single = Timing(), Timing(), Timing()
        for s_chunk, r_chunk in zip(
            chunks(service_tasks[warmup:], rounds), chunks(raw_tasks[warmup:], rounds), strict=True
        ):
            service.add(lambda s=s_chunk: service_fire_each(fx, s))
            raw_each.add(lambda r=r_chunk: raw.fire_each(r, fx.actors, fx.clock))
        single.add(lambda: raw.fire_all_in_one(single_tasks[warmup:], fx.actors, fx.clock))
        verify(fx, len(fx.tasks))
    finally:
        raw.close()
        fx.db.dispose()
    return Result(label, n, service, raw_each, single, trips)


def verify(fx: Fixture, expected: int) -> None:
    """Every task submitted exactly once, with exactly one transition event each."""
    with fx.db.engine.connect() as conn:
        submitted = conn.execute(
            sa.text("SELECT count(*) FROM task WHERE state = :s AND version = 2"), {"s": DEST}
        ).scalar_one()
        events = conn.execute(
            sa.text(
                "SELECT count(*) FROM event WHERE kind = 'task_transition' AND \"trigger\" = :t"
            ),
            {"t": TRIGGER},
        ).scalar_one()
    if submitted != expected or events != expected:
        raise SystemExit(
            f"{fx.label}: expected {expected} submitted tasks and events, "
            f"found {submitted} tasks and {events} events"
        )


# ---------------------------------------------------------------------------------------
# report


def report(results: Sequence[Result], opts: Options) -> bool:
    print()
    print(
        f"Service.fire_task('{TRIGGER}') vs raw SQL on the same driver, fires per second "
        f"(warm-up {opts.warmup} per path; service and raw interleaved in {opts.rounds} rounds)"
    )
    if opts.notifier:
        print(
            "NOTE --notifier: the service also renders and queues the 'return_received' email "
            "in each fire; the raw baselines do not write the outbox"
        )
    header = (
        f"{'database':<11} {'N':>6} {'service':>9} {'raw, 1 txn/fire':>16} {'ratio':>6} "
        f"{'raw, 1 txn for all N':>21} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.label:<11} {r.n:>6} {r.service_rate:>9.0f} {r.raw_rate:>16.0f} {r.ratio:>6.2f} "
            f"{r.single_rate:>21.0f} {r.single_ratio:>6.2f}"
        )
    print()
    print("Per fire")
    header = (
        f"{'database':<11} {'wall µs svc':>12} {'wall µs raw':>12} {'CPU µs svc':>11} "
        f"{'CPU µs raw':>11} {'stmts svc':>10} {'pings svc':>10} {'trips svc':>10} {'trips raw':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.label:<11} {r.per_fire_us(r.service.wall):>12.0f} "
            f"{r.per_fire_us(r.raw.wall):>12.0f} {r.per_fire_us(r.service.cpu):>11.0f} "
            f"{r.per_fire_us(r.raw.cpu):>11.0f} {r.trips.statements:>10.1f} "
            f"{r.trips.pings:>10.1f} {r.trips.round_trips:>10.1f} {RAW_TRIPS:>10}"
        )
    print()
    print("  raw, 1 txn/fire     : BEGIN, SELECT task JOIN activity, UPDATE task ... WHERE id AND")
    print("                        version, INSERT event RETURNING id, COMMIT; per fire, as the")
    print("                        service does; no SQLAlchemy, same driver and settings")
    print("  raw, 1 txn for all N: the same statements, all N fires in ONE transaction (a ceiling:")
    print("                        no per-fire commit, so no per-fire WAL flush)")
    print("  ratio               : service fires/s divided by that baseline's (1.00 = no overhead)")
    print("  CPU µs              : this process's CPU time per fire (client-side cost)")
    print(
        "  stmts/pings svc     : statements SQLAlchemy sends, and pool pre-pings, per service fire"
    )
    print("  trips               : database round trips per fire, COMMIT (and psycopg's BEGIN)")
    print("                        included")
    print()
    pg = [r for r in results if r.label == "postgresql"]
    if not pg:
        print(f"target: >= {TARGET:.2f} of raw on PostgreSQL: NOT MEASURED")
        return True
    ok = pg[0].ratio >= TARGET
    print(
        f"target: >= {TARGET:.2f} of raw on PostgreSQL (per-transaction baseline): "
        f"{'PASS' if ok else 'FAIL'} (measured {pg[0].ratio:.2f})"
    )
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="timed fires per path (2000)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: N=200")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up fires per path")
    parser.add_argument("--rounds", type=int, default=4, help="service/raw interleaving (4)")
    parser.add_argument("--agencies", type=int, default=8, help="fictional agencies (8)")
    parser.add_argument(
        "--notifier",
        action="store_true",
        help="build the Service with the outbox Notifier, as tests/conftest.py and app.py do "
        "(the service then also queues an email per fire; the baseline does not)",
    )
    parser.add_argument(
        "--databases",
        default="sqlite,postgresql",
        help="comma-separated: sqlite, postgresql (default both)",
    )
    args = parser.parse_args(argv)
    n = 200 if args.quick else args.n
    warmup = args.warmup if args.warmup is not None else max(20, min(200, n // 10))
    rounds = max(1, min(args.rounds, n))
    if n < 1 or warmup < 2 or args.agencies < 1:
        parser.error("--n must be >= 1, --warmup >= 2 and --agencies >= 1")
    wanted = [d.strip() for d in args.databases.split(",") if d.strip()]
    unknown = set(wanted) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown database {', '.join(sorted(unknown))}")

    opts = Options(n, warmup, rounds, args.agencies, args.notifier)
    print(
        f"fire-rate benchmark: N={n} per path, {args.agencies} agencies, "
        f"notifier {'on' if opts.notifier else 'off'}",
        flush=True,
    )
    results: list[Result] = []
    if "sqlite" in wanted:
        with sqlite_database() as url:
            results.append(run_one("sqlite", url, opts))
    if "postgresql" in wanted:
        with postgres_schema() as url:
            results.append(run_one("postgresql", url, opts))
    return 0 if report(results, opts) else 1


if __name__ == "__main__":
    sys.exit(main())
