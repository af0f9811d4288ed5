"""The agency portal: an agency's own tasks and assessments, and nothing of any other agency."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from .. import queries
from ..deps import AgencyUser, WebDep
from ..rendering import render

router = APIRouter(include_in_schema=False)


@router.get("/portal", response_class=HTMLResponse)
async def portal(request: Request, web: WebDep, signed: AgencyUser) -> Response:
    agency_id = signed.actor.agency_id
    assert agency_id is not None
    return render(
        request,
        "portal.html",
        agency=queries.agency(web.db, agency_id),
        rows=queries.tasks(web.db, agency_id=agency_id),
    )
