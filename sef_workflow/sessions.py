"""Ending every signed-in session of a person: when their password is set, their staff role
is removed, or they stop being an agency's contact.

Below the service and the web layer, so both may call it inside their own transaction; the
sessions end, and the directory log records it, only if that transaction commits.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from . import directory_log
from .models import WebSession

_WEB_SESSION: sa.Table = WebSession.__table__  # type: ignore[attr-defined]


def revoke_sessions(
    session: Session,
    email: str,
    *,
    at: datetime,
    actor: str,
    actor_role: str,
    reason: str,
    agency_id: int | None = None,
) -> int:
    """Delete every session of ``email`` with the caller's ``session``; returns how many.

    When any ended, a ``sessions_revoked`` record names how many and ``reason`` (a sentence
    for people, such as "password set"), under ``agency_id`` when they were one of its
    people."""
    address = email.strip().lower()
    result = session.execute(sa.delete(_WEB_SESSION).where(_WEB_SESSION.c.email == address))
    ended = int(result.rowcount)  # type: ignore[attr-defined]
    if ended:
        directory_log.record(
            session,
            at=at,
            actor=actor,
            actor_role=actor_role,
            kind="sessions_revoked",
            subject=address,
            agency_id=agency_id,
            before={"sessions": ended},
            after={"sessions": 0, "reason": reason},
        )
    return ended
