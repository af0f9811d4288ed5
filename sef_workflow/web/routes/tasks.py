"""Task pages: a task, firing its transitions (with a file attached), changing its deadline
(extend, pause, resume, waive), and downloading its files."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from ...errors import (
    ConcurrentUpdate,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TransitionNotAllowed,
)
from .. import queries
from ..activity_page import reason_missing, render_confirm, stale_page
from ..deps import CsrfForm, StaffUser, TaskUser, UploadForm, VisibleTask, WebDep
from ..forms import (
    FormState,
    clean_name,
    field_errors,
    input_values,
    parse_int,
    read_date,
    size_text,
    typed_values,
)
from ..rendering import error_page
from ..scope import task_for, warns, workflow_of
from ..task_page import FIRED, WITH_FILE, render_task
from ..uploads import Stored, discard, record_upload, store_upload

router = APIRouter(include_in_schema=False)
DEADLINE_ACTIONS = ("extend", "pause", "resume", "waive")


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
async def task_page(
    request: Request, web: WebDep, signed: TaskUser, task_id: int, done: str = ""
) -> Response:
    return render_task(web, request, signed, task_id, None, done=done)


@router.post("/tasks/{task_id}/fire", response_class=HTMLResponse)
async def fire_task(
    request: Request,
    web: WebDep,
    signed: TaskUser,
    found: VisibleTask,
    form: UploadForm,
) -> Response:
    task_id, task, activity = found
    if isinstance(form, InvalidInput):  # the request was too large to read: nothing read
        return error_page(
            request,
            413,
            "The file is too large",
            f"{str(form).capitalize()}. Nothing was saved.",
            back=f"/tasks/{task_id}",
        )
    kind = workflow_of(web, activity).tasks[task.kind]
    trigger = str(form.get("trigger") or "")
    t = kind.transition_for(trigger, task.state)
    expected = parse_int(form.get("expected_version"))
    typed = typed_values(form)
    specs = t.inputs if t else ()
    stored: Stored | None = None
    try:
        if t is None:
            if expected is not None and expected != task.version:
                raise ConcurrentUpdate(f"task {task_id} changed")
            raise TransitionNotAllowed(f"'{trigger}' is not allowed now")
        if not signed.actor.may(t.roles):
            raise PermissionDenied(f"{signed.actor.role} may not '{trigger}' task {task_id}")
        inputs = input_values(form, specs)
        file = form.get("upload")
        if isinstance(file, UploadFile) and file.filename:
            stored = await store_upload(file, web.settings.upload_limit, web.settings.upload_dir)
            note = f"Attached file: {clean_name(file.filename)} ({size_text(stored[2])})"
            text = next((s.name for s in specs if s.type == "text"), None)
            if text is not None:
                typed_text = str(inputs.get(text) or "").strip()
                inputs[text] = f"{typed_text}\n\n{note}".strip()
        web.service.fire_task(
            signed.actor,
            task_id,
            trigger,
            inputs,
            str(form.get("reason") or "") or None,
            expected,
        )
    except (ConcurrentUpdate, TransitionNotAllowed) as exc:
        discard(stored)
        return stale_page(web, request, activity.ref, exc, task_id)
    except InvalidInput as exc:
        discard(stored)
        state = FormState(f"fire-{trigger}", typed, field_errors(exc, specs, trigger))
        return render_task(web, request, signed, task_id, state, 422)
    except BaseException:
        discard(stored)
        raise
    done = f"{FIRED}{trigger}"
    if stored is not None:
        record_upload(web.db, task_id, stored, signed.actor, web.now())
        done += WITH_FILE
    return RedirectResponse(f"/tasks/{task_id}?done={done}", status_code=303)


@router.post("/tasks/{task_id}/deadline", response_class=HTMLResponse)
async def deadline(
    request: Request, web: WebDep, signed: StaffUser, form: CsrfForm, task_id: int
) -> Response:
    task_for(web, signed, task_id)
    action = str(form.get("action") or "")
    reason = str(form.get("reason") or "").strip()
    approver = str(form.get("approver") or "").strip() or None
    typed = typed_values(form)
    name = f"deadline-{action}"
    errors: list[tuple[str, str]] = []
    if action not in DEADLINE_ACTIONS:
        raise InvalidInput(f"unknown deadline action {action!r}")
    if not reason:
        errors.append((f"{name}-reason", "Enter a reason"))
    new_due: date | None = None
    if action == "extend":
        iso, problem = read_date(form, "new_due", "New due date")
        if problem is not None:
            errors.append((f"{name}-new_due", problem))
        elif iso is not None:
            new_due = date.fromisoformat(iso)
    if action == "waive" and not approver:
        errors.append((f"{name}-approver", "Enter who approved the waiver"))
    if errors:
        return render_task(web, request, signed, task_id, FormState(name, typed, errors), 422)
    try:
        if action == "extend":
            assert new_due is not None
            web.service.extend_deadline(signed.actor, task_id, new_due, reason, approver)
        elif action == "pause":
            web.service.pause_deadline(signed.actor, task_id, reason)
        elif action == "resume":
            web.service.resume_deadline(signed.actor, task_id, reason)
        else:
            assert approver is not None
            web.service.waive_deadline(signed.actor, task_id, reason, approver)
    except (InvalidInput, TransitionNotAllowed) as exc:
        error = (f"{name}-reason", str(exc))
        if "needs an approver" in str(exc):
            error = (f"{name}-approver", "Enter the manager who approved it: their email address")
        state = FormState(name, typed, [error])
        return render_task(web, request, signed, task_id, state, 422)
    done = {"extend": "extended", "pause": "paused", "resume": "resumed", "waive": "waived"}
    return RedirectResponse(f"/tasks/{task_id}?done={done[action]}", status_code=303)


@router.post("/tasks/{task_id}/give", response_class=HTMLResponse)
async def give_task(
    request: Request, web: WebDep, signed: TaskUser, found: VisibleTask, form: CsrfForm
) -> Response:
    """Give the task to one of its agency's people, or to a colleague added as one."""
    task_id = found.id
    typed = typed_values(form)
    chosen = str(form.get("to") or "").strip()
    name = str(form.get("name") or "").strip() or None
    note = str(form.get("note") or "").strip() or None
    email = chosen if chosen and chosen != "other" else str(form.get("email") or "").strip()
    errors: list[tuple[str, str]] = []
    if not chosen:
        errors.append(("give-to", "Choose who to give the task to"))
    elif chosen == "other":
        if not email:
            errors.append(("give-email", "Enter the colleague's email address"))
        if not name:
            errors.append(("give-name", "Enter the colleague's name"))
    if errors:
        return render_task(web, request, signed, task_id, FormState("give", typed, errors), 422)
    try:
        web.service.give_task(signed.actor, task_id, email, name, note)
    except TransitionNotAllowed as exc:  # closed meanwhile: the page was out of date
        return stale_page(web, request, found.activity.ref, exc, task_id)
    except InvalidInput as exc:
        where = "give-email" if chosen == "other" else "give-to"
        state = FormState("give", typed, [(where, str(exc))])
        return render_task(web, request, signed, task_id, state, 422)
    return RedirectResponse(f"/tasks/{task_id}?done=given", status_code=303)


