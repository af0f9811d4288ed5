"""Workflow parameters: their defaults and choices, the values config overrides them
with, and the ``param:<name>`` references a task kind's deadline makes to them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError, DefinitionError
from .reader import Reader


def read_parameters(
    r: Reader,
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


def resolve_param(r: Reader, value: Any, key: str, params: Mapping[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("param:"):
        pname = value.removeprefix("param:")
        if pname not in params:
            raise r.fail(
                key, f"unknown parameter '{pname}' (parameters: {', '.join(params) or 'none'})"
            )
        return params[pname]
    return value
