"""Checks across a whole definition: every state reachable, no dead end and no trap,
and tasks created, withdrawn and added by hand only where that can work."""

from __future__ import annotations

from collections.abc import Mapping

from ..models import CONTACT_PURPOSES
from .model import NO_PURPOSE, STAY, StateDef, TaskKind, TransitionDef, Workflow
from .reader import Reader


def check_graph(
    r: Reader,
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


def check_creates(r: Reader, wf: Workflow) -> None:
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
        check_purpose(r, wf, kind)
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


def check_purpose(r: Reader, wf: Workflow, kind: TaskKind) -> None:
    """``purpose = "activity:<input>"`` names a choice input of the activity whose every
    choice is a contact purpose or ``lead``."""
    purpose = kind.purpose or ""
    if not purpose.startswith("activity:"):
        return
    name = purpose.removeprefix("activity:")
    spec = next((i for i in wf.open_inputs if i.name == name), None)
    key = f"tasks.{kind.name}.purpose"
    if spec is None or spec.type != "choice":
        raise r.fail(key, f"'{purpose}' names no choice input of [open.inputs]")
    wrong = [c for c in spec.choices if c != NO_PURPOSE and c not in CONTACT_PURPOSES]
    if wrong:
        raise r.fail(
            f"open.inputs.{name}.choices",
            f"{', '.join(wrong)}: not a contact purpose (a task's purpose comes from this "
            f"input; allowed: {NO_PURPOSE}, {', '.join(CONTACT_PURPOSES)})",
        )
