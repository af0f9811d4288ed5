"""The report pages over real HTTP, on both databases: the four-questions page, its CSV and
XLSX downloads, the printable annual pack, bad periods and who may see them.

The dataset is made through the service, as people would make it, with the fake clock moved
on: a themed audit whose returns come in (one late, after a chaser), a Section 11 cycle
whose self-assessments are submitted and moderated, and an action plan whose action is
completed with evidence of impact and signed off. Every agency and person is fictional.
"""

from __future__ import annotations

import csv
import io
import os
import re
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from sef_workflow.app import App
from sef_workflow.assessments import Moderation
from sef_workflow.calendar import LONDON
from sef_workflow.clock import FakeClock
from sef_workflow.config import load_settings
from sef_workflow.models import Task
from sef_workflow.reports.export import annual_csp, cell_text
from sef_workflow.reports.figures import build_report
from sef_workflow.reports.model import SECTION_TITLES, Report
from sef_workflow.service import Actor, Service
from sef_workflow.web import create_app, create_login_link, set_password

from .conftest import COORDINATOR, MANAGER, answer_form, confirm_sign_in_link

ADMIN = "admin@northshire-scp.example"
PASSWORDS = {
    COORDINATOR.id: "coordinator-pass-1",
    MANAGER.id: "manager-pass-123",
    ADMIN: "admin-pass-12345",
}
PARTNERSHIP = "Northshire Safeguarding Children Partnership (fictional)"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]*)"')
SVG_NS = "{http://www.w3.org/2000/svg}"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: the reporting year holding the fake clock's Monday 5 January 2026 (years start in April)
YEAR_START, YEAR_END = date(2025, 4, 1), date(2026, 3, 31)
DEFAULT_QUERY = "start=2025-04-01&end=2026-03-31"
ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "var" / "screenshots" / "reports"


# ---------------------------------------------------------------------------- the site
@dataclass
class Site:
    service: Service
    clock: FakeClock
    web: FastAPI
    clients: list[TestClient]
    refs: dict[str, str]

    def client(self) -> TestClient:
        c = TestClient(self.web, follow_redirects=False)
        self.clients.append(c)
        return c

    def staff(self, email: str) -> TestClient:
        c = self.client()
        page = c.get("/login")
        match = CSRF_RE.search(page.text)
        assert match is not None
        r = c.post(
            "/login",
            data={
                "email": email,
                "password": PASSWORDS[email],
                "csrf_token": match.group(1),
                "next": "/",
            },
        )
        assert r.status_code == 303, r.text
        return c

    def report(self, start: date = YEAR_START, end: date = YEAR_END, **kw: Any) -> Report:
        """The report as ``build_report`` makes it, independently of the web app."""
        svc = self.service
        return build_report(
            svc.db,
            forms=svc.forms,
            registry=svc.registry,
            calendar=svc.calendar,
            start=start,
            end=end,
            partnership=PARTNERSHIP,
            now=self.clock.now(),
            **kw,
        )


@pytest.fixture
def site(partnership: Service, clock: FakeClock, tmp_path: Path) -> Iterator[Site]:
    partnership.add_staff(Actor.system(), "Ada Admin", ADMIN, "admin")
    for email, password in PASSWORDS.items():
        set_password(partnership.db, email, password, clock.now())
    assert partnership.notifier is not None
    settings = load_settings(environ={})
    settings = replace(
        settings,
        root=tmp_path,
        settings=settings.settings.model_copy(
            update={
                "partnership": settings.settings.partnership.model_copy(
                    update={"name": PARTNERSHIP}
                )
            }
        ),
    )
    app = App(
        settings=settings,
        db=partnership.db,
        registry=partnership.registry,
        calendar=partnership.calendar,
        service=partnership,
        notifier=partnership.notifier,
    )
    web = create_app(app, secret_key="test-secret", upload_dir=tmp_path / "uploads")
    s = Site(partnership, clock, web, [], {})
    yield s
    for c in s.clients:
        c.close()


def agency_actor(service: Service, code: str) -> Actor:
    agency = next(a for a in service.list_agencies() if a.code == code)
    return Actor(id=f"lead@{code.lower()}.example", role="agency", agency_id=agency.id)


