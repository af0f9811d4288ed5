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

The activity page also records a meeting's judgements (a transition with a form): see
:func:`activity_context`, :func:`judgement_answers` and :func:`fire_errors`.

Every change goes through the service; these routes only read, check roles and agency
scope (another agency's form is not found), and check the CSRF token on every POST.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import col, select
from starlette.datastructures import FormData

from ..assessments import AnswerInput, AssessmentView, Moderation, scale_for
from ..definitions import InputSpec, TaskKind, TransitionDef, Workflow
from ..errors import (
    ConcurrentUpdate,
    InvalidInput,
    NotFound,
    PermissionDenied,
    SefError,
    TransitionNotAllowed,
)
from ..forms import Form, Level, Question, Scale
from ..models import STAFF_ROLES, Activity, Agency, Assessment, AssessmentAnswer, Finding, Task
from ..service import Disagreement
from . import auth
from .app import FormState, Web, _csv_safe, _field_error, _inputs, _int, _typed

#: who may moderate, record findings and raise actions (the service checks again)
MODERATORS = ("coordinator", "manager")
#: one problem with one question in a message from the service:
#: "Question 1.1 (standard 1): choose a rating"
QUESTION_PROBLEM = re.compile(
    r"\b[Qq]uestion (?P<number>[A-Za-z0-9][A-Za-z0-9._-]*) \(standard [^)]*\): (?P<message>[^;]+)"
)
#: what to say when a required field of an action is left empty
ACTION_FIELD_MESSAGES = {
    "description": "Describe the action",
    "lead_name": "Enter the name of the lead in the agency",
    "target_date": "Enter the target date",
}
FINDING_KINDS = (("finding", "Finding"), ("recommendation", "Recommendation"))
CHALLENGE_COLUMNS = [
    "agency_code",
    "agency",
    "question",
    "standard",
    "question_text",
    "self_rating",
    "moderated_rating",
    "difference",
    "reason",
]


# ---------------------------------------------------------------------- page models
@dataclass
class Row:
    """One question as a page shows it: what is chosen and typed, and what the panel said."""

    question: Question
    answer: AssessmentAnswer | None
    rating: str
    evidence: str
    #: carried forward from the last cycle and not yet looked at again (as stored)
    carried: bool
    #: the "this answer still holds" box is ticked
    confirmed: bool
    level: Level | None
    moderated: str = ""
    reason: str = ""
    moderated_level: Level | None = None

    @property
    def number(self) -> str:
        return self.question.number

    @property
    def needs_answer(self) -> bool:
        q = self.question
        if not self.rating:
            return q.required
        return q.evidence == "required" and not self.evidence.strip()

    @property
    def unreviewed(self) -> bool:
        """Carried forward and neither confirmed nor changed on the page."""
        if not self.carried or self.confirmed or self.answer is None:
            return False
        same_rating = self.rating == (self.answer.rating or "")
        same_evidence = self.evidence.strip() == (self.answer.evidence or "").strip()
        return same_rating and same_evidence


@dataclass
class JudgementForm:
    """A transition's judgements form on the activity page, with what was recorded before."""

    form: Form
    scale: Scale
    recorded: dict[str, str] = field(default_factory=dict)


@dataclass
class RecordedJudgements:
    """A meeting's judgements as stored: one rated row per question."""

    view: AssessmentView
    title: str
    rows: list[Row]


@dataclass
class AgencyChallenge:
    agency: str
    code: str
    rows: list[Disagreement]


# ---------------------------------------------------------------------- reading forms
def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    # browsers send a textarea's line breaks as CRLF: store one form of line break only
    return value.replace("\r\n", "\n") if isinstance(value, str) else ""


def read_answers(
    form: FormData, questions: Iterable[Question], reviewed: bool | None = None
) -> dict[str, AnswerInput]:
    """The answers posted for ``questions`` (``rating-<n>``, ``evidence-<n>``,
    ``reviewed-<n>``). A question none of whose fields was posted is left out, so a
    partial post never clears answers it did not show."""
    out: dict[str, AnswerInput] = {}
    for q in questions:
        names = (f"rating-{q.number}", f"evidence-{q.number}", f"reviewed-{q.number}")
        if not any(n in form for n in names):
            continue
        rating = _text(form, names[0]).strip() or None
        evidence = _text(form, names[1]).strip() or None
        held = form.get(names[2]) == "yes" if reviewed is None else reviewed
        out[q.number] = AnswerInput(rating=rating, evidence=evidence, reviewed=held)
    return out


def question_errors(
    message: str, anchor: str = "q-", names: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    """(anchor of the question, message) for each question a service error names;
    ``names`` gives a question a name other than "Question <number>"."""
    out: list[tuple[str, str]] = []
    for m in QUESTION_PROBLEM.finditer(message):
        number = m["number"]
        name = (names or {}).get(number, f"Question {number}")
        out.append((f"{anchor}{number}", f"{name}: {m['message'].strip().rstrip('.')}"))
    return out


def _level(scale: Scale, key: str | None) -> Level | None:
    if not key:
        return None
    try:
        return scale.level(key)
    except KeyError:
        return None


def rows_of(view: AssessmentView, typed: Mapping[str, str] | None = None) -> dict[str, Row]:
    """Each question of the view's form, as stored, or as typed when ``typed`` is given
    (a field that was not posted, like a radio group left alone, shows what is stored)."""
    shown = typed or {}
    rows: dict[str, Row] = {}
    for q in view.form.questions():
        n = q.number
        a = view.answers.get(n)
        stored = {
            "rating": (a.rating if a else None) or "",
            "evidence": (a.evidence if a else None) or "",
            "moderated": (a.moderated_rating if a else None) or "",
            "reason": (a.moderation_reason if a else None) or "",
        }
        rows[n] = Row(
            question=q,
            answer=a,
            rating=shown.get(f"rating-{n}", stored["rating"]),
            evidence=shown.get(f"evidence-{n}", stored["evidence"]),
            carried=a is not None and a.carried_forward and not a.reviewed,
            confirmed=shown.get(f"reviewed-{n}") == "yes",
            level=_level(view.scale, stored["rating"]),
            moderated=shown.get(f"moderated-{n}", stored["moderated"]),
            reason=shown.get(f"reason-{n}", stored["reason"]),
            moderated_level=_level(view.scale, stored["moderated"]),
        )
    return rows


# ---------------------------------------------------------------------- lookups
def moderation_kinds(wf: Workflow, return_kind: str) -> list[TaskKind]:
    """The task kinds that moderate ``return_kind``'s answers (guarded by answers_moderated)."""
    guard = f"answers_moderated:{return_kind}"
    return [k for k in wf.tasks.values() if any(guard in t.guards for t in k.transitions)]


def moderated_kind(kind: TaskKind) -> str | None:
    """The kind of return a moderation task moderates, or None for any other task."""
    for t in kind.transitions:
        for g in t.guards:
            name, _, arg = g.partition(":")
            if name == "answers_moderated" and arg:
                return arg
    return None


def moderation_task(web: Web, view: AssessmentView) -> Task | None:
    """The moderation task of the view's agency, if its workflow moderates this return."""
    if view.task is None:
        return None
    wf = web.workflow_of(view.activity)
    kinds = [k.name for k in moderation_kinds(wf, view.task.kind)]
    if not kinds:
        return None
    with web.db.read() as session:
        return session.exec(
            select(Task)
            .where(
                Task.activity_id == view.activity.id,
                col(Task.kind).in_(kinds),
                Task.agency_id == view.assessment.agency_id,
            )
            .order_by(col(Task.id).desc())
        ).first()


def submit_transition(web: Web, task: Task, activity: Activity) -> TransitionDef | None:
    kind = web.workflow_of(activity).tasks[task.kind]
    if kind.form_submit is None:
        return None
    return kind.transition_for(kind.form_submit, task.state)


def action_specs(web: Web) -> list[InputSpec]:
    """The inputs of an action, less the finding it answers (filled in from the finding)."""
    kind = web.app.registry.get("action_plan").tasks["action"]
    return [s for s in kind.inputs if s.name != "recommendation"]


def required_errors(
    form: FormData, specs: Sequence[InputSpec], prefix: str = ""
) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    for spec in specs:
        if spec.required and not str(form.get(f"in_{spec.name}") or "").strip():
            message = ACTION_FIELD_MESSAGES.get(spec.name, f"Enter “{spec.label}”")
            errors.append((f"{prefix}in_{spec.name}", message))
    return errors


def action_error(exc: SefError, specs: Sequence[InputSpec], prefix: str = "") -> tuple[str, str]:
    """(field id, message) for the service's refusal of an action: an input, or the agency."""
    message = str(exc)
    if "agency" in message and not any(f"'{s.name}'" in message for s in specs):
        return f"{prefix}agency", message
    field_id, message = _field_error(exc, specs)
    return f"{prefix}{field_id}", message


def active_agencies(web: Web) -> list[Agency]:
    return [a for a in web.service.list_agencies() if a.active]


def moderator(web: Web, request: Request) -> auth.SignedIn:
    """A member of staff who may moderate and raise actions; PermissionDenied otherwise."""
    signed = web.staff(request)
    if not signed.actor.may(MODERATORS):
        raise PermissionDenied(f"this page is not open to the {signed.actor.role} role")
    return signed


def stale_form(
    web: Web, request: Request, exc: SefError, back: str, what: str, state: str
) -> HTMLResponse:
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
    return web.error_page(request, 409, title, message, back=back, current_state=state)


# ---------------------------------------------------------------------- the activity page
def judgement_answers(
    web: Web, t: TransitionDef | None, form: FormData
) -> dict[str, AnswerInput] | None:
    """The ratings a judgements transition records, read from the activity page's form."""
    if t is None or t.form is None:
        return None
    return read_answers(form, web.service.forms.get(t.form).questions(), reviewed=True)


def fire_errors(
    web: Web, exc: SefError, t: TransitionDef | None, trigger: str, specs: Sequence[InputSpec]
) -> list[tuple[str, str]]:
    """The errors to show on a transition's form: one per question for a judgements form,
    each named by the area it judges."""
    if t is not None and t.form is not None:
        names = {q.number: q.text for q in web.service.forms.get(t.form).questions()}
        found = question_errors(str(exc), f"t-{trigger}-q-", names)
        if found:
            return found
    return [_field_error(exc, specs, trigger)]


def activity_context(
    web: Web, signed: auth.SignedIn, activity: Activity, wf: Workflow, tasks: Sequence[Task]
) -> dict[str, Any]:
    """What the activity page shows of assessments: judgements forms and what they recorded,
    links from tasks to their forms and moderation, the challenge list, and findings."""
    actor = signed.actor
    recorded: list[RecordedJudgements] = []
    by_stage: dict[str, AssessmentView] = {}
    with web.db.read() as session:
        ids = session.exec(
            select(Assessment.id)
            .where(Assessment.activity_id == activity.id, col(Assessment.task_id).is_(None))
            .order_by(col(Assessment.id))
        ).all()
    stages = {t.form_stage: t.title for t in wf.transitions if t.form is not None}
    for assessment_id in ids:
        if assessment_id is None:  # pragma: no cover - a stored row has an id
            continue
        view = web.service.assessment(actor, assessment_id)
        by_stage[view.assessment.stage] = view
        title = f"{view.form.title} ({stages.get(view.assessment.stage, view.assessment.stage)})"
        recorded.append(RecordedJudgements(view, title, list(rows_of(view).values())))
    judgement_forms: dict[str, JudgementForm] = {}
    for t in wf.transitions:
        if t.form is None or t.trigger in judgement_forms:
            continue
        form = web.service.forms.get(t.form)
        previous = by_stage.get(t.form_stage or "")
        values: dict[str, str] = {}
        if previous is not None:
            for n, a in previous.answers.items():
                values[f"rating-{n}"] = a.rating or ""
                values[f"evidence-{n}"] = a.evidence or ""
        judgement_forms[t.trigger] = JudgementForm(
            form, scale_for(web.service.forms, form, activity), values
        )
    links: dict[int, list[tuple[str, str]]] = {}
    for task in tasks:
        kind = wf.tasks[task.kind]
        if task.id is None:  # pragma: no cover - a stored row has an id
            continue
        if kind.form is not None:
            links.setdefault(task.id, []).append((f"/tasks/{task.id}/assessment", "Assessment"))
        if moderated_kind(kind) is not None:
            links.setdefault(task.id, []).append((f"/tasks/{task.id}/moderation", "Moderate"))
    may_record = actor.may(MODERATORS) and not wf.is_final(activity.state)
    return {
        "judgement_forms": judgement_forms,
        "judgements": recorded,
        "task_links": links,
        "challenge": any(moderated_kind(k) is not None for k in wf.tasks.values()),
        "findings": web.service.findings(activity.ref),
        "may_record": may_record,
        "finding_kinds": FINDING_KINDS,
        "all_agencies": active_agencies(web) if may_record else [],
        "action_specs": action_specs(web) if may_record else [],
    }


# ---------------------------------------------------------------------- pages
def assessment_page(
    web: Web,
    request: Request,
    signed: auth.SignedIn,
    task_id: int,
    typed: Mapping[str, str] | None = None,
    errors: Sequence[tuple[str, str]] = (),
    notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    task, activity = web.task_for(signed, task_id)
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
    return web.render(
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
    web: Web,
    request: Request,
    signed: auth.SignedIn,
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
        kind = web.workflow_of(view.activity).tasks[mod_task.kind]
        finish = next(
            (t for t in web.allowed(kind, mod_task.state, signed.actor) if moderated_kind_guard(t)),
            None,
        )
    return web.render(
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


def moderated_kind_guard(t: TransitionDef) -> bool:
    return any(g.startswith("answers_moderated:") for g in t.guards)


def question_action_page(
    web: Web,
    request: Request,
    signed: auth.SignedIn,
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
    return web.render(
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


def agencies_of(web: Web, activity: Activity) -> list[Agency]:
    return web.service.get_activity(activity.ref)[2]


def challenge_rows(web: Web, ref: str) -> list[AgencyChallenge]:
    groups: dict[str, AgencyChallenge] = {}
    for d in web.service.disagreements(ref):
        key = d.agency_code
        if key not in groups:
            groups[key] = AgencyChallenge(d.agency, d.agency_code, [])
        groups[key].rows.append(d)
    return list(groups.values())


# ---------------------------------------------------------------------- the portal
def portal_globals(web: Web) -> None:
    """Functions the portal and task pages call: an agency's assessments (with whether
    their feedback is out), and which return a moderation task moderates."""

    def agency_assessments(actor: Any, limit: int = 20) -> list[AssessmentView]:
        if actor is None or actor.role != "agency" or actor.agency_id is None:
            return []
        with web.db.read() as session:
            ids = session.exec(
                select(Assessment.task_id)
                .where(
                    Assessment.agency_id == actor.agency_id,
                    col(Assessment.task_id).is_not(None),
                )
                .order_by(col(Assessment.id).desc())
                .limit(limit)
            ).all()
        return [web.service.assessment_for_task(actor, i) for i in ids if i is not None]

    web.env.globals["agency_assessments"] = agency_assessments
    web.env.globals["moderated_kind"] = moderated_kind


# ---------------------------------------------------------------------- routes
def add_assessment_routes(web: Web) -> None:
    """Register the assessment, moderation, challenge and findings routes on ``web``."""
    api = web.fastapi
    portal_globals(web)

    @api.get("/tasks/{task_id}/assessment", response_class=HTMLResponse, include_in_schema=False)
    async def assessment_form(
        request: Request, task_id: int, saved: str = "", submitted: str = ""
    ) -> Response:
        signed = web.need(request, *STAFF_ROLES, "agency")
        notice = ""
        if saved:
            notice = "Your answers have been saved. You can come back and finish them later."
        elif submitted:
            notice = "Your assessment has been submitted. Thank you."
        return assessment_page(web, request, signed, task_id, notice=notice)

    @api.post("/tasks/{task_id}/assessment", response_class=HTMLResponse, include_in_schema=False)
    async def assessment_post(request: Request, task_id: int) -> Response:
        signed = web.need(request, *STAFF_ROLES, "agency")
        task, activity = web.task_for(signed, task_id)
        form = await web.form(request, signed)
        action = str(form.get("action") or "")
        if action not in ("save", "submit"):
            raise InvalidInput(f"unknown action {action!r}: save or submit")
        view = web.service.assessment_for_task(signed.actor, task_id)
        answers = read_answers(form, view.form.questions())
        expected = _int(form.get("expected_version"))
        typed = {k: v.replace("\r\n", "\n") for k, v in _typed(form).items()}
        try:
            if action == "save":
                web.service.save_answers(signed.actor, task_id, answers, expected)
            else:
                web.service.submit_assessment(signed.actor, task_id, answers, expected)
        except (ConcurrentUpdate, TransitionNotAllowed) as exc:
            state = web.workflow_of(activity).tasks[task.kind].states[task.state].title
            return stale_form(web, request, exc, f"/tasks/{task_id}/assessment", "this form", state)
        except InvalidInput as exc:
            errors = question_errors(str(exc)) or [("answers", str(exc))]
            return assessment_page(web, request, signed, task_id, typed, errors, status=422)
        done = "saved" if action == "save" else "submitted"
        return RedirectResponse(f"/tasks/{task_id}/assessment?{done}=1", status_code=303)

    @api.get("/tasks/{task_id}/moderation", include_in_schema=False)
    async def task_moderation(request: Request, task_id: int) -> Response:
        """From a moderation task to the agency's return: staff moderate it, the agency
        sees its feedback."""
        signed = web.need(request, *STAFF_ROLES, "agency")
        task, activity = web.task_for(signed, task_id)
        kind = moderated_kind(web.workflow_of(activity).tasks[task.kind])
        if kind is None:
            raise NotFound(f"task {task_id} moderates no assessment")
        with web.db.read() as session:
            found = session.exec(
                select(Assessment)
                .join(Task, col(Task.id) == col(Assessment.task_id))
                .where(
                    Task.activity_id == activity.id,
                    Task.kind == kind,
                    Assessment.agency_id == task.agency_id,
                )
                .order_by(col(Assessment.id).desc())
            ).first()
        if found is None or found.task_id is None:
            raise NotFound(f"no assessment to moderate for task {task_id}")
        if signed.actor.role in STAFF_ROLES:
            return RedirectResponse(f"/assessments/{found.id}/moderate", status_code=303)
        return RedirectResponse(f"/tasks/{found.task_id}/assessment", status_code=303)

    @api.get(
        "/assessments/{assessment_id}/moderate",
        response_class=HTMLResponse,
        include_in_schema=False,
    )
    async def moderate_form(request: Request, assessment_id: int, saved: str = "") -> Response:
        signed = moderator(web, request)
        notice = "The moderated ratings have been saved." if saved else ""
        return moderation_page(web, request, signed, assessment_id, notice=notice)

    @api.post(
        "/assessments/{assessment_id}/moderate",
        response_class=HTMLResponse,
        include_in_schema=False,
    )
    async def moderate_post(request: Request, assessment_id: int) -> Response:
        signed = moderator(web, request)
        form = await web.form(request, signed)
        action = str(form.get("action") or "save")
        view = web.service.assessment(signed.actor, assessment_id)
        ratings: dict[str, Moderation] = {}
        for q in view.form.questions():
            n = q.number
            rating = _text(form, f"moderated-{n}").strip()
            reason = _text(form, f"reason-{n}").strip() or None
            a = view.answers.get(n)
            if not rating and action == "agree_rest" and a is not None and a.rating:
                rating = a.rating
            if rating:
                ratings[n] = Moderation(rating=rating, reason=reason)
        typed = {k: v.replace("\r\n", "\n") for k, v in _typed(form).items()}
        try:
            web.service.moderate(
                signed.actor, assessment_id, ratings, _int(form.get("expected_version"))
            )
        except (ConcurrentUpdate, TransitionNotAllowed) as exc:
            state = "Moderation finished" if view.moderation_released else "Moderation"
            return stale_form(
                web,
                request,
                exc,
                f"/assessments/{assessment_id}/moderate",
                "the moderation",
                state,
            )
        except InvalidInput as exc:
            errors = question_errors(str(exc)) or [("moderation", str(exc))]
            return moderation_page(web, request, signed, assessment_id, typed, errors, status=422)
        return RedirectResponse(f"/assessments/{assessment_id}/moderate?saved=1", status_code=303)

    @api.get(
        "/assessments/{assessment_id}/questions/{number}/action",
        response_class=HTMLResponse,
        include_in_schema=False,
    )
    async def question_action_form(request: Request, assessment_id: int, number: str) -> Response:
        signed = moderator(web, request)
        return question_action_page(web, request, signed, assessment_id, number)

    @api.post(
        "/assessments/{assessment_id}/questions/{number}/action",
        response_class=HTMLResponse,
        include_in_schema=False,
    )
    async def question_action(request: Request, assessment_id: int, number: str) -> Response:
        signed = moderator(web, request)
        form = await web.form(request, signed)
        view = web.service.assessment(signed.actor, assessment_id)
        if number not in {q.number for q in view.form.questions()}:
            raise NotFound(f"no question '{number}' in form '{view.form.name}'")
        specs = action_specs(web)
        typed = _typed(form)
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
                signed.actor, assessment_id, number, _inputs(form, specs), agency
            )
        except (InvalidInput, NotFound, TransitionNotAllowed) as exc:
            state = FormState("action", typed, [action_error(exc, specs)])
            return question_action_page(web, request, signed, assessment_id, number, state, 422)
        assert outcome.task is not None
        return RedirectResponse(f"/tasks/{outcome.task.id}", status_code=303)

    @api.get("/activities/{ref}/challenge", response_class=HTMLResponse, include_in_schema=False)
    async def challenge(request: Request, ref: str) -> Response:
        web.staff(request)
        activity, wf, _agencies, _tasks = web.service.get_activity(ref)
        groups = challenge_rows(web, activity.ref)
        return web.render(
            request,
            "challenge.html",
            activity=activity,
            wf=wf,
            groups=groups,
            total=sum(len(g.rows) for g in groups),
        )

    @api.get("/activities/{ref}/challenge.csv", include_in_schema=False)
    async def challenge_csv(request: Request, ref: str) -> Response:
        web.staff(request)
        activity = web.service.get_activity(ref)[0]
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CHALLENGE_COLUMNS)
        for d in web.service.disagreements(activity.ref):
            writer.writerow(
                [
                    _csv_safe(d.agency_code),
                    _csv_safe(d.agency),
                    _csv_safe(d.question),
                    _csv_safe(d.standard),
                    _csv_safe(d.text),
                    _csv_safe(d.self_rating),
                    _csv_safe(d.moderated_rating),
                    d.difference,
                    _csv_safe(d.reason),
                ]
            )
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{activity.ref}-challenge.csv"',
                "Cache-Control": "no-store",
            },
        )

    @api.post("/activities/{ref}/findings", response_class=HTMLResponse, include_in_schema=False)
    async def record_finding(request: Request, ref: str) -> Response:
        signed = moderator(web, request)
        form = await web.form(request, signed)
        activity = web.service.get_activity(ref)[0]
        kind = str(form.get("kind") or "")
        text = _text(form, "text").strip()
        agency = str(form.get("agency") or "").strip() or None
        typed = _typed(form)
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
                return web.stale_page(request, activity.ref, exc)
            else:
                return RedirectResponse(
                    f"/activities/{activity.ref}#finding-{finding.id}", status_code=303
                )
        return web.activity_page(
            request, signed, activity.ref, FormState("finding", typed, errors), 422
        )

    @api.post(
        "/activities/{ref}/findings/{finding_id}/actions",
        response_class=HTMLResponse,
        include_in_schema=False,
    )
    async def finding_action(request: Request, ref: str, finding_id: int) -> Response:
        signed = moderator(web, request)
        form = await web.form(request, signed)
        activity = web.service.get_activity(ref)[0]
        with web.db.read() as session:
            finding = session.get(Finding, finding_id)
        if finding is None or finding.activity_id != activity.id:
            raise NotFound(f"{activity.ref} has no finding {finding_id}")
        specs = action_specs(web)
        prefix = f"f{finding_id}-"
        typed = _typed(form)
        agency = str(form.get("agency") or "").strip()
        errors = required_errors(form, specs, prefix)
        if not agency:
            errors.insert(0, (f"{prefix}agency", "Choose the agency that owns the action"))
        name = f"finding-{finding_id}"
        if not errors:
            try:
                web.service.raise_action(
                    signed.actor, activity.ref, agency, _inputs(form, specs), finding_id
                )
            except (InvalidInput, NotFound) as exc:
                errors.append(action_error(exc, specs, prefix))
            except TransitionNotAllowed as exc:
                return web.stale_page(request, activity.ref, exc)
            else:
                return RedirectResponse(
                    f"/activities/{activity.ref}#finding-{finding_id}", status_code=303
                )
        return web.activity_page(request, signed, activity.ref, FormState(name, typed, errors), 422)
