"""Workflow definitions: ``workflows/*.toml`` read, validated and compiled.

A definition is data the business unit edits. Loading checks everything and fails with a
:class:`~sef_workflow.errors.DefinitionError` naming the file and the key: unknown or
unreachable states, non-final dead ends, unknown guards, effects or recipients, duplicate
triggers, malformed deadlines and reminder ladders, notification names of the wrong shape.

Each compiled :class:`Workflow` owns one :class:`transitions.Machine` (``model=None``,
``auto_transitions=False``) for the activity and one per task kind, built once. Rows are
never given machines of their own: the service fires ``machine.events[trigger]`` on a
small cursor holding the row's state.

The file format is documented in ``docs/workflows.md``.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from transitions import Machine, MachineError

from .calendar import DeadlineRule
from .errors import ConfigError, DefinitionError
from .guards import GUARDS, parse_guard
from .models import ROLES

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
PREFIX_RE = re.compile(r"^[A-Z][A-Z0-9]{1,7}$")

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
ACTIVITY_EFFECTS = ("spawn_action_plan", "withdraw_open_tasks")
TASK_EFFECTS = ("reprogramme",)
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


# ---------------------------------------------------------------------------------------
# loading


class _Reader:
    """Walks a TOML table, naming the file and dotted key in every error."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, key: str, message: str) -> DefinitionError:
        return DefinitionError(f"{self.origin}: key '{key}': {message}")

    def table(self, data: Any, key: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(key, "must be a table")
        return cast(dict[str, Any], data)

    def only(self, data: Mapping[str, Any], key: str, allowed: Iterable[str]) -> None:
        allowed = list(allowed)
        for k in data:
            if k not in allowed:
                where = f"{key}.{k}" if key else k
                raise self.fail(where, f"unknown key (allowed: {', '.join(allowed)})")

    def str_(self, data: Mapping[str, Any], key: str, name: str, default: str | None = None) -> str:
        value = data.get(name, default)
        if not isinstance(value, str) or not value:
            raise self.fail(_join(key, name), "must be a non-empty string")
        return value

    def ident(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not NAME_RE.match(value):
            raise self.fail(key, f"must be a lower-case name like 'audit_return', got {value!r}")
        return value

    def bool_(self, data: Mapping[str, Any], key: str, name: str, default: bool) -> bool:
        value = data.get(name, default)
        if not isinstance(value, bool):
            raise self.fail(_join(key, name), "must be true or false")
        return value

    def int_(self, value: Any, key: str, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"must be a whole number >= {minimum}, got {value!r}")
        return value

    def names(self, value: Any, key: str) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise self.fail(key, "must be a name or a list of names")
        return tuple(self.ident(v, f"{key}[{i}]") for i, v in enumerate(value))


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def version_of(source: str, parameters: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(source.encode("utf-8"))
    digest.update(json.dumps(parameters, sort_keys=True, default=str).encode("utf-8"))
    return digest.hexdigest()[:12]


def parse_workflow(
    source: str,
    origin: str,
    parameter_overrides: Mapping[str, Any] | None = None,
    *,
    config_origin: str = "config",
) -> Workflow:
    """Parse and validate one workflow file's text. ``origin`` names it in errors."""
    r = _Reader(origin)
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise DefinitionError(f"{origin}: malformed TOML: {exc}") from None
    r.only(data, "", ("workflow", "open", "states", "transitions", "tasks"))
    wf = r.table(data.get("workflow"), "workflow")
    r.only(
        wf,
        "workflow",
        ("name", "title", "reference_prefix", "description", "initial", "parameters"),
    )
    name = r.ident(wf.get("name"), "workflow.name")
    title = r.str_(wf, "workflow", "title")
    prefix = wf.get("reference_prefix")
    if not isinstance(prefix, str) or not PREFIX_RE.match(prefix):
        raise r.fail("workflow.reference_prefix", "must be 2-8 capital letters or digits, e.g. MAA")
    description = wf.get("description", "")
    if not isinstance(description, str):
        raise r.fail("workflow.description", "must be a string")
    params = _parameters(
        r, wf.get("parameters", {}), parameter_overrides or {}, name, config_origin
    )

    open_section = r.table(data.get("open", {}), "open")
    r.only(open_section, "open", ("inputs", "agencies", "roles", "creates", "notify"))
    open_inputs = _inputs(r, open_section.get("inputs", {}), "open.inputs")
    agencies = open_section.get("agencies", "required")
    if agencies not in AGENCY_RULES:
        raise r.fail("open.agencies", f"must be one of {', '.join(AGENCY_RULES)}")
    open_roles = _roles(r, open_section.get("roles", ["coordinator"]), "open.roles")

    states = _states(r, data.get("states"), "states")
    initial = r.str_(wf, "workflow", "initial")
    if initial not in states:
        raise r.fail("workflow.initial", f"unknown state '{initial}' (states: {', '.join(states)})")

    tasks_raw = r.table(data.get("tasks", {}), "tasks")
    tasks: dict[str, TaskKind] = {}
    for kind_name, raw in tasks_raw.items():
        key = f"tasks.{kind_name}"
        r.ident(kind_name, key)
        tasks[kind_name] = _task_kind(
            r, kind_name, r.table(raw, key), key, params, dict.fromkeys(tasks_raw)
        )

    transitions = _transitions(
        r, data.get("transitions"), "transitions", states, tasks, activity_level=True
    )
    open_creates = r.names(open_section.get("creates", []), "open.creates")
    for c in open_creates:
        if c not in tasks:
            raise r.fail(
                "open.creates",
                f"unknown task kind '{c}' (task kinds: {', '.join(tasks) or 'none'})",
            )
    open_notify = _notify(r, open_section.get("notify", []), "open.notify")
    _check_graph(r, "states", initial, states, transitions)

    wf_obj = Workflow(
        name=name,
        title=title,
        reference_prefix=prefix,
        description=description,
        initial=initial,
        states=states,
        transitions=transitions,
        tasks=tasks,
        open_inputs=open_inputs,
        agencies=agencies,
        open_roles=open_roles,
        open_creates=open_creates,
        open_notify=open_notify,
        parameters=params,
        source=source,
        origin=origin,
        version=version_of(source, params),
    )
    _check_creates(r, wf_obj)
    return wf_obj


def _parameters(
    r: _Reader,
    raw: Any,
    overrides: Mapping[str, Any],
    wf_name: str,
    config_origin: str,
) -> dict[str, Any]:
    table = r.table(raw, "workflow.parameters")
    values: dict[str, Any] = {}
    for pname, spec_raw in table.items():
        key = f"workflow.parameters.{pname}"
        r.ident(pname, key)
        if "__" in pname:
            raise r.fail(key, "a parameter name may not contain '__'")
        spec = r.table(spec_raw, key)
        r.only(spec, key, ("default", "choices", "description"))
        if "default" not in spec:
            raise r.fail(f"{key}.default", "is required")
        if not isinstance(spec["default"], str | int | bool):
            raise r.fail(f"{key}.default", "must be a string, a whole number or true/false")
        choices = spec.get("choices")
        if choices is not None and not isinstance(choices, dict):
            raise r.fail(
                f"{key}.choices",
                "must be a table mapping each value allowed in config to what the workflow uses",
            )
        value = overrides.get(pname, spec["default"])
        if isinstance(choices, dict):
            if value not in choices:
                where = (
                    f"{config_origin}: key 'workflow_parameters.{wf_name}.{pname}'"
                    if pname in overrides
                    else f"{r.origin}: key '{key}.default'"
                )
                exc_cls = ConfigError if pname in overrides else DefinitionError
                raise exc_cls(
                    f"{where}: {value!r} is not allowed (allowed: {', '.join(map(str, choices))})"
                )
            values[pname] = choices[value]
            values[f"{pname}__choice"] = value
        else:
            default = spec["default"]
            if pname in overrides and type(value) is not type(default):
                raise ConfigError(
                    f"{config_origin}: key 'workflow_parameters.{wf_name}.{pname}': expected "
                    f"{type(default).__name__}, got {value!r}"
                )
            values[pname] = value
    for pname in overrides:
        if pname not in table:
            allowed = ", ".join(table) or "none"
            raise ConfigError(
                f"{config_origin}: key 'workflow_parameters.{wf_name}.{pname}': unknown parameter "
                f"(allowed: {allowed})"
            )
    return values


def _roles(r: _Reader, raw: Any, key: str) -> tuple[str, ...]:
    roles = r.names(raw, key)
    for i, role in enumerate(roles):
        if role not in ROLES:
            raise r.fail(f"{key}[{i}]", f"unknown role '{role}' (allowed: {', '.join(ROLES)})")
    if not roles:
        raise r.fail(key, "must name at least one role")
    return roles


def _inputs(r: _Reader, raw: Any, key: str) -> tuple[InputSpec, ...]:
    table = r.table(raw, key)
    out: list[InputSpec] = []
    for iname, spec_raw in table.items():
        ikey = f"{key}.{iname}"
        r.ident(iname, ikey)
        spec = r.table({"type": spec_raw} if isinstance(spec_raw, str) else spec_raw, ikey)
        r.only(spec, ikey, ("type", "required", "label", "choices"))
        itype = spec.get("type", "text")
        if itype not in INPUT_TYPES:
            raise r.fail(
                f"{ikey}.type", f"unknown type '{itype}' (allowed: {', '.join(INPUT_TYPES)})"
            )
        choices: tuple[str, ...] = ()
        if itype == "choice":
            raw_choices = spec.get("choices")
            if not isinstance(raw_choices, list) or not raw_choices:
                raise r.fail(f"{ikey}.choices", "a choice input needs a list of choices")
            choices = tuple(str(c) for c in raw_choices)
        elif "choices" in spec:
            raise r.fail(f"{ikey}.choices", "only inputs of type 'choice' have choices")
        label = spec.get("label", iname.replace("_", " ").capitalize())
        if not isinstance(label, str):
            raise r.fail(f"{ikey}.label", "must be a string")
        out.append(
            InputSpec(
                name=iname,
                type=itype,
                required=r.bool_(spec, ikey, "required", True),
                label=label,
                choices=choices,
            )
        )
    return tuple(out)


def _states(r: _Reader, raw: Any, key: str, *, task_level: bool = False) -> dict[str, StateDef]:
    table = r.table(raw, key)
    if not table:
        raise r.fail(key, "must define at least one state")
    states: dict[str, StateDef] = {}
    for sname, sraw in table.items():
        skey = f"{key}.{sname}"
        r.ident(sname, skey)
        spec = r.table(sraw, skey)
        r.only(spec, skey, ("title", "final", "answered") if task_level else ("title", "final"))
        states[sname] = StateDef(
            name=sname,
            title=r.str_(spec, skey, "title"),
            final=r.bool_(spec, skey, "final", False),
            answered=r.bool_(spec, skey, "answered", False),
        )
    if not any(s.final for s in states.values()):
        raise r.fail(key, "no state is final: an activity could never close")
    return states


def _transitions(
    r: _Reader,
    raw: Any,
    key: str,
    states: Mapping[str, StateDef],
    tasks: Mapping[str, Any],
    *,
    activity_level: bool,
) -> tuple[TransitionDef, ...]:
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise r.fail(key, "must be an array of tables: [[transitions]]")
    allowed = [
        "trigger",
        "title",
        "source",
        "dest",
        "roles",
        "guards",
        "inputs",
        "notify",
        "effects",
        "reason_required",
    ]
    if activity_level:
        allowed.extend(("creates", "completes", "form", "form_stage"))
    seen: dict[tuple[str, str], int] = {}
    out: list[TransitionDef] = []
    state_list = ", ".join(states)
    for i, traw in enumerate(raw):
        tkey = f"{key}[{i}]"
        t = r.table(traw, tkey)
        r.only(t, tkey, allowed)
        trigger = r.ident(t.get("trigger"), f"{tkey}.trigger")
        tkey = f"{key}[{i}] ({trigger})"
        source_raw = t.get("source")
        if source_raw == "*":
            sources = tuple(s for s in states if not states[s].final)
        else:
            sources = r.names(source_raw, f"{tkey}.source")
        if not sources:
            raise r.fail(f"{tkey}.source", "must name at least one state")
        for s in sources:
            if s not in states:
                raise r.fail(f"{tkey}.source", f"unknown state '{s}' (states: {state_list})")
            if (trigger, s) in seen:
                raise r.fail(
                    f"{tkey}.trigger",
                    f"duplicate trigger '{trigger}' from state '{s}' "
                    f"(also at {key}[{seen[(trigger, s)]}])",
                )
            seen[(trigger, s)] = i
        dest = r.str_(t, tkey, "dest")
        if dest != STAY and dest not in states:
            raise r.fail(f"{tkey}.dest", f"unknown state '{dest}' (states: {state_list})")
        guards = _guards(r, t.get("guards", []), f"{tkey}.guards", tasks)
        creates: tuple[str, ...] = ()
        if activity_level:
            creates = r.names(t.get("creates", []), f"{tkey}.creates")
            for c in creates:
                if c not in tasks:
                    raise r.fail(
                        f"{tkey}.creates",
                        f"unknown task kind '{c}' (task kinds: {', '.join(tasks) or 'none'})",
                    )
        completes: tuple[str, ...] = ()
        if activity_level:
            completes = r.names(t.get("completes", []), f"{tkey}.completes")
            for c in completes:
                if c not in tasks or tasks[c].complete_state is None:
                    raise r.fail(
                        f"{tkey}.completes",
                        f"'{c}' is not a task kind with a complete_state "
                        f"(task kinds: {', '.join(tasks) or 'none'})",
                    )
        effects = r.names(t.get("effects", []), f"{tkey}.effects")
        allowed_effects = ACTIVITY_EFFECTS if activity_level else TASK_EFFECTS
        for e in effects:
            if e not in allowed_effects:
                raise r.fail(
                    f"{tkey}.effects",
                    f"unknown effect '{e}' (allowed: {', '.join(allowed_effects)})",
                )
        title = t.get("title", trigger.replace("_", " ").capitalize())
        if not isinstance(title, str):
            raise r.fail(f"{tkey}.title", "must be a string")
        form: str | None = None
        form_stage: str | None = None
        if "form" in t:
            form = r.ident(t["form"], f"{tkey}.form")
            form_stage = r.ident(t.get("form_stage", "first"), f"{tkey}.form_stage")
        elif "form_stage" in t:
            raise r.fail(f"{tkey}.form_stage", "needs a form")
        out.append(
            TransitionDef(
                trigger=trigger,
                sources=sources,
                dest=dest,
                title=title,
                roles=_roles(r, t.get("roles", ["coordinator"]), f"{tkey}.roles"),
                guards=guards,
                inputs=_inputs(r, t.get("inputs", {}), f"{tkey}.inputs"),
                creates=creates,
                notify=_notify(r, t.get("notify", []), f"{tkey}.notify"),
                effects=effects,
                reason_required=r.bool_(t, tkey, "reason_required", False),
                completes=completes,
                form=form,
                form_stage=form_stage,
            )
        )
    return tuple(out)


def _guards(r: _Reader, raw: Any, key: str, tasks: Mapping[str, Any]) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise r.fail(key, "must be a list of guard names")
    out: list[str] = []
    for i, g in enumerate(raw):
        if not isinstance(g, str):
            raise r.fail(f"{key}[{i}]", "must be a guard name")
        gname, arg = parse_guard(g)
        spec = GUARDS.get(gname)
        if spec is None:
            raise r.fail(f"{key}[{i}]", f"unknown guard '{gname}' (known: {', '.join(GUARDS)})")
        if spec.arg == "none" and arg is not None:
            raise r.fail(f"{key}[{i}]", f"guard '{gname}' takes no argument")
        if spec.arg != "none" and arg is None:
            raise r.fail(
                f"{key}[{i}]", f"guard '{gname}' needs an argument: '{gname}:<{spec.arg}>'"
            )
        if spec.arg == "task_kind" and arg not in tasks:
            raise r.fail(
                f"{key}[{i}]",
                f"unknown task kind '{arg}' (task kinds: {', '.join(tasks) or 'none'})",
            )
        out.append(g)
    return tuple(out)


def _notify(r: _Reader, raw: Any, key: str) -> tuple[Notify, ...]:
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise r.fail(key, "must be a list of {template = ..., to = ...}")
    out: list[Notify] = []
    for i, nraw in enumerate(raw):
        nkey = f"{key}[{i}]"
        n = r.table(nraw, nkey)
        r.only(n, nkey, ("template", "to"))
        template = r.ident(n.get("template"), f"{nkey}.template")
        to = n.get("to")
        if to not in RECIPIENTS:
            raise r.fail(
                f"{nkey}.to", f"unknown recipient {to!r} (allowed: {', '.join(RECIPIENTS)})"
            )
        out.append(Notify(template=template, to=to))
    return tuple(out)


def _task_kind(
    r: _Reader,
    name: str,
    t: dict[str, Any],
    key: str,
    params: Mapping[str, Any],
    kind_names: Mapping[str, Any],
) -> TaskKind:
    r.only(
        t,
        key,
        (
            "title",
            "assignee",
            "initial",
            "states",
            "transitions",
            "deadline",
            "reminders",
            "inputs",
            "add_roles",
            "add_notify",
            "withdrawn_state",
            "complete_state",
            "form",
            "form_submit",
            "report_as",
        ),
    )
    assignee = t.get("assignee")
    if assignee not in ASSIGNEES:
        raise r.fail(f"{key}.assignee", f"must be one of {', '.join(ASSIGNEES)}")
    states = _states(r, t.get("states"), f"{key}.states", task_level=True)
    initial = r.str_(t, key, "initial")
    if initial not in states:
        raise r.fail(f"{key}.initial", f"unknown state '{initial}' (states: {', '.join(states)})")
    transitions = _transitions(
        r, t.get("transitions"), f"{key}.transitions", states, kind_names, activity_level=False
    )
    _check_graph(r, f"{key}.states", initial, states, transitions)
    inputs = _inputs(r, t.get("inputs", {}), f"{key}.inputs")
    deadline = _deadline(r, t.get("deadline"), f"{key}.deadline", params, inputs)
    ladder = _ladder(r, t.get("reminders", {}), f"{key}.reminders", deadline)
    add_roles = _roles(r, t["add_roles"], f"{key}.add_roles") if "add_roles" in t else ()
    withdrawn = t.get("withdrawn_state")
    if withdrawn is not None and (
        not isinstance(withdrawn, str) or withdrawn not in states or not states[withdrawn].final
    ):
        raise r.fail(
            f"{key}.withdrawn_state", f"must be a final state of the task, got {withdrawn!r}"
        )
    complete = t.get("complete_state")
    if complete is not None and (
        not isinstance(complete, str) or complete not in states or not states[complete].final
    ):
        raise r.fail(
            f"{key}.complete_state", f"must be a final state of the task, got {complete!r}"
        )
    form: str | None = None
    form_submit: str | None = None
    if "form" in t:
        form = r.ident(t["form"], f"{key}.form")
        form_submit = r.ident(t.get("form_submit", "submit"), f"{key}.form_submit")
        submits = [x for x in transitions if x.trigger == form_submit]
        if not submits:
            raise r.fail(
                f"{key}.form_submit",
                f"no transition '{form_submit}' on the task submits the form "
                f"(triggers: {', '.join(dict.fromkeys(x.trigger for x in transitions))})",
            )
        if any(x.dest == STAY or not states[x.dest].answered for x in submits):
            raise r.fail(
                f"{key}.form_submit",
                f"'{form_submit}' must lead to a state marked answered = true",
            )
    elif "form_submit" in t:
        raise r.fail(f"{key}.form_submit", "needs a form")
    default_report = "none" if deadline is None else DEFAULT_REPORT_AS[assignee]
    report_as = t.get("report_as", default_report)
    if report_as not in REPORT_AS:
        raise r.fail(f"{key}.report_as", f"must be one of {', '.join(REPORT_AS)}")
    return TaskKind(
        name=name,
        title=r.str_(t, key, "title"),
        assignee=assignee,
        initial=initial,
        states=states,
        transitions=transitions,
        deadline=deadline,
        ladder=ladder,
        inputs=inputs,
        add_roles=add_roles,
        withdrawn_state=withdrawn,
        complete_state=complete,
        add_notify=_notify(r, t.get("add_notify", []), f"{key}.add_notify"),
        form=form,
        form_submit=form_submit,
        report_as=report_as,
    )


def _resolve_param(r: _Reader, value: Any, key: str, params: Mapping[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("param:"):
        pname = value.removeprefix("param:")
        if pname not in params:
            raise r.fail(
                key, f"unknown parameter '{pname}' (parameters: {', '.join(params) or 'none'})"
            )
        return params[pname]
    return value


def _deadline(
    r: _Reader,
    raw: Any,
    key: str,
    params: Mapping[str, Any],
    task_inputs: tuple[InputSpec, ...],
) -> DeadlineDef | None:
    if raw is None:
        return None
    d = r.table(raw, key)
    r.only(d, key, ("unit", "amount", "direction", "basis", "waivable", "pausable"))
    unit = d.get("unit")
    if unit not in UNITS:
        raise r.fail(f"{key}.unit", f"must be one of {', '.join(UNITS)}")
    amount = r.int_(_resolve_param(r, d.get("amount"), f"{key}.amount", params), f"{key}.amount")
    direction = d.get("direction", "after")
    if direction not in ("after", "before"):
        raise r.fail(f"{key}.direction", "must be 'after' or 'before'")
    basis = _resolve_param(r, d.get("basis", "created"), f"{key}.basis", params)
    if not isinstance(basis, str) or not (
        basis == "created"
        or (basis.startswith("activity:") and NAME_RE.match(basis.removeprefix("activity:")))
        or (basis.startswith("task:") and NAME_RE.match(basis.removeprefix("task:")))
    ):
        raise r.fail(f"{key}.basis", f"must be one of {', '.join(BASIS_FORMS)}, got {basis!r}")
    if basis.startswith("task:") and basis.removeprefix("task:") not in {
        i.name for i in task_inputs
    }:
        raise r.fail(f"{key}.basis", f"'{basis}' names no input of the task kind")
    return DeadlineDef(
        unit=unit,
        amount=amount,
        direction=direction,
        basis=basis,
        waivable=r.bool_(d, key, "waivable", False),
        pausable=r.bool_(d, key, "pausable", True),
    )


def _ladder(r: _Reader, raw: Any, key: str, deadline: DeadlineDef | None) -> Ladder:
    d = r.table(raw, key)
    if d and deadline is None:
        raise r.fail(key, "a task kind without a deadline cannot have reminders")
    r.only(
        d,
        key,
        (
            "before",
            "before_template",
            "on_due_template",
            "chase_every",
            "chase_max",
            "chase_template",
            "escalations",
        ),
    )
    before_raw = d.get("before", [])
    if not isinstance(before_raw, list):
        raise r.fail(f"{key}.before", "must be a list of working days before the deadline")
    before = tuple(
        sorted({r.int_(b, f"{key}.before[{i}]", 1) for i, b in enumerate(before_raw)}, reverse=True)
    )
    templates: dict[str, str | None] = {}
    for tname in ("before_template", "on_due_template", "chase_template"):
        v = d.get(tname)
        templates[tname] = None if v is None else r.ident(v, f"{key}.{tname}")
    if before and templates["before_template"] is None:
        raise r.fail(f"{key}.before_template", "is required when 'before' lists reminders")
    chase_every = r.int_(d.get("chase_every", 0), f"{key}.chase_every")
    chase_max = r.int_(d.get("chase_max", 0), f"{key}.chase_max")
    if chase_every and templates["chase_template"] is None:
        raise r.fail(f"{key}.chase_template", "is required when 'chase_every' is set")
    if chase_max and not chase_every:
        raise r.fail(f"{key}.chase_every", "must be set when 'chase_max' is")
    esc_raw = d.get("escalations", [])
    if not isinstance(esc_raw, list):
        raise r.fail(f"{key}.escalations", "must be an array of tables [[...escalations]]")
    escalations: list[Escalation] = []
    last = 0
    for i, eraw in enumerate(esc_raw):
        ekey = f"{key}.escalations[{i}]"
        e = r.table(eraw, ekey)
        r.only(e, ekey, ("after", "to", "template"))
        after = r.int_(e.get("after"), f"{ekey}.after", 1)
        if after <= last:
            raise r.fail(f"{ekey}.after", "escalations must come later one after another")
        last = after
        to = e.get("to")
        if to not in RECIPIENTS:
            raise r.fail(
                f"{ekey}.to", f"unknown recipient {to!r} (allowed: {', '.join(RECIPIENTS)})"
            )
        escalations.append(
            Escalation(after=after, to=to, template=r.ident(e.get("template"), f"{ekey}.template"))
        )
    return Ladder(
        before=before,
        before_template=templates["before_template"],
        on_due_template=templates["on_due_template"],
        chase_every=chase_every,
        chase_max=chase_max,
        chase_template=templates["chase_template"],
        escalations=tuple(escalations),
    )


def _check_graph(
    r: _Reader,
    key: str,
    initial: str,
    states: Mapping[str, StateDef],
    transitions: tuple[TransitionDef, ...],
) -> None:
    """Every state reachable; every non-final state has a way out and a path to a final one."""
    edges: dict[str, set[str]] = {s: set() for s in states}
    for t in transitions:
        if t.dest == STAY:
            continue
        for s in t.sources:
            edges[s].add(t.dest)
    reached = {initial}
    todo = [initial]
    while todo:
        for nxt in edges[todo.pop()]:
            if nxt not in reached:
                reached.add(nxt)
                todo.append(nxt)
    for s in states:
        if s not in reached:
            raise r.fail(
                f"{key}.{s}", f"unreachable state: no transition leads to it from '{initial}'"
            )
    for s, st in states.items():
        if not st.final and not edges[s]:
            raise r.fail(f"{key}.{s}", "dead end: a state that is not final has no transitions out")
    # every state must be able to reach a final state
    can_finish = {s for s, st in states.items() if st.final}
    changed = True
    while changed:
        changed = False
        for s in states:
            if s not in can_finish and edges[s] & can_finish:
                can_finish.add(s)
                changed = True
    for s in states:
        if s not in can_finish:
            raise r.fail(f"{key}.{s}", "trap: no path from this state to a final state")


def _check_creates(r: _Reader, wf: Workflow) -> None:
    for kind_name in wf.open_creates:
        if wf.tasks[kind_name].assignee == "chosen_agency":
            raise r.fail(
                "open.creates",
                f"task kind '{kind_name}' is added by hand (assignee chosen_agency), "
                "not created on opening",
            )
    known_fields = {i.name for i in wf.open_inputs} | {
        i.name for t in wf.transitions for i in t.inputs
    }
    for kind in wf.tasks.values():
        basis = kind.deadline.basis if kind.deadline else ""
        if basis.startswith("activity:") and basis.removeprefix("activity:") not in known_fields:
            raise r.fail(
                f"tasks.{kind.name}.deadline.basis",
                f"'{basis}' names no input of the workflow (inputs: "
                f"{', '.join(sorted(known_fields)) or 'none'})",
            )
    for i, t in enumerate(wf.transitions):
        if "withdraw_open_tasks" in t.effects:
            for kind in wf.tasks.values():
                if kind.withdrawn_state is None:
                    raise r.fail(
                        f"tasks.{kind.name}.withdrawn_state",
                        f"transition '{t.trigger}' withdraws open tasks, so every task kind "
                        "needs a withdrawn_state",
                    )
        for kind_name in t.creates:
            if wf.tasks[kind_name].assignee == "chosen_agency":
                raise r.fail(
                    f"transitions[{i}] ({t.trigger}).creates",
                    f"task kind '{kind_name}' is added by hand (assignee chosen_agency), "
                    "not created by a transition",
                )
        if "spawn_action_plan" in t.effects and wf.name == "action_plan":
            raise r.fail(
                f"transitions[{i}] ({t.trigger}).effects", "an action plan cannot spawn itself"
            )
    for kind in wf.tasks.values():
        created = kind.name in wf.open_creates or any(
            kind.name in t.creates for t in wf.transitions
        )
        if kind.assignee != "chosen_agency" and not created:
            raise r.fail(f"tasks.{kind.name}", "no transition creates this task kind")
        if kind.add_notify and kind.assignee != "chosen_agency":
            raise r.fail(
                f"tasks.{kind.name}.add_notify",
                "only tasks added by hand (assignee chosen_agency) have add_notify",
            )
        if kind.assignee == "chosen_agency" and not kind.add_roles:
            raise r.fail(
                f"tasks.{kind.name}.add_roles",
                "a task added by hand needs the roles that may add it",
            )


def load_file(
    path: Path, parameter_overrides: Mapping[str, Any] | None = None, config_origin: str = "config"
) -> Workflow:
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DefinitionError(f"{path}: cannot read: {exc.strerror}") from None
    wf = parse_workflow(source, str(path), parameter_overrides, config_origin=config_origin)
    if wf.name != path.stem:
        raise DefinitionError(
            f"{path}: key 'workflow.name': '{wf.name}' must match the file name '{path.stem}'"
        )
    return wf


class Registry:
    """The current workflow files, and every pinned version asked for since start-up."""

    def __init__(
        self,
        directory: Path,
        parameters: Mapping[str, Mapping[str, Any]] | None = None,
        config_origin: str = "config",
        validate: Callable[[Workflow], None] | None = None,
    ) -> None:
        self.directory = directory
        self.parameters = {k: dict(v) for k, v in (parameters or {}).items()}
        self.config_origin = config_origin
        self.validate = validate
        self._current: dict[str, Workflow] | None = None
        self._pinned: dict[tuple[str, str], Workflow] = {}

    def current(self) -> dict[str, Workflow]:
        """Every workflow in the folder, validated; the first invalid file raises."""
        if self._current is None:
            if not self.directory.is_dir():
                raise DefinitionError(f"{self.directory}: workflow folder not found")
            found: dict[str, Workflow] = {}
            for path in sorted(self.directory.glob("*.toml")):
                wf = load_file(path, self.parameters.get(path.stem), self.config_origin)
                if self.validate is not None:
                    self.validate(wf)
                found[wf.name] = wf
                self._pinned[(wf.name, wf.version)] = wf
            for name in self.parameters:
                if name not in found:
                    raise ConfigError(
                        f"{self.config_origin}: key 'workflow_parameters.{name}': no workflow "
                        f"named '{name}' (workflows: {', '.join(found)})"
                    )
            self._current = found
        return self._current

    def get(self, name: str) -> Workflow:
        workflows = self.current()
        if name not in workflows:
            from .errors import NotFound

            raise NotFound(f"no workflow named '{name}' (workflows: {', '.join(workflows)})")
        return workflows[name]

    def pinned(
        self, name: str, version: str, source: str, parameters: Mapping[str, Any]
    ) -> Workflow:
        """The compiled definition an activity started on, built once per version."""
        key = (name, version)
        wf = self._pinned.get(key)
        if wf is None:
            wf = from_stored(name, version, source, parameters)
            self._pinned[key] = wf
        return wf


def from_stored(name: str, version: str, source: str, parameters: Mapping[str, Any]) -> Workflow:
    """Rebuild a stored definition with the parameter choices it was pinned with."""
    overrides: dict[str, Any] = {}
    for k, v in parameters.items():
        if k.endswith("__choice"):
            overrides[k.removesuffix("__choice")] = v
    for k, v in parameters.items():
        if not k.endswith("__choice") and f"{k}__choice" not in parameters:
            overrides[k] = v
    wf = parse_workflow(source, f"{name}@{version}", overrides)
    wf.version = version
    return wf
