"""Assessments: forms completed answer by answer, carried forward, checked and moderated.

These helpers work inside a transaction the service opened; only
:class:`sef_workflow.service.Service` calls the ones that write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from .definitions import Workflow
from .errors import DefinitionError, InvalidInput
from .forms import Form, FormRegistry, Level, Question, Scale
from .models import Activity, Agency, Assessment, AssessmentAnswer, FormDefinition, Task
from .sql import insert_new

#: Longest evidence text kept for one answer.
MAX_EVIDENCE = 20_000
#: Longest moderation reason.
MAX_REASON = 4_000

_ANSWER = AssessmentAnswer.__table__  # type: ignore[attr-defined]
_ASSESSMENT = Assessment.__table__  # type: ignore[attr-defined]
_FORM_DEFINITION = FormDefinition.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class AnswerInput:
    """What someone typed for one question. ``reviewed``: a carried-forward answer still holds."""

    rating: str | None = None
    evidence: str | None = None
    reviewed: bool = False


@dataclass(frozen=True)
class Moderation:
    """A moderated rating for one question, and why it differs from the self rating."""

    rating: str
    reason: str | None = None


@dataclass
class AssessmentView:
    """An assessment with its pinned form, scale and answers, for pages and checks."""

    assessment: Assessment
    form: Form
    scale: Scale
    answers: dict[str, AssessmentAnswer]
    activity: Activity
    task: Task | None
    agency: Agency | None
    #: the owner may still change answers (the task waits for them)
    editable: bool
    #: moderation is finished, so the agency may see the moderated ratings
    moderation_released: bool
    carried_from_ref: str | None = None
    problems: list[str] = field(default_factory=list)

    def answer(self, number: str) -> AssessmentAnswer | None:
        return self.answers.get(number)

    def unreviewed(self) -> list[str]:
        """Questions carried forward from the last cycle and not looked at again."""
        return [
            q.number
            for q in self.form.questions()
            if (a := self.answers.get(q.number)) is not None
            and a.carried_forward
            and not a.reviewed
        ]

    def unmoderated(self) -> list[str]:
        return [
            q.number
            for q in self.form.questions()
            if (a := self.answers.get(q.number)) is None or a.moderated_rating is None
        ]

    def disagreements(self) -> list[AssessmentAnswer]:
        return [
            a
            for q in self.form.questions()
            if (a := self.answers.get(q.number)) is not None
            and a.moderated_rating is not None
            and a.moderated_rating != a.rating
        ]


def has_level(scale: Scale, key: str | None) -> bool:
    return any(level.key == key for level in scale.levels)


def describe(q: Question) -> str:
    return f"question {q.number} (standard {q.standard})"


def problems(form: Form, answers: Mapping[str, AssessmentAnswer]) -> list[str]:
    """Why the assessment cannot be submitted yet, one sentence per question; [] if it can."""
    out: list[str] = []
    for q in form.questions():
        a = answers.get(q.number)
        rating = a.rating if a is not None else None
        evidence = (a.evidence or "").strip() if a is not None else ""
        if q.required and rating is None:
            out.append(f"{describe(q).capitalize()}: choose a rating")
        elif rating is not None and q.evidence == "required" and not evidence:
            out.append(f"{describe(q).capitalize()}: describe the evidence for the rating")
        elif a is not None and a.carried_forward and not a.reviewed:
            # (choosing the missing rating or evidence above reviews a carried answer too)
            out.append(
                f"{describe(q).capitalize()}: carried forward from the last cycle and not yet "
                "reviewed: confirm it still holds or change it"
            )
    return out


def check_workflow_forms(wf: Workflow, forms: FormRegistry) -> None:
    """A workflow naming an unknown form, a form of the wrong purpose, or a grading-scale
    choice the form does not allow, fails to load with the file and key named."""
    used: list[tuple[str, Form]] = []
    for name, kind in wf.tasks.items():
        if kind.form is not None:
            form = _known(wf, forms, kind.form, f"tasks.{name}.form")
            if form.purpose == "judgements":
                raise DefinitionError(
                    f"{wf.origin}: key 'tasks.{name}.form': '{form.name}' records a meeting's "
                    "judgements; an agency's task needs a self_assessment or audit_tool form"
                )
            used.append((f"tasks.{name}.form", form))
    for i, t in enumerate(wf.transitions):
        if t.form is not None:
            key = f"transitions[{i}] ({t.trigger}).form"
            form = _known(wf, forms, t.form, key)
            if form.purpose != "judgements":
                raise DefinitionError(
                    f"{wf.origin}: key '{key}': '{form.name}' is a {form.purpose} form; "
                    "a transition records a judgements form"
                )
            used.append((key, form))
    scale_input = next((s for s in wf.open_inputs if s.name == "grading_scale"), None)
    if scale_input is None:
        return
    for key, form in used:
        for choice in scale_input.choices:
            if choice not in form.scales:
                raise DefinitionError(
                    f"{wf.origin}: key 'open.inputs.grading_scale.choices': '{choice}' is not a "
                    f"scale form '{form.name}' ({key}) allows (allowed: {', '.join(form.scales)})"
                )


def _known(wf: Workflow, forms: FormRegistry, name: str, key: str) -> Form:
    known = forms.forms()
    if name not in known:
        raise DefinitionError(
            f"{wf.origin}: key '{key}': unknown form '{name}' (forms: {', '.join(known) or 'none'})"
        )
    return known[name]


def scale_for(forms: FormRegistry, form: Form, activity: Activity) -> Scale:
    """The activity's chosen grading scale (open input ``grading_scale``), else the form's."""
    chosen = activity.data.get("grading_scale") or form.scale
    if chosen not in form.scales:
        raise InvalidInput(
            f"{activity.ref}: grading scale '{chosen}' is not allowed for form '{form.name}' "
            f"(allowed: {', '.join(form.scales)})"
        )
    return forms.scale(str(chosen))


def scale_snapshot(scale: Scale) -> dict[str, Any]:
    """What an assessment keeps of its scale: every level with its written definition."""
    return {
        "name": scale.name,
        "title": scale.title,
        "description": scale.description,
        "levels": [
            {
                "key": lv.key,
                "label": lv.label,
                "definition": lv.definition,
                "score": lv.score,
                "colour": lv.colour,
            }
            for lv in scale.levels
        ],
    }


def scale_of(forms: FormRegistry, assessment: Assessment) -> Scale:
    """The scale the assessment was rated on, as it was when the assessment started."""
    snap = assessment.scale_definition
    if not snap:
        return forms.scale(assessment.scale)
    return Scale(
        name=str(snap["name"]),
        title=str(snap["title"]),
        description=str(snap.get("description", "")),
        levels=tuple(Level(**lv) for lv in snap["levels"]),
    )


def pin_form(session: Session, form: Form, now: datetime) -> int:
    """The stored row of this form version, created by whoever needs it first."""
    values = {"name": form.name, "version": form.version, "source": form.source, "created_at": now}
    insert_new(session, _FORM_DEFINITION, values, ("name", "version"))
    form_id: int = session.execute(
        sa.select(_FORM_DEFINITION.c.id).where(
            _FORM_DEFINITION.c.name == form.name, _FORM_DEFINITION.c.version == form.version
        )
    ).scalar_one()
    return form_id


def pinned_form(session: Session, forms: FormRegistry, assessment: Assessment) -> Form:
    row = session.get(FormDefinition, assessment.form_definition_id)
    assert row is not None  # foreign key
    return forms.pinned(row.name, row.version, row.source)


def last_submitted(
    session: Session, form_name: str, agency_id: int, before_activity: int
) -> Assessment | None:
    """The agency's most recent submitted assessment of the form, from another activity."""
    stmt = (
        sa.select(Assessment)
        .where(
            _ASSESSMENT.c.form_name == form_name,
            _ASSESSMENT.c.agency_id == agency_id,
            _ASSESSMENT.c.status == "submitted",
            _ASSESSMENT.c.activity_id != before_activity,
        )
        .order_by(_ASSESSMENT.c.submitted_at.desc(), _ASSESSMENT.c.id.desc())
        .limit(1)
    )
    return session.execute(stmt).scalars().first()


