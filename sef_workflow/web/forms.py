"""Reading posted forms: the state a form comes back in, what was typed, the inputs a
transition declares (dates typed as day, month and year), numbers, which field an error
belongs to and what it says in plain English, and text made safe for file names, sizes and
CSV cells."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from starlette.datastructures import FormData

from ..definitions import InputSpec
from ..errors import InvalidInput, SefError

#: the three boxes of a date input (GOV.UK date input pattern), as name suffixes
DATE_PARTS = ("day", "month", "year")


@dataclass
class FormState:
    """A form that came back: which one, what was typed, and what to fix."""

    name: str
    values: Mapping[str, str] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (field id, message)


class FormInvalid(InvalidInput):
    """What was typed cannot be read (a date that is not a real date), field by field:
    ``problems`` pairs an input's name with what to fix."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        super().__init__("; ".join(message for _name, message in problems))
        self.problems = list(problems)


def typed_values(form: FormData) -> dict[str, str]:
    """Every text field of the form as typed, less its CSRF token. A date typed in three
    boxes (``NAME-day``, ``NAME-month``, ``NAME-year``) is also given as ``NAME``: ISO when
    it is a real date, else as typed ("31/2/2027")."""
    values = {k: v for k, v in form.multi_items() if isinstance(v, str) and k != "csrf_token"}
    for key in [k.removesuffix("-day") for k in values if k.endswith("-day")]:
        parts = date_parts(values, key)
        if parts is None or key in values:
            continue
        iso = real_date(*parts)
        values[key] = iso or ("/".join(parts) if any(parts) else "")
    return values


def text_field(form: FormData, name: str) -> str:
    """A text field with one form of line break (browsers send a textarea's as CRLF)."""
    value = form.get(name)
    return value.replace("\r\n", "\n") if isinstance(value, str) else ""


def date_parts(form: Mapping[str, Any], name: str) -> tuple[str, str, str] | None:
    """The day, month and year typed for the date field ``name``; None if it has no boxes."""
    raw = [form.get(f"{name}-{part}") for part in DATE_PARTS]
    if all(value is None for value in raw):
        return None
    day, month, year = (value.strip() if isinstance(value, str) else "" for value in raw)
    return day, month, year


def real_date(day: str, month: str, year: str) -> str | None:
    """The ISO date of a day, month and year typed as numbers, or None if it is no date."""
    if not (day.isdigit() and month.isdigit() and year.isdigit() and len(year) == 4):
        return None
    try:
        return date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        return None


def read_date(
    form: Mapping[str, Any], name: str, label: str, required: bool = True
) -> tuple[str | None, str | None]:
    """(the ISO date, None) or (None, what to fix) for the date field ``name``, typed as day,
    month and year or posted whole as ``YYYY-MM-DD`` (the JSON API, older pages);
    (None, None) when it was left blank and may be."""
    parts = date_parts(form, name)
    if parts is None:
        whole = form.get(name)
        text = whole.strip() if isinstance(whole, str) else ""
        if not text:
            return None, (f"Enter {the(label)}" if required else None)
        try:
            return date.fromisoformat(text).isoformat(), None
        except ValueError:
            return None, f"{sentence(label)} must be a real date"
    if not any(parts):
        return None, (f"Enter {the(label)}" if required else None)
    missing = [part for part, value in zip(DATE_PARTS, parts, strict=True) if not value]
    if missing:
        return None, f"{sentence(label)} must include a {and_list(missing)}"
    if not parts[2].isdigit() or len(parts[2]) != 4:
        return None, "The year must include 4 numbers"
    iso = real_date(*parts)
    if iso is None:
        return None, f"{sentence(label)} must be a real date"
    return iso, None


def input_values(form: FormData, specs: Sequence[InputSpec]) -> dict[str, Any]:
    """The inputs ``specs`` declare, as posted in ``in_<name>`` fields (blank ones left out;
    a date typed as day, month and year given as ISO). :class:`FormInvalid` names every
    date that is not a real one; a missing required input is the service's to refuse."""
    out: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for spec in specs:
        key = f"in_{spec.name}"
        if spec.type == "date":
            iso, problem = read_date(form, key, spec.label, required=False)
            if problem:
                problems.append((spec.name, problem))
            elif iso:
                out[spec.name] = iso
            continue
        value = form.get(key)
        if isinstance(value, str) and value.strip():
            out[spec.name] = value
    if problems:
        raise FormInvalid(problems)
    return out


