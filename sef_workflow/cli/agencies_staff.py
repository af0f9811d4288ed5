"""``sef agencies`` and ``sef staff``: the partner agencies with their contacts and sign-in
links, and the business unit's staff with their roles and passwords."""

from __future__ import annotations

from pathlib import Path

import click

from .context import Context, pass_ctx, print_table


@click.group()
def agencies() -> None:
    """The partner agencies and their contacts."""


@agencies.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_ctx
def agencies_import(c: Context, file: Path) -> None:
    """Import agencies from a CSV file; all rows or none.

    Columns: code, name, sector, lead_name, lead_email, deputy_name, deputy_email,
    manager_name, manager_email. An existing code is updated. Every agency needs a senior
    manager while a workflow escalates overdue work to one.
    """
    from ..directory import parse_agencies_csv
    from ..service import Actor

    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        from ..errors import InvalidInput

        raise InvalidInput(f"{file}: not UTF-8 text; save the CSV as UTF-8") from None
    records = parse_agencies_csv(text, str(file), c.service.workflows_needing_manager())
    actor = c.actor() if c.actor_email else Actor.system()
    result = c.service.import_agencies(actor, records)
    click.echo(f"{file}: {result.created} agencies added, {result.updated} updated")


@agencies.command("link")
@click.argument("email")
@pass_ctx
def agencies_link(c: Context, email: str) -> None:
    """Make a single-use sign-in link for an agency contact (lead or deputy) and print it."""
    from datetime import timedelta

    from ..access import login_url
    from ..web.auth import create_login_link

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
    print_table(rows, ("CODE", "NAME", "SECTOR", "LEAD", "DEPUTY", "SENIOR MANAGER", ""))


@click.group()
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
    from ..service import Actor

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
    """Set the web sign-in password of a member of staff (stored as an argon2 hash). Every
    session of theirs ends, and the directory log records who set it."""
    from ..service import Actor
    from ..web.auth import set_password

    c.service  # noqa: B018  (checks the schema)
    actor = c.actor() if c.actor_email else Actor.system()
    ended = set_password(c.app.db, email, password, c.app.service.clock.now(), actor=actor)
    signed_out = f"; signed out of {ended} session{'s' if ended != 1 else ''}" if ended else ""
    click.echo(f"{email}: password set{signed_out}")


@staff.command("remove")
@click.argument("email")
@pass_ctx
def staff_remove(c: Context, email: str) -> None:
    """Take away a member of staff's role (admins): they can no longer sign in or act, every
    session of theirs ends, and the directory log records who did it. Adding them again
    with `sef staff add` gives a role back."""
    row = c.service.deactivate_staff(c.actor(), email)
    click.echo(f"{row.email}: removed (no role; signed out everywhere)")


@staff.command("list")
@pass_ctx
def staff_list(c: Context) -> None:
    """List staff and their roles."""
    rows = [
        (s.email, s.name, s.role, "" if s.active else "inactive") for s in c.service.list_staff()
    ]
    print_table(rows, ("EMAIL", "NAME", "ROLE", ""))
