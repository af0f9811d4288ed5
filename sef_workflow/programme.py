"""The recurring programme: which activities open on a calendar, and opening them once.

``programme.toml`` (``scheduler.programme_file``) lists entries: quarterly data requests,
annual reports, a Section 11 cycle every two years. Each entry names a workflow, how often
it recurs (``every``), the day in each period it opens (``open_on``), the agencies it goes
to and the inputs it opens with. The file is data the business unit edits: it is checked on
load against the workflows and fails with a :class:`~sef_workflow.errors.DefinitionError`
naming the file and the key. The format is documented in ``docs/programme.md``.

:func:`period_of` is pure: which period contains a day, when that period's activity opens
and whether that day has come. :func:`run_programme` does the I/O: for every entry whose
opening day has come it calls :meth:`Service.open_once` under the key
``programme:<entry key>:<period label>``, so each entry opens exactly once per period,
whichever worker gets there first and however late (a worker down on the opening day opens
it on its next run in the same period; a period that passed entirely is not opened
retrospectively). It then fires the entry's ``then`` triggers with the due date, and fires
any still missing on later runs if a worker stopped in between. One entry's failure never
stops the others.
"""

from __future__ import annotations

import calendar as _stdcal
import logging
import re
import string
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, cast, get_args

import sqlalchemy as sa
from sqlmodel import col, select

from .calendar import WorkingCalendar, add_months
from .definitions import InputSpec, Registry, TransitionDef, Workflow
from .errors import (
    ConcurrentUpdate,
    DefinitionError,
    GuardFailed,
    InvalidInput,
    SefError,
    TransitionNotAllowed,
)
from .inputs import convert
from .models import SECTORS, Activity, Agency, ProgrammeRun
from .service import Actor, Service

__all__ = [
    "ALL_AGENCIES",
    "CADENCES",
    "PLACEHOLDERS",
    "Cadence",
    "DueRule",
    "Entry",
    "OpenOn",
    "Period",
    "Programme",
    "ProgrammeReport",
    "load_programme",
    "period_of",
    "programme_actor",
    "resolve_agencies",
    "run_key",
    "run_programme",
]

log = logging.getLogger(__name__)

Cadence = Literal["month", "quarter", "year", "two_years"]
CADENCES: tuple[str, ...] = get_args(Cadence)
DueUnit = Literal["working_days", "calendar_days"]
DUE_UNITS: tuple[str, ...] = get_args(DueUnit)
#: ``agencies = "all"``: every active agency.
ALL_AGENCIES: Literal["all"] = "all"
#: What ``{...}`` may name in a title or an input value.
PLACEHOLDERS: tuple[str, ...] = ("period", "year", "previous")
#: The role the programme opens activities and fires triggers with.
PROGRAMME_ROLE = "coordinator"

KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")
ENTRY_KEYS = (
    "key",
    "workflow",
    "title",
    "every",
    "open_on",
    "agencies",
    "inputs",
    "due",
    "due_input",
    "then",
    "anchor_year",
    "year_start",
    "start_date",
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_ONE_DAY = timedelta(days=1)
_LEAP_YEAR = 2024

InputValue = str | int | bool | date


# ---------------------------------------------------------------------------------------
# the programme


@dataclass(frozen=True)
class OpenOn:
    """The day in each period an entry opens: ``day`` of ``month`` (see ``docs/programme.md``).

    ``month`` is ``None`` for monthly entries, the month within the quarter (1-3) for
    quarterly ones and the calendar month for yearly and two-yearly ones. A day past the
    end of a month means its last day.
    """

    day: int
    month: int | None = None


@dataclass(frozen=True)
class DueRule:
    """The due date given to the workflow: ``amount`` days after the day it opens."""

    unit: DueUnit
    amount: int


@dataclass(frozen=True)
class Entry:
    """One recurring activity."""

    key: str
    workflow: str
    title: str
    every: Cadence
    open_on: OpenOn
    #: ``"all"``, or sector names (lower case) and agency codes (capitals); ``()``: none
    agencies: Literal["all"] | tuple[str, ...] = ()
    inputs: Mapping[str, InputValue] = field(default_factory=dict)
    due: DueRule | None = None
    due_input: str | None = None
    then: tuple[str, ...] = ()
    anchor_year: int | None = None
    #: the month the year starts in for quarters, years and two-year cycles (4: April)
    year_start: int = 1
    #: periods whose opening day is before this date are never opened (an entry added in
    #: the middle of a period that was already handled by hand)
    start_date: date | None = None


@dataclass(frozen=True)
class Programme:
    entries: tuple[Entry, ...]
    source: Path

    def get(self, key: str) -> Entry:
        for entry in self.entries:
            if entry.key == key:
                return entry
        raise KeyError(key)


@dataclass(frozen=True)
class Period:
    """One period of an entry and the day its activity opens."""

    #: ``"Jan 2026"``, ``"2026 Q1"`` / ``"2026-27 Q1"``, ``"2026"`` / ``"2026-27"``
    label: str
    start: date
    #: the last day of the period
    end: date
    #: the opening day: ``open_on`` in this period, moved to the next working day when a
    #: calendar is given and it is not one (unless that would leave the period)
    opens_on: date
    #: the label of the period before (for ``{previous}``: a report on the year just ended)
    previous: str

    def placeholders(self) -> dict[str, str]:
        return {"period": self.label, "year": str(self.start.year), "previous": self.previous}


# ---------------------------------------------------------------------------------------
# periods (pure)


def _days_in_month(year: int, month: int) -> int:
    return _stdcal.monthrange(year, month)[1]


def _on(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, _days_in_month(year, month)))


def _span(start: date, end: date) -> str:
    return str(start.year) if start.year == end.year else f"{start.year}-{end.year % 100:02d}"


