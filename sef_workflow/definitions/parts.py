"""The parts an activity and its task kinds share: roles, inputs, states, guards and
the notifications a step sends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..guards import GUARDS, parse_guard
from ..models import ROLES
from .model import INPUT_TYPES, InputSpec, Notify, StateDef, is_recipient, recipients_allowed
from .reader import Reader


def read_roles(r: Reader, raw: Any, key: str) -> tuple[str, ...]:
    roles = r.names(raw, key)
    for i, role in enumerate(roles):
        if role not in ROLES:
            raise r.fail(f"{key}[{i}]", f"unknown role '{role}' (allowed: {', '.join(ROLES)})")
    if not roles:
        raise r.fail(key, "must name at least one role")
    return roles


def read_inputs(r: Reader, raw: Any, key: str) -> tuple[InputSpec, ...]:
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
        labels: tuple[tuple[str, str], ...] = ()
        if itype == "choice":
            choices, labels = _read_choices(r, spec.get("choices"), f"{ikey}.choices")
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
                choice_labels=labels,
            )
        )
    return tuple(out)


def _read_choices(
    r: Reader, raw: Any, key: str
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """A choice input's choices: a list of keys (``["blue", "green"]``), or a table of keys
    and the words people read for each (``{ blue = "Blue: done", green = "Green: on
    track" }``), in the file's order."""
    if isinstance(raw, dict) and raw:
        labels: list[tuple[str, str]] = []
        for choice, label in raw.items():
            if not isinstance(label, str) or not label.strip():
                raise r.fail(f"{key}.{choice}", "must be the text people read for this choice")
            labels.append((str(choice), label.strip()))
        return tuple(c for c, _label in labels), tuple(labels)
    if not isinstance(raw, list) or not raw:
        raise r.fail(
            key, "a choice input needs a list of choices, or a table of choices and their labels"
        )
    return tuple(str(c) for c in raw), ()


def read_states(r: Reader, raw: Any, key: str, *, task_level: bool = False) -> dict[str, StateDef]:
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


def read_guards(r: Reader, raw: Any, key: str, tasks: Mapping[str, Any]) -> tuple[str, ...]:
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


def read_notify(r: Reader, raw: Any, key: str) -> tuple[Notify, ...]:
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
        if not is_recipient(to):
            raise r.fail(
                f"{nkey}.to", f"unknown recipient {to!r} (allowed: {recipients_allowed()})"
            )
        out.append(Notify(template=template, to=to))
    return tuple(out)