def answers_of(session: Session, assessment_id: int) -> dict[str, AssessmentAnswer]:
    rows = session.execute(
        sa.select(AssessmentAnswer).where(_ANSWER.c.assessment_id == assessment_id)
    ).scalars()
    return {a.question: a for a in rows}


def start(
    session: Session,
    forms: FormRegistry,
    form: Form,
    activity: Activity,
    task: Task,
    agency: Agency | None,
    actor_id: str,
    now: datetime,
) -> Assessment:
    """A draft for the task; a self-assessment is pre-filled from the agency's last
    submitted answers to the same form."""
    scale = scale_for(forms, form, activity)
    assessment = Assessment(
        activity_id=activity.id or 0,
        task_id=task.id,
        agency_id=agency.id if agency else None,
        form_definition_id=pin_form(session, form, now),
        form_name=form.name,
        scale=scale.name,
        scale_definition=scale_snapshot(scale),
        stage="return",
        status="draft",
        created_at=now,
        updated_at=now,
    )
    # a self-assessment cycle starts from the agency's last answers; an audit tool is about
    # the cases of its own audit, so it starts empty
    previous = (
        last_submitted(session, form.name, agency.id, activity.id or 0)
        if agency is not None and agency.id is not None and form.purpose == "self_assessment"
        else None
    )
    rows: list[dict[str, Any]] = []
    if previous is not None:
        assessment.carried_from_id = previous.id
    session.add(assessment)
    session.flush()
    if previous is not None and previous.id is not None:
        old = answers_of(session, previous.id)
        for q in form.questions():
            a = old.get(q.number)
            if a is None or (a.rating is None and not a.evidence):
                continue
            rating = a.rating if has_level(scale, a.rating) else None
            rows.append(
                {
                    "assessment_id": assessment.id,
                    "question": q.number,
                    "standard": q.standard,
                    "rating": rating,
                    "score": scale.level(rating).score if rating is not None else None,
                    "evidence": a.evidence,
                    "carried_forward": True,
                    "reviewed": False,
                    "updated_at": now,
                    "updated_by": actor_id,
                }
            )
    if rows:
        session.execute(sa.insert(_ANSWER), rows)
    return assessment


