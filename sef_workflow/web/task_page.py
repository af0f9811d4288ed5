"""The task page: the task, its deadline, its history, its files and the transitions and
deadline changes the viewer may make."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from ..models import STAFF_ROLES
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
) -> HTMLResponse:
    task, activity = task_for(web, signed, task_id)
    wf = workflow_of(web, activity)
    kind = wf.tasks[task.kind]
    is_staff = signed.actor.role in STAFF_ROLES
    events = [e for e in web.service.timeline(activity.ref) if e.task_id == task.id]
    agency = queries.agency(web.db, task.agency_id) if task.agency_id else None
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
    )