def task_of(service: Service, ref: str, kind: str, code: str) -> Task:
    agency = next(a for a in service.list_agencies() if a.code == code)
    for t in service.get_activity(ref)[3]:
        if t.kind == kind and t.agency_id == agency.id:
            return t
    raise LookupError(f"{ref} has no {kind} task for {code}")


def at(d: date, hour: int = 10) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=LONDON)


@pytest.fixture
def seeded(site: Site) -> Site:
    """The fictional year's work, made through the service with the clock moved on."""
    svc, clock, c = site.service, site.clock, COORDINATOR
    agencies = {code: agency_actor(svc, code) for code in ("POL", "ICB", "CSC")}

    # Monday 5 January 2026: a themed audit's returns are due in 20 working days (2 Feb),
    # and a Section 11 cycle's self-assessments by 27 February
    audit = svc.open_activity(
        c, "themed_audit", "Neglect audit (fictional)", ["POL", "ICB", "CSC"], {"theme": "Neglect"}
    ).activity.ref
    svc.fire(c, audit, "sample_cases", {"sample_size": 6})
    svc.fire(c, audit, "issue_audit_tools")
    cycle = svc.open_activity(
        c,
        "section11",
        "Section 11 cycle 2025-27 (fictional)",
        ["POL", "ICB", "CSC"],
        {"cycle": "2025-27"},
    ).activity.ref
    svc.fire(c, cycle, "issue_tool", {"return_date": "2026-02-27"})

    clock.set(at(date(2026, 1, 20)))
    for code in ("POL", "ICB"):  # on time
        task = task_of(svc, audit, "audit_return", code)
        assert task.id is not None
        answer_form(svc, agencies[code], task.id)
        svc.submit_assessment(agencies[code], task.id)
        svc.fire_task(c, task.id, "accept")

    # an action plan with one police action, due on 13 March
    clock.set(at(date(2026, 2, 2)))
    plan = svc.open_activity(
        c, "action_plan", "Neglect audit actions (fictional)", ["POL"], {"origin": "audit"}
    ).activity.ref
    action = svc.add_task(
        c,
        plan,
        "action",
        "POL",
        {
            "description": "Dip sample strategy discussions monthly (fictional)",
            "lead_name": "Named lead (fictional)",
            "target_date": "2026-03-13",
        },
    ).task
    assert action is not None
    assert action.id is not None

    # the children's services return is chased every day the scheduler runs, then comes in
    # a week late
    for day in range(3, 10):
        clock.set(at(date(2026, 2, day)))
        svc.sweep()
    late = task_of(svc, audit, "audit_return", "CSC")
    assert late.id is not None
    assert late.reminders_sent > 0
    answer_form(svc, agencies["CSC"], late.id)
    svc.submit_assessment(agencies["CSC"], late.id)
    svc.fire_task(c, late.id, "accept")

    # every agency's self-assessment, then moderation (one standard moderated down)
    clock.set(at(date(2026, 2, 16)))
    ratings = {"POL": "3", "ICB": "2", "CSC": "1"}
    for code, rating in ratings.items():
        task = task_of(svc, cycle, "s11_return", code)
        assert task.id is not None
        answer_form(svc, agencies[code], task.id, rating)
        svc.submit_assessment(agencies[code], task.id)
        svc.fire_task(c, task.id, "accept")
    svc.fire(c, cycle, "start_moderation")
    clock.set(at(date(2026, 3, 2)))
    for view in svc.assessments_of(cycle):
        assert view.agency is not None
        assert view.assessment.id is not None
        code = view.agency.code
        moderated = {
            q.number: (
                Moderation("2", "Evidence seen at the panel (fictional)")
                if code == "POL" and q.standard == "1"
                else Moderation(ratings[code])
            )
            for q in view.form.questions()
        }
        svc.moderate(MANAGER, view.assessment.id, moderated)
        mod = task_of(svc, cycle, "moderation", code)
        assert mod.id is not None
        svc.fire_task(MANAGER, mod.id, "finish_moderation")

    # the action completed early with evidence of impact, and signed off
    clock.set(at(date(2026, 3, 6)))
    svc.fire_task(
        agencies["POL"],
        action.id,
        "submit_completion",
        {
            "evidence_of_completion": "Dip sample of 10 discussions (fictional)",
            "evidence_of_impact": "Health attended 9 of 10 strategy discussions (fictional)",
        },
    )
    svc.fire_task(MANAGER, action.id, "sign_off")
    clock.set(at(date(2026, 3, 16)))
    site.refs.update(audit=audit, cycle=cycle, plan=plan)
    return site


