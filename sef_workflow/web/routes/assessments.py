"""The assessment pages: an agency's form, moderation, the challenge list and findings.

- ``/tasks/{id}/assessment``: the agency completes its form (save part-way, come back,
  submit); staff read it. After moderation is released the agency sees its feedback.
- ``/assessments/{id}/moderate``: the moderation panel records a moderated rating, and a
  reason where it differs, for each answer; ``/assessments/{id}/questions/{q}/action``
  raises an action on one question.
- ``/activities/{ref}/challenge`` (and ``.csv``): every answer moderated differently from
  the agency's own rating, for the challenge event.
- ``/activities/{ref}/findings``: findings and recommendations of an activity, and the
  actions raised on them (the list and forms sit on the activity page).

Every change goes through the service; these routes only read, check roles and agency
scope (another agency's form is not found), and check the CSRF token on every POST.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import col, select

from ...assessments import Moderation
from ...definitions import TransitionDef
from ...errors import (
    ConcurrentUpdate,
    InvalidInput,
    NotFound,
    PermissionDenied,
    SefError,
    TransitionNotAllowed,
)
from ...models import STAFF_ROLES, Assessment, Finding, Task
from ..activity_page import render_activity, stale_page
from ..assessment_views import (
    FINDING_KINDS,
    MODERATORS,
    action_error,
    action_specs,
    agencies_of,
    challenge_rows,
    moderated_kind,
    moderated_kind_guard,
    moderation_task,
    question_errors,
    read_answers,
    required_errors,
    rows_of,
    submit_transition,
)
from ..auth import SignedIn
from ..deps import CsrfForm, StaffUser, TaskUser, VisibleTask, WebDep
from ..forms import FormState, input_values, parse_int, text_field, typed_values
from ..rendering import error_page, render
from ..scope import allowed, task_for, workflow_of
from ..state import WebState

router = APIRouter(include_in_schema=False)


async def moderator(signed: StaffUser) -> SignedIn:
    """A member of staff who may moderate and raise actions; PermissionDenied otherwise."""
    if not signed.actor.may(MODERATORS):
        raise PermissionDenied(f"this page is not open to the {signed.actor.role} role")
    return signed


Moderator = Annotated[SignedIn, Depends(moderator)]


# ---------------------------------------------------------------------- an agency's form
@router.get("/tasks/{task_id}/assessment", response_class=HTMLResponse)
async def assessment_form(
    request: Request,
    web: WebDep,
    signed: TaskUser,
    task_id: int,
    saved: str = "",
    submitted: str = "",
) -> Response:
    notice = ""
    if saved:
        notice = "Your answers have been saved. You can come back and finish them later."
    elif submitted:
        notice = "Your assessment has been submitted. Thank you."
    return assessment_page(web, request, signed, task_id, notice=notice)


@router.post("/tasks/{task_id}/assessment", response_class=HTMLResponse)
async def assessment_post(
    request: Request,
    web: WebDep,
    signed: TaskUser,
    found: VisibleTask,
    form: CsrfForm,
) -> Response:
    task_id, task, activity = found
    action = str(form.get("action") or "")
    if action not in ("save", "submit"):
        raise InvalidInput(f"unknown action {action!r}: save or submit")
    view = web.service.assessment_for_task(signed.actor, task_id)
    answers = read_answers(form, view.form.questions())
    expected = parse_int(form.get("expected_version"))
    typed = {k: v.replace("\r\n", "\n") for k, v in typed_values(form).items()}
    try:
        if action == "save":
            web.service.save_answers(signed.actor, task_id, answers, expected)
        else:
            web.service.submit_assessment(signed.actor, task_id, answers, expected)
    except (ConcurrentUpdate, TransitionNotAllowed) as exc:
        state = workflow_of(web, activity).tasks[task.kind].states[task.state].title
        return stale_form(request, exc, f"/tasks/{task_id}/assessment", "this form", state)
    except InvalidInput as exc:
        errors = question_errors(str(exc)) or [("answers", str(exc))]
        return assessment_page(web, request, signed, task_id, typed, errors, status=422)
    done = "saved" if action == "save" else "submitted"
    return RedirectResponse(f"/tasks/{task_id}/assessment?{done}=1", status_code=303)


@router.get("/tasks/{task_id}/moderation")
async def task_moderation(web: WebDep, signed: TaskUser, found: VisibleTask) -> Response:
    """From a moderation task to the agency's return: staff moderate it, the agency
    sees its feedback."""
    task_id, task, activity = found
    kind = moderated_kind(workflow_of(web, activity).tasks[task.kind])
    if kind is None:
        raise NotFound(f"task {task_id} moderates no assessment")
    with web.db.read() as session:
        assessment = session.exec(
            select(Assessment)
            .join(Task, col(Task.id) == col(Assessment.task_id))
            .where(
                Task.activity_id == activity.id,
                Task.kind == kind,
                Assessment.agency_id == task.agency_id,
            )
            .order_by(col(Assessment.id).desc())
        ).first()
    if assessment is None or assessment.task_id is None:
        raise NotFound(f"no assessment to moderate for task {task_id}")
    if signed.actor.role in STAFF_ROLES:
        return RedirectResponse(f"/assessments/{assessment.id}/moderate", status_code=303)
    return RedirectResponse(f"/tasks/{assessment.task_id}/assessment", status_code=303)


# ---------------------------------------------------------------------- moderation
@router.get("/assessments/{assessment_id}/moderate", response_class=HTMLResponse)
async def moderate_form(
    request: Request, web: WebDep, signed: Moderator, assessment_id: int, saved: str = ""
) -> Response:
    notice = "The moderated ratings have been saved." if saved else ""
    return moderation_page(web, request, signed, assessment_id, notice=notice)


@router.post("/assessments/{assessment_id}/moderate", response_class=HTMLResponse)
async def moderate_post(
    request: Request, web: WebDep, signed: Moderator, form: CsrfForm, assessment_id: int
) -> Response:
    action = str(form.get("action") or "save")
    view = web.service.assessment(signed.actor, assessment_id)
    ratings: dict[str, Moderation] = {}
    for q in view.form.questions():
        n = q.number
        rating = text_field(form, f"moderated-{n}").strip()
        reason = text_field(form, f"reason-{n}").strip() or None
        a = view.answers.get(n)
        if not rating and action == "agree_rest" and a is not None and a.rating:
            rating = a.rating
        if rating:
            ratings[n] = Moderation(rating=rating, reason=reason)
    typed = {k: v.replace("\r\n", "\n") for k, v in typed_values(form).items()}
    try:
        web.service.moderate(
            signed.actor, assessment_id, ratings, parse_int(form.get("expected_version"))
        )
    except (ConcurrentUpdate, TransitionNotAllowed) as exc:
        state = "Moderation finished" if view.moderation_released else "Moderation"
        back = f"/assessments/{assessment_id}/moderate"
        return stale_form(request, exc, back, "the moderation", state)
    except InvalidInput as exc:
        errors = question_errors(str(exc)) or [("moderation", str(exc))]
        return moderation_page(web, request, signed, assessment_id, typed, errors, status=422)
    return RedirectResponse(f"/assessments/{assessment_id}/moderate?saved=1", status_code=303)


@router.get("/assessments/{assessment_id}/questions/{number}/action", response_class=HTMLResponse)
async def question_action_form(
    request: Request, web: WebDep, signed: Moderator, assessment_id: int, number: str
) -> Response:
    return question_action_page(web, request, signed, assessment_id, number)


@router.post("/assessments/{assessment_id}/questions/{number}/action", response_class=HTMLResponse)
async def question_action(
    request: Request,
    web: WebDep,
    signed: Moderator,
    form: CsrfForm,
    assessment_id: int,
    number: str,
) -> Response:
    view = web.service.assessment(signed.actor, assessment_id)
    if number not in {q.number for q in view.form.questions()}:
        raise NotFound(f"no question '{number}' in form '{view.form.name}'")
    specs = action_specs(web)
    typed = typed_values(form)
    errors = required_errors(form, specs)
    agency: str | None = None
    if view.agency is None:
        agency = str(form.get("agency") or "").strip() or None
        if agency is None:
            errors.insert(0, ("agency", "Choose the agency that owns the action"))
    if errors:
        state = FormState("action", typed, errors)
        return question_action_page(web, request, signed, assessment_id, number, state, 422)
    try:
        outcome = web.service.raise_action_from_question(
            signed.actor, assessment_id, number, input_values(form, specs), agency
        )
    except (InvalidInput, NotFound, TransitionNotAllowed) as exc:
        state = FormState("action", typed, [action_error(exc, specs)])
        return question_action_page(web, request, signed, assessment_id, number, state, 422)
    assert outcome.task is not None
    return RedirectResponse(f"/tasks/{outcome.task.id}", status_code=303)


# ---------------------------------------------------------------------- challenge and findings
@router.get("/activities/{ref}/challenge", response_class=HTMLResponse)
async def challenge(request: Request, web: WebDep, _staff: StaffUser, ref: str) -> Response:
    activity, wf, _agencies, _tasks = web.service.get_activity(ref)
    groups = challenge_rows(web, activity.ref)
    return render(
        request,
        "challenge.html",
        activity=activity,
        wf=wf,
        groups=groups,
        total=sum(len(g.rows) for g in groups),
    )


@router.get("/activities/{ref}/challenge.csv")
async def challenge_csv(web: WebDep, _staff: StaffUser, ref: str) -> Response:
    from ...reports.export import challenge_csv as as_csv

    activity = web.service.get_activity(ref)[0]
    return Response(
        as_csv(web.service.disagreements(activity.ref)),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{activity.ref}-challenge.csv"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/activities/{ref}/findings", response_class=HTMLResponse)
async def record_finding(
    request: Request, web: WebDep, signed: Moderator, form: CsrfForm, ref: str
) -> Response:
    activity = web.service.get_activity(ref)[0]
    kind = str(form.get("kind") or "")
    text = text_field(form, "text").strip()
    agency = str(form.get("agency") or "").strip() or None
    typed = typed_values(form)
    errors: list[tuple[str, str]] = []
    if kind not in dict(FINDING_KINDS):
        errors.append(("finding-kind", "Choose finding or recommendation"))
    if not text:
        errors.append(("finding-text", "Enter the finding or recommendation"))
    if not errors:
        try:
            finding = web.service.record_finding(signed.actor, activity.ref, kind, text, agency)
        except InvalidInput as exc:
            errors.append(("finding-text", str(exc)))
        except TransitionNotAllowed as exc:
            return stale_page(web, request, activity.ref, exc)
        else:
            return RedirectResponse(
                f"/activities/{activity.ref}#finding-{finding.id}", status_code=303
            )
    state = FormState("finding", typed, errors)
    return render_activity(web, request, signed, activity.ref, state, 422)


@router.post("/activities/{ref}/findings/{finding_id}/actions", response_class=HTMLResponse)
async def finding_action(
    request: Request,
    web: WebDep,
    signed: Moderator,
    form: CsrfForm,
    ref: str,
    finding_id: int,
) -> Response:
    activity = web.service.get_activity(ref)[0]
    with web.db.read() as session:
        finding = session.get(Finding, finding_id)
    if finding is None or finding.activity_id != activity.id:
        raise NotFound(f"{activity.ref} has no finding {finding_id}")
    specs = action_specs(web)
    prefix = f"f{finding_id}-"
    typed = typed_values(form)
    agency = str(form.get("agency") or "").strip()
    errors = required_errors(form, specs, prefix)
    if not agency:
        errors.insert(0, (f"{prefix}agency", "Choose the agency that owns the action"))
    name = f"finding-{finding_id}"
    if not errors:
        try:
            web.service.raise_action(
                signed.actor, activity.ref, agency, input_values(form, specs), finding_id
            )
        except (InvalidInput, NotFound) as exc:
            errors.append(action_error(exc, specs, prefix))
        except TransitionNotAllowed as exc:
            return stale_page(web, request, activity.ref, exc)
        else:
            return RedirectResponse(
                f"/activities/{activity.ref}#finding-{finding_id}", status_code=303
            )
    return render_activity(web, request, signed, activity.ref, FormState(name, typed, errors), 422)


# ---------------------------------------------------------------------- pages
def stale_form(request: Request, exc: SefError, back: str, what: str, state: str) -> HTMLResponse:
    """Someone else saved first, or the form can no longer be changed: nothing was saved."""
    if isinstance(exc, ConcurrentUpdate):
        title = f"Someone else changed {what}"
        message = (
            f"Someone else saved {what} while you had the page open, so nothing you sent "
            "was saved. Open it again to see what they saved, then make your changes."
        )
    else:
        title = f"{what[0].upper()}{what[1:]} can no longer be changed"
        message = f"{exc}. Nothing you sent was saved."
    return error_page(request, 409, title, message, back=back, current_state=state)


def assessment_page(
    web: WebState,
    request: Request,
    signed: SignedIn,
    task_id: int,
    typed: Mapping[str, str] | None = None,
    errors: Sequence[tuple[str, str]] = (),
    notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    task, activity = task_for(web, signed, task_id)
    actor = signed.actor
    view = web.service.assessment_for_task(actor, task_id)
    t = submit_transition(web, task, activity)
    editable = view.editable and t is not None and actor.may(t.roles)
    is_staff = actor.role in STAFF_ROLES
    rows = rows_of(view, typed if editable else None)
    mod_task = moderation_task(web, view)
    has_moderation = any(a.moderated_rating for a in view.answers.values())
    show_moderation = view.moderation_released if not is_staff else has_moderation
    summary = ""
    if mod_task is not None and view.moderation_released:
        summary = str(mod_task.data.get("moderation_summary") or "")
    may_moderate = (
        is_staff
        and actor.may(MODERATORS)
        and mod_task is not None
        and view.assessment.status == "submitted"
        and not view.moderation_released
    )
    return render(
        request,
        "assessment.html",
        status=status,
        view=view,
        task=task,
        activity=activity,
        rows=rows,
        editable=editable,
        to_complete=sum(1 for r in rows.values() if r.needs_answer),
        unreviewed=sum(1 for r in rows.values() if r.unreviewed),
        errors=list(errors),
        notice=notice,
        show_moderation=show_moderation,
        moderation_summary=summary,
        may_moderate=may_moderate,
        submitter=t,
    )


def moderation_page(
    web: WebState,
    request: Request,
    signed: SignedIn,
    assessment_id: int,
    typed: Mapping[str, str] | None = None,
    errors: Sequence[tuple[str, str]] = (),
    notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    view = web.service.assessment(signed.actor, assessment_id)
    if view.task is None:
        raise NotFound(
            f"assessment {assessment_id} records a meeting's judgements: nothing to moderate"
        )
    open_for_moderation = view.assessment.status == "submitted" and not view.moderation_released
    rows = rows_of(view, typed if open_for_moderation else None)
    mod_task = moderation_task(web, view)
    finish: TransitionDef | None = None
    if mod_task is not None and mod_task.is_open:
        kind = workflow_of(web, view.activity).tasks[mod_task.kind]
        finish = next(
            (t for t in allowed(kind, mod_task.state, signed.actor) if moderated_kind_guard(t)),
            None,
        )
    return render(
        request,
        "moderation.html",
        status=status,
        view=view,
        rows=rows,
        open_for_moderation=open_for_moderation,
        moderated=sum(
            1 for r in rows.values() if r.answer is not None and r.answer.moderated_rating
        ),
        differ=len(view.disagreements()),
        mod_task=mod_task,
        finish=finish,
        form=FormState(""),
        errors=list(errors),
        notice=notice,
    )


def question_action_page(
    web: WebState,
    request: Request,
    signed: SignedIn,
    assessment_id: int,
    number: str,
    state: FormState | None = None,
    status: int = 200,
) -> HTMLResponse:
    view = web.service.assessment(signed.actor, assessment_id)
    try:
        question = view.form.question(number)
    except KeyError:
        raise NotFound(f"no question '{number}' in form '{view.form.name}'") from None
    row = rows_of(view)[number]
    agencies = [] if view.agency is not None else agencies_of(web, view.activity)
    return render(
        request,
        "findings.html",
        status=status,
        view=view,
        question=question,
        row=row,
        specs=action_specs(web),
        agencies=agencies,
        form=state or FormState("action"),
        back=(
            f"/assessments/{assessment_id}/moderate"
            if view.task is not None
            else f"/activities/{view.activity.ref}"
        ),
    )
