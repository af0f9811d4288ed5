"""Assessments and moderation: an agency's answers saved part-way and submitted, the
forms read back for the agency and for staff, moderated ratings with their reasons,
and the list of disagreements between the agency's ratings and the panel's."""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa
from sqlmodel import col, select

from .. import assessments as forms_
from ..assessments import AnswerInput, AssessmentView, Moderation
from ..errors import InvalidInput, NotFound, PermissionDenied, TransitionNotAllowed
from ..models import Activity, Assessment, AssessmentAnswer, Task
from .assessment_view import assessment_view
from .core import Core, UnitOfWork, check_agency_scope, check_role
from .lookups import (
    activity_by_ref,
    activity_of,
    assessment_by_id,
    task_with_activity,
    tasks_of,
)
from .tasks import fire_in
from .values import Actor, Disagreement, Outcome

#: a moderated rating to write: question, rating, its score, the reason
_Rating = tuple[str, str, int, str | None]


class Assessments:
    """Saves, submits, reads and moderates assessments."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def for_task(self, actor: Actor, task_id: int) -> AssessmentView:
        with self.core.db.read() as session:
            task, activity = task_with_activity(session, task_id)
            check_agency_scope(actor, task, f"task {task_id} of {activity.ref}")
            assessment = forms_.assessment_of_task(session, task_id)
            if assessment is None:
                raise NotFound(f"task {task_id} of {activity.ref} has no assessment form")
            return assessment_view(self.core, session, assessment, activity, task)

    def get(self, actor: Actor, assessment_id: int) -> AssessmentView:
        with self.core.db.read() as session:
            assessment = assessment_by_id(session, assessment_id)
            if actor.role == "agency" and assessment.agency_id != actor.agency_id:
                raise PermissionDenied(f"assessment {assessment_id} belongs to another agency")
            activity = activity_of(session, assessment)
            task = session.get(Task, assessment.task_id) if assessment.task_id else None
            if actor.role == "agency" and task is not None:
                check_agency_scope(actor, task, f"assessment {assessment_id}")
            return assessment_view(self.core, session, assessment, activity, task)

    def of(self, ref: str) -> list[AssessmentView]:
        with self.core.db.read() as session:
            activity = activity_by_ref(session, ref)
            rows = session.exec(
                select(Assessment)
                .where(Assessment.activity_id == activity.id)
                .order_by(col(Assessment.id))
            ).all()
            tasks = {t.id: t for t in tasks_of(session, activity.id or 0)}
            return [
                assessment_view(self.core, session, a, activity, tasks.get(a.task_id)) for a in rows
            ]

    def save(
        self,
        actor: Actor,
        task_id: int,
        answers: Mapping[str, AnswerInput],
        expected_version: int | None,
    ) -> AssessmentView:
        with self.core.unit(actor) as uow:
            task, activity = task_with_activity(uow.session, task_id)
            self._save_answers(uow, task, activity, answers, expected_version)
        return self.for_task(actor, task_id)

    def submit(
        self,
        actor: Actor,
        task_id: int,
        answers: Mapping[str, AnswerInput] | None,
        expected_version: int | None,
    ) -> Outcome:
        core = self.core
        with core.unit(actor) as uow:
            session = uow.session
            task, activity = task_with_activity(session, task_id)
            wf = core.workflow_for(session, activity)
            kind = wf.tasks[task.kind]
            if kind.form is None or kind.form_submit is None:
                raise InvalidInput(f"task {task_id} of {activity.ref} has no assessment form")
            if answers or expected_version is not None:  # the page's version is checked too
                self._save_answers(uow, task, activity, answers or {}, expected_version)
            return fire_in(
                uow,
                task,
                activity,
                kind.form_submit,
                inputs={},
                reason=None,
                expected_version=None,
            )

    def _save_answers(
        self,
        uow: UnitOfWork,
        task: Task,
        activity: Activity,
        answers: Mapping[str, AnswerInput],
        expected_version: int | None,
    ) -> None:
        session, actor = uow.session, uow.actor
        where = f"task {task.id} ({task.kind}) of {activity.ref}"
        check_agency_scope(actor, task, where)
        wf = self.core.workflow_for(session, activity)
        kind = wf.tasks[task.kind]
        assessment = forms_.assessment_of_task(session, task.id or 0)
        if assessment is None or kind.form_submit is None:
            raise NotFound(f"{where} has no assessment form")
        t = kind.transition_for(kind.form_submit, task.state)
        if t is None or assessment.status != "draft":
            raise TransitionNotAllowed(
                f"{where} is {task.state}: its answers can no longer be changed"
            )
        check_role(actor, t, f"answering {where}")
        form = forms_.pinned_form(session, self.core.forms, assessment)
        scale = forms_.scale_of(self.core.forms, assessment)
        clean = forms_.clean_answers(form, scale, answers, f"answers for {where}")
        current = forms_.answers_of(session, assessment.id or 0)
        expected = assessment.version if expected_version is None else expected_version
        changed = forms_.write_answers(
            session, assessment, form, scale, clean, current, actor.id, uow.now
        )
        forms_.cas_assessment(session, assessment, expected, {"updated_at": uow.now})
        if changed:
            uow.task_event(
                task, "answers_saved", {"assessment": assessment.id, "questions": changed}
            )

    def moderate(
        self,
        actor: Actor,
        assessment_id: int,
        ratings: Mapping[str, Moderation],
        expected_version: int | None,
    ) -> AssessmentView:
        core = self.core
        with core.unit(actor) as uow:
            session = uow.session
            assessment = assessment_by_id(session, assessment_id)
            if not actor.may(("coordinator", "manager")):
                raise PermissionDenied(
                    f"{actor.role} {actor.id} may not moderate (allowed: coordinator, manager)"
                )
            activity = activity_of(session, assessment)
            where = f"assessment {assessment_id} of {activity.ref}"
            if assessment.status != "submitted":
                raise TransitionNotAllowed(f"{where} has not been submitted; nothing to moderate")
            view = assessment_view(core, session, assessment, activity, None)
            if view.moderation_released:
                raise TransitionNotAllowed(
                    f"moderation of {where} is finished and released to the agency"
                )
            rows = _checked_ratings(view, ratings, where)
            expected = assessment.version if expected_version is None else expected_version
            changed = _write_moderation(uow, view, assessment_id, rows)
            forms_.cas_assessment(session, assessment, expected, {"updated_at": uow.now})
            if changed:
                # on the activity, not the agency's task: the agency sees moderated ratings
                # only once moderation is finished
                uow.event(
                    "moderated",
                    activity_id=activity.id,
                    inputs={"assessment": assessment_id, "moderated": changed},
                )
            uow.bump(activity)
        return self.get(actor, assessment_id)

    def disagreements(self, ref: str) -> list[Disagreement]:
        out: list[Disagreement] = []
        for view in self.of(ref):
            for a in view.disagreements():
                q = view.form.question(a.question)
                out.append(
                    Disagreement(
                        assessment_id=view.assessment.id or 0,
                        agency=view.agency.name if view.agency else "",
                        agency_code=view.agency.code if view.agency else "",
                        question=q.number,
                        standard=q.standard,
                        text=q.text,
                        self_rating=view.scale.level(a.rating).label if a.rating else "none",
                        moderated_rating=view.scale.level(a.moderated_rating or "").label,
                        difference=(a.moderated_score or 0) - (a.score or 0),
                        reason=a.moderation_reason or "",
                    )
                )
        out.sort(key=lambda d: (d.agency, _question_order(d.question)))
        return out


def _checked_ratings(
    view: AssessmentView, ratings: Mapping[str, Moderation], where: str
) -> list[_Rating]:
    """The moderated ratings to write, each a rating on the scale with a reason where it
    differs from the self rating; refused with every problem named, nothing saved."""
    errors: list[str] = []
    rows: list[_Rating] = []
    for number, given in ratings.items():
        try:
            q = view.form.question(number)
        except KeyError:
            errors.append(f"no question '{number}' in form '{view.form.name}'")
            continue
        rating = (given.rating or "").strip()
        if not forms_.has_level(view.scale, rating):
            errors.append(
                f"{forms_.describe(q)}: '{rating}' is not a rating on the "
                f"{view.scale.title} scale (allowed: {', '.join(view.scale.keys())})"
            )
            continue
        reason = (given.reason or "").strip() or None
        answer = view.answers.get(number)
        self_rating = answer.rating if answer is not None else None
        if rating != self_rating and reason is None:
            errors.append(
                f"{forms_.describe(q)}: give the reason the moderated rating "
                f"({rating}) differs from the self rating ({self_rating or 'none'})"
            )
            continue
        if reason is not None and len(reason) > forms_.MAX_REASON:
            errors.append(f"{forms_.describe(q)}: the reason is too long")
            continue
        rows.append((number, rating, view.scale.level(rating).score, reason))
    if errors:
        raise InvalidInput(f"moderating {where}: {'; '.join(errors)}; nothing was saved")
    return rows


def _write_moderation(
    uow: UnitOfWork, view: AssessmentView, assessment_id: int, rows: list[_Rating]
) -> dict[str, str]:
    """Write the ratings that change; the questions changed and their new ratings."""
    changed: dict[str, str] = {}
    table = AssessmentAnswer.__table__  # type: ignore[attr-defined]
    for number, rating, score, reason in rows:
        answer = view.answers.get(number)
        if (
            answer is not None
            and answer.moderated_rating == rating
            and answer.moderation_reason == reason
        ):
            continue
        values = {
            "moderated_rating": rating,
            "moderated_score": score,
            "moderation_reason": reason,
            "moderated_by": uow.actor.id,
            "moderated_at": uow.now,
        }
        if answer is None:
            uow.session.execute(
                sa.insert(table).values(
                    assessment_id=assessment_id,
                    question=number,
                    standard=view.form.question(number).standard,
                    updated_at=uow.now,
                    updated_by=uow.actor.id,
                    **values,
                )
            )
        else:
            uow.session.execute(
                sa.update(table)
                .where(table.c.assessment_id == assessment_id, table.c.question == number)
                .values(**values)
            )
        changed[number] = rating
    return changed


def _question_order(number: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(p), "") if p.isdigit() else (0, p) for p in number.split("."))