def clean_answers(
    form: Form, scale: Scale, answers: Mapping[str, AnswerInput], where: str
) -> dict[str, AnswerInput]:
    """Checked answers; unknown questions or ratings raise with every problem named."""
    errors: list[str] = []
    out: dict[str, AnswerInput] = {}
    for number, given in answers.items():
        try:
            q = form.question(number)
        except KeyError:
            errors.append(f"no question '{number}' in form '{form.name}'")
            continue
        rating = (given.rating or "").strip() or None
        if rating is not None and not has_level(scale, rating):
            errors.append(
                f"{describe(q)}: '{rating}' is not a rating on the {scale.title} scale "
                f"(allowed: {', '.join(scale.keys())})"
            )
        evidence = (given.evidence or "").strip() or None
        if evidence is not None and len(evidence) > MAX_EVIDENCE:
            errors.append(f"{describe(q)}: evidence is longer than {MAX_EVIDENCE} characters")
        if q.evidence == "none":
            evidence = None
        out[number] = AnswerInput(rating, evidence, given.reviewed)
    if errors:
        raise InvalidInput(f"{where}: {'; '.join(errors)}; nothing was saved")
    return out


def write_answers(
    session: Session,
    assessment: Assessment,
    form: Form,
    scale: Scale,
    answers: Mapping[str, AnswerInput],
    current: Mapping[str, AssessmentAnswer],
    actor_id: str,
    now: datetime,
) -> list[str]:
    """Store the answers that changed (or were confirmed); returns their question numbers."""
    changed: list[str] = []
    for number, given in answers.items():
        q = form.question(number)
        old = current.get(number)
        score = scale.level(given.rating).score if given.rating is not None else None
        if old is None:
            if given.rating is None and given.evidence is None:
                continue
            session.execute(
                sa.insert(_ANSWER).values(
                    assessment_id=assessment.id,
                    question=number,
                    standard=q.standard,
                    rating=given.rating,
                    score=score,
                    evidence=given.evidence,
                    carried_forward=False,
                    reviewed=True,
                    updated_at=now,
                    updated_by=actor_id,
                )
            )
            changed.append(number)
            continue
        differs = old.rating != given.rating or (old.evidence or None) != given.evidence
        confirms = old.carried_forward and not old.reviewed and (given.reviewed or differs)
        if not differs and not confirms:
            continue
        session.execute(
            sa.update(_ANSWER)
            .where(_ANSWER.c.assessment_id == assessment.id, _ANSWER.c.question == number)
            .values(
                rating=given.rating,
                score=score,
                evidence=given.evidence,
                reviewed=True,
                updated_at=now,
                updated_by=actor_id,
            )
        )
        changed.append(number)
    return changed


