"""Section 11: each agency's ratings by standard, for one cycle against the one before.

This module owns the report's fifth section: self-assessed and moderated means by agency
and standard, coloured by the form's rating scale; the share of agencies rated green by
standard and by sector; and the change in moderated ratings since the previous cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..models import SECTORS
from .counting import Context, bar
from .cycles import Cycle, change
from .model import SECTION_TITLES, Cell, Chart, Colour, Rated, Section, Table

SECTOR_TITLES: dict[str, str] = {
    "police": "Police",
    "health": "Health",
    "local_authority": "Local authority",
    "education": "Education",
    "probation": "Probation",
    "cafcass": "CAFCASS",
    "housing": "Housing",
    "youth_justice": "Youth justice",
    "voluntary": "Voluntary sector",
    "other": "Other",
}

NOT_MODERATED = "not moderated"
NOT_RATED = "not rated"
NO_FIGURE = "—"


def _pct_rating(pct: float | None, missing: str) -> Rated:
    if pct is None:
        return Rated(missing, "grey")
    colour: Colour = "green" if pct >= 75 else "amber" if pct >= 50 else "red"
    return Rated(f"{pct:.0f}%", colour, pct)


def _mean_rating(cycle: Cycle, mean: float | None, missing: str) -> Rated:
    if mean is None:
        return Rated(missing, "grey")
    return Rated(f"{mean:.2f}", cycle.colour(mean), round(mean, 4))


def _change_rating(current: float | None, previous: float | None) -> Rated:
    if current is None or previous is None:
        return Rated(NO_FIGURE, "none")
    moved = change(current, previous)
    if moved > 0:
        return Rated(f"{moved:+.2f}", "green", moved)
    if moved < 0:
        return Rated(f"{moved:+.2f}", "red", moved)
    return Rated("0.00", "grey", 0.0)


def section11(ctx: Context, current: Cycle | None, previous: Cycle | None) -> Section:
    headings = [h for _, h in current.standards] if current is not None else []
    keys = [k for k, _ in current.standards] if current is not None else []

    def agency_rows(cell: Callable[[Cycle, int, str], Cell]) -> list[list[Cell]]:
        if current is None:
            return []
        return [
            [ctx.agency_name(a), *(cell(current, a, k) for k in keys)] for a in current.agencies
        ]

    if current is None:
        intro = (
            "No Section 11 self-assessments were submitted in the period, so there is no "
            "cycle to show."
        )
        which = "no cycle in the period"
    else:
        compared = (
            f" It is compared with the previous cycle, {previous.ref}."
            if previous is not None
            else " There is no earlier cycle to compare it with."
        )
        intro = (
            f"Section 11 cycle {current.ref} ({current.activity.title}): "
            f"{len(current.agencies)} agencies submitted a self-assessment.{compared}"
        )
        which = f"cycle {current.ref}"
    scale_note = (
        f" Colours follow the {current.scale.title} scale: a mean takes the colour of the "
        "highest level whose score it reaches."
        if current is not None and current.scale is not None
        else ""
    )
    self_table = Table(
        key="s11_self",
        title="Self-assessment by standard",
        columns=["Agency", *headings],
        rows=agency_rows(lambda c, a, k: _mean_rating(c, c.self_means.get((a, k)), NOT_RATED)),
        note=(
            f"Each agency's own scores ({which}): the mean score of the standard's questions "
            f"in its submitted self-assessment.{scale_note}"
        ),
        chart=Chart(kind="heatmap", title="Self-assessment by agency and standard"),
    )
    moderated_table = Table(
        key="s11_moderated",
        title="Moderated ratings by standard",
        columns=["Agency", *headings],
        rows=agency_rows(
            lambda c, a, k: _mean_rating(c, c.moderated_means.get((a, k)), NOT_MODERATED)
        ),
        note=(
            f"The partnership's moderated scores ({which}): the mean moderated score of the "
            f'standard\'s questions; "{NOT_MODERATED}" where none of them has been moderated.'
            f"{scale_note}"
        ),
        chart=Chart(kind="heatmap", title="Moderated ratings by agency and standard"),
    )
    green_rows: list[list[Cell]] = []
    if current is not None:
        for key, heading in current.standards:
            self_pct = current.green_pct(key, current.self_means, current.agencies)
            moderated_pct = current.green_pct(key, current.moderated_means, current.agencies)
            previous_pct = (
                previous.green_pct(key, previous.moderated_means, previous.agencies)
                if previous is not None
                else None
            )
            now_share = current.green_share(key, current.moderated_means, current.agencies)
            before_share = (
                previous.green_share(key, previous.moderated_means, previous.agencies)
                if previous is not None
                else None
            )
            points = (
                round(now_share - before_share, 1)
                if now_share is not None and before_share is not None
                else None
            )
            green_rows.append([heading, self_pct, moderated_pct, previous_pct, points])
    # a standard nobody has a score for is left out of the chart rather than drawn as 0%
    charted = [any(v is not None for v in row[1:4]) for row in green_rows]
    series: dict[str, list[Any]] = {
        "Self % green": [r[1] for r in green_rows],
        "Moderated % green": [r[2] for r in green_rows],
    }
    if previous is not None:
        series["Previous moderated % green"] = [r[3] for r in green_rows]
    green_table = Table(
        key="s11_green",
        title="Agencies rated green by standard",
        columns=[
            "Standard",
            "Self % green",
            "Moderated % green",
            "Previous moderated % green",
            "Change (points)",
        ],
        rows=green_rows,
        note=(
            f"The share of agencies with a submitted self-assessment ({which}) whose mean "
            "score for the standard is at a green or blue level, by their own scores and as "
            "moderated, and as moderated in the previous cycle"
            + (f" ({previous.ref})" if previous is not None else " (none)")
            + ". Blank where no agency has a score for the standard. Change: moderated now "
            "minus previous, in percentage points."
        ),
        chart=bar(
            "Agencies rated green by standard (%)",
            [h for h, keep in zip(headings, charted, strict=True) if keep],
            {
                name: [v for v, keep in zip(values, charted, strict=True) if keep]
                for name, values in series.items()
            },
            unit="%",
        ),
    )
    sector_rows: list[list[Cell]] = []
    if current is not None:
        by_sector: dict[str, list[int]] = {}
        for a in current.agencies:
            sector = ctx.agencies[a].sector if a in ctx.agencies else "other"
            by_sector.setdefault(sector, []).append(a)
        rank = {name: i for i, name in enumerate(SECTORS)}
        for sector in sorted(by_sector, key=lambda x: (rank.get(x, len(rank)), x)):
            members = by_sector[sector]
            sector_rows.append(
                [
                    SECTOR_TITLES.get(sector, sector.replace("_", " ").capitalize()),
                    *(
                        _pct_rating(
                            current.green_pct(k, current.moderated_means, members),
                            NOT_MODERATED,
                        )
                        for k in keys
                    ),
                ]
            )
    sector_table = Table(
        key="s11_sector",
        title="Moderated ratings green by sector",
        columns=["Sector", *headings],
        rows=sector_rows,
        note=(
            f"For each sector ({which}), the share of its agencies with a submitted "
            "self-assessment whose mean moderated score for the standard is at a green or "
            "blue level. Green: 75% or more; amber: 50% or more; red: under 50%; "
            f'"{NOT_MODERATED}" where none of the sector\'s agencies has a moderated score.'
        ),
        chart=Chart(kind="heatmap", title="Moderated ratings green by sector and standard"),
    )
    change_table = Table(
        key="s11_change",
        title="Change in moderated ratings since the previous cycle",
        columns=["Agency", *headings],
        rows=agency_rows(
            lambda c, a, k: _change_rating(
                c.moderated_means.get((a, k)),
                previous.moderated_means.get((a, k)) if previous is not None else None,
            )
        ),
        note=(
            f"The mean moderated score for the standard ({which}) minus the same mean in the "
            "previous cycle"
            + (f" ({previous.ref})" if previous is not None else " (none)")
            + f'. Green: higher; red: lower; grey: the same; "{NO_FIGURE}": one of the '
            "cycles has no moderated score for it."
        ),
        chart=Chart(kind="heatmap", title="Change in moderated ratings by agency and standard"),
    )
    return Section(
        key="section11",
        title=SECTION_TITLES["section11"],
        intro=intro,
        tables=[self_table, moderated_table, green_table, sector_table, change_table],
    )
