"""What the assessment pages show and read: a question as a page shows it, the answers and
errors a form posts, which tasks moderate which returns, the actions a finding or a
question raises, and what the activity page shows of assessments (a meeting's judgements
forms and what they recorded, links from tasks to their forms, findings).

The portal and task pages call :func:`portal_globals`' functions from their templates."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import col, select
from starlette.datastructures import FormData

from ..assessments import AnswerInput, AssessmentView, scale_for
from ..definitions import InputSpec, TaskKind, TransitionDef, Workflow
from ..errors import SefError
from ..forms import Form, Level, Question, Scale
from ..models import Activity, Agency, Assessment, AssessmentAnswer, Task
from ..service import Disagreement
from .auth import SignedIn
from .forms import field_error, field_errors, posted_value, text_field
from .scope import workflow_of
from .state import WebState

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
        rating = text_field(form, names[0]).strip() or None
        evidence = text_field(form, names[1]).strip() or None
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


def moderation_task(web: WebState, view: AssessmentView) -> Task | None:
    """The moderation task of the view's agency, if its workflow moderates this return."""
    if view.task is None:
        return None
    wf = workflow_of(web, view.activity)
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


def submit_transition(web: WebState, task: Task, activity: Activity) -> TransitionDef | None:
    kind = workflow_of(web, activity).tasks[task.kind]
    if kind.form_submit is None:
        return None
    return kind.transition_for(kind.form_submit, task.state)


def action_specs(web: WebState) -> list[InputSpec]:
    """The inputs of an action, less the finding it answers (filled in from the finding)."""
    kind = web.app.registry.get("action_plan").tasks["action"]
    return [s for s in kind.inputs if s.name != "recommendation"]


def required_errors(
    form: FormData, specs: Sequence[InputSpec], prefix: str = ""
) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    for spec in specs:
        if spec.required and not posted_value(form, spec):
            message = ACTION_FIELD_MESSAGES.get(spec.name, f"Enter “{spec.label}”")
            errors.append((f"{prefix}in_{spec.name}", message))
    return errors


def action_error(exc: SefError, specs: Sequence[InputSpec], prefix: str = "") -> tuple[str, str]:
    """(field id, message) for the service's refusal of an action: an input, or the agency."""
    message = str(exc)
    if "agency" in message and not any(f"'{s.name}'" in message for s in specs):
        return f"{prefix}agency", message
    field_id, message = field_error(exc, specs)
    return f"{prefix}{field_id}", message


def active_agencies(web: WebState) -> list[Agency]:
    return [a for a in web.service.list_agencies() if a.active]


# ---------------------------------------------------------------------- the activity page
def judgement_answers(
    web: WebState, t: TransitionDef | None, form: FormData
) -> dict[str, AnswerInput] | None:
    """The ratings a judgements transition records, read from the activity page's form."""
    if t is None or t.form is None:
        return None
    return read_answers(form, web.service.forms.get(t.form).questions(), reviewed=True)


def fire_errors(
    web: WebState, exc: SefError, t: TransitionDef | None, trigger: str, specs: Sequence[InputSpec]
) -> list[tuple[str, str]]:
    """The errors to show on a transition's form: one per question for a judgements form,
    each named by the area it judges."""
    if t is not None and t.form is not None:
        names = {q.number: q.text for q in web.service.forms.get(t.form).questions()}
        found = question_errors(str(exc), f"t-{trigger}-q-", names)
        if found:
            return found
    return field_errors(exc, specs, trigger)


def activity_context(
    web: WebState, signed: SignedIn, activity: Activity, wf: Workflow, tasks: Sequence[Task]
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


def moderated_kind_guard(t: TransitionDef) -> bool:
    return any(g.startswith("answers_moderated:") for g in t.guards)


def agencies_of(web: WebState, activity: Activity) -> list[Agency]:
    return web.service.get_activity(activity.ref)[2]


def challenge_rows(web: WebState, ref: str) -> list[AgencyChallenge]:
    groups: dict[str, AgencyChallenge] = {}
    for d in web.service.disagreements(ref):
        key = d.agency_code
        if key not in groups:
            groups[key] = AgencyChallenge(d.agency, d.agency_code, [])
        groups[key].rows.append(d)
    return list(groups.values())


# ---------------------------------------------------------------------- the portal
def portal_globals(web: WebState) -> None:
    """Functions the portal and task pages call: an agency's assessments (with whether
    their feedback is out), and which return a moderation task moderates."""

    def agency_assessments(actor: Any, limit: int = 20) -> list[AssessmentView]:
        if actor is None or actor.role != "agency" or actor.agency_id is None:
            return []
        with web.db.read() as session:
            tasks = session.exec(
                select(Task)
                .join(Assessment, col(Assessment.task_id) == col(Task.id))
                .where(Assessment.agency_id == actor.agency_id)
                .order_by(col(Assessment.id).desc())
                .limit(limit)
            ).all()
        # a named contact sees the forms of the tasks meant for them only
        return [
            web.service.assessment_for_task(actor, t.id)
            for t in tasks
            if t.id is not None and actor.sees(t)
        ]

    web.env.globals["agency_assessments"] = agency_assessments
    web.env.globals["moderated_kind"] = moderated_kind
