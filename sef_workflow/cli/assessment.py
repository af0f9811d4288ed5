"""``sef assessment``: show an assessment form with its answers, answer part-way, submit,
moderate, list an activity's assessments and its challenge list (the disagreements)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from .context import Context, F, parse_answers, pass_ctx, per_question_option, print_table, wrapped

if TYPE_CHECKING:
    from ..assessments import AssessmentView


def _expected_version(shown_by: str) -> Callable[[F], F]:
    """The ``--expected-version N`` option; ``shown_by`` says where N is read."""
    return click.option(
        "--expected-version",
        type=int,
        metavar="N",
        help=f"Refuse if the assessment changed since version N{shown_by}.",
    )


def _label(view: AssessmentView, rating: str | None) -> str:
    if rating is None:
        return "not rated"
    try:
        return view.scale.level(rating).label
    except KeyError:
        return rating


def _moment(c: Context, moment: Any) -> str:
    from ..calendar import format_moment

    return format_moment(moment, c.app.calendar.tz)


def _task_state(c: Context, view: AssessmentView) -> str:
    """The state of the assessment's task by its title."""
    from ..views import task_state_title

    task = view.task
    if task is None:
        return ""
    wf = c.app.registry.current().get(view.activity.workflow)
    return task_state_title(wf, task.kind, task.state)


#: which recording of a form an assessment is, in words
_STAGES = {"return": "the agency's return", "first": "first audit", "reaudit": "re-audit"}


def _print_assessment(c: Context, view: AssessmentView, staff: bool) -> None:
    """The form, standard by standard, with each answer and what still blocks submitting."""
    a = view.assessment
    show_moderation = staff or view.moderation_released
    owner = f"{view.agency.name} ({view.agency.code})" if view.agency else "the partnership"
    click.echo(f"{view.form.title}: {view.activity.ref}, {owner}")
    what = (
        f"task {view.task.id} ({_task_state(c, view)})"
        if view.task
        else _STAGES.get(a.stage, a.stage.replace("_", " "))
    )
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
            for line in wrapped(q.text + optional, pad, f"  {q.number}  "):
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
                    for line in wrapped(evidence, pad + "  ", pad + "evidence: "):
                        click.echo(line)
                else:
                    needed = " (required)" if q.evidence == "required" else ""
                    click.echo(f"{pad}evidence: none given{needed}")
            if show_moderation and ans is not None and ans.moderated_rating is not None:
                shown = f"{pad}moderated: {_label(view, ans.moderated_rating)}"
                if ans.moderation_reason:
                    for line in wrapped(ans.moderation_reason, pad + "  ", shown + "; reason: "):
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


@click.group()
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
                view.form.title,
                _STAGES.get(a.stage, a.stage.replace("_", " ")),
                a.status.capitalize(),
                f"{rated}/{total}",
                moderation,
                str(len(view.disagreements())),
            )
        )
    print_table(
        rows,
        ("ID", "TASK", "AGENCY", "FORM", "STAGE", "STATUS", "RATED", "MODERATED", "DIFFER"),
    )


@assessment.command("answer")
@click.argument("task_id", type=int)
@per_question_option(
    "--rating",
    "ratings",
    "Q=KEY",
    "Rate question Q with level KEY of the scale (repeat; Q= clears the rating).",
)
@per_question_option(
    "--evidence", "evidence", "Q=TEXT", "The evidence for question Q (repeat; Q= clears it)."
)
@per_question_option(
    "--reviewed",
    "reviewed",
    "Q",
    "Confirm that question Q's carried-forward answer still holds (repeat).",
)
@_expected_version(" (as shown by assessment show)")
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
    from ..assessments import AnswerInput
    from ..errors import InvalidInput

    given_ratings = parse_answers(ratings, "--rating", "KEY")
    given_evidence = parse_answers(evidence, "--evidence", "TEXT")
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
@_expected_version(" (as shown by assessment show)")
@pass_ctx
def assessment_submit(c: Context, task_id: int, expected_version: int | None) -> None:
    """Submit task TASK_ID's form; refused, with every question needing attention listed,
    until the required answers are there and every carried-forward answer is reviewed."""
    from ..errors import InvalidInput

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
        f"task {task_id} of {out.activity.ref}: assessment {view.assessment.id} submitted "
        f"({rated} ratings). Now: {_task_state(c, view)}"
    )


@assessment.command("moderate")
@click.argument("assessment_id", type=int)
@per_question_option("--rating", "ratings", "Q=KEY", "The moderated rating of question Q (repeat).")
@per_question_option(
    "--reason",
    "reasons",
    "Q=TEXT",
    "Why question Q's moderated rating differs from the self rating (repeat).",
)
@click.option(
    "--agree-rest",
    is_flag=True,
    help="Moderate every other answer not yet moderated at its self rating.",
)
@_expected_version("")
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
    from ..assessments import Moderation
    from ..errors import InvalidInput

    given = parse_answers(ratings, "--rating", "KEY")
    why = parse_answers(reasons, "--reason", "TEXT")
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
        from ..reports.export import challenge_csv

        click.echo(challenge_csv(rows, with_assessment=True), nl=False)
        return
    print_table(
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
