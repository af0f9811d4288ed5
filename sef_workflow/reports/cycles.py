"""The Section 11 cycles a report compares, read as means per agency and standard.

This module owns choosing the cycle to report on (the one whose self-assessments came in
last in the period, or one named by reference) and the cycle before it, and reading each
cycle's submitted self-assessments into self and moderated means per agency and standard,
with the form's standards and rating scale. It also finds a form or a scale that may have
gone from the files since an assessment was pinned to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from ..errors import InvalidInput, SefError
from ..forms import Form, Scale
from ..models import Activity, Assessment, AssessmentAnswer, FormDefinition
from .counting import Context, short
from .model import Colour

_COLOURS: dict[str, Colour] = {
    "red": "red",
    "amber": "amber",
    "green": "green",
    "blue": "blue",
    "grey": "grey",
}


@dataclass
class Cycle:
    """One Section 11 cycle's submitted self-assessments, as means per agency and standard."""

    activity: Activity
    agencies: list[int]  #: agencies with a submitted self-assessment, by name
    self_means: dict[tuple[int, str], float]
    moderated_means: dict[tuple[int, str], float]
    scale: Scale | None
    standards: list[tuple[str, str]]  #: (key, column heading), in the form's order

    @property
    def ref(self) -> str:
        return self.activity.ref

    def colour(self, mean: float) -> Colour:
        if self.scale is None:
            return "grey"
        return _COLOURS.get(self.scale.level_for_score(mean).colour, "grey")

    def positive(self, mean: float) -> bool:
        return self.scale is not None and self.scale.level_for_score(mean).positive

    def green_pct(
        self, standard: str, means: Mapping[tuple[int, str], float], agencies: Iterable[int]
    ) -> float | None:
        """Share of ``agencies`` whose mean for ``standard`` is at a positive level, to 1
        decimal place; None when none of them has a mean for it."""
        share = self.green_share(standard, means, agencies)
        return round(share, 1) if share is not None else None

    def green_share(
        self, standard: str, means: Mapping[tuple[int, str], float], agencies: Iterable[int]
    ) -> float | None:
        """:meth:`green_pct` unrounded, for differences that round once."""
        wanted = list(agencies)
        found = [means[(a, standard)] for a in wanted if (a, standard) in means]
        if not found:
            return None
        return 100.0 * sum(1 for m in found if self.positive(m)) / len(wanted)


def change(current: float, previous: float) -> float:
    """``current - previous`` to 2 decimal places."""
    moved = round(current - previous, 2)
    return moved if moved != 0 else 0.0  # never -0.0


def _submitted_returns() -> list[sa.ColumnElement[bool]]:
    return [
        col(Assessment.stage) == "return",
        col(Assessment.status) == "submitted",
        col(Assessment.agency_id).is_not(None),
    ]


def _first(ctx: Context, query: sa.Select[Any]) -> Activity | None:
    activity: Activity | None = ctx.session.execute(query).scalars().first()
    return activity


def s11_cycles(ctx: Context, ref: str | None) -> tuple[Cycle | None, Cycle | None]:
    """The cycle to report on and the one before it."""
    is_s11 = col(Activity.workflow) == "section11"
    activity: Activity | None
    if ref is not None:
        activity = _first(ctx, sa.select(Activity).where(col(Activity.ref) == ref, is_s11))
        if activity is None:
            raise InvalidInput(f"There is no Section 11 cycle with the reference {ref!r}.")
    else:
        last = sa.func.max(col(Assessment.submitted_at))
        q = (
            sa.select(col(Assessment.activity_id))
            .join(Activity, col(Activity.id) == col(Assessment.activity_id))
            .where(is_s11, *_submitted_returns(), ctx.period.holds(col(Assessment.submitted_at)))
            .group_by(col(Assessment.activity_id))
            .order_by(last.desc(), col(Assessment.activity_id).desc())
            .limit(1)
        )
        chosen = ctx.session.execute(q).scalars().first()
        if chosen is None:
            return None, None
        activity = ctx.session.get(Activity, chosen)
        if activity is None:  # pragma: no cover - foreign key
            return None, None
    previous: Activity | None = None
    previous_ref = (activity.data or {}).get("previous_cycle")
    if isinstance(previous_ref, str) and previous_ref.strip():
        previous = _first(
            ctx,
            sa.select(Activity).where(
                col(Activity.ref) == previous_ref.strip(),
                is_s11,
                col(Activity.id) != activity.id,
            ),
        )
    if previous is None:
        has_returns = (
            sa.select(col(Assessment.id))
            .where(col(Assessment.activity_id) == col(Activity.id), *_submitted_returns())
            .exists()
        )
        previous = _first(
            ctx,
            sa.select(Activity)
            .where(is_s11, col(Activity.opened_at) < activity.opened_at, has_returns)
            .order_by(col(Activity.opened_at).desc(), col(Activity.id).desc())
            .limit(1),
        )
    current = _load_cycle(ctx, activity)
    return current, _load_cycle(ctx, previous) if previous is not None else None


