"""The coordinators' activity pages: the dashboard (with "Waiting on you" and its actions:
assign to me, give to a colleague, agree or decline more time), the list of activities,
opening one (with its deadlines previewed), an activity's page, firing its transitions, and
its evidence pack."""

from __future__ import annotations

from datetime import date, timedelta
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
from ..activity_page import (
    FIRED,
    OPENED,
    reason_missing,
    render_activity,
    render_confirm,
    stale_page,
)
from ..assessment_views import fire_errors, judgement_answers
from ..auth import SignedIn
from ..deadline_preview import deadline_preview
from ..deps import (
    CsrfForm,
    CurrentUser,
    StaffUser,
    TaskUser,
    VisibleTask,
    WebDep,
    check_role,
    require,
)
from ..forms import (
    FormState,
    field_errors,
    input_errors,
    input_values,
    parse_int,
    read_date,
    typed_values,
)
from ..rendering import render
from ..scope import warns
from ..state import WebState
from .portal import INBOX_DONE, INBOX_TOP, portal_page, shown

router = APIRouter(include_in_schema=False)

#: who may download an activity's evidence pack
EvidenceUser = Annotated[SignedIn, Depends(require("coordinator", "manager"))]


@router.get("/", response_class=HTMLResponse)
async def dashboard(
    request: Request, web: WebDep, signed: CurrentUser, show: str = "mine", done: str = ""
) -> Response:
    """Staff's home: "Waiting on you" first (filtered mine, unassigned or all), then their
    activities, what is due this week and what is overdue."""
    if signed.actor.role == "agency":
        return RedirectResponse("/portal", status_code=303)
    signed = check_role(signed, STAFF_ROLES)
    return dashboard_page(web, request, signed, show, None, success=INBOX_DONE.get(done, ""))


def dashboard_page(
    web: WebState,
    request: Request,
    signed: SignedIn,
    show: str,
    state: FormState | None,
    status: int = 200,
    success: str = "",
) -> HTMLResponse:
    now = web.now()
    today = web.cal.local_date(now)
    week_end = today + timedelta(days=6 - today.weekday())
    staff = [(s.email, s.name) for s in web.service.list_staff() if s.active]
    return render(
        request,
        "dashboard.html",
        status=status,
        inbox=web.service.waiting_on(signed.actor, show=show),
        show=show,
        home="/",
        colleagues=staff,
        form=state or FormState(""),
        success=success,
        mine=queries.activities_of(web.db, signed.actor.id),
        due_week=queries.tasks(web.db, due_by=week_end, limit=100),
        overdue=queries.overdue_by_agency(web.db, now),
        failed=queries.failed_email_count(web.db),
        week_end=week_end,
    )


@router.post("/inbox/{task_id}/take", response_class=HTMLResponse)
async def inbox_take(
    request: Request, web: WebDep, signed: StaffUser, found: VisibleTask, form: CsrfForm
) -> Response:
    """ "Assign to me", or give the item to a colleague (``to``), from "Waiting on you"."""
    show = shown(form)
    to = str(form.get("to") or "").strip() or None
    try:
        web.service.take(signed.actor, found.id, to)
    except (InvalidInput, NotFound, TransitionNotAllowed, ConcurrentUpdate) as exc:
        state = FormState(f"inbox-{found.id}-take", typed_values(form), [(INBOX_TOP, str(exc))])
        return dashboard_page(web, request, signed, show, state, 422)
    done = "taken" if to is None or to.lower() == signed.actor.id else "given"
    return RedirectResponse(f"/?show={show}&done={done}", status_code=303)


