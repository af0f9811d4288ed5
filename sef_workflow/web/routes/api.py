"""The JSON API under ``/api/``: who is signed in, activities, tasks and agencies, what is
waiting on the person signed in ("Waiting on you"), firing a transition, taking a task and
deciding on more time. A POST carries the session's CSRF token in ``X-CSRF-Token``; an agency sees
only its own tasks and agency."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ...errors import PermissionDenied
from ...models import Activity, Agency, Task
from ...service.inbox import WaitingItem
from ...views import describe_task_deadline
from .. import queries
from ..deps import CsrfHeader, CurrentUser, StaffUser, TaskUser, WebDep
from ..scope import allowed, task_for
from ..state import WebState

router = APIRouter()


class FireBody(BaseModel):
    trigger: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    reason: str | None = None
    expected_version: int | None = None


class GiveBody(BaseModel):
    email: str = Field(max_length=254)
    #: needed for a colleague who is not yet one of the agency's people
    name: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, max_length=2000)


class MoreTimeBody(BaseModel):
    agree: bool
    #: needed to decline
    reason: str | None = Field(default=None, max_length=2000)
    #: agreeing: another date than the one asked for (a working day after the deadline)
    new_due: date | None = None


class TakeBody(BaseModel):
    #: a colleague of the business unit to give it to; none: the one asking takes it
    to: str | None = Field(default=None, max_length=254)


@router.get("/api/me", tags=["session"])
def me(signed: CurrentUser) -> dict[str, Any]:
    """Who is signed in, and the CSRF token to send as ``X-CSRF-Token`` on POSTs."""
    a = signed.actor
    return {
        "id": a.id,
        "role": a.role,
        "agency_id": a.agency_id,
        "position": a.position or None,
        "name": a.name,
        "csrf_token": signed.csrf_token,
    }


@router.get("/api/activities", tags=["activities"])
def api_activities(
    web: WebDep, _staff: StaffUser, workflow: str = "", include_closed: bool = True
) -> list[dict[str, Any]]:
    return [activity_json(a) for a in queries.activities(web.db, workflow or None, include_closed)]


@router.get("/api/activities/{ref}", tags=["activities"])
def api_activity(web: WebDep, signed: StaffUser, ref: str) -> dict[str, Any]:
    activity, wf, agencies, tasks = web.service.get_activity(ref)
    return {
        **activity_json(activity),
        "workflow_title": wf.title,
        "allowed_triggers": [t.trigger for t in allowed(wf, activity.state, signed.actor)],
        "agencies": [a.code for a in agencies],
        "tasks": [task_json(web, t, activity, None) for t in tasks],
    }


@router.post("/api/activities/{ref}/fire", tags=["activities"])
def api_fire(
    web: WebDep, signed: StaffUser, _csrf: CsrfHeader, ref: str, body: FireBody
) -> dict[str, Any]:
    outcome = web.service.fire(
        signed.actor, ref, body.trigger, body.inputs, body.reason, body.expected_version
    )
    return activity_json(outcome.activity)


@router.get("/api/tasks", tags=["tasks"])
def api_tasks(
    web: WebDep,
    signed: TaskUser,
    agency: str = "",
    workflow: str = "",
    overdue: bool = False,
    include_closed: bool = False,
) -> list[dict[str, Any]]:
    scope = signed.actor.agency_id if signed.actor.role == "agency" else None
    if signed.actor.role == "agency" and scope is None:  # pragma: no cover
        raise PermissionDenied("no agency")
    rows = queries.tasks(
        web.db,
        agency_id=scope,
        agency_code=agency or None,
        workflow=workflow or None,
        open_only=not include_closed,
        overdue_at=web.now() if overdue else None,
        person=signed.actor,
    )
    return [task_json(web, r.task, r.activity, r.agency) for r in rows]


@router.get("/api/tasks/{task_id}", tags=["tasks"])
def api_task(web: WebDep, signed: TaskUser, task_id: int) -> dict[str, Any]:
    task, activity = task_for(web, signed, task_id)
    return task_json(web, task, activity, None)


@router.post("/api/tasks/{task_id}/fire", tags=["tasks"])
def api_fire_task(
    web: WebDep, signed: TaskUser, _csrf: CsrfHeader, task_id: int, body: FireBody
) -> dict[str, Any]:
    task_for(web, signed, task_id)
    outcome = web.service.fire_task(
        signed.actor, task_id, body.trigger, body.inputs, body.reason, body.expected_version
    )
    assert outcome.task is not None
    return task_json(web, outcome.task, outcome.activity, None)


@router.post("/api/tasks/{task_id}/give", tags=["tasks"])
def api_give_task(
    web: WebDep, signed: TaskUser, _csrf: CsrfHeader, task_id: int, body: GiveBody
) -> dict[str, Any]:
    """Give the task to one of its agency's people, or a colleague (with ``name``) added as
    one: staff, or the agency's lead, deputy or senior manager."""
    task_for(web, signed, task_id)
    outcome = web.service.give_task(signed.actor, task_id, body.email, body.name, body.note)
    assert outcome.task is not None
    return task_json(web, outcome.task, outcome.activity, None)


