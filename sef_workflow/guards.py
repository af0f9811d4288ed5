"""Named guards that workflow files may put on transitions.

A guard is written in a workflow file as ``name`` or ``name:argument``. Each guard is a
pure function of a :class:`GuardContext`; it returns ``None`` when the transition may
go ahead, or why not, in plain English with the names involved (the agencies whose tasks
are outstanding, a missing field by its label, who can provide it), as the service
refuses it and as a page says why a button is not offered. Engine keys never appear: the
names come from the context's :class:`Words` (a task kind's title, an input's label, an
agency's code), and without them a key is turned into words.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


class TaskView(Protocol):
    kind: str
    state: str
    is_open: bool
    data: dict[str, Any]


@dataclass(frozen=True)
class Words:
    """The names a guard's explanation uses: from the workflow definition (task kinds'
    titles, inputs' labels, who can provide what a guard needs) and the directory (agency
    codes). Built by :func:`sef_workflow.definitions.guard_words`."""

    #: task kind -> its title ("Single-agency audit return")
    kinds: Mapping[str, str] = field(default_factory=dict)
    #: task kind -> the states in which its owner has answered (waiting for review)
    answered: Mapping[str, Collection[str]] = field(default_factory=dict)
    #: field -> what people call it ("Evidence of impact")
    labels: Mapping[str, str] = field(default_factory=dict)
    #: guard as written -> who can provide what it needs ("the agency (POL)", "a coordinator")
    who: Mapping[str, str] = field(default_factory=dict)
    #: agency id -> its code
    agencies: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GuardContext:
    """What a guard may look at: the activity's data, its agencies and tasks, the inputs,
    and the words its explanation uses."""

    activity_data: Mapping[str, Any]
    agency_count: int
    tasks: Sequence[TaskView]
    inputs: Mapping[str, Any]
    task: TaskView | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    words: Words = field(default_factory=Words)


Check = Callable[[GuardContext, str | None], str | None]
ArgKind = Literal["none", "task_kind", "field"]


@dataclass(frozen=True)
class GuardSpec:
    name: str
    arg: ArgKind
    description: str
    check: Check


# ---------------------------------------------------------------------- words
def lower_first(text: str) -> str:
    """``text`` as it reads inside a sentence: "Single-agency audit return" becomes
    "single-agency audit return"; "Section 11 ..." and "LADO ..." keep their capital."""
    words = text.split()
    if not words:
        return text
    first = words[0]
    keeps = (len(first) > 1 and first[1].isupper()) or (len(words) > 1 and words[1][:1].isdigit())
    return text if keeps else first[:1].lower() + text[1:]


def short_label(label: str) -> str:
    """An input's label as a name: what comes before a colon or a bracket, in a sentence
    ("Evidence of impact (can follow later)" reads "evidence of impact")."""
    cut = label
    for mark in (":", " (", " - "):
        cut = cut.split(mark, 1)[0]
    return lower_first(cut.strip() or label.strip())


_PREPOSITIONS = (" to ", " of ", " for ", " from ", " with ", " (")


def plural(title: str) -> str:
    """A task kind's title for more than one, in a sentence ("single-agency audit
    returns", "responses to a challenge")."""
    text = lower_first(title)
    cut = min((i for p in _PREPOSITIONS if (i := text.find(p)) > 0), default=len(text))
    head, rest = text[:cut], text[cut:]
    if head.endswith("y") and len(head) > 1 and head[-2] not in "aeiou":
        head = head[:-1] + "ies"
    elif head.endswith(("s", "x", "z", "ch", "sh")):
        head += "es"
    else:
        head += "s"
    return head + rest


