"""Sign-in links for agency contacts: minted, addressed, looked at, spent.

Below both the mail layer (which puts links in agency emails) and the web layer (which
spends them), so neither imports the other. Only a token's SHA-256 is stored.

An agency email is kept in the outbox with a *neutral* link (:func:`neutral_link`: the page
"Email me a new sign-in link", which signs nobody in); the working link is minted only when
the message is handed to the mail server (:func:`mint_for_messages`) and put in that message
alone (:func:`with_live_link`). Looking at a link (:func:`peek_login_link`) changes nothing,
so a mail scanner's GET or HEAD never spends it; :func:`use_login_link` spends it once.
Every link issued or used is a record in the directory log.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

import sqlalchemy as sa
from sqlmodel import Session

from . import directory_log
from .db import Database
from .errors import PermissionDenied
from .models import LoginLink

_LOGIN_LINK: sa.Table = LoginLink.__table__  # type: ignore[attr-defined]

#: the page a stored email's link opens: it offers to email a new link and signs nobody in
NEUTRAL_PATH = "/login/email"
#: the path of a working link; the token follows
LINK_PATH = "/login/link/"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _row(
    token: str,
    email: str,
    agency_id: int,
    now: datetime,
    lifetime: timedelta,
    notification_id: int | None,
    next_url: str | None,
) -> dict[str, Any]:
    return {
        "token_hash": token_hash(token),
        "email": email.strip().lower(),
        "agency_id": agency_id,
        "created_at": now,
        "expires_at": now + lifetime,
        "notification_id": notification_id,
        "next_url": link_next(next_url),
    }


def _issued(row: dict[str, Any], actor: str, actor_role: str) -> dict[str, Any]:
    """The directory record of an issued link (never its token nor its hash)."""
    after: dict[str, Any] = {"lands_on": row["next_url"], "expires": row["expires_at"].isoformat()}
    if row["notification_id"] is not None:
        after["email_id"] = row["notification_id"]
    return {
        "at": row["created_at"],
        "actor": actor,
        "actor_role": actor_role,
        "kind": "link_issued",
        "subject": row["email"],
        "agency_id": row["agency_id"],
        "after": after,
    }


def issue_login_link(
    session: Session,
    email: str,
    agency_id: int,
    now: datetime,
    lifetime: timedelta,
    *,
    notification_id: int | None = None,
    next_url: str | None = None,
    actor: str = "system",
    actor_role: str = "system",
) -> str:
    """Insert a single-use sign-in link for ``email`` (scoped to ``agency_id``, landing on
    ``next_url``) with the caller's ``session``, with its ``link_issued`` record in the
    directory log, so both commit or roll back with the caller's change; returns the token.
    Only its SHA-256 is stored."""
    token = secrets.token_urlsafe(32)
    row = _row(token, email, agency_id, now, lifetime, notification_id, next_url)
    session.execute(sa.insert(_LOGIN_LINK).values(**row))
    directory_log.record(session, **_issued(row, actor, actor_role))
    return token


@dataclass(frozen=True)
class LinkRequest:
    """A message about to be handed to the mail server that needs a working link."""

    notification_id: int
    email: str
    agency_id: int
    next_url: str


def mint_for_messages(
    session: Session, wanted: Sequence[LinkRequest], now: datetime, lifetime: timedelta
) -> dict[int, str]:
    """Mint one link per message in ``wanted`` with the caller's ``session``: the unused
    links minted earlier for the same messages (an attempt that failed, a retry) are deleted
    first, so a message never goes out with an earlier link. Three statements, however many
    messages. Returns the token of each notification id."""
    if not wanted:
        return {}
    ids = [w.notification_id for w in wanted]
    session.execute(
        sa.delete(_LOGIN_LINK).where(
            _LOGIN_LINK.c.notification_id.in_(ids), _LOGIN_LINK.c.used_at.is_(None)
        )
    )
    tokens = {w.notification_id: secrets.token_urlsafe(32) for w in wanted}
    rows = [
        _row(
            tokens[w.notification_id],
            w.email,
            w.agency_id,
            now,
            lifetime,
            w.notification_id,
            w.next_url,
        )
        for w in wanted
    ]
    session.execute(sa.insert(_LOGIN_LINK), rows)
    directory_log.record_many(session, [_issued(r, "system", "system") for r in rows])
    return tokens


#: where a sign-in link may land: the agency portal or one task page, nothing else
_LINK_NEXT = re.compile(r"/portal|/tasks/[1-9][0-9]{0,17}")


def link_next(next_url: str | None) -> str:
    """The page a sign-in link lands on: ``next_url`` when it is the portal or a task page
    (a local path, so the link cannot redirect elsewhere), else the portal."""
    if next_url and _LINK_NEXT.fullmatch(next_url):
        return next_url
    return "/portal"


def _neutral_tail(next_url: str | None) -> str:
    return f"{NEUTRAL_PATH}?next={quote(link_next(next_url), safe='/')}"


def neutral_link(base_url: str, next_url: str | None) -> str:
    """The link a stored agency email keeps: the page that emails a fresh sign-in link
    landing on ``next_url``. It signs nobody in."""
    return base_url.rstrip("/") + _neutral_tail(next_url)


def carries_neutral_link(body: str, next_url: str | None) -> bool:
    """Whether ``body`` holds the neutral link for ``next_url``."""
    return _neutral_tail(next_url) in body


def with_live_link(body: str, next_url: str | None, token: str) -> str:
    """``body`` with its neutral link for ``next_url`` made the working link of ``token``
    (the base address before it is kept)."""
    return body.replace(_neutral_tail(next_url), LINK_PATH + token)


def login_url(base_url: str, token: str, next_url: str | None = None) -> str:
    """The address of a sign-in link; ``next_url`` (a task page) is added for a link that
    does not carry where it lands (one from ``create_login_link``)."""
    url = f"{base_url.rstrip('/')}{LINK_PATH}{token}"
    if next_url is not None and link_next(next_url) == next_url and next_url != "/portal":
        url += f"?next={quote(next_url, safe='/')}"
    return url


LinkStatus = Literal["valid", "used", "expired", "unknown"]


@dataclass(frozen=True)
class LinkState:
    """What a sign-in link is, found without changing anything."""

    status: LinkStatus
    email: str | None = None
    agency_id: int | None = None
    next_url: str = "/portal"
    expires_at: datetime | None = None


def _state(link: LoginLink | None, now: datetime) -> LinkState:
    if link is None:
        return LinkState("unknown")
    status: LinkStatus = (
        "used" if link.used_at is not None else "expired" if link.expires_at <= now else "valid"
    )
    return LinkState(status, link.email, link.agency_id, link_next(link.next_url), link.expires_at)


def peek_login_link(db: Database, token: str, now: datetime) -> LinkState:
    """Whether ``token`` is a valid, used, expired or unknown link, and for whom; reads only,
    so a GET or HEAD of the link (a mail scanner's, say) never spends it."""
    with db.read() as session:
        return _state(session.get(LoginLink, token_hash(token)), now)


_REFUSED = {
    "unknown": "this sign-in link is not valid",
    "used": "this sign-in link has already been used",
    "expired": "this sign-in link has expired",
}


def use_login_link(db: Database, token: str, now: datetime) -> LoginLink:
    """Spend a sign-in link (compare-and-set, so only one request ever does) and record it
    in the directory log in the same transaction; refused when unknown, used or expired
    (nothing changes then)."""
    hashed = token_hash(token)
    with db.write() as session:
        link = session.get(LoginLink, hashed)
        state = _state(link, now)
        if link is None or state.status != "valid":
            raise PermissionDenied(_REFUSED[state.status])
        result = session.execute(
            sa.update(_LOGIN_LINK)
            .where(_LOGIN_LINK.c.token_hash == hashed, _LOGIN_LINK.c.used_at.is_(None))
            .values(used_at=now)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise PermissionDenied(_REFUSED["used"])
        directory_log.record(
            session,
            at=now,
            actor=link.email,
            actor_role="agency",
            kind="link_used",
            subject=link.email,
            agency_id=link.agency_id,
            after={"lands_on": state.next_url},
        )
        session.expunge(link)
        return link
