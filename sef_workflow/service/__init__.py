"""The one door for change.

Every change to an activity, a task, a deadline or the directory goes through
:class:`Service`. Each public method is one transaction: it reads the row, checks state,
role, inputs and guards against the workflow's compiled machine, applies the change with a
compare-and-set on the row's ``version`` column, and appends the events that record it.
If anything fails, nothing is written. The CLI, the web app and the scheduler call this;
none of them writes state itself.

One module per capability, over a small core:

* :mod:`.values`: who acts and what a call returns (``Actor``, ``Outcome``, ...);
* :mod:`.lookups`: rows read by reference, id or code;
* :mod:`.core`: the shared settings, the unit of work (session, moment, actor; events,
  compare-and-set, emails) and the role and agency-scope checks;
* :mod:`.assessment_view`: an assessment as pages and guards see it;
* :mod:`.creation`: activities, tasks and action plans a change creates;
* :mod:`.firing`: checking a trigger and applying it, with its declared effects;
* :mod:`.activities`, :mod:`.tasks`, :mod:`.deadlines`, :mod:`.assessments`,
  :mod:`.findings`, :mod:`.directory`, :mod:`.assignment`, :mod:`.sweep`: the
  capabilities;
* :mod:`.facade`: :class:`Service`, the door they share.
"""

from __future__ import annotations

from .assignment import may_give
from .deadlines import more_time_choices
from .facade import Service
from .values import (
    FINDING_KINDS,
    PLAN_ORIGINS,
    Actor,
    Disagreement,
    ImportResult,
    Outcome,
    PlannedNotification,
    SweepReport,
    TaskFilter,
)

__all__ = [
    "FINDING_KINDS",
    "PLAN_ORIGINS",
    "Actor",
    "Disagreement",
    "ImportResult",
    "Outcome",
    "PlannedNotification",
    "Service",
    "SweepReport",
    "TaskFilter",
    "may_give",
    "more_time_choices",
]
