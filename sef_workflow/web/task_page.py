"""The task page: the task, its deadline, its history, its files and the transitions and
deadline changes the viewer may make."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fastapi import Request
from fastapi.responses import HTMLResponse

from ..models import CONTACT_PURPOSES, STAFF_ROLES, Agency, Event, Task
from ..service import may_give, more_time_choices
from ..views import event_line
from . import queries
from .auth import SignedIn
from .forms import FormState, size_text
from .rendering import render
from .scope import allowed, task_for, workflow_of
from .state import WebState
from .uploads import ALLOWED_UPLOADS


def render_task(
    web: WebState,
    request: Request,
    signed: SignedIn,
    task_id: int,
    state: FormState | None,
    status: int = 200,
    done: str = "",
) -> HTMLResponse:
    task, activity = task_for(web, signed, task_id)
    wf = workflow_of(web, activity)
    kind = wf.tasks[task.kind]
    is_staff = signed.actor.role in STAFF_ROLES
    events = [e for e in web.service.timeline(activity.ref) if e.task_id == task.id]
    agency = queries.agency(web.db, task.agency_id) if task.agency_id else None
    people = web.service.people_of(agency.id) if agency is not None and agency.id else []
    agree, decline = more_time_choices(signed.actor, kind, task)
    return render(
        request,
        "task.html",
        status=status,
        task=task,
        activity=activity,
        wf=wf,
        kind=kind,
        agency=agency,
        triggers=allowed(kind, task.state, signed.actor),
        events=[event_line(e, web.cal, {task.id: task.title}) for e in events],
        uploads=queries.uploads_for(web.db, [task_id]),
        can_upload=signed.actor.role == "agency",
        deadline_actions=is_staff and task.is_open and task.deadline_status != "none",
        upload_limit=size_text(web.settings.upload_limit),
        allowed_types=", ".join(sorted({e.lstrip(".") for e in ALLOWED_UPLOADS} - {"jpeg"})),
        accept=",".join(ALLOWED_UPLOADS),
        form=state or FormState(""),
        holder=holder_text(web, task, agency),
        people=people if may_give(signed.actor, task) else [],
        more_time=pending_more_time(task, events),
        may_agree=agree,
        may_decline=decline,
        done=DONE.get(done, ""),
    )


#: what a change just made says on the task page it lands back on (``?done=<key>``)
DONE = {
    "given": "The task has been given on; they have been emailed.",
    "agreed": "More time agreed: the deadline has moved and the agency has been emailed.",
    "declined": "More time not agreed: the agency has been emailed.",
}


@dataclass(frozen=True)
class MoreTime:
    """A request for more time waiting for a decision."""

    asked: date
    reason: str
    by: str


def pending_more_time(task: Task, events: list[Event]) -> MoreTime | None:
    """The request for more time waiting on the task, from its latest asking event."""
    if task.requested_due_on is None or not task.is_open:
        return None
    asking = [e for e in events if e.inputs.get("requested_date") and e.trigger]
    last = asking[-1] if asking else None
    return MoreTime(
        asked=task.requested_due_on,
        reason=(last.reason or "") if last else "",
        by=last.actor if last else "",
    )


def holder_text(web: WebState, task: Task, agency: Agency | None) -> str:
    """Who of the agency the task is with, in words."""
    if agency is None:
        return "The business unit"
    if task.assignee_email:
        return f"{task.assignee_name or task.assignee_email} ({task.assignee_email})"
    if task.purpose and agency.id is not None:
        named = [c for c in web.service.contacts_of([agency.id]) if c.purpose == task.purpose]
        label = CONTACT_PURPOSES.get(task.purpose, task.purpose)
        if named:
            return f"{named[0].name} ({named[0].email}), the agency's {label} contact"
        return f"{agency.lead_name}, the lead (the agency names no {label} contact)"
    if agency.deputy_email:
        return f"{agency.lead_name} (lead) and {agency.deputy_name or agency.deputy_email} (deputy)"
    return f"{agency.lead_name} (lead)"
