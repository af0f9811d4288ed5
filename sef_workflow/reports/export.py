"""A report as CSV, as an XLSX workbook and as the printable annual report data pack.

Every export carries the same values: ``plain()`` of each cell. In the workbook numbers stay
numbers, dates are dates, Rated cells are filled with their colour, and bar charts are native
Excel charts drawn from the sheet's own cells.
"""

from __future__ import annotations

import base64
import csv
import functools
import hashlib
import io
import math
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Protocol

import jinja2
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.chart import BarChart, Reference
from openpyxl.chart.label import DataLabelList
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.hyperlink import Hyperlink
from openpyxl.worksheet.worksheet import Worksheet

from ..calendar import format_date, format_moment, format_period
from .model import (
    INK,
    PALETTE,
    SERIES_COLOURS,
    Cell,
    Chart,
    Rated,
    Report,
    Table,
    is_figure,
    plain,
)
from .svg import chart_svg, number_text

TEMPLATES = Path(__file__).resolve().parent / "templates"

#: a spreadsheet treats a cell starting with one of these as a formula
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


# ---------------------------------------------------------------------------- CSV
def csv_safe(value: str | int | float | None) -> str | int | float:
    """``value`` for a CSV cell: "" for None, and text that a spreadsheet would run as a
    formula prefixed with ``'`` (a negative number written as text stays a number)."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


class ChallengeRow(Protocol):
    """An answer on the challenge-event list (the service's ``Disagreement``)."""

    @property
    def assessment_id(self) -> int: ...
    @property
    def agency_code(self) -> str: ...
    @property
    def agency(self) -> str: ...
    @property
    def question(self) -> str: ...
    @property
    def standard(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def self_rating(self) -> str: ...
    @property
    def moderated_rating(self) -> str: ...
    @property
    def difference(self) -> int: ...
    @property
    def reason(self) -> str: ...


CHALLENGE_COLUMNS = (
    "Agency code",
    "Agency",
    "Question",
    "Standard",
    "Question text",
    "Self rating",
    "Moderated rating",
    "Difference",
    "Reason",
)


def challenge_csv(rows: Iterable[ChallengeRow], *, with_assessment: bool = False) -> str:
    """The challenge-event list as CSV (CRLF lines, cells guarded against formulas), with
    each answer's assessment id first when ``with_assessment``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow((["Assessment"] if with_assessment else []) + list(CHALLENGE_COLUMNS))
    for d in rows:
        texts = (d.agency_code, d.agency, d.question, d.standard, d.text)
        ratings = (d.self_rating, d.moderated_rating)
        writer.writerow(
            ([d.assessment_id] if with_assessment else [])
            + [csv_safe(x) for x in (*texts, *ratings)]
            + [d.difference, csv_safe(d.reason)]
        )
    return out.getvalue()


def _write_table(writer: _Writer, table: Table) -> None:
    writer.writerow([csv_safe(c) for c in table.columns])
    for row in table.rows:
        writer.writerow([csv_safe(plain(cell)) for cell in row])


class _Writer:
    """The part of ``csv.writer`` used here (its own type is private to the csv module)."""

    def __init__(self, out: io.StringIO) -> None:
        self._w = csv.writer(out, lineterminator="\r\n")

    def writerow(self, row: Iterable[str | int | float]) -> None:
        self._w.writerow(row)


def table_csv(table: Table) -> str:
    """``table`` as CSV: the header row, then every row's ``plain()`` values."""
    out = io.StringIO()
    _write_table(_Writer(out), table)
    return out.getvalue()


def report_csv(report: Report) -> str:
    """Every table of ``report`` in one CSV, each after a row naming its section and title."""
    out = io.StringIO()
    writer = _Writer(out)
    writer.writerow(["Report", csv_safe(report.title)])
    writer.writerow(["Partnership", csv_safe(report.partnership)])
    writer.writerow(["Period", format_period(report.period_start, report.period_end)])
    writer.writerow(
        ["Period (YYYY-MM-DD)", report.period_start.isoformat(), report.period_end.isoformat()]
    )
    writer.writerow(["Generated", format_moment(report.generated_at)])
    writer.writerow(["Generated (UTC, ISO 8601)", report.generated_at.isoformat()])
    for section in report.sections:
        for table in section.tables:
            writer.writerow([])
            writer.writerow([csv_safe(section.title), csv_safe(table.title)])
            _write_table(writer, table)
    return out.getvalue()


# ---------------------------------------------------------------------------- XLSX
TITLE_ROW = 1
NOTE_ROW = 2
HEADER_ROW = 3
FIRST_ROW = 4
#: GOV.UK dates in the workbook: "6 January 2027", "6 January 2027 2:30 PM"
DATE_FORMAT = "d mmmm yyyy"
DATETIME_FORMAT = "d mmmm yyyy h:mm AM/PM"
_BOLD = Font(bold=True)
_HEADER_FILL = PatternFill(fill_type="solid", start_color="F3F2F1", end_color="F3F2F1")
_HEADER_BORDER = Border(bottom=Side(style="thin", color="0B0C0C"))
_INVALID_SHEET = re.compile(r"[\[\]:*?/\\]")
_RESERVED_SHEETS = ("contents", "history")


def sheet_names(tables: Iterable[Table]) -> dict[str, str]:
    """A sheet name for each table key: Excel's rules (31 characters, no ``[]:*?/\\``), unique
    regardless of case, never "Contents"."""
    names: dict[str, str] = {}
    taken: set[str] = set(_RESERVED_SHEETS)
    for table in tables:
        base = _INVALID_SHEET.sub("_", table.key).strip("'").strip() or "Table"
        name = base[:31]
        n = 2
        while name.casefold() in taken:
            suffix = f"_{n}"
            name = base[: 31 - len(suffix)] + suffix
            n += 1
        taken.add(name.casefold())
        names[table.key] = name
    return names


def _hex(colour: str) -> str:
    return colour.lstrip("#").upper()


def _xlsx_value(cell: Cell) -> str | int | float | date | None:
    """What the workbook holds for ``cell``: ``plain()``, with dates kept as dates."""
    if isinstance(cell, datetime):
        if cell.tzinfo is not None:
            cell = cell.astimezone(UTC).replace(tzinfo=None)
        return cell
    if isinstance(cell, date):
        return cell
    value = plain(cell)
    if isinstance(value, float) and not math.isfinite(value):
        return None  # Excel has no infinity or NaN
    if isinstance(value, str):
        # XML keeps no carriage return (a reader sees a line feed), nor most control characters
        return ILLEGAL_CHARACTERS_RE.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))
    return value


