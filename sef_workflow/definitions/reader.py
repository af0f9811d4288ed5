"""Walking a definition's TOML tables: every error names the file and the dotted key."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, cast

from ..errors import DefinitionError

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class Reader:
    """Walks a TOML table, naming the file and dotted key in every error."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, key: str, message: str) -> DefinitionError:
        return DefinitionError(f"{self.origin}: key '{key}': {message}")

    def table(self, data: Any, key: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(key, "must be a table")
        return cast(dict[str, Any], data)

    def only(self, data: Mapping[str, Any], key: str, allowed: Iterable[str]) -> None:
        allowed = list(allowed)
        for k in data:
            if k not in allowed:
                where = f"{key}.{k}" if key else k
                raise self.fail(where, f"unknown key (allowed: {', '.join(allowed)})")

    def str_(self, data: Mapping[str, Any], key: str, name: str, default: str | None = None) -> str:
        value = data.get(name, default)
        if not isinstance(value, str) or not value:
            raise self.fail(_join(key, name), "must be a non-empty string")
        return value

    def ident(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not NAME_RE.match(value):
            raise self.fail(key, f"must be a lower-case name like 'audit_return', got {value!r}")
        return value

    def bool_(self, data: Mapping[str, Any], key: str, name: str, default: bool) -> bool:
        value = data.get(name, default)
        if not isinstance(value, bool):
            raise self.fail(_join(key, name), "must be true or false")
        return value

    def int_(self, value: Any, key: str, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"must be a whole number >= {minimum}, got {value!r}")
        return value

    def names(self, value: Any, key: str) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise self.fail(key, "must be a name or a list of names")
        return tuple(self.ident(v, f"{key}[{i}]") for i, v in enumerate(value))


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name
