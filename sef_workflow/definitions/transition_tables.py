"""``[[transitions]]`` tables, of the activity or of a task kind: trigger, sources,
destination, who may fire it, guards, inputs, tasks created and completed, effects and
the judgements form a transition records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .model import ACTIVITY_EFFECTS, STAY, TASK_EFFECTS, StateDef, TransitionDef
from .parts import read_guards, read_inputs, read_notify, read_roles
from .reader import Reader


def read_transitions(
    r: Reader,
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
        guards = read_guards(r, t.get("guards", []), f"{tkey}.guards", tasks)
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
        inputs = read_inputs(r, t.get("inputs", {}), f"{tkey}.inputs")
        if "ask_for_more_time" in effects and not any(
            i.name == "requested_date" and i.type == "date" and i.required for i in inputs
        ):
            raise r.fail(
                f"{tkey}.effects",
                "'ask_for_more_time' needs a required date input named requested_date",
            )
        out.append(
            TransitionDef(
                trigger=trigger,
                sources=sources,
                dest=dest,
                title=title,
                roles=read_roles(r, t.get("roles", ["coordinator"]), f"{tkey}.roles"),
                guards=guards,
                inputs=inputs,
                creates=creates,
                notify=read_notify(r, t.get("notify", []), f"{tkey}.notify"),
                effects=effects,
                reason_required=r.bool_(t, tkey, "reason_required", False),
                completes=completes,
                form=form,
                form_stage=form_stage,
            )
        )
    return tuple(out)