# ---------------------------------------------------------------------------- reading pages
@dataclass
class PageTable:
    """A report table as the page shows it: the text of each heading and cell."""

    title: str
    header: list[str] | None = None  #: None when the page says there are no figures
    rows: list[list[str]] = field(default_factory=list)


class ReportPage(HTMLParser):
    """The headings, report tables and links of a report page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.h1 = ""
        self.sections: list[tuple[str, str]] = []  # (id, title)
        self.tables: dict[str, PageTable] = {}
        self.links: list[str] = []
        self.errors: list[str] = []  # the error summary's messages
        self._capture: str | None = None
        self._id = ""
        self._text: list[str] = []
        self._last_key: str | None = None
        self._table: PageTable | None = None
        self._in_head = False
        self._row: list[str] | None = None
        self._in_summary = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        cls = a.get("class") or ""
        if tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")
            if self._in_summary:
                self._capture, self._text = "error", []
        if tag == "div" and "error-summary" in cls:
            self._in_summary = True
        if tag in ("h1", "h2", "h3"):
            self._capture, self._id, self._text = tag, a.get("id") or "", []
        elif tag == "table" and "report-table" in cls:
            assert self._last_key is not None, "a report table without its heading"
            self._table = self.tables[self._last_key]
            self._table.header = []
        elif tag == "thead":
            self._in_head = True
        elif tag == "tbody":
            self._in_head = False
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("th", "td") and self._row is not None:
            self._capture, self._text = "cell", []

    def handle_endtag(self, tag: str) -> None:
        text = " ".join("".join(self._text).split())
        if tag in ("h1", "h2", "h3") and self._capture == tag:
            self._capture = None
            if tag == "h1":
                self.h1 = text
            elif tag == "h2":
                self.sections.append((self._id, text))
            elif self._id.startswith("table-"):
                self._last_key = self._id.removeprefix("table-")
                self.tables[self._last_key] = PageTable(text)
        elif tag in ("th", "td") and self._capture == "cell":
            assert self._row is not None
            self._row.append(text)
            self._capture = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            if self._in_head:
                self._table.header = self._row
            else:
                self._table.rows.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "a" and self._capture == "error":
            self.errors.append(text)
            self._capture = None
        elif tag == "div":
            self._in_summary = False

    def handle_data(self, data: str) -> None:
        if self._capture is not None:
            self._text.append(data)


_SHOWN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def agrees(shown: str, exported: Any) -> bool:
    """True when a page cell's text shows the exported value (a CSV field or an XLSX cell):
    the same text, the same number at the places the page shows, or no figure ("–")."""
    if exported is None or exported == "":
        return shown == "–"
    if isinstance(exported, datetime | date):
        return shown == cell_text(exported)
    text = str(exported)
    try:
        number = float(text)
    except ValueError:
        return shown == text
    digits = shown.replace(",", "").removesuffix("%").removeprefix("+")
    if not _SHOWN_NUMBER.fullmatch(digits):
        return False
    places = len(digits.partition(".")[2])
    return f"{number:.{places}f}" == digits


def csv_blocks(text: str) -> list[tuple[str, str, list[list[str]]]]:
    """(section title, table title, header and rows) of each table in the report's CSV."""
    rows = list(csv.reader(io.StringIO(text)))
    blocks: list[tuple[str, str, list[list[str]]]] = []
    i = 0
    while i < len(rows):
        if rows[i] == [] and i + 1 < len(rows):
            section, title = rows[i + 1]
            j = i + 2
            body: list[list[str]] = []
            while j < len(rows) and rows[j] != []:
                body.append(rows[j])
                j += 1
            blocks.append((section, title, body))
            i = j
        else:
            i += 1
    return blocks


