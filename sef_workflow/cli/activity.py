"""``sef activity``: open, list, show and move activities, and add tasks to them by hand."""

from __future__ import annotations

import click

from .context import Context, parse_inputs, pass_ctx, print_created, print_table


@click.group()
def activity() -> None:
    """Open, list, show and move activities."""


@activity.command("open")
@click.argument("workflow")
@click.option("--title", required=True, help="A title with no child or family details.")
@click.option(
    "--agency",
    "agency_codes",
    multiple=True,
    metavar="CODE",
    help="An agency taking part (repeat for each).",
)
@click.option(
    "--input",
    "inputs",
    multiple=True,
    metavar="NAME=VALUE",
    help="An input the workflow asks for when opening (repeat).",
)
@click.option("--parent", metavar="REF", help="The activity this one follows from.")
@pass_ctx
def activity_open(
    c: Context,
    workflow: str,
    title: str,
    agency_codes: tuple[str, ...],
    inputs: tuple[str, ...],
    parent: str | None,
) -> None:
    """Open a new activity of WORKFLOW (see: sef workflows check)."""
    out = c.service.open_activity(
        c.actor(), workflow, title, list(agency_codes), parse_inputs(inputs), parent
    )
    from ..views import state_title

    wf = c.app.registry.get(workflow)
    now_in = state_title(wf, out.activity.state)
    click.echo(f"{out.activity.ref} opened: {out.activity.title}. Now: {now_in}")
    print_created(out.created_tasks)


@activity.command("list")
@click.option("--workflow", help="Only this workflow.")
@click.option("--state", help="Only activities in this state.")
@click.option("--open", "open_only", is_flag=True, help="Only activities not yet closed.")
@pass_ctx
def activity_list(c: Context, workflow: str | None, state: str | None, open_only: bool) -> None:
    """List activities, newest first (--workflow and --state take the names `sef workflows
    show` gives)."""
    from ..calendar import format_date
    from ..views import state_title

    workflows = c.app.registry.current()
    rows = []
    for a in c.service.list_activities(workflow, state, include_closed=not open_only):
        wf = workflows.get(a.workflow)
        rows.append(
            (
                a.ref,
                wf.title if wf is not None else a.workflow,
                state_title(wf, a.state),
                a.title[:50],
                format_date(c.app.calendar.local_date(a.opened_at)),
            )
        )
    print_table(rows, ("REF", "KIND", "STATE", "TITLE", "OPENED"))


@activity.command("show")
@click.argument("ref")
@pass_ctx
def activity_show(c: Context, ref: str) -> None:
    """Show an activity: state, allowed triggers, tasks with deadlines, and the timeline."""
    from ..views import (
        activity_data_rows,
        describe_task_deadline,
        email_line,
        event_line,
        task_state_title,
    )
    from .context import timeline_words

    service, cal = c.service, c.app.calendar
    act, wf, agencies_, tasks = service.get_activity(ref)
    now = service.clock.now()
    state = wf.states[act.state]
    click.echo(f"{act.ref}  {act.title}")
    click.echo(f"  {wf.title}; state: {state.title}; version {act.version}")
    if agencies_:
        click.echo(f"  agencies: {', '.join(f'{a.name} ({a.code})' for a in agencies_)}")
    for label, value in activity_data_rows(act.data, wf):
        click.echo(f"  {label}: {value}")
    allowed = [t for t in wf.transitions if act.state in t.sources]
    if allowed:
        click.echo("  allowed now (sef activity fire REF TRIGGER):")
        for t in allowed:
            click.echo(f"    {t.trigger}: {t.title}")
    else:
        click.echo("  allowed now: nothing (closed)")
    click.echo("\nTasks:")
    rows = [
        (
            str(t.id),
            t.title[:60],
            task_state_title(wf, t.kind, t.state),
            describe_task_deadline(t, now, cal),
        )
        for t in tasks
    ]
    print_table(rows, ("ID", "TASK", "STATE", "DEADLINE"))
    click.echo("\nTimeline:")
    words = timeline_words(c, wf, tasks)
    lines = [(e.at, 0, e.id or 0, event_line(e, cal, words)) for e in service.timeline(ref)]
    lines += [
        (n.created_at, 1, n.id or 0, email_line(n, cal)) for n in service.notifications_for(ref)
    ]
    for _at, _order, _id, line in sorted(lines):
        click.echo("  " + line)


@activity.command("fire")
@click.argument("ref")
@click.argument("trigger")
@click.option("--input", "inputs", multiple=True, metavar="NAME=VALUE", help="Input (repeat).")
@click.option("--reason", help="Why (recorded in the trail; some triggers require it).")
@click.option(
    "--expect-version", type=int, help="Refuse if the activity changed since this version."
)
@pass_ctx
def activity_fire(
    c: Context,
    ref: str,
    trigger: str,
    inputs: tuple[str, ...],
    reason: str | None,
    expect_version: int | None,
) -> None:
    """Fire TRIGGER on activity REF."""
    from ..views import state_title

    out = c.service.fire(c.actor(), ref, trigger, parse_inputs(inputs), reason, expect_version)
    wf = c.service.get_activity(out.activity.ref)[1]
    t = wf.transition_for(trigger, out.from_state or "")
    what = t.title if t is not None else trigger
    click.echo(f"{out.activity.ref}: {what}. Now: {state_title(wf, out.to_state)}")
    print_created(out.created_tasks)
    for child in out.spawned:
        click.echo(f"  opened {child.ref}: {child.title}")


@activity.command("add-task")
@click.argument("ref")
@click.argument("kind")
@click.option("--agency", required=True, metavar="CODE", help="The agency that owns it.")
@click.option("--input", "inputs", multiple=True, metavar="NAME=VALUE", help="Input (repeat).")
@pass_ctx
def activity_add_task(
    c: Context, ref: str, kind: str, agency: str, inputs: tuple[str, ...]
) -> None:
    """Add a task by hand, e.g. an action in an action plan."""
    out = c.service.add_task(c.actor(), ref, kind, agency, parse_inputs(inputs))
    print_created(out.created_tasks)