@router.post("/api/tasks/{task_id}/more-time", tags=["tasks"])
def api_more_time(
    web: WebDep, signed: TaskUser, _csrf: CsrfHeader, task_id: int, body: MoreTimeBody
) -> dict[str, Any]:
    """Agree to the date the agency asked for, or decline it with a reason."""
    task_for(web, signed, task_id)
    outcome = web.service.decide_more_time(
        signed.actor, task_id, body.agree, body.reason, body.new_due
    )
    assert outcome.task is not None
    return task_json(web, outcome.task, outcome.activity, None)


@router.post("/api/tasks/{task_id}/take", tags=["tasks"])
def api_take_task(
    web: WebDep, signed: StaffUser, _csrf: CsrfHeader, task_id: int, body: TakeBody
) -> dict[str, Any]:
    """Take the task ("Assign to me"), or give it to a colleague of the business unit
    (``to``): who handles it shows in everyone's "Waiting on you". Staff only."""
    outcome = web.service.take(signed.actor, task_id, body.to)
    assert outcome.task is not None
    return task_json(web, outcome.task, outcome.activity, None)


@router.get("/api/inbox", tags=["inbox"])
def api_inbox(web: WebDep, signed: TaskUser, show: str = "mine") -> list[dict[str, Any]]:
    """What is waiting on the person signed in, most urgent first (overdue, then fewest
    working days left, then no deadline), each with the one action it needs; ``show``:
    ``mine``, ``unassigned`` or ``all``."""
    return [inbox_json(i) for i in web.service.waiting_on(signed.actor, show=show)]


@router.get("/api/agencies", tags=["agencies"])
def api_agencies(web: WebDep, signed: TaskUser) -> list[dict[str, Any]]:
    agencies = web.service.list_agencies()
    if signed.actor.role == "agency":
        agencies = [a for a in agencies if a.id == signed.actor.agency_id]
    return [agency_json(a) for a in agencies]


def task_json(
    web: WebState, task: Task, activity: Activity, agency: Agency | None
) -> dict[str, Any]:
    if agency is None and task.agency_id is not None:  # the same shape from every route
        agency = queries.agency(web.db, task.agency_id)
    return {
        "id": task.id,
        "activity": activity.ref,
        "kind": task.kind,
        "title": task.title,
        "state": task.state,
        "is_open": task.is_open,
        "agency_id": task.agency_id,
        "agency": agency.code if agency else None,
        "deadline_status": task.deadline_status,
        "due_on": task.due_on.isoformat() if task.due_on else None,
        "deadline": describe_task_deadline(task, web.now(), web.cal),
        "version": task.version,
        "data": task.data,
        "purpose": task.purpose,
        "given_to": task.assignee_email,
        "more_time_asked_until": (
            task.requested_due_on.isoformat() if task.requested_due_on else None
        ),
        "handled_by": task.handled_by,
    }


def inbox_json(i: WaitingItem) -> dict[str, Any]:
    return {
        "kind": i.kind,
        "kind_text": i.kind_text,
        "task_id": i.task_id,
        "activity": i.reference,
        "activity_title": i.activity_title,
        "title": i.title,
        "agency": i.agency_code or None,
        "agency_name": i.agency_name,
        "needs": i.needs,
        "action": {"label": i.action, "url": i.url},
        "due_on": i.due_on.isoformat() if i.due_on else None,
        "working_days_left": i.working_days_left,
        "overdue": i.overdue,
        "deadline": i.deadline_text,
        "handled_by": i.handled_by,
        "assigned_to": i.assigned_to,
        "more_time_asked_until": i.asked_until.isoformat() if i.asked_until else None,
        "may_agree": i.may_agree,
        "may_decline": i.may_decline,
        "may_take": i.may_take,
        "note": i.note or None,
    }


def activity_json(a: Activity) -> dict[str, Any]:
    return {
        "ref": a.ref,
        "workflow": a.workflow,
        "title": a.title,
        "state": a.state,
        "version": a.version,
        "opened_by": a.opened_by,
        "opened_at": a.opened_at.isoformat(),
        "closed_at": a.closed_at.isoformat() if a.closed_at else None,
        "data": a.data,
    }


def agency_json(a: Agency) -> dict[str, Any]:
    return {
        "id": a.id,
        "code": a.code,
        "name": a.name,
        "sector": a.sector,
        "lead_name": a.lead_name,
        "lead_email": a.lead_email,
        "active": a.active,
    }
