"""The outbox for coordinators: what could not be delivered, putting it back, listing and
reading notifications with every attempt to deliver them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import col, select

from ..clock import Clock
from ..db import Database
from ..errors import InvalidInput, NotFound
from ..models import DeliveryAttempt, Notification


def failed(db: Database) -> list[Notification]:
    """Every notification that could not be delivered, oldest first, for a coordinator."""
    with db.read() as session:
        return list(
            session.exec(
                select(Notification)
                .where(Notification.status == "failed")
                .order_by(col(Notification.created_at), col(Notification.id))
            ).all()
        )


def retry(db: Database, notification_id: int, clock: Clock) -> None:
    """Put a failed notification back in the outbox, due now, with a fresh attempt count."""
    now = clock.now()
    with db.write() as session:
        row = session.get(Notification, notification_id)
        if row is None:
            raise NotFound(f"notification {notification_id} does not exist")
        if row.status != "failed":
            raise InvalidInput(
                f"notification {notification_id} is {row.status}; only a failed "
                "notification can be retried"
            )
        updated = session.execute(
            sa.update(Notification)
            .where(col(Notification.id) == notification_id, col(Notification.status) == "failed")
            .values(
                status="pending",
                attempts=0,
                next_attempt_at=now,
                lease_until=None,
                leased_by=None,
            )
            .execution_options(synchronize_session=False)
        )
        if not updated.rowcount:  # type: ignore[attr-defined]  # pragma: no cover - a race
            raise InvalidInput(f"notification {notification_id} changed; try again")


def list_outbox(
    db: Database, status: str | None, activity_ref: str | None, limit: int, offset: int = 0
) -> list[tuple[Notification, str | None]]:
    """Notifications newest first, with their activity's reference: ``limit`` of them after
    the first ``offset`` (a page of the list)."""
    from ..models import Activity

    with db.read() as session:
        q = (
            select(Notification, Activity.ref)
            .join(Activity, col(Activity.id) == col(Notification.activity_id), isouter=True)
            .order_by(col(Notification.id).desc())
            .limit(limit)
            .offset(max(offset, 0))
        )
        if status:
            q = q.where(Notification.status == status)
        if activity_ref:
            q = q.where(Activity.ref == activity_ref.upper())
        return [(n, ref) for n, ref in session.exec(q).all()]


def count_outbox(db: Database, status: str | None) -> int:
    """How many notifications :func:`list_outbox` has to list (of ``status``, or all)."""
    with db.read() as session:
        q = sa.select(sa.func.count()).select_from(Notification)
        if status:
            q = q.where(col(Notification.status) == status)
        return int(session.execute(q).scalar_one())


def get_notification(
    db: Database, notification_id: int
) -> tuple[Notification, list[DeliveryAttempt]]:
    """One notification and every attempt to deliver it."""
    with db.read() as session:
        row = session.get(Notification, notification_id)
        if row is None:
            raise NotFound(f"notification {notification_id} does not exist (see: sef outbox list)")
        attempts = list(
            session.exec(
                select(DeliveryAttempt)
                .where(DeliveryAttempt.notification_id == notification_id)
                .order_by(col(DeliveryAttempt.id))
            ).all()
        )
        return row, attempts
