"""The task page: the task, its deadline, its history, its files and the transitions and
deadline changes the viewer may make."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from fastapi import Request
from fastapi.responses import HTMLResponse

from ..definitions import TaskKind
from ..models import CONTACT_PURPOSES, STAFF_ROLES, Agency, AgencyContact, Event, Task
from ..service import may_give, more_time_choices
from ..views import Timeline, event_line, task_data_rows
from . import queries
from .auth import SignedIn
from .forms import FormState, size_text
from .rendering import render
from .scope import allowed, task_for, task_offer, workflow_of
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
    words = Timeline.read(web.service, wf, [task])
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
        offer=task_offer(web, signed.actor, task, activity, wf),
        events=[event_line(e, web.cal, words) for e in events],
        data_rows=task_data_rows(task, kind),
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
        success=done_message(done, kind, task),
    )


#: what a change just made says on the task page it lands back on (``?done=<key>``)
DONE = {
    "given": "The task has been given on; they have been emailed.",
    "agreed": "More time agreed: the deadline has moved and the agency has been emailed.",
    "declined": "More time not agreed: the agency has been emailed.",
    "extended": "The deadline has been extended. The original date is kept in the history.",
    "paused": "The deadline is paused: its clock has stopped until it is resumed.",
    "resumed": "The deadline has resumed: the due date has moved on by the working days "
    "it was paused.",
    "waived": "The deadline has been waived.",
}
#: ``?done=`` after a transition: ``fired-<trigger>``, and ``-file`` when a file came with it
FIRED, WITH_FILE = "fired-", "-file"


def done_message(done: str, kind: TaskKind, task: Task) -> str:
    """The success banner for ``?done=<key>``: a fixed message, or a transition of the task
    said by its title from the definition; nothing for a key it does not know."""
    if done in DONE:
        return DONE[done]
    if not done.startswith(FIRED):
        return ""
    trigger = done.removeprefix(FIRED).removesuffix(WITH_FILE)
    fired = next((t for t in kind.transitions if t.trigger == trigger), None)
    if fired is None:
        return ""
    state = kind.states[task.state].title if task.state in kind.states else ""
    text = f"{fired.title}: done." + (f" The task is now “{state}”." if state else "")
    if done.endswith(WITH_FILE):
        text += " The file you attached is listed under Files."
    return text


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
    if agency is None or agency.id is None:
        return "The business unit"
    return holder_words(task, agency, web.service.contacts_of([agency.id]), full=True)


def holder_words(
    task: Task, agency: Agency, contacts: Sequence[AgencyContact], *, full: bool = False
) -> str:
    """Who of ``agency`` (whose named ``contacts`` are given) the task is with: the person
    it was given to, the contact for its purpose, or the lead and deputy; ``full`` adds
    addresses and why."""

    def person(name: str, email: str) -> str:
        return f"{name} ({email})" if full else name

    if task.assignee_email:
        return person(task.assignee_name or task.assignee_email, task.assignee_email)
    named = [c for c in contacts if task.purpose and c.purpose == task.purpose]
    label = CONTACT_PURPOSES.get(task.purpose or "", "")
    label = label if label[1:2].isupper() else label[:1].lower() + label[1:]
    if named:
        who = person(named[0].name, named[0].email)
        return f"{who}, the agency's contact for {label}" if full else who
    lead = person(agency.lead_name, agency.lead_email)
    if agency.deputy_email:
        deputy = person(agency.deputy_name or agency.deputy_email, agency.deputy_email)
        words = f"{lead} (lead) and {deputy} (deputy)"
    else:
        words = f"{lead} (lead)"
    if full and task.purpose:
        words += f"; the agency names no contact for {label}"
    return words
