"""The report as plain data: sections answering the four questions, tables and their charts.

The figures are computed elsewhere; this module only describes what a report holds, so that
every rendering (web page, CSV, XLSX, printable annual pack, SVG charts) reads the same model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

#: a heat-map or BRAG colour; "none" is a cell with no rating (white)
Colour = Literal["red", "amber", "green", "blue", "grey", "none"]

#: every colour, in the order legends list them
COLOURS: tuple[Colour, ...] = ("blue", "green", "amber", "red", "grey", "none")

#: GOV.UK palette hex values, the same as the BRAG chart on the overdue page
PALETTE: dict[Colour, str] = {
    "red": "#d4351c",
    "amber": "#f47738",
    "green": "#00703c",
    "blue": "#1d70b8",
    "grey": "#b1b4b6",
    "none": "#ffffff",
}

#: text colour with enough contrast on each fill
INK: dict[Colour, str] = {
    "red": "#ffffff",
    "amber": "#0b0c0c",
    "green": "#ffffff",
    "blue": "#ffffff",
    "grey": "#0b0c0c",
    "none": "#0b0c0c",
}

#: series colours used in turn when a series names none
SERIES_COLOURS: tuple[Colour, ...] = ("blue", "green", "amber", "red", "grey")

#: the four questions of outcomes-based accountability, and the Section 11 summary
SECTION_TITLES: dict[str, str] = {
    "how_much": "How much did we do?",
    "how_well": "How well did we do it?",
    "learn": "Are there opportunities to learn and improve?",
    "better_off": "Is anyone better off?",
    "section11": "Section 11: organisational safeguarding assessments",
}


@dataclass(frozen=True)
class Rated:
    """A cell shown with a colour: a grade, a score or a percentage against a threshold."""

    label: str  #: what is shown ("2.50", "Good", "67%")
    colour: Colour
    value: float | None = None  #: the number behind the label, for CSV and XLSX


Cell = str | int | float | None | Rated | date


def plain(cell: Cell) -> str | int | float | None:
    """The exported value of ``cell``: a Rated cell's number (or its label), a date in ISO form."""
    if isinstance(cell, Rated):
        return cell.value if cell.value is not None else cell.label
    if isinstance(cell, date):  # datetime is a date too
        return cell.isoformat()
    return cell


def is_figure(cell: Cell) -> bool:
    """True for a cell holding a number (a Rated cell with a value counts): shown right-aligned."""
    if isinstance(cell, Rated):
        return cell.value is not None
    return isinstance(cell, int | float) and not isinstance(cell, bool)


@dataclass(frozen=True)
class Series:
    """One set of values drawn against the chart's categories."""

    name: str
    values: tuple[float, ...]
    colour: Colour | None = None


@dataclass(frozen=True)
class Chart:
    """How a table is drawn. A heat map is drawn from the table's Rated cells."""

    kind: Literal["bar", "stacked_bar", "heatmap"]
    title: str
    categories: tuple[str, ...] = ()
    series: tuple[Series, ...] = ()
    unit: str = ""  #: "%", "days" or ""
    horizontal: bool = True


@dataclass
class Table:
    """A titled table of figures, with how they are counted and an optional chart."""

    key: str  #: unique in the report, e.g. "returns_on_time"
    title: str
    columns: list[str]
    rows: list[list[Cell]]
    note: str = ""  #: how the figures are counted (shown under the table)
    chart: Chart | None = None

    def column(self, name: str) -> list[Cell]:
        """Every row's cell in the column called ``name`` (KeyError for an unknown column)."""
        try:
            i = self.columns.index(name)
        except ValueError:
            raise KeyError(
                f"table {self.key!r} has no column {name!r}; columns: {', '.join(self.columns)}"
            ) from None
        return [row[i] if i < len(row) else None for row in self.rows]

    def numeric_column(self, index: int) -> bool:
        """True when every filled cell in column ``index`` is a figure (and one is filled)."""
        filled = [row[index] for row in self.rows if index < len(row) and row[index] is not None]
        return bool(filled) and all(is_figure(cell) for cell in filled)

    def row(self, first_cell: object) -> list[Cell]:
        """The first row whose first cell equals ``first_cell`` (KeyError when there is none)."""
        for row in self.rows:
            if row and row[0] == first_cell:
                return row
        raise KeyError(f"table {self.key!r} has no row {first_cell!r}")

    def cell(self, first_cell: object, column: str) -> Cell:
        """The cell in the row starting with ``first_cell`` and the column called ``column``."""
        try:
            i = self.columns.index(column)
        except ValueError:
            raise KeyError(
                f"table {self.key!r} has no column {column!r}; columns: {', '.join(self.columns)}"
            ) from None
        row = self.row(first_cell)
        return row[i] if i < len(row) else None


@dataclass
class Section:
    """One of the four questions (or the Section 11 summary) with its tables."""

    key: str  #: "how_much" | "how_well" | "learn" | "better_off" | "section11"
    title: str  #: "How much did we do?" ...
    intro: str
    tables: list[Table]


@dataclass
class Report:
    """A report for one period: sections of tables, in the order they are shown."""

    title: str
    partnership: str
    period_start: date
    period_end: date  #: inclusive
    generated_at: datetime  #: aware, UTC
    sections: list[Section]

    def table(self, key: str) -> Table:
        """The table called ``key`` (KeyError naming the known keys otherwise)."""
        for t in self.tables():
            if t.key == key:
                return t
        known = ", ".join(t.key for t in self.tables()) or "none"
        raise KeyError(f"no table {key!r} in the report; known tables: {known}")

    def tables(self) -> list[Table]:
        """Every table, section by section."""
        return [t for s in self.sections for t in s.tables]