def assert_same_cells(page: PageTable, exported: list[list[Any]], where: str) -> None:
    """The exported header and rows equal the page's, cell by cell."""
    assert page.header is not None, where
    assert [str(h) for h in exported[0]] == page.header, where
    body = exported[1:]
    assert len(body) == len(page.rows), where
    for shown_row, row in zip(page.rows, body, strict=True):
        assert len(row) == len(shown_row), (where, row, shown_row)
        for shown, value in zip(shown_row, row, strict=True):
            assert agrees(shown, value), (where, shown, value)


def get_page(c: TestClient, query: str = "") -> tuple[Any, ReportPage]:
    r = c.get("/reports" + (f"?{query}" if query else ""))
    return r, ReportPage(r.text)


# ---------------------------------------------------------------------------- the page
def test_page_shows_every_section_table_and_figure(seeded: Site) -> None:
    c = seeded.staff(COORDINATOR.id)
    r, page = get_page(c)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    model = seeded.report()  # the default period is the reporting year holding today
    assert page.h1 == model.title == "The four questions: 1 April 2025 to 31 March 2026"
    # the period once, in one style: no second line under the heading, no ISO dates in words
    assert r.text.count("1 April 2025 to 31 March 2026") == 2  # the title and the heading
    assert "2025-04-01 to 2026-03-31" not in r.text
    assert [title for _id, title in page.sections[1:]] == [s.title for s in model.sections]
    assert set(SECTION_TITLES.values()) <= {title for _id, title in page.sections}
    assert list(page.tables) == [t.key for t in model.tables()]
    for table in model.tables():
        shown = page.tables[table.key]
        assert shown.title == table.title
        if not table.rows:
            assert shown.header is None  # "No figures for this period."
            continue
        assert shown.header == table.columns
        assert shown.rows == [[cell_text(cell) for cell in row] for row in table.rows]

    # the figures of this dataset, as the page shows them: one of three agencies was late
    on_time = page.tables["returns_on_time"]
    by_agency = {row[0]: row for row in on_time.rows}
    csc = by_agency["Northshire Children's Services (fictional)"]
    assert csc[1:4] == ["2", "1", "50"]
    assert csc[4] == cell_text(
        model.table("returns_on_time").cell(csc[0], "Median working days late")
    )
    assert by_agency["Total"][1:3] == ["6", "5"]
    impact = {row[0]: row for row in page.tables["impact"].rows}
    assert impact["Total"][1:] == ["1", "1", "100"]
    moderated = {row[0]: row for row in page.tables["s11_moderated"].rows}
    assert moderated["Northshire Constabulary (fictional)"][1:3] == ["2.00", "3.00"]
    # a Rated cell keeps its text beside its colour
    assert re.search(r'<td class="rated rated-\w+ numeric"><span class="swatch', r.text)

    # downloads for the same period, and one CSV link per table
    assert f"/reports/report.csv?{DEFAULT_QUERY}" in page.links
    assert f"/reports/report.xlsx?{DEFAULT_QUERY}" in page.links
    assert "/reports/annual?year=2025" in page.links
    for table in model.tables():
        assert f"/reports/{table.key}.csv?{DEFAULT_QUERY}" in page.links
    assert "/reports" in page.links  # the staff navigation
    # the Section 11 cycle can be chosen
    assert f'<option value="{seeded.refs["cycle"]}">' in r.text

    # the charts: inline SVG that the Content-Security-Policy allows
    charts = [t for t in model.tables() if t.chart is not None]
    assert charts
    svgs = re.findall(r"<svg\b.*?</svg>", r.text, re.DOTALL)
    assert len(svgs) == len(charts)
    for svg, table in zip(svgs, charts, strict=True):
        root = ET.fromstring(svg)  # well-formed XML
        assert root.tag == f"{SVG_NS}svg"
        assert root.get("role") == "img"
        title = root.find(f"{SVG_NS}title")
        assert title is not None
        assert table.chart is not None
        assert title.text == (table.chart.title or table.title)
        assert root.find(f"{SVG_NS}desc") is not None
        for element in root.iter():
            # presentation attributes only: no style, no script, no event handlers, no links
            assert element.tag not in (f"{SVG_NS}script", f"{SVG_NS}style"), element.tag
            for name in element.attrib:
                assert name != "style", element.tag
                assert not name.startswith("on"), (element.tag, name)
                assert "href" not in name, (element.tag, name)
    # a bar chart has a bar per agency; the heat map a cell per agency and standard
    drawn = {t.key: ET.fromstring(svg) for svg, t in zip(svgs, charts, strict=True)}
    bars = [e for e in drawn["returns_on_time"].iter(f"{SVG_NS}rect") if e.get("class") == "bar"]
    assert len(bars) == 3
    cells = [e for e in drawn["s11_moderated"].iter(f"{SVG_NS}rect") if e.get("class") == "cell"]
    assert len(cells) == 3 * 8
    # the page runs no inline script (only the site's own app.js) and has no inline style
    # for the policy to refuse
    policy = r.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert re.findall(r"<script[^>]*>", r.text) == ['<script src="/static/app.js" defer>']
    assert "<style" not in r.text
    assert not re.search(r"\sstyle=", r.text)


