"""Reading ``programme.toml`` and checking every entry against the workflows: each
problem fails with a :class:`~sef_workflow.errors.DefinitionError` naming the file and the
key. The format is documented in ``docs/programme.md``."""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, cast

from ..definitions import InputSpec, Registry, TransitionDef, Workflow
from ..errors import DefinitionError, InvalidInput
from ..inputs import convert
from ..models import SECTORS
from ..service import Actor
from .entries import (
    ALL_AGENCIES,
    CADENCES,
    CODE_RE,
    DUE_UNITS,
    ENTRY_KEYS,
    KEY_RE,
    PLACEHOLDERS,
    PROGRAMME_ROLE,
    Cadence,
    DueRule,
    DueUnit,
    Entry,
    InputValue,
    OpenOn,
    Programme,
)
from .periods import current_period, days_in_month, render

_LEAP_YEAR = 2024


class _Checker:
    """Names the file and the dotted key in every error."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, message: str) -> DefinitionError:
        return DefinitionError(f"{self.path}: key '{key}': {message}")

    def int_(self, value: Any, key: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(key, f"must be a whole number from {low} to {high}, got {value!r}")
        return value

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "must be a non-empty string")
        return value

    def template(self, value: str, key: str) -> str:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
        except ValueError as exc:
            raise self.fail(key, f"{exc} (write {{{{ and }}}} for a literal brace)") from None
        for name in fields:
            if name not in PLACEHOLDERS:
                allowed = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
                raise self.fail(key, f"unknown placeholder {{{name}}} (allowed: {allowed})")
        return value


_PROGRAMME = Actor(id="programme", role=PROGRAMME_ROLE, name="Programme")


def load_programme(path: Path, registry: Registry) -> Programme:
    """Read and check ``path`` against the workflows in ``registry``.

    A missing file is an empty programme. Any problem raises :class:`DefinitionError`
    naming the file and the key, e.g.::

        programme.toml: key 'entry[1] (lado-annual-report).every': unknown cadence
        'annual' (allowed: month, quarter, year, two_years)
    """
    if not path.exists():
        return Programme(entries=(), source=path)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError(f"{path}: cannot read: {exc}") from None
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise DefinitionError(f"{path}: malformed TOML: {exc}") from None
    c = _Checker(path)
    for k in data:
        if k != "entry":
            raise c.fail(k, "unknown key (allowed: entry, as [[entry]] tables)")
    raw_entries = data.get("entry", [])
    if not isinstance(raw_entries, list):
        raise c.fail("entry", "must be a list of [[entry]] tables")
    entries: list[Entry] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_entries):
        entry = _entry(c, raw, i, registry)
        if entry.key in seen:
            raise c.fail(
                f"entry[{i}].key", f"duplicate key '{entry.key}' (also entry[{seen[entry.key]}])"
            )
        seen[entry.key] = i
        entries.append(entry)
    return Programme(entries=tuple(entries), source=path)


def _entry(c: _Checker, raw: Any, i: int, registry: Registry) -> Entry:
    where = f"entry[{i}]"
    if not isinstance(raw, dict):
        raise c.fail(where, "must be a table ([[entry]])")
    raw = cast(dict[str, Any], raw)
    key = raw.get("key")
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise c.fail(
            f"{where}.key",
            f"must be a lower-case id like 'quarterly-indicators' (letters, digits, '-', '_'; "
            f"at most 64), got {key!r}",
        )
    where = f"{where} ({key})"
    for k in raw:
        if k not in ENTRY_KEYS:
            raise c.fail(f"{where}.{k}", f"unknown key (allowed: {', '.join(ENTRY_KEYS)})")
    for k in ("workflow", "title", "every", "open_on"):
        if k not in raw:
            raise c.fail(f"{where}.{k}", "is required")

    wf = _workflow(c, raw["workflow"], f"{where}.workflow", registry)
    title = c.template(c.text(raw["title"], f"{where}.title"), f"{where}.title")
    every = raw["every"]
    if every not in CADENCES:
        raise c.fail(
            f"{where}.every", f"unknown cadence {every!r} (allowed: {', '.join(CADENCES)})"
        )
    cadence = cast(Cadence, every)

    year_start = 1
    if "year_start" in raw:
        if cadence == "month":
            raise c.fail(f"{where}.year_start", "only for quarter, year and two_years entries")
        year_start = c.int_(raw["year_start"], f"{where}.year_start", 1, 12)
    anchor: int | None = None
    if cadence == "two_years":
        if "anchor_year" not in raw:
            raise c.fail(
                f"{where}.anchor_year",
                "is required for every = 'two_years': the year a cycle starts in "
                "(cycles start in anchor_year, anchor_year + 2, ...)",
            )
        anchor = c.int_(raw["anchor_year"], f"{where}.anchor_year", 1900, 9998)
    elif "anchor_year" in raw:
        raise c.fail(f"{where}.anchor_year", "only for every = 'two_years'")

    start_date: date | None = None
    if "start_date" in raw:
        start_date = _date(c, raw["start_date"], f"{where}.start_date")
    open_on = _open_on(c, raw["open_on"], f"{where}.open_on", cadence)
    agencies = _agencies(c, raw.get("agencies"), f"{where}.agencies", wf)
    then, then_transitions = _then(c, raw.get("then", []), f"{where}.then", wf)
    due, due_input = _due(c, raw, where, wf, then_transitions)
    entry = Entry(
        key=key,
        workflow=wf.name,
        title=title,
        every=cadence,
        open_on=open_on,
        agencies=agencies,
        inputs={},
        due=due,
        due_input=due_input,
        then=then,
        anchor_year=anchor,
        year_start=year_start,
        start_date=start_date,
    )
    inputs = _inputs(c, raw.get("inputs", {}), f"{where}.inputs", wf, entry)
    return replace(entry, inputs=inputs)


def _workflow(c: _Checker, value: Any, key: str, registry: Registry) -> Workflow:
    workflows = registry.current()
    if not isinstance(value, str) or value not in workflows:
        raise c.fail(key, f"unknown workflow {value!r} (workflows: {', '.join(workflows)})")
    wf = workflows[value]
    if not _PROGRAMME.may(wf.open_roles):
        raise c.fail(
            key,
            f"the programme opens activities as a {PROGRAMME_ROLE}, but only "
            f"{', '.join(wf.open_roles)} may open {wf.name} ([open] roles)",
        )
    return wf


def _date(c: _Checker, value: Any, key: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise c.fail(key, f"must be a date like 2026-04-01, got {value!r}")


def _open_on(c: _Checker, raw: Any, key: str, cadence: Cadence) -> OpenOn:
    if not isinstance(raw, dict):
        raise c.fail(key, "must be a table like { month = 1, day = 5 }")
    allowed = ("day",) if cadence == "month" else ("month", "day")
    for k in raw:
        if k not in allowed:
            raise c.fail(
                f"{key}.{k}", f"unknown key for every = '{cadence}' (allowed: {', '.join(allowed)})"
            )
    for k in allowed:
        if k not in raw:
            raise c.fail(f"{key}.{k}", f"is required for every = '{cadence}'")
    if cadence == "month":
        return OpenOn(day=c.int_(raw["day"], f"{key}.day", 1, 31))
    if cadence == "quarter":
        month = c.int_(raw["month"], f"{key}.month", 1, 3)
        day = c.int_(raw["day"], f"{key}.day", 1, 31)
        return OpenOn(day=day, month=month)
    month = c.int_(raw["month"], f"{key}.month", 1, 12)
    day = c.int_(raw["day"], f"{key}.day", 1, days_in_month(_LEAP_YEAR, month))
    return OpenOn(day=day, month=month)


def _agencies(c: _Checker, raw: Any, key: str, wf: Workflow) -> Literal["all"] | tuple[str, ...]:
    if raw is None:
        if wf.agencies == "required":
            raise c.fail(
                key,
                f"is required: {wf.name} goes to agencies ('all', sector names or agency codes)",
            )
        return ()
    if wf.agencies == "none":
        raise c.fail(key, f"{wf.name} does not take agencies: leave this out")
    if raw == ALL_AGENCIES:
        return ALL_AGENCIES
    if not isinstance(raw, list) or not raw:
        raise c.fail(key, f"must be 'all' or a list of sector names or agency codes, got {raw!r}")
    selectors: list[str] = []
    for j, item in enumerate(raw):
        if isinstance(item, str) and (item in SECTORS or CODE_RE.match(item)):
            if item not in selectors:
                selectors.append(item)
            continue
        raise c.fail(
            f"{key}[{j}]",
            f"unknown agency selector {item!r}: a sector ({', '.join(SECTORS)}) or an agency "
            "code in capitals (e.g. POL); 'all' is written on its own, not in a list",
        )
    return tuple(selectors)


def _then(
    c: _Checker, raw: Any, key: str, wf: Workflow
) -> tuple[tuple[str, ...], list[TransitionDef]]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise c.fail(key, "must be a list of triggers, e.g. ['issue_request']")
    state = wf.initial
    visited = [state]
    triggers: list[str] = []
    transitions: list[TransitionDef] = []
    for j, trigger in enumerate(raw):
        t = wf.transition_for(trigger, state) if isinstance(trigger, str) else None
        if t is None:
            allowed = ", ".join(wf.allowed_triggers(state)) or "none"
            raise c.fail(
                f"{key}[{j}]",
                f"{trigger!r} cannot fire on {wf.name} in state '{state}' (allowed: {allowed})",
            )
        if not _PROGRAMME.may(t.roles):
            raise c.fail(
                f"{key}[{j}]",
                f"the programme acts as a {PROGRAMME_ROLE}, but only {', '.join(t.roles)} may "
                f"fire '{trigger}'",
            )
        if t.reason_required:
            raise c.fail(f"{key}[{j}]", f"'{trigger}' needs a reason: fire it by hand")
        state = wf.next_state(t.trigger, state)
        if state in visited:
            raise c.fail(
                f"{key}[{j}]", f"'{trigger}' does not move the activity on (state '{state}')"
            )
        visited.append(state)
        triggers.append(t.trigger)
        transitions.append(t)
    return tuple(triggers), transitions


def _due(
    c: _Checker,
    raw: Mapping[str, Any],
    where: str,
    wf: Workflow,
    then: Sequence[TransitionDef],
) -> tuple[DueRule | None, str | None]:
    due: DueRule | None = None
    if "due" in raw:
        table = raw["due"]
        if not isinstance(table, dict) or len(table) != 1:
            raise c.fail(f"{where}.due", "must be a table like { working_days = 20 }")
        ((unit, amount),) = table.items()
        if unit not in DUE_UNITS:
            raise c.fail(f"{where}.due.{unit}", f"unknown key (allowed: {', '.join(DUE_UNITS)})")
        due = DueRule(cast(DueUnit, unit), c.int_(amount, f"{where}.due.{unit}", 0, 1000))
    name = raw.get("due_input")
    if name is not None:
        if due is None:
            raise c.fail(f"{where}.due_input", "is given without due (e.g. { working_days = 20 })")
        specs = _date_inputs(wf, then)
        if not isinstance(name, str) or name not in specs:
            raise c.fail(
                f"{where}.due_input",
                f"{name!r} is not a date input of opening {wf.name} or of the then triggers "
                f"(date inputs: {', '.join(specs) or 'none'})",
            )
    elif due is not None:
        raise c.fail(f"{where}.due_input", "is required with due: the date input it sets")
    for j, t in enumerate(then):
        missing = [s.name for s in t.inputs if s.required and s.name != name]
        if missing:
            raise c.fail(
                f"{where}.then[{j}]",
                f"'{t.trigger}' needs input {', '.join(missing)}, which the programme can only "
                "give as the due date (set due and due_input)",
            )
    return due, name


def _date_inputs(wf: Workflow, then: Sequence[TransitionDef]) -> list[str]:
    names: list[str] = []
    for spec in (*wf.open_inputs, *(s for t in then for s in t.inputs)):
        if spec.type == "date" and spec.name not in names:
            names.append(spec.name)
    return names


def _inputs(c: _Checker, raw: Any, key: str, wf: Workflow, entry: Entry) -> dict[str, InputValue]:
    if not isinstance(raw, dict):
        raise c.fail(key, "must be a table like { period = '{period}' }")
    specs: dict[str, InputSpec] = {s.name: s for s in wf.open_inputs}
    sample = current_period(entry, date(max(entry.anchor_year or 2026, 2026), 1, 1))
    out: dict[str, InputValue] = {}
    for name, value in raw.items():
        spec = specs.get(name)
        if spec is None:
            raise c.fail(
                f"{key}.{name}",
                f"unknown input: opening {wf.name} takes {', '.join(specs) or 'no inputs'}",
            )
        if name == entry.due_input:
            raise c.fail(f"{key}.{name}", "is set by due and due_input; leave it out here")
        if isinstance(value, datetime) or not isinstance(value, str | int | bool | date):
            raise c.fail(
                f"{key}.{name}", f"must be text, a number, true/false or a date: {value!r}"
            )
        checked: Any = value
        if isinstance(value, str):
            c.template(value, f"{key}.{name}")
            checked = render(value, sample)
        try:
            convert(spec, checked, f"opening {wf.name}")
        except InvalidInput as exc:
            raise c.fail(f"{key}.{name}", str(exc)) from None
        out[name] = value
    missing = [
        s.name
        for s in wf.open_inputs
        if s.required and s.name not in out and s.name != entry.due_input
    ]
    if missing:
        raise c.fail(key, f"missing required input {', '.join(missing)} for opening {wf.name}")
    return out
