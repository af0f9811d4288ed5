"""The report pages: the four-questions report for a period, its downloads and the annual pack.

Coordinators, managers and admins choose a period (by default the current reporting year)
and, optionally, the Section 11 cycle to summarise. The page shows every table with its chart
as inline SVG (no script, no style attribute: it displays under the app's strict
Content-Security-Policy); the same figures download as CSV (the whole report or one table),
as an XLSX workbook, and as the printable annual report data pack.

Building a report is CPU-bound, so every route here is a plain ``def``: FastAPI runs it in
its thread pool, off the event loop.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import col

from ...errors import InvalidInput, NotFound
from ...models import Activity
from ..auth import SignedIn
from ..deps import WebDep, require
from ..rendering import error_page, render
from ..state import WebState

if TYPE_CHECKING:
    from ...reports.model import Report

router = APIRouter(include_in_schema=False)

#: who may see the reports
REPORT_ROLES = ("admin", "coordinator", "manager")
ReportUser = Annotated[SignedIn, Depends(require(*REPORT_ROLES))]
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"
#: Section 11 cycles offered in the page's list, newest first
CYCLE_CHOICES = 100
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_YEAR = re.compile(r"(19|2\d)\d{2}")
_FILE_SAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class PeriodForm:
    """The period form as typed, and what to fix (``field`` is the id of the input)."""

    start: str
    end: str
    cycle: str = ""
    error: str | None = None
    field: str = "start"


@dataclass(frozen=True)
class Period:
    """A checked choice: local dates ``start`` to ``end`` (both included), and a cycle."""

    start: date
    end: date
    cycle: str | None = None

    def query(self) -> str:
        params = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        if self.cycle:
            params["cycle"] = self.cycle
        return urlencode(params)

    def stem(self) -> str:
        """The part of a file name that says which period (and cycle) it covers."""
        stem = f"{self.start.isoformat()}_to_{self.end.isoformat()}"
        if self.cycle:
            stem += "_" + (_FILE_SAFE.sub("-", self.cycle).strip("-") or "cycle")
        return stem

    def form(self) -> PeriodForm:
        return PeriodForm(self.start.isoformat(), self.end.isoformat(), self.cycle or "")


def _parse_date(raw: str, which: str) -> date | PeriodForm:
    """The date typed for the ``which`` ("start" or "end") of the period, or the error."""
    text = raw.strip()
    if not text:
        return PeriodForm("", "", error=f"Enter the {which} date of the period", field=which)
    try:
        if not _ISO_DATE.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        return PeriodForm(
            "",
            "",
            error=f"The {which} date of the period must be a real date, like 2026-04-01",
            field=which,
        )


def choose_period(web: WebState, start: str, end: str, cycle: str) -> Period | PeriodForm:
    """The period asked for, or the form with what to fix. With neither date given: the
    current reporting year (``reports.year_start_month``)."""
    chosen_cycle = cycle.strip() or None
    if not start.strip() and not end.strip():
        from ...reports.figures import reporting_year

        first, last = reporting_year(web.cal.local_date(web.now()), _start_month(web))
        return Period(first, last, chosen_cycle)
    got: dict[str, date] = {}
    for which, raw in (("start", start), ("end", end)):
        parsed = _parse_date(raw, which)
        if isinstance(parsed, PeriodForm):
            return PeriodForm(start, end, cycle, parsed.error, parsed.field)
        got[which] = parsed
    return Period(got["start"], got["end"], chosen_cycle)


def _start_month(web: WebState) -> int:
    return web.app.settings.settings.reports.year_start_month


def build(web: WebState, period: Period) -> Report:
    """The report for ``period``; InvalidInput for a period or cycle that cannot be used."""
    from ...reports.figures import build_report

    return build_report(
        web.db,
        forms=web.app.forms,
        registry=web.app.registry,
        calendar=web.cal,
        start=period.start,
        end=period.end,
        partnership=web.app.settings.settings.partnership.name,
        now=web.now(),
        cycle=period.cycle,
    )


def refused(period: Period, start: str, end: str, cycle: str, exc: InvalidInput) -> PeriodForm:
    """The form for a period or cycle the report refused, with the input to fix."""
    field = "cycle" if period.cycle and "Section 11 cycle" in str(exc) else "end"
    return PeriodForm(start, end, cycle, str(exc), field)


def section11_cycles(web: WebState) -> list[tuple[str, str]]:
    """(reference, title) of the Section 11 cycles, newest first, for the page's list."""
    q = (
        sa.select(col(Activity.ref), col(Activity.title))
        .where(col(Activity.workflow) == "section11")
        .order_by(col(Activity.opened_at).desc(), col(Activity.id).desc())
        .limit(CYCLE_CHOICES)
    )
    with web.db.read() as session:
        return [(ref, title) for ref, title in session.execute(q).all()]


def annual_year(web: WebState, period: Period) -> int:
    """The year the reporting year holding ``period.start`` starts in."""
    from ...reports.figures import reporting_year

    return reporting_year(period.start, _start_month(web))[0].year


def _attachment(name: str, disposition: str = "attachment") -> dict[str, str]:
    return {"Content-Disposition": f'{disposition}; filename="{name}"', "Cache-Control": "no-store"}


