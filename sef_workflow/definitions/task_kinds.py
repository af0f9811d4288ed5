"""``[tasks.<kind>]`` tables: who a task goes to, its own states and transitions, its
deadline rule, its reminder ladder, its form and what reports count it as."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..models import CONTACT_PURPOSES
from .graph import check_graph
from .model import (
    ASSIGNEES,
    BASIS_FORMS,
    DEFAULT_REPORT_AS,
    MORE_TIME_DECIDED_BY,
    PURPOSE_FORMS,
    REPORT_AS,
    STAY,
    UNITS,
    DeadlineDef,
    Escalation,
    InputSpec,
    Ladder,
    TaskKind,
    is_recipient,
    recipients_allowed,
)
from .parameters import resolve_param
from .parts import read_inputs, read_notify, read_roles, read_states
from .reader import NAME_RE, Reader
from .transition_tables import read_transitions


def read_task_kind(
    r: Reader,
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
            "purpose",
        ),
    )
    assignee = t.get("assignee")
    if assignee not in ASSIGNEES:
        raise r.fail(f"{key}.assignee", f"must be one of {', '.join(ASSIGNEES)}")
    states = read_states(r, t.get("states"), f"{key}.states", task_level=True)
    initial = r.str_(t, key, "initial")
    if initial not in states:
        raise r.fail(f"{key}.initial", f"unknown state '{initial}' (states: {', '.join(states)})")
    transitions = read_transitions(
        r, t.get("transitions"), f"{key}.transitions", states, kind_names, activity_level=False
    )
    check_graph(r, f"{key}.states", initial, states, transitions)
    inputs = read_inputs(r, t.get("inputs", {}), f"{key}.inputs")
    deadline = read_deadline(r, t.get("deadline"), f"{key}.deadline", params, inputs)
    ladder = read_ladder(r, t.get("reminders", {}), f"{key}.reminders", deadline)
    add_roles = read_roles(r, t["add_roles"], f"{key}.add_roles") if "add_roles" in t else ()
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
    purpose = t.get("purpose")
    if purpose is not None and not (
        purpose in CONTACT_PURPOSES
        or (
            isinstance(purpose, str)
            and purpose.startswith("activity:")
            and NAME_RE.match(purpose.removeprefix("activity:"))
        )
    ):
        raise r.fail(
            f"{key}.purpose",
            f"must be one of {', '.join(PURPOSE_FORMS)} (purposes: "
            f"{', '.join(CONTACT_PURPOSES)}), got {purpose!r}",
        )
    if purpose is not None and assignee == "business_unit":
        raise r.fail(f"{key}.purpose", "a task for the business unit has no agency contact")
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
        add_notify=read_notify(r, t.get("add_notify", []), f"{key}.add_notify"),
        form=form,
        form_submit=form_submit,
        report_as=report_as,
        purpose=purpose,
    )


def read_deadline(
    r: Reader,
    raw: Any,
    key: str,
    params: Mapping[str, Any],
    task_inputs: tuple[InputSpec, ...],
) -> DeadlineDef | None:
    if raw is None:
        return None
    d = r.table(raw, key)
    r.only(
        d,
        key,
        ("unit", "amount", "direction", "basis", "waivable", "pausable", "more_time_decided_by"),
    )
    unit = d.get("unit")
    if unit not in UNITS:
        raise r.fail(f"{key}.unit", f"must be one of {', '.join(UNITS)}")
    amount = r.int_(resolve_param(r, d.get("amount"), f"{key}.amount", params), f"{key}.amount")
    direction = d.get("direction", "after")
    if direction not in ("after", "before"):
        raise r.fail(f"{key}.direction", "must be 'after' or 'before'")
    basis = resolve_param(r, d.get("basis", "created"), f"{key}.basis", params)
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
    deciders = read_roles(
        r,
        d.get("more_time_decided_by", list(MORE_TIME_DECIDED_BY)),
        f"{key}.more_time_decided_by",
    )
    for i, role in enumerate(deciders):
        if role in ("agency", "system"):
            raise r.fail(
                f"{key}.more_time_decided_by[{i}]",
                f"'{role}' cannot decide on a request for more time (an agency does not agree "
                "its own; agency_manager is its senior manager)",
            )
    return DeadlineDef(
        unit=unit,
        amount=amount,
        direction=direction,
        basis=basis,
        waivable=r.bool_(d, key, "waivable", False),
        pausable=r.bool_(d, key, "pausable", True),
        more_time_decided_by=deciders,
    )


def read_ladder(r: Reader, raw: Any, key: str, deadline: DeadlineDef | None) -> Ladder:
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
        if not is_recipient(to):
            raise r.fail(
                f"{ekey}.to", f"unknown recipient {to!r} (allowed: {recipients_allowed()})"
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
