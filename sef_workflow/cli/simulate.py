"""``sef simulate``: preview a workflow's cycle on a fake clock in a throwaway database."""

from __future__ import annotations

from typing import Any

import click

from .context import Context, pass_ctx


@click.command()
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
    from ..app import build_calendar
    from ..errors import InvalidInput
    from ..simulate import format_simulation
    from ..simulate import simulate as run_simulation

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