def joined(items: Sequence[str], last: str = "and") -> str:
    """ "CSC", "CSC and ICB", "CSC, ICB and POL"."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def _kind_title(ctx: GuardContext, kind: str | None) -> str:
    return ctx.words.kinds.get(kind or "", (kind or "task").replace("_", " ").capitalize())


def _label(ctx: GuardContext, name: str | None) -> str:
    label = ctx.words.labels.get(name or "")
    return short_label(label) if label else (name or "a value").replace("_", " ")


def _owner(ctx: GuardContext, task: TaskView) -> str:
    agency_id = getattr(task, "agency_id", None)
    if agency_id is None:
        return "the business unit"
    return ctx.words.agencies.get(agency_id, "an agency")


def _owners(ctx: GuardContext, tasks: Sequence[TaskView]) -> list[str]:
    return sorted({_owner(ctx, t) for t in tasks})


def _from(ctx: GuardContext, guard: str) -> str:
    who = ctx.words.who.get(guard)
    return f" from {who}" if who else ""


# ---------------------------------------------------------------------- the guards
def _has_agencies(ctx: GuardContext, _arg: str | None) -> str | None:
    return None if ctx.agency_count > 0 else "no agencies take part in it yet"


def _tasks_done(ctx: GuardContext, kind: str | None) -> str | None:
    title = _kind_title(ctx, kind)
    mine = [t for t in ctx.tasks if t.kind == kind]
    if not mine:
        return f"no {plural(title)} have been asked for yet"
    still = [t for t in mine if t.is_open]
    if not still:
        return None
    answered = ctx.words.answered.get(kind or "", ())
    waiting = _owners(ctx, [t for t in still if t.state not in answered])
    in_review = _owners(ctx, [t for t in still if t.state in answered])
    if len(mine) == 1:
        what = f"the {lower_first(title)}"
        if waiting:
            return f"waiting for {what} ({waiting[0]})"
        return f"{what} ({in_review[0]}) is in but not yet reviewed"
    count = f"{len(still)} of {len(mine)} {plural(title)}"
    if not waiting:
        return f"{count} are in but not yet reviewed ({', '.join(in_review)})"
    detail = ", ".join(waiting)
    if in_review:
        detail += f"; {joined(in_review)}: in, not yet reviewed"
    return f"waiting for {count} ({detail})"


def _tasks_exist(ctx: GuardContext, kind: str | None) -> str | None:
    if any(t.kind == kind for t in ctx.tasks):
        return None
    return f"no {plural(_kind_title(ctx, kind))} have been added yet"


def _no_open_tasks(ctx: GuardContext, _arg: str | None) -> str | None:
    still = [t for t in ctx.tasks if t.is_open]
    if not still:
        return None
    parts: list[str] = []
    for kind in dict.fromkeys(t.kind for t in still):
        mine = [t for t in still if t.kind == kind]
        title = _kind_title(ctx, kind)
        name = plural(title) if len(mine) > 1 else lower_first(title)
        parts.append(f"{len(mine)} {name} ({', '.join(_owners(ctx, mine))})")
    return f"waiting for {joined(parts)} still open"


def _present(value: Any) -> bool:
    return value is not None and value not in ("", []) and value is not False


def _activity_has(ctx: GuardContext, name: str | None) -> str | None:
    value = ctx.inputs.get(name or "", ctx.activity_data.get(name or ""))
    if _present(value):
        return None
    return f"needs {_label(ctx, name)}{_from(ctx, f'activity_has:{name}')}"


def _task_has(ctx: GuardContext, name: str | None) -> str | None:
    data = ctx.task.data if ctx.task is not None else {}
    value = ctx.inputs.get(name or "", data.get(name or ""))
    if _present(value):
        return None
    return f"needs {_label(ctx, name)}{_from(ctx, f'task_has:{name}')}"


def _answers_moderated(ctx: GuardContext, kind: str | None) -> str | None:
    left = ctx.extra.get("unmoderated")
    whose = f"{_owner(ctx, ctx.task)}'s" if ctx.task is not None else "the agency's"
    title = lower_first(_kind_title(ctx, kind))
    if left is None:
        return f"{whose} {title} has not been submitted yet, so there is nothing to moderate"
    if left:
        answers = "1 answer" if left == 1 else f"{left} answers"
        needs = "needs" if left == 1 else "need"
        return f"{answers} of {whose} {title} still {needs} a moderated rating"
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


def explain(guard: str, ctx: GuardContext) -> str | None:
    """Why ``guard`` (as written in a workflow file) refuses, in plain English with the
    names involved ("waiting for 2 of 3 single-agency audit returns (CSC, ICB)", "needs
    evidence of impact from the agency (POL)"); ``None`` when it passes. The service
    refuses with these words and the pages show them: one source for both."""
    name, arg = parse_guard(guard)
    return GUARDS[name].check(ctx, arg)


def evaluate(guards: Sequence[str], ctx: GuardContext) -> tuple[str, str] | None:
    """The first guard that refuses, as ``(guard, why in English)``; ``None`` when all pass."""
    for text in guards:
        why = explain(text, ctx)
        if why is not None:
            return text, why
    return None
