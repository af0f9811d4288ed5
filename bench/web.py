"""Response times of the dashboard and the overdue page, beside a bare ``SELECT 1`` page.

Issue 5: "dashboard and overdue pages with 100k tasks on PostgreSQL; report the median and
95th-percentile response time beside a bare "SELECT 1" page served the same way in the
same run."

For each database (a fresh PostgreSQL schema, dropped afterwards; or a SQLite file in a
temporary directory) the script:

1. builds the data with ``bench/sweep.py``'s ``build``: the shipped migrations, a dozen
   fictional agencies, a coordinator and a manager, one ``themed_audit`` opened through
   the service, then a bulk load (COPY / executemany) up to N ``audit_return`` tasks in
   cloned activities of one task per agency (N / 12 activities), created on the last 60
   working days with the real 20-working-day deadline;
2. reshapes them into a realistic mix with three ``UPDATE`` statements (spread over the
   table by a hash of the id): of the tasks whose deadline has passed, 60 % are accepted
   (closed, deadline met), 10 % submitted late (open, deadline met) and 30 % left open and
   overdue; of the rest, 15 % are submitted (open, deadline met). Then ANALYZE. The
   tasks' own ``next_reminder_at`` values are left as loaded; no sweep runs here;
3. sets passwords for the coordinator and the manager (``auth.set_password``);
4. serves the real app (``create_app``) with uvicorn in a child process on a free
   127.0.0.1 port, the clock fixed at sweep.py's ``NOW`` (Wednesday 14 January 2026
   10:00 London), with one extra route added to the FastAPI object ``create_app`` returns:
   ``/bench/select1`` runs ``SELECT 1`` on the app's own read engine and returns a tiny HTML
   page. It goes through the same server, middleware and event loop as the real pages;
5. signs in as the manager (GET /login for the form token and cookie, POST the
   credentials), then times sequential GETs over one keep-alive connection: a warm-up,
   then ``--n`` requests per page in ``--rounds`` interleaved rounds (the page order
   rotates each round). Every response must be 200 with the page's ``<h1>``;
6. prints median and 95th percentile per page and their ratio to the bare page, then (the
   profile) times each query the two pages send, in this process on the same data, and
   prints the PostgreSQL ``EXPLAIN (ANALYZE, BUFFERS)`` of the slowest ones.

Run: ``.venv/bin/python bench/web.py`` (100k tasks, PostgreSQL), ``--quick`` (10k),
``--tasks 1M``, ``--db both``, ``--try-index`` (add a candidate partial index to the
throwaway database first, to see what it changes). PostgreSQL comes from ``SEF_BENCH_POSTGRES_URL`` (else
``SEF_TEST_POSTGRES_URL``, else the local ``test`` database).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy import event as sa_event

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fire_rate as fr  # sibling scripts, not a package: shared setup helpers
import sweep

from sef_workflow.app import App
from sef_workflow.calendar import WorkingCalendar
from sef_workflow.clock import FakeClock
from sef_workflow.config import load_settings
from sef_workflow.db import Database
from sef_workflow.definitions import Registry
from sef_workflow.service import Service
from sef_workflow.web import auth, queries
from sef_workflow.web.app import create_app

NOW = sweep.NOW
TASK = sweep.TASK
MANAGER = sweep.MANAGER
COORDINATOR = fr.COORDINATOR
PASSWORD = "bench-password-not-secret"  # fictional, for a throwaway database
SECRET_KEY = "bench-secret-key-not-secret"
BARE_PATH = "/bench/select1"
DUE_SOON_DAYS = 7  # WebSettings.due_soon_days
SLOW_MS = 200.0
#: --try-index: a candidate index for the pages' task lists (an experiment on the throwaway
#: database; the package's migrations are not changed). It matches their ORDER BY, so a
#: LIMIT can stop early instead of sorting every open running task.
TRY_INDEX = (
    "CREATE INDEX ix_bench_task_open_running_due ON task ((due_at IS NULL), due_at, id) "
    "WHERE is_open IS TRUE AND deadline_status = 'running'"
)  # a page slower than this (median) gets its query plans printed in full


@dataclass(frozen=True)
class Page:
    label: str
    path: str
    heading: str


PAGES = (
    Page("dashboard", "/", "<h1>Dashboard</h1>"),
    Page("overdue", "/manager/overdue", "<h1>Overdue and due soon</h1>"),
    Page("bare SELECT 1", BARE_PATH, "<h1>SELECT 1</h1>"),
)


# ---------------------------------------------------------------------------------------
# the server (child process)


def make_app(url: str) -> Any:
    """The real FastAPI app over ``url``, plus the bare page; the clock fixed at NOW."""
    db = Database(url)
    calendar = WorkingCalendar()
    registry = Registry(fr.WORKFLOWS)
    notifier = fr.make_notifier(calendar)
    service = Service(db, registry, calendar, FakeClock(NOW), notifier)
    loaded = load_settings(environ={"SEF_DATABASE_URL": url})
    app = App(
        settings=loaded,
        db=db,
        registry=registry,
        calendar=calendar,
        service=service,
        notifier=notifier,
    )
    api = create_app(app, secret_key=SECRET_KEY, upload_dir=Path("/nonexistent-bench-uploads"))

    @api.get(BARE_PATH, response_class=HTMLResponse, include_in_schema=False)
    async def select1(request: Request) -> HTMLResponse:  # async, as the real pages are
        with db.engine.connect() as conn:
            one = conn.execute(sa.text("SELECT 1")).scalar_one()
        return HTMLResponse(
            f'<!doctype html><html lang="en"><title>bare</title><h1>SELECT 1</h1><p>{one}</p>'
        )

    return api


def serve(url: str, port: int) -> None:
    import uvicorn

    uvicorn.run(make_app(url), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``python bench/web.py --serve URL --port P`` in a child process."""

    def __init__(self, url: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", url, "--port", str(self.port)],
            cwd=fr.ROOT,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited with status {self.proc.returncode}")
            try:
                if httpx.get(self.base + BARE_PATH, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise SystemExit("the server did not answer in time")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------------------
# the data


@dataclass(frozen=True)
class Mix:
    tasks: int
    activities: int
    agencies: int
    open: int
    overdue: int
    due_soon: int
    submitted: int
    closed: int


def reshape(fx: sweep.Fixture) -> None:
    """Close most overdue tasks and mark some answered, spread over the table by id."""
    bucket = (TASK.c.id * 7919) % 100
    past = TASK.c.due_at <= NOW
    closed = {
        "state": "accepted",
        "is_open": False,
        "closed_at": TASK.c.due_at,
        "updated_at": TASK.c.due_at,
        "deadline_status": "met",
        "next_reminder_at": None,
        "version": TASK.c.version + 2,
    }
    answered = {
        "state": "submitted",
        "updated_at": TASK.c.due_at,
        "deadline_status": "met",
        "next_reminder_at": None,
        "version": TASK.c.version + 1,
    }
    with fx.db.write_engine.begin() as conn:
        conn.execute(sa.update(TASK).where(past, bucket < 60).values(**closed))
        conn.execute(sa.update(TASK).where(past, bucket >= 60, bucket < 70).values(**answered))
        conn.execute(sa.update(TASK).where(~past, bucket < 15).values(**answered))
    if fx.db.is_sqlite:
        with fx.db.write_engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    else:
        auto = fx.db.engine.execution_options(isolation_level="AUTOCOMMIT")
        with auto.connect() as conn:
            conn.exec_driver_sql("VACUUM ANALYZE task")


def mix(fx: sweep.Fixture, agencies: int) -> Mix:
    today = WorkingCalendar().local_date(NOW)
    soon = today + timedelta(days=DUE_SOON_DAYS)
    is_open = TASK.c.is_open.is_(True)
    running = TASK.c.deadline_status == "running"

    def count(*where: Any) -> int:
        q = sa.select(sa.func.count()).select_from(TASK).where(*where)
        return int(conn.execute(q).scalar_one())

    with fx.db.engine.connect() as conn:
        activities = int(conn.execute(sa.text("SELECT count(*) FROM activity")).scalar_one())
        return Mix(
            tasks=count(),
            activities=activities,
            agencies=agencies,
            open=count(is_open),
            overdue=count(is_open, running, TASK.c.due_at <= NOW),
            due_soon=count(is_open, running, TASK.c.due_at > NOW, TASK.c.due_on <= soon),
            submitted=count(is_open, TASK.c.state == "submitted"),
            closed=count(TASK.c.is_open.is_(False)),
        )


# ---------------------------------------------------------------------------------------
# the client


def sign_in(client: httpx.Client) -> None:
    form = client.get("/login")
    if form.status_code != 200 or "<h1>Sign in</h1>" not in form.text:
        raise SystemExit(f"GET /login: {form.status_code}")
    found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if found is None:
        raise SystemExit("GET /login: no csrf_token in the form")
    done = client.post(
        "/login",
        data={
            "email": MANAGER.id,
            "password": PASSWORD,
            "csrf_token": found.group(1),
            "next": "/",
        },
    )
    if done.status_code != 303 or "sef_session" not in client.cookies:
        raise SystemExit(f"POST /login: {done.status_code}, not signed in")


def fetch(client: httpx.Client, page: Page) -> tuple[float, int]:
    """One GET: (ms, bytes); the checks run after the clock stops."""
    started = time.perf_counter()
    response = client.get(page.path)
    body = response.content
    ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200 or page.heading not in response.text:
        raise SystemExit(f"GET {page.path}: {response.status_code}, {response.text[:300]!r}")
    return ms, len(body)


@dataclass
class Timing:
    page: Page
    times: list[float] = field(default_factory=list)
    size: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def p95(self) -> float:
        ordered = sorted(self.times)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]  # nearest rank


def time_pages(base: str, n: int, warmup: int, rounds: int) -> list[Timing]:
    timings = [Timing(p) for p in PAGES]
    with httpx.Client(base_url=base, timeout=60, follow_redirects=False) as client:
        sign_in(client)
        for t in timings:
            for _ in range(warmup):
                _, t.size = fetch(client, t.page)
        per_round = [n // rounds + (1 if r < n % rounds else 0) for r in range(rounds)]
        for r, count in enumerate(per_round):
            shift = r % len(timings)
            for t in timings[shift:] + timings[:shift]:
                for _ in range(count):
                    ms, t.size = fetch(client, t.page)
                    t.times.append(ms)
    return timings


# ---------------------------------------------------------------------------------------
# the profile: what each page asks the database, timed here on the same data


@dataclass
class Query:
    page: str
    label: str
    ms: float
    rows: int
    statements: list[tuple[str, Any]]


def profile_queries(fx: sweep.Fixture, runs: int) -> list[Query]:
    db, service = fx.db, fx.service
    cal = WorkingCalendar()
    today: date = cal.local_date(NOW)
    week_end = today + timedelta(days=6 - today.weekday())
    token = auth.start_session(db, MANAGER.id, NOW, timedelta(hours=8))
    calls: list[tuple[str, str, Callable[[], Any]]] = [
        ("both", "session lookup", lambda: auth.load_session(db, service, token, NOW)),
        ("dashboard", "activities_of(manager)", lambda: queries.activities_of(db, MANAGER.id)),
        (
            "dashboard",
            "tasks(due_by=week end, 100)",
            lambda: queries.tasks(db, due_by=week_end, limit=100),
        ),
        ("dashboard", "overdue_by_agency", lambda: queries.overdue_by_agency(db, NOW)),
        ("dashboard", "failed_email_count", lambda: queries.failed_email_count(db)),
        (
            "overdue",
            "tasks(overdue_at=now, 1000)",
            lambda: queries.tasks(db, overdue_at=NOW, limit=1000),
        ),
        (
            "overdue",
            "tasks(due_by=+7 days, 1000)",
            lambda: queries.tasks(db, due_by=today + timedelta(days=DUE_SOON_DAYS), limit=1000),
        ),
        ("overdue", "list_agencies", service.list_agencies),
    ]
    out: list[Query] = []
    for page, label, fn in calls:
        seen: list[tuple[str, Any]] = []

        def on_execute(_c: Any, _cur: Any, statement: str, params: Any, *_a: Any) -> None:
            seen.append((statement, params))  # noqa: B023 - used only inside this iteration

        sa_event.listen(db.engine, "before_cursor_execute", on_execute)
        try:
            result = fn()
        finally:
            sa_event.remove(db.engine, "before_cursor_execute", on_execute)
        ms, result = sweep.median_ms(fn, runs)
        rows = len(result) if isinstance(result, list) else 1
        out.append(Query(page, label, ms, rows, seen))
    return out


def explain(fx: sweep.Fixture, q: Query) -> list[str]:
    lines: list[str] = []
    with fx.db.engine.connect() as conn:
        for sql, params in q.statements:
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            if fx.db.is_sqlite:
                plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)
                lines.extend(str(r[3]) for r in plan)
            else:
                plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                lines.extend(str(r[0]) for r in plan)
        conn.rollback()
    return lines


# ---------------------------------------------------------------------------------------
# one database


@dataclass
class Result:
    label: str
    mix: Mix
    timings: list[Timing]
    queries: list[Query]


def run_database(label: str, opts: Options) -> Result:
    with ExitStack() as stack:
        database = fr.sqlite_database() if label == "sqlite" else fr.postgres_schema()
        url = stack.enter_context(database)
        started = time.perf_counter()
        fx = sweep.build(label, url, opts.tasks, opts.agencies)
        stack.callback(fx.db.dispose)  # before the schema is dropped
        built = time.perf_counter()
        reshape(fx)
        for email in (COORDINATOR.id, MANAGER.id):
            auth.set_password(fx.db, email, PASSWORD, now=NOW)
        if opts.try_index:
            with fx.db.write_engine.begin() as conn:
                conn.exec_driver_sql(TRY_INDEX)
                if not fx.db.is_sqlite:
                    conn.exec_driver_sql("ANALYZE task")
            print(f"  {label}: experiment, not in the migrations: {TRY_INDEX}", flush=True)
        shape = mix(fx, opts.agencies)
        print(
            f"  {label}: built {shape.tasks:,} tasks in {shape.activities:,} activities, "
            f"{shape.agencies} agencies ({built - started:.1f}s, reshaped "
            f"{time.perf_counter() - built:.1f}s): {shape.open:,} open, {shape.overdue:,} "
            f"overdue, {shape.due_soon:,} due within {DUE_SOON_DAYS} days, "
            f"{shape.submitted:,} submitted awaiting review, {shape.closed:,} closed",
            flush=True,
        )
        server = Server(url)
        stack.callback(server.stop)  # the server goes first, then the engine, then the schema
        server.wait_ready()
        print(f"  {label}: serving on {server.base} (uvicorn, one worker)", flush=True)
        timings = time_pages(server.base, opts.n, opts.warmup, opts.rounds)
        server.stop()
        found = profile_queries(fx, opts.runs)
        result = Result(label, shape, timings, found)
        print_result(result)
        slow = {t.page.label for t in timings if t.median > SLOW_MS}
        if opts.plans or slow or not fx.db.is_sqlite:
            worst = sorted(found, key=lambda q: q.ms, reverse=True)
            shown = worst if opts.plans else worst[: 3 if slow else 2]
            for q in shown:
                print(f"\n  plan of {q.label} ({q.page}, {q.ms:.1f} ms):")
                for line in explain(fx, q):
                    print(f"    {line}")
        return result


def print_result(r: Result) -> None:
    bare = next(t for t in r.timings if t.page.path == BARE_PATH)
    print()
    print(
        f"{r.label}: {r.mix.tasks:,} tasks ({r.mix.open:,} open, {r.mix.overdue:,} overdue, "
        f"{r.mix.due_soon:,} due soon); sequential GETs, one keep-alive connection"
    )
    header = (
        f"{'page':<15} {'path':<18} {'n':>4} {'median ms':>9} {'p95 ms':>8} "
        f"{'x bare (median)':>15} {'x bare (p95)':>12} {'KB':>7}"
    )
    print(header)
    print("-" * len(header))
    for t in r.timings:
        print(
            f"{t.page.label:<15} {t.page.path:<18} {len(t.times):>4} {t.median:>9.2f} "
            f"{t.p95:>8.2f} {t.median / bare.median:>15.1f} {t.p95 / bare.p95:>12.1f} "
            f"{t.size / 1024:>7.1f}"
        )
    print()
    print(f"{r.label}: the pages' queries timed in this process (median), same data")
    header = f"{'page':<10} {'query':<30} {'ms':>8} {'rows':>6} {'statements':>10}"
    print(header)
    print("-" * len(header))
    for q in r.queries:
        print(f"{q.page:<10} {q.label:<30} {q.ms:>8.2f} {q.rows:>6} {len(q.statements):>10}")


@dataclass(frozen=True)
class Options:
    tasks: int
    n: int
    warmup: int
    rounds: int
    runs: int
    agencies: int
    plans: bool
    try_index: bool


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=sweep.parse_size, default=100_000, help="tasks (100k)")
    parser.add_argument("--quick", action="store_true", help="10k tasks, n = 50")
    parser.add_argument("--db", choices=("postgres", "sqlite", "both"), default="postgres")
    parser.add_argument("--n", type=int, default=None, help="timed GETs per page (200)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed GETs per page (10)")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds (10)")
    parser.add_argument("--runs", type=int, default=15, help="runs per query in the profile")
    parser.add_argument("--agencies", type=int, default=12, help="fictional agencies (12)")
    parser.add_argument("--plans", action="store_true", help="print every query's plan")
    parser.add_argument(
        "--try-index", action="store_true", help="add a candidate index first (an experiment)"
    )
    parser.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port)
        return 0
    tasks = 10_000 if args.quick else args.tasks
    n = args.n or (50 if args.quick else 200)
    if tasks < sweep.DUE + args.agencies or n < 1 or args.rounds < 1 or args.agencies < 1:
        parser.error(f"--tasks >= {sweep.DUE + args.agencies}; --n, --rounds, --agencies >= 1")
    opts = Options(
        tasks,
        n,
        args.warmup,
        min(args.rounds, n),
        args.runs,
        args.agencies,
        args.plans,
        args.try_index,
    )
    wanted = ("sqlite", "postgres") if args.db == "both" else (args.db,)
    print(
        f"web benchmark: {tasks:,} tasks, {args.agencies} agencies, {n} timed GETs per page "
        f"in {opts.rounds} rounds after {args.warmup} warm-up, now "
        f"{NOW.astimezone(sweep.LONDON):%a %d %b %Y %H:%M} London; pid {os.getpid()}",
        flush=True,
    )
    started = time.perf_counter()
    for label in wanted:
        run_database(label, opts)
    print(f"\ntotal time {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
