"""Activities: opening one (by hand, or once per key for the programme), firing its
triggers (with a meeting's judgements where the step records a form), and reading an
activity with its tasks, its timeline and its emails."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from .. import assessments as forms_
from ..assessments import AnswerInput
from ..definitions import TransitionDef, Workflow
from ..errors import InvalidInput, PermissionDenied
from ..inputs import coerce_inputs
from ..models import (
    Activity,
    Agency,
    Assessment,
    AssessmentAnswer,
    Event,
    Notification,
    ProgrammeRun,
    Task,
)
from ..sql import insert_new
from .core import Core, UnitOfWork
from .creation import create_tasks, insert_activity
from .firing import activity_effect, check, move_task, needs_tasks
from .lookups import activity_agencies, activity_by_ref, agencies_by_code, tasks_of
from .values import Actor, Outcome


class AlreadyOpened(Exception):
    """Raised inside a transaction to roll back an opening that was already made."""


class Activities:
    """Opens activities and fires their triggers; reads them back."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def open(
        self,
        actor: Actor,
        workflow: str,
        title: str,
        *,
        agencies: Sequence[str],
        inputs: Mapping[str, Any] | None,
        parent_ref: str | None = None,
        once_key: str | None = None,
    ) -> Outcome:
        """Open an activity; with ``once_key``, raise :class:`AlreadyOpened` (and write
        nothing) if an activity was already opened under that key."""
        core = self.core
        wf = core.registry.get(workflow)
        if not actor.may(wf.open_roles):
            raise PermissionDenied(
                f"{actor.role} {actor.id} may not open a {wf.name} (allowed: {', '.join(wf.open_roles)})"
            )
        title = title.strip()
        if not title:
            raise InvalidInput("an activity needs a title")
        values = coerce_inputs(wf.open_inputs, inputs or {}, f"opening {wf.name}")
        with core.unit(actor) as uow:
            session = uow.session
            agency_rows = agencies_by_code(session, agencies)
            if wf.agencies == "required" and not agency_rows:
                raise InvalidInput(f"a {wf.name} needs at least one agency (--agency CODE)")
            if wf.agencies == "none" and agency_rows:
                raise InvalidInput(f"a {wf.name} does not take agencies")
            parent_id = None
            if parent_ref is not None:
                parent_id = activity_by_ref(session, parent_ref).id
            activity = insert_activity(
                uow, wf, title=title, agencies=agency_rows, values=values, parent_id=parent_id
            )
            outcome = Outcome(activity=activity, to_state=activity.state)
            event_id = uow.event(
                "opened", activity_id=activity.id, to_state=activity.state, inputs=values
            )
            create_tasks(uow, wf, activity, outcome, kinds=wf.open_creates, agencies=agency_rows)
            uow.notify(
                wf, wf.open_notify, activity, outcome, key=f"ev{event_id}", agencies=agency_rows
            )
            if once_key is not None and not _claim_once(uow, once_key, activity):
                raise AlreadyOpened  # by this worker earlier or another: undo all of it
        return outcome

    def fire(
        self,
        actor: Actor,
        ref: str,
        trigger: str,
        *,
        inputs: Mapping[str, Any] | None,
        reason: str | None,
        expected_version: int | None,
        answers: Mapping[str, AnswerInput] | None,
    ) -> Outcome:
        """Fire ``trigger`` on the activity ``ref`` in one transaction."""
        core = self.core
        with core.unit(actor) as uow:
            session = uow.session
            activity = activity_by_ref(session, ref)
            wf = core.workflow_for(session, activity)
            assert activity.id is not None
            with_tasks = needs_tasks(wf, activity.state, trigger)
            tasks = tasks_of(session, activity.id) if with_tasks else []
            t, values, reason = check(
                uow,
                wf,
                activity,
                trigger,
                state=activity.state,
                where=activity.ref,
                inputs=inputs,
                reason=reason,
                tasks=tasks if with_tasks else None,
            )
            from_state = activity.state
            to_state = wf.next_state(trigger, from_state)
            if t.form is not None:
                values = {**values, **self._record_judgements(uow, activity, t, answers or {})}
            elif answers:
                raise InvalidInput(f"'{trigger}' on {activity.ref} records no form answers")
            uow.cas_activity(
                activity,
                expected=activity.version if expected_version is None else expected_version,
                state=to_state,
                data={**activity.data, **values},
                closed_at=uow.now if wf.is_final(to_state) else None,
            )
            outcome = Outcome(activity=activity, from_state=from_state, to_state=to_state)
            event_id = uow.event(
                "transition",
                activity_id=activity.id,
                trigger=trigger,
                from_state=from_state,
                to_state=to_state,
                inputs=values,
                reason=reason,
            )
            for kind_name in t.completes:
                kind = wf.tasks[kind_name]
                assert kind.complete_state is not None
                for task in tasks:
                    if task.kind == kind_name and task.is_open:
                        move_task(
                            uow,
                            task,
                            kind,
                            trigger=trigger,
                            to_state=kind.complete_state,
                            values={},
                            reason=reason,
                            event_kind="task_completed",
                        )
            agencies = activity_agencies(session, activity.id)
            create_tasks(uow, wf, activity, outcome, kinds=t.creates, agencies=agencies)
            for effect in t.effects:
                activity_effect(
                    uow,
                    wf,
                    activity,
                    effect,
                    tasks=tasks,
                    agencies=agencies,
                    reason=reason,
                    outcome=outcome,
                )
            uow.notify(wf, t.notify, activity, outcome, key=f"ev{event_id}", agencies=agencies)
        return outcome

    def _record_judgements(
        self,
        uow: UnitOfWork,
        activity: Activity,
        t: TransitionDef,
        answers: Mapping[str, AnswerInput],
    ) -> dict[str, Any]:
        """A meeting's judgements: every required rating there, stored as a submitted
        assessment of the transition's stage (recorded again, it replaces the ratings)."""
        assert t.form is not None
        assert t.form_stage is not None
        session, now, forms = uow.session, uow.now, self.core.forms
        form = forms.get(t.form)
        scale = forms_.scale_for(forms, form, activity)
        where = f"'{t.trigger}' on {activity.ref}"
        clean = forms_.clean_answers(form, scale, answers, where)
        table = AssessmentAnswer.__table__  # type: ignore[attr-defined]
        existing = session.exec(
            select(Assessment).where(
                Assessment.activity_id == activity.id,
                Assessment.stage == t.form_stage,
                Assessment.form_name == form.name,
                col(Assessment.task_id).is_(None),
            )
        ).first()
        if existing is None:
            assessment = Assessment(
                activity_id=activity.id or 0,
                form_definition_id=forms_.pin_form(session, form, now),
                form_name=form.name,
                scale=scale.name,
                scale_definition=forms_.scale_snapshot(scale),
                stage=t.form_stage,
                status="draft",
                created_at=now,
                updated_at=now,
            )
            session.add(assessment)
            session.flush()
        else:
            assessment = existing
            session.execute(sa.delete(table).where(table.c.assessment_id == assessment.id))
        forms_.write_answers(session, assessment, form, scale, clean, {}, uow.actor.id, now)
        stored = forms_.answers_of(session, assessment.id or 0)
        missing = forms_.problems(form, stored)
        if missing:
            raise InvalidInput(f"cannot record {where}: " + "; ".join(missing))
        forms_.cas_assessment(
            session,
            assessment,
            assessment.version,
            {
                "status": "submitted",
                "submitted_at": now,
                "submitted_by": uow.actor.id,
                "updated_at": now,
                "form_definition_id": forms_.pin_form(session, form, now),
                "scale": scale.name,
                "scale_definition": forms_.scale_snapshot(scale),
            },
        )
        return {"assessment": assessment.id, **forms_.summary(form, stored)}

    # ------------------------------------------------------------------ reading
    def get_activity(self, ref: str) -> tuple[Activity, Workflow, list[Agency], list[Task]]:
        with self.core.db.read() as session:
            activity = activity_by_ref(session, ref)
            assert activity.id is not None
            return (
                activity,
                self.core.workflow_for(session, activity),
                activity_agencies(session, activity.id),
                tasks_of(session, activity.id),
            )

    def list_activities(
        self, workflow: str | None, state: str | None, include_closed: bool
    ) -> list[Activity]:
        with self.core.db.read() as session:
            q = select(Activity).order_by(col(Activity.opened_at).desc(), col(Activity.id).desc())
            if workflow:
                q = q.where(Activity.workflow == workflow)
            if state:
                q = q.where(Activity.state == state)
            if not include_closed:
                q = q.where(col(Activity.closed_at).is_(None))
            return list(session.exec(q).all())

    def timeline(self, ref: str) -> list[Event]:
        with self.core.db.read() as session:
            activity = activity_by_ref(session, ref)
            return list(
                session.exec(
                    select(Event).where(Event.activity_id == activity.id).order_by(col(Event.id))
                ).all()
            )

    def notifications_for(self, ref: str) -> list[Notification]:
        with self.core.db.read() as session:
            activity = activity_by_ref(session, ref)
            return list(
                session.exec(
                    select(Notification)
                    .where(Notification.activity_id == activity.id)
                    .order_by(col(Notification.id))
                ).all()
            )


def _claim_once(uow: UnitOfWork, key: str, activity: Activity) -> bool:
    """Record that ``key`` opened this activity; False if something already claimed it."""
    table = ProgrammeRun.__table__  # type: ignore[attr-defined]
    values = {"key": key[:200], "activity_id": activity.id, "opened_at": uow.now}
    return insert_new(uow.session, table, values, ("key",))