def _bounds(entry: Entry, d: date) -> tuple[date, date, str]:
    """The period of ``entry`` that contains ``d``: first day, last day, label."""
    if entry.every == "month":
        start = d.replace(day=1)
        return start, add_months(start, 1) - _ONE_DAY, f"{_MONTHS[d.month - 1]} {d.year}"
    first = entry.year_start
    year_from = date(d.year if d.month >= first else d.year - 1, first, 1)
    year_to = add_months(year_from, 12) - _ONE_DAY
    if entry.every == "quarter":
        q = ((d.month - first) % 12) // 3
        start = add_months(year_from, 3 * q)
        return start, add_months(start, 3) - _ONE_DAY, f"{_span(year_from, year_to)} Q{q + 1}"
    if entry.every == "year":
        return year_from, year_to, _span(year_from, year_to)
    assert entry.anchor_year is not None  # checked on load
    cycle = entry.anchor_year + 2 * ((year_from.year - entry.anchor_year) // 2)
    start = date(cycle, first, 1)
    end = add_months(start, 24) - _ONE_DAY
    return start, end, _span(start, end)


def _nominal_opening(entry: Entry, start: date) -> date:
    on = entry.open_on
    if entry.every == "month":
        return _on(start.year, start.month, on.day)
    assert on.month is not None  # checked on load
    if entry.every == "quarter":
        m = add_months(start, on.month - 1)
        return _on(m.year, m.month, on.day)
    year = start.year if on.month >= start.month else start.year + 1
    return _on(year, on.month, on.day)


def current_period(entry: Entry, today: date, calendar: WorkingCalendar | None = None) -> Period:
    """The period of ``entry`` containing ``today``, whether or not it has opened yet."""
    start, end, label = _bounds(entry, today)
    opens_on = _nominal_opening(entry, start)
    if calendar is not None and not calendar.is_working_day(opens_on):
        moved = calendar.next_working_day(opens_on)
        if moved <= end:
            opens_on = moved
    previous = _bounds(entry, start - _ONE_DAY)[2]
    return Period(label=label, start=start, end=end, opens_on=opens_on, previous=previous)


def period_of(entry: Entry, today: date, calendar: WorkingCalendar | None = None) -> Period | None:
    """The period containing ``today`` if its opening day has come (on or after it), else
    ``None``. With ``calendar``, an opening day that is not a working day moves to the next
    working day (as long as that is still in the period). A period that opens before the
    entry's ``start_date`` is never due."""
    period = current_period(entry, today, calendar)
    if today < period.opens_on:
        return None
    if entry.start_date is not None and period.opens_on < entry.start_date:
        return None
    return period


def run_key(entry: Entry, period: Period) -> str:
    """The once-only key of ``entry`` in ``period``: ``programme:<key>:<label>``."""
    return f"programme:{entry.key}:{period.label}"


def render(template: str, period: Period) -> str:
    return template.format_map(period.placeholders())


def render_inputs(entry: Entry, period: Period) -> dict[str, Any]:
    values = period.placeholders()
    return {
        name: value.format_map(values) if isinstance(value, str) else value
        for name, value in entry.inputs.items()
    }


def due_date(entry: Entry, opened_on: date, calendar: WorkingCalendar) -> date | None:
    """The due date given to the workflow for an activity opened on ``opened_on``."""
    if entry.due is None:
        return None
    if entry.due.unit == "working_days":
        return calendar.add_working_days(opened_on, entry.due.amount)
    return opened_on + timedelta(days=entry.due.amount)


# ---------------------------------------------------------------------------------------
# loading


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


def programme_actor(service: Service) -> Actor:
    """Who the programme acts as: a coordinator with the business unit's address."""
    notifier = service.notifier
    address = notifier.business_unit_email if notifier is not None else "programme"
    return Actor(id=address, role=PROGRAMME_ROLE, name="Programme")


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
    day = c.int_(raw["day"], f"{key}.day", 1, _days_in_month(_LEAP_YEAR, month))
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


# ---------------------------------------------------------------------------------------
# running


@dataclass(frozen=True)
class ProgrammeReport:
    """What one pass over the programme did."""

    #: ``"REQ-2026-004 (quarterly-indicators 2026-27 Q1)"`` for each activity opened
    opened: list[str]
    #: entries already opened this period (by this worker earlier or another)
    already: int
    #: entries whose opening day in the current period has not come yet
    not_due: int
    #: ``"<entry key> (<period>): <what went wrong>"``
    errors: list[str]


def resolve_agencies(entry: Entry, agencies: Sequence[Agency]) -> list[str]:
    """The codes of the active agencies ``entry`` goes to, in directory order.

    Sectors select their active agencies (a sector with none adds none); a code must be an
    active agency. :class:`InvalidInput` when a code is unknown or nothing matches.
    """
    active = [a for a in agencies if a.active]
    if entry.agencies == ALL_AGENCIES:
        return [a.code for a in active]
    if not entry.agencies:
        return []
    codes = {a.code for a in active}
    wanted: set[str] = set()
    for selector in entry.agencies:
        if selector in SECTORS:
            wanted.update(a.code for a in active if a.sector == selector)
        elif selector in codes:
            wanted.add(selector)
        else:
            raise InvalidInput(
                f"agency {selector} is not an active agency in the directory "
                f"(active: {', '.join(sorted(codes)) or 'none'})"
            )
    if not wanted:
        raise InvalidInput(f"no active agency in {', '.join(entry.agencies)}")
    return [a.code for a in active if a.code in wanted]


def run_programme(
    service: Service, programme: Programme, actor: Actor | None = None
) -> ProgrammeReport:
    """Open what is due today (the service's clock, the calendar's time zone), once per period.

    Each entry whose opening day in the current period has come is opened with
    :meth:`Service.open_once` under :func:`run_key`, as a coordinator with the business
    unit's address (:func:`programme_actor`), then its ``then`` triggers fire with the due
    date counted from the day it opens. Errors are collected per entry, never raised.
    """
    actor = actor or programme_actor(service)
    cal = service.calendar
    today = cal.local_date(service.clock.now())
    opened: list[str] = []
    errors: list[str] = []
    already = not_due = 0
    due_now: list[tuple[Entry, Period]] = []
    for entry in programme.entries:
        period = period_of(entry, today, cal)
        if period is None:
            not_due += 1
        else:
            due_now.append((entry, period))
    if not due_now:
        return ProgrammeReport(opened=opened, already=already, not_due=not_due, errors=errors)

    existing = _existing(service, [run_key(e, p) for e, p in due_now])
    directory: list[Agency] | None = None
    for entry, period in due_now:
        key = run_key(entry, period)
        try:
            found = existing.get(key)
            if found is not None:
                already += 1
                activity, wf = found
                _finish_then(service, actor, entry, activity, wf)
                continue
            if directory is None:
                directory = service.list_agencies()
            outcome = _open(service, actor, entry, period, today, directory)
            if outcome is None:
                already += 1
                continue
            ref = outcome.ref
            opened.append(f"{ref} ({entry.key} {period.label})")
            log.info("programme: opened %s for %s %s", ref, entry.key, period.label)
            _fire_then(service, actor, entry, ref, 0, today)
        except Exception as exc:
            if not isinstance(exc, SefError):
                log.exception("programme: %s (%s) failed", entry.key, period.label)
            errors.append(f"{entry.key} ({period.label}): {exc}")
    return ProgrammeReport(opened=opened, already=already, not_due=not_due, errors=errors)


@dataclass(frozen=True)
class _Opened:
    ref: str


def _open(
    service: Service,
    actor: Actor,
    entry: Entry,
    period: Period,
    today: date,
    directory: Sequence[Agency],
) -> _Opened | None:
    codes = resolve_agencies(entry, directory)
    inputs = render_inputs(entry, period)
    wf = service.registry.get(entry.workflow)
    due = due_date(entry, today, service.calendar)
    if entry.due_input is not None and any(s.name == entry.due_input for s in wf.open_inputs):
        inputs[entry.due_input] = due
    title = render(entry.title, period)
    key = run_key(entry, period)
    for attempt in (1, 2):
        try:
            outcome = service.open_once(actor, key, entry.workflow, title, codes, inputs)
        except sa.exc.IntegrityError:
            # Another worker opening at the same moment can win a race on a shared row (a
            # reference counter); once it has committed, a second try sees its run and stops.
            if attempt == 2:
                raise
            continue
        return None if outcome is None else _Opened(outcome.activity.ref)
    raise AssertionError("unreachable")  # pragma: no cover


def _existing(service: Service, keys: Sequence[str]) -> dict[str, tuple[Activity, Workflow]]:
    """The activities already opened under ``keys``, with their pinned workflows."""
    found: dict[str, tuple[Activity, Workflow]] = {}
    with service.db.read() as session:
        rows = session.exec(
            select(ProgrammeRun, Activity)
            .join(Activity, col(Activity.id) == col(ProgrammeRun.activity_id))
            .where(col(ProgrammeRun.key).in_(list(keys)))
        ).all()
        for run, activity in rows:
            found[run.key] = (activity, service.workflow_for(session, activity))
    return found


def _finish_then(
    service: Service, actor: Actor, entry: Entry, activity: Activity, wf: Workflow
) -> None:
    """Fire the ``then`` triggers a worker did not get to (it stopped right after opening)."""
    if not entry.then:
        return
    state = wf.initial
    for index, trigger in enumerate(entry.then):
        if activity.state == state:
            opened_on = service.calendar.local_date(activity.opened_at)
            _fire_then(service, actor, entry, activity.ref, index, opened_on)
            return
        if wf.transition_for(trigger, state) is None:
            return  # the workflow changed since: leave it to the coordinator
        state = wf.next_state(trigger, state)


def _fire_then(
    service: Service, actor: Actor, entry: Entry, ref: str, first: int, opened_on: date
) -> None:
    due = due_date(entry, opened_on, service.calendar)
    for trigger in entry.then[first:]:
        activity, wf, _, _ = service.get_activity(ref)
        t = wf.transition_for(trigger, activity.state)
        inputs: dict[str, Any] = {}
        if t is not None and entry.due_input and any(s.name == entry.due_input for s in t.inputs):
            inputs[entry.due_input] = due
        try:
            service.fire(actor, ref, trigger, inputs, expected_version=activity.version)
        except GuardFailed as exc:
            raise SefError(f"opened {ref}, but '{trigger}' was refused: {exc}") from None
        except (ConcurrentUpdate, TransitionNotAllowed):
            return  # another worker fired it first
        except SefError as exc:
            raise SefError(f"opened {ref}, but '{trigger}' failed: {exc}") from None
