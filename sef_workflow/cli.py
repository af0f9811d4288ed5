"""The ``sef`` command line: coordinators run activities from here.

Exit codes: 0 done; 1 unexpected error; 2 bad usage; 3 configuration error; 4 not found;
5 trigger not allowed in this state (or a guard refused); 6 someone else changed the record
first; 7 permission denied; 8 invalid input; 9 invalid workflow definition or template;
10 the mail server did not take a message.

Heavy modules are imported inside the commands so that ``sef --help`` stays quick.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from .app import App
    from .assessments import AssessmentView
    from .reports.model import Report, Table
    from .service import Actor, Service

F = TypeVar("F", bound=Callable[..., Any])

EXIT_CODES_HELP = (
    "Exit codes: 0 done, 1 unexpected error, 2 bad usage, 3 configuration error, 4 not found, "
    "5 not allowed in this state, 6 changed by someone else, 7 permission denied, "
    "8 invalid input, 9 invalid workflow definition or template, 10 mail not accepted."
)


class Context:
    def __init__(self, config: str | None, actor: str | None) -> None:
        self.config = config
        self.actor_email = actor
        self._app: App | None = None
        self._checked = False

    @property
    def app(self) -> App:
        if self._app is None:
            from .app import build
            from .config import load_settings

            self._app = build(load_settings(self.config))
        return self._app

    @property
    def service(self) -> Service:
        """The service, once the database schema is known to be current."""
        app = self.app
        if not self._checked:
            from .errors import ConfigError

            current, head = app.db.current_revision(), app.db.head_revision()
            if current != head:
                where = app.db.url.split("@")[-1]
                raise ConfigError(
                    f"database {where} is at schema {current or '(empty)'}, the code needs "
                    f"{head}: run 'sef db upgrade' (or 'sef demo' for the demo partnership)"
                )
            self._checked = True
        return app.service

    def actor(self) -> Actor:
        if not self.actor_email:
            raise click.UsageError(
                "say who is acting: --as EMAIL (a staff member or agency contact), or set SEF_ACTOR"
            )
        return self.app.service.resolve_actor(self.actor_email)


pass_ctx = click.make_pass_decorator(Context)


@contextmanager
def _errors() -> Iterator[None]:
    from .errors import SefError

    try:
        yield
    except SefError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)


class _Group(click.Group):
    """Turns every SefError into one line on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        with _errors():
            return super().invoke(ctx)


def _parse_inputs(pairs: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r}: expected NAME=VALUE", param_hint="--input")
        out[key.strip()] = value
    return out


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> None:
    if not rows:
        click.echo("(none)")
        return
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    click.echo(fmt.format(*header).rstrip())
    for row in rows:
        click.echo(fmt.format(*[str(x) for x in row]).rstrip())


@click.group(cls=_Group, epilog=EXIT_CODES_HELP)
@click.option(
    "--config",
    "config",
    envvar="SEF_CONFIG",
    type=click.Path(dir_okay=False),
    help="Settings file (default: config.toml at the project root; env SEF_CONFIG).",
)
@click.option(
    "--as",
    "actor",
    envvar="SEF_ACTOR",
    metavar="EMAIL",
    help="Who is acting: a staff member's or agency contact's email (env SEF_ACTOR).",
)
@click.version_option(package_name="sef-workflow", prog_name="sef")
@click.pass_context
def main(ctx: click.Context, config: str | None, actor: str | None) -> None:
    """sef-workflow: run a Safeguarding Children Partnership's quality-assurance activities.

    Open activities (audits, practice reviews, Section 11 cycles, action plans, report
    requests), move them through their lifecycle, and see every agency's task with its
    deadline in working days.
    """
    ctx.obj = Context(config, actor)


