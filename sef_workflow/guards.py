"""Named guards that workflow files may put on transitions.

A guard is written in a workflow file as ``name`` or ``name:argument``. Each guard is a
pure function of a :class:`GuardContext`; it returns ``None`` when the transition may
go ahead, or a sentence saying why not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


class TaskView(Protocol):
    kind: str
    state: str
    is_open: bool
    data: dict[str, Any]


@dataclass(frozen=True)
class GuardContext:
    """What a guard may look at: the activity's data, its agencies and tasks, the inputs."""

    activity_data: Mapping[str, Any]
    agency_count: int
    tasks: Sequence[TaskView]
    inputs: Mapping[str, Any]
    task: TaskView | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


Check = Callable[[GuardContext, str | None], str | None]
ArgKind = Literal["none", "task_kind", "field"]


@dataclass(frozen=True)
class GuardSpec:
    name: str
    arg: ArgKind
    description: str
    check: Check


def _has_agencies(ctx: GuardContext, _arg: str | None) -> str | None:
    return None if ctx.agency_count > 0 else "the activity has no agencies"


def _tasks_done(ctx: GuardContext, kind: str | None) -> str | None:
    mine = [t for t in ctx.tasks if t.kind == kind]
    if not mine:
        return f"there are no '{kind}' tasks yet"
    open_count = sum(1 for t in mine if t.is_open)
    if open_count:
        return f"{open_count} of {len(mine)} '{kind}' tasks are still open"
    return None


def _tasks_exist(ctx: GuardContext, kind: str | None) -> str | None:
    return None if any(t.kind == kind for t in ctx.tasks) else f"there are no '{kind}' tasks"


def _no_open_tasks(ctx: GuardContext, _arg: str | None) -> str | None:
    open_count = sum(1 for t in ctx.tasks if t.is_open)
    return None if open_count == 0 else f"{open_count} tasks are still open"


def _present(value: Any) -> bool:
    return value is not None and value not in ("", []) and value is not False


def _activity_has(ctx: GuardContext, name: str | None) -> str | None:
    value = ctx.inputs.get(name or "", ctx.activity_data.get(name or ""))
    return None if _present(value) else f"the activity has no '{name}' recorded"


def _task_has(ctx: GuardContext, name: str | None) -> str | None:
    data = ctx.task.data if ctx.task is not None else {}
    value = ctx.inputs.get(name or "", data.get(name or ""))
    return None if _present(value) else f"the task has no '{name}' recorded"


def _answers_moderated(ctx: GuardContext, kind: str | None) -> str | None:
    left = ctx.extra.get("unmoderated")
    if left is None:
        return f"the agency has no submitted '{kind}' assessment to moderate"
    if left:
        return f"{left} {'answer has' if left == 1 else 'answers have'} no moderated rating yet"
    return None


GUARDS: dict[str, GuardSpec] = {
    g.name: g
    for g in (
        GuardSpec("has_agencies", "none", "at least one agency takes part", _has_agencies),
        GuardSpec("tasks_done", "task_kind", "every task of the kind is closed", _tasks_done),
        GuardSpec("tasks_exist", "task_kind", "at least one task of the kind exists", _tasks_exist),
        GuardSpec("no_open_tasks", "none", "every task of the activity is closed", _no_open_tasks),
        GuardSpec("activity_has", "field", "the activity has a value for the field", _activity_has),
        GuardSpec("task_has", "field", "the task has a value for the field", _task_has),
        GuardSpec(
            "answers_moderated",
            "task_kind",
            "every answer of the agency's assessment on that task kind has a moderated rating",
            _answers_moderated,
        ),
    )
}


def parse_guard(text: str) -> tuple[str, str | None]:
    name, _, arg = text.partition(":")
    return name.strip(), (arg.strip() or None)


def evaluate(guards: Sequence[str], ctx: GuardContext) -> tuple[str, str] | None:
    """The first guard that refuses, as ``(guard, why)``; ``None`` when all pass."""
    for text in guards:
        name, arg = parse_guard(text)
        why = GUARDS[name].check(ctx, arg)
        if why is not None:
            return text, why
    return None
