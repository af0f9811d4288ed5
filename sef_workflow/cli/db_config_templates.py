"""``sef db``, ``sef config`` and ``sef templates``: the database schema, the settings in
force, and the check of the email templates."""

from __future__ import annotations

import click

from .context import Context, pass_ctx


@click.group()
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


@click.group("config")
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
    from ..config import SECRETS

    settings = c.app.settings.settings
    from sqlalchemy.engine import make_url

    for section, values in settings.model_dump().items():
        click.echo(f"[{section}]")
        for key, value in values.items():
            shown = "***" if (section, key) in SECRETS and value else repr(value)
            if (section, key) == ("database", "url"):
                shown = repr(make_url(value).render_as_string(hide_password=True))
            click.echo(f"{key} = {shown}")


@click.group()
def templates() -> None:
    """The email templates in notifications/."""


@templates.command("check")
@pass_ctx
def templates_check(c: Context) -> None:
    """Render every template with sample data; fail on a name outside the allow-list.

    Also fails when a template a workflow names is missing, a subject uses anything but the
    reference and activity type, or a template does not render.
    """
    from ..errors import DefinitionError
    from ..notify.outbox import templates_named

    app = c.app
    required = templates_named(app.registry.current().values())
    problems = app.notifier.templates.check(required)
    if problems:
        for line in problems:
            click.echo(line, err=True)
        raise DefinitionError(f"{len(problems)} template problem(s); nothing was sent")
    names = app.notifier.templates.names()
    click.echo(f"{app.settings.templates_dir()}: ok ({len(names)} messages)")
