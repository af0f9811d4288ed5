"""Who decides what in the demo history: how each agency answers the Section 11 questions
and how the panel moderates it in each cycle, and the themed audit's judgements.

The four parts (steady, improving, falling back, mixed) are told in
:mod:`sef_workflow.demo.history`; agencies after the first four each improve on one
standard.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from ..forms import Question

#: the audit meeting's judgements, then the re-audit's (better on three, worse on one)
FIRST_JUDGEMENTS = {
    "recognition": "good",
    "assessment": "requires_improvement",
    "planning_intervention": "requires_improvement",
    "joint_working": "good",
    "impact": "requires_improvement",
    "overall_quality": "requires_improvement",
}
REAUDIT_JUDGEMENTS = {
    "recognition": "good",
    "assessment": "good",
    "planning_intervention": "good",
    "joint_working": "requires_improvement",
    "impact": "requires_improvement",
    "overall_quality": "good",
}

EVIDENCE = "Evidence held by the agency and available at moderation (fictional)."
NEW_EVIDENCE = "Updated for this cycle: see the agency's latest audit summary (fictional)."


_T = TypeVar("_T")


@dataclass(frozen=True)
class Role:
    """How one agency answers and is moderated in each cycle.

    Each mapping is keyed by a standard's key (every question of the standard) or by a
    question's number (that question, before its standard's entry). Ratings are keys of
    the 0-3 scale. ``self1``: the first cycle's answers, ``default`` where nothing is
    given (``None``: left unanswered). ``changes2``: the answers the agency changes when it
    reviews those carried into the second cycle (the rest it confirms). ``moderated1`` and
    ``moderated2``: the panel's ratings that differ from the agency's, with the reason.
    """

    self1: Mapping[str, str | None]
    moderated1: Mapping[str, tuple[str, str]]
    changes2: Mapping[str, str] = field(default_factory=dict)
    moderated2: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    default: str = "2"

    @staticmethod
    def pick(rules: Mapping[str, _T], q: Question) -> _T | None:
        if q.number in rules:
            return rules[q.number]
        return rules.get(q.standard)

    def rating1(self, q: Question) -> str | None:
        if q.number in self.self1 or q.standard in self.self1:
            return self.pick(self.self1, q)
        return self.default


STEADY = Role(
    self1={},
    moderated1={"1.3": ("1", "Capacity is not yet reviewed when demand changes (fictional).")},
    moderated2={"1.3": ("1", "Capacity review still planned, not done (fictional).")},
)
IMPROVING = Role(
    self1={},
    moderated1={
        "4": ("1", "Training completion well below the agency's own target (fictional)."),
        "7": ("1", "Record audits found information not shared in time (fictional)."),
        "6.3": ("1", "Few staff knew the escalation procedure (fictional survey)."),
    },
    changes2={"7.1": "3", "7.2": "3"},
    moderated2={"7.2": ("2", "Met, but the record audit is too recent to show it embedded.")},
)
FALLING_BACK = Role(
    self1={"1": "3", "2": "3", "5": "3", "8": "3"},
    moderated1={},
    changes2={"3.1": "1"},
    moderated2={
        "2": ("2", "Met; the named lead's post was vacant for four months (fictional)."),
        "8.1": ("2", "Two procedures were past their review date at moderation."),
    },
)
MIXED = Role(
    self1={"3.3": None},
    moderated1={"3.3": ("1", "No feedback from parents and carers was offered (fictional).")},
    changes2={"3.3": "2"},
    moderated2={"5.1": ("1", "A personnel file audit found checks missing (fictional).")},
)


def other_role(index: int) -> Role:
    """Agencies after the first four: one standard moderated down in the first cycle only,
    and another rated 3 throughout, both chosen by position among the eight standards."""
    return Role(
        self1={str((index + 3) % 8 + 1): "3"},
        moderated1={
            str(index % 8 + 1): ("1", "The evidence did not yet show this across the agency.")
        },
    )
