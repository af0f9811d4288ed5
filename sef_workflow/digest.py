"""Weekly digests: overdue and due-soon work, to each manager and to each agency's lead and
deputy.

The scheduler decides the weekday and time; :func:`send_digests` decides what goes out:

* **Items** are open tasks with a running deadline that are overdue (``due_at <= now``) or
  due within ``due_soon_working_days`` working days of today (in the calendar's time zone),
  sorted by working days overdue (most first), then by due date.
* Each active **manager** gets every item, grouped by agency (the business unit's own
  statutory steps under "Business unit"), the group with the most overdue item first.
* Each active **agency** with at least one item gets its own items only: one email to the
  lead and one to the deputy, nobody copied in. No other agency's name, address or item
  reaches it.
* An empty digest is not sent; nothing is sent on a day that is not a working day.

Each digest is one transaction that inserts one outbox row under the dedupe key
``digest:<kind>:<recipient email>:<ISO year-week>``, so a second run in the same week, or
a second worker, sends nothing new, and the Message-ID (derived from the key) is stable.
Templates see only allow-listed names: the items carry a reference, a task title, an
agency name, a due date and a link, never anything typed about a child or a family.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from .calendar import describe_remaining, format_date
from .models import Activity, Agency, Staff, Task
from .notify.outbox import About, Notifier, insert_notification
from .service import Service
from .views import task_due

log = logging.getLogger(__name__)

#: the group of tasks that no agency owes (the business unit's statutory steps)
BUSINESS_UNIT = "Business unit"
#: what the layouts show where a message about one activity shows its type
DIGEST_TYPE = "Weekly digest"
MANAGER_TEMPLATE = "digest_manager"
AGENCY_TEMPLATE = "digest_agency"


@dataclass(frozen=True)
class DigestReport:
    """What one run did: digests queued (to managers; to agency leads and deputies, an email
    each), empty ones not sent, ones already sent this week."""

    managers: int
    agencies: int
    skipped_empty: int
    already_sent: int


@dataclass(frozen=True)
class _Item:
    """One line of a digest, and what it is sorted and grouped by."""

    agency_id: int | None
    sort_key: tuple[int, datetime, str, int]
    context: dict[str, str | int | None]


@dataclass(frozen=True)
class _Digest:
    kind: str  # manager, agency (the lead) or agency_deputy
    template: str
    to: str
    agency_id: int | None
    context: dict[str, Any]


def week_label(service: Service, now: datetime) -> str:
    """The ISO year and week of ``now`` in the calendar's time zone: ``2026-W07``."""
    year, week, _ = service.calendar.local_date(now).isocalendar()
    return f"{year}-W{week:02d}"


def dedupe_key(kind: str, email: str, week: str) -> str:
    """The outbox key of one digest: one per kind, recipient and ISO week."""
    return f"digest:{kind}:{email.strip().lower()}:{week}"


