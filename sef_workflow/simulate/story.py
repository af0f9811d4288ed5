"""What a simulation tells: its steps and emails in order, and the terminal lines that
print them day by day."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, time
from typing import Literal

from ..calendar import WorkingCalendar, format_deadline_date, format_period, format_time
from ..views import template_title

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
    #: the workflow's title
    title: str = ""


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# ---------------------------------------------------------------------------------------
# printing


#: what each kind of step is called in the printed story
STEP_WORDS: dict[str, str] = {
    "state": "Activity",
    "task": "Task",
    "email": "Email",
    "reply": "Reply",
    "note": "Note",
}


def format_simulation(sim: Simulation, cal: WorkingCalendar) -> list[str]:
    """The simulation as terminal lines: a heading for each day, then one line per step
    (its time, what kind of step, what happened), and a summary of the emails at the end::

        Monday 22 December 2025
          9am      Email     “Reminder” to the lead of Northshire Constabulary, 5 working
                             days left

    A day that is not a working day says so in its heading.
    """
    lines = [f"Simulation of {sim.title or sim.workflow} {sim.reference}: "]
    lines[0] += format_period(sim.start, sim.until)
    current: date | None = None
    for step in sim.steps:
        if step.day != current:
            current = step.day
            heading = format_deadline_date(step.day)
            if not cal.is_working_day(step.day):
                why = cal.holiday_name(step.day) or "a weekend"
                heading += f" (not a working day: {why})"
            lines += ["", heading]
        what = STEP_WORDS.get(step.kind, step.kind.capitalize())
        lines.append(f"  {format_time(step.time):<8} {what:<9} {step.text}")
    lines.append("")
    counts = Counter(e.template for e in sim.emails)
    if counts:
        per = ", ".join(f"“{template_title(t)}” {n}" for t, n in counts.items())
        days = len({e.day for e in sim.emails})
        lines.append(f"{plural(len(sim.emails), 'email')} on {plural(days, 'day')}: {per}")
    else:
        lines.append("No emails")
    return lines
