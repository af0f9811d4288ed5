"""The coordinators' activity pages: the dashboard, the list of activities, opening one (with
its deadlines previewed), an activity's page, firing its transitions, and its evidence pack."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...errors import (
    ConcurrentUpdate,
    InvalidInput,
    NotFound,
    PermissionDenied,
    SefError,
    TransitionNotAllowed,
)
from ...models import STAFF_ROLES
from .. import queries
from ..activity_page import render_activity, stale_page
from ..assessment_views import fire_errors, judgement_answers
from ..auth import SignedIn
from ..deadline_preview import deadline_preview
from ..deps import CsrfForm, CurrentUser, StaffUser, WebDep, check_role, require
from ..forms import FormState, field_error, input_values, parse_int, typed_values
from ..rendering import render
from ..state import WebState

router = APIRouter(include_in_schema=False)

#: who may download an activity's evidence pack
EvidenceUser = Annotated[SignedIn, Depends(require("coordinator", "manager"))]


@router.get("/", response_class=HTMLResponse)
async def dashboard(request: Request, web: WebDep, signed: CurrentUser) -> Response:
    if signed.actor.role == "agency":
        return RedirectResponse("/portal", status_code=303)
    signed = check_role(signed, STAFF_ROLES)
    now = web.now()
    today = web.cal.local_date(now)
    week_end = today + timedelta(days=6 - today.weekday())
    return render(
        request,
        "dashboard.html",
        mine=queries.activities_of(web.db, signed.actor.id),
        due_week=queries.tasks(web.db, due_by=week_end, limit=100),
        overdue=queries.overdue_by_agency(web.db, now),
        failed=queries.failed_email_count(web.db),
        week_end=week_end,
    )


@router.get("/activities", response_class=HTMLResponse)
async def activity_list(
    request: Request, web: WebDep, _staff: StaffUser, workflow: str = "", closed: str = ""
) -> Response:
    return render(
        request,
        "activities.html",
        activities=queries.activities(web.db, workflow or None, closed == "yes"),
        workflows=web.app.registry.current(),
        workflow=workflow,
        closed=closed == "yes",
    )


@router.get("/activities/new", response_class=HTMLResponse)
async def new_activity(
    request: Request, web: WebDep, signed: StaffUser, workflow: str = ""
) -> Response:
    return new_activity_page(web, request, signed, workflow, None)


@router.post("/activities/new", response_class=HTMLResponse)
async def open_activity(
    request: Request, web: WebDep, signed: StaffUser, form: CsrfForm
) -> Response:
    name = str(form.get("workflow") or "")
    typed = typed_values(form)
    try:
        wf = web.app.registry.get(name)
    except SefError:
        return new_activity_page(
            web,
            request,
            signed,
            "",
            FormState("open", typed, [("workflow", "Choose a kind of activity")]),
            422,
        )
    title = str(form.get("title") or "").strip()
    errors: list[tuple[str, str]] = []
    if not title:
        errors.append(("title", "Enter a title"))
    codes = [str(v) for v in form.getlist("agencies")]
    typed["agencies"] = ",".join(codes)
    if form.get("action") == "preview":  # re-render with the preview; nothing changes
        return new_activity_page(web, request, signed, name, FormState("open", typed))
    if wf.agencies == "required" and not codes:
        errors.append(("agencies", "Choose at least one agency"))
    if errors:
        return new_activity_page(web, request, signed, name, FormState("open", typed, errors), 422)
    try:
        outcome = web.service.open_activity(
            signed.actor, name, title, codes, input_values(form, wf.open_inputs)
        )
    except (InvalidInput, PermissionDenied, NotFound) as exc:
        state = FormState("open", typed, [field_error(exc, wf.open_inputs)])
        status = 403 if isinstance(exc, PermissionDenied) else 422
        return new_activity_page(web, request, signed, name, state, status)
    return RedirectResponse(f"/activities/{outcome.activity.ref}", status_code=303)


@router.get("/activities/{ref}", response_class=HTMLResponse)
async def activity_page(request: Request, web: WebDep, signed: StaffUser, ref: str) -> Response:
    return render_activity(web, request, signed, ref, None)


@router.get("/activities/{ref}/evidence.zip")
def evidence_zip(web: WebDep, _user: EvidenceUser, ref: str) -> Response:
    # a plain def: FastAPI builds the zip in its thread pool, off the event loop
    from ...evidence import evidence_pack, pack_filename

    s = web.app.settings.settings
    data = evidence_pack(
        web.db,
        ref,
        upload_dir=web.settings.upload_dir,
        calendar=web.cal,
        partnership=s.partnership.name,
        now=web.now(),
        from_addr=s.smtp.from_address or s.partnership.business_unit_email,
    )
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{pack_filename(ref)}"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/activities/{ref}/fire", response_class=HTMLResponse)
async def fire(
    request: Request, web: WebDep, signed: StaffUser, form: CsrfForm, ref: str
) -> Response:
    activity, wf, _a, _t = web.service.get_activity(ref)
    trigger = str(form.get("trigger") or "")
    t = wf.transition_for(trigger, activity.state)
    expected = parse_int(form.get("expected_version"))
    typed = typed_values(form)
    try:
        if t is None:
            if expected is not None and expected != activity.version:
                raise ConcurrentUpdate(f"{activity.ref} changed")
            raise TransitionNotAllowed(f"'{trigger}' is not allowed now")
        web.service.fire(
            signed.actor,
            activity.ref,
            trigger,
            input_values(form, t.inputs),
            str(form.get("reason") or "") or None,
            expected,
            answers=judgement_answers(web, t, form),  # a meeting's judgements form
        )
    except (ConcurrentUpdate, TransitionNotAllowed) as exc:
        return stale_page(web, request, activity.ref, exc)
    except InvalidInput as exc:
        specs = t.inputs if t else ()
        state = FormState(f"fire-{trigger}", typed, fire_errors(web, exc, t, trigger, specs))
        return render_activity(web, request, signed, activity.ref, state, 422)
    return RedirectResponse(f"/activities/{activity.ref}", status_code=303)


def new_activity_page(
    web: WebState,
    request: Request,
    signed: SignedIn,
    workflow: str,
    state: FormState | None,
    status: int = 200,
) -> HTMLResponse:
    available = {
        name: wf
        for name, wf in web.app.registry.current().items()
        if signed.actor.may(wf.open_roles)
    }
    wf = available.get(workflow)
    form = state or FormState("open")
    return render(
        request,
        "activity_new.html",
        status=status,
        workflows=available,
        wf=wf,
        preview=deadline_preview(web, wf, form.values) if wf else None,
        agencies=[a for a in web.service.list_agencies() if a.active],
        form=form,
    )
