"""Reminder ladders: which rung is due when. Pure functions of a task's deadline and ``now``.

A task kind's ladder (from its workflow file) becomes a list of :class:`Rung` for one due
date: reminders N working days before it, one on the day, chasers every N working days
after it up to a cap, then escalation rungs. Every rung falls at the start of working hours
on a working day, so no email goes out at a weekend, on a bank holiday or at night.

The sweep keeps one number per task, ``next_reminder_at``: the time of the next rung not
yet sent. When it has passed, :func:`pick` chooses the rung to send. After downtime
several rungs may have passed: only the latest (the most relevant) is sent and the others
are reported as skipped, so a restarted worker sends one catch-up email, not a burst.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

from .calendar import Due, WorkingCalendar
from .definitions import Ladder


@dataclass(frozen=True)
class WorkingHours:
    """When emails may go out, in the calendar's local time, on working days."""

    start: time = time(9, 0)
    end: time = time(17, 0)

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError("working hours must start before they end")

    def is_open(self, now: datetime, cal: WorkingCalendar) -> bool:
        local = now.astimezone(cal.tz)
        return cal.is_working_day(local.date()) and self.start <= local.time() < self.end

    def opening(self, day: date, cal: WorkingCalendar) -> datetime:
        """The start of working hours on ``day`` as an aware datetime."""
        return datetime.combine(day, self.start, tzinfo=cal.tz)


@dataclass(frozen=True)
class Rung:
    """One step of a ladder for one due date."""

    key: str  # before-5, due, chase-1, escalate-1 ...
    at: datetime  # when it becomes due
    template: str
    to: tuple[str, ...]  # recipient kinds, as in workflow files
    offset: int  # working days from the due date (negative: before it)


def rungs(
    ladder: Ladder,
    due: Due,
    cal: WorkingCalendar,
    hours: WorkingHours,
    *,
    agency_task: bool,
) -> list[Rung]:
    """Every rung of ``ladder`` for a task due at ``due``, in the order they fall."""
    owner: tuple[str, ...] = ("agency",) if agency_task else ("coordinator", "managers")
    due_day = due.on if cal.is_working_day(due.on) else cal.previous_working_day(due.on)
    out: list[Rung] = []
    if ladder.before_template:
        for n in ladder.before:
            day = cal.add_working_days(due.on, -n)
            out.append(
                Rung(f"before-{n}", hours.opening(day, cal), ladder.before_template, owner, -n)
            )
    if ladder.on_due_template:
        out.append(Rung("due", hours.opening(due_day, cal), ladder.on_due_template, owner, 0))
    if ladder.chase_template and ladder.chase_every:
        count = ladder.chase_max or 1
        for k in range(1, count + 1):
            n = k * ladder.chase_every
            day = cal.add_working_days(due.on, n)
            out.append(Rung(f"chase-{k}", hours.opening(day, cal), ladder.chase_template, owner, n))
    for i, esc in enumerate(ladder.escalations, start=1):
        day = cal.add_working_days(due.on, esc.after)
        out.append(
            Rung(f"escalate-{i}", hours.opening(day, cal), esc.template, (esc.to,), esc.after)
        )
    # stable: on the same day a chaser goes before an escalation
    return sorted(out, key=lambda r: r.at)


def next_at(all_rungs: Sequence[Rung], after: datetime) -> datetime | None:
    """The time of the first rung strictly after ``after``; ``None`` when the ladder is done."""
    for rung in all_rungs:
        if rung.at > after:
            return rung.at
    return None


@dataclass(frozen=True)
class Pick:
    """What a sweep does for one task: the rungs to send now, those skipped, what is next."""

    send: tuple[Rung, ...]
    skipped: tuple[Rung, ...]
    next_at: datetime | None


def pick(all_rungs: Sequence[Rung], since: datetime, now: datetime) -> Pick:
    """The rungs due in ``[since, now]`` that fall latest (a chaser and an escalation on the
    same day both go); earlier ones in the window are skipped as stale."""
    due = [r for r in all_rungs if since <= r.at <= now]
    if not due:
        return Pick((), (), next_at(all_rungs, now))
    latest = due[-1].at
    send = tuple(r for r in due if r.at == latest)
    skipped = tuple(r for r in due if r.at < latest)
    return Pick(send, skipped, next_at(all_rungs, now))