def _load_cycle(ctx: Context, activity: Activity) -> Cycle:
    s = ctx.session
    mine = [col(Assessment.activity_id) == activity.id, *_submitted_returns()]
    agency_ids = [
        a
        for a in s.execute(sa.select(col(Assessment.agency_id)).where(*mine).distinct()).scalars()
        if a is not None
    ]
    kind_q = (
        sa.select(
            col(Assessment.form_name),
            col(Assessment.scale),
            sa.func.max(col(Assessment.form_definition_id)),
        )
        .where(*mine)
        .group_by(col(Assessment.form_name), col(Assessment.scale))
        .order_by(sa.func.count().desc(), col(Assessment.form_name), col(Assessment.scale))
        .limit(1)
    )
    kind = s.execute(kind_q).first()
    means_q = (
        sa.select(
            col(Assessment.agency_id),
            col(AssessmentAnswer.standard),
            sa.func.avg(col(AssessmentAnswer.score)),
            sa.func.avg(col(AssessmentAnswer.moderated_score)),
        )
        .join(Assessment, col(Assessment.id) == col(AssessmentAnswer.assessment_id))
        .where(*mine)
        .group_by(col(Assessment.agency_id), col(AssessmentAnswer.standard))
    )
    self_means: dict[tuple[int, str], float] = {}
    moderated_means: dict[tuple[int, str], float] = {}
    seen: set[str] = set()
    for agency_id, standard, self_mean, moderated_mean in ctx.session.execute(means_q).all():
        seen.add(standard)
        if self_mean is not None:
            self_means[(agency_id, standard)] = float(self_mean)
        if moderated_mean is not None:
            moderated_means[(agency_id, standard)] = float(moderated_mean)
    scale: Scale | None = None
    form: Form | None = None
    if kind is not None:
        form_name, scale_name, definition_id = kind
        scale = scale_of(ctx, scale_name)
        form = form_of(ctx, form_name, definition_id)
    standards: list[tuple[str, str]] = []
    for standard in form.standards if form is not None else ():
        standards.append((standard.key, f"{standard.key}. {short(standard.title)}"))
    known = {k for k, _ in standards}
    standards.extend((k, k) for k in sorted(seen - known, key=_natural))
    return Cycle(
        activity=activity,
        agencies=[a for a in ctx.by_agency(agency_ids) if a is not None],
        self_means=self_means,
        moderated_means=moderated_means,
        scale=scale,
        standards=standards,
    )


def _natural(key: str) -> tuple[Any, ...]:
    """Sort key putting "2" before "10"."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in key.split("."))


def form_of(ctx: Context, name: str, definition_id: int | None) -> Form | None:
    """The form file of that name; the version an assessment was pinned to if it is gone."""
    try:
        return ctx.forms.get(name)
    except SefError:
        pass
    row = ctx.session.get(FormDefinition, definition_id) if definition_id is not None else None
    if row is None:
        return None
    try:
        return ctx.forms.pinned(row.name, row.version, row.source)
    except SefError:
        return None


def scale_of(ctx: Context, name: str) -> Scale | None:
    """The rating scale of that name; None if it is gone."""
    try:
        return ctx.forms.scale(name)
    except SefError:
        return None
