"""How well did we do it? Timeliness and chasing.

This module owns the report's second section: returns on time and the chasing they needed,
the business unit's statutory steps met on time, actions completed by their target date
and actions whose target date was reprogrammed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sqlalchemy as sa
from sqlmodel import col

from ..errors import SefError
from ..models import Activity, Event, Task, WorkflowDefinition
from .counting import (
    Completed,
    Context,
    Returns,
    add_into,
    bar,
    completed_share,
    count_if,
    counts_per_agency,
    median,
    pct,
    per_agency,
    ratio,
    sums,
    titled_rows,
    whole,
)
from .model import Cell, Table


def returns_on_time(ctx: Context, returns: Returns) -> Table:
    histograms: dict[int | None, dict[int, int]] = {}
    for agency_id, by_late in returns.count.items():
        counted = {d: n for d, n in by_late.items() if d is not None}
        if counted:
            histograms[agency_id] = counted

    def row(label: str, hist: Mapping[int, int]) -> list[Cell]:
        returns = sum(hist.values())
        on_time = sum(n for d, n in hist.items() if d <= 0)
        late_only = {d: n for d, n in hist.items() if d > 0}
        return [label, returns, on_time, pct(on_time, returns), median(late_only)]

    everything: dict[int, int] = {}
    for hist in histograms.values():
        for d, n in hist.items():
            everything[d] = everything.get(d, 0) + n
    rows = per_agency(ctx, histograms, row, everything)
    return Table(
        key="returns_on_time",
        title="Returns on time",
        columns=["Agency", "Returns", "On time", "On time %", "Median working days late"],
        rows=rows,
        note=(
            "Requests the agency last answered in the period that had a deadline (a waived "
            "deadline does not count). On time: answered by the end of the due date in force "
            "when it was answered (an agreed extension counts). Median working days late: the "
            "median of the working days after the due date, over the late returns only; "
            "blank when none was late."
        ),
        chart=bar(
            "Returns on time (%)",
            [str(r[0]) for r in rows[:-1]],
            {"On time %": [r[3] for r in rows[:-1]]},
            unit="%",
        ),
    )


def chasing(ctx: Context, returns: Returns) -> Table:
    figures = {
        a: (sum(by_late.values()), returns.reminders[a], returns.escalations[a])
        for a, by_late in returns.count.items()
    }

    def row(label: str, f: Sequence[int]) -> list[Cell]:
        n, r, e = f
        return [label, n, r, e, ratio(r, n), ratio(e, n)]

    return Table(
        key="chasing",
        title="Chasing needed",
        columns=[
            "Agency",
            "Returns",
            "Reminders",
            "Escalations",
            "Reminders per return",
            "Escalations per return",
        ],
        rows=per_agency(ctx, figures, row, sums(figures.values(), 3)),
        note=(
            "Requests the agency last answered in the period, with every reminder and every "
            "escalation (to the agency's senior manager or the partnership's managers) sent "
            "for them, whenever sent. Per return: to 2 decimal places."
        ),
    )


def statutory(ctx: Context) -> Table:
    p = ctx.period
    status, late = col(Task.deadline_status), col(Task.late_working_days)
    met = status == "met"
    q = (
        sa.select(
            col(Activity.definition_id),
            col(Task.kind),
            sa.func.count(),
            count_if(sa.and_(met, late == 0)),
            count_if(sa.and_(met, late > 0)),
            count_if(
                sa.and_(
                    col(Task.is_open).is_(True),
                    status == "running",
                    col(Task.answered_at).is_(None),
                    col(Task.due_on) < p.overdue_before,
                )
            ),
            count_if(status == "waived"),
        )
        .join(Activity, col(Activity.id) == col(Task.activity_id))
        .where(col(Task.category) == "statutory", p.holds_day(col(Task.due_on)))
        .group_by(col(Activity.definition_id), col(Task.kind))
    )
    grouped = ctx.session.execute(q).all()
    definitions = _definitions(ctx, {d for d, *_ in grouped})
    steps: dict[tuple[str, str], list[int]] = {}
    titles: dict[tuple[str, str], tuple[int, str]] = {}
    positions: dict[tuple[str, str], int] = {}
    for definition_id, kind, *counts in grouped:
        name, position, title = _step_title(ctx, definitions.get(definition_id), kind)
        key = (name, kind)
        add_into(steps, key, counts)
        if key not in titles or definition_id > titles[key][0]:
            titles[key] = (definition_id, title)
        positions[key] = position if key not in positions else min(positions[key], position)
    order = sorted(steps, key=lambda k: (k[0], positions[k], k[1]))
    return Table(
        key="statutory",
        title="Statutory steps",
        columns=["Step", "Due in period", "Met on time", "Met late", "Open and overdue", "Waived"],
        rows=titled_rows(((titles[k][1], steps[k]) for k in order), 5),
        note=(
            "The business unit's statutory steps (for example the Panel notification, the "
            "rapid review, publication) whose current due date falls in the period. Met on "
            "time: done by the end of the due date; met late: done after it. Open and "
            "overdue: still open now with a running deadline and a due date before the last "
            "day of the period (or before today, for a period not yet over). Waived: the deadline was waived with a recorded reason."
        ),
    )


def _definitions(ctx: Context, ids: set[int]) -> dict[int, WorkflowDefinition]:
    if not ids:
        return {}
    q = sa.select(WorkflowDefinition).where(col(WorkflowDefinition.id).in_(sorted(ids)))
    return {d.id: d for d in ctx.session.execute(q).scalars() if d.id is not None}


def _step_title(
    ctx: Context, definition: WorkflowDefinition | None, kind: str
) -> tuple[str, int, str]:
    """(workflow name, the kind's place in its file, the kind's title) for a task kind."""
    if definition is None:
        return "", 0, kind
    try:
        wf = ctx.registry.pinned(
            definition.name, definition.version, definition.source, definition.parameters
        )
    except SefError:
        return definition.name, 0, kind
    kinds = list(wf.tasks)
    if kind not in wf.tasks:
        return definition.name, len(kinds), kind
    return definition.name, kinds.index(kind), wf.tasks[kind].title


def actions_completed(ctx: Context, completed: Completed) -> Table:
    return completed_share(
        ctx,
        completed,
        1,
        ("actions_completed", "Actions completed"),
        ["Completed", "By target date", "By target date %"],
        "By target date: submitted by the end of the target date as it stood then (a "
        "reprogrammed date counts); an action with a waived target date is not counted as on "
        "time.",
    )


def actions_reprogrammed(ctx: Context) -> Table:
    p = ctx.period
    q = (
        sa.select(
            col(Task.agency_id),
            sa.func.count(sa.distinct(col(Event.task_id))),
            sa.func.count(),
        )
        .select_from(Event)
        .join(Task, col(Task.id) == col(Event.task_id))
        .where(col(Event.kind) == "deadline_reprogrammed", p.holds(col(Event.at)))
        .group_by(col(Task.agency_id))
    )
    figures = {a: (whole(n), whole(k)) for a, n, k in ctx.session.execute(q).all()}
    return Table(
        key="actions_reprogrammed",
        title="Actions reprogrammed",
        columns=["Agency", "Actions reprogrammed", "Reprogrammings"],
        rows=counts_per_agency(ctx, figures, 2),
        note=(
            "Target dates moved with a manager's approval in the period (the original date is "
            "kept). Actions reprogrammed: different actions moved at least once; "
            "reprogrammings: every move."
        ),
    )
