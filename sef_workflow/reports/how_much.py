"""How much did we do? The activities run in the period and the requests sent to agencies.

This module owns the report's first section: activities opened, closed and cancelled by
type, and requests issued to each agency against the returns received.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import col

from ..models import Activity, Task
from .counting import (
    Context,
    Returns,
    add_into,
    bar,
    count_if,
    counts_per_agency,
    tasks_by_agency,
    titled_rows,
    whole,
)
from .model import Table


def activities_by_type(ctx: Context) -> Table:
    p = ctx.period
    opened, closed = col(Activity.opened_at), col(Activity.closed_at)
    cancelled = col(Activity.state) == "cancelled"
    closed_in = sa.and_(closed.is_not(None), p.holds(closed))
    q = (
        sa.select(
            col(Activity.workflow),
            count_if(p.holds(opened)),
            count_if(sa.and_(closed_in, sa.not_(cancelled))),
            count_if(sa.and_(closed_in, cancelled)),
            count_if(sa.or_(closed.is_(None), closed >= p.hi)),
        )
        .where(opened < p.hi, sa.or_(closed.is_(None), closed >= p.lo))
        .group_by(col(Activity.workflow))
    )
    figures: dict[str, list[int]] = {}
    for workflow, *counts in ctx.session.execute(q).all():
        if any(whole(c) for c in counts):
            add_into(figures, ctx.workflow_title(workflow), counts)
    titles = sorted(figures, key=str.casefold)
    return Table(
        key="activities_by_type",
        title="Activities by type",
        columns=["Type", "Opened", "Closed", "Cancelled", "Open at end"],
        rows=titled_rows(((t, figures[t]) for t in titles), 4),
        note=(
            "Activities of each workflow. Opened: opened in the period. Closed: reached a "
            "final state other than cancelled in the period. Cancelled: cancelled in the "
            "period. Open at end: opened before the end of the period and not closed or "
            "cancelled by then. Only types with at least one figure are listed."
        ),
        chart=bar(
            "Activities opened and closed",
            titles,
            {"Opened": [figures[t][0] for t in titles], "Closed": [figures[t][1] for t in titles]},
        ),
    )


def requests_by_agency(ctx: Context, returns: Returns) -> Table:
    issued = {
        a: whole(n)
        for a, n in tasks_by_agency(ctx, "request", col(Task.created_at), sa.func.count())
    }
    received = {a: sum(by_late.values()) for a, by_late in returns.count.items()}
    figures = {a: (issued.get(a, 0), received.get(a, 0)) for a in {*issued, *received}}
    rows = counts_per_agency(ctx, figures, 2)
    agencies = rows[:-1]
    return Table(
        key="requests_by_agency",
        title="Requests to agencies",
        columns=["Agency", "Requests issued", "Returns received"],
        rows=rows,
        note=(
            "Requests are the returns asked of an agency (audit returns, Section 11 "
            "self-assessments, agency summaries, chronologies, reports and data). Requests "
            "issued: requests created in the period, whatever happened to them later. Returns "
            "received: requests the agency last answered in the period."
        ),
        chart=bar(
            "Requests issued and returns received",
            [str(r[0]) for r in agencies],
            {
                "Requests issued": [r[1] for r in agencies],
                "Returns received": [r[2] for r in agencies],
            },
        ),
    )
