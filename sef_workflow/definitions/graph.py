"""Checks across a whole definition: every state reachable, no dead end and no trap,
tasks created, withdrawn and added by hand only where that can work, and every guard one
that the role offered its transition can get past (itself, by asking, or by the ladder).

What a guard needs and who can provide it (:func:`need_of`), the transition that asks them
(:func:`ask_for`) and the words a guard is explained with (:func:`guard_words`) are here
too: the check, the service's refusals and the pages use the same answers."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..guards import Words
from ..models import CONTACT_PURPOSES, STAFF_ROLES
from .model import NO_PURPOSE, STAY, InputSpec, StateDef, TaskKind, TransitionDef, Workflow
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


# ---------------------------------------------------------------------- who unblocks a guard
#: who may record moderated ratings (the service's ``moderate`` allows the same roles)
MODERATORS = ("coordinator", "manager")
#: a role as a sentence names who can act
ROLE_WORDS = {
    "agency": "the agency",
    "agency_manager": "the agency's senior manager",
    "coordinator": "a coordinator",
    "manager": "a manager",
    "admin": "an admin",
}


@dataclass(frozen=True)
class Need:
    """What a guard on a transition needs, and who can provide it."""

    guard: str
    #: the roles that can satisfy it: by their transitions, or by opening the activity,
    #: adding the task or moderating
    roles: tuple[str, ...]
    #: the triggers of the workflow that provide it
    by: tuple[str, ...] = ()
    #: the field a ``task_has`` or ``activity_has`` guard needs
    field: str | None = None
    #: the task kind a ``tasks_*`` or ``answers_moderated`` guard looks at
    kind: str | None = None
    #: the transition's own inputs provide it: whoever fires it fills it in
    own: bool = False


def _union(*groups: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r for g in groups for r in g))


def _closers(wf: Workflow, kind: TaskKind) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(roles, triggers) that close a task of ``kind`` (withdrawing it aside); the
    activity's transitions that complete it stand for the system."""
    ts = [
        x
        for x in kind.transitions
        if x.dest != STAY and kind.is_final(x.dest) and x.dest != kind.withdrawn_state
    ]
    roles = _union(*(x.roles for x in ts))
    by = tuple(x.trigger for x in ts if "system" not in x.roles)
    if "system" in roles:
        completing = [x for x in wf.transitions if kind.name in x.completes]
        roles = _union([r for r in roles if r != "system"], *(x.roles for x in completing))
        by = _union(by, [x.trigger for x in completing])
    return roles, by


def need_of(wf: Workflow, machine: Workflow | TaskKind, t: TransitionDef, guard: str) -> Need:
    """What ``guard`` on ``t`` (a transition of the activity or of a task kind) needs and
    who can provide it."""
    name, _, arg = guard.partition(":")
    own = any(i.name == arg for i in t.inputs) if arg else False
    if name == "task_has":
        if not isinstance(machine, TaskKind):  # an activity's transition sees no task
            return Need(guard, (), (), arg, own=own)
        ts = [x for x in machine.transitions if x is not t and any(i.name == arg for i in x.inputs)]
        added = machine.add_roles if any(i.name == arg for i in machine.inputs) else ()
        return Need(
            guard, _union(*(x.roles for x in ts), added), tuple(x.trigger for x in ts), arg, own=own
        )
    if name == "activity_has":
        ts = [x for x in wf.transitions if x is not t and any(i.name == arg for i in x.inputs)]
        opened = wf.open_roles if any(i.name == arg for i in wf.open_inputs) else ()
        return Need(
            guard,
            _union(opened, *(x.roles for x in ts)),
            tuple(x.trigger for x in ts),
            arg,
            own=own,
        )
    if name == "tasks_done":
        roles, by = _closers(wf, wf.tasks[arg])
        return Need(guard, roles, by, kind=arg)
    if name == "tasks_exist":
        kind = wf.tasks[arg]
        ts = [x for x in wf.transitions if arg in x.creates]
        opened = wf.open_roles if arg in wf.open_creates else ()
        added = kind.add_roles if kind.assignee == "chosen_agency" else ()
        return Need(guard, _union(opened, added, *(x.roles for x in ts)), kind=arg)
    if name == "no_open_tasks":
        found = [_closers(wf, k) for k in wf.tasks.values()]
        return Need(guard, _union(*(r for r, _b in found)), _union(*(b for _r, b in found)))
    if name == "answers_moderated":
        return Need(guard, MODERATORS, kind=arg)
    # has_agencies: agencies are chosen when the activity is opened
    return Need(guard, wf.open_roles)


def covers(roles: Iterable[str], role: str) -> bool:
    """Whether someone acting as ``role`` acts as one of ``roles`` (an agency's senior
    manager is one of the agency's people; an admin acts for any member of staff)."""
    roles = tuple(roles)
    if role in roles:
        return True
    if role == "agency_manager":
        return "agency" in roles
    return role == "admin" and bool(set(roles) & set(STAFF_ROLES))


