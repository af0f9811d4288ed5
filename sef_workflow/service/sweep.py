"""The reminder sweep: every reminder, chaser and escalation due now, each task's rung
claimed once in its own transaction; and putting a failed email back in the queue."""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import col, select

from ..definitions import Notify
from ..errors import ConcurrentUpdate, PermissionDenied
from ..ladder import pick
from ..models import Task
from ..views import task_due
from .core import Core
from .lookups import task_with_activity
from .values import Actor, Outcome, SweepReport

log = logging.getLogger("sef_workflow.service")


class Sweep:
    """Sends what the reminder ladders have due; retries failed emails."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def sweep(self, limit: int) -> SweepReport:
        core = self.core
        started = core.clock.now()
        with core.db.read() as session:
            due_ids = list(
                session.exec(
                    select(Task.id)
                    .where(col(Task.next_reminder_at) <= started)
                    .order_by(col(Task.next_reminder_at), col(Task.id))
                    .limit(limit)
                ).all()
            )
        if not core.hours.is_open(started, core.calendar):
            return SweepReport(due=len(due_ids), sent=0, skipped=0, errors=0, outside_hours=True)
        sent = skipped = errors = 0
        for task_id in due_ids:
            assert task_id is not None
            try:
                s, k = self._sweep_task(task_id)
            except ConcurrentUpdate:
                continue  # another worker took this task's rung first
            except Exception:  # one bad task never stops a sweep
                log.exception("reminder sweep failed for task %s", task_id)
                errors += 1
                continue
            sent += s
            skipped += k
        return SweepReport(due=len(due_ids), sent=sent, skipped=skipped, errors=errors)

    def _sweep_task(self, task_id: int) -> tuple[int, int]:
        """Claim and send the due rung(s) of one task; returns (rungs sent, rungs skipped)."""
        core = self.core
        with core.unit(Actor.system()) as uow:
            session, now = uow.session, uow.now
            task, activity = task_with_activity(session, task_id)
            since = task.next_reminder_at
            if since is None or since > now or not task.is_open:
                return 0, 0  # handled meanwhile
            wf = core.workflow_for(session, activity)
            kind = wf.tasks[task.kind]
            if task.deadline_status != "running":
                uow.cas_task(task, {"next_reminder_at": None})
                return 0, 0
            due = task_due(task)
            assert due is not None
            chosen = pick(core.rungs_for(kind, task, due), since, now)
            changes: dict[str, Any] = {"next_reminder_at": chosen.next_at}
            escalations = sum(1 for r in chosen.send if r.key.startswith("escalate"))
            if escalations:
                changes["escalations_sent"] = task.escalations_sent + escalations
            if len(chosen.send) > escalations:
                changes["reminders_sent"] = task.reminders_sent + len(chosen.send) - escalations
            uow.cas_task(task, changes)
            if not chosen.send:
                return 0, 0
            event_id = uow.task_event(
                task,
                "reminder",
                {
                    "rungs": [r.key for r in chosen.send],
                    "templates": [r.template for r in chosen.send],
                    "due": due.on.isoformat(),
                    "skipped": [r.key for r in chosen.skipped],
                },
            )
            outcome = Outcome(activity=activity, task=task)
            notify = tuple(Notify(r.template, to) for r in chosen.send for to in r.to)
            key = f"rung{task.id}@{due.on}:ev{event_id}"
            uow.notify(wf, notify, activity, outcome, key=key, task=task)
            return len(chosen.send), len(chosen.skipped)

    def retry_email(self, actor: Actor, notification_id: int) -> None:
        if not actor.may(("coordinator", "manager")):
            raise PermissionDenied(f"{actor.role} {actor.id} may not retry emails")
        from ..notify.delivery import retry

        retry(self.core.db, notification_id, self.core.clock)
        log.info("email %s queued again by %s", notification_id, actor.id)
