"""What a simulation tells: its steps and emails in order, and the terminal lines that
print them day by day."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, time
from typing import Literal

from ..calendar import WorkingCalendar, format_date

StepKind = Literal["state", "task", "email", "reply", "note"]


@dataclass(frozen=True)
class SimulatedEmail:
    """One email the simulation queued, as the outbox row had it."""

    day: date
    time: time
    template: str
    recipient_role: str
    agency: str | None
    task_title: str | None
    working_days_left: int | None


@dataclass(frozen=True)
class SimulatedStep:
    """One line of the story: a state change, a task, an email, a reply or a note."""

    day: date
    time: time
    kind: StepKind
    text: str


@dataclass
class Simulation:
    """What happened, in order. ``until`` is the last day simulated."""

    workflow: str
    reference: str
    start: date
    until: date
    steps: list[SimulatedStep] = field(default_factory=list)
    emails: list[SimulatedEmail] = field(default_factory=list)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# ---------------------------------------------------------------------------------------
# printing


def format_simulation(sim: Simulation, cal: WorkingCalendar) -> list[str]:
    """The simulation as terminal lines, grouped by day, with a summary at the end.

    ``Mon 15 Dec 2025 09:00  email  reminder -> agency lead (Northshire Constabulary
    (fictional)), 5 working days left``; a blank line between days; a day that is not a
    working day is marked as such.
    """
    lines = [
        f"Simulation of {sim.workflow} {sim.reference}: "
        f"{format_date(sim.start)} to {format_date(sim.until)}"
    ]
    current: date | None = None
    for step in sim.steps:
        if step.day != current:
            current = step.day
            lines.append("")
            if not cal.is_working_day(step.day):
                why = cal.holiday_name(step.day) or "weekend"
                lines.append(f"{format_date(step.day)}  (not a working day: {why})")
        lines.append(f"{format_date(step.day)} {step.time:%H:%M}  {step.kind:<5}  {step.text}")
    lines.append("")
    counts = Counter(e.template for e in sim.emails)
    if counts:
        per = ", ".join(f"{template} {n}" for template, n in counts.items())
        days = len({e.day for e in sim.emails})
        lines.append(f"{plural(len(sim.emails), 'email')} on {plural(days, 'day')}: {per}")
    else:
        lines.append("no emails")
    return lines