def report_page_for(
    web: WebState, request: Request, report: Report | None, form: PeriodForm, status: int = 200
) -> HTMLResponse:
    """The report page: the period form, and the report with its downloads when there is one."""
    from ...reports.export import cell_text
    from ...reports.svg import chart_svg

    downloads: dict[str, str] = {}
    table_csv_href = None
    if report is not None:
        period = Period(report.period_start, report.period_end, form.cycle or None)
        query = period.query()
        annual = {"year": str(annual_year(web, period))}
        if period.cycle:
            annual["cycle"] = period.cycle
        downloads = {
            "csv": f"/reports/report.csv?{query}",
            "xlsx": f"/reports/report.xlsx?{query}",
            "annual": f"/reports/annual?{urlencode(annual)}",
        }

        def table_csv_href(key: str) -> str:
            return f"/reports/{key}.csv?{query}"

    context: dict[str, object] = {
        "report": report,
        "period_form": form,
        "downloads": downloads,
        "chart_svg": chart_svg,
        "cell_text": cell_text,
        "cycles": section11_cycles(web),
    }
    if table_csv_href is not None:
        context["table_csv"] = table_csv_href
    if form.error:  # shown in the page's error summary, linked to its field
        context["errors"] = [(form.field, form.error)]
    return render(request, "report.html", status=status, **context)


def report_or_error(
    web: WebState, request: Request, start: str, end: str, cycle: str
) -> tuple[Report, Period] | HTMLResponse:
    """For a download: the report, or a 400 page saying what is wrong with the period."""
    chosen = choose_period(web, start, end, cycle)
    if isinstance(chosen, PeriodForm):
        message = chosen.error or "Choose a period"
    else:
        try:
            return build(web, chosen), chosen
        except InvalidInput as exc:
            message = str(exc)
    back = "/reports?" + urlencode({"start": start, "end": end, "cycle": cycle})
    return error_page(request, 400, "The report cannot be made", message, back=back)


def whole_report(
    web: WebState,
    request: Request,
    start: str,
    end: str,
    cycle: str,
    render_as: Callable[[Report], str | bytes],
    media_type: str,
    extension: str,
) -> Response:
    """The whole report for the period as one download, or a 400 page saying why not."""
    built = report_or_error(web, request, start, end, cycle)
    if isinstance(built, HTMLResponse):
        return built
    report, period = built
    return Response(
        render_as(report),
        media_type=media_type,
        headers=_attachment(f"four-questions_{period.stem()}.{extension}"),
    )


@router.get("/reports", response_class=HTMLResponse)
def report_page(
    request: Request,
    web: WebDep,
    _user: ReportUser,
    start: str = "",
    end: str = "",
    cycle: str = "",
) -> Response:
    chosen = choose_period(web, start, end, cycle)
    if isinstance(chosen, PeriodForm):
        return report_page_for(web, request, None, chosen, 400)
    try:
        report = build(web, chosen)
    except InvalidInput as exc:
        return report_page_for(web, request, None, refused(chosen, start, end, cycle, exc), 400)
    return report_page_for(web, request, report, chosen.form())


@router.get("/reports/report.csv")
def report_csv_download(
    request: Request,
    web: WebDep,
    _user: ReportUser,
    start: str = "",
    end: str = "",
    cycle: str = "",
) -> Response:
    from ...reports.export import report_csv

    return whole_report(web, request, start, end, cycle, report_csv, CSV_TYPE, "csv")


@router.get("/reports/report.xlsx")
def report_xlsx_download(
    request: Request,
    web: WebDep,
    _user: ReportUser,
    start: str = "",
    end: str = "",
    cycle: str = "",
) -> Response:
    from ...reports.export import report_xlsx

    return whole_report(web, request, start, end, cycle, report_xlsx, XLSX_TYPE, "xlsx")


@router.get("/reports/annual")
def annual_pack(
    request: Request,
    web: WebDep,
    _user: ReportUser,
    year: str = "",
    cycle: str = "",
    download: str = "",
) -> Response:
    from ...reports.export import annual_csp, annual_html
    from ...reports.figures import reporting_year

    month = _start_month(web)
    if not year.strip():
        first, last = reporting_year(web.cal.local_date(web.now()), month)
    elif _YEAR.fullmatch(year.strip()):
        first, last = reporting_year(date(int(year.strip()), month, 1), month)
    else:
        return error_page(
            request,
            400,
            "The report cannot be made",
            "Choose the reporting year by the year it starts in, as four digits, for example 2025.",
            back="/reports",
        )
    period = Period(first, last, cycle.strip() or None)
    try:
        report = build(web, period)
    except InvalidInput as exc:
        back = "/reports?" + urlencode({"cycle": cycle})
        return error_page(request, 400, "The report cannot be made", str(exc), back=back)
    html = annual_html(report)
    disposition = "attachment" if download.strip() in ("1", "yes", "true") else "inline"
    headers = _attachment(f"annual-report-data-pack_{period.stem()}.html", disposition)
    headers["Content-Security-Policy"] = annual_csp(html)
    return HTMLResponse(html, headers=headers)


@router.get("/reports/{table_key}.csv")
def table_csv_download(
    request: Request,
    web: WebDep,
    _user: ReportUser,
    table_key: str,
    start: str = "",
    end: str = "",
    cycle: str = "",
) -> Response:
    from ...reports.export import table_csv

    built = report_or_error(web, request, start, end, cycle)
    if isinstance(built, HTMLResponse):
        return built
    report, period = built
    try:
        table = report.table(table_key)
    except KeyError:
        raise NotFound(f"the report has no table called {table_key!r}") from None
    name = _FILE_SAFE.sub("-", table.key).strip("-") or "table"
    return Response(
        table_csv(table),
        media_type=CSV_TYPE,
        headers=_attachment(f"{name}_{period.stem()}.csv"),
    )