def send_digests(service: Service, *, due_soon_working_days: int = 5) -> DigestReport:
    """Queue this week's digests; safe to run again, or from two workers at once."""
    if due_soon_working_days < 0:
        raise ValueError("due_soon_working_days must be 0 or more")
    notifier = service.notifier
    if notifier is None:
        log.warning("digests: no notifier configured; nothing queued")
        return DigestReport(0, 0, 0, 0)
    now = service.clock.now()
    cal = service.calendar
    today = cal.local_date(now)
    if not cal.is_working_day(today):
        log.info("digests: %s is not a working day; nothing sent", today.isoformat())
        return DigestReport(0, 0, 0, 0)
    week = week_label(service, now)
    horizon = cal.add_working_days(today, due_soon_working_days)

    with service.db.read() as session:
        items = _items(service, notifier, session, now, horizon)
        managers = list(
            session.exec(
                select(Staff)
                .where(Staff.role == "manager", col(Staff.active).is_(True))
                .order_by(col(Staff.email))
            ).all()
        )
        agencies = list(
            session.exec(
                select(Agency).where(col(Agency.active).is_(True)).order_by(col(Agency.code))
            ).all()
        )

    base: dict[str, Any] = {
        "reference": f"DIGEST-{week}",
        "activity_type": DIGEST_TYPE,
        "link": f"{notifier.base_url}/dashboard",
    }
    digests: list[_Digest] = []
    skipped = 0
    grouped = _grouped(items)
    for manager in managers:
        if not grouped:
            skipped += 1
            continue
        context = {**base, "recipient_name": manager.name, "items": grouped}
        digests.append(_Digest("manager", MANAGER_TEMPLATE, manager.email, None, context))
    for agency in agencies:
        own = [i.context for i in items if i.agency_id == agency.id]
        if not own:
            skipped += 1
            continue
        contacts = [(agency.lead_email, agency.lead_name, "agency")]
        deputy = agency.deputy_email
        if deputy and deputy.lower() != agency.lead_email.lower():
            contacts.append((deputy, agency.deputy_name or deputy, "agency_deputy"))
        for address, name, role in contacts:  # one email per person, nobody copied in
            context = {**base, "recipient_name": name, "agency_name": agency.name, "items": own}
            digests.append(_Digest(role, AGENCY_TEMPLATE, address, agency.id, context))

    sent = {"manager": 0, "agency": 0}
    already = 0
    for digest in digests:
        if _queue(service, notifier, digest, week, now):
            sent["manager" if digest.kind == "manager" else "agency"] += 1
        else:
            already += 1
    report = DigestReport(
        managers=sent["manager"],
        agencies=sent["agency"],
        skipped_empty=skipped,
        already_sent=already,
    )
    log.info(
        "digests %s: %d manager, %d agency, %d empty not sent, %d already sent",
        week,
        report.managers,
        report.agencies,
        report.skipped_empty,
        report.already_sent,
    )
    return report


def _items(
    service: Service,
    notifier: Notifier,
    session: Session,
    now: datetime,
    horizon: date,
) -> list[_Item]:
    """Every open task with a running deadline, overdue or due by ``horizon``, sorted."""
    cal = service.calendar
    today = cal.local_date(now)
    rows = session.exec(
        select(Task, Activity, Agency)
        .join(Activity, col(Activity.id) == col(Task.activity_id))
        .join(Agency, col(Agency.id) == col(Task.agency_id), isouter=True)
        .where(
            col(Task.is_open).is_(True),
            Task.deadline_status == "running",
            col(Task.due_at).is_not(None),
            sa.or_(col(Task.due_at) <= now, col(Task.due_on) <= horizon),
        )
        .order_by(col(Task.due_at), col(Task.id))
    ).all()
    out: list[_Item] = []
    for task, activity, agency in rows:
        due = task_due(task)
        if due is None or task.id is None:  # pragma: no cover - filtered by the query
            continue
        title = service.workflow_for(session, activity).title
        overdue = due.at <= now
        days = max(0, cal.working_days_between(due.on, today)) if overdue else None
        context: dict[str, str | int | None] = {
            "reference": activity.ref,
            "activity_type": title,
            "task_title": task.title,
            "agency_name": agency.name if agency is not None else BUSINESS_UNIT,
            "deadline": format_date(due.on),
            "deadline_text": describe_remaining(due, now, cal),
            "days_overdue": days,
            "link": notifier.link(About(activity, title)),
        }
        key = (-(days if days is not None else -1), due.at, activity.ref, task.id)
        out.append(_Item(task.agency_id, key, context))
    out.sort(key=lambda i: i.sort_key)
    return out


def _grouped(items: Sequence[_Item]) -> list[dict[str, str | int | None]]:
    """Items grouped by agency, kept together; the group with the most urgent item first."""
    groups: dict[int | None, list[dict[str, str | int | None]]] = {}
    for item in items:  # already sorted: a group's place is that of its first item
        groups.setdefault(item.agency_id, []).append(item.context)
    return [context for group in groups.values() for context in group]


def _queue(service: Service, notifier: Notifier, digest: _Digest, week: str, now: datetime) -> bool:
    """Insert one digest in its own transaction; ``False`` if it was already sent this week."""
    key = dedupe_key("manager" if digest.kind == "manager" else "agency", digest.to, week)
    rendered = notifier.templates.render(digest.template, digest.context)
    values = notifier.standalone_row(
        key,
        digest.template,
        rendered,
        agency_id=digest.agency_id,
        role=digest.kind,
        to=digest.to,
        now=now,
    )
    with service.db.write() as session:
        return insert_notification(session, values) == 1


__all__ = ["DigestReport", "dedupe_key", "send_digests", "week_label"]
