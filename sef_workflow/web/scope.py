"""What a signed-in user may see and do: a task (staff see every task, an agency only its
own), an activity's workflow as it was pinned, and the transitions their role may fire."""

from __future__ import annotations

from typing import Any

from ..definitions import TransitionDef, Workflow
from ..errors import NotFound
from ..models import STAFF_ROLES, Activity, Task
from ..service import Actor
from .auth import SignedIn
from .state import WebState


def task_for(web: WebState, signed: SignedIn, task_id: int) -> tuple[Task, Activity]:
    """The task if this user may see it: staff see all, an agency's lead, deputy and senior
    manager its own, a named contact those meant for them (else 404)."""
    task, activity = web.service.get_task(task_id)
    actor = signed.actor
    if actor.role in STAFF_ROLES or (actor.role == "agency" and actor.sees(task)):
        return task, activity
    raise NotFound(f"task {task_id} not found")


def workflow_of(web: WebState, activity: Activity) -> Workflow:
    with web.db.read() as session:
        return web.service.workflow_for(session, activity)


def allowed(wf: Workflow | Any, state: str, actor: Actor) -> list[TransitionDef]:
    """The transitions out of ``state`` that ``actor``'s role may fire (of a workflow or of a
    task kind)."""
    out = []
    for trigger in wf.allowed_triggers(state):
        t = wf.transition_for(trigger, state)
        if t is not None and actor.may(t.roles):
            out.append(t)
    return list(out)
