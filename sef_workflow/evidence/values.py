"""How the evidence pack writes a value: moments, dates, flags, JSON, names inside the zip.

This module owns the text every part of the pack shares: UTC moments in ISO 8601, dates,
``true``/``false``, JSON with sorted keys, inputs as one line, the letters-digits-dashes
names used inside the zip, an uploaded file's extension, and the natural order of
question numbers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def iso(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat() if moment is not None else ""


def day(d: date | None) -> str:
    return d.isoformat() if d is not None else ""


def flag(value: bool) -> str:
    return "true" if value else "false"


def json_text(value: Any) -> str:
    """``value`` as JSON with sorted keys; what JSON cannot hold, as its text."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json_text(value)
    return str(value)


def inputs_text(inputs: Mapping[str, Any]) -> str:
    return "; ".join(f"{k}: {text(v)}" for k, v in sorted(inputs.items()) if v not in (None, ""))


def safe(name: str) -> str:
    """Letters, digits, - and _ only: safe in a file name and a header."""
    return _UNSAFE.sub("_", name).strip("_")


def extension(name: str) -> str:
    """``.pdf`` from ``Return (final).PDF``: lower case, letters and digits, at most 8."""
    suffix = Path(name.replace("\\", "/")).suffix.lower().lstrip(".")
    clean = "".join(c for c in suffix if c.isascii() and c.isalnum())[:8]
    return f".{clean}" if clean else ""


def natural(key: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key putting question 1.2 before 1.10."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", key) if p)
