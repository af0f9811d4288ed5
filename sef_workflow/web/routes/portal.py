"""The agency portal: an agency's own tasks and assessments, and nothing of any other agency."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ...service import Actor, more_time_choices
from .. import queries
from ..deps import AgencyUser, WebDep
from ..rendering import render
from ..state import WebState

router = APIRouter(include_in_schema=False)


@router.get("/portal", response_class=HTMLResponse)
async def portal(request: Request, web: WebDep, signed: AgencyUser) -> Response:
    actor = signed.actor
    agency_id = actor.agency_id
    assert agency_id is not None
    rows = queries.tasks(web.db, agency_id=agency_id, person=actor)
    now = web.now()
    return render(
        request,
        "portal.html",
        agency=queries.agency(web.db, agency_id),
        rows=rows,
        overdue=[
            r
            for r in rows
            if r.task.deadline_status == "running" and r.task.due_at and r.task.due_at <= now
        ],
        to_decide=[
            r for r in rows if r.task.requested_due_on is not None and decides(web, actor, r)
        ],
        escalations=(
            queries.escalations_to(web.db, actor.id, agency_id) if actor.is_agency_manager else []
        ),
        position=POSITION_WORDS.get(actor.position, ""),
        runs_agency=actor.runs_agency,
    )


#: how the portal names the person signed in
POSITION_WORDS = {
    "lead": "the lead",
    "deputy": "the deputy",
    "manager": "the senior manager",
    "contact": "a named contact",
}


def decides(web: WebState, actor: Actor, row: queries.TaskRow) -> bool:
    """Whether ``actor`` may decide the request for more time waiting on the row's task."""
    with web.db.read() as session:
        wf = web.service.workflow_for(session, row.activity)
    kind = wf.tasks.get(row.task.kind)
    return kind is not None and more_time_choices(actor, kind, row.task)[1]
