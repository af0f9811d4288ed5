"""Simulation: run one activity in a throwaway database on a fake clock, and say what happens.

Coordinators use it to preview a cycle ("if we issue on 15 Dec, when do reminders land?");
the tests use it too. :func:`simulate` builds the real machinery from the settings
(workflows, templates, calendar, working hours) over a temporary SQLite database with a
fictional partnership (the demo's agencies, a coordinator and a manager), then:

1. opens one activity of the workflow at the opening of working hours on ``start``, with
   placeholder inputs (dates: the simulated day; numbers: 1; choices: the first; text:
   "Simulation"; yes/no: no; emails: a fictional ``.example`` address);
2. fires the shortest path of activity triggers (breadth-first over the compiled machine,
   leaving out transitions that keep the state and those whose guards would refuse) until
   tasks for the agencies exist: that is "issuing the request". A workflow whose triggers
   never create agency tasks is simulated from its opening when the opening itself creates
   tasks (a statutory clock, say);
3. moves the clock on by ``sweep_every`` and runs the reminder sweep each step until
   ``until`` (by default: 60 days after ``start``, or sooner once no ladder remains and no
   reply is pending). An agency named in ``agency_replies`` answers at the opening of the
   N-th working day after the issue by firing its task's first agency trigger (``submit``).

Sweeps that cannot do anything are not run: outside working hours a sweep sends nothing,
and before the earliest ``next_reminder_at`` it finds nothing. Skipping them changes
nothing in the result, and keeps a 60-day simulation well under a second or two.

:func:`format_simulation` prints the result day by day.

Where each thing is decided: :mod:`.run` (the throwaway database, the clock and the
replies), :mod:`.issue` (placeholder inputs and the triggers that issue the request),
:mod:`.story` (what is recorded and how it is printed).
"""

from __future__ import annotations

from .issue import PLACEHOLDER_EMAIL, PLACEHOLDER_TEXT
from .run import DEFAULT_DAYS, simulate
from .story import SimulatedEmail, SimulatedStep, Simulation, StepKind, format_simulation

__all__ = [
    "DEFAULT_DAYS",
    "PLACEHOLDER_EMAIL",
    "PLACEHOLDER_TEXT",
    "SimulatedEmail",
    "SimulatedStep",
    "Simulation",
    "StepKind",
    "format_simulation",
    "simulate",
]
