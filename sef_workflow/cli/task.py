"""``sef task``: list tasks and fire their triggers; extend, pause, resume or waive their
deadlines; give a task to one of its agency's people; agree or decline a request for more
time."""

from __future__ import annotations

from datetime import date
from typing import Any

import click

from .context import Context, parse_inputs, pass_ctx, print_table


@click.group()
def task() -> None:
    """List tasks and move them; extend, pause, resume or waive their deadlines; give a task
    to one of its agency's people; agree or decline a request for more time."""


@task.command("list")
@click.option("--agency", metavar="CODE", help="Only this agency's tasks.")
@click.option("--state", help="Only tasks in this state.")
@click.option("--activity", "activity_ref", metavar="REF", help="Only this activity's tasks.")
@click.option("--kind", help="Only this task kind.")
@click.option("--overdue", is_flag=True, help="Only tasks past their deadline.")
@click.option(
    "--due-before",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    help="Only tasks due before this date.",
)
@click.option("--all", "include_closed", is_flag=True, help="Include closed tasks.")
@pass_ctx
def task_list(
    c: Context,
    agency: str | None,
    state: str | None,
    activity_ref: str | None,
    kind: str | None,
    overdue: bool,
    due_before: Any,
    include_closed: bool,
) -> None:
    """List open tasks, soonest deadline first."""
    from ..service import TaskFilter
    from ..views import describe_task_deadline, task_state_title, words

    f = TaskFilter(
        agency=agency,
        state=state,
        activity=activity_ref,
        kind=kind,
        overdue=overdue,
        due_before=due_before.date() if due_before else None,
        include_closed=include_closed,
    )
    now = c.service.clock.now()
    workflows = c.app.registry.current()
    rows = []
    for t, a, g in c.service.list_tasks(f):
        wf = workflows.get(a.workflow)
        kind_def = wf.tasks.get(t.kind) if wf is not None else None
        rows.append(
            (
                str(t.id),
                a.ref,
                g.code if g else "BU",
                kind_def.title if kind_def is not None else words(t.kind),
                task_state_title(wf, t.kind, t.state),
                describe_task_deadline(t, now, c.app.calendar),
            )
        )
    print_table(rows, ("ID", "ACTIVITY", "AGENCY", "KIND", "STATE", "DEADLINE"))


@task.command("fire")
@click.argument("task_id", type=int)
@click.argument("trigger")
@click.option("--input", "inputs", multiple=True, metavar="NAME=VALUE", help="Input (repeat).")
@click.option("--reason", help="Why (recorded in the trail; some triggers require it).")
@click.option("--expect-version", type=int, help="Refuse if the task changed since this version.")
@pass_ctx
def task_fire(
    c: Context,
    task_id: int,
    trigger: str,
    inputs: tuple[str, ...],
    reason: str | None,
    expect_version: int | None,
) -> None:
    """Fire TRIGGER on task TASK_ID (submit a return, accept it, update an action...)."""
    from ..views import task_state_title

    out = c.service.fire_task(
        c.actor(), task_id, trigger, parse_inputs(inputs), reason, expect_version
    )
    wf = c.service.get_activity(out.activity.ref)[1]
    kind = out.task.kind if out.task is not None else None
    kind_def = wf.tasks.get(kind) if kind is not None else None
    t = kind_def.transition_for(trigger, out.from_state or "") if kind_def else None
    what = t.title if t is not None else trigger
    now_in = task_state_title(wf, kind, out.to_state)
    click.echo(f"task {task_id} of {out.activity.ref}: {what}. Now: {now_in}")


@task.command("extend")
@click.argument("task_id", type=int)
@click.option(
    "--to",
    "to_date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    help="The new due date.",
)
@click.option("--by", "by_days", type=int, metavar="N", help="Working days to add.")
@click.option("--reason", required=True, help="Why the deadline moves.")
@click.option("--approver", metavar="EMAIL", help="Who approved it (default: you).")
@pass_ctx
def task_extend(
    c: Context, task_id: int, to_date: Any, by_days: int | None, reason: str, approver: str | None
) -> None:
    """Extend a task's deadline to a date or by N working days; the original is kept."""
    service = c.service
    if (to_date is None) == (by_days is None):
        raise click.UsageError("give exactly one of --to DATE or --by N")
    new_due: date
    if to_date is not None:
        new_due = to_date.date()
    else:
        current = _task_due(c, task_id)
        new_due = c.app.calendar.add_working_days(current, by_days or 0)
    out = service.extend_deadline(c.actor(), task_id, new_due, reason, approver)
    _print_deadline(c, out)


def _task_due(c: Context, task_id: int) -> date:
    from ..errors import TransitionNotAllowed

    t, _activity = c.service.get_task(task_id)
    if t.due_on is None:
        raise TransitionNotAllowed(f"task {task_id} has no deadline")
    return t.due_on


