"""An assessment as the pages and the guards see it: its pinned form and scale, its
answers, whether the agency may still change them, whether moderation is finished and
released to the agency, and the agency's own assessment a moderation guard looks at."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, col, select

from .. import assessments as forms_
from ..assessments import AssessmentView
from ..definitions import Workflow
from ..models import Activity, Agency, Assessment, Task
from .core import Core
from .lookups import tasks_of


def assessment_view(
    core: Core, session: Session, assessment: Assessment, activity: Activity, task: Task | None
) -> AssessmentView:
    if task is None and assessment.task_id is not None:
        task = session.get(Task, assessment.task_id)
    form = forms_.pinned_form(session, core.forms, assessment)
    answers = forms_.answers_of(session, assessment.id or 0)
    agency = session.get(Agency, assessment.agency_id) if assessment.agency_id else None
    editable = False
    released = task is None  # a meeting's judgements are not moderated
    if task is not None:
        wf = core.workflow_for(session, activity)
        kind = wf.tasks[task.kind]
        editable = (
            assessment.status == "draft"
            and kind.form_submit is not None
            and kind.transition_for(kind.form_submit, task.state) is not None
        )
        released = moderation_released(session, wf, activity, task)
    carried_ref = None
    if assessment.carried_from_id is not None:
        carried_ref = session.execute(
            sa.select(Activity.ref)  # type: ignore[call-overload]
            .join(Assessment, col(Assessment.activity_id) == col(Activity.id))
            .where(col(Assessment.id) == assessment.carried_from_id)
        ).scalar_one_or_none()
    return AssessmentView(
        assessment=assessment,
        form=form,
        scale=forms_.scale_of(core.forms, assessment),
        answers=answers,
        activity=activity,
        task=task,
        agency=agency,
        editable=editable,
        moderation_released=released,
        carried_from_ref=carried_ref,
        problems=forms_.problems(form, answers) if assessment.status == "draft" else [],
    )


def moderation_released(session: Session, wf: Workflow, activity: Activity, task: Task) -> bool:
    """True once the agency's moderation task (one guarded by answers_moderated on this
    task's kind) has finished."""
    kinds = [
        k.name
        for k in wf.tasks.values()
        if any(f"answers_moderated:{task.kind}" in t.guards for t in k.transitions)
    ]
    if not kinds:
        return False
    rows = session.exec(
        select(Task).where(
            Task.activity_id == activity.id,
            col(Task.kind).in_(kinds),
            Task.agency_id == task.agency_id,
        )
    ).all()
    return any(not r.is_open and r.state != wf.tasks[r.kind].withdrawn_state for r in rows)


def agency_assessment(
    session: Session, activity: Activity, task: Task, kind: str
) -> Assessment | None:
    """The same agency's assessment on its ``kind`` task in the activity."""
    ids = [
        t.id or 0
        for t in tasks_of(session, activity.id or 0)
        if t.kind == kind and t.agency_id == task.agency_id
    ]
    return forms_.agency_assessment(session, activity.id or 0, task.agency_id, ids)


def unmoderated(
    core: Core, session: Session, activity: Activity, task: Task, kind: str
) -> int | None:
    """How many answers of the agency's ``kind`` assessment have no moderated rating."""
    assessment = agency_assessment(session, activity, task, kind)
    if assessment is None or assessment.status != "submitted":
        return None
    view = assessment_view(core, session, assessment, activity, None)
    return len(view.unmoderated())
