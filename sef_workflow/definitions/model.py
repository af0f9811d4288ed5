"""What a workflow definition is: the words its files may use, the compiled activity and
task kinds, and the one :class:`transitions.Machine` each builds.

Each compiled :class:`Workflow` owns one machine (``model=None``,
``auto_transitions=False``) for the activity and one per task kind, built once. Rows are
never given machines of their own: the service fires ``machine.events[trigger]`` on a
small cursor holding the row's state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard, cast

from transitions import Machine, MachineError

from ..calendar import DeadlineRule
from ..models import CONTACT_PURPOSES

INPUT_TYPES = ("text", "date", "int", "bool", "choice", "email")
UNITS = ("working_days", "calendar_days", "calendar_months", "hours")
ASSIGNEES = ("each_agency", "chosen_agency", "business_unit")
#: What a task kind counts as in reports.
REPORT_AS = ("request", "action", "statutory", "none")
#: What a task kind with a deadline counts as when its file does not say.
DEFAULT_REPORT_AS = {
    "each_agency": "request",
    "chosen_agency": "action",
    "business_unit": "statutory",
}
#: Who a notification goes to.
RECIPIENTS = (
    "agency",  # the task's agency: lead addressed, deputy copied
    "agency_manager",  # the task's agency's senior manager
    "activity_agencies",  # every agency in the activity, one email each
    "coordinator",  # the coordinator who opened the activity
    "managers",  # every active manager
    "business_unit",  # the business unit's shared mailbox
)
#: ``agency:<purpose>``: the task's agency's contact for a purpose (its LADO contact, ...),
#: else its lead and deputy
PURPOSE_RECIPIENT = "agency:<purpose>"
#: a task kind's ``purpose``: a purpose, or the value of an activity's choice input
PURPOSE_FORMS = ("<purpose>", "activity:<input>")
#: the value of a purpose input meaning "no purpose: the lead and deputy"
NO_PURPOSE = "lead"
ACTIVITY_EFFECTS = ("spawn_action_plan", "withdraw_open_tasks")
#: ``ask_for_more_time`` keeps the transition's ``requested_date`` on the task until someone
#: agrees or declines it
TASK_EFFECTS = ("reprogramme", "ask_for_more_time")
#: who decides on a request for more time unless the deadline says
MORE_TIME_DECIDED_BY = ("coordinator", "manager")


def is_recipient(to: object) -> TypeGuard[str]:
    """Whether ``to`` names who a notification can go to."""
    if not isinstance(to, str):
        return False
    if to in RECIPIENTS:
        return True
    prefix, _, purpose = to.partition(":")
    return prefix == "agency" and purpose in CONTACT_PURPOSES


def recipients_allowed() -> str:
    """The allowed recipients, for an error message."""
    return f"{', '.join(RECIPIENTS)}, agency:<purpose> ({', '.join(CONTACT_PURPOSES)})"


#: ``dest = "="``: the transition keeps the current state (an internal transition).
STAY = "="
BASIS_FORMS = ("created", "activity:<field>", "task:<field>", "param:<name>")
AGENCY_RULES = ("required", "optional", "none")


@dataclass(frozen=True)
class InputSpec:
    name: str
    type: str
    required: bool
    label: str
    choices: tuple[str, ...] = ()
    #: what people read for each choice (``choices = { key = "Label", ... }`` in the file),
    #: in the order of ``choices``; a choice without one reads as its key in words
    choice_labels: tuple[tuple[str, str], ...] = ()

    def label_for(self, choice: str) -> str:
        """The words shown for ``choice``: its label, else the key as words ("Lado")."""
        for key, label in self.choice_labels:
            if key == choice:
                return label
        return choice.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Notify:
    template: str
    to: str


@dataclass(frozen=True)
class StateDef:
    name: str
    title: str
    final: bool
    #: task states only: the owner has answered, so the deadline counts as met and
    #: reminders stop (until a transition takes the task back to a state that is not)
    answered: bool = False


@dataclass(frozen=True)
class TransitionDef:
    trigger: str
    sources: tuple[str, ...]
    dest: str
    title: str
    roles: tuple[str, ...]
    guards: tuple[str, ...]
    inputs: tuple[InputSpec, ...]
    creates: tuple[str, ...] = ()
    notify: tuple[Notify, ...] = ()
    effects: tuple[str, ...] = ()
    reason_required: bool = False
    completes: tuple[str, ...] = ()
    #: activity level: the judgements form this transition records (answers given with it)
    form: str | None = None
    #: which recording of the form this is (first, reaudit): kept on the assessment
    form_stage: str | None = None


@dataclass(frozen=True)
class DeadlineDef:
    unit: str
    amount: int
    direction: Literal["after", "before"]
    basis: str
    waivable: bool
    pausable: bool
    #: who may agree or decline a request for more time
    more_time_decided_by: tuple[str, ...] = MORE_TIME_DECIDED_BY

    def rule(self) -> DeadlineRule:
        return DeadlineRule(
            unit=cast(Any, self.unit),
            amount=self.amount,
            direction=self.direction,
            waivable=self.waivable,
            pausable=self.pausable,
        )


@dataclass(frozen=True)
class Escalation:
    after: int
    to: str
    template: str


@dataclass(frozen=True)
class Ladder:
    before: tuple[int, ...] = ()
    before_template: str | None = None
    on_due_template: str | None = None
    chase_every: int = 0
    chase_max: int = 0
    chase_template: str | None = None
    escalations: tuple[Escalation, ...] = ()


class _Machined:
    """A set of states and transitions with its one compiled machine."""

    name: str
    initial: str
    states: dict[str, StateDef]
    transitions: tuple[TransitionDef, ...]
    machine: Machine

    def _build_machine(self) -> None:
        self.machine = Machine(
            model=None,
            states=list(self.states),
            initial=self.initial,
            auto_transitions=False,
            send_event=True,
        )
        for t in self.transitions:
            dest = None if t.dest == STAY else t.dest
            self.machine.add_transition(t.trigger, list(t.sources), dest)
        self._by_trigger: dict[tuple[str, str], TransitionDef] = {
            (t.trigger, s): t for t in self.transitions for s in t.sources
        }

    def allowed_triggers(self, state: str) -> list[str]:
        return [t.trigger for t in self.transitions if state in t.sources]

    def transition_for(self, trigger: str, state: str) -> TransitionDef | None:
        return self._by_trigger.get((trigger, state))

    def has_trigger(self, trigger: str) -> bool:
        return any(t.trigger == trigger for t in self.transitions)

    def next_state(self, trigger: str, state: str) -> str:
        """Fire ``trigger`` from ``state`` on the compiled machine and return the new state."""
        cursor = _Cursor(state)
        try:
            self.machine.events[trigger].trigger(cursor)
        except (MachineError, KeyError) as exc:  # pragma: no cover - checked before firing
            raise ValueError(str(exc)) from None
        return cursor.state

    def is_final(self, state: str) -> bool:
        return self.states[state].final


class _Cursor:
    """What the machine moves: a state, not a database row."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


