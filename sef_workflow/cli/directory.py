"""``sef directory``: the directory log, every change to agencies, contacts, staff, roles and
passwords and every sign-in link issued, asked for or used, with who, when, and the values
before and after."""

from __future__ import annotations

from datetime import datetime

import click

from .context import Context, pass_ctx, print_table

#: the most records one listing shows
MOST = 5000


@click.group()
def directory() -> None:
    """The directory log: who changed agencies, contacts and staff, and when."""


@directory.command("log")
@click.option("--agency", metavar="CODE", help="Only records about this agency.")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="DATE",
    help="From the start of this day (YYYY-MM-DD).",
)
@click.option(
    "--until",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="DATE",
    help="To the end of this day (YYYY-MM-DD).",
)
@click.option(
    "--limit",
    type=click.IntRange(1, MOST),
    default=200,
    show_default=True,
    help="At most this many, newest first.",
)
@pass_ctx
def directory_log(
    c: Context,
    agency: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> None:
    """List the directory log, newest first: when, what, about whom, by whom, what changed."""
    from ..directory_log import KIND_TITLES
    from ..service import Actor
    from ..views import change_lines, moment_text

    actor = c.actor() if c.actor_email else Actor.system()
    rows = c.service.directory_log(
        actor,
        agency=agency,
        since=since.date() if since else None,
        until=until.date() if until else None,
        limit=limit,
    )
    cal = c.app.calendar
    print_table(
        [
            (
                moment_text(e.at, cal),
                KIND_TITLES.get(e.kind, e.kind),
                e.subject,
                code or "-",
                f"{e.actor} ({e.actor_role})",
                "; ".join(change_lines(e.before, e.after)),
            )
            for e, code in rows
        ],
        ("WHEN", "WHAT", "ABOUT", "AGENCY", "BY", "CHANGES"),
    )
