"""Checking and converting the inputs a transition declares.

Values arrive as text (CLI, web forms) or as Python values (API, tests). Each is converted
to the JSON-friendly form stored in the activity or task data: dates as ISO strings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email

from .definitions import InputSpec
from .errors import InvalidInput

_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n"}


def coerce_inputs(specs: Sequence[InputSpec], raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Check ``raw`` against ``specs``: no unknown names, every required one present."""
    by_name = {s.name: s for s in specs}
    unknown = [k for k in raw if k not in by_name]
    if unknown:
        allowed = ", ".join(by_name) or "none"
        raise InvalidInput(f"{where}: unknown input '{unknown[0]}' (allowed: {allowed})")
    out: dict[str, Any] = {}
    missing: list[str] = []
    for spec in specs:
        value = raw.get(spec.name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if spec.required:
                missing.append(spec.name)
            continue
        out[spec.name] = convert(spec, value, where)
    if missing:
        raise InvalidInput(f"{where}: missing required input {', '.join(missing)}")
    return out


def convert(spec: InputSpec, value: Any, where: str) -> Any:
    """One value to its stored form, or :class:`InvalidInput` naming the input."""
    name = f"{where}: input '{spec.name}'"
    if spec.type == "text":
        text = str(value).strip()
        if len(text) > 10_000:
            raise InvalidInput(f"{name} is longer than 10,000 characters")
        return text
    if spec.type == "date":
        if isinstance(value, datetime):
            raise InvalidInput(f"{name}: expected a date (YYYY-MM-DD), not a date and time")
        if isinstance(value, date):
            return value.isoformat()
        try:
            return date.fromisoformat(str(value).strip()).isoformat()
        except ValueError:
            raise InvalidInput(f"{name}: {value!r} is not a date (YYYY-MM-DD)") from None
    if spec.type == "int":
        if isinstance(value, bool):
            raise InvalidInput(f"{name}: expected a whole number, got {value!r}")
        try:
            return int(str(value).strip())
        except ValueError:
            raise InvalidInput(f"{name}: expected a whole number, got {value!r}") from None
    if spec.type == "bool":
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise InvalidInput(f"{name}: expected yes or no, got {value!r}")
    if spec.type == "choice":
        text = str(value).strip()
        if text not in spec.choices:
            raise InvalidInput(
                f"{name}: {text!r} is not allowed (allowed: {', '.join(spec.choices)})"
            )
        return text
    if spec.type == "email":
        try:
            return validate_email(str(value).strip(), check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise InvalidInput(f"{name}: {value!r} is not an email address: {exc}") from None
    raise InvalidInput(f"{name}: unknown input type {spec.type}")  # pragma: no cover
