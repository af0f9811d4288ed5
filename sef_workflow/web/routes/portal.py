"""The agency portal: "Waiting on you" (what waits for this person's answer or decision), then
the agency's own tasks and assessments, and nothing of any other agency. What a change made
from "Waiting on you" says afterwards (on the portal and the staff dashboard) is here."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from ...service import Actor, more_time_choices
from ...service.inbox import SHOWS
from .. import queries
from ..auth import SignedIn
from ..deps import AgencyUser, WebDep
from ..forms import FormState
from ..rendering import render
from ..state import WebState
from ..task_page import holder_words

router = APIRouter(include_in_schema=False)


@router.get("/portal", response_class=HTMLResponse)
async def portal(
    request: Request, web: WebDep, signed: AgencyUser, show: str = "mine", done: str = ""
) -> Response:
    """An agency person's home: "Waiting on you" first, then all their open requests."""
    return portal_page(web, request, signed, show, None, success=INBOX_DONE.get(done, ""))


def portal_page(
    web: WebState,
    request: Request,
    signed: SignedIn,
    show: str,
    state: FormState | None,
    status: int = 200,
    success: str = "",
) -> HTMLResponse:
    actor = signed.actor
    agency_id = actor.agency_id
    assert agency_id is not None
    rows = queries.tasks(web.db, agency_id=agency_id, person=actor)
    now = web.now()
    return render(
        request,
        "portal.html",
        status=status,
        inbox=web.service.waiting_on(actor, show=show),
        show=show,
        home="/portal",
        colleagues=[],
        form=state or FormState(""),
        success=success,
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
        holders=holders(web, rows, agency_id) if actor.runs_agency else {},
    )


def holders(web: WebState, rows: list[queries.TaskRow], agency_id: int) -> dict[int, str]:
    """Who of the agency each listed task is with, by task id."""
    contacts = web.service.contacts_of([agency_id])
    return {
        r.task.id: holder_words(r.task, r.agency, contacts)
        for r in rows
        if r.task.id is not None and r.agency is not None
    }


#: what a change made from "Waiting on you" says on the page it lands back on (``?done=``):
#: fixed words, never text from the request
INBOX_DONE = {
    "taken": "Assigned to you.",
    "given": "Given to your colleague: it is in their list now.",
    "agreed": "More time agreed: the deadline has moved and the agency has been emailed.",
    "declined": "More time not agreed: the agency has been emailed.",
}
#: where an error about an item as a whole is shown: the list's heading
INBOX_TOP = "waiting-on-you"


def shown(form: FormData) -> str:
    """The filter of the list a form came from (``mine`` unless one of the three)."""
    show = str(form.get("show") or "")
    return show if show in SHOWS else "mine"


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
