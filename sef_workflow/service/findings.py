"""Findings and actions: an activity's findings and recommendations, and the actions
raised on them in the activity's action plan (opened with the first action if there is
none), including a recommendation taken straight from an assessment's question."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlmodel import col, select

from .. import assessments as forms_
from ..errors import InvalidInput, NotFound, PermissionDenied, TransitionNotAllowed
from ..models import Activity, ActivityAgency, Agency, Finding, Task
from ..sql import insert_new
from .core import Core, UnitOfWork
from .creation import open_child_plan, open_plan_for
from .lookups import activity_by_ref, activity_of, agencies_by_code, assessment_by_id
from .tasks import add_in
from .values import FINDING_KINDS, Actor, Outcome


class Findings:
    """Records findings and raises the actions that answer them."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def record(self, actor: Actor, ref: str, kind: str, text: str, agency: str | None) -> Finding:
        with self.core.unit(actor) as uow:
            activity = activity_by_ref(uow.session, ref)
            return self._record(uow, activity, kind, text, agency=agency, question=None)

    def _record(
        self,
        uow: UnitOfWork,
        activity: Activity,
        kind: str,
        text: str,
        *,
        agency: str | None,
        question: str | None,
    ) -> Finding:
        actor, session = uow.actor, uow.session
        if not actor.may(("coordinator", "manager")):
            raise PermissionDenied(
                f"{actor.role} {actor.id} may not record findings (allowed: coordinator, manager)"
            )
        if kind not in FINDING_KINDS:
            raise InvalidInput(
                f"'{kind}' is not a kind of finding (allowed: {', '.join(FINDING_KINDS)})"
            )
        text = (text or "").strip()
        if not text:
            raise InvalidInput(f"{activity.ref}: the {kind} has no text")
        if len(text) > 4000:
            raise InvalidInput(f"{activity.ref}: the {kind} is longer than 4000 characters")
        wf = self.core.workflow_for(session, activity)
        if wf.is_final(activity.state):
            raise TransitionNotAllowed(f"{activity.ref} is {activity.state}; nothing can be added")
        agency_row = agencies_by_code(session, [agency])[0] if agency else None
        finding = Finding(
            activity_id=activity.id or 0,
            kind=kind,
            text=text,
            agency_id=agency_row.id if agency_row else None,
            question=question,
            created_at=uow.now,
            created_by=actor.id,
        )
        session.add(finding)
        session.flush()
        uow.event(
            "finding_recorded",
            activity_id=activity.id,
            inputs={
                "finding": finding.id,
                "kind": kind,
                "text": text,
                "agency": agency_row.code if agency_row else None,
                "question": question,
            },
        )
        uow.bump(activity)
        return finding

    def of(self, ref: str) -> list[tuple[Finding, Agency | None, list[Task]]]:
        with self.core.db.read() as session:
            activity = activity_by_ref(session, ref)
            rows = session.exec(
                select(Finding).where(Finding.activity_id == activity.id).order_by(col(Finding.id))
            ).all()
            ids = [f.id for f in rows]
            actions = (
                session.exec(select(Task).where(col(Task.finding_id).in_(ids))).all() if ids else []
            )
            agencies = {a.id: a for a in session.exec(select(Agency)).all()}
            return [
                (
                    f,
                    agencies.get(f.agency_id) if f.agency_id else None,
                    [t for t in actions if t.finding_id == f.id],
                )
                for f in rows
            ]

    def raise_action(
        self,
        actor: Actor,
        ref: str,
        agency: str,
        *,
        inputs: Mapping[str, Any],
        finding_id: int | None,
    ) -> Outcome:
        """An action on the activity ``ref``; ``finding_id``, when given, must be one of its
        own findings."""
        with self.core.unit(actor) as uow:
            session = uow.session
            activity = activity_by_ref(session, ref)
            finding = None
            if finding_id is not None:
                finding = session.get(Finding, finding_id)
                if finding is None or finding.activity_id != activity.id:
                    raise NotFound(f"{activity.ref} has no finding {finding_id}")
            return self._raise(uow, activity, agency, inputs, finding)

    def raise_from_question(
        self,
        actor: Actor,
        assessment_id: int,
        question: str,
        *,
        inputs: Mapping[str, Any],
        agency: str | None,
    ) -> Outcome:
        with self.core.unit(actor) as uow:
            session = uow.session
            assessment = assessment_by_id(session, assessment_id)
            activity = activity_of(session, assessment)
            form = forms_.pinned_form(session, self.core.forms, assessment)
            try:
                q = form.question(question)
            except KeyError:
                raise NotFound(f"no question '{question}' in form '{form.name}'") from None
            if agency is None:
                row = session.get(Agency, assessment.agency_id) if assessment.agency_id else None
                if row is None:
                    raise InvalidInput("choose the agency that owns the action")
                agency = row.code
            text = f"{form.title}, question {q.number}: {q.text}"
            finding = self._record(
                uow,
                activity,
                "recommendation",
                text[:4000],
                agency=agency,
                question=f"{form.name} {q.number}",
            )
            return self._raise(uow, activity, agency, inputs, finding)

    def _raise(
        self,
        uow: UnitOfWork,
        activity: Activity,
        agency: str,
        inputs: Mapping[str, Any],
        finding: Finding | None,
    ) -> Outcome:
        session = uow.session
        if self.core.workflow_for(session, activity).is_final(activity.state):
            raise TransitionNotAllowed(
                f"{activity.ref} is {activity.state}; no actions can be raised on it"
            )
        plan = activity
        if activity.workflow != "action_plan":
            open_plan = open_child_plan(uow, activity)
            if open_plan is not None:
                plan = open_plan
            else:
                plan = open_plan_for(uow, activity)
                # compare-and-set on the activity: two people raising the first action at
                # once cannot open two plans
                uow.bump(activity)
        (agency_row,) = agencies_by_code(session, [agency])
        insert_new(
            session,
            ActivityAgency.__table__,  # type: ignore[attr-defined]
            {"activity_id": plan.id, "agency_id": agency_row.id},
            ("activity_id", "agency_id"),
        )
        values = dict(inputs)
        if finding is not None and not values.get("recommendation"):
            values["recommendation"] = finding.text
        finding_id = finding.id if finding is not None else None
        outcome = add_in(uow, plan, "action", agency_row.code, values, finding_id)
        if plan is not activity:
            outcome.spawned.append(plan)
        return outcome
