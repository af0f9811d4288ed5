"""Workflow definitions: ``workflows/*.toml`` read, validated and compiled.

A definition is data the business unit edits. Loading checks everything and fails with a
:class:`~sef_workflow.errors.DefinitionError` naming the file and the key: unknown or
unreachable states, non-final dead ends, unknown guards, effects or recipients, duplicate
triggers, malformed deadlines and reminder ladders, notification names of the wrong shape.

Each compiled :class:`Workflow` owns one :class:`transitions.Machine` (``model=None``,
``auto_transitions=False``) for the activity and one per task kind, built once. Rows are
never given machines of their own: the service fires ``machine.events[trigger]`` on a
small cursor holding the row's state.

Where each thing is decided:

* :mod:`.model`: what a definition is, the words its files may use, the compiled machines;
* :mod:`.reader`: walking the TOML, naming the file and key in every error;
* :mod:`.workflow_file`: one file, top to bottom (``[workflow]``, ``[open]``, states);
* :mod:`.parameters`: parameters, their config overrides and ``param:`` references;
* :mod:`.parts`: roles, inputs, states, guards and notifications;
* :mod:`.transition_tables`: ``[[transitions]]``;
* :mod:`.task_kinds`: ``[tasks.<kind>]`` with deadlines and reminder ladders;
* :mod:`.graph`: reachability, dead ends, traps, where tasks come from, and who can get
  past each guard (what it needs, who provides it, the transition that asks them);
* :mod:`.registry`: the current workflows and the pinned versions (:func:`from_stored`).

The file format is documented in ``docs/workflows.md``.
"""

from __future__ import annotations

from .graph import Need, ask_for, covers, guard_words, input_labels, need_of, who_words
from .model import (
    ACTIVITY_EFFECTS,
    AGENCY_RULES,
    ASSIGNEES,
    BASIS_FORMS,
    DEFAULT_REPORT_AS,
    INPUT_TYPES,
    RECIPIENTS,
    REPORT_AS,
    STAY,
    TASK_EFFECTS,
    UNITS,
    DeadlineDef,
    Escalation,
    InputSpec,
    Ladder,
    Notify,
    StateDef,
    TaskKind,
    TransitionDef,
    Workflow,
)
from .reader import NAME_RE
from .reader import Reader as _Reader
from .registry import Registry, from_stored
from .workflow_file import PREFIX_RE, load_file, parse_workflow, version_of

__all__ = [
    "ACTIVITY_EFFECTS",
    "AGENCY_RULES",
    "ASSIGNEES",
    "BASIS_FORMS",
    "DEFAULT_REPORT_AS",
    "INPUT_TYPES",
    "NAME_RE",
    "PREFIX_RE",
    "RECIPIENTS",
    "REPORT_AS",
    "STAY",
    "TASK_EFFECTS",
    "UNITS",
    "DeadlineDef",
    "Escalation",
    "InputSpec",
    "Ladder",
    "Need",
    "Notify",
    "Registry",
    "StateDef",
    "TaskKind",
    "TransitionDef",
    "Workflow",
    "_Reader",
    "ask_for",
    "covers",
    "from_stored",
    "guard_words",
    "input_labels",
    "load_file",
    "need_of",
    "parse_workflow",
    "version_of",
    "who_words",
]
