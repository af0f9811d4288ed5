"""The managers' pages: overdue and due-soon tasks by agency or by activity, with the BRAG
chart of open action-plan actions, and the same lists as a CSV download."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ...calendar import format_deadline_date
from ...reports.export import csv_safe
from ...views import describe_task_deadline, task_state_title, words
from .. import queries
from ..deps import StaffUser, WebDep
from ..rendering import render
from ..state import WebState

router = APIRouter(include_in_schema=False)

#: rows per list on the overdue page; the CSV export has every row
PAGE_ROWS = 200
CSV_ROWS = 100_000
#: the CSV's columns, in words; "Due date (YYYY-MM-DD)" repeats the due date for machines
OVERDUE_COLUMNS = [
    "Status",
    "Agency",
    "Agency code",
    "Activity",
    "Kind of activity",
    "Task number",
    "Task",
    "State",
    "Due",
    "Due date (YYYY-MM-DD)",
    "Deadline",
]
#: GOV.UK palette colours for each BRAG status (text beside each bar gives the number)
BRAG_COLOURS = {
    "blue": "#1d70b8",
    "green": "#00703c",
    "amber": "#f47738",
    "red": "#d4351c",
    "not rated": "#b1b4b6",
}
BRAG_BAR_WIDTH = 300


@dataclass(frozen=True)
class BragBar:
    status: str
    count: int
    colour: str
    width: int


@dataclass(frozen=True)
class BragChart:
    bars: list[BragBar]
    total: int


@router.get("/manager/overdue", response_class=HTMLResponse)
async def overdue(
    request: Request,
    web: WebDep,
    _staff: StaffUser,
    agency: str = "",
    workflow: str = "",
    group: str = "agency",
) -> Response:
    group = group if group in ("agency", "activity") else "agency"
    # one row more than shown tells the page there are more (the CSV has them all)
    overdue_rows, soon_rows = overdue_and_soon(web, agency, workflow, PAGE_ROWS + 1)
    return render(
        request,
        "overdue.html",
        task_state=lambda row: row_state(web, row),
        overdue=overdue_rows,
        soon=soon_rows,
        brag=brag_chart(web, agency if not workflow or workflow == "action_plan" else None),
        page_rows=PAGE_ROWS,
        group=group,
        agencies=web.service.list_agencies(),
        workflows=web.app.registry.current(),
        agency=agency,
        workflow=workflow,
        query=request.url.query,
    )


@router.get("/manager/overdue.csv")
async def overdue_csv(
    web: WebDep, _staff: StaffUser, agency: str = "", workflow: str = ""
) -> Response:
    overdue_rows, soon_rows = overdue_and_soon(web, agency, workflow, CSV_ROWS)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(OVERDUE_COLUMNS)
    workflows = web.app.registry.current()
    for label, rows in (("Overdue", overdue_rows), ("Due soon", soon_rows)):
        for r in rows:
            wf = workflows.get(r.activity.workflow)
            writer.writerow(
                [
                    label,
                    csv_safe(r.agency.name) if r.agency else "Business unit",
                    r.agency.code if r.agency else "",
                    r.activity.ref,
                    wf.title if wf is not None else words(r.activity.workflow),
                    r.task.id,
                    csv_safe(r.task.title),
                    row_state(web, r),
                    format_deadline_date(r.task.due_on) if r.task.due_on else "",
                    r.task.due_on.isoformat() if r.task.due_on else "",
                    describe_task_deadline(r.task, web.now(), web.cal),
                ]
            )
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="overdue.csv"'},
    )


def row_state(web: WebState, row: queries.TaskRow) -> str:
    """The task's state by its title in its workflow."""
    wf = web.app.registry.current().get(row.activity.workflow)
    return task_state_title(wf, row.task.kind, row.task.state)


def overdue_and_soon(
    web: WebState, agency: str, workflow: str, limit: int = 1000
) -> tuple[list[queries.TaskRow], list[queries.TaskRow]]:
    """The overdue tasks, and those due within ``due_soon_days`` that are not yet overdue."""
    now = web.now()
    today = web.cal.local_date(now)
    overdue = queries.tasks(
        web.db,
        agency_code=agency or None,
        workflow=workflow or None,
        overdue_at=now,
        limit=limit,
    )
    soon = queries.tasks(
        web.db,
        agency_code=agency or None,
        workflow=workflow or None,
        due_by=today + timedelta(days=web.settings.due_soon_days),
        due_after=now,  # not yet overdue: the two lists never overlap
        limit=limit,
    )
    return overdue, soon


def brag_chart(web: WebState, agency: str | None) -> BragChart | None:
    """Bars for the open action-plan actions by BRAG status (None when filtered away)."""
    if agency is None:
        return None
    counts = queries.brag_counts(web.db, agency or None)
    top = max((n for _s, n in counts), default=0) or 1
    bars = [
        BragBar(status, n, BRAG_COLOURS[status], round(BRAG_BAR_WIDTH * n / top))
        for status, n in counts
    ]
    return BragChart(bars, sum(n for _s, n in counts))