@router.post("/tasks/{task_id}/more-time", response_class=HTMLResponse)
async def more_time(
    request: Request, web: WebDep, signed: TaskUser, found: VisibleTask, form: CsrfForm
) -> Response:
    """Agree to, or decline, the date the agency asked for."""
    task_id = found.id
    decision = str(form.get("decision") or "")
    reason = str(form.get("reason") or "").strip() or None
    typed = typed_values(form)
    if decision not in ("agree", "decline"):
        raise InvalidInput(f"unknown decision {decision!r}")
    if decision == "decline" and reason is None:
        state = FormState("more-time-decline", typed, [("more-time-reason", "Enter why not")])
        return render_task(web, request, signed, task_id, state, 422)
    try:
        web.service.decide_more_time(signed.actor, task_id, decision == "agree", reason)
    except TransitionNotAllowed as exc:  # decided or answered meanwhile
        return stale_page(web, request, found.activity.ref, exc, task_id)
    except InvalidInput as exc:
        name = f"more-time-{decision}"
        state = FormState(name, typed, [("more-time-reason", str(exc))])
        return render_task(web, request, signed, task_id, state, 422)
    done = "agreed" if decision == "agree" else "declined"
    return RedirectResponse(f"/tasks/{task_id}?done={done}", status_code=303)


@router.get("/uploads/{upload_id}")
async def download(web: WebDep, signed: TaskUser, upload_id: int) -> Response:
    found = queries.upload(web.db, upload_id)
    if found is None:
        raise NotFound(f"file {upload_id} not found")
    row, task = found
    assert task.id is not None
    task_for(web, signed, task.id)
    path = web.settings.upload_dir / row.stored_name
    if not path.is_file():
        raise NotFound(f"file {upload_id} is no longer stored")
    return FileResponse(
        path,
        media_type=row.content_type,
        filename=row.original_name,
        headers={"X-Content-Type-Options": "nosniff"},
    )


# ---------------------------------------------------------------------- confirming a withdraw
@router.get("/tasks/{task_id}/confirm/{trigger}", response_class=HTMLResponse)
async def confirm_page(
    request: Request, web: WebDep, signed: TaskUser, found: VisibleTask, trigger: str
) -> Response:
    """What withdrawing the task will do, with the reason to give; changes nothing."""
    return render_confirm(web, request, signed, found.activity.ref, trigger, found.id)


@router.post("/tasks/{task_id}/confirm/{trigger}", response_class=HTMLResponse)
async def confirm_fire(
    request: Request,
    web: WebDep,
    signed: TaskUser,
    found: VisibleTask,
    form: CsrfForm,
    trigger: str,
) -> Response:
    """The confirmation page's warning button: withdraw the task."""
    task_id, task, activity = found
    kind = workflow_of(web, activity).tasks[task.kind]
    t = kind.transition_for(trigger, task.state)
    expected = parse_int(form.get("expected_version"))
    typed = typed_values(form)
    reason = str(form.get("reason") or "").strip() or None
    ref = activity.ref
    try:
        if t is None:
            if expected is not None and expected != task.version:
                raise ConcurrentUpdate(f"task {task_id} changed")
            raise TransitionNotAllowed(f"'{trigger}' is not allowed now")
        if not warns(kind, t):
            raise NotFound(f"'{trigger}' needs no confirmation")
        missing = reason_missing(t, reason)
        if missing:
            state = FormState(f"fire-{trigger}", typed, missing)
            return render_confirm(web, request, signed, ref, trigger, task_id, state, 422)
        web.service.fire_task(
            signed.actor, task_id, trigger, input_values(form, t.inputs), reason, expected
        )
    except (ConcurrentUpdate, TransitionNotAllowed) as exc:
        return stale_page(web, request, ref, exc, task_id)
    except InvalidInput as exc:
        specs = t.inputs if t else ()
        state = FormState(f"fire-{trigger}", typed, field_errors(exc, specs, trigger))
        return render_confirm(web, request, signed, ref, trigger, task_id, state, 422)
    return RedirectResponse(f"/tasks/{task_id}?done={FIRED}{trigger}", status_code=303)
