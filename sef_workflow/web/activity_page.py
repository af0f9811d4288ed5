"""The activity page (its stepper, timeline, transitions and what it shows of assessments),
the page that says where a record is now when someone else moved it first, and the page
that confirms a cancel or a withdraw (of an activity or a task) before it is made."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from ..definitions import TaskKind, TransitionDef, Workflow
from ..errors import (
    ConcurrentUpdate,
    GuardFailed,
    NotFound,
    PermissionDenied,
    SefError,
    TransitionNotAllowed,
)
from ..guards import lower_first
from ..views import Timeline, activity_data_rows, email_line, event_line
from .assessment_views import activity_context
from .auth import SignedIn
from .forms import FormState
from .rendering import error_page, render
from .scope import activity_offer, allowed, warns, what_happens
from .state import WebState


def render_activity(
    web: WebState,
    request: Request,
    signed: SignedIn,
    ref: str,
    state: FormState | None,
    status: int = 200,
    done: str = "",
) -> HTMLResponse:
    activity, wf, agencies, tasks = web.service.get_activity(ref)
    events = web.service.timeline(activity.ref)
    emails = web.service.notifications_for(activity.ref)
    words = Timeline.read(web.service, wf, tasks)
    timeline = sorted(
        [(e.at, "event", event_line(e, web.cal, words)) for e in events]
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
        offer=activity_offer(web, signed.actor, activity, wf, agencies, tasks),
        steps=steps(wf, activity.state),
        timeline=timeline,
        data_rows=activity_data_rows(activity.data, wf),
        names=words.names,
        form=state or FormState(""),
        success=done_message(done, wf, activity.state),
        **activity_context(web, signed, activity, wf, tasks),
    )


#: ``?done=`` on the activity page: ``opened``, or ``fired-<trigger>`` after a transition
OPENED, FIRED = "opened", "fired-"


def done_message(done: str, wf: Workflow, state: str) -> str:
    """The success banner for ``?done=<key>``: words from the definition (the workflow's
    title, the transition's and the state's), never text from the request."""
    now = f" It is now “{wf.states[state].title}”." if state in wf.states else ""
    if done == OPENED:
        return f"{wf.title} opened.{now}"
    if not done.startswith(FIRED):
        return ""
    trigger = done.removeprefix(FIRED)
    fired = next((t for t in wf.transitions if t.trigger == trigger), None)
    return f"{fired.title}: done.{now}" if fired is not None else ""


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


def render_confirm(
    web: WebState,
    request: Request,
    signed: SignedIn,
    ref: str,
    trigger: str,
    task_id: int | None = None,
    state: FormState | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The page that confirms a cancel or a withdraw: what will happen (tasks withdrawn,
    who is emailed), the reason, and one warning button whose POST makes the change.
    Opening it changes nothing."""
    activity, wf, agencies, tasks = web.service.get_activity(ref)
    task = next((t for t in tasks if t.id == task_id), None) if task_id is not None else None
    if task_id is not None and task is None:  # pragma: no cover - the route found it
        raise NotFound(f"task {task_id} not found")
    machine: Workflow | TaskKind = wf.tasks[task.kind] if task is not None else wf
    current = task.state if task is not None else activity.state
    if not any(x.trigger == trigger and warns(machine, x) for x in machine.transitions):
        raise NotFound(f"no cancel or withdraw '{trigger}' to confirm here")
    t = machine.transition_for(trigger, current)
    if t is None or not warns(machine, t):  # moved on since the page was opened
        return stale_page(
            web, request, ref, TransitionNotAllowed(f"'{trigger}' is not allowed now"), task_id
        )
    if not signed.actor.may(t.roles):
        raise PermissionDenied(f"{signed.actor.role} may not '{trigger}' here")
    back = f"/tasks/{task.id}" if task is not None else f"/activities/{activity.ref}"
    dest = machine.states.get(t.dest)
    return render(
        request,
        "confirm.html",
        status=status,
        t=t,
        activity=activity,
        task=task,
        question=f"Are you sure you want to {lower_first(t.title)}?",
        what=what_happens(wf, machine, t, activity, agencies, tasks, task),
        final=dest is not None and dest.final,
        back=back,
        action=f"{back}/confirm/{t.trigger}",
        version=task.version if task is not None else activity.version,
        form=state or FormState(""),
    )


def reason_missing(t: TransitionDef, reason: str | None) -> list[tuple[str, str]]:
    """The confirmation page's own check: a reason where the transition needs one."""
    if t.reason_required and not (reason or "").strip():
        return [(f"t-{t.trigger}-reason", "Enter a reason")]
    return []