def _put(ws: Worksheet, row: int, col: int, value: str | int | float | date | None) -> None:
    cell = ws.cell(row=row, column=col)
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"  # text, never a formula, whatever it starts with
    elif isinstance(value, datetime):
        cell.number_format = DATETIME_FORMAT
    elif isinstance(value, date):
        cell.number_format = DATE_FORMAT


def _shown_width(value: str | int | float | date | None) -> int:
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 17
    if isinstance(value, date):
        return 11
    if isinstance(value, float):
        return len(f"{value:,.2f}")
    if isinstance(value, int):
        return len(f"{value:,}")
    return max((len(line) for line in value.splitlines()), default=0)


def _write_sheet(ws: Worksheet, table: Table) -> None:
    ws.cell(row=TITLE_ROW, column=1).font = Font(bold=True, size=14)
    _put(ws, TITLE_ROW, 1, ILLEGAL_CHARACTERS_RE.sub("", table.title))
    if table.note:
        _put(ws, NOTE_ROW, 1, ILLEGAL_CHARACTERS_RE.sub("", table.note))
        ws.cell(row=NOTE_ROW, column=1).font = Font(italic=True)
    widths = [len(name) for name in table.columns]
    for j, name in enumerate(table.columns, start=1):
        _put(ws, HEADER_ROW, j, ILLEGAL_CHARACTERS_RE.sub("", name))
        head = ws.cell(row=HEADER_ROW, column=j)
        head.font = _BOLD
        head.fill = _HEADER_FILL
        head.border = _HEADER_BORDER
        head.alignment = Alignment(wrap_text=True, vertical="bottom")
    for i, row in enumerate(table.rows):
        r = FIRST_ROW + i
        for j, cell in enumerate(row, start=1):
            value = _xlsx_value(cell)
            _put(ws, r, j, value)
            if j > len(widths):
                widths.append(0)
            widths[j - 1] = max(widths[j - 1], _shown_width(value))
            if isinstance(cell, Rated) and cell.colour != "none":
                target = ws.cell(row=r, column=j)
                fill = _hex(PALETTE[cell.colour])
                target.fill = PatternFill(fill_type="solid", start_color=fill, end_color=fill)
                target.font = Font(color=_hex(INK[cell.colour]), bold=True)
    for j, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = min(max(width + 2, 10), 60)
    ws.freeze_panes = ws.cell(row=FIRST_ROW, column=1).coordinate
    chart = table.chart
    if chart is not None and chart.kind in ("bar", "stacked_bar") and chart.series:
        _add_bar_chart(ws, table, chart, len(widths))


