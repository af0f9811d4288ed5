"""Are there opportunities to learn and improve? Findings and the actions answering them.

This module owns the report's third section: findings and recommendations by the kind of
activity that raised them, and the actions of action plans by where they come from.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import col

from ..models import Activity, Finding, Task
from .counting import OTHER, Context, add_into, by_source, count_if, json_text, titled_rows
from .model import Table

#: an action plan's ``origin`` input, as the workflow it names (for its title)
_ORIGIN_WORKFLOWS: dict[str, tuple[str, str]] = {
    "audit": ("themed_audit", "Multi-agency themed audit"),
    "practice_review": ("practice_review", "Child safeguarding practice review"),
    "section11": ("section11", "Section 11 cycle"),
}
_ORIGIN_TITLES: dict[str, str] = {"inspection": "Inspection", "other": OTHER}


def findings(ctx: Context) -> Table:
    p = ctx.period
    kind = col(Finding.kind)
    raised = p.holds(col(Finding.created_at))
    findings_q = (
        sa.select(
            col(Activity.workflow),
            count_if(kind == "finding"),
            count_if(kind == "recommendation"),
        )
        .select_from(Finding)
        .join(Activity, col(Activity.id) == col(Finding.activity_id))
        .where(raised)
        .group_by(col(Activity.workflow))
    )
    actions_q = (
        sa.select(col(Activity.workflow), sa.func.count(sa.distinct(col(Task.id))))
        .select_from(Task)
        .join(Finding, col(Finding.id) == col(Task.finding_id))
        .join(Activity, col(Activity.id) == col(Finding.activity_id))
        .where(raised)
        .group_by(col(Activity.workflow))
    )
    figures: dict[str, list[int]] = {}
    for workflow, f, r in ctx.session.execute(findings_q).all():
        add_into(figures, ctx.workflow_title(workflow), (f, r, 0))
    for workflow, n in ctx.session.execute(actions_q).all():
        add_into(figures, ctx.workflow_title(workflow), (0, 0, n))
    return Table(
        key="findings",
        title="Findings and recommendations",
        columns=["Source", "Findings", "Recommendations", "Actions created from them"],
        rows=titled_rows(((t, figures[t]) for t in by_source(figures)), 3),
        note=(
            "Findings and recommendations recorded in the period, by the kind of activity "
            "that raised them. Actions created from them: actions (at any date) that answer "
            "one of those findings or recommendations."
        ),
    )


def _action_source(
    ctx: Context, plan_workflow: str, parent_workflow: str | None, origin: str | None
) -> str:
    """Where an action comes from: the activity that spawned its plan, else the plan's
    stated origin."""
    if plan_workflow != "action_plan":
        return ctx.workflow_title(plan_workflow)
    if parent_workflow is not None:
        return ctx.workflow_title(parent_workflow)
    if origin in _ORIGIN_WORKFLOWS:
        name, default = _ORIGIN_WORKFLOWS[origin]
        return ctx.workflow_title(name, default)
    return _ORIGIN_TITLES.get(origin or "", OTHER)


def actions_by_source(ctx: Context) -> Table:
    p = ctx.period
    plan, parent = aliased(Activity), aliased(Activity)
    is_open = col(Task.is_open).is_(True)
    rows_q = (
        sa.select(
            col(plan.workflow).label("plan_workflow"),
            col(parent.workflow).label("parent_workflow"),
            json_text(col(plan.data), "origin").label("origin"),
            sa.case((is_open, 1), else_=0).label("open"),
            sa.case(
                (
                    sa.and_(
                        is_open,
                        col(Task.deadline_status) == "running",
                        col(Task.due_on) < p.overdue_before,
                    ),
                    1,
                ),
                else_=0,
            ).label("overdue"),
            sa.case((p.holds(col(Task.answered_at)), 1), else_=0).label("completed"),
        )
        .select_from(Task)
        .join(plan, col(plan.id) == col(Task.activity_id))
        .outerjoin(parent, col(parent.id) == col(plan.parent_id))
        .where(col(Task.category) == "action", sa.or_(is_open, p.holds(col(Task.answered_at))))
        .subquery()
    )
    c = rows_q.c
    q = sa.select(
        c.plan_workflow,
        c.parent_workflow,
        c.origin,
        sa.func.sum(c.open),
        sa.func.sum(c.overdue),
        sa.func.sum(c.completed),
    ).group_by(c.plan_workflow, c.parent_workflow, c.origin)
    figures: dict[str, list[int]] = {}
    for plan_wf, parent_wf, origin, *counts in ctx.session.execute(q).all():
        add_into(figures, _action_source(ctx, plan_wf, parent_wf, origin), counts)
    return Table(
        key="actions_by_source",
        title="Actions by where they come from",
        columns=["Source", "Open", "Open and overdue", "Completed in period"],
        rows=titled_rows(((s, figures[s]) for s in by_source(figures)), 3),
        note=(
            "Actions in action plans, by the activity that opened the plan (an audit, a "
            "practice review, a Section 11 cycle) or, for a plan opened on its own, the origin "
            "recorded on it. Open: still open when the report was produced, whatever the "
            "period. Open and overdue: open, with a running deadline and a target date before "
            "the last day of the period (or before today, for a period not yet over). Completed in period: completion last submitted in "
            "the period."
        ),
    )