def test_report_csv_and_table_csvs_equal_the_page(seeded: Site) -> None:
    c = seeded.staff(COORDINATOR.id)
    _r, page = get_page(c, DEFAULT_QUERY)
    r = c.get(f"/reports/report.csv?{DEFAULT_QUERY}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == (
        'attachment; filename="four-questions_2025-04-01_to_2026-03-31.csv"'
    )
    head = list(csv.reader(io.StringIO(r.text)))[:3]
    assert head[1] == ["Partnership", PARTNERSHIP]
    assert head[2] == ["Period", "1 April 2025 to 31 March 2026"]
    assert ["Period (YYYY-MM-DD)", "2025-04-01", "2026-03-31"] in list(
        csv.reader(io.StringIO(r.text))
    )[:6]
    blocks = csv_blocks(r.text)
    titles = dict(page.sections)
    assert [title for _s, title, _b in blocks] == [t.title for t in page.tables.values()]
    for (section, title, body), (key, shown) in zip(blocks, page.tables.items(), strict=True):
        assert section in titles.values()
        assert title == shown.title
        if shown.header is None:
            assert len(body) == 1, key  # the header alone
        else:
            assert_same_cells(shown, body, f"report.csv {key}")
        one = c.get(f"/reports/{key}.csv?{DEFAULT_QUERY}")
        assert one.status_code == 200
        assert one.headers["content-type"] == "text/csv; charset=utf-8"
        assert one.headers["content-disposition"] == (
            f'attachment; filename="{key}_2025-04-01_to_2026-03-31.csv"'
        )
        assert list(csv.reader(io.StringIO(one.text))) == body
    missing = c.get(f"/reports/no_such_table.csv?{DEFAULT_QUERY}")
    assert missing.status_code == 404
    assert "no table called &#39;no_such_table&#39;" in missing.text


def test_xlsx_holds_the_figures_of_the_page(seeded: Site) -> None:
    c = seeded.staff(ADMIN)
    _r, page = get_page(c, DEFAULT_QUERY)
    r = c.get(f"/reports/report.xlsx?{DEFAULT_QUERY}")
    assert r.status_code == 200
    assert r.headers["content-type"] == XLSX_TYPE
    assert r.headers["content-disposition"] == (
        'attachment; filename="four-questions_2025-04-01_to_2026-03-31.xlsx"'
    )
    wb = load_workbook(io.BytesIO(r.content))
    contents = wb["Contents"]
    sheets: dict[str, str] = {}
    listed = False
    for row in contents.iter_rows(values_only=True):
        if row[:3] == ("Section", "Table", "Sheet"):
            listed = True
        elif listed and row[1]:
            sheets[str(row[1])] = str(row[2])
    assert list(sheets) == [t.title for t in page.tables.values()]
    assert wb.sheetnames == ["Contents", *sheets.values()]
    for key, shown in page.tables.items():
        ws = wb[sheets[shown.title]]
        assert ws.cell(row=1, column=1).value == shown.title
        width = len(shown.header) if shown.header is not None else ws.max_column
        header = [ws.cell(row=3, column=j).value for j in range(1, width + 1)]
        rows = [
            [ws.cell(row=i, column=j).value for j in range(1, width + 1)]
            for i in range(4, 4 + len(shown.rows))
        ]
        assert ws.cell(row=4 + len(shown.rows), column=1).value is None, key  # no more rows
        if shown.header is None:
            assert not shown.rows
            continue
        assert_same_cells(shown, [header, *rows], f"report.xlsx {key}")
    # numbers stay numbers
    on_time = wb[sheets[page.tables["returns_on_time"].title]]
    assert isinstance(on_time.cell(row=4, column=2).value, int)


