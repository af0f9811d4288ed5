"""Issuing the request in a simulation: made-up values for the inputs a step needs,
and the shortest run of activity triggers after which agency tasks exist."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..definitions import STAY, InputSpec, TransitionDef, Workflow
from ..errors import InvalidInput
from ..guards import GuardContext, evaluate
from ..service import Actor

#: What a text input is filled with.
PLACEHOLDER_TEXT = "Simulation"
#: What an email input is filled with.
PLACEHOLDER_EMAIL = "simulation@northshire-scp.example"


def placeholders(specs: Sequence[InputSpec], today: date) -> dict[str, Any]:
    """A value for every required input: made up, fictional, and accepted by the checks."""
    out: dict[str, Any] = {}
    for spec in specs:
        if not spec.required:
            continue
        if spec.type == "date":
            out[spec.name] = today.isoformat()
        elif spec.type == "int":
            out[spec.name] = 1
        elif spec.type == "choice":
            out[spec.name] = spec.choices[0]
        elif spec.type == "bool":
            out[spec.name] = False
        elif spec.type == "email":
            out[spec.name] = PLACEHOLDER_EMAIL
        else:
            out[spec.name] = PLACEHOLDER_TEXT
    return out


@dataclass
class _FakeTask:
    """What a guard sees of a task on a path the search is trying."""

    kind: str
    state: str
    is_open: bool
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Node:
    state: str
    path: tuple[TransitionDef, ...]
    data: Mapping[str, Any]
    tasks: tuple[_FakeTask, ...]


def issue_path(
    wf: Workflow,
    codes: Sequence[str],
    today: date,
    staff_for: Callable[[Sequence[str]], Actor | None],
) -> tuple[TransitionDef, ...]:
    """The shortest run of activity triggers after which agency tasks exist."""

    def agency_tasks(kinds: Sequence[str]) -> bool:
        return bool(codes) and any(wf.tasks[k].assignee == "each_agency" for k in kinds)

    if agency_tasks(wf.open_creates):
        return ()
    first = _Node(
        wf.initial,
        (),
        placeholders(wf.open_inputs, today),
        tuple(_FakeTask(k, wf.tasks[k].initial, True) for k in wf.open_creates),
    )
    queue = deque([first])
    seen = {wf.initial}
    while queue:
        node = queue.popleft()
        for t in wf.transitions:
            if node.state not in t.sources or t.dest in (STAY, node.state):
                continue
            if t.dest in seen or staff_for(t.roles) is None:
                continue
            inputs = placeholders(t.inputs, today)
            ctx = GuardContext(
                activity_data=node.data,
                agency_count=len(codes),
                tasks=node.tasks,
                inputs=inputs,
            )
            if t.guards and evaluate(t.guards, ctx) is not None:
                continue
            path = (*node.path, t)
            if agency_tasks(t.creates):
                return path
            tasks = tuple(
                _FakeTask(f.kind, "done", False) if f.kind in t.completes else f for f in node.tasks
            ) + tuple(_FakeTask(k, wf.tasks[k].initial, True) for k in t.creates)
            seen.add(t.dest)
            queue.append(_Node(t.dest, path, {**node.data, **inputs}, tasks))
    if wf.open_creates:
        return ()  # no request to agencies, but the opening starts its own clocks
    raise InvalidInput(
        f"nothing to simulate: no step from “{wf.states[wf.initial].title}” creates tasks in "
        f"“{wf.title}” (its tasks are added by hand)"
    )
