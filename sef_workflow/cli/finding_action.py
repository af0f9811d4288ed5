"""``sef finding`` and ``sef action``: an activity's findings and recommendations, and the
actions of its action plan that answer them."""

from __future__ import annotations

import click

from .context import Context, parse_inputs, pass_ctx, print_table


@click.group()
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
    from ..views import task_state_title

    rows = []
    wf = c.service.get_activity(ref)[1]
    for f, agency, actions in c.service.findings(ref):
        rows.append(
            (
                str(f.id),
                f.kind.capitalize(),
                agency.code if agency else "-",
                f.question or "-",
                ", ".join(f"{t.id} ({task_state_title(wf, t.kind, t.state)})" for t in actions)
                or "-",
                f.text,
            )
        )
    print_table(rows, ("ID", "KIND", "AGENCY", "QUESTION", "ACTIONS", "TEXT"))


@click.group()
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
    from ..errors import InvalidInput

    if finding_id is not None and question is not None:
        raise click.UsageError("give at most one of --finding ID or --question ASSESSMENT_ID:Q")
    values = parse_inputs(inputs)
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
        from ..calendar import format_deadline_date

        due = f", due {format_deadline_date(t.due_on)}"
    click.echo(f"action task {t.id} in {out.activity.ref}: {t.title}{due}")
    if t.finding_id is not None:
        click.echo(f"  answers finding {t.finding_id}")
