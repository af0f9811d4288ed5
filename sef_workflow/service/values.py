"""The small values the service takes and returns: who acts, what a call did, what a
sweep found, which tasks to list, what an import changed, where moderation disagrees."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from ..models import STAFF_ROLES, Activity, Task


@dataclass(frozen=True)
class Actor:
    """Who is acting: a member of staff, an agency contact, or the system itself."""

    id: str
    role: str
    agency_id: int | None = None
    name: str = ""

    @classmethod
    def system(cls) -> Actor:
        return cls(id="system", role="system", name="sef-workflow")

    def may(self, roles: Iterable[str]) -> bool:
        roles = tuple(roles)
        return self.role in roles or (self.role == "admin" and bool(set(roles) & set(STAFF_ROLES)))


@dataclass(frozen=True)
class PlannedNotification:
    """An email a change asks for: which template, to whom, about which task."""

    template: str
    to: str
    activity_id: int
    task_id: int | None = None
    agency_id: int | None = None
    address: str | None = None


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int


@dataclass(frozen=True)
class TaskFilter:
    """Which tasks to list. ``None`` means any."""

    agency: str | None = None
    state: str | None = None
    activity: str | None = None
    kind: str | None = None
    overdue: bool = False
    due_before: date | None = None
    include_closed: bool = False
    limit: int = 500


#: Kinds of finding an activity records.
FINDING_KINDS: tuple[str, ...] = ("finding", "recommendation")
#: An action plan's origin, by the workflow it answers.
PLAN_ORIGINS: dict[str, str] = {
    "themed_audit": "audit",
    "practice_review": "practice_review",
    "section11": "section11",
}


@dataclass(frozen=True)
class Disagreement:
    """An answer whose moderated rating differs from the agency's own: for the challenge event."""

    assessment_id: int
    agency: str
    agency_code: str
    question: str
    standard: str
    text: str
    self_rating: str
    moderated_rating: str
    #: moderated score minus self score: negative when the panel rated lower
    difference: int
    reason: str


@dataclass(frozen=True)
class SweepReport:
    """What one reminder sweep found and did."""

    due: int
    sent: int
    skipped: int
    errors: int
    outside_hours: bool = False


@dataclass
class Outcome:
    """What a service call did."""

    activity: Activity
    task: Task | None = None
    from_state: str | None = None
    to_state: str | None = None
    created_tasks: list[Task] = field(default_factory=list)
    spawned: list[Activity] = field(default_factory=list)
    notifications: list[PlannedNotification] = field(default_factory=list)
