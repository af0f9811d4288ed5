"""Tests for the report model and its renderings: SVG charts, CSV, XLSX and the printable pack.

Every agency, theme and figure here is fictional.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest
from markupsafe import escape
from openpyxl import load_workbook

from sef_workflow.reports.export import (
    annual_csp,
    annual_html,
    cell_text,
    csv_safe,
    report_csv,
    report_xlsx,
    sheet_names,
    table_csv,
)
from sef_workflow.reports.model import (
    PALETTE,
    Chart,
    Colour,
    Rated,
    Report,
    Section,
    Series,
    Table,
    plain,
)
from sef_workflow.reports.svg import chart_svg, number_text, wrap

SVG = "{http://www.w3.org/2000/svg}"
WEB_TEMPLATES = Path(__file__).resolve().parent.parent / "sef_workflow" / "web" / "templates"
PARTNERSHIP = "Northshire Safeguarding Children Partnership (fictional)"
AGENCIES = (
    "Northshire Police (fictional)",
    "Northshire Integrated Care Board (fictional)",
    "Northshire Children's Services (fictional)",
    "Riverside Academy Trust <&> (fictional)",
)


def _returns_on_time() -> Table:
    percent = tuple(round(100 * (7 + i) / (10 + i), 1) for i in range(len(AGENCIES)))
    return Table(
        key="returns_on_time",
        title="Audit returns on time, by agency",
        columns=["Agency", "Requested", "On time", "On time %", "Last return"],
        rows=[[a, 10 + i, 7 + i, percent[i], date(2025, 1, 6 + i)] for i, a in enumerate(AGENCIES)],
        note="A return is on time when it is received by its deadline, counted in working days.",
        chart=Chart(
            "bar", "Audit returns on time (%)", AGENCIES, (Series("On time %", percent),), "%"
        ),
    )


def _brag() -> Table:
    counts = {
        "Blue": (3, 3, 3, 3),
        "Green": (4, 3, 2, 1),
        "Amber": (0, 1, 2, 3),
        "Red": (1, 1, 1, 0),
    }
    colours: dict[str, Colour] = {"Blue": "blue", "Green": "green", "Amber": "amber", "Red": "red"}
    return Table(
        key="actions_by_brag",
        title="Action-plan actions by BRAG status",
        columns=["Agency", *counts],
        rows=[[a, *(counts[s][i] for s in counts)] for i, a in enumerate(AGENCIES)],
        note="Actions open at any time in the period, by their status at its end.",
        chart=Chart(
            "stacked_bar",
            "Actions by BRAG status",
            AGENCIES,
            tuple(Series(s, tuple(float(v) for v in counts[s]), colours[s]) for s in counts),
        ),
    )


def _grades() -> Table:
    return Table(
        key="audit_grades",
        title="Multi-agency audit grades by theme",
        columns=["Theme", "Recognition", "Planning", "Impact", "Overall"],
        rows=[
            [
                "Neglect (fictional sample)",
                Rated("Good", "green", 2),
                Rated("Requires improvement", "amber", 3),
                Rated("Inadequate", "red", 4),
                Rated("Good", "green", 2),
            ],
            [
                "Exploitation (fictional sample)",
                Rated("Outstanding", "blue", 1),
                None,
                Rated("Good", "green", 2),
                Rated("Not graded", "none"),
            ],
        ],
        note="Grades agreed at the multi-agency audit meeting (1 Outstanding to 4 Inadequate).",
        chart=Chart("heatmap", "Audit grades by theme"),
    )


def _days() -> Table:
    return Table(
        key="days_to_publish",
        title="Days from decision to publication",
        columns=["Review", "Days"],
        rows=[["CSPR-2024-001", 120], ["CSPR-2024-002", 170.5]],
        chart=Chart(
            "bar",
            "Days to publish",
            series=(Series("Days", (120.0, 170.5)),),
            unit="days",
            horizontal=False,
        ),
    )


def _awkward() -> Table:
    """Cells a spreadsheet would run as formulas, negative numbers, text that needs escaping."""
    return Table(
        key="awkward_values",
        title="Values that need care <&>",
        columns=["Label", "Figure", "Text"],
        rows=[
            ['=HYPERLINK("x")', -3, "+44 fictional"],
            ["@SUM(A1)", -2.5, "-5"],
            ["\tTabbed", 0, "-1+1"],
            ["Plain", None, "\rReturn"],
        ],
    )


def _chart_data_elsewhere() -> Table:
    """A chart whose figures are not the table's own columns."""
    return Table(
        key="a_very_long_table_key_that_goes_past_the_sheet_limit",
        title="Chart data kept beside the table",
        columns=["Quarter", "Requests", "Returned"],
        rows=[["Q1", 10, 8], ["Q2", 12, 12]],
        chart=Chart(
            "bar",
            "Share returned",
            ("Q1", "Q2"),
            (Series("Returned %", (80.0, 100.0)), Series("Late %", (20.0, 0.0))),
            "%",
        ),
    )