@dataclass(eq=False)
class TaskKind(_Machined):
    name: str
    title: str
    assignee: str
    initial: str
    states: dict[str, StateDef]
    transitions: tuple[TransitionDef, ...]
    deadline: DeadlineDef | None
    ladder: Ladder
    inputs: tuple[InputSpec, ...] = ()
    add_roles: tuple[str, ...] = ()
    withdrawn_state: str | None = None
    complete_state: str | None = None
    #: emails sent when a task of this kind is added by hand
    add_notify: tuple[Notify, ...] = ()
    #: the assessment form the owner completes for this task, and the trigger that submits it
    form: str | None = None
    form_submit: str | None = None
    #: what reports count it as: request, action, statutory or none
    report_as: str = "none"
    #: whom of the agency its emails go to: a contact purpose, or ``activity:<input>`` (the
    #: purpose an activity's choice input names); None: the lead and deputy
    purpose: str | None = None

    def __post_init__(self) -> None:
        self._build_machine()


@dataclass(eq=False)
class Workflow(_Machined):
    name: str
    title: str
    reference_prefix: str
    description: str
    initial: str
    states: dict[str, StateDef]
    transitions: tuple[TransitionDef, ...]
    tasks: dict[str, TaskKind]
    open_inputs: tuple[InputSpec, ...]
    agencies: str
    open_roles: tuple[str, ...]
    open_creates: tuple[str, ...]
    open_notify: tuple[Notify, ...]
    parameters: dict[str, Any]
    source: str
    origin: str
    version: str = field(default="")

    def __post_init__(self) -> None:
        self._build_machine()

    def mermaid(self) -> str:
        """The activity's lifecycle as a Mermaid ``stateDiagram-v2``."""
        lines = ["stateDiagram-v2", f"    [*] --> {self.initial}"]
        for s in self.states.values():
            lines.append(f"    {s.name} : {s.title}")
        for t in self.transitions:
            for src in t.sources:
                dest = src if t.dest == STAY else t.dest
                lines.append(f"    {src} --> {dest} : {t.trigger}")
        for s in self.states.values():
            if s.final:
                lines.append(f"    {s.name} --> [*]")
        return "\n".join(lines)
