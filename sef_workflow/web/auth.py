"""Sign-in: staff passwords (argon2), server-side sessions with an idle timeout, the login
limiter every process shares through the database, and making an agency contact's sign-in
link (minted and spent by :mod:`sef_workflow.access`).

Only hashes are stored: the argon2 hash of a password, the SHA-256 of a session token and of
a sign-in link's token. These tables belong to the web layer; activities, tasks and events
are still changed only through :class:`~sef_workflow.service.Service`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlmodel import col, delete, func, select

from .. import directory_log
from ..access import issue_login_link, token_hash
from ..db import Database
from ..directory import normalise_email
from ..errors import InvalidInput, NotFound, PermissionDenied
from ..models import STAFF_ROLES, LoginAttempt, Staff, StaffCredential, WebSession
from ..service import Actor, Service
from ..service.directory import agency_person
from ..sessions import revoke_sessions

_hasher = PasswordHasher()
#: a hash to verify against when the email is unknown, so timing does not tell who exists
_DUMMY_HASH = _hasher.hash("not a real password")
MIN_PASSWORD_LENGTH = 10


def set_password(
    db: Database,
    email: str,
    password: str,
    now: datetime | None = None,
    *,
    actor: Actor | None = None,
) -> int:
    """Store the argon2 hash of ``password`` for the member of staff with ``email``.

    In the same transaction every session of ``email`` ends and the directory log records
    who set it (never the password or its hash). Returns how many sessions ended."""
    now = now or datetime.now(UTC)
    actor = actor or Actor.system()
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
        directory_log.record(
            session,
            at=now,
            actor=actor.id,
            actor_role=actor.role,
            kind="password_set",
            subject=address,
            before=None,
            after={"set": True},
        )
        return revoke_sessions(
            session, address, at=now, actor=actor.id, actor_role=actor.role, reason="password set"
        )


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
        person = agency_person(session, address)
    if person is None or person.agency_id is None:
        raise NotFound(f"{address} is not one of an active agency's people")
    return person.agency_id


@dataclass(frozen=True)
class SignedIn:
    """The session behind a request: who, and the CSRF token for its forms."""

    actor: Actor
    csrf_token: str
    token_hash: str


#: a session's last request is written at most this often, not on every request
SEEN_RESOLUTION = timedelta(minutes=1)


def start_session(db: Database, email: str, now: datetime, lifetime: timedelta) -> str:
    """A new session for ``email``; returns the cookie's random token. Sessions past their
    lifetime are deleted on the way."""
    token = secrets.token_urlsafe(32)
    with db.write() as session:
        session.execute(delete(WebSession).where(col(WebSession.expires_at) <= now))
        session.add(
            WebSession(
                token_hash=token_hash(token),
                email=email.strip().lower(),
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + lifetime,
                last_seen_at=now,
            )
        )
    return token


def load_session(
    db: Database,
    service: Service,
    token: str | None,
    now: datetime,
    idle: timedelta | None = None,
) -> SignedIn | None:
    """The live session for a cookie token, or None: unknown, past its lifetime, idle longer
    than ``idle`` (both deleted), or of someone no longer staff or an agency contact (every
    session of theirs ends). The last request is recorded at most once a minute."""
    if not token:
        return None
    hashed = token_hash(token)
    with db.read() as session:
        row = session.get(WebSession, hashed)
    if row is None:
        return None
    seen = row.last_seen_at or row.created_at
    if row.expires_at <= now or (idle is not None and seen <= now - idle):
        end_session(db, token)
        return None
    try:
        actor = service.resolve_actor(row.email)
    except (NotFound, PermissionDenied):
        with db.write() as session:
            revoke_sessions(
                session,
                row.email,
                at=now,
                actor="system",
                actor_role="system",
                reason="no longer staff or an agency contact",
            )
        return None
    if now - seen >= SEEN_RESOLUTION:
        with db.write() as session:
            session.execute(
                sa.update(WebSession)
                .where(col(WebSession.token_hash) == hashed)
                .values(last_seen_at=now)
            )
    return SignedIn(actor=actor, csrf_token=row.csrf_token, token_hash=hashed)


def end_session(db: Database, token: str) -> None:
    with db.write() as session:
        session.execute(delete(WebSession).where(col(WebSession.token_hash) == token_hash(token)))


def purge_expired(db: Database, now: datetime, idle: timedelta | None = None) -> int:
    """Delete sessions past their lifetime (or idle longer than ``idle``); returns how many."""
    ended = col(WebSession.expires_at) <= now
    if idle is not None:
        seen = sa.func.coalesce(col(WebSession.last_seen_at), col(WebSession.created_at))
        ended = sa.or_(ended, seen <= now - idle)
    with db.write() as session:
        result = session.execute(delete(WebSession).where(ended))
        return int(result.rowcount)  # type: ignore[attr-defined]


def address_key(email: str) -> str:
    """The limiter's key for attempts on one email address."""
    return f"address:{email.strip().lower()}"


def client_key(host: str | None) -> str:
    """The limiter's key for attempts from one client address, whatever emails it tries."""
    return f"client:{host or '-'}"


class LoginLimiter:
    """At most ``per_client`` failures for a ``client:`` key (any key whose kind ends in
    ``client``), and ``per_address`` for any other, in a sliding ``window``. Kept in the database (``login_attempt``), so
    every web process on it counts the same attempts; rows older than the window are deleted
    as new ones are written."""

    def __init__(
        self,
        db: Database,
        per_address: int = 5,
        per_client: int = 20,
        window: timedelta = timedelta(minutes=15),
    ) -> None:
        self.db = db
        self.per_address = per_address
        self.per_client = per_client
        self.window = window

    def limit_of(self, key: str) -> int:
        """``per_client`` for a key whose kind (before the colon) ends in ``client``."""
        return self.per_client if key.partition(":")[0].endswith("client") else self.per_address

    def blocked(self, key: str, now: datetime) -> bool:
        """True when ``key`` has used up its failures within the window before ``now``."""
        with self.db.read() as session:
            count = session.exec(
                select(func.count())
                .select_from(LoginAttempt)
                .where(col(LoginAttempt.key) == key[:300], col(LoginAttempt.at) > now - self.window)
            ).one()
        return int(count) >= self.limit_of(key)

    def failed(self, key: str, now: datetime) -> None:
        """Count one failure (or one limited request) for ``key`` at ``now``."""
        with self.db.write() as session:
            session.execute(delete(LoginAttempt).where(col(LoginAttempt.at) <= now - self.window))
            session.add(LoginAttempt(key=key[:300], at=now))

    def reset(self, key: str) -> None:
        """Forget ``key``'s failures (after a successful sign-in to that address)."""
        with self.db.write() as session:
            session.execute(delete(LoginAttempt).where(col(LoginAttempt.key) == key[:300]))
