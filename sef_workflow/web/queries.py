"""Read-only queries the pages need and the service does not offer. Nothing here writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import col, func, select

from ..db import Database
from ..models import Activity, Agency, Notification, Task, Upload
from ..service import Actor


@dataclass(frozen=True)
class TaskRow:
    task: Task
    activity: Activity
    agency: Agency | None


def tasks(
    db: Database,
    *,
    agency_id: int | None = None,
    agency_code: str | None = None,
    workflow: str | None = None,
    open_only: bool = True,
    overdue_at: datetime | None = None,
    due_by: date | None = None,
    due_after: datetime | None = None,
    running_only: bool = False,
    person: Actor | None = None,
    limit: int = 500,
) -> list[TaskRow]:
    """Tasks with their activity and agency, soonest due first.

    ``agency_id`` scopes the list to one agency: the portal always passes it, with the
    ``person`` signed in (a named contact sees only the tasks meant for them).
    """
    q = (
        select(Task, Activity, Agency)
        .join(Activity, col(Activity.id) == col(Task.activity_id))
        .join(Agency, col(Agency.id) == col(Task.agency_id), isouter=True)
    )
    if agency_id is not None:
        q = q.where(col(Task.agency_id) == agency_id)
    if person is not None and person.role == "agency" and person.position == "contact":
        q = q.where(
            sa.or_(
                col(Task.assignee_email) == person.id,
                sa.and_(
                    col(Task.assignee_email).is_(None),
                    col(Task.purpose).in_(sorted(person.purposes)),
                ),
            )
        )
    if agency_code:
        q = q.where(col(Agency.code) == agency_code.upper())
    if workflow:
        q = q.where(col(Activity.workflow) == workflow)
    if open_only:
        q = q.where(col(Task.is_open).is_(True))
    running = running_only or overdue_at is not None or due_by is not None or due_after is not None
    if running:
        q = q.where(col(Task.deadline_status) == "running")
    if overdue_at is not None:
        q = q.where(col(Task.due_at) <= overdue_at)
    if due_by is not None:
        q = q.where(col(Task.due_on) <= due_by)
    if due_after is not None:
        q = q.where(col(Task.due_at) > due_after)
    if running:  # a running deadline always has a due time: the index's order
        q = q.order_by(col(Task.due_at), col(Task.id))
    else:
        q = q.order_by(col(Task.due_at).is_(None), col(Task.due_at), col(Task.id))
    q = q.limit(limit)
    with db.read() as session:
        return [TaskRow(t, a, g) for t, a, g in session.exec(q).all()]


def overdue_by_agency(db: Database, now: datetime) -> list[tuple[str, str, int]]:
    """(agency code, agency name, number of overdue open tasks), most overdue first."""
    q = (
        select(Agency.code, Agency.name, func.count(col(Task.id)))
        .join(Agency, col(Agency.id) == col(Task.agency_id))
        .where(
            col(Task.is_open).is_(True),
            col(Task.deadline_status) == "running",
            col(Task.due_at) <= now,
        )
        .group_by(col(Agency.code), col(Agency.name))
        .order_by(func.count(col(Task.id)).desc(), col(Agency.code))
    )
    with db.read() as session:
        return [(c, n, int(k)) for c, n, k in session.exec(q).all()]


def failed_email_count(db: Database) -> int:
    with db.read() as session:
        q = select(func.count(col(Notification.id))).where(col(Notification.status) == "failed")
        return int(session.exec(q).one())


def activities_of(db: Database, opened_by: str | None, limit: int = 50) -> list[Activity]:
    """Open activities, newest first; only those opened by ``opened_by`` when given."""
    q = select(Activity).where(col(Activity.closed_at).is_(None))
    if opened_by is not None:
        q = q.where(col(Activity.opened_by) == opened_by)
    q = q.order_by(col(Activity.opened_at).desc(), col(Activity.id).desc()).limit(limit)
    with db.read() as session:
        return list(session.exec(q).all())


def activities(
    db: Database, workflow: str | None, include_closed: bool, limit: int = 200
) -> list[Activity]:
    q = select(Activity)
    if workflow:
        q = q.where(col(Activity.workflow) == workflow)
    if not include_closed:
        q = q.where(col(Activity.closed_at).is_(None))
    q = q.order_by(col(Activity.opened_at).desc(), col(Activity.id).desc()).limit(limit)
    with db.read() as session:
        return list(session.exec(q).all())


def uploads_for(db: Database, task_ids: Sequence[int]) -> list[Upload]:
    if not task_ids:
        return []
    with db.read() as session:
        q = select(Upload).where(col(Upload.task_id).in_(list(task_ids))).order_by(col(Upload.id))
        return list(session.exec(q).all())


def upload(db: Database, upload_id: int) -> tuple[Upload, Task] | None:
    with db.read() as session:
        row = session.exec(
            select(Upload, Task)
            .join(Task, col(Task.id) == col(Upload.task_id))
            .where(col(Upload.id) == upload_id)
        ).first()
        return (row[0], row[1]) if row is not None else None


def agency(db: Database, agency_id: int) -> Agency | None:
    with db.read() as session:
        return session.get(Agency, agency_id)


def count(db: Database, table: type[object]) -> int:
    """Rows in a table (for tests that check nothing changed)."""
    with db.read() as session:
        return int(session.execute(sa.select(func.count()).select_from(table)).scalar_one())


BRAG = ("blue", "green", "amber", "red")


def brag_counts(db: Database, agency_code: str | None = None) -> list[tuple[str, int]]:
    """Open action-plan actions by BRAG status, in BRAG order, then "not rated"."""
    q = (
        select(Task.data)
        .join(Activity, col(Activity.id) == col(Task.activity_id))
        .where(
            col(Activity.workflow) == "action_plan",
            col(Task.kind) == "action",
            col(Task.is_open).is_(True),
        )
    )
    if agency_code:
        q = q.join(Agency, col(Agency.id) == col(Task.agency_id)).where(
            col(Agency.code) == agency_code.upper()
        )
    counts = dict.fromkeys((*BRAG, "not rated"), 0)
    with db.read() as session:
        for data in session.exec(q).all():
            brag = (data or {}).get("brag")
            counts[brag if brag in BRAG else "not rated"] += 1
    return list(counts.items())


@dataclass(frozen=True)
class Escalation:
    """An escalation email sent to a person, with the task it was about."""

    notification: Notification
    task: Task | None
    activity: Activity | None


def escalations_to(db: Database, email: str, agency_id: int, limit: int = 50) -> list[Escalation]:
    """The escalation emails sent to ``email`` as ``agency_id``'s senior manager, newest
    first, with the task and activity each was about."""
    q = (
        select(Notification, Task, Activity)
        .join(Task, col(Task.id) == col(Notification.task_id), isouter=True)
        .join(Activity, col(Activity.id) == col(Notification.activity_id), isouter=True)
        .where(
            col(Notification.to_addr) == email,
            col(Notification.agency_id) == agency_id,
            col(Notification.recipient_role) == "agency_manager",
        )
        .order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
        .limit(limit)
    )
    with db.read() as session:
        return [Escalation(n, t, a) for n, t, a in session.exec(q).all()]
