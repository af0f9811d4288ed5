"""Profile the service's fire path: where does ``Service.fire_task`` spend its time?

Builds the same fixture as ``bench/fire_rate.py`` (fresh SQLite file or PostgreSQL schema,
fictional agencies, agency_request activities with open ``agency_return`` tasks), warms up,
then profiles N ``fire_task(agency, id, "submit", {"summary": "fictional"})`` calls.

* default: cProfile (deterministic; inflates call-heavy code such as SQLAlchemy's statement
  building, so read it for *where*, and fire_rate.py for *how much*);
* ``--pyinstrument``: a sampling profile with wall-clock time, if pyinstrument is installed
  (``.venv/bin/pip install pyinstrument``; it is not a project dependency).

Run: ``.venv/bin/python bench/profile_fire.py --db postgresql --n 1000``
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fire_rate as fr  # a sibling script, not a package

#: the project's own functions worth a line each in the summary
OWN = r"sef_workflow/(service/|definitions/|db\.py|notify/outbox\.py|inputs\.py)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--n", type=int, default=1000, help="profiled fires (1000)")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--agencies", type=int, default=8)
    parser.add_argument("--notifier", action="store_true", help="build with the outbox Notifier")
    parser.add_argument("--pyinstrument", action="store_true", help="sample with pyinstrument")
    parser.add_argument("--top", type=int, default=30, help="lines per listing (30)")
    args = parser.parse_args(argv)

    database = fr.sqlite_database() if args.db == "sqlite" else fr.postgres_schema()
    with database as url:
        fx = fr.build_fixture(
            args.db, url, args.n + args.warmup, args.agencies, notifier=args.notifier
        )
        try:
            fr.service_fire_each(fx, fx.tasks[: args.warmup])
            tasks = fx.tasks[args.warmup :]
            if args.pyinstrument:
                profile_pyinstrument(fx, tasks)
            else:
                profile_cprofile(fx, tasks, args.top)
        finally:
            fx.db.dispose()
    return 0


def profile_cprofile(fx: fr.Fixture, tasks: Sequence[tuple[int, int]], top: int) -> None:
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    fr.service_fire_each(fx, tasks)
    profiler.disable()
    elapsed = time.perf_counter() - started
    print(
        f"{fx.label}: {len(tasks)} fires in {elapsed:.2f}s under cProfile "
        f"({elapsed / len(tasks) * 1e6:.0f} µs/fire, profiler overhead included)\n"
    )
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative")
    out.write("== the project's functions, by cumulative time ==\n")
    stats.print_stats(OWN, top)
    out.write("== everything, by cumulative time ==\n")
    stats.print_stats(top)
    out.write("== everything, by own time ==\n")
    stats.sort_stats("tottime").print_stats(top)
    print(out.getvalue())


def profile_pyinstrument(fx: fr.Fixture, tasks: Sequence[tuple[int, int]]) -> None:
    try:
        from pyinstrument import Profiler
    except ImportError:
        raise SystemExit(
            "pyinstrument is not installed: .venv/bin/pip install pyinstrument"
        ) from None
    profiler = Profiler(interval=0.0002)
    profiler.start()
    fr.service_fire_each(fx, tasks)
    profiler.stop()
    print(profiler.output_text(unicode=True, color=False, show_all=False))


if __name__ == "__main__":
    sys.exit(main())
