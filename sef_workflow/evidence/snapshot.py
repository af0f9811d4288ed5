"""What the evidence pack shows of one activity, read in one transaction.

This module owns reading: the activity and its definition's version, its agencies, tasks,
events, emails and their delivery attempts, uploaded files, assessments and their answers,
findings and the actions answering them, the codes of every agency named, and the directory
log's records that touched those agencies while the activity was open; and the lookups
every part of the pack makes in what was read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlmodel import Session, col, select

from ..definitions import Workflow, from_stored
from ..errors import DefinitionError, NotFound
from ..models import (
    Activity,
    ActivityAgency,
    Agency,
    AgencyContact,
    Assessment,
    AssessmentAnswer,
    DeliveryAttempt,
    DirectoryEvent,
    Event,
    Finding,
    Notification,
    Staff,
    Task,
    Upload,
    WorkflowDefinition,
)
from ..views import Timeline, people_names
from .values import natural


@dataclass
class Snapshot:
    """One activity as the pack shows it. Each list is in the order the pack writes it: by
    id (agencies by code; answers by assessment, then question number)."""

    activity: Activity
    definition_version: str
    codes: dict[int, str]
    #: the actions (task ids) answering each finding
    actions: dict[int, list[int]]
    agencies: list[Agency]
    tasks: list[Task]
    events: list[Event]
    notifications: list[Notification]
    attempts: list[DeliveryAttempt]
    uploads: list[Upload]
    assessments: list[Assessment]
    answers: list[AssessmentAnswer]
    findings: list[Finding]
    #: the directory log's records about the agencies named, from opening to closing (or now)
    directory: list[DirectoryEvent] = field(default_factory=list)
    #: the definition the activity is pinned to (None if it can no longer be read)
    workflow: Workflow | None = None
    #: every person of the directory by address, in words
    names: dict[str, str] = field(default_factory=dict)

    def code(self, agency_id: int | None) -> str:
        """The agency's code ("" for none)."""
        return self.codes.get(agency_id, str(agency_id)) if agency_id is not None else ""

    @cached_property
    def task_agency(self) -> dict[int | None, str]:
        """Each task's agency code."""
        return {t.id: self.code(t.agency_id) for t in self.tasks}

    @cached_property
    def task_titles(self) -> dict[int | None, str]:
        return {t.id: t.title for t in self.tasks}

    @cached_property
    def words(self) -> Timeline:
        """What the timeline says its events with: titles, labels and names."""
        return Timeline.of(self.workflow, self.tasks, self.names, self.agencies)

    def decisions(self) -> list[Event]:
        """What people decided: every event not caused by the system and not a reminder."""
        return [e for e in self.events if e.actor_role != "system" and e.kind != "reminder"]


def _queries(aid: int) -> dict[str, Any]:
    """The query of each list of :class:`Snapshot`, in the order they are read."""
    return {
        "agencies": select(Agency)
        .join(ActivityAgency, col(ActivityAgency.agency_id) == col(Agency.id))
        .where(ActivityAgency.activity_id == aid)
        .order_by(col(Agency.code)),
        "tasks": select(Task).where(Task.activity_id == aid).order_by(col(Task.id)),
        "events": select(Event).where(Event.activity_id == aid).order_by(col(Event.id)),
        "notifications": select(Notification)
        .where(Notification.activity_id == aid)
        .order_by(col(Notification.id)),
        "attempts": select(DeliveryAttempt)
        .join(Notification, col(Notification.id) == col(DeliveryAttempt.notification_id))
        .where(Notification.activity_id == aid)
        .order_by(col(DeliveryAttempt.id)),
        "uploads": select(Upload)
        .join(Task, col(Task.id) == col(Upload.task_id))
        .where(Task.activity_id == aid)
        .order_by(col(Upload.id)),
        "assessments": select(Assessment)
        .where(Assessment.activity_id == aid)
        .order_by(col(Assessment.id)),
        "answers": select(AssessmentAnswer)
        .join(Assessment, col(Assessment.id) == col(AssessmentAnswer.assessment_id))
        .where(Assessment.activity_id == aid),
        "findings": select(Finding).where(Finding.activity_id == aid).order_by(col(Finding.id)),
    }


