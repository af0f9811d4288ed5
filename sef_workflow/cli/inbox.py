"""``sef inbox``: what is waiting on you, most urgent first, each with what it needs."""

from __future__ import annotations

import click

from .context import Context, pass_ctx, print_table


@click.command("inbox")
@click.option(
    "--show",
    type=click.Choice(["mine", "unassigned", "all"]),
    default="mine",
    show_default=True,
    help="Mine (handled by you, or by nobody on an activity you opened), unassigned, or all.",
)
@click.option(
    "--as",
    "actor_email",
    metavar="EMAIL",
    help="Who is asking (the same as the global --as).",
)
@pass_ctx
def inbox(c: Context, show: str, actor_email: str | None) -> None:
    """What is waiting on you, most urgent first: overdue (most overdue first), then the
    fewest working days left, then what has no deadline.

    Coordinators: returns to review, requests for more time, statutory clocks close to
    breach, escalations to the business unit. Managers: sign-offs, new target dates and
    approvals only a manager gives, requests for more time, escalations to them. An agency's
    people: what waits for their answer, or was sent back to them; a senior manager also
    escalations and requests for more time to decide.

    Take one with 'sef task take ID'; decide more time with 'sef task more-time ID'.
    """
    if actor_email:
        c.actor_email = actor_email
    items = c.service.waiting_on(c.actor(), show=show)
    if not items:
        click.echo(f"Nothing is waiting on you ({show}).")
        return
    rows = []
    for i in items:
        what = (
            f"{i.task_id} {i.title} ({i.reference})" if i.task_id else f"{i.reference}: {i.title}"
        )
        needs = f"{i.needs}; {i.note}" if i.note else i.needs
        rows.append(
            (
                i.deadline_text or "no deadline",
                needs,
                what,
                i.agency_code or "BU",
                i.assigned_to,
            )
        )
    print_table(rows, ("DEADLINE", "WHAT IT NEEDS", "TASK", "AGENCY", "WITH"))
    count = "1 item" if len(items) == 1 else f"{len(items)} items"
    click.echo(f"{count} waiting on you ({show}), most urgent first.")