def cas_assessment(
    session: Session, assessment: Assessment, expected: int, values: Mapping[str, Any]
) -> None:
    """Compare-and-set on the assessment's version: two people editing one draft never
    overwrite each other unseen."""
    from .errors import ConcurrentUpdate

    result = session.execute(
        sa.update(_ASSESSMENT)
        .where(_ASSESSMENT.c.id == assessment.id, _ASSESSMENT.c.version == expected)
        .values(**values, version=expected + 1)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ConcurrentUpdate(
            f"assessment {assessment.id} was changed by someone else since version {expected}; "
            "nothing was written, reload and try again"
        )
    if assessment in session:
        session.expunge(assessment)
    for key, value in values.items():
        setattr(assessment, key, value)
    assessment.version = expected + 1


def assessment_of_task(session: Session, task_id: int) -> Assessment | None:
    return (
        session.execute(sa.select(Assessment).where(_ASSESSMENT.c.task_id == task_id))
        .scalars()
        .first()
    )


def agency_assessment(
    session: Session, activity_id: int, agency_id: int | None, kind_tasks: Sequence[int]
) -> Assessment | None:
    """The assessment of one of ``kind_tasks`` (the agency's return) in the activity."""
    if not kind_tasks:
        return None
    return (
        session.execute(
            sa.select(Assessment).where(
                _ASSESSMENT.c.activity_id == activity_id,
                _ASSESSMENT.c.task_id.in_(list(kind_tasks)),
                _ASSESSMENT.c.agency_id == agency_id,
            )
        )
        .scalars()
        .first()
    )


def summary(form: Form, answers: Mapping[str, AssessmentAnswer]) -> dict[str, Any]:
    """What the timeline keeps of an assessment: the ratings, never the evidence text."""
    return {
        "ratings": {
            q.number: a.rating
            for q in form.questions()
            if (a := answers.get(q.number)) is not None and a.rating is not None
        }
    }


def numbers(items: Iterable[str]) -> str:
    return ", ".join(items)


def fill(
    form: Form,
    scale: Scale,
    rating: str | Callable[[Question], str | None] | None = None,
    evidence: str = "Evidence held by the agency (fictional).",
) -> dict[str, AnswerInput]:
    """Answers to every question: ``rating`` for each (by default the middle of the scale),
    with evidence wherever the question takes it. For the demo, simulations and tests."""
    middle = scale.levels[len(scale.levels) // 2].key
    out: dict[str, AnswerInput] = {}
    for q in form.questions():
        chosen = rating(q) if callable(rating) else (rating or middle)
        out[q.number] = AnswerInput(
            rating=chosen, evidence=None if q.evidence == "none" else evidence, reviewed=True
        )
    return out
