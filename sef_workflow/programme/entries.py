"""What ``programme.toml`` says once read: its entries, each entry's cadence, opening
day, due date and agencies, and the periods it opens in."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal, get_args

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

InputValue = str | int | bool | date


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