@router.post("/inbox/{task_id}/more-time", response_class=HTMLResponse)
async def inbox_more_time(
    request: Request, web: WebDep, signed: TaskUser, found: VisibleTask, form: CsrfForm
) -> Response:
    """Agree to more time (on the date asked for, or another) or decline it with a reason,
    from "Waiting on you" on the dashboard or the agency portal."""
    task_id = found.id
    show = shown(form)
    decision = str(form.get("decision") or "")
    if decision not in ("agree", "decline"):
        raise InvalidInput(f"unknown decision {decision!r}")
    key = f"inbox-{task_id}"
    reason = str(form.get("reason") or "").strip() or None
    errors: list[tuple[str, str]] = []
    new_due: date | None = None
    if decision == "agree":
        iso, problem = read_date(form, "new_due", "new deadline")
        if problem is not None:
            errors.append((f"{key}-new_due", problem))
        elif iso is not None:
            new_due = date.fromisoformat(iso)
    elif reason is None:
        errors.append((f"{key}-reason", "Enter why more time is not agreed"))
    if not errors:
        try:
            web.service.decide_more_time(
                signed.actor, task_id, decision == "agree", reason, new_due
            )
        except (InvalidInput, TransitionNotAllowed, ConcurrentUpdate) as exc:
            where = f"{key}-new_due" if decision == "agree" else f"{key}-reason"
            waiting = found.task.requested_due_on is not None and found.task.is_open
            errors.append((where if waiting else INBOX_TOP, str(exc)))
    agency = signed.actor.role == "agency"
    if errors:
        state = FormState(f"{key}-{decision}", typed_values(form), errors)
        page = portal_page if agency else dashboard_page
        return page(web, request, signed, show, state, 422)
    home = "/portal" if agency else "/"
    done = "agreed" if decision == "agree" else "declined"
    return RedirectResponse(f"{home}?show={show}&done={done}", status_code=303)


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
    errors += input_errors(form, wf.open_inputs)
    if errors:
        return new_activity_page(web, request, signed, name, FormState("open", typed, errors), 422)
    try:
        outcome = web.service.open_activity(
            signed.actor, name, title, codes, input_values(form, wf.open_inputs)
        )
    except (InvalidInput, PermissionDenied, NotFound) as exc:
        state = FormState("open", typed, field_errors(exc, wf.open_inputs))
        status = 403 if isinstance(exc, PermissionDenied) else 422
        return new_activity_page(web, request, signed, name, state, status)
    return RedirectResponse(f"/activities/{outcome.activity.ref}?done={OPENED}", status_code=303)


@router.get("/activities/{ref}", response_class=HTMLResponse)
async def activity_page(
    request: Request, web: WebDep, signed: StaffUser, ref: str, done: str = ""
) -> Response:
    return render_activity(web, request, signed, ref, None, done=done)


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
    return RedirectResponse(f"/activities/{activity.ref}?done={FIRED}{trigger}", status_code=303)


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


# ---------------------------------------------------------------------- confirming a cancel
@router.get("/activities/{ref}/confirm/{trigger}", response_class=HTMLResponse)
async def confirm_page(
    request: Request, web: WebDep, signed: StaffUser, ref: str, trigger: str
) -> Response:
    """What cancelling the activity will do, with the reason to give; changes nothing."""
    return render_confirm(web, request, signed, ref, trigger)


@router.post("/activities/{ref}/confirm/{trigger}", response_class=HTMLResponse)
async def confirm_fire(
    request: Request, web: WebDep, signed: StaffUser, form: CsrfForm, ref: str, trigger: str
) -> Response:
    """The confirmation page's warning button: cancel (or whatever the page confirmed)."""
    activity, wf, _a, _t = web.service.get_activity(ref)
    t = wf.transition_for(trigger, activity.state)
    expected = parse_int(form.get("expected_version"))
    typed = typed_values(form)
    reason = str(form.get("reason") or "").strip() or None
    try:
        if t is None:
            if expected is not None and expected != activity.version:
                raise ConcurrentUpdate(f"{activity.ref} changed")
            raise TransitionNotAllowed(f"'{trigger}' is not allowed now")
        if not warns(wf, t):
            raise NotFound(f"'{trigger}' needs no confirmation")
        missing = reason_missing(t, reason)
        if missing:
            state = FormState(f"fire-{trigger}", typed, missing)
            return render_confirm(web, request, signed, ref, trigger, None, state, 422)
        web.service.fire(
            signed.actor, activity.ref, trigger, input_values(form, t.inputs), reason, expected
        )
    except (ConcurrentUpdate, TransitionNotAllowed) as exc:
        return stale_page(web, request, activity.ref, exc)
    except InvalidInput as exc:
        specs = t.inputs if t else ()
        state = FormState(f"fire-{trigger}", typed, field_errors(exc, specs, trigger))
        return render_confirm(web, request, signed, ref, trigger, None, state, 422)
    return RedirectResponse(f"/activities/{activity.ref}?done={FIRED}{trigger}", status_code=303)
