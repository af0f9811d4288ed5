"""``sef worker``, ``sef sweep`` and ``sef status``: run the scheduler's jobs for good or
once by hand, and show their last and next runs with what is due."""

from __future__ import annotations

from typing import Any

import click

from .context import Context, pass_ctx, print_table


@click.command()
@click.option("--name", "worker_name", help="This worker's name in the status (default: host:pid).")
@pass_ctx
def worker(c: Context, worker_name: str | None) -> None:
    """Run the scheduler: reminder sweeps, delivery, the programme and weekly digests.

    Stops cleanly on SIGTERM or SIGINT, after the jobs in hand finish their batch. Several
    workers may run against one PostgreSQL database: every rung and every email is claimed
    once.
    """
    import logging
    import signal
    import threading

    from ..notify.delivery import default_worker_id
    from ..scheduler import Worker

    c.service  # noqa: B018  (checks the schema)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for noisy in ("apscheduler", "mail.log"):  # per-run chatter; errors still show
        logging.getLogger(noisy).setLevel(logging.WARNING)
    w = Worker(c.app, worker_name or default_worker_id())
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        click.echo(f"received {signal.Signals(signum).name}: finishing the jobs in hand", err=True)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    w.start()
    from ..calendar import format_moment

    runs = ", ".join(
        f"{name} {format_moment(when, c.app.calendar.tz)}" if when else f"{name} -"
        for name, when in w.next_runs().items()
    )
    click.echo(f"worker {w.jobs.worker} started; next runs: {runs}", err=True)
    while not stop.wait(0.5):
        pass
    w.stop()
    click.echo("worker stopped", err=True)


@click.command()
@click.option("--once", is_flag=True, required=True, help="Run one pass now and exit.")
@click.option(
    "--deliver/--no-deliver",
    default=True,
    show_default=True,
    help="Also deliver the outbox after the sweep.",
)
@click.option(
    "--programme/--no-programme",
    default=True,
    show_default=True,
    help="Also open what the recurring programme says is due.",
)
@pass_ctx
def sweep(c: Context, once: bool, deliver: bool, programme: bool) -> None:
    """Run one pass by hand: the programme, the reminder sweep, then delivery."""
    from ..notify.delivery import default_worker_id
    from ..scheduler import Jobs

    c.service  # noqa: B018
    jobs = Jobs(c.app, default_worker_id())
    try:
        names = (["programme"] if programme else []) + ["sweep"] + (["deliver"] if deliver else [])
        for name in names:
            result = jobs.run(name)
            click.echo(f"{name}: {result.summary}")
    finally:
        jobs.close()


@click.command()
@pass_ctx
def status(c: Context) -> None:
    """The last run of each job, what is due now, the outbox, and the next run times."""
    from sqlmodel import col, func, select

    from ..calendar import format_moment
    from ..models import Notification, Task
    from ..scheduler import JOB_NAMES, job_statuses

    service = c.service
    tz = c.app.calendar.tz
    now = service.clock.now()

    def when(moment: Any) -> str:
        return format_moment(moment, tz) if moment else "-"

    rows = {s.job: s for s in job_statuses(c.app)}
    table = []
    for name in JOB_NAMES:
        s = rows.get(name)
        if s is None:
            table.append((name, "never", "-", "-", "-", "-"))
            continue
        table.append(
            (
                name,
                when(s.last_started_at),
                f"{s.last_duration_ms} ms" if s.last_duration_ms is not None else "-",
                str(s.last_items),
                when(s.next_run_at),
                (s.last_error or "")[:50],
            )
        )
    print_table(table, ("JOB", "LAST RUN", "TOOK", "ITEMS", "NEXT RUN", "ERROR"))
    with c.app.db.read() as session:
        due = session.exec(
            select(func.count()).select_from(Task).where(col(Task.next_reminder_at) <= now)
        ).one()
        counts = dict(
            session.exec(
                select(Notification.status, func.count()).group_by(col(Notification.status))
            ).all()
        )
    click.echo("")
    click.echo(f"reminder rungs due now: {due}")
    click.echo(
        f"outbox: {counts.get('pending', 0)} pending, {counts.get('sending', 0)} sending, "
        f"{counts.get('failed', 0)} failed, {counts.get('sent', 0)} sent"
    )
