"""The recurring programme: which activities open on a calendar, and opening them once.

``programme.toml`` (``scheduler.programme_file``) lists entries: quarterly data requests,
annual reports, a Section 11 cycle every two years. Each entry names a workflow, how often
it recurs (``every``), the day in each period it opens (``open_on``), the agencies it goes
to and the inputs it opens with. The file is data the business unit edits: it is checked on
load against the workflows and fails with a :class:`~sef_workflow.errors.DefinitionError`
naming the file and the key. The format is documented in ``docs/programme.md``.

:func:`period_of` is pure: which period contains a day, when that period's activity opens
and whether that day has come. :func:`run_programme` does the I/O: for every entry whose
opening day has come it calls :meth:`Service.open_once` under the key
``programme:<entry key>:<period label>``, so each entry opens exactly once per period,
whichever worker gets there first and however late (a worker down on the opening day opens
it on its next run in the same period; a period that passed entirely is not opened
retrospectively). It then fires the entry's ``then`` triggers with the due date, and fires
any still missing on later runs if a worker stopped in between. One entry's failure never
stops the others.

Where each thing is decided: :mod:`.entries` (what an entry is), :mod:`.periods` (periods
and opening days, pure), :mod:`.loading` (reading and checking the file), :mod:`.running`
(opening what is due, once).
"""

from __future__ import annotations

from .entries import (
    ALL_AGENCIES,
    CADENCES,
    PLACEHOLDERS,
    Cadence,
    DueRule,
    Entry,
    OpenOn,
    Period,
    Programme,
)
from .loading import load_programme
from .periods import current_period, due_date, period_of, render, render_inputs, run_key
from .running import ProgrammeReport, programme_actor, resolve_agencies, run_programme

__all__ = [
    "ALL_AGENCIES",
    "CADENCES",
    "PLACEHOLDERS",
    "Cadence",
    "DueRule",
    "Entry",
    "OpenOn",
    "Period",
    "Programme",
    "ProgrammeReport",
    "current_period",
    "due_date",
    "load_programme",
    "period_of",
    "programme_actor",
    "render",
    "render_inputs",
    "resolve_agencies",
    "run_key",
    "run_programme",
]
