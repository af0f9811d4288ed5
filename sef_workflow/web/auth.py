"""Sign-in: staff passwords (argon2), server-side sessions, rate limits, and making an agency
contact's sign-in link (minted and spent by :mod:`sef_workflow.access`).

Only hashes are stored: the argon2 hash of a password, the SHA-256 of a session token and of
a sign-in link's token. These tables belong to the web layer; activities, tasks and events
are still changed only through :class:`~sef_workflow.service.Service`.
"""

from __future__ import annotations

import secrets
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlmodel import col, delete, select

from ..access import issue_login_link, token_hash
from ..db import Database
from ..directory import normalise_email
from ..errors import InvalidInput, NotFound, PermissionDenied
from ..models import STAFF_ROLES, Agency, Staff, StaffCredential, WebSession
from ..service import Actor, Service

_hasher = PasswordHasher()
#: a hash to verify against when the email is unknown, so timing does not tell who exists
_DUMMY_HASH = _hasher.hash("not a real password")
MIN_PASSWORD_LENGTH = 10


def set_password(db: Database, email: str, password: str, now: datetime | None = None) -> None:
    """Store the argon2 hash of ``password`` for the member of staff with ``email``."""
    now = now or datetime.now(UTC)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    try:
        address = normalise_email(email)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    hashed = _hasher.hash(password)
    with db.write() as session:
        staff = session.exec(select(Staff).where(Staff.email == address)).first()
        if staff is None:
            raise NotFound(f"{address} is not a member of staff (see: sef staff list)")
        row = session.get(StaffCredential, address)
        if row is None:
            session.add(StaffCredential(email=address, password_hash=hashed, updated_at=now))
        else:
            row.password_hash, row.updated_at = hashed, now
            session.add(row)


def check_password(db: Database, email: str, password: str) -> bool:
    """True when ``email`` is active staff with a stored hash that matches ``password``."""
    address = email.strip().lower()
    with db.read() as session:
        row = session.get(StaffCredential, address)
        staff = session.exec(select(Staff).where(Staff.email == address)).first()
    stored = row.password_hash if row is not None else _DUMMY_HASH
    ok: bool
    try:
        ok = _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if row is None or staff is None or not staff.active or staff.role not in STAFF_ROLES:
        return False
    if ok and _hasher.check_needs_rehash(stored):  # pragma: no cover - parameters changed
        with db.write() as session:
            cred = session.get(StaffCredential, address)
            if cred is not None:
                cred.password_hash = _hasher.hash(password)
                session.add(cred)
    return ok


#: how long a sign-in link made for an email stays usable (long enough for a reminder)
EMAIL_LINK_LIFETIME = timedelta(days=7)


def create_login_link(
    db: Database,
    email: str,
    now: datetime,
    lifetime: timedelta = timedelta(hours=72),
    *,
    service: Service | None = None,
) -> str:
    """A single-use sign-in token for the agency contact ``email`` (the URL's last part).

    The contact is resolved to its agency (through ``service.resolve_actor`` when given);
    only the token's SHA-256 is stored, with the agency it is scoped to.
    """
    address = email.strip().lower()
    agency_id = _agency_of(db, address, service)
    with db.write() as session:
        return issue_login_link(session, address, agency_id, now, lifetime)


def _agency_of(db: Database, address: str, service: Service | None) -> int:
    if service is not None:
        actor = service.resolve_actor(address)
        if actor.role != "agency" or actor.agency_id is None:
            raise InvalidInput(f"{address} is not an agency contact; staff sign in with a password")
        return actor.agency_id
    with db.read() as session:  # the same rule as Service.resolve_actor, without a service
        agency = session.exec(
            select(Agency).where(
                sa.or_(col(Agency.lead_email) == address, col(Agency.deputy_email) == address)
            )
        ).first()
    if agency is None or not agency.active or agency.id is None:
        raise NotFound(f"{address} is not an active agency contact")
    return agency.id


@dataclass(frozen=True)
class SignedIn:
    """The session behind a request: who, and the CSRF token for its forms."""

    actor: Actor
    csrf_token: str
    token_hash: str


def start_session(db: Database, email: str, now: datetime, lifetime: timedelta) -> str:
    """A new session for ``email``; returns the cookie's random token."""
    token = secrets.token_urlsafe(32)
    with db.write() as session:
        session.add(
            WebSession(
                token_hash=token_hash(token),
                email=email.strip().lower(),
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + lifetime,
            )
        )
    return token


def load_session(
    db: Database, service: Service, token: str | None, now: datetime
) -> SignedIn | None:
    """The live session for a cookie token, or None (unknown, expired, or no longer active)."""
    if not token:
        return None
    hashed = token_hash(token)
    with db.read() as session:
        row = session.get(WebSession, hashed)
    if row is None:
        return None
    if row.expires_at <= now:
        end_session(db, token)
        return None
    try:
        actor = service.resolve_actor(row.email)
    except (NotFound, PermissionDenied):
        return None
    return SignedIn(actor=actor, csrf_token=row.csrf_token, token_hash=hashed)


def end_session(db: Database, token: str) -> None:
    with db.write() as session:
        session.execute(delete(WebSession).where(col(WebSession.token_hash) == token_hash(token)))


def purge_expired(db: Database, now: datetime) -> int:
    """Delete expired sessions; returns how many."""
    with db.write() as session:
        result = session.execute(delete(WebSession).where(col(WebSession.expires_at) <= now))
        return int(result.rowcount)  # type: ignore[attr-defined]


class RateLimiter:
    """At most ``limit`` failures per key in a sliding ``window`` (in memory, per process)."""

    def __init__(self, limit: int = 5, window: timedelta = timedelta(minutes=15)) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def blocked(self, key: str, now: datetime) -> bool:
        with self._lock:
            return len(self._recent(key, now)) >= self.limit

    def failed(self, key: str, now: datetime) -> None:
        with self._lock:
            self._recent(key, now).append(now)

    def reset(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
