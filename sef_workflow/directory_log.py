"""The directory log: an append-only record of every change to agencies, contacts, staff,
roles and passwords (never a password itself), and of every sign-in link issued, asked for
or used, each with who, when, and the values before and after.

:func:`record` writes in the caller's session, so the record commits or rolls back with the
change it describes; :func:`read` lists them, newest first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from .models import DirectoryEvent

_TABLE: sa.Table = DirectoryEvent.__table__  # type: ignore[attr-defined]

#: what each kind of record says, for people
KIND_TITLES = {
    "agency_added": "Agency added",
    "agency_changed": "Agency changed",
    "contact_changed": "Contact changed",
    "contact_added": "Named contact added",
    "contact_removed": "Named contact removed",
    "staff_added": "Staff member added",
    "staff_changed": "Staff member changed",
    "password_set": "Password set",
    "sessions_revoked": "Signed out everywhere",
    "link_issued": "Sign-in link issued",
    "link_requested": "Sign-in link asked for",
    "link_used": "Sign-in link used",
}


def record(
    session: Session,
    *,
    at: datetime,
    actor: str,
    actor_role: str,
    kind: str,
    subject: str,
    agency_id: int | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Append one record with the caller's ``session``."""
    if kind not in KIND_TITLES:
        raise ValueError(f"unknown directory record kind {kind!r}")
    session.execute(
        sa.insert(_TABLE).values(
            at=at,
            actor=actor,
            actor_role=actor_role,
            kind=kind,
            subject=subject,
            agency_id=agency_id,
            before=dict(before) if before is not None else None,
            after=dict(after) if after is not None else None,
        )
    )


def record_many(session: Session, records: Sequence[Mapping[str, Any]]) -> None:
    """Append several records (each with :func:`record`'s keyword arguments) in one
    statement, with the caller's ``session``."""
    if not records:
        return
    rows = []
    for r in records:
        if r["kind"] not in KIND_TITLES:
            raise ValueError(f"unknown directory record kind {r['kind']!r}")
        before, after = r.get("before"), r.get("after")
        rows.append(
            {
                "at": r["at"],
                "actor": r["actor"],
                "actor_role": r["actor_role"],
                "kind": r["kind"],
                "subject": r["subject"],
                "agency_id": r.get("agency_id"),
                "before": dict(before) if before is not None else None,
                "after": dict(after) if after is not None else None,
            }
        )
    session.execute(sa.insert(_TABLE), rows)


def read(
    session: Session,
    *,
    agency_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 500,
) -> list[DirectoryEvent]:
    """Records newest first, of one agency when ``agency_id`` is given, within a period."""
    query = select(DirectoryEvent)
    if agency_id is not None:
        query = query.where(DirectoryEvent.agency_id == agency_id)
    if since is not None:
        query = query.where(col(DirectoryEvent.at) >= since)
    if until is not None:
        query = query.where(col(DirectoryEvent.at) <= until)
    query = query.order_by(col(DirectoryEvent.id).desc()).limit(limit)
    return list(session.exec(query).all())