def _table_holds_chart(table: Table, chart: Chart) -> list[int] | None:
    """The table's column index of each series when the table itself holds the chart's
    figures (categories in the first column, one column per series); None otherwise."""
    firsts = [str(plain(row[0])) if row else "" for row in table.rows]
    if chart.categories and list(chart.categories) != firsts:
        return None
    indexes: list[int] = []
    for series in chart.series:
        if series.name not in table.columns[1:]:
            return None
        j = table.columns.index(series.name)
        shown = [plain(row[j]) if j < len(row) else None for row in table.rows]
        if len(series.values) != len(shown):
            return None
        for want, got in zip(series.values, shown, strict=True):
            if isinstance(got, bool) or not isinstance(got, int | float) or got != want:
                return None
        indexes.append(j)
    return indexes


def _add_bar_chart(ws: Worksheet, table: Table, chart: Chart, used_cols: int) -> None:
    """A native bar chart to the right of the data, drawn from cells of this sheet."""
    indexes = _table_holds_chart(table, chart)
    categories = list(chart.categories) or [str(plain(row[0])) if row else "" for row in table.rows]
    if not categories:
        return
    if indexes is not None:
        cat_col = 1
        series_cols = [j + 1 for j in indexes]
        chart_col = used_cols + 2
    else:
        # the chart's figures differ from the table's columns: write them beside the table
        cat_col = used_cols + 2
        _put(ws, NOTE_ROW, cat_col, "Chart data")
        ws.cell(row=NOTE_ROW, column=cat_col).font = Font(italic=True)
        _put(ws, HEADER_ROW, cat_col, ILLEGAL_CHARACTERS_RE.sub("", table.columns[0]))
        ws.cell(row=HEADER_ROW, column=cat_col).font = _BOLD
        for i, name in enumerate(categories):
            _put(ws, FIRST_ROW + i, cat_col, ILLEGAL_CHARACTERS_RE.sub("", name))
        series_cols = []
        for s, series in enumerate(chart.series):
            col = cat_col + 1 + s
            series_cols.append(col)
            _put(ws, HEADER_ROW, col, ILLEGAL_CHARACTERS_RE.sub("", series.name))
            ws.cell(row=HEADER_ROW, column=col).font = _BOLD
            for i in range(len(categories)):
                v = float(series.values[i]) if i < len(series.values) else 0.0
                _put(ws, FIRST_ROW + i, col, v if math.isfinite(v) else None)
        width = max(len(c) for c in [*categories, table.columns[0]])
        ws.column_dimensions[get_column_letter(cat_col)].width = min(max(width + 2, 10), 40)
        for col in series_cols:
            ws.column_dimensions[get_column_letter(col)].width = 14
        chart_col = series_cols[-1] + 2
    last = FIRST_ROW + len(categories) - 1
    bars = BarChart()
    bars.type = "bar" if chart.horizontal else "col"
    bars.title = chart.title or table.title
    if chart.kind == "stacked_bar":
        bars.grouping = "stacked"
        bars.overlap = 100
    for col in series_cols:
        data = Reference(ws, min_col=col, min_row=HEADER_ROW, max_row=last)
        bars.add_data(data, titles_from_data=True)
    bars.set_categories(Reference(ws, min_col=cat_col, min_row=FIRST_ROW, max_row=last))
    for s, series in enumerate(bars.series):
        own = chart.series[s].colour
        colour = _hex(PALETTE[own if own is not None else SERIES_COLOURS[s % len(SERIES_COLOURS)]])
        series.graphicalProperties.solidFill = colour
        series.graphicalProperties.line.solidFill = "0B0C0C"
    bars.dataLabels = DataLabelList()
    bars.dataLabels.showVal = True
    bars.x_axis.delete = False
    bars.y_axis.delete = False
    if chart.horizontal:
        bars.x_axis.scaling.orientation = "maxMin"  # first category at the top, as in the table
    if chart.unit:
        bars.y_axis.title = chart.unit
    if chart.kind == "bar" and len(chart.series) == 1:
        bars.legend = None
    per_category = 1 if chart.kind == "stacked_bar" else len(chart.series)
    bars.width = 18
    bars.height = max(7.5, 0.6 * len(categories) * per_category + 4)
    ws.add_chart(bars, ws.cell(row=HEADER_ROW, column=chart_col).coordinate)