def load(session: Session, ref: str) -> Snapshot:
    """Activity ``ref`` and everything the pack shows of it; NotFound if there is none."""
    activity = session.exec(select(Activity).where(Activity.ref == ref.strip().upper())).first()
    if activity is None:
        raise NotFound(f"no activity with reference {ref}")
    aid = activity.id
    assert aid is not None
    definition = session.get(WorkflowDefinition, activity.definition_id)
    lists = {name: list(session.exec(query).all()) for name, query in _queries(aid).items()}
    lists["answers"].sort(key=lambda a: (a.assessment_id, natural(a.question)))
    codes = _codes(session, lists)
    return Snapshot(
        activity=activity,
        definition_version=definition.version if definition is not None else "",
        actions=_actions(session, lists["findings"]),
        codes=codes,
        directory=_directory(session, activity, codes, lists["agencies"]),
        workflow=_workflow(definition),
        names=people_names(
            session.exec(select(Staff)).all(),
            session.exec(select(Agency)).all(),
            session.exec(select(AgencyContact)).all(),
        ),
        **lists,
    )


def _workflow(row: WorkflowDefinition | None) -> Workflow | None:
    """The pinned definition, compiled (None when it can no longer be read)."""
    if row is None:
        return None
    try:
        return from_stored(row.name, row.version, row.source, row.parameters)
    except DefinitionError:
        return None


def _directory(
    session: Session, activity: Activity, codes: dict[int, str], agencies: list[Agency]
) -> list[DirectoryEvent]:
    """The directory log's records, oldest first, made while the activity was open, about
    one of the agencies it names, or about an address that was one of their contacts."""
    query = select(DirectoryEvent).where(col(DirectoryEvent.at) >= activity.opened_at)
    if activity.closed_at is not None:
        query = query.where(col(DirectoryEvent.at) <= activity.closed_at)
    if not codes:
        return []
    mine = list(session.exec(query.where(col(DirectoryEvent.agency_id).in_(sorted(codes)))).all())
    contacts = {a for g in agencies for a in (g.lead_email, g.deputy_email, g.manager_email) if a}
    for r in mine:
        for values in (r.before or {}, r.after or {}):
            contacts |= {v for k, v in values.items() if k.endswith("email") and isinstance(v, str)}
    people = session.exec(
        query.where(
            col(DirectoryEvent.agency_id).is_(None),
            col(DirectoryEvent.subject).in_(sorted(contacts)),
        )
    ).all()
    return sorted([*mine, *people], key=lambda r: r.id or 0)


def _actions(session: Session, findings: list[Finding]) -> dict[int, list[int]]:
    actions: dict[int, list[int]] = {}
    finding_ids = [f.id for f in findings if f.id is not None]
    if finding_ids:
        rows = session.exec(
            select(Task.id, Task.finding_id)
            .where(col(Task.finding_id).in_(finding_ids))
            .order_by(col(Task.id))
        ).all()
        for task_id, finding_id in rows:
            if task_id is not None and finding_id is not None:
                actions.setdefault(finding_id, []).append(task_id)
    return actions


def _codes(session: Session, lists: dict[str, list[Any]]) -> dict[int, str]:
    """The code of every agency of the activity, and of any other agency a task, an
    assessment or a finding names."""
    wanted = {
        *(t.agency_id for t in lists["tasks"]),
        *(a.agency_id for a in lists["assessments"]),
        *(f.agency_id for f in lists["findings"]),
    } - {None}
    codes = {a.id: a.code for a in lists["agencies"] if a.id is not None}
    missing = sorted(i for i in wanted if i is not None and i not in codes)
    if missing:
        for row in session.exec(select(Agency).where(col(Agency.id).in_(missing))).all():
            if row.id is not None:
                codes[row.id] = row.code
    return codes
