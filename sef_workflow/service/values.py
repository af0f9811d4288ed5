"""The small values the service takes and returns: who acts, what a call did, what a
sweep found, which tasks to list, what an import changed, where moderation disagrees."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from ..models import STAFF_ROLES, Activity, Task

#: where a person stands in their agency: the lead, deputy and senior manager see all of the
#: agency's work and may give a task to someone else; a contact sees the tasks meant for them
POSITIONS: dict[str, str] = {
    "lead": "lead",
    "deputy": "deputy",
    "manager": "senior manager",
    "contact": "contact",
}


@dataclass(frozen=True)
class Actor:
    """Who is acting: a member of staff, a person of an agency, or the system itself.

    Everyone of an agency acts with the role ``agency``; ``position`` says which of them they
    are, and ``purposes`` what a named contact is the contact for."""

    id: str
    role: str
    agency_id: int | None = None
    name: str = ""
    position: str = ""
    purposes: frozenset[str] = frozenset()

    @classmethod
    def system(cls) -> Actor:
        return cls(id="system", role="system", name="sef-workflow")

    def may(self, roles: Iterable[str]) -> bool:
        roles = tuple(roles)
        if self.role in roles:
            return True
        if self.role == "admin":
            return bool(set(roles) & set(STAFF_ROLES))
        return self.is_agency_manager and "agency_manager" in roles

    @property
    def is_agency_manager(self) -> bool:
        return self.role == "agency" and self.position == "manager"

    @property
    def runs_agency(self) -> bool:
        """The agency's lead, deputy or senior manager: sees all its work, gives tasks out."""
        return self.role == "agency" and self.position != "contact"

    def sees(self, task: Task) -> bool:
        """Whether this person may see and act on ``task``: staff every task; an agency's
        lead, deputy and senior manager all of their agency's; a contact the tasks given to
        them or addressed to their purpose and given to nobody."""
        if self.role in STAFF_ROLES or self.role == "system":
            return True
        if self.role != "agency" or task.agency_id is None or task.agency_id != self.agency_id:
            return False
        if self.position != "contact":
            return True
        if task.assignee_email is not None:
            return task.assignee_email == self.id
        return task.purpose is not None and task.purpose in self.purposes


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
