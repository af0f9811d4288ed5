"""What a signed-in user may see and do: a task (staff see every task, an agency only its
own), an activity's workflow as it was pinned, the transitions their role may fire, and of
those what is offered: only what would pass its guards is a button; each other one is a
line saying why in plain English and who can unblock it, with a button to ask them where
the workflow allows; cancelling and withdrawing ask to confirm first, saying what happens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..definitions import (
    Need,
    TaskKind,
    TransitionDef,
    Workflow,
    ask_for,
    guard_words,
    need_of,
    who_words,
)
from ..errors import NotFound
from ..guards import GuardContext, explain, joined, lower_first, plural, short_label
from ..models import STAFF_ROLES, Activity, Agency, Task
from ..service import Actor
from . import queries
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


# ---------------------------------------------------------------------- what is offered
@dataclass(frozen=True)
class Ask:
    """A button that asks whoever can unblock a transition for what it needs: fires
    ``transition`` (a send back, say) with ``reason`` filled in."""

    transition: TransitionDef
    label: str
    reason: str


@dataclass(frozen=True)
class Blocked:
    """A transition the viewer's role may fire that would not pass now: why, in plain
    English, and the button that asks for what it needs (or a link to where to do it)."""

    transition: TransitionDef
    why: str
    ask: Ask | None = None
    #: (href, words): where the viewer does what is missing (the form still to complete)
    link: tuple[str, str] | None = None


@dataclass(frozen=True)
class Offer:
    """What the viewer is offered on a page: buttons that would succeed, blocked lines."""

    ready: list[TransitionDef] = field(default_factory=list)
    blocked: list[Blocked] = field(default_factory=list)
    #: triggers that lead to a confirmation page first (cancel, withdraw)
    confirm: frozenset[str] = frozenset()


def warns(machine: Workflow | TaskKind, t: TransitionDef) -> bool:
    """Whether ``t`` cancels or withdraws (a warning button, confirmed on a page of its
    own): a task moved to its kind's withdrawn state, an activity's transition that
    withdraws its open tasks."""
    if isinstance(machine, TaskKind):
        return machine.withdrawn_state is not None and t.dest == machine.withdrawn_state
    return "withdraw_open_tasks" in t.effects


def activity_offer(
    web: WebState,
    actor: Actor,
    activity: Activity,
    wf: Workflow,
    agencies: Sequence[Agency],
    tasks: Sequence[Task],
) -> Offer:
    """What the activity page offers ``actor``."""
    return _offer(web, actor, wf, wf, activity.state, activity, agencies, tasks, None)


def task_offer(web: WebState, actor: Actor, task: Task, activity: Activity, wf: Workflow) -> Offer:
    """What the task page offers ``actor``; the trigger that submits the task's form only
    once the form is complete."""
    kind = wf.tasks[task.kind]
    triggers = allowed(kind, task.state, actor)
    agencies: Sequence[Agency] = []
    tasks: Sequence[Task] = [task]
    if any(t.guards for t in triggers):  # what a guard may look at: the activity's rest
        _a, _wf, agencies, tasks = web.service.get_activity(activity.ref)
    offer = _offer(web, actor, wf, kind, task.state, activity, agencies, tasks, task)
    submit = kind.form_submit
    if submit is None or task.id is None or not any(t.trigger == submit for t in offer.ready):
        return offer
    left = _questions_left(web, actor, task.id)
    if not left:
        return offer
    t = next(t for t in offer.ready if t.trigger == submit)
    why = f"{left} {'question still needs' if left == 1 else 'questions still need'} an answer"
    blocked = Blocked(t, why, link=(f"/tasks/{task.id}/assessment", why))
    return Offer([x for x in offer.ready if x is not t], [blocked, *offer.blocked], offer.confirm)


def _questions_left(web: WebState, actor: Actor, task_id: int) -> int:
    """How many questions of the task's form need attention before it can be submitted."""
    try:
        view = web.service.assessment_for_task(actor, task_id)
    except NotFound:  # no form on this task: submitting has nothing to check
        return 0
    return len(view.problems) if view.assessment.status == "draft" else 0