def _no_chart() -> Table:
    return Table(
        key="a_very_long_table_key_that_goes_past_the_sheet_limit_too",
        title="No chart",
        columns=["Agency", "Meetings attended"],
        rows=[[a, i] for i, a in enumerate(AGENCIES)],
    )


def _report() -> Report:
    return Report(
        title="Quality assurance report",
        partnership=PARTNERSHIP,
        period_start=date(2024, 4, 1),
        period_end=date(2025, 3, 31),
        generated_at=datetime(2025, 4, 2, 9, 30, tzinfo=UTC),
        sections=[
            Section(
                "how_much",
                "How much did we do?",
                "Requests sent and returned.",
                [
                    _returns_on_time(),
                    _days(),
                ],
            ),
            Section(
                "how_well",
                "How well did we do it?",
                "Timeliness and quality.",
                [
                    _brag(),
                    _grades(),
                ],
            ),
            Section(
                "learn",
                "Are there opportunities to learn and improve?",
                "",
                [
                    _awkward(),
                    _chart_data_elsewhere(),
                ],
            ),
            Section("better_off", "Is anyone better off?", "Evidence of impact.", [_no_chart()]),
        ],
    )


# ---------------------------------------------------------------------------- model
def test_table_lookups() -> None:
    t = _returns_on_time()
    assert t.column("Requested") == [10, 11, 12, 13]
    assert t.row(AGENCIES[1])[1] == 11
    assert t.cell(AGENCIES[2], "On time") == 9
    with pytest.raises(KeyError, match="no column"):
        t.column("Missing")
    with pytest.raises(KeyError, match="no row"):
        t.row("Nobody (fictional)")
    assert t.numeric_column(1)
    assert not t.numeric_column(0)
    assert not t.numeric_column(4)


def test_report_lookups() -> None:
    r = _report()
    assert r.table("audit_grades").title == "Multi-agency audit grades by theme"
    assert [t.key for t in r.tables()][:2] == ["returns_on_time", "days_to_publish"]
    with pytest.raises(KeyError, match="returns_on_time"):
        r.table("nothing")


def test_plain() -> None:
    assert plain(Rated("Good", "green", 2.0)) == 2.0
    assert plain(Rated("Good", "green")) == "Good"
    assert plain(date(2025, 1, 6)) == "2025-01-06"
    assert plain(datetime(2025, 1, 6, 9, 5)) == "2025-01-06T09:05:00"
    assert plain(66.5) == 66.5
    assert plain(-3) == -3
    assert plain(None) is None
    assert plain("text") == "text"


def test_cell_text() -> None:
    assert cell_text(1234) == "1,234"
    assert cell_text(66.666) == "66.67"
    assert cell_text(2.5) == "2.5"
    assert cell_text(70.0) == "70"
    assert cell_text(date(2025, 4, 1)) == "1 April 2025"
    assert cell_text(datetime(2025, 7, 1, 13, 30, tzinfo=UTC)) == "1 July 2025 at 2:30pm"
    assert cell_text(None) == "–"
    assert cell_text(Rated("Good", "green", 2)) == "Good"