def _print_deadline(c: Context, out: Any) -> None:
    from ..views import describe_task_deadline

    t = out.task
    click.echo(
        f"task {t.id} of {out.activity.ref}: "
        f"{describe_task_deadline(t, c.service.clock.now(), c.app.calendar)}"
    )


@task.command("pause")
@click.argument("task_id", type=int)
@click.option("--reason", required=True, help="Why the clock stops.")
@pass_ctx
def task_pause(c: Context, task_id: int, reason: str) -> None:
    """Stop a task's clock (waiting on a partner, legal hold)."""
    _print_deadline(c, c.service.pause_deadline(c.actor(), task_id, reason))


@task.command("resume")
@click.argument("task_id", type=int)
@click.option("--reason", required=True, help="Why the clock restarts.")
@pass_ctx
def task_resume(c: Context, task_id: int, reason: str) -> None:
    """Restart a paused clock; the deadline moves by the time spent paused."""
    _print_deadline(c, c.service.resume_deadline(c.actor(), task_id, reason))


@task.command("waive")
@click.argument("task_id", type=int)
@click.option("--reason", required=True, help="Why the deadline no longer applies.")
@click.option("--approver", required=True, metavar="EMAIL", help="The manager who approved.")
@pass_ctx
def task_waive(c: Context, task_id: int, reason: str, approver: str) -> None:
    """Waive a deadline where its rule allows (statutory notification deadlines never)."""
    _print_deadline(c, c.service.waive_deadline(c.actor(), task_id, reason, approver))


@task.command("give")
@click.argument("task_id", type=int)
@click.argument("email")
@click.option(
    "--name", help="Their full name: needed for someone not yet one of the agency's people."
)
@click.option("--note", help="A note for them (recorded on the timeline).")
@pass_ctx
def task_give(c: Context, task_id: int, email: str, name: str | None, note: str | None) -> None:
    """Give task TASK_ID to EMAIL, one of its agency's people (see: sef agencies contacts
    CODE), or to a colleague of theirs (with --name), who is added as one of the agency's
    people. The task's emails then go to them alone and they see it when they sign in.
    Giving it to the agency's lead gives it back to the agency as a whole (a task addressed
    to a purpose's contact is then the lead's by name).

    The agency's lead, deputy and senior manager may (for their own agency's tasks), and
    the business unit.
    """
    out = c.service.give_task(c.actor(), task_id, email, name, note)
    t = out.task
    assert t is not None
    if t.assignee_email is None:
        emailed = sorted({n.address for n in out.notifications if n.address})
        code = next((a.code for a in c.service.list_agencies() if a.id == t.agency_id), "")
        click.echo(f"Task {t.id} given back to {code} as a whole; emailed to {', '.join(emailed)}")
        return
    click.echo(
        f"Task {t.id} given to {t.assignee_name or t.assignee_email} <{t.assignee_email}>; "
        "they are emailed a sign-in link"
    )


@task.command("more-time")
@click.argument("task_id", type=int)
@click.option("--agree/--decline", default=None, help="Agree to the date asked for, or decline.")
@click.option("--reason", help="Why (required to decline; the agency is told).")
@pass_ctx
def task_more_time(c: Context, task_id: int, agree: bool | None, reason: str | None) -> None:
    """Decide on the request for more time waiting on task TASK_ID: agree (the deadline moves
    to the date the agency asked for, the original is kept) or decline with a reason (the
    agency is told why).

    Whoever the deadline's more_time_decided_by names may: coordinators and managers, and
    for an agency report or data return the agency's own senior manager. Moving a statutory
    deadline needs a manager.
    """
    from ..calendar import format_deadline_date

    if agree is None:
        raise click.UsageError("give --agree or --decline")
    out = c.service.decide_more_time(c.actor(), task_id, agree, reason)
    t = out.task
    assert t is not None
    due = f"due {format_deadline_date(t.due_on)}" if t.due_on else "without a deadline"
    if agree:
        click.echo(f"More time agreed: task {t.id} is now {due}")
    else:
        click.echo(f"More time declined: task {t.id} is still {due}; the agency is told why")


@task.command("take")
@click.argument("task_id", type=int)
@click.option("--to", "to_email", metavar="EMAIL", help="A colleague to give it to (default: you).")
@pass_ctx
def task_take(c: Context, task_id: int, to_email: str | None) -> None:
    """Take task TASK_ID ("Assign to me"), or give it to a colleague of the business unit
    with --to: who handles it is shown in everyone's 'sef inbox' and recorded on the
    timeline. Staff only; the colleague must be active staff."""
    out = c.service.take(c.actor(), task_id, to_email)
    t = out.task
    assert t is not None
    who = next((s.name for s in c.service.list_staff() if s.email == t.handled_by), "")
    named = f"{who} <{t.handled_by}>" if who else str(t.handled_by)
    click.echo(f"Task {t.id} of {out.activity.ref} is now handled by {named}")