def _offer(
    web: WebState,
    actor: Actor,
    wf: Workflow,
    machine: Workflow | TaskKind,
    state: str,
    activity: Activity,
    agencies: Sequence[Agency],
    tasks: Sequence[Task],
    task: Task | None,
) -> Offer:
    triggers = allowed(machine, state, actor)
    ready: list[TransitionDef] = []
    blocked: list[Blocked] = []
    ctx: GuardContext | None = None
    for t in triggers:
        found: tuple[str, Need] | None = None
        for guard in t.guards:
            need = need_of(wf, machine, t, guard)
            if need.own:  # its form asks for it: whoever fires it fills it in
                continue
            if ctx is None:
                ctx = _context(web, wf, machine, activity, agencies, tasks, task)
            why = explain(guard, _with_extra(web, ctx, guard, activity, task))
            if why is not None:
                found = (why, need)
                break
        if found is None:
            ready.append(t)
            continue
        why, need = found
        ask = _ask(machine, t, state, need, actor)
        if ask is not None and any(
            b.ask is not None and b.ask.transition is ask.transition for b in blocked
        ):
            ask = None  # one button per way of asking
        blocked.append(Blocked(t, why, ask))
    confirm = frozenset(t.trigger for t in ready if warns(machine, t))
    return Offer(ready, blocked, confirm)


def _codes(web: WebState, agencies: Sequence[Agency], tasks: Sequence[Task]) -> dict[int, str]:
    codes = {a.id: a.code for a in agencies if a.id is not None}
    for t in tasks:
        if t.agency_id is not None and t.agency_id not in codes:
            found = queries.agency(web.db, t.agency_id)
            codes[t.agency_id] = found.code if found is not None else "an agency"
    return codes


def _context(
    web: WebState,
    wf: Workflow,
    machine: Workflow | TaskKind,
    activity: Activity,
    agencies: Sequence[Agency],
    tasks: Sequence[Task],
    task: Task | None,
) -> GuardContext:
    """The guards' view of the activity, as the service builds it when firing (nothing
    typed yet: a guard on the transition's own inputs is left to its form)."""
    codes = _codes(web, agencies, [*tasks, *([task] if task is not None else [])])
    owner = codes.get(task.agency_id) if task is not None and task.agency_id else None
    return GuardContext(
        activity_data=activity.data,
        agency_count=len(agencies),
        tasks=tasks,
        inputs={},
        task=task,
        words=guard_words(wf, machine, codes, owner),
    )


def _with_extra(
    web: WebState, ctx: GuardContext, guard: str, activity: Activity, task: Task | None
) -> GuardContext:
    """The context with what an ``answers_moderated`` guard also looks at: how many answers
    of the same agency's assessment have no moderated rating (None: none submitted)."""
    name, _, kind = guard.partition(":")
    if name != "answers_moderated" or task is None:
        return ctx
    left: int | None = None
    for view in web.service.assessments_of(activity.ref):
        if (
            view.task is not None
            and view.task.kind == kind
            and view.assessment.agency_id == task.agency_id
        ):
            left = len(view.unmoderated()) if view.assessment.status == "submitted" else None
    return GuardContext(
        activity_data=ctx.activity_data,
        agency_count=ctx.agency_count,
        tasks=ctx.tasks,
        inputs=ctx.inputs,
        task=ctx.task,
        extra={"unmoderated": left},
        words=ctx.words,
    )


