"""The activity page (its stepper, timeline, transitions and what it shows of assessments),
and the page that says where a record is now when someone else moved it first."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from ..definitions import Workflow
from ..errors import ConcurrentUpdate, GuardFailed, SefError
from ..views import email_line, event_line
from .assessment_views import activity_context
from .auth import SignedIn
from .forms import FormState
from .rendering import error_page, render
from .scope import allowed
from .state import WebState


def render_activity(
    web: WebState,
    request: Request,
    signed: SignedIn,
    ref: str,
    state: FormState | None,
    status: int = 200,
) -> HTMLResponse:
    activity, wf, agencies, tasks = web.service.get_activity(ref)
    events = web.service.timeline(activity.ref)
    emails = web.service.notifications_for(activity.ref)
    titles: dict[int | None, str] = {t.id: t.title for t in tasks}
    timeline = sorted(
        [(e.at, "event", event_line(e, web.cal, titles)) for e in events]
        + [(n.created_at, "email", email_line(n, web.cal)) for n in emails],
        key=lambda x: x[0],
    )
    return render(
        request,
        "activity.html",
        status=status,
        activity=activity,
        wf=wf,
        agencies=agencies,
        tasks=tasks,
        triggers=allowed(wf, activity.state, signed.actor),
        steps=steps(wf, activity.state),
        timeline=timeline,
        form=state or FormState(""),
        **activity_context(web, signed, activity, wf, tasks),
    )


def steps(wf: Workflow, current: str) -> list[tuple[str, str, str]]:
    """(name, title, status) for the stepper: done, current or todo; finals at the end."""
    names = [s for s in wf.states if not wf.states[s].final]
    finals = [s for s in wf.states if wf.states[s].final]
    order = names + finals
    index = order.index(current) if current in order else -1
    out = []
    for i, name in enumerate(order):
        if wf.states[name].final and name != current:
            continue
        status = "current" if name == current else ("done" if i < index else "todo")
        out.append((name, wf.states[name].title, status))
    return out


def stale_page(
    web: WebState,
    request: Request,
    activity_ref: str,
    exc: SefError,
    task_id: int | None = None,
) -> HTMLResponse:
    """Someone else moved the record, or the trigger is no longer allowed: say where it is."""
    activity, wf, _agencies, tasks = web.service.get_activity(activity_ref)
    task = next((t for t in tasks if t.id == task_id), None) if task_id else None
    if task is not None:
        kind = wf.tasks[task.kind]
        state_title = kind.states[task.state].title
        back = f"/tasks/{task.id}"
        what = f"task {task.id} ({task.title})"
    else:
        state_title = wf.states[activity.state].title
        back = f"/activities/{activity.ref}"
        what = activity.ref
    if isinstance(exc, ConcurrentUpdate):
        title = f"Someone else moved {what}"
        message = f"Someone else moved {what} while you had the page open. It is now in state '{state_title}'. Nothing you sent was saved."
    elif isinstance(exc, GuardFailed):
        title = "That action cannot be taken yet"
        message = str(exc)
    else:
        title = f"That action is no longer allowed on {what}"
        message = f"{what} is now in state '{state_title}', where that action is not allowed. Someone else may have moved it. Nothing you sent was saved."
    return error_page(request, 409, title, message, back=back, current_state=state_title)
