"""Is anyone better off? Evidence that practice changed.

This module owns the report's fourth section: actions completed with evidence of impact,
the Section 11 ratings that moved since the previous cycle, and each re-audited themed
audit's judgements against the first audit.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import col

from ..forms import Form, Scale
from ..models import Activity, Assessment, AssessmentAnswer
from .counting import Completed, Context, bar, completed_share
from .cycles import Cycle, change, form_of, scale_of
from .model import Cell, Table


def impact(ctx: Context, completed: Completed) -> Table:
    return completed_share(
        ctx,
        completed,
        2,
        ("impact", "Evidence of impact"),
        ["Actions completed", "With evidence of impact", "% with evidence"],
        "With evidence of impact: the action records evidence of impact (what changed for "
        "children and families), not only evidence that it was done.",
    )


# ---------------------------------------------------------------------------------------
# Section 11 ratings that moved


def _direction(moved: float) -> str:
    if moved > 0:
        return "improved"
    if moved < 0:
        return "fell back"
    return "same"


def ratings_moved(ctx: Context, current: Cycle | None, previous: Cycle | None) -> list[Table]:
    rows: list[list[Cell]] = []
    counts: dict[int, dict[str, int]] = {}
    if current is not None and previous is not None:
        both = [a for a in current.agencies if a in set(previous.agencies)]
        for agency_id in both:
            tally = counts.setdefault(agency_id, {"improved": 0, "same": 0, "fell back": 0})
            for key, heading in current.standards:
                now_mean = current.moderated_means.get((agency_id, key))
                before = previous.moderated_means.get((agency_id, key))
                if now_mean is None or before is None:
                    continue
                moved = change(now_mean, before)
                direction = _direction(moved)
                tally[direction] += 1
                rows.append(
                    [
                        ctx.agency_name(agency_id),
                        heading,
                        round(before, 2),
                        round(now_mean, 2),
                        moved,
                        direction,
                    ]
                )
        which = f"cycle {current.ref} against cycle {previous.ref}"
    elif current is not None:
        which = f"cycle {current.ref}; there is no earlier cycle to compare it with"
    else:
        which = "no Section 11 cycle had self-assessments submitted in the period"
    summary_order = [a for a in counts if any(counts[a].values())]
    names = [ctx.agency_name(a) for a in summary_order]
    summary_rows: list[list[Cell]] = [
        [name, counts[a]["improved"], counts[a]["same"], counts[a]["fell back"]]
        for a, name in zip(summary_order, names, strict=True)
    ]
    moved_table = Table(
        key="ratings_moved",
        title="Section 11 ratings that moved",
        columns=[
            "Agency",
            "Standard",
            "Previous moderated",
            "Current moderated",
            "Change",
            "Direction",
        ],
        rows=rows,
        note=(
            "For each agency and standard rated in both Section 11 cycles ("
            f"{which}): the mean of the moderated scores of the standard's questions in each "
            "cycle, to 2 decimal places, and the change between them."
        ),
    )
    summary = Table(
        key="ratings_moved_summary",
        title="Section 11 standards improved, the same or fallen back",
        columns=["Agency", "Improved", "Same", "Fell back"],
        rows=summary_rows,
        note=(
            "For each agency in both Section 11 cycles, the number of standards whose mean "
            f"moderated score rose, stayed the same or fell ({which})."
        ),
        chart=bar(
            "Section 11 standards improved, the same or fallen back",
            names,
            {
                "Improved": [r[1] for r in summary_rows],
                "Same": [r[2] for r in summary_rows],
                "Fell back": [r[3] for r in summary_rows],
            },
            colours={"Improved": "green", "Same": "grey", "Fell back": "red"},
            kind="stacked_bar",
        ),
    )
    return [moved_table, summary]


# ---------------------------------------------------------------------------------------
# re-audit judgements


@dataclass(frozen=True)
class _Judgement:
    label: str | None
    score: float | None


def _judgement(scale: Scale | None, rating: str | None, score: int | None) -> _Judgement:
    if scale is not None and rating is not None:
        try:
            level = scale.level(rating)
            return _Judgement(level.label, level.score)
        except KeyError:
            pass
    if scale is not None and score is not None:
        return _Judgement(scale.level_for_score(score).label, score)
    return _Judgement(rating, score)


#: answers by assessment id, then question: (rating, score)
_Answers = dict[int, dict[str, tuple[str | None, int | None]]]


def reaudit(ctx: Context) -> Table:
    s, p = ctx.session, ctx.period
    meeting = [
        col(Assessment.agency_id).is_(None),
        col(Assessment.status) == "submitted",
        col(Activity.workflow) == "themed_audit",
    ]
    audits_q = (
        sa.select(col(Assessment.activity_id))
        .join(Activity, col(Activity.id) == col(Assessment.activity_id))
        .where(*meeting, col(Assessment.stage) == "reaudit", p.holds(col(Assessment.submitted_at)))
        .distinct()
    )
    audit_ids = list(s.execute(audits_q).scalars())
    rows: list[list[Cell]] = []
    if audit_ids:
        assessments_q = (
            sa.select(Assessment, col(Activity.ref))
            .join(Activity, col(Activity.id) == col(Assessment.activity_id))
            .where(
                *meeting,
                col(Assessment.activity_id).in_(audit_ids),
                col(Assessment.stage).in_(("first", "reaudit")),
            )
            .order_by(col(Assessment.submitted_at), col(Assessment.id))
        )
        latest: dict[tuple[int, str], Assessment] = {}
        refs: dict[int, str] = {}
        for assessment, ref in ctx.session.execute(assessments_q).all():
            # the last one submitted of each stage; a re-audit after the period is not used
            if assessment.stage == "reaudit" and (
                assessment.submitted_at is None or assessment.submitted_at >= p.hi
            ):
                continue
            latest[(assessment.activity_id, assessment.stage)] = assessment
            refs[assessment.activity_id] = ref
        chosen = {a.id: a for a in latest.values() if a.id is not None}
        answers: _Answers = {}
        if chosen:
            answers_q = sa.select(
                col(AssessmentAnswer.assessment_id),
                col(AssessmentAnswer.question),
                col(AssessmentAnswer.rating),
                col(AssessmentAnswer.score),
            ).where(col(AssessmentAnswer.assessment_id).in_(sorted(chosen)))
            for assessment_id, question, rating, score in ctx.session.execute(answers_q).all():
                answers.setdefault(assessment_id, {})[question] = (rating, score)
        for audit_id in sorted(refs, key=lambda a: refs[a]):
            second = latest.get((audit_id, "reaudit"))
            if second is not None:
                rows += _audit_rows(
                    ctx, refs[audit_id], latest.get((audit_id, "first")), second, answers
                )
    return Table(
        key="reaudit",
        title="Re-audit judgements against the first audit",
        columns=["Audit", "Judgement", "First audit", "Re-audit", "Change"],
        rows=rows,
        note=(
            "Multi-agency themed audits whose re-audit judgements were recorded in the period: "
            "each judgement of the audit meeting at the first audit and at the re-audit (the "
            "last recorded of each), and whether it is better, the same or worse."
        ),
    )


def _audit_rows(
    ctx: Context, ref: str, first: Assessment | None, second: Assessment, answers: _Answers
) -> list[list[Cell]]:
    """One audit's judgements at the first audit and the re-audit, in the form's order."""
    form = form_of(ctx, second.form_name, second.form_definition_id)
    first_answers = answers.get(first.id or 0, {}) if first is not None else {}
    second_answers = answers.get(second.id or 0, {})
    order = [q.number for q in form.questions()] if form is not None else []
    extra = sorted((set(first_answers) | set(second_answers)) - set(order))
    rows: list[list[Cell]] = []
    for number in [*order, *extra]:
        if number not in first_answers and number not in second_answers:
            continue
        before = _judgement(
            scale_of(ctx, first.scale) if first is not None else None,
            *first_answers.get(number, (None, None)),
        )
        after = _judgement(scale_of(ctx, second.scale), *second_answers.get(number, (None, None)))
        moved: str | None = None
        if before.score is not None and after.score is not None:
            moved = (
                "better"
                if after.score > before.score
                else "worse"
                if after.score < before.score
                else "same"
            )
        rows.append([ref, _question_title(form, number), before.label, after.label, moved])
    return rows


def _question_title(form: Form | None, number: str) -> str:
    if form is not None:
        try:
            return form.question(number).text
        except KeyError:
            pass
    return number.replace("_", " ").capitalize()