def _ask(
    machine: Workflow | TaskKind, t: TransitionDef, state: str, need: Need, actor: Actor
) -> Ask | None:
    """The button asking whoever can provide what ``t``'s guard needs, where the workflow
    gives the viewer a transition to ask them: "Ask the agency for evidence of impact"."""
    others = [r for r in need.roles if not actor.may((r,))]
    if not others or need.field is None:
        return None
    a = ask_for(machine, t, state, need, actor.may, others)
    if a is None:
        return None
    label = _label_at(machine, a.dest, need.field)
    what = short_label(label)
    reason = f"Please add {lower_first(label)}. It is needed before “{t.title}”."
    return Ask(a, f"Ask {who_words(others)} for {what}", reason)


def _label_at(machine: Workflow | TaskKind, state: str, name: str) -> str:
    """The label of the input ``name`` as those asked will see it, in ``state``."""
    for b in machine.transitions:
        if state in b.sources:
            for spec in b.inputs:
                if spec.name == name:
                    return spec.label
    return name.replace("_", " ").capitalize()


# ---------------------------------------------------------------------- what happens
_RECIPIENTS = {
    "managers": "the managers",
    "coordinator": "the coordinator who opened it",
    "business_unit": "the business unit's mailbox",
}


def what_happens(
    wf: Workflow,
    machine: Workflow | TaskKind,
    t: TransitionDef,
    activity: Activity,
    agencies: Sequence[Agency],
    tasks: Sequence[Task],
    task: Task | None = None,
) -> list[str]:
    """What cancelling or withdrawing does, sentence by sentence, for its confirmation
    page: "The 3 open single-agency audit returns will be withdrawn and CSC, ICB and POL
    emailed."."""
    codes = {a.id: a.code for a in agencies if a.id is not None}
    dest = machine.states.get(t.dest)
    out: list[str] = []
    told: list[str] = []  # agencies already said to be emailed
    if task is not None:
        who = codes.get(task.agency_id or 0)
        title = lower_first(wf.tasks[task.kind].title)
        out.append(
            f"This {title}{f' ({who})' if who else ''} will be withdrawn: it closes, its "
            "deadline stops and no more reminders go out."
        )
        if who and task.due_on is not None:
            out.append(f"{who} will be emailed that it is withdrawn.")
            told.append(who)
    else:
        if dest is not None:
            out.append(
                f"{activity.ref} will move to “{dest.title}”"
                + (", and cannot be moved on after that." if dest.final else ".")
            )
        if "withdraw_open_tasks" in t.effects:
            out.append(_withdrawn(wf, [x for x in tasks if x.is_open], codes, told))
    others: list[str] = []
    for n in t.notify:
        if n.to == "activity_agencies" and codes:
            out.append(
                f"Every agency taking part ({joined(sorted(codes.values()))}) will be emailed."
            )
        elif n.to.startswith("agency") and task is not None and task.agency_id in codes:
            who = codes[task.agency_id or 0]
            if who not in told:
                out.append(f"{who} will be emailed.")
                told.append(who)
        elif n.to in _RECIPIENTS:
            others.append(_RECIPIENTS[n.to])
    if others:
        out.append(f"{joined(list(dict.fromkeys(others))).capitalize()} will be emailed too.")
    return out


def _withdrawn(wf: Workflow, still: Sequence[Task], codes: dict[int, str], told: list[str]) -> str:
    """ "The 3 open single-agency audit returns will be withdrawn and CSC, ICB and POL
    emailed." (each agency whose request had a deadline is told it is withdrawn)."""
    if not still:
        return "No tasks are open, so none will be withdrawn."
    emailed = sorted(
        {codes[x.agency_id] for x in still if x.agency_id in codes and x.due_on is not None}
    )
    told.extend(emailed)
    parts = []
    for kind_name in dict.fromkeys(x.kind for x in still):
        n = sum(1 for x in still if x.kind == kind_name)
        title = wf.tasks[kind_name].title
        parts.append(f"{n} open {plural(title) if n > 1 else lower_first(title)}")
    sentence = f"The {joined(parts)} will be withdrawn"
    return f"{sentence} and {joined(emailed)} emailed." if emailed else f"{sentence}."
