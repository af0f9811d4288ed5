"""Reading posted forms: the state a form comes back in, what was typed, the inputs a
transition declares, numbers, which field an error from the service belongs to, and text
made safe for file names, sizes and CSV cells."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from ..definitions import InputSpec
from ..errors import SefError


@dataclass
class FormState:
    """A form that came back: which one, what was typed, and what to fix."""

    name: str
    values: Mapping[str, str] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (field id, message)


def typed_values(form: FormData) -> dict[str, str]:
    """Every text field of the form as typed, less its CSRF token."""
    return {k: v for k, v in form.multi_items() if isinstance(v, str) and k != "csrf_token"}


def text_field(form: FormData, name: str) -> str:
    """A text field with one form of line break (browsers send a textarea's as CRLF)."""
    value = form.get(name)
    return value.replace("\r\n", "\n") if isinstance(value, str) else ""


def input_values(form: FormData, specs: Sequence[InputSpec]) -> dict[str, Any]:
    """The inputs ``specs`` declare, as posted in ``in_<name>`` fields (blank ones left out)."""
    out: dict[str, Any] = {}
    for spec in specs:
        value = form.get(f"in_{spec.name}")
        if isinstance(value, str) and value.strip():
            out[spec.name] = value
    return out


def parse_int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def field_error(exc: SefError, specs: Sequence[InputSpec], prefix: str = "") -> tuple[str, str]:
    """(the id of the field to fix, the message) for an error from the service."""
    message = str(exc)
    base = f"t-{prefix}-" if prefix else ""
    for spec in specs:
        if f"'{spec.name}'" in message or message.endswith(f"input {spec.name}"):
            return f"{base}in_{spec.name}", message
    if "input 'upload'" in message:
        return f"{base}upload", message
    if "reason" in message:
        return f"{base}reason", message
    return (f"{base}in_{specs[0].name}" if specs else f"{base}reason"), message


def clean_name(name: str) -> str:
    """A sent file's name without its folders or characters unsafe in a header or a path."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in base if c.isprintable() and c not in '"<>:|?*').strip() or "file"


def size_text(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.0f} MB"
    if n >= 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n} bytes"
