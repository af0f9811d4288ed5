"""The worker: APScheduler 3.x as a ticker that only wakes the sweeps.

All state lives in the database: what is due is read from indexed columns, every rung and
every send is claimed exactly once, so missed runs merge into one, a restarted worker
catches up by itself and two workers never send twice. The scheduler keeps its jobs in
memory, with fixed ids, coalescing and one instance per job.

Jobs:

``sweep``      reminders, chasers and escalations that are due (``Service.sweep``)
``deliver``    the outbox, through SMTP or the embedded mail catcher
``programme``  the recurring programme: activities that open on a calendar
``digest``     the weekly digests for managers and agency leads
"""

from __future__ import annotations

import logging
import threading
import time as _time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from .models import JobStatus
from .sql import upsert

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

    from .app import App
    from .notify.catcher import MailCatcher
    from .notify.delivery import Delivery

log = logging.getLogger(__name__)

JOB_NAMES = ("sweep", "deliver", "programme", "digest")


@dataclass(frozen=True)
class JobResult:
    job: str
    items: int
    summary: str


class Jobs:
    """What each job does, run by the scheduler or by hand (``sef sweep --once``)."""

    def __init__(self, app: App, worker: str, stop: threading.Event | None = None) -> None:
        self.app = app
        self.worker = worker
        self.stop = stop or threading.Event()
        self._delivery: Delivery | None = None
        self._catcher: MailCatcher | None = None
        self._lock = threading.Lock()

    # -------------------------------------------------------------- the jobs
    def sweep(self) -> JobResult:
        report = self.app.service.sweep()
        if report.outside_hours:
            summary = f"{report.due} due, outside working hours: nothing sent"
        else:
            summary = (
                f"{report.due} due, {report.sent} rungs sent, {report.skipped} stale rungs "
                f"skipped, {report.errors} errors"
            )
        return JobResult("sweep", report.sent, summary)

    def deliver(self) -> JobResult:
        delivery = self._delivery_worker()
        sent = retrying = failed = 0
        while not self.stop.is_set():  # finish the batch in hand, then stop if asked
            report = delivery.deliver_once()
            sent, retrying, failed = (
                sent + report.sent,
                retrying + report.retrying,
                failed + report.failed,
            )
            if report.claimed < delivery.batch_size:
                break
        return JobResult("deliver", sent, f"{sent} sent, {retrying} to retry, {failed} failed")

    def programme(self) -> JobResult:
        from .programme import load_programme, run_programme

        programme = load_programme(self.app.settings.programme_path(), self.app.registry)
        report = run_programme(self.app.service, programme)
        for error in report.errors:
            log.error("programme: %s", error)
        return JobResult(
            "programme",
            len(report.opened),
            f"{len(report.opened)} opened ({', '.join(report.opened) or 'none'}), "
            f"{report.already} already open this period, {len(report.errors)} errors",
        )

    def digest(self) -> JobResult:
        from .digest import send_digests

        days = self.app.settings.settings.scheduler.due_soon_working_days
        report = send_digests(self.app.service, due_soon_working_days=days)
        count = report.managers + report.agencies
        return JobResult(
            "digest",
            count,
            f"{report.managers} manager and {report.agencies} agency digests, "
            f"{report.skipped_empty} empty not sent, {report.already_sent} already sent",
        )

    # -------------------------------------------------------------- plumbing
    def run(self, name: str, next_run_at: datetime | None = None) -> JobResult:
        """Run one job, record its status for ``sef status``; errors are recorded, not raised."""
        job: Callable[[], JobResult] = getattr(self, name)
        started = datetime.now(UTC)
        t0 = _time.perf_counter()
        error: str | None = None
        try:
            result = job()
        except Exception as exc:
            log.exception("job %s failed", name)
            error = f"{type(exc).__name__}: {exc}"
            result = JobResult(name, 0, f"failed: {error}")
        duration_ms = int((_time.perf_counter() - t0) * 1000)
        record_status(
            self.app,
            JobStatus(
                job=name,
                worker=self.worker,
                last_started_at=started,
                last_finished_at=datetime.now(UTC),
                last_duration_ms=duration_ms,
                last_items=result.items,
                last_error=error,
                next_run_at=next_run_at,
            ),
        )
        return result

    def _delivery_worker(self) -> Delivery:
        from .notify.catcher import MailCatcher
        from .notify.delivery import Delivery

        with self._lock:
            if self._delivery is None:
                loaded = self.app.settings
                port = None
                if not loaded.settings.smtp.host:
                    self._catcher = MailCatcher.from_settings(loaded)
                    self._catcher.start()
                    port = self._catcher.port
                self._delivery = Delivery.from_settings(
                    self.app.db,
                    loaded,
                    self.app.service.clock,
                    worker=self.worker,
                    catcher_port=port,
                )
            return self._delivery

    def close(self) -> None:
        if self._catcher is not None:
            self._catcher.stop()
            self._catcher = None


def record_status(app: App, status: JobStatus) -> None:
    """Upsert the job's row (one per job; the latest run wins)."""
    table = JobStatus.__table__  # type: ignore[attr-defined]
    values = {c.name: getattr(status, c.name) for c in table.columns}
    with app.db.write() as session:
        upsert(session, table, values, ("job",), {k: v for k, v in values.items() if k != "job"})


def job_statuses(app: App) -> list[JobStatus]:
    with app.db.read() as session:
        return list(session.exec(select(JobStatus).order_by(col(JobStatus.job))).all())


class Worker:
    """The scheduler around :class:`Jobs`; ``stop()`` finishes the jobs in hand."""

    def __init__(self, app: App, worker: str) -> None:
        self.app = app
        self.stop_event = threading.Event()
        self.jobs = Jobs(app, worker, self.stop_event)
        self.scheduler: BackgroundScheduler = self._build()

    def _build(self) -> BackgroundScheduler:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        s = self.app.settings.settings.scheduler
        tz = self.app.calendar.tz
        scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(len(JOB_NAMES))},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": s.misfire_grace_seconds,
            },
            timezone=tz,
        )
        hour, minute = (int(x) for x in s.digest_time.split(":"))
        triggers: dict[str, Any] = {
            "sweep": IntervalTrigger(seconds=s.sweep_interval_seconds, timezone=tz),
            "deliver": IntervalTrigger(seconds=s.deliver_interval_seconds, timezone=tz),
            "programme": IntervalTrigger(seconds=s.programme_interval_seconds, timezone=tz),
            "digest": CronTrigger(day_of_week=s.digest_day, hour=hour, minute=minute, timezone=tz),
        }
        now = datetime.now(tz)
        for name, trigger in triggers.items():
            first = None if name == "digest" else now  # the sweeps run at start, then on time
            scheduler.add_job(
                self._run,
                trigger,
                args=[name],
                id=name,
                name=name,
                replace_existing=True,
                next_run_time=first,
            )
        return scheduler

    def _run(self, name: str) -> None:
        job = self.scheduler.get_job(name)
        next_run = job.next_run_time if job is not None else None
        result = self.jobs.run(name, next_run)
        log.info("%s: %s", name, result.summary)

    def start(self) -> None:
        self.scheduler.start()

    def next_runs(self) -> dict[str, datetime | None]:
        return {job.id: job.next_run_time for job in self.scheduler.get_jobs()}

    def stop(self) -> None:
        """Stop taking new work and wait for the jobs in hand to finish their batch."""
        self.stop_event.set()
        self.scheduler.shutdown(wait=True)
        self.jobs.close()
