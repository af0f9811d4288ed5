"""The figures of the four-questions report for a period, counted in the database.

:func:`build_report` answers, for a period of local dates ``[start, end]`` (both included):

* **How much did we do?** activities opened, closed and cancelled; requests issued to
  agencies and returns received.
* **How well did we do it?** returns on time, chasing needed, statutory steps met on time,
  actions completed by their target date, actions reprogrammed.
* **Are there opportunities to learn and improve?** findings and recommendations, and the
  actions that answer them.
* **Is anyone better off?** actions completed with evidence of impact, Section 11 ratings
  that moved since the previous cycle, re-audit judgements against the first audit.
* **Section 11**: each agency's self and moderated ratings by standard, for the cycle whose
  returns came in last in the period, against the previous cycle.

Each section's tables are counted in a module of their own (``how_much``, ``how_well``,
``learning``, ``better_off``, ``section11``), over the period and the query shapes of
``counting`` and the Section 11 cycles of ``cycles``; this module owns the reporting year
and puts the report together.

Every figure is counted with one aggregate query (``GROUP BY``) per table: nothing loads
the tasks themselves, so the report stays fast over a large history. Moments are compared
with the period's bounds in UTC: from local midnight at the start of ``start`` to local
midnight at the end of ``end`` (in the calendar's time zone, so summer time is respected).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from ..calendar import WorkingCalendar, add_months, format_period
from ..db import Database
from ..definitions import Registry
from ..errors import InvalidInput
from ..forms import FormRegistry
from ..models import Agency
from .better_off import impact, ratings_moved, reaudit
from .counting import MAX_PERIOD_YEARS, Context, answered_returns, completed_actions, period_of
from .cycles import s11_cycles
from .how_much import activities_by_type, requests_by_agency
from .how_well import actions_completed, actions_reprogrammed, chasing, returns_on_time, statutory
from .learning import actions_by_source, findings
from .model import SECTION_TITLES, Report, Section
from .section11 import section11

__all__ = ["MAX_PERIOD_YEARS", "build_report", "reporting_year"]


def reporting_year(today: date, start_month: int) -> tuple[date, date]:
    """The reporting year that holds ``today``, for years starting on the 1st of
    ``start_month``: ``(2026-04-01, 2027-03-31)`` for 1 Dec 2026 and April."""
    if isinstance(start_month, bool) or not isinstance(start_month, int):
        raise InvalidInput(
            f"The reporting year's first month must be a number, not {start_month!r}."
        )
    if not 1 <= start_month <= 12:
        raise InvalidInput(
            f"The reporting year's first month must be from 1 to 12, not {start_month}."
        )
    year = today.year if today.month >= start_month else today.year - 1
    first = date(year, start_month, 1)
    return first, add_months(first, 12) - timedelta(days=1)


def build_report(
    db: Database,
    *,
    forms: FormRegistry,
    registry: Registry,
    calendar: WorkingCalendar,
    start: date,
    end: date,
    partnership: str,
    now: datetime,
    cycle: str | None = None,
) -> Report:
    """The four-questions report for the local dates ``start`` to ``end`` (both included).

    ``cycle`` chooses the Section 11 cycle by reference; by default it is the cycle whose
    self-assessments came in last within the period. Raises :class:`InvalidInput` for a
    period that ends before it starts or is longer than five years, or an unknown cycle.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be a timezone-aware datetime, got {now!r}")
    period = period_of(start, end, calendar, calendar.local_date(now))
    with db.read() as session:
        agencies = {a.id: a for a in session.execute(sa.select(Agency)).scalars() if a.id}
        ctx = Context(session, forms, registry, period, agencies)
        current, previous = s11_cycles(ctx, cycle)
        returns = answered_returns(ctx)
        completed = completed_actions(ctx)
        sections = [
            Section(
                key="how_much",
                title=SECTION_TITLES["how_much"],
                intro=(
                    "The activities the partnership ran in the period and the requests it "
                    "sent to partner agencies."
                ),
                tables=[activities_by_type(ctx), requests_by_agency(ctx, returns)],
            ),
            Section(
                key="how_well",
                title=SECTION_TITLES["how_well"],
                intro=(
                    "Whether returns, statutory steps and actions came in on time, and how "
                    "much chasing they needed."
                ),
                tables=[
                    returns_on_time(ctx, returns),
                    chasing(ctx, returns),
                    statutory(ctx),
                    actions_completed(ctx, completed),
                    actions_reprogrammed(ctx),
                ],
            ),
            Section(
                key="learn",
                title=SECTION_TITLES["learn"],
                intro=(
                    "What audits, reviews and Section 11 cycles found, and the actions taken "
                    "in response."
                ),
                tables=[findings(ctx), actions_by_source(ctx)],
            ),
            Section(
                key="better_off",
                title=SECTION_TITLES["better_off"],
                intro=(
                    "Evidence that practice changed: actions with evidence of impact, Section "
                    "11 ratings that moved since the previous cycle, and re-audit judgements "
                    "against the first audit."
                ),
                tables=[
                    impact(ctx, completed),
                    *ratings_moved(ctx, current, previous),
                    reaudit(ctx),
                ],
            ),
            section11(ctx, current, previous),
        ]
    return Report(
        title=f"The four questions: {format_period(start, end)}",
        partnership=partnership,
        period_start=start,
        period_end=end,
        generated_at=now.astimezone(UTC),
        sections=sections,
    )