# ---------------------------------------------------------------------------- SVG
def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def _texts(root: ET.Element) -> list[str]:
    """Each text element's words, its lines joined by spaces."""
    return [" ".join(" ".join(t.itertext()).split()) for t in root.iter(f"{SVG}text")]


def _rects(root: ET.Element, cls: str) -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG}rect") if r.get("class") == cls]


def _check_accessible(svg: str, title: str) -> ET.Element:
    root = _parse(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("width") == "640"
    title_el = root.find(f"{SVG}title")
    desc_el = root.find(f"{SVG}desc")
    assert title_el is not None
    assert title_el.text == title
    assert desc_el is not None
    assert desc_el.text
    assert root.get("aria-labelledby") == f"{title_el.get('id')} {desc_el.get('id')}"
    lowered = svg.lower()
    for banned in ("<script", "href", "style=", "<style", "http://", "https://", "url("):
        if banned == "http://":
            # only the SVG namespace may name a URL
            assert lowered.count(banned) == 1
            continue
        assert banned not in lowered
    return root


def test_bar_chart_svg() -> None:
    table = _returns_on_time()
    svg = chart_svg(table)
    root = _check_accessible(svg, "Audit returns on time (%)")
    bars = _rects(root, "bar")
    assert len(bars) == len(AGENCIES)
    assert {b.get("fill") for b in bars} == {PALETTE["blue"]}
    texts = _texts(root)
    for agency in AGENCIES:
        assert agency in texts
    for value in ("70%", "72.7%", "75%", "76.9%"):
        assert value in texts
    # the longer bar is wider
    widths = [float(b.get("width") or 0) for b in bars]
    assert widths == sorted(widths)
    # escaped in the source, restored by the parser
    assert "Riverside Academy Trust &lt;&amp;&gt; (fictional)" in svg
    assert "<&>" not in svg
    desc = root.find(f"{SVG}desc")
    assert desc is not None
    assert desc.text is not None
    assert "Northshire Police (fictional): 70%" in desc.text
    assert "Riverside Academy Trust <&> (fictional): 76.9%" in desc.text


def test_stacked_bar_svg_has_a_legend_and_totals() -> None:
    svg = chart_svg(_brag())
    root = _check_accessible(svg, "Actions by BRAG status")
    bars = _rects(root, "bar")
    assert len(bars) == len(AGENCIES) * 4
    assert len(_rects(root, "swatch")) == 4
    assert [b.get("fill") for b in bars[:4]] == [
        PALETTE["blue"],
        PALETTE["green"],
        PALETTE["amber"],
        PALETTE["red"],
    ]
    texts = _texts(root)
    for name in ("Blue", "Green", "Amber", "Red"):
        assert name in texts
    assert texts.count("8") == 3  # the totals of the first three agencies
    assert "7" in texts
    desc = root.find(f"{SVG}desc")
    assert desc is not None
    assert desc.text is not None
    assert "Northshire Police (fictional): Blue 3, Green 4, Amber 0, Red 1, total 8" in desc.text


def test_heatmap_svg_draws_every_cell_with_its_label() -> None:
    table = _grades()
    svg = chart_svg(table)
    root = _check_accessible(svg, "Audit grades by theme")
    cells = _rects(root, "cell")
    assert len(cells) == len(table.rows) * (len(table.columns) - 1)
    assert [c.get("fill") for c in cells] == [
        PALETTE["green"],
        PALETTE["amber"],
        PALETTE["red"],
        PALETTE["green"],
        PALETTE["blue"],
        PALETTE["none"],
        PALETTE["green"],
        PALETTE["none"],
    ]
    texts = _texts(root)
    for label in ("Good", "Requires improvement", "Inadequate", "Outstanding", "Not graded"):
        assert label in texts
    for column in table.columns:
        assert column in texts
    legend = [t for t in texts if t.startswith(("Green", "Red", "Blue", "Amber", "Not rated"))]
    assert "Green: Good" in legend
    assert "Amber: Requires improvement" in legend
    desc = root.find(f"{SVG}desc")
    assert desc is not None
    assert desc.text is not None
    assert "Planning no figure" in desc.text


def test_vertical_bar_svg() -> None:
    svg = chart_svg(_days())
    root = _check_accessible(svg, "Days to publish")
    bars = _rects(root, "bar")
    assert len(bars) == 2
    heights = [float(b.get("height") or 0) for b in bars]
    assert heights[0] < heights[1]
    texts = _texts(root)
    assert "120 days" in texts
    assert "170.5 days" in texts
    assert "CSPR-2024-001" in texts  # categories default to the table's first column


def test_grouped_bars_have_one_rect_per_series_and_category() -> None:
    root = _check_accessible(chart_svg(_chart_data_elsewhere()), "Share returned")
    assert len(_rects(root, "bar")) == 4
    assert len(_rects(root, "swatch")) == 2


def test_svg_is_deterministic_and_grows_with_categories() -> None:
    assert chart_svg(_brag()) == chart_svg(_brag())
    short = _returns_on_time()
    short.chart = Chart("bar", "Two", AGENCIES[:2], (Series("On time %", (70.0, 72.7)),), "%")
    tall = _parse(chart_svg(_returns_on_time()))
    small = _parse(chart_svg(short))
    assert float(tall.get("height") or 0) > float(small.get("height") or 0)


def test_svg_for_no_chart_and_no_figures() -> None:
    assert chart_svg(_no_chart()) == ""
    empty = Table("empty", "Nothing yet", ["Agency", "Count"], [], chart=Chart("bar", "Nothing"))
    root = _check_accessible(chart_svg(empty), "Nothing")
    assert "No figures for this period." in _texts(root)
    heat = Table("empty_heat", "No grades", ["Theme", "Overall"], [], chart=Chart("heatmap", ""))
    _check_accessible(chart_svg(heat), "No grades")


def test_number_text_and_wrap() -> None:
    assert number_text(1, "days") == "1 day"
    assert number_text(2, "days") == "2 days"
    assert number_text(66.66, "%") == "66.7%"
    assert number_text(12345) == "12,345"
    assert number_text(-0.01) == "0"
    assert wrap("Northshire Integrated Care Board (fictional)", 200) == [
        "Northshire Integrated",
        "Care Board (fictional)",
    ]
    assert wrap("", 100) == [""]
    assert all(len(line) <= 5 for line in wrap("abcdefghijklmnop", 5 * 14 * 0.56))


# ---------------------------------------------------------------------------- CSV
def _expected_csv(value: str | int | float | None) -> str:
    return "" if value is None else str(csv_safe(value))


def test_table_csv_round_trips() -> None:
    table = _returns_on_time()
    text = table_csv(table)
    assert text.endswith("\r\n")
    assert "\r\n" in text.rstrip("\r\n")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == table.columns
    assert len(rows) == len(table.rows) + 1
    for got, row in zip(rows[1:], table.rows, strict=True):
        assert got == [_expected_csv(plain(cell)) for cell in row]
    assert rows[1][4] == "2025-01-06"
    assert rows[4][0] == "Riverside Academy Trust <&> (fictional)"


def test_heatmap_csv_holds_the_numbers_behind_the_colours() -> None:
    rows = list(csv.reader(io.StringIO(table_csv(_grades()), newline="")))
    assert rows[1][1:] == ["2", "3", "4", "2"]
    assert rows[2][1:] == ["1", "", "2", "Not graded"]


def test_csv_guards_against_formulas() -> None:
    rows = list(csv.reader(io.StringIO(table_csv(_awkward()), newline="")))
    assert rows[1] == ['\'=HYPERLINK("x")', "-3", "'+44 fictional"]
    assert rows[2] == ["'@SUM(A1)", "-2.5", "-5"]  # a negative number stays a number
    assert rows[3] == ["'\tTabbed", "0", "'-1+1"]
    assert rows[4] == ["Plain", "", "'\rReturn"]


def test_report_csv() -> None:
    report = _report()
    rows = list(csv.reader(io.StringIO(report_csv(report), newline="")))
    assert rows[0] == ["Report", "Quality assurance report"]
    assert rows[1] == ["Partnership", PARTNERSHIP]
    assert rows[2] == ["Period", "1 April 2024 to 31 March 2025"]
    assert rows[3] == ["Period (YYYY-MM-DD)", "2024-04-01", "2025-03-31"]
    assert rows[4] == ["Generated", "2 April 2025 at 10:30am"]
    assert rows[5] == ["Generated (UTC, ISO 8601)", "2025-04-02T09:30:00+00:00"]
    i = 6
    for section in report.sections:
        for table in section.tables:
            assert rows[i] == []
            assert rows[i + 1] == [section.title, table.title]
            assert rows[i + 2] == [str(csv_safe(c)) for c in table.columns]
            body = rows[i + 3 : i + 3 + len(table.rows)]
            assert body == [[_expected_csv(plain(c)) for c in row] for row in table.rows]
            i += 3 + len(table.rows)
    assert i == len(rows)


# ---------------------------------------------------------------------------- XLSX
def _read_back(value: object) -> object:
    """A value read back from the workbook, in ``plain()``'s form."""
    if isinstance(value, datetime):
        if (value.hour, value.minute, value.second) == (0, 0, 0):
            return value.date().isoformat()
        return value.isoformat()
    return value


def _xml_text(value: object) -> object:
    """XML keeps no carriage return: the workbook holds a line feed instead."""
    return value.replace("\r", "\n") if isinstance(value, str) else value


def test_xlsx_holds_every_table() -> None:
    report = _report()
    wb = load_workbook(io.BytesIO(report_xlsx(report)))
    names = sheet_names(report.tables())
    assert wb.sheetnames == ["Contents", *(names[t.key] for t in report.tables())]
    assert all(len(name) <= 31 for name in wb.sheetnames)
    assert len({name.casefold() for name in wb.sheetnames}) == len(wb.sheetnames)
    for table in report.tables():
        ws = wb[names[table.key]]
        assert ws["A1"].value == table.title
        assert ws["A2"].value == (table.note or None)
        assert [c.value for c in ws[3][: len(table.columns)]] == table.columns
        assert ws["A3"].font.b
        assert ws.freeze_panes == "A4"
        for i, row in enumerate(table.rows):
            got = [_read_back(c.value) for c in ws[4 + i][: len(row)]]
            assert got == [_xml_text(plain(cell)) for cell in row], table.key
            for j, cell in enumerate(row):
                if isinstance(cell, Rated) and cell.colour != "none":
                    fill = ws.cell(row=4 + i, column=j + 1).fill
                    assert fill.fill_type == "solid"
                    assert fill.fgColor.rgb[-6:] == PALETTE[cell.colour][1:].upper()
        kind = table.chart.kind if table.chart else None
        assert len(ws._charts) == (1 if kind in ("bar", "stacked_bar") else 0), table.key


def test_xlsx_types_and_formulas() -> None:
    wb = load_workbook(io.BytesIO(report_xlsx(_report())))
    ws = wb["returns_on_time"]
    assert isinstance(ws["B4"].value, int)
    assert isinstance(ws["D5"].value, float)
    assert ws["E4"].is_date
    awkward = wb["awkward_values"]
    assert awkward["A4"].value == '=HYPERLINK("x")'
    assert awkward["A4"].data_type == "s"  # text, never run as a formula
    assert awkward["B4"].value == -3
    assert awkward["C5"].value == "-5"


def test_xlsx_contents_links_to_every_sheet() -> None:
    report = _report()
    wb = load_workbook(io.BytesIO(report_xlsx(report)))
    ws = wb["Contents"]
    assert ws["A1"].value == report.title
    assert ws["B2"].value == PARTNERSHIP
    assert ws["B3"].value == datetime(2024, 4, 1)
    assert ws["B4"].value == datetime(2025, 3, 31)
    assert ws["B5"].value == datetime(2025, 4, 2, 9, 30)
    links = {
        c.value: c.hyperlink.location
        for row in ws.iter_rows(min_col=3, max_col=3)
        for c in row
        if c.hyperlink is not None
    }
    assert links == {name: f"'{name}'!A1" for name in sheet_names(report.tables()).values()}


def test_xlsx_charts_reference_the_sheet() -> None:
    wb = load_workbook(io.BytesIO(report_xlsx(_report())))
    bar = wb["returns_on_time"]._charts[0]
    assert bar.type == "bar"
    assert bar.series[0].val.numRef.f == "'returns_on_time'!$D$4:$D$7"
    categories = bar.series[0].cat
    assert (categories.strRef or categories.numRef).f == "'returns_on_time'!$A$4:$A$7"
    stacked = wb["actions_by_brag"]._charts[0]
    assert stacked.grouping == "stacked"
    assert len(stacked.series) == 4
    assert stacked.series[3].graphicalProperties.solidFill.srgbClr == "D4351C"
    column = wb["days_to_publish"]._charts[0]
    assert column.type == "col"
    # figures that are not the table's own columns are written beside it
    name = sheet_names(_report().tables())[_chart_data_elsewhere().key]
    ws = wb[name]
    assert ws["E3"].value == "Quarter"
    assert [ws["F3"].value, ws["G3"].value] == ["Returned %", "Late %"]
    assert [ws["F4"].value, ws["F5"].value] == [80, 100]
    chart = ws._charts[0]
    assert chart.series[1].val.numRef.f == f"'{name}'!$G$4:$G$5"


def test_sheet_names() -> None:
    tables = [
        Table("contents", "A", ["x"], []),
        Table("a/b:c*d?e[f]", "B", ["x"], []),
        Table("x" * 40, "C", ["x"], []),
        Table("X" * 40, "D", ["x"], []),
    ]
    names = sheet_names(tables)
    assert names["contents"] == "contents_2"
    assert names["a/b:c*d?e[f]"] == "a_b_c_d_e_f_"
    assert names["x" * 40] == "x" * 31
    assert names["X" * 40] == "X" * 29 + "_2"


# ---------------------------------------------------------------------------- HTML
VOID = {"meta", "link", "br", "hr", "img", "input", "col", "area", "base", "source", "wbr"}


class _Balance(HTMLParser):
    """Fails on a closing tag that does not match the open one, or tags left open."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.ids.extend(v for k, v in attrs if k == "id" and v)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.ids.extend(v for k, v in attrs if k == "id" and v)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _balanced(html: str) -> _Balance:
    parser = _Balance()
    parser.feed(html)
    parser.close()
    assert parser.errors == []
    assert parser.stack == []
    assert len(parser.ids) == len(set(parser.ids)), "ids are unique"
    return parser


def test_annual_html() -> None:
    report = _report()
    html = annual_html(report)
    assert html.startswith("<!DOCTYPE html>")
    parser = _balanced(html)
    text = " ".join(" ".join(parser.text).split())
    assert PARTNERSHIP in text
    assert "Annual report data pack" in text
    assert "1 April 2024 to 31 March 2025" in text
    assert "Generated on 2 April 2025" in text
    for section in report.sections:
        assert section.title in text
    for table in report.tables():
        assert html.count(f'id="table-{table.key}"') == 1
        svg = chart_svg(table)
        if svg:
            assert svg in html
    assert "How the figures are counted" in text
    for table in report.tables():
        if table.note:
            assert table.note in text
    assert "@page" in html
    assert "print-color-adjust: exact" in html
    assert "break-before: page" in html
    assert "<script" not in html
    assert 'class="rated rated-amber numeric">Requires improvement</td>' in html
    assert "Values that need care &lt;&amp;&gt;" in html
    assert '<th scope="col">Agency</th>' in html
    assert '<th scope="row">Northshire Police (fictional)</th>' in html


def test_annual_csp_allows_only_its_own_style() -> None:
    html = annual_html(_report())
    style = re.search(r"<style>(.*?)</style>", html, re.DOTALL)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    policy = annual_csp(html)
    assert f"style-src 'sha256-{digest}'" in policy
    assert policy.startswith("default-src 'none'")


def _web_env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(WEB_TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["partnership"] = PARTNERSHIP
    return env


def _page(error: str | None = None) -> str:
    return (
        _web_env()
        .get_template("report.html")
        .render(
            report=_report(),
            chart_svg=chart_svg,
            cell_text=cell_text,
            page_errors=[("start", error)] if error else [],
            success="",
            period_form={"start": "2024-04-01", "end": "2025-03-31", "error": error},
            downloads={
                "csv": "/reports/quality.csv?start=2024-04-01",
                "xlsx": "/reports/quality.xlsx?start=2024-04-01",
                "annual": "/reports/annual?start=2024-04-01",
            },
            actor=None,
            is_staff=False,
            csrf="",
        )
    )


def test_report_page() -> None:
    report = _report()
    html = _page()
    parser = _balanced(html)
    text = " ".join(" ".join(parser.text).split())
    assert (
        '<input class="input input-date" type="date" id="start" name="start" value="2024-04-01" required>'
        in html
    )
    assert 'name="end" value="2025-03-31"' in html
    assert ">Show</button>" in html
    assert 'href="/reports/quality.csv?start=2024-04-01"' in html
    assert 'href="/reports/quality.xlsx?start=2024-04-01"' in html
    assert 'href="/reports/annual?start=2024-04-01"' in html
    assert "1 April 2024 to 31 March 2025" in text  # the period, under a title without it
    assert "There is a problem" not in text
    for section in report.sections:
        assert f'<h2 id="{section.key}">{section.title}</h2>' in html
        assert f'href="#{section.key}"' in html
    for table in report.tables():
        assert f'<caption class="visually-hidden">{escape(table.title)}</caption>' in html
        svg = chart_svg(table)
        if svg:
            assert svg in html
        if table.note:
            assert table.note in text
    assert html.count("<figure") == sum(1 for t in report.tables() if t.chart)
    # a Rated cell keeps its text next to the colour
    assert (
        '<td class="rated rated-red numeric"><span class="swatch swatch-red" aria-hidden="true">'
        "</span> Inadequate</td>"
    ) in html
    assert '<th scope="col" class="numeric">Requested</th>' in html
    assert '<td class="numeric">72.7</td>' in html
    assert "<td>6 January 2025</td>" in html
    assert "Riverside Academy Trust &lt;&amp;&gt; (fictional)" in html
    assert "Generated 2 April 2025 at 10:30am." in text  # 09:30 UTC is 10:30 BST


def test_report_page_shows_the_period_error() -> None:
    html = _page("The start of the period must be before its end")
    _balanced(html)
    assert "There is a problem" in html
    assert '<a href="#start">The start of the period must be before its end</a>' in html
    assert "form-group inline form-group-error" in html
    assert 'id="start-error"' in html
    assert 'aria-describedby="start-error"' in html


def test_heatmap_with_long_headings_uses_short_ones_and_a_key() -> None:
    names = [f"{i}. Standard number {i} of the fictional self-assessment tool" for i in range(1, 9)]
    table = Table(
        key="s11_fictional",
        title="Self-assessment scores",
        columns=["Agency", *names],
        rows=[[AGENCIES[0], *(Rated("2.00", "green", 2.0) for _ in names)]],
        chart=Chart("heatmap", "Self-assessment scores"),
    )
    root = _check_accessible(chart_svg(table), "Self-assessment scores")
    texts = _texts(root)
    for i, name in enumerate(names, start=1):
        assert f"{i}." in texts
        assert name in texts
    assert len(_rects(root, "cell")) == 8
    plain_names = ["Timeliness of returns from every fictional agency", "Quality"]
    table.columns = ["Agency", *plain_names]
    table.rows = [[AGENCIES[0], Rated("Good", "green"), Rated("Good", "green")]]
    texts = _texts(_parse(chart_svg(table)))
    assert "Quality" in texts  # short enough: shown as it is
