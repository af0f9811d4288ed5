"""``sef judgements``: record a meeting's judgements (a multi-agency audit meeting, its
re-audit) by firing the activity's transition with the ratings."""

from __future__ import annotations

import click

from .context import (
    Context,
    parse_answers,
    parse_inputs,
    pass_ctx,
    per_question_option,
    print_created,
)


@click.group()
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
@per_question_option(
    "--rating",
    "ratings",
    "Q=KEY",
    "The judgement for question Q (repeat; every required question).",
)
@per_question_option(
    "--evidence",
    "evidence",
    "Q=TEXT",
    "Reasons and learning behind question Q's judgement (repeat).",
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
    from ..assessments import AnswerInput

    given = parse_answers(ratings, "--rating", "KEY")
    why = parse_answers(evidence, "--evidence", "TEXT")
    answers = {
        n: AnswerInput(rating=given.get(n), evidence=why.get(n), reviewed=True)
        for n in dict.fromkeys([*given, *why])
    }
    out = c.service.fire(
        c.actor(), ref, trigger, parse_inputs(inputs), reason, expect_version, answers
    )
    from ..views import state_title

    wf = c.service.get_activity(out.activity.ref)[1]
    t = wf.transition_for(trigger, out.from_state or "")
    what = t.title if t is not None else trigger
    click.echo(f"{out.activity.ref}: {what}. Now: {state_title(wf, out.to_state)}")
    recorded = out.activity.data.get("assessment")
    if recorded is not None:
        click.echo(f"  judgements recorded: assessment {recorded} ({len(given)} ratings)")
    print_created(out.created_tasks)