# --------------------------------------------------------------------------------- db
@main.group()
def db() -> None:
    """Create or upgrade the database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@pass_ctx
def db_upgrade(c: Context, revision: str) -> None:
    """Create the schema, or upgrade it to the latest migration."""
    app = c.app
    before = app.db.current_revision()
    app.db.upgrade(revision)
    after = app.db.current_revision()
    where = app.db.url.split("@")[-1]
    click.echo(f"database {where}: {before or 'empty'} -> {after}")


@db.command("current")
@pass_ctx
def db_current(c: Context) -> None:
    """Show the schema revision of the database and of the code."""
    app = c.app
    current, head = app.db.current_revision(), app.db.head_revision()
    state = "up to date" if current == head else "needs: sef db upgrade"
    click.echo(f"database: {current or 'empty'}; code: {head} ({state})")


# --------------------------------------------------------------------------------- config
@main.group("config")
def config_group() -> None:
    """Check and show the settings in force."""


@config_group.command("check")
@pass_ctx
def config_check(c: Context) -> None:
    """Load the settings and the workflows and say whether all is well."""
    app = c.app
    workflows = app.registry.current()
    forms = app.forms.forms()
    click.echo(
        f"{app.settings.source}: ok ({len(workflows)} workflows, {len(forms)} forms, "
        f"{len(app.forms.scales())} grading scales)"
    )


@config_group.command("show")
@pass_ctx
def config_show(c: Context) -> None:
    """Print every setting in force (secrets masked)."""
    from .config import SECRETS

    settings = c.app.settings.settings
    from sqlalchemy.engine import make_url

    for section, values in settings.model_dump().items():
        click.echo(f"[{section}]")
        for key, value in values.items():
            shown = "***" if (section, key) in SECRETS and value else repr(value)
            if (section, key) == ("database", "url"):
                shown = repr(make_url(value).render_as_string(hide_password=True))
            click.echo(f"{key} = {shown}")


# --------------------------------------------------------------------------------- templates
@main.group()
def templates() -> None:
    """The email templates in notifications/."""


@templates.command("check")
@pass_ctx
def templates_check(c: Context) -> None:
    """Render every template with sample data; fail on a name outside the allow-list.

    Also fails when a template a workflow names is missing, a subject uses anything but the
    reference and activity type, or a template does not render.
    """
    from .errors import DefinitionError
    from .notify.outbox import templates_named

    app = c.app
    required = templates_named(app.registry.current().values())
    problems = app.notifier.templates.check(required)
    if problems:
        for line in problems:
            click.echo(line, err=True)
        raise DefinitionError(f"{len(problems)} template problem(s); nothing was sent")
    names = app.notifier.templates.names()
    click.echo(f"{app.settings.templates_dir()}: ok ({len(names)} messages)")


# --------------------------------------------------------------------------------- agencies
@main.group()
def agencies() -> None:
    """The partner agencies and their contacts."""


@agencies.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_ctx
def agencies_import(c: Context, file: Path) -> None:
    """Import agencies from a CSV file; all rows or none.

    Columns: code, name, sector, lead_name, lead_email, deputy_name, deputy_email,
    manager_name, manager_email. An existing code is updated.
    """
    from .directory import parse_agencies_csv
    from .service import Actor

    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        from .errors import InvalidInput

        raise InvalidInput(f"{file}: not UTF-8 text; save the CSV as UTF-8") from None
    records = parse_agencies_csv(text, str(file))
    actor = c.actor() if c.actor_email else Actor.system()
    result = c.service.import_agencies(actor, records)
    click.echo(f"{file}: {result.created} agencies added, {result.updated} updated")


@agencies.command("link")
@click.argument("email")
@pass_ctx
def agencies_link(c: Context, email: str) -> None:
    """Make a single-use sign-in link for an agency contact (lead or deputy) and print it."""
    from datetime import timedelta

    from .access import login_url
    from .web.auth import create_login_link

    service = c.service
    hours = c.app.settings.settings.web.link_hours
    token = create_login_link(
        c.app.db, email, service.clock.now(), timedelta(hours=hours), service=service
    )
    click.echo(login_url(c.app.settings.settings.partnership.base_url, token))


@agencies.command("list")
@pass_ctx
def agencies_list(c: Context) -> None:
    """List agencies with their lead, deputy and senior manager."""
    rows = [
        (
            a.code,
            a.name,
            a.sector,
            a.lead_email,
            a.deputy_email or "-",
            a.manager_email or "-",
            "" if a.active else "inactive",
        )
        for a in c.service.list_agencies()
    ]
    _table(rows, ("CODE", "NAME", "SECTOR", "LEAD", "DEPUTY", "SENIOR MANAGER", ""))


# --------------------------------------------------------------------------------- staff
@main.group()
def staff() -> None:
    """Coordinators, managers and admins of the business unit."""


@staff.command("add")
@click.option("--name", required=True, help="Full name.")
@click.option("--email", required=True, help="Email address (their sign-in).")
@click.option(
    "--role", required=True, type=click.Choice(["coordinator", "manager", "admin"]), help="Role."
)
@pass_ctx
def staff_add(c: Context, name: str, email: str, role: str) -> None:
    """Add a member of staff (or change the role of an existing one)."""
    from .service import Actor

    actor = c.actor() if c.actor_email else Actor.system()
    row = c.service.add_staff(actor, name, email, role)
    click.echo(f"{row.email}: {row.role}")


@staff.command("password")
@click.argument("email")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="The new password (asked for when not given; at least 10 characters).",
)
@pass_ctx
def staff_password(c: Context, email: str, password: str) -> None:
    """Set the web sign-in password of a member of staff (stored as an argon2 hash)."""
    from .web.auth import set_password

    c.service  # noqa: B018  (checks the schema)
    set_password(c.app.db, email, password, c.app.service.clock.now())
    click.echo(f"{email}: password set")


@staff.command("list")
@pass_ctx
def staff_list(c: Context) -> None:
    """List staff and their roles."""
    rows = [
        (s.email, s.name, s.role, "" if s.active else "inactive") for s in c.service.list_staff()
    ]
    _table(rows, ("EMAIL", "NAME", "ROLE", ""))


# --------------------------------------------------------------------------------- workflows
@main.group()
def workflows() -> None:
    """The workflow definitions in workflows/*.toml."""


@workflows.command("check")
@pass_ctx
def workflows_check(c: Context) -> None:
    """Validate every workflow file; the first problem is named with file and key."""
    for wf in c.app.registry.current().values():
        click.echo(
            f"{wf.name}: ok ({len(wf.states)} states, {len(wf.transitions)} transitions, "
            f"{len(wf.tasks)} task kinds, version {wf.version})"
        )


@main.group("forms")
def forms_group() -> None:
    """Assessment forms and grading scales (forms/*.toml)."""


@forms_group.command("check")
@pass_ctx
def forms_check(c: Context) -> None:
    """Validate the grading scales and every form; the first problem is named with file and key."""
    forms = c.app.forms
    for scale in forms.scales().values():
        levels = ", ".join(f"{lv.key} ({lv.colour})" for lv in scale.levels)
        click.echo(f"scale {scale.name}: ok ({levels})")
    for form in forms.forms().values():
        click.echo(
            f"form {form.name}: ok ({form.purpose}, {len(form.standards)} standards, "
            f"{len(form.questions())} questions, scales {', '.join(form.scales)}, "
            f"version {form.version})"
        )


@forms_group.command("show")
@click.argument("name")
@pass_ctx
def forms_show(c: Context, name: str) -> None:
    """Show a form's standards and questions, and the written definitions of its scale."""
    forms = c.app.forms
    form = forms.get(name)
    click.echo(f"{form.title} ({form.name}, {form.purpose}, version {form.version})")
    if form.description:
        click.echo(form.description)
    scale = forms.scale(form.scale)
    click.echo(f"\nScale {scale.name} (default; also allowed: {', '.join(form.scales)}):")
    for lv in scale.levels:
        click.echo(f"  {lv.key:22} {lv.label}: {lv.definition}")
    for standard in form.standards:
        click.echo(f"\nStandard {standard.key}: {standard.title}")
        for q in standard.questions:
            need = "required" if q.required else "optional"
            click.echo(f"  {q.number:<22} {q.text} [{need}; evidence {q.evidence}]")


@workflows.command("show")
@click.argument("name")
@click.option("--mermaid", "mermaid_only", is_flag=True, help="Print only the Mermaid diagram.")
@pass_ctx
def workflows_show(c: Context, name: str, mermaid_only: bool) -> None:
    """Show a workflow's states, transitions, task kinds and a Mermaid stateDiagram-v2."""
    wf = c.app.registry.get(name)
    if mermaid_only:
        click.echo(wf.mermaid())
        return
    click.echo(
        f"{wf.title} ({wf.name}, reference {wf.reference_prefix}-YYYY-NNN, version {wf.version})"
    )
    if wf.description:
        click.echo(wf.description)
    click.echo("\nStates:")
    for s in wf.states.values():
        marks = " (start)" if s.name == wf.initial else ""
        marks += " (final)" if s.final else ""
        click.echo(f"  {s.name:<24} {s.title}{marks}")
    click.echo("\nTransitions:")
    for t in wf.transitions:
        extra = []
        if t.guards:
            extra.append("guards " + ", ".join(t.guards))
        if t.inputs:
            extra.append(
                "inputs " + ", ".join(i.name + ("" if i.required else "?") for i in t.inputs)
            )
        if t.creates:
            extra.append("creates " + ", ".join(t.creates))
        if t.notify:
            extra.append("notifies " + ", ".join(f"{n.template}->{n.to}" for n in t.notify))
        dest = "(stays)" if t.dest == "=" else t.dest
        click.echo(f"  {t.trigger:<24} {'|'.join(t.sources)} -> {dest}  [{', '.join(t.roles)}]")
        for e in extra:
            click.echo(f"  {'':<24}   {e}")
    if wf.tasks:
        click.echo("\nTask kinds:")
        for k in wf.tasks.values():
            deadline = "no deadline"
            if k.deadline:
                d = k.deadline
                deadline = f"{d.amount} {d.unit.replace('_', ' ')} {d.direction} {d.basis}" + (
                    "" if d.waivable else ", not waivable"
                )
            click.echo(f"  {k.name:<24} {k.title} ({k.assignee}; {deadline})")
    click.echo("\n```mermaid")
    click.echo(wf.mermaid())
    click.echo("```")


# --------------------------------------------------------------------------------- activity
@main.group()
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
        c.actor(), workflow, title, list(agency_codes), _parse_inputs(inputs), parent
    )
    click.echo(f"{out.activity.ref} opened: {out.activity.title} [{out.activity.state}]")
    _print_created(c, out.created_tasks)


def _print_created(c: Context, tasks: Sequence[Any]) -> None:
    from .calendar import format_date

    for t in tasks:
        due = f", due {format_date(t.due_on)}" if t.due_on else ""
        click.echo(f"  task {t.id}: {t.title}{due}")


@activity.command("list")
@click.option("--workflow", help="Only this workflow.")
@click.option("--state", help="Only activities in this state.")
@click.option("--open", "open_only", is_flag=True, help="Only activities not yet closed.")
@pass_ctx
def activity_list(c: Context, workflow: str | None, state: str | None, open_only: bool) -> None:
    """List activities, newest first."""
    from .calendar import format_date

    rows = [
        (
            a.ref,
            a.workflow,
            a.state,
            a.title[:50],
            format_date(c.app.calendar.local_date(a.opened_at)),
        )
        for a in c.service.list_activities(workflow, state, include_closed=not open_only)
    ]
    _table(rows, ("REF", "WORKFLOW", "STATE", "TITLE", "OPENED"))


@activity.command("show")
@click.argument("ref")
@pass_ctx
def activity_show(c: Context, ref: str) -> None:
    """Show an activity: state, allowed triggers, tasks with deadlines, and the timeline."""
    from .views import describe_task_deadline, email_line, event_line

    service, cal = c.service, c.app.calendar
    act, wf, agencies_, tasks = service.get_activity(ref)
    now = service.clock.now()
    state = wf.states[act.state]
    click.echo(f"{act.ref}  {act.title}")
    click.echo(f"  {wf.title}; state: {state.title} ({act.state}); version {act.version}")
    if agencies_:
        click.echo(f"  agencies: {', '.join(a.code for a in agencies_)}")
    for key, value in act.data.items():
        click.echo(f"  {key}: {value}")
    allowed = wf.allowed_triggers(act.state)
    click.echo(f"  allowed now: {', '.join(allowed) if allowed else 'nothing (closed)'}")
    click.echo("\nTasks:")
    rows = [(str(t.id), t.title[:60], t.state, describe_task_deadline(t, now, cal)) for t in tasks]
    _table(rows, ("ID", "TASK", "STATE", "DEADLINE"))
    click.echo("\nTimeline:")
    task_titles = {t.id: t.title for t in tasks}
    lines = [(e.at, 0, e.id or 0, event_line(e, cal, task_titles)) for e in service.timeline(ref)]
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
    out = c.service.fire(c.actor(), ref, trigger, _parse_inputs(inputs), reason, expect_version)
    click.echo(f"{out.activity.ref}: {out.from_state} -> {out.to_state} ({trigger})")
    _print_created(c, out.created_tasks)
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
    out = c.service.add_task(c.actor(), ref, kind, agency, _parse_inputs(inputs))
    _print_created(c, out.created_tasks)


# --------------------------------------------------------------------------------- task
@main.group()
def task() -> None:
    """List tasks and move them; extend, pause, resume or waive their deadlines."""


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
    from .service import TaskFilter
    from .views import describe_task_deadline

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
    rows = [
        (
            str(t.id),
            a.ref,
            g.code if g else "BU",
            t.kind,
            t.state,
            describe_task_deadline(t, now, c.app.calendar),
        )
        for t, a, g in c.service.list_tasks(f)
    ]
    _table(rows, ("ID", "ACTIVITY", "AGENCY", "KIND", "STATE", "DEADLINE"))


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
    out = c.service.fire_task(
        c.actor(), task_id, trigger, _parse_inputs(inputs), reason, expect_version
    )
    click.echo(f"task {task_id} of {out.activity.ref}: {out.from_state} -> {out.to_state}")


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
    from .errors import TransitionNotAllowed

    t, _activity = c.service.get_task(task_id)
    if t.due_on is None:
        raise TransitionNotAllowed(f"task {task_id} has no deadline")
    return t.due_on


def _print_deadline(c: Context, out: Any) -> None:
    from .views import describe_task_deadline

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


# --------------------------------------------------------------------------------- assessment
def _parse_answers(pairs: Sequence[str], option: str, what: str) -> dict[str, str]:
    """``QUESTION=VALUE`` pairs, in the order given; a question given twice is refused."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(f"{pair!r}: expected QUESTION={what}", param_hint=option)
        if key in out:
            raise click.BadParameter(f"question {key!r} is given twice", param_hint=option)
        out[key] = value
    return out


def _label(view: AssessmentView, rating: str | None) -> str:
    if rating is None:
        return "not rated"
    try:
        return view.scale.level(rating).label
    except KeyError:
        return rating


def _moment(c: Context, moment: Any) -> str:
    return str(moment.astimezone(c.app.calendar.tz).strftime("%a %d %b %Y %H:%M"))


def _wrapped(text: str, indent: str, first: str | None = None) -> list[str]:
    import textwrap

    lines: list[str] = []
    for i, paragraph in enumerate(text.strip().splitlines() or [""]):
        lead = first if first is not None and i == 0 else indent
        lines.extend(
            textwrap.wrap(
                paragraph.strip(),
                width=92,
                initial_indent=lead,
                subsequent_indent=indent,
                break_on_hyphens=False,
            )
            or [lead.rstrip()]
        )
    return lines


def _print_assessment(c: Context, view: AssessmentView, staff: bool) -> None:
    """The form, standard by standard, with each answer and what still blocks submitting."""
    a = view.assessment
    show_moderation = staff or view.moderation_released
    owner = f"{view.agency.name} ({view.agency.code})" if view.agency else "the partnership"
    click.echo(f"{view.form.title}: {view.activity.ref}, {owner}")
    what = f"task {view.task.id} ({view.task.state})" if view.task else f"stage {a.stage}"
    click.echo(f"  assessment {a.id}, {what}; version {a.version}")
    if a.status == "submitted":
        when = _moment(c, a.submitted_at) if a.submitted_at else "-"
        click.echo(f"  status: submitted {when} by {a.submitted_by or '-'}")
    else:
        can = "answers can be changed" if view.editable else "answers cannot be changed now"
        click.echo(f"  status: draft ({can})")
    levels = ", ".join(f"{lv.key} ({lv.label})" for lv in view.scale.levels)
    click.echo(f"  scale: {view.scale.title}; ratings: {levels}")
    if view.carried_from_ref:
        left = len(view.unreviewed())
        click.echo(
            f"  carried forward from {view.carried_from_ref}: "
            f"{left} {'answer' if left == 1 else 'answers'} not yet reviewed"
        )
    questions = view.form.questions()
    if a.status == "submitted" and view.task is not None:
        if staff:
            moderated = len(questions) - len(view.unmoderated())
            released = "released" if view.moderation_released else "not yet released"
            click.echo(
                f"  moderation: {moderated} of {len(questions)} answers moderated, "
                f"{len(view.disagreements())} differ from the self rating; {released} to the "
                "agency"
            )
        elif view.moderation_released:
            click.echo("  moderation: finished; the moderated ratings are shown below")
    for standard in view.form.standards:
        click.echo("")
        click.echo(f"Standard {standard.key}: {standard.title}")
        for q in standard.questions:
            pad = " " * 7
            optional = "" if q.required else " (optional)"
            for line in _wrapped(q.text + optional, pad, f"  {q.number}  "):
                click.echo(line)
            ans = view.answers.get(q.number)
            rating = ans.rating if ans is not None else None
            marker = ""
            if ans is not None and ans.carried_forward:
                marker = (
                    "  [carried forward, not yet reviewed]"
                    if not ans.reviewed
                    else "  [carried forward, reviewed]"
                )
            click.echo(f"{pad}rating: {_label(view, rating)}{marker}")
            if q.evidence != "none":
                evidence = (ans.evidence or "").strip() if ans is not None else ""
                if evidence:
                    for line in _wrapped(evidence, pad + "  ", pad + "evidence: "):
                        click.echo(line)
                else:
                    needed = " (required)" if q.evidence == "required" else ""
                    click.echo(f"{pad}evidence: none given{needed}")
            if show_moderation and ans is not None and ans.moderated_rating is not None:
                shown = f"{pad}moderated: {_label(view, ans.moderated_rating)}"
                if ans.moderation_reason:
                    for line in _wrapped(ans.moderation_reason, pad + "  ", shown + "; reason: "):
                        click.echo(line)
                else:
                    click.echo(shown)
    if a.status == "draft":
        click.echo("")
        if view.problems:
            n = len(view.problems)
            click.echo(f"Needs attention before submitting ({n}):")
            for problem in view.problems:
                click.echo(f"  - {problem}")
        elif view.task is not None:
            click.echo(f"Complete: ready to submit (sef assessment submit {view.task.id})")


@main.group()
def assessment() -> None:
    """Assessment forms: show, answer part-way, submit, moderate; the challenge list."""


@assessment.command("show")
@click.argument("task_id", type=int, required=False)
@click.option(
    "--assessment",
    "assessment_id",
    type=int,
    metavar="ID",
    help="Show assessment ID instead (a meeting's judgements have no task).",
)
@pass_ctx
def assessment_show(c: Context, task_id: int | None, assessment_id: int | None) -> None:
    """Show the assessment form of task TASK_ID: every standard and question with its rating,
    evidence, carried-forward marker and (for staff, or the agency once moderation is
    finished) the moderated rating and reason; then what still blocks submitting."""
    if (task_id is None) == (assessment_id is None):
        raise click.UsageError("give exactly one of TASK_ID or --assessment ID")
    actor = c.actor()
    service = c.service
    if task_id is not None:
        view = service.assessment_for_task(actor, task_id)
    else:
        view = service.assessment(actor, assessment_id or 0)
    _print_assessment(c, view, staff=actor.role != "agency")


@assessment.command("list")
@click.argument("ref")
@pass_ctx
def assessment_list(c: Context, ref: str) -> None:
    """List the assessments of activity REF: agencies' returns and meetings' judgements."""
    rows = []
    for view in c.service.assessments_of(ref):
        a = view.assessment
        total = len(view.form.questions())
        rated = sum(1 for x in view.answers.values() if x.rating is not None)
        moderated = total - len(view.unmoderated())
        moderable = view.task is not None and (
            view.form.purpose == "self_assessment" or moderated > 0
        )
        moderation = f"{moderated}/{total}" if moderable else "-"
        rows.append(
            (
                str(a.id),
                str(a.task_id) if a.task_id is not None else "-",
                view.agency.code if view.agency else "-",
                a.form_name,
                a.stage,
                a.status,
                f"{rated}/{total}",
                moderation,
                str(len(view.disagreements())),
            )
        )
    _table(
        rows,
        ("ID", "TASK", "AGENCY", "FORM", "STAGE", "STATUS", "RATED", "MODERATED", "DIFFER"),
    )


@assessment.command("answer")
@click.argument("task_id", type=int)
@click.option(
    "--rating",
    "ratings",
    multiple=True,
    metavar="Q=KEY",
    help="Rate question Q with level KEY of the scale (repeat; Q= clears the rating).",
)
@click.option(
    "--evidence",
    "evidence",
    multiple=True,
    metavar="Q=TEXT",
    help="The evidence for question Q (repeat; Q= clears it).",
)
@click.option(
    "--reviewed",
    "reviewed",
    multiple=True,
    metavar="Q",
    help="Confirm that question Q's carried-forward answer still holds (repeat).",
)
@click.option(
    "--expected-version",
    type=int,
    metavar="N",
    help="Refuse if the assessment changed since version N (as shown by assessment show).",
)
@pass_ctx
def assessment_answer(
    c: Context,
    task_id: int,
    ratings: tuple[str, ...],
    evidence: tuple[str, ...],
    reviewed: tuple[str, ...],
    expected_version: int | None,
) -> None:
    """Save answers to task TASK_ID's form part-way; nothing is required until submitting.

    Answers not named are left as they are. Giving a rating or evidence for a carried-forward
    answer also confirms it. Prints what was saved and what is still missing.
    """
    from .assessments import AnswerInput
    from .errors import InvalidInput

    given_ratings = _parse_answers(ratings, "--rating", "KEY")
    given_evidence = _parse_answers(evidence, "--evidence", "TEXT")
    confirmed = [q.strip() for q in reviewed if q.strip()]
    if not (given_ratings or given_evidence or confirmed):
        raise click.UsageError(
            "give at least one --rating Q=KEY, --evidence Q=TEXT or --reviewed Q"
        )
    actor = c.actor()
    service = c.service
    before = service.assessment_for_task(actor, task_id)
    questions = {q.number: q for q in before.form.questions()}
    order = {number: i for i, number in enumerate(questions)}
    numbers = sorted(
        dict.fromkeys([*given_ratings, *given_evidence, *confirmed]),
        key=lambda n: order.get(n, len(order)),
    )
    for number in given_evidence:
        q = questions.get(number)
        if q is not None and q.evidence == "none" and given_evidence[number].strip():
            raise InvalidInput(
                f"answers for task {task_id}: question {number} (standard {q.standard}) takes "
                "no evidence; nothing was saved"
            )
    answers: dict[str, AnswerInput] = {}
    for number in numbers:
        current = before.answers.get(number)
        answers[number] = AnswerInput(
            rating=given_ratings.get(number, current.rating if current else None),
            evidence=given_evidence.get(number, current.evidence if current else None),
            reviewed=True,
        )
    expected = before.assessment.version if expected_version is None else expected_version
    after = service.save_answers(actor, task_id, answers, expected)

    def state(view: AssessmentView, number: str) -> tuple[Any, ...]:
        x = view.answers.get(number)
        return (None, None, True) if x is None else (x.rating, x.evidence, x.reviewed)

    changed = [n for n in numbers if state(before, n) != state(after, n)]
    same = [n for n in numbers if n not in changed]
    click.echo(
        f"task {task_id} of {after.activity.ref}: saved {len(changed)} "
        f"{'answer' if len(changed) == 1 else 'answers'} "
        f"(assessment {after.assessment.id}, version {after.assessment.version})"
    )
    for number in changed:
        ans = after.answers.get(number)
        q = questions[number]
        parts = [_label(after, ans.rating if ans else None)]
        if q.evidence != "none":
            parts.append("evidence given" if ans and ans.evidence else "no evidence")
        click.echo(f"  {number}  {'; '.join(parts)}")
    if same:
        click.echo(f"  unchanged: {', '.join(same)}")
    if after.problems:
        click.echo(f"still needed before submitting ({len(after.problems)}):")
        for problem in after.problems:
            click.echo(f"  - {problem}")
    else:
        click.echo(f"complete: ready to submit (sef assessment submit {task_id})")


@assessment.command("submit")
@click.argument("task_id", type=int)
@click.option(
    "--expected-version",
    type=int,
    metavar="N",
    help="Refuse if the assessment changed since version N (as shown by assessment show).",
)
@pass_ctx
def assessment_submit(c: Context, task_id: int, expected_version: int | None) -> None:
    """Submit task TASK_ID's form; refused, with every question needing attention listed,
    until the required answers are there and every carried-forward answer is reviewed."""
    from .errors import InvalidInput

    actor = c.actor()
    service = c.service
    try:
        out = service.submit_assessment(actor, task_id, expected_version=expected_version)
    except InvalidInput:
        view = service.assessment_for_task(actor, task_id)
        if not view.problems:
            raise
        n = len(view.problems)
        lines = [
            f"cannot submit the {view.form.title} for task {task_id} of {view.activity.ref}: "
            f"{n} {'answer needs' if n == 1 else 'answers need'} attention; nothing was changed",
            *(f"  - {p}" for p in view.problems),
        ]
        raise InvalidInput("\n".join(lines)) from None
    view = service.assessment_for_task(actor, task_id)
    rated = sum(1 for x in view.answers.values() if x.rating is not None)
    click.echo(
        f"task {task_id} of {out.activity.ref}: {out.from_state} -> {out.to_state}; "
        f"assessment {view.assessment.id} submitted ({rated} ratings)"
    )


@assessment.command("moderate")
@click.argument("assessment_id", type=int)
@click.option(
    "--rating",
    "ratings",
    multiple=True,
    metavar="Q=KEY",
    help="The moderated rating of question Q (repeat).",
)
@click.option(
    "--reason",
    "reasons",
    multiple=True,
    metavar="Q=TEXT",
    help="Why question Q's moderated rating differs from the self rating (repeat).",
)
@click.option(
    "--agree-rest",
    is_flag=True,
    help="Moderate every other answer not yet moderated at its self rating.",
)
@click.option(
    "--expected-version",
    type=int,
    metavar="N",
    help="Refuse if the assessment changed since version N.",
)
@pass_ctx
def assessment_moderate(
    c: Context,
    assessment_id: int,
    ratings: tuple[str, ...],
    reasons: tuple[str, ...],
    agree_rest: bool,
    expected_version: int | None,
) -> None:
    """Record moderated ratings of submitted assessment ASSESSMENT_ID (coordinators and
    managers). A reason is required wherever the moderated rating differs from the self
    rating; a reason alone changes the reason of a rating already moderated."""
    from .assessments import Moderation
    from .errors import InvalidInput

    given = _parse_answers(ratings, "--rating", "KEY")
    why = _parse_answers(reasons, "--reason", "TEXT")
    if not (given or why or agree_rest):
        raise click.UsageError(
            "give at least one --rating Q=KEY or --reason Q=TEXT, or --agree-rest"
        )
    actor = c.actor()
    service = c.service
    before = service.assessment(actor, assessment_id)
    moderation: dict[str, Moderation] = {}
    for number in dict.fromkeys([*given, *why]):
        rating = given.get(number)
        if rating is None:
            current = before.answers.get(number)
            rating = current.moderated_rating if current is not None else None
            if rating is None:
                raise InvalidInput(
                    f"moderating assessment {assessment_id}: question {number} has a reason but "
                    f"no moderated rating: give --rating {number}=KEY; nothing was saved"
                )
        moderation[number] = Moderation(rating=rating, reason=why.get(number))
    if agree_rest:
        for number in before.unmoderated():
            ans = before.answers.get(number)
            if number not in moderation and ans is not None and ans.rating is not None:
                moderation[number] = Moderation(rating=ans.rating)
    expected = before.assessment.version if expected_version is None else expected_version
    after = service.moderate(actor, assessment_id, moderation, expected)
    owner = f" ({after.agency.code})" if after.agency else ""
    left = len(after.unmoderated())
    click.echo(
        f"assessment {assessment_id} of {after.activity.ref}{owner}: "
        f"{len(moderation)} moderated ratings recorded; {left} "
        f"{'answer' if left == 1 else 'answers'} still to moderate, "
        f"{len(after.disagreements())} differ from the self rating"
    )


@assessment.command("disagreements")
@click.argument("ref")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV instead of a table.")
@pass_ctx
def assessment_disagreements(c: Context, ref: str, as_csv: bool) -> None:
    """The challenge-event list of activity REF: every answer whose moderated rating differs
    from the agency's self rating, with the difference and the reason."""
    rows = c.service.disagreements(ref)
    if as_csv:
        import csv
        import io

        from .reports.export import csv_safe

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(
            [
                "assessment",
                "agency_code",
                "agency",
                "question",
                "standard",
                "question_text",
                "self_rating",
                "moderated_rating",
                "difference",
                "reason",
            ]
        )
        for d in rows:
            writer.writerow(
                [
                    d.assessment_id,
                    *(
                        csv_safe(x)
                        for x in (
                            d.agency_code,
                            d.agency,
                            d.question,
                            d.standard,
                            d.text,
                            d.self_rating,
                            d.moderated_rating,
                        )
                    ),
                    d.difference,
                    csv_safe(d.reason),
                ]
            )
        click.echo(out.getvalue(), nl=False)
        return
    _table(
        [
            (
                d.agency_code,
                d.question,
                d.standard,
                d.self_rating,
                d.moderated_rating,
                f"{d.difference:+d}",
                d.reason,
            )
            for d in rows
        ],
        ("AGENCY", "QUESTION", "STANDARD", "SELF", "MODERATED", "DIFF", "REASON"),
    )


# --------------------------------------------------------------------------------- judgements
@main.group()
def judgements() -> None:
    """A meeting's judgements (a multi-agency audit meeting, its re-audit)."""


@judgements.command("record")
@click.argument("ref")
@click.option(
    "--trigger",
    default="record_judgements",
    show_default=True,
    help="The transition that records them (record_reaudit_judgements at re-audit).",
)
@click.option(
    "--rating",
    "ratings",
    multiple=True,
    metavar="Q=KEY",
    help="The judgement for question Q (repeat; every required question).",
)
@click.option(
    "--evidence",
    "evidence",
    multiple=True,
    metavar="Q=TEXT",
    help="Reasons and learning behind question Q's judgement (repeat).",
)
@click.option("--input", "inputs", multiple=True, metavar="NAME=VALUE", help="Input (repeat).")
@click.option("--reason", help="Why (recorded in the trail).")
@click.option(
    "--expect-version", type=int, help="Refuse if the activity changed since this version."
)
@pass_ctx
def judgements_record(
    c: Context,
    ref: str,
    trigger: str,
    ratings: tuple[str, ...],
    evidence: tuple[str, ...],
    inputs: tuple[str, ...],
    reason: str | None,
    expect_version: int | None,
) -> None:
    """Record the judgements of activity REF's meeting by firing TRIGGER with the ratings.
    Recorded again for the same stage, they replace the earlier ones."""
    from .assessments import AnswerInput

    given = _parse_answers(ratings, "--rating", "KEY")
    why = _parse_answers(evidence, "--evidence", "TEXT")
    answers = {
        n: AnswerInput(rating=given.get(n), evidence=why.get(n), reviewed=True)
        for n in dict.fromkeys([*given, *why])
    }
    out = c.service.fire(
        c.actor(), ref, trigger, _parse_inputs(inputs), reason, expect_version, answers
    )
    click.echo(f"{out.activity.ref}: {out.from_state} -> {out.to_state} ({trigger})")
    recorded = out.activity.data.get("assessment")
    if recorded is not None:
        click.echo(f"  judgements recorded: assessment {recorded} ({len(given)} ratings)")
    _print_created(c, out.created_tasks)


# --------------------------------------------------------------------------------- finding
@main.group()
def finding() -> None:
    """Findings and recommendations of an activity."""


@finding.command("add")
@click.argument("ref")
@click.option(
    "--kind",
    required=True,
    type=click.Choice(["finding", "recommendation"]),
    help="A finding, or a recommendation actions will answer.",
)
@click.option("--text", required=True, help="What was found or recommended.")
@click.option("--agency", metavar="CODE", help="The agency it concerns (default: all).")
@pass_ctx
def finding_add(c: Context, ref: str, kind: str, text: str, agency: str | None) -> None:
    """Record a finding or recommendation of activity REF."""
    row = c.service.record_finding(c.actor(), ref, kind, text, agency)
    whom = f" for {agency.upper()}" if agency else ""
    click.echo(f"{kind} {row.id} recorded on {ref.upper()}{whom}")


@finding.command("list")
@click.argument("ref")
@pass_ctx
def finding_list(c: Context, ref: str) -> None:
    """List activity REF's findings and recommendations, with the actions answering each."""
    rows = []
    for f, agency, actions in c.service.findings(ref):
        rows.append(
            (
                str(f.id),
                f.kind,
                agency.code if agency else "-",
                f.question or "-",
                ", ".join(f"{t.id} ({t.state})" for t in actions) or "-",
                f.text,
            )
        )
    _table(rows, ("ID", "KIND", "AGENCY", "QUESTION", "ACTIONS", "TEXT"))


# --------------------------------------------------------------------------------- action
@main.group()
def action() -> None:
    """Actions in an activity's action plan."""


@action.command("raise")
@click.argument("ref")
@click.option("--agency", metavar="CODE", help="The agency that owns the action.")
@click.option(
    "--input",
    "inputs",
    multiple=True,
    metavar="NAME=VALUE",
    help="description, lead_name, target_date (YYYY-MM-DD), success_measure (repeat).",
)
@click.option("--finding", "finding_id", type=int, metavar="ID", help="The finding it answers.")
@click.option(
    "--question",
    metavar="ASSESSMENT_ID:Q",
    help="Raise it from question Q of an assessment (recorded as a recommendation).",
)
@pass_ctx
def action_raise(
    c: Context,
    ref: str,
    agency: str | None,
    inputs: tuple[str, ...],
    finding_id: int | None,
    question: str | None,
) -> None:
    """Raise an action for an agency in activity REF's action plan, opening the plan if
    there is none yet; it may answer a finding, or a question of an assessment."""
    from .errors import InvalidInput

    if finding_id is not None and question is not None:
        raise click.UsageError("give at most one of --finding ID or --question ASSESSMENT_ID:Q")
    values = _parse_inputs(inputs)
    actor = c.actor()
    service = c.service
    if question is not None:
        raw_id, sep, number = question.partition(":")
        if not sep or not raw_id.strip().isdigit() or not number.strip():
            raise click.BadParameter(
                f"{question!r}: expected ASSESSMENT_ID:Q, e.g. 3:2.1", param_hint="--question"
            )
        view = service.assessment(actor, int(raw_id))
        if view.activity.ref != ref.upper():
            raise InvalidInput(
                f"assessment {raw_id} belongs to {view.activity.ref}, not {ref.upper()}"
            )
        out = service.raise_action_from_question(actor, int(raw_id), number.strip(), values, agency)
    else:
        if not agency:
            raise click.UsageError("say whose action it is: --agency CODE")
        out = service.raise_action(actor, ref, agency, values, finding_id)
    t = out.task
    assert t is not None
    due = ""
    if t.due_on:
        from .calendar import format_date

        due = f", due {format_date(t.due_on)}"
    click.echo(f"action task {t.id} in {out.activity.ref}: {t.title}{due}")
    if t.finding_id is not None:
        click.echo(f"  answers finding {t.finding_id}")


# --------------------------------------------------------------------------------- report
REPORT_FORMATS = ("text", "csv", "xlsx", "html")
_SUFFIX_FORMATS = {".txt": "text", ".csv": "csv", ".xlsx": "xlsx", ".html": "html", ".htm": "html"}


def _day(value: str, option: str) -> date:
    from .errors import InvalidInput

    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"{option} {value!r}: not a date; expected YYYY-MM-DD") from None


def _aligned(table: Table) -> list[str]:
    """A report table as aligned text: figures right-aligned, as shown on the page."""
    from .reports.export import cell_text

    width = max(len(table.columns), *(len(r) for r in table.rows))
    header = [*table.columns, *[""] * (width - len(table.columns))]
    rows = [[cell_text(x) for x in r] + [""] * (width - len(r)) for r in table.rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    numeric = [table.numeric_column(i) for i in range(width)]

    def line(cells: Sequence[str], right: Sequence[bool]) -> str:
        return "  ".join(
            f"{x:>{w}}" if r else f"{x:<{w}}" for x, w, r in zip(cells, widths, right, strict=True)
        ).rstrip()

    return [line(header, [False] * width), *(line(r, numeric) for r in rows)]


def _report_text(report: Report, tz: tzinfo) -> list[str]:
    from .calendar import format_date

    lines = [
        report.title,
        report.partnership,
        f"Period: {format_date(report.period_start)} to {format_date(report.period_end)}; "
        f"generated {report.generated_at.astimezone(tz):%a %d %b %Y %H:%M}",
    ]
    for section in report.sections:
        lines += ["", "=" * len(section.title), section.title, "=" * len(section.title)]
        lines += _wrapped(section.intro, "") if section.intro else []
        for table in section.tables:
            lines += ["", table.title, "-" * len(table.title)]
            if not table.rows:
                lines.append("(none)")
            else:
                lines += _aligned(table)
            if table.note:
                lines += _wrapped(table.note, "  ", "  Note: ")
    return lines


@main.command()
@click.option("--from", "from_day", metavar="YYYY-MM-DD", help="First day of the period.")
@click.option("--to", "to_day", metavar="YYYY-MM-DD", help="Last day of the period (included).")
@click.option(
    "--year",
    metavar="YYYY",
    help="The reporting year that starts in YYYY (its first month: reports.year_start_month).",
)
@click.option("--cycle", metavar="REF", help="The Section 11 cycle to summarise.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(REPORT_FORMATS),
    help="text (default), csv, xlsx or html (the annual data pack); default from --output's "
    "file name.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write it (text and csv default to standard output; xlsx and html to "
    "four-questions-START-to-END.xlsx/.html in the current folder).",
)
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@pass_ctx
def report(
    c: Context,
    from_day: str | None,
    to_day: str | None,
    year: str | None,
    cycle: str | None,
    fmt: str | None,
    output: Path | None,
    force: bool,
) -> None:
    """The four-questions report for a period: how much did we do, how well, what can we
    learn, is anyone better off; and the Section 11 summary.

    The period is --from and --to, or the reporting --year, or by default the current
    reporting year.
    """
    from .errors import InvalidInput
    from .reports.figures import build_report, reporting_year

    if fmt is None:
        fmt = _SUFFIX_FORMATS.get(output.suffix.lower(), "text") if output else "text"
    s = c.app.settings.settings
    start_month = s.reports.year_start_month
    if year is not None and (from_day is not None or to_day is not None):
        raise InvalidInput("give either --from and --to, or --year, not both")
    if (from_day is None) != (to_day is None):
        raise InvalidInput("give both --from and --to (or --year for a reporting year)")
    service = c.service
    now = service.clock.now()
    if from_day is not None and to_day is not None:
        start, end = _day(from_day, "--from"), _day(to_day, "--to")
    elif year is not None:
        if not year.strip().isdigit() or not 1900 <= int(year) <= 9998:
            raise InvalidInput(f"--year {year!r}: expected a year such as 2026")
        start, end = reporting_year(date(int(year), start_month, 1), start_month)
    else:
        start, end = reporting_year(c.app.calendar.local_date(now), start_month)
    target = output
    if target is None and fmt in ("xlsx", "html"):
        target = Path(f"four-questions-{start.isoformat()}-to-{end.isoformat()}.{fmt}")
    if target is not None and target.exists() and not force:
        raise InvalidInput(f"{target} already exists: use --force to replace it")
    if target is not None and not target.parent.is_dir():
        raise InvalidInput(f"{target}: folder {target.parent} does not exist")
    if cycle is not None:
        cycle = cycle.strip().upper()
    built = build_report(
        c.app.db,
        forms=c.app.forms,
        registry=c.app.registry,
        calendar=c.app.calendar,
        start=start,
        end=end,
        partnership=s.partnership.name,
        now=now,
        cycle=cycle,
    )
    if target is None:
        if fmt == "csv":
            from .reports.export import report_csv

            click.echo(report_csv(built), nl=False)
        else:
            for line in _report_text(built, c.app.calendar.tz):
                click.echo(line)
        return
    from .calendar import format_date

    click.echo(
        f"report {format_date(start)} to {format_date(end)} for {built.partnership}"
        + (f", Section 11 cycle {cycle}" if cycle else "")
    )
    for section in built.sections:
        n = len(section.tables)
        click.echo(f"  {section.title} ({n} {'table' if n == 1 else 'tables'})")
    data: bytes
    if fmt == "xlsx":
        from .reports.export import report_xlsx

        data = report_xlsx(built)
    elif fmt == "html":
        from .reports.export import annual_html

        data = annual_html(built).encode("utf-8")
    elif fmt == "csv":
        from .reports.export import report_csv

        data = report_csv(built).encode("utf-8")
    else:
        text = _report_text(built, c.app.calendar.tz)
        data = "".join(line + "\n" for line in text).encode("utf-8")
    partial = target.with_name(target.name + ".part")
    try:
        partial.write_bytes(data)
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise InvalidInput(f"{target}: cannot write: {exc.strerror}") from None
    tables = len(built.tables())
    click.echo(f"{target}: {fmt}, {tables} tables, {len(data):,} bytes")


# --------------------------------------------------------------------------------- outbox
@main.group()
def outbox() -> None:
    """Emails waiting, sent and failed; deliver them; retry failures."""


@outbox.command("list")
@click.option(
    "--status",
    type=click.Choice(["pending", "sending", "sent", "failed", "all"]),
    default="all",
    show_default=True,
    help="Only emails in this state.",
)
@click.option("--activity", "activity_ref", metavar="REF", help="Only this activity's emails.")
@click.option("--limit", type=int, default=100, show_default=True, help="At most this many.")
@pass_ctx
def outbox_list(c: Context, status: str, activity_ref: str | None, limit: int) -> None:
    """List emails in the outbox, newest first, with why any failed."""
    from .notify.delivery import list_outbox

    c.service  # noqa: B018  (checks the schema)
    rows = list_outbox(c.app.db, None if status == "all" else status, activity_ref, limit)
    cal = c.app.calendar
    _table(
        [
            (
                str(n.id),
                ref or "-",
                n.template,
                n.to_addr,
                n.status,
                str(n.attempts),
                n.created_at.astimezone(cal.tz).strftime("%d %b %H:%M"),
                (n.last_error or "")[:60],
            )
            for n, ref in rows
        ],
        ("ID", "ACTIVITY", "TEMPLATE", "TO", "STATUS", "TRIES", "QUEUED", "LAST ERROR"),
    )


@outbox.command("show")
@click.argument("notification_id", type=int)
@click.option("--body", is_flag=True, help="Print the text body too.")
@pass_ctx
def outbox_show(c: Context, notification_id: int, body: bool) -> None:
    """Show one email: headers, state, and every delivery attempt with the server's reply."""
    from .notify.delivery import get_notification

    c.service  # noqa: B018
    n, attempts = get_notification(c.app.db, notification_id)
    tz = c.app.calendar.tz
    click.echo(f"email {n.id}: {n.template} ({n.status}, {n.attempts} attempts)")
    click.echo(f"  Message-ID: {n.message_id}")
    click.echo(f"  To: {n.to_addr} ({n.recipient_role})")
    if n.cc_addrs:
        click.echo(f"  Cc: {', '.join(n.cc_addrs)}")
    click.echo(f"  Subject: {n.subject}")
    click.echo(f"  Calendar invite: {'yes' if n.ics else 'no'}")
    if n.fallback_of:
        click.echo(f"  Fallback for email {n.fallback_of}")
    if n.last_error:
        click.echo(f"  Last error: {n.last_error}")
    click.echo("  Attempts:")
    for a in attempts:
        at = a.at.astimezone(tz).strftime("%a %d %b %Y %H:%M:%S")
        code = f" {a.code}" if a.code else ""
        click.echo(f"    {at}  {a.worker}  {a.outcome}{code}  {a.detail or ''}".rstrip())
    if not attempts:
        click.echo("    (none yet)")
    if body:
        click.echo("")
        click.echo(n.text_body)


@outbox.command("retry")
@click.argument("notification_ids", type=int, nargs=-1, required=True)
@pass_ctx
def outbox_retry(c: Context, notification_ids: tuple[int, ...]) -> None:
    """Put failed emails back in the queue to be sent now."""
    from .service import Actor

    actor = c.actor() if c.actor_email else Actor(id="cli", role="coordinator", name="CLI")
    for nid in notification_ids:
        c.service.retry_email(actor, nid)
        click.echo(f"email {nid}: queued again")


@outbox.command("deliver")
@click.option(
    "--until-empty/--once",
    default=True,
    show_default=True,
    help="Keep claiming batches until nothing is due, or do one batch.",
)
@pass_ctx
def outbox_deliver(c: Context, until_empty: bool) -> None:
    """Send what is due now through the configured SMTP server.

    With no smtp.host the embedded mail catcher runs for the duration and keeps each
    message under mail.catcher_dir (see: sef mail list).
    """
    from .notify.delivery import deliver_due

    c.service  # noqa: B018
    total = deliver_due(
        c.app.db, c.app.settings, c.app.service.clock, until_empty=until_empty, echo=click.echo
    )
    click.echo(
        f"sent {total.sent}, retrying later {total.retrying}, failed {total.failed}"
        + (f", {total.fallbacks} sent on to deputies" if total.fallbacks else "")
    )


# --------------------------------------------------------------------------------- mail
@main.group()
def mail() -> None:
    """The embedded mail catcher's messages, and a test send through the SMTP server."""


@mail.command("list")
@pass_ctx
def mail_list(c: Context) -> None:
    """List the messages the embedded mail catcher kept, oldest first."""
    from .notify.catcher import list_messages

    folder = c.app.settings.catcher_dir()
    rows = [
        (
            str(i),
            m.date.astimezone(c.app.calendar.tz).strftime("%d %b %H:%M") if m.date else "-",
            m.to,
            m.subject,
        )
        for i, m in enumerate(list_messages(folder), start=1)
    ]
    _table(rows, ("N", "DATE", "TO", "SUBJECT"))


@mail.command("show")
@click.argument("which", default="-1")
@click.option("--raw", is_flag=True, help="Print the whole message as received.")
@pass_ctx
def mail_show(c: Context, which: str, raw: bool) -> None:
    """Show message WHICH (its number in `sef mail list`, its file name, or -1 for the last)."""
    from .notify.catcher import read_message

    msg = read_message(c.app.settings.catcher_dir(), which)
    if raw:
        click.echo(msg.as_string())
        return
    for header in ("Date", "From", "To", "Cc", "Subject", "Message-ID"):
        if msg[header]:
            click.echo(f"{header}: {msg[header]}")
    body = msg.get_body(("plain",))
    attachments = [part.get_filename() for part in msg.iter_attachments()]
    if attachments:
        click.echo(f"Attachments: {', '.join(str(a) for a in attachments)}")
    click.echo("")
    click.echo(body.get_content() if body is not None else "(no text part)")


@mail.command("test")
@click.option("--to", "to_addr", required=True, metavar="ADDRESS", help="Where to send it.")
@pass_ctx
def mail_test(c: Context, to_addr: str) -> None:
    """Send one test message through the configured server and say what the server replied."""
    from .notify.delivery import send_test_message

    ok, report = send_test_message(c.app.db, c.app.settings, c.app.service.clock, to_addr)
    click.echo(report)
    if not ok:
        from .errors import DeliveryError

        raise DeliveryError("the test message was not accepted")


@mail.command("catcher")
@pass_ctx
def mail_catcher(c: Context) -> None:
    """Run the embedded mail catcher in the foreground (Ctrl-C to stop)."""
    import threading

    from .notify.catcher import MailCatcher

    catcher = MailCatcher.from_settings(c.app.settings)
    stop = threading.Event()
    with catcher:
        click.echo(
            f"mail catcher on 127.0.0.1:{catcher.port}, keeping messages in "
            f"{c.app.settings.catcher_dir()}; Ctrl-C to stop"
        )
        try:
            stop.wait()
        except KeyboardInterrupt:
            click.echo("stopped")


# --------------------------------------------------------------------------------- worker
@main.command()
@click.option("--name", "worker_name", help="This worker's name in the status (default: host:pid).")
@pass_ctx
def worker(c: Context, worker_name: str | None) -> None:
    """Run the scheduler: reminder sweeps, delivery, the programme and weekly digests.

    Stops cleanly on SIGTERM or SIGINT, after the jobs in hand finish their batch. Several
    workers may run against one PostgreSQL database: every rung and every email is claimed
    once.
    """
    import logging
    import signal
    import threading

    from .notify.delivery import default_worker_id
    from .scheduler import Worker

    c.service  # noqa: B018  (checks the schema)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for noisy in ("apscheduler", "mail.log"):  # per-run chatter; errors still show
        logging.getLogger(noisy).setLevel(logging.WARNING)
    w = Worker(c.app, worker_name or default_worker_id())
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        click.echo(f"received {signal.Signals(signum).name}: finishing the jobs in hand", err=True)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    w.start()
    runs = ", ".join(
        f"{name} {when.astimezone(c.app.calendar.tz):%H:%M:%S}" if when else f"{name} -"
        for name, when in w.next_runs().items()
    )
    click.echo(f"worker {w.jobs.worker} started; next runs: {runs}", err=True)
    while not stop.wait(0.5):
        pass
    w.stop()
    click.echo("worker stopped", err=True)


@main.command()
@click.option("--once", is_flag=True, required=True, help="Run one pass now and exit.")
@click.option(
    "--deliver/--no-deliver",
    default=True,
    show_default=True,
    help="Also deliver the outbox after the sweep.",
)
@click.option(
    "--programme/--no-programme",
    default=True,
    show_default=True,
    help="Also open what the recurring programme says is due.",
)
@pass_ctx
def sweep(c: Context, once: bool, deliver: bool, programme: bool) -> None:
    """Run one pass by hand: the programme, the reminder sweep, then delivery."""
    from .notify.delivery import default_worker_id
    from .scheduler import Jobs

    c.service  # noqa: B018
    jobs = Jobs(c.app, default_worker_id())
    try:
        names = (["programme"] if programme else []) + ["sweep"] + (["deliver"] if deliver else [])
        for name in names:
            result = jobs.run(name)
            click.echo(f"{name}: {result.summary}")
    finally:
        jobs.close()


@main.command()
@pass_ctx
def status(c: Context) -> None:
    """The last run of each job, what is due now, the outbox, and the next run times."""
    from sqlmodel import col, func, select

    from .models import Notification, Task
    from .scheduler import JOB_NAMES, job_statuses

    service = c.service
    tz = c.app.calendar.tz
    now = service.clock.now()

    def when(moment: Any) -> str:
        return moment.astimezone(tz).strftime("%a %d %b %H:%M:%S") if moment else "-"

    rows = {s.job: s for s in job_statuses(c.app)}
    table = []
    for name in JOB_NAMES:
        s = rows.get(name)
        if s is None:
            table.append((name, "never", "-", "-", "-", "-"))
            continue
        table.append(
            (
                name,
                when(s.last_started_at),
                f"{s.last_duration_ms} ms" if s.last_duration_ms is not None else "-",
                str(s.last_items),
                when(s.next_run_at),
                (s.last_error or "")[:50],
            )
        )
    _table(table, ("JOB", "LAST RUN", "TOOK", "ITEMS", "NEXT RUN", "ERROR"))
    with c.app.db.read() as session:
        due = session.exec(
            select(func.count()).select_from(Task).where(col(Task.next_reminder_at) <= now)
        ).one()
        counts = dict(
            session.exec(
                select(Notification.status, func.count()).group_by(col(Notification.status))
            ).all()
        )
    click.echo("")
    click.echo(f"reminder rungs due now: {due}")
    click.echo(
        f"outbox: {counts.get('pending', 0)} pending, {counts.get('sending', 0)} sending, "
        f"{counts.get('failed', 0)} failed, {counts.get('sent', 0)} sent"
    )


# --------------------------------------------------------------------------------- evidence
@main.command("evidence-pack")
@click.argument("ref")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the zip (default: REF-evidence.zip in the current folder).",
)
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@pass_ctx
def evidence_pack_command(c: Context, ref: str, output: Path | None, force: bool) -> None:
    """Write one activity's evidence pack: a zip with its timeline, every email with its
    delivery record, returns and their files, ratings, decisions and sign-offs."""
    from .errors import InvalidInput
    from .evidence import build_evidence_pack, pack_filename

    service = c.service
    s = c.app.settings.settings
    target = output or Path(pack_filename(ref))
    if target.exists() and not force:
        raise InvalidInput(f"{target} already exists: use --force to replace it")
    pack = build_evidence_pack(
        c.app.db,
        ref,
        upload_dir=c.app.settings.upload_dir(),
        calendar=c.app.calendar,
        partnership=s.partnership.name,
        now=service.clock.now(),
        from_addr=s.smtp.from_address or s.partnership.business_unit_email,
    )
    partial = target.with_name(target.name + ".part")
    partial.write_bytes(pack.data)
    partial.replace(target)
    click.echo(
        f"{target}: {pack.events} events, {pack.emails} emails, {pack.files} files "
        f"({pack.missing_files} missing)"
        if pack.missing_files
        else f"{target}: {pack.events} events, {pack.emails} emails, {pack.files} files"
    )


# --------------------------------------------------------------------------------- serve
@main.command()
@click.option("--host", help="Address to listen on (default: web.host).")
@click.option("--port", type=int, help="Port to listen on (default: web.port).")
@click.option("--no-worker", is_flag=True, help="Serve pages only; run `sef worker` elsewhere.")
@pass_ctx
def serve(c: Context, host: str | None, port: int | None, no_worker: bool) -> None:
    """Start the web application, with the scheduler's jobs and (with no smtp.host) the mail
    catcher in the same process. Stops cleanly on SIGTERM or SIGINT."""
    import logging
    from datetime import timedelta

    from .web.serve import serve as run_server

    c.service  # noqa: B018  (checks the schema)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for noisy in ("apscheduler", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    web = c.app.settings.settings.web
    host, port = host or web.host, port or web.port
    click.echo(
        f"sef-workflow on http://{host}:{port}/  (sign in at http://{host}:{port}/login)", err=True
    )
    run_server(
        c.app,
        host,
        port,
        with_worker=not no_worker,
        secret_key=web.secret_key or None,
        session_lifetime=timedelta(hours=web.session_hours),
        link_lifetime=timedelta(hours=web.link_hours),
        upload_limit=web.upload_limit_mb * 1024 * 1024,
        upload_dir=c.app.settings.upload_dir(),
        cookie_secure=web.cookie_secure,
    )


# --------------------------------------------------------------------------------- simulate
@main.command()
@click.argument("workflow")
@click.option(
    "--start",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    help="The day the request is issued.",
)
@click.option(
    "--agency-replies",
    "replies",
    multiple=True,
    metavar="CODE=DAYS",
    help="Agency CODE answers DAYS working days after the request (repeat).",
)
@click.option(
    "--agency",
    "agency_codes",
    multiple=True,
    metavar="CODE",
    help="An agency taking part (repeat; default: every demo agency).",
)
@click.option(
    "--until",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    help="Last day to simulate (default: 60 days, or when every ladder is done).",
)
@pass_ctx
def simulate(
    c: Context,
    workflow: str,
    start: Any,
    replies: tuple[str, ...],
    agency_codes: tuple[str, ...],
    until: Any,
) -> None:
    """Preview a cycle: run WORKFLOW on a fake clock in a throwaway database and print, day by
    day, every state change and every email that would go out.

    Example: sef simulate themed_audit --start 2026-12-15 --agency-replies POL=3
    """
    from .app import build_calendar
    from .errors import InvalidInput
    from .simulate import format_simulation
    from .simulate import simulate as run_simulation

    answers: dict[str, int] = {}
    for pair in replies:
        code, sep, days = pair.partition("=")
        if not sep or not days.strip().lstrip("-").isdigit():
            raise InvalidInput(f"--agency-replies {pair!r}: expected CODE=DAYS, e.g. POL=3")
        answers[code.strip().upper()] = int(days)
    loaded = c.app.settings
    sim = run_simulation(
        loaded,
        workflow,
        start.date(),
        agency_replies=answers,
        until=until.date() if until else None,
        agencies=list(agency_codes) or None,
    )
    for line in format_simulation(sim, build_calendar(loaded)):
        click.echo(line)


# --------------------------------------------------------------------------------- demo
@main.command()
@click.option("--reset", is_flag=True, help="Delete the existing data first (SQLite only).")
@pass_ctx
def demo(c: Context, reset: bool) -> None:
    """Load a fictional partnership: a dozen agencies, staff, and activities in varied states."""
    from .demo import load_demo

    load_demo(c.app, reset=reset, echo=click.echo)


def run() -> None:  # pragma: no cover - console entry point
    main()


if __name__ == "__main__":  # pragma: no cover
    main()