def test_annual_pack_prints_the_four_questions_under_its_own_csp(seeded: Site) -> None:
    c = seeded.staff(MANAGER.id)
    r = c.get("/reports/annual?year=2025")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == annual_csp(r.text)
    assert "style-src 'sha256-" in r.headers["content-security-policy"]
    assert r.headers["content-disposition"] == (
        'inline; filename="annual-report-data-pack_2025-04-01_to_2026-03-31.html"'
    )
    assert r.headers["x-frame-options"] == "DENY"
    for title in SECTION_TITLES.values():
        assert title in r.text
    assert "1 April 2025 to 31 March 2026" in r.text
    assert "<script" not in r.text
    svgs = re.findall(r"<svg\b.*?</svg>", r.text, re.DOTALL)
    assert svgs
    for svg in svgs:
        ET.fromstring(svg)
    # today's reporting year by default; as a download on request
    assert c.get("/reports/annual").text == r.text
    d = c.get("/reports/annual?year=2025&download=1")
    assert d.status_code == 200
    assert d.headers["content-disposition"].startswith("attachment; ")
    assert d.text == r.text
    # an earlier year has nothing in it
    before = c.get("/reports/annual?year=2024")
    assert before.status_code == 200
    assert "1 April 2024 to 31 March 2025" in before.text
    assert "Neglect audit (fictional)" not in before.text
    bad = c.get("/reports/annual?year=25")
    assert bad.status_code == 400
    assert "as four digits" in bad.text


@pytest.mark.parametrize(
    ("start", "end", "field", "message"),
    [
        ("2026-13-01", "2026-03-31", "start", "The start date of the period must be a real date"),
        ("01/04/2025", "2026-03-31", "start", "The start date of the period must be a real date"),
        ("2025-04-01", "", "end", "Enter the end date of the period"),
        ("2025-04-01", "2025-02-30", "end", "The end date of the period must be a real date"),
        (
            "2026-04-01",
            "2026-03-01",
            "end",
            "ends on 1 March 2026, before it starts on 1 April 2026",
        ),
        ("2020-01-01", "2026-01-01", "end", "is longer than 5 years"),
    ],
)
def test_bad_period_is_refused_with_the_reason_and_nothing_else(
    site: Site, start: str, end: str, field: str, message: str
) -> None:
    c = site.staff(COORDINATOR.id)
    query = f"start={start}&end={end}"
    r, page = get_page(c, query)
    assert r.status_code == 400
    assert len(page.errors) == 1
    assert message in page.errors[0]
    assert f'href="#{field}"' in r.text
    assert f'id="{field}-error"' in r.text
    assert f'aria-describedby="{field}-error"' in r.text
    assert f'value="{start}"' in r.text  # what was typed is kept
    # nothing else: no report, no tables, no charts, no downloads
    assert page.h1 == "The four questions"
    assert page.tables == {}
    assert "<table" not in r.text
    assert "<svg" not in r.text
    assert "/reports/report.csv" not in r.text
    # the downloads refuse the same period with the same reason
    for path in ("/reports/report.csv", "/reports/report.xlsx", "/reports/activities_by_type.csv"):
        d = c.get(f"{path}?{query}")
        assert d.status_code == 400, path
        assert d.headers["content-type"].startswith("text/html")
        assert message.replace("'", "&#39;") in d.text


def test_section11_cycle_can_be_chosen(seeded: Site) -> None:
    c = seeded.staff(COORDINATOR.id)
    ref = seeded.refs["cycle"]
    r, page = get_page(c, f"{DEFAULT_QUERY}&cycle={ref}")
    assert r.status_code == 200
    assert f'<option value="{ref}" selected>' in r.text
    assert f"/reports/report.csv?{DEFAULT_QUERY}&cycle={ref}" in page.links
    assert f"/reports/annual?year=2025&cycle={ref}" in page.links
    chosen = seeded.report(cycle=ref)
    assert page.tables["s11_self"].rows == [
        [cell_text(cell) for cell in row] for row in chosen.table("s11_self").rows
    ]
    wrong, page = get_page(c, f"{DEFAULT_QUERY}&cycle=S11-1999-999")
    assert wrong.status_code == 400
    assert page.errors == ["There is no Section 11 cycle with the reference 'S11-1999-999'."]
    assert 'id="cycle-error"' in wrong.text
    assert page.tables == {}
    assert c.get("/reports/annual?year=2025&cycle=S11-1999-999").status_code == 400