def _write_contents(ws: Worksheet, report: Report, names: dict[str, str]) -> None:
    _put(ws, 1, 1, report.title)
    ws.cell(row=1, column=1).font = Font(bold=True, size=16)
    facts: list[tuple[str, str | date]] = [
        ("Partnership", report.partnership),
        ("Period from", report.period_start),
        ("Period to", report.period_end),
        ("Generated (UTC)", _utc(report.generated_at)),
    ]
    for i, (label, value) in enumerate(facts, start=2):
        _put(ws, i, 1, label)
        ws.cell(row=i, column=1).font = _BOLD
        _put(
            ws, i, 2, value if not isinstance(value, str) else ILLEGAL_CHARACTERS_RE.sub("", value)
        )
        ws.cell(row=i, column=2).alignment = Alignment(horizontal="left")
    top = len(facts) + 3
    for j, head in enumerate(("Section", "Table", "Sheet"), start=1):
        _put(ws, top, j, head)
        cell = ws.cell(row=top, column=j)
        cell.font = _BOLD
        cell.fill = _HEADER_FILL
        cell.border = _HEADER_BORDER
    r = top + 1
    for section in report.sections:
        for table in section.tables:
            name = names[table.key]
            _put(ws, r, 1, ILLEGAL_CHARACTERS_RE.sub("", section.title))
            _put(ws, r, 2, ILLEGAL_CHARACTERS_RE.sub("", table.title))
            _put(ws, r, 3, name)
            link = ws.cell(row=r, column=3)
            link.hyperlink = Hyperlink(ref=link.coordinate, location=f"'{name}'!A1")
            link.style = "Hyperlink"
            r += 1
    ws.column_dimensions["A"].width = 48
    ws.column_dimensions["B"].width = 60
    ws.column_dimensions["C"].width = 34


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def report_xlsx(report: Report) -> bytes:
    """``report`` as an XLSX workbook: a Contents sheet, then one sheet per table."""
    wb = Workbook()
    contents = wb.active
    assert contents is not None
    contents.title = "Contents"
    names = sheet_names(report.tables())
    _write_contents(contents, report, names)
    for table in report.tables():
        _write_sheet(wb.create_sheet(names[table.key]), table)
    wb.properties.title = report.title
    wb.properties.creator = report.partnership
    wb.properties.created = _utc(report.generated_at)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# ---------------------------------------------------------------------------- printable HTML
def long_date(day: date) -> str:
    """``"1 April 2025"``, independent of locale (a moment: its day in Europe/London)."""
    return format_date(day)


def cell_text(cell: Cell) -> str:
    """``cell`` as shown in a page: numbers with thousands separators and at most two decimal
    places, dates as "1 April 2025", moments as "1 April 2025 at 2:30pm", a Rated cell's
    label, "–" for no figure."""
    if cell is None:
        return "–"
    if isinstance(cell, Rated):
        return cell.label
    if isinstance(cell, float):
        return f"{cell:,.2f}".rstrip("0").rstrip(".")
    if isinstance(cell, int):
        return f"{cell:,}"
    if isinstance(cell, datetime):
        return format_moment(cell)
    if isinstance(cell, date):
        return format_date(cell)
    return cell


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        chart_svg=chart_svg,
        cell_text=cell_text,
        is_figure=is_figure,
        long_date=long_date,
        number_text=number_text,
        palette=PALETTE,
        ink=INK,
    )
    return env


def annual_html(report: Report) -> str:
    """The printable annual report data pack: a standalone HTML document with inline charts."""
    return _environment().get_template("annual.html").render(report=report)


_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


def annual_csp(html: str) -> str:
    """A Content-Security-Policy for serving ``html`` (from ``annual_html``) as a page: it
    allows only the document's own inline style element, by hash."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m.encode()).digest()).decode() + "'"
        for m in _STYLE.findall(html)
    )
    styles = hashes or "'none'"
    return (
        f"default-src 'none'; style-src {styles}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