def input_errors(form: FormData, specs: Sequence[InputSpec]) -> list[tuple[str, str]]:
    """[(field id, what to fix)] for every input of a form that is all inputs: a required one
    left blank, a date that is not a real one (checked before the service is asked, so
    each mistake is listed at once)."""
    errors: list[tuple[str, str]] = []
    for spec in specs:
        key = f"in_{spec.name}"
        if spec.type == "date":
            _iso, problem = read_date(form, key, spec.label, spec.required)
            if problem:
                errors.append((key, problem))
        elif spec.required and not posted_value(form, spec):
            errors.append((key, enter(spec)))
    return errors


def posted_value(form: FormData, spec: InputSpec) -> str:
    """What was posted for one input, a date's three boxes read as one (blank if none)."""
    key = f"in_{spec.name}"
    parts = date_parts(form, key) if spec.type == "date" else None
    if parts is not None:
        return "/".join(parts) if any(parts) else ""
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""


def parse_int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def field_errors(
    exc: SefError, specs: Sequence[InputSpec], prefix: str = ""
) -> list[tuple[str, str]]:
    """[(the id of the field to fix, what to fix)] for an error from reading a form or from
    the service: one per input named, in plain English where the error is a known kind."""
    base = f"t-{prefix}-" if prefix else ""
    by_name = {spec.name: spec for spec in specs}
    if isinstance(exc, FormInvalid):
        return [(f"{base}in_{name}", message) for name, message in exc.problems]
    message = str(exc)
    missing = re.search(r"missing required input (.+)$", message)
    if missing:
        names = [n.strip() for n in missing.group(1).split(",")]
        found = [(f"{base}in_{n}", enter(by_name[n])) for n in names if n in by_name]
        if found:
            return found
    for spec in specs:
        if f"'{spec.name}'" in message or message.endswith(f"input {spec.name}"):
            return [(f"{base}in_{spec.name}", plain(spec, message))]
    if "input 'upload'" in message:
        return [(f"{base}upload", message)]
    if "reason" in message:
        return [(f"{base}reason", message)]
    return [(f"{base}in_{specs[0].name}" if specs else f"{base}reason", message)]


def field_error(exc: SefError, specs: Sequence[InputSpec], prefix: str = "") -> tuple[str, str]:
    """(the id of the field to fix, the message) for an error: the first of
    :func:`field_errors`."""
    return field_errors(exc, specs, prefix)[0]


def enter(spec: InputSpec) -> str:
    """What to do about a required input left blank ("Enter the meeting date")."""
    verb = "Choose" if spec.type in ("choice", "bool") else "Enter"
    return f"{verb} {the(spec.label)}"


def plain(spec: InputSpec, message: str) -> str:
    """The service's refusal of one input, said as a GOV.UK error message where it is a
    known kind (a date, a number, a choice, a length); else as the service said it."""
    if "is not a date" in message or "not a date and time" in message:
        return f"{sentence(spec.label)} must be a real date"
    if "expected a whole number" in message:
        return f"{sentence(spec.label)} must be a whole number"
    if "is not allowed (allowed:" in message or "expected yes or no" in message:
        return enter(spec).replace("Enter", "Choose", 1)
    if "longer than 10,000 characters" in message:
        return f"{sentence(spec.label)} must be 10,000 characters or fewer"
    return message


_QUESTION_WORDS = ("what", "how", "who", "where", "when", "why", "which", "whether")


def the(label: str) -> str:
    """A field's label as the object of a sentence: "Meeting date" -> "the meeting date",
    "What the meeting noted" -> "what the meeting noted", "Is anyone better off? Evidence
    of impact" -> "the evidence of impact"; parentheses and an explanation after a colon
    are left out."""
    text = re.sub(r"\s*\([^)]*\)", "", label).strip()
    if "?" in text and text.rstrip("?").strip() and not text.endswith("?"):
        text = text.rsplit("?", 1)[1].strip()
    text = text.split(":", 1)[0].strip() or label.strip()
    first, _, rest = text.partition(" ")
    acronym = len(first) > 1 and first[1:2].isupper()  # "SMART action", "RAG"
    word = first if acronym else first[:1].lower() + first[1:]
    words = f"{word} {rest}".strip()
    if word in _QUESTION_WORDS or word == "the":
        return words
    return f"the {words}"


def sentence(label: str) -> str:
    """:func:`the` at the start of a sentence: "The meeting date"."""
    text = the(label)
    return text[:1].upper() + text[1:]


def and_list(words: Sequence[str]) -> str:
    """ "day", "day and month", "day, month and year"."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


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
