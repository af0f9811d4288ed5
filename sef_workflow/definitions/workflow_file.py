"""One workflow file: its text parsed and validated into a :class:`Workflow`, and the
version that names it (a digest of the text and the parameter values)."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import DefinitionError
from .graph import check_asking, check_creates, check_graph
from .model import AGENCY_RULES, TaskKind, Workflow
from .parameters import read_parameters
from .parts import read_inputs, read_notify, read_roles, read_states
from .reader import Reader
from .task_kinds import read_task_kind
from .transition_tables import read_transitions

PREFIX_RE = re.compile(r"^[A-Z][A-Z0-9]{1,7}$")


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
    r = Reader(origin)
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
    params = read_parameters(
        r, wf.get("parameters", {}), parameter_overrides or {}, name, config_origin
    )

    open_section = r.table(data.get("open", {}), "open")
    r.only(open_section, "open", ("inputs", "agencies", "roles", "creates", "notify"))
    open_inputs = read_inputs(r, open_section.get("inputs", {}), "open.inputs")
    agencies = open_section.get("agencies", "required")
    if agencies not in AGENCY_RULES:
        raise r.fail("open.agencies", f"must be one of {', '.join(AGENCY_RULES)}")
    open_roles = read_roles(r, open_section.get("roles", ["coordinator"]), "open.roles")

    states = read_states(r, data.get("states"), "states")
    initial = r.str_(wf, "workflow", "initial")
    if initial not in states:
        raise r.fail("workflow.initial", f"unknown state '{initial}' (states: {', '.join(states)})")

    tasks_raw = r.table(data.get("tasks", {}), "tasks")
    tasks: dict[str, TaskKind] = {}
    for kind_name, raw in tasks_raw.items():
        key = f"tasks.{kind_name}"
        r.ident(kind_name, key)
        tasks[kind_name] = read_task_kind(
            r, kind_name, r.table(raw, key), key, params, dict.fromkeys(tasks_raw)
        )

    transitions = read_transitions(
        r, data.get("transitions"), "transitions", states, tasks, activity_level=True
    )
    open_creates = r.names(open_section.get("creates", []), "open.creates")
    for c in open_creates:
        if c not in tasks:
            raise r.fail(
                "open.creates",
                f"unknown task kind '{c}' (task kinds: {', '.join(tasks) or 'none'})",
            )
    open_notify = read_notify(r, open_section.get("notify", []), "open.notify")
    check_graph(r, "states", initial, states, transitions)

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
    check_creates(r, wf_obj)
    return wf_obj


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
    # a file in force must let everyone it offers a guarded transition get past the guard;
    # a version an activity is pinned to keeps working as it was (from_stored)
    check_asking(Reader(str(path)), wf)
    return wf