def ask_for(
    machine: Workflow | TaskKind,
    t: TransitionDef,
    state: str,
    need: Need,
    asker: Callable[[Sequence[str]], bool],
    others: Collection[str],
) -> TransitionDef | None:
    """The transition by which someone ``asker`` lets fire can ask ``others`` for what
    ``t``'s guard needs: from ``state``, with a reason, no other required input, to a
    state (not final) where one of ``others`` can fire a transition that provides it.
    Only a field is asked for this way; ``None`` when the workflow has no such transition."""
    if need.field is None:
        return None
    for a in machine.transitions:
        if a is t or state not in a.sources or a.dest in (STAY, state) or not a.reason_required:
            continue
        if not asker(a.roles) or machine.is_final(a.dest) or any(i.required for i in a.inputs):
            continue
        for b in machine.transitions:
            if (
                a.dest in b.sources
                and any(covers(others, r) for r in b.roles)
                and any(i.name == need.field for i in b.inputs)
            ):
                return a
    return None


def chased(wf: Workflow, need: Need) -> bool:
    """Whether the workflow itself asks for what ``need`` waits on: tasks of a kind with
    a reminder ladder (reminders, chasers and escalations go out by themselves)."""
    if need.kind is None:
        return False
    ladder = wf.tasks[need.kind].ladder
    return bool(ladder.before or ladder.chase_every or ladder.escalations)


def _acting_as(role: str) -> Callable[[Sequence[str]], bool]:
    def may(roles: Sequence[str]) -> bool:
        return covers(roles, role)

    return may


def check_asking(r: Reader, wf: Workflow) -> None:
    """Nobody is offered a transition they can never get past: for every role a guarded
    transition is open to, either that role can satisfy the guard itself, or the workflow
    gives it a transition to ask those who can (or chases them by itself)."""
    machines: list[tuple[str, Workflow | TaskKind]] = [("transitions", wf)]
    machines += [(f"tasks.{k}.transitions", kind) for k, kind in wf.tasks.items()]
    for key, machine in machines:
        for i, t in enumerate(machine.transitions):
            for j, guard in enumerate(t.guards):
                need = need_of(wf, machine, t, guard)
                if need.own:
                    continue
                gkey = f"{key}[{i}] ({t.trigger}).guards[{j}]"
                if not need.roles:
                    raise r.fail(
                        gkey,
                        f"nobody can ever satisfy guard '{guard}': no transition, opening or "
                        "adding of a task provides what it needs",
                    )
                for role in t.roles:
                    if role == "system" or covers(need.roles, role) or chased(wf, need):
                        continue
                    others = [x for x in need.roles if x != role]
                    asker = _acting_as(role)
                    for state in t.sources:
                        asked = ask_for(machine, t, state, need, asker, others)
                        if asked is None:
                            raise r.fail(
                                gkey,
                                f"role '{role}' is offered '{t.trigger}' from '{state}', but "
                                f"only {', '.join(others)} can satisfy its guard '{guard}'"
                                + (f" (by {', '.join(need.by)})" if need.by else "")
                                + f", and no transition lets {role} ask them: add one from "
                                f"'{state}' open to {role}, with reason_required = true, to a "
                                "state where they can provide it (a send_back, for example)",
                            )


def who_words(roles: Iterable[str], owner: str | None = None) -> str:
    """Who can act, as words: "the agency (POL)", else "a coordinator or a manager"."""
    roles = [r for r in roles if r != "system"]
    if "agency" in roles or "agency_manager" in roles:
        return f"the agency ({owner})" if owner else "the agency"
    words = [ROLE_WORDS.get(r, r) for r in roles]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} or {words[-1]}"


def input_labels(wf: Workflow, machine: Workflow | TaskKind | None = None) -> dict[str, str]:
    """Every input's label by its name: the machine's own first (a task's fields), then
    the activity's and every task kind's."""
    found: dict[str, str] = {}
    groups: list[Iterable[InputSpec]] = []
    if isinstance(machine, TaskKind):
        groups += [machine.inputs, *(x.inputs for x in machine.transitions)]
    groups += [wf.open_inputs, *(x.inputs for x in wf.transitions)]
    for kind in wf.tasks.values():
        groups += [kind.inputs, *(x.inputs for x in kind.transitions)]
    for group in groups:
        for spec in group:
            found.setdefault(spec.name, spec.label)
    return found


def guard_words(
    wf: Workflow,
    machine: Workflow | TaskKind,
    agencies: Mapping[int, str],
    owner: str | None = None,
) -> Words:
    """The words a guard of ``machine`` is explained with: task kinds' titles, inputs'
    labels, who can provide what each guard needs (``owner``: the task's agency code) and
    the agencies' codes by id."""
    who: dict[str, str] = {}
    for t in machine.transitions:
        for guard in t.guards:
            who.setdefault(guard, who_words(need_of(wf, machine, t, guard).roles, owner))
    return Words(
        kinds={k: kind.title for k, kind in wf.tasks.items()},
        answered={
            k: frozenset(s for s, st in kind.states.items() if st.answered)
            for k, kind in wf.tasks.items()
        },
        labels=input_labels(wf, machine),
        who=who,
        agencies=dict(agencies),
    )