ROUTES = [
    "/reports",
    f"/reports?{DEFAULT_QUERY}",
    f"/reports/report.csv?{DEFAULT_QUERY}",
    f"/reports/report.xlsx?{DEFAULT_QUERY}",
    f"/reports/returns_on_time.csv?{DEFAULT_QUERY}",
    "/reports/annual?year=2025",
]


def test_staff_only(site: Site) -> None:
    for email in (COORDINATOR.id, MANAGER.id, ADMIN):
        c = site.staff(email)
        for path in ROUTES:
            assert c.get(path).status_code == 200, (email, path)
    signed_out = site.client()
    for path in ROUTES:
        r = signed_out.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next=/reports")
    agency = site.client()
    link = create_login_link(
        site.service.db, "lead@police.northshire.example", site.clock.now(), service=site.service
    )
    assert confirm_sign_in_link(agency, f"/login/link/{link}").status_code == 303
    for path in ROUTES:
        r = agency.get(path)
        assert r.status_code == 403, path
        assert "not open to the agency role" in r.text
        assert "The four questions" not in r.text
        assert "<table" not in r.text
    portal = agency.get("/portal")
    assert portal.status_code == 200
    assert 'href="/reports"' not in portal.text  # no Reports link for agencies


# ---------------------------------------------------------------------------- in a browser
def _browser_problem() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -e '.[dev]')"
    return None


def _require_browser() -> None:
    problem = _browser_problem()
    if problem is None:
        return
    if os.environ.get("CI") or os.environ.get("SEF_REQUIRE_BROWSER"):
        pytest.fail(problem)
    pytest.skip(problem)


@pytest.fixture
def served(seeded: Site) -> Iterator[str]:
    """The seeded site served over real HTTP on a free port; its base URL."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(seeded.web, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the server stopped"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.mark.slow
def test_report_page_draws_its_charts_in_a_browser(
    seeded: Site, request: pytest.FixtureRequest
) -> None:
    _require_browser()
    from playwright.sync_api import sync_playwright

    base: str = request.getfixturevalue("served")
    charts = sum(1 for t in seeded.report().tables() if t.chart is not None)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
            headless=True,
        )
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(15_000)
            refused: list[str] = []  # Content-Security-Policy refusals are logged as errors
            page.on("console", lambda m: refused.append(m.text) if m.type == "error" else None)
            failed: list[str] = []
            page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
            page.goto(f"{base}/login")
            page.fill("#email", MANAGER.id)
            page.fill("#password", PASSWORDS[MANAGER.id])
            page.click("form[action='/login'] button[type=submit]")
            page.wait_for_load_state()
            page.click("nav a[href='/reports']")
            page.wait_for_load_state()
            assert page.locator("h1").inner_text().startswith("The four questions")
            svg = page.locator("svg[role=img]")
            assert svg.count() == charts
            svg.first.scroll_into_view_if_needed()
            assert svg.first.is_visible()
            box = svg.first.bounding_box()
            assert box is not None
            assert box["width"] > 100
            assert box["height"] > 20
            # the bars are drawn with their colours (presentation attributes, not styles)
            fill = page.eval_on_selector("svg[role=img] rect.bar", "e => getComputedStyle(e).fill")
            assert fill == "rgb(29, 112, 184)"  # the first series is blue, #1d70b8
            # nothing refused by the policy, and every resource of the page loaded (the
            # browser's own request for /favicon.ico is logged, not seen as the page's)
            assert failed == []
            assert [m for m in refused if not m.startswith("Failed to load resource")] == []
            SHOTS.mkdir(parents=True, exist_ok=True)
            dialect = seeded.service.db.engine.dialect.name
            page.screenshot(path=str(SHOTS / f"report-page-{dialect}.png"), full_page=True)
        finally:
            browser.close()
