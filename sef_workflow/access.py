"""Sign-in links for agency contacts: minted, addressed, spent.

Below both the mail layer (which puts links in agency emails) and the web layer (which
spends them), so neither imports the other. Only a token's SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from urllib.parse import quote

import sqlalchemy as sa
from sqlmodel import Session

from .db import Database
from .errors import PermissionDenied
from .models import LoginLink

_LOGIN_LINK: sa.Table = LoginLink.__table__  # type: ignore[attr-defined]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_login_link(
    session: Session, email: str, agency_id: int, now: datetime, lifetime: timedelta
) -> str:
    """Insert a single-use sign-in link for ``email`` (scoped to ``agency_id``) with the
    caller's ``session``, so it commits or rolls back with the caller's change; returns the
    token. Only its SHA-256 is stored."""
    token = secrets.token_urlsafe(32)
    session.execute(
        sa.insert(_LOGIN_LINK).values(
            token_hash=token_hash(token),
            email=email.strip().lower(),
            agency_id=agency_id,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return token


def discard_login_link(session: Session, token: str) -> None:
    """Delete an unused link issued in this transaction (its email was not queued after all)."""
    session.execute(sa.delete(_LOGIN_LINK).where(_LOGIN_LINK.c.token_hash == token_hash(token)))


#: where a sign-in link may land: the agency portal or one task page, nothing else
_LINK_NEXT = re.compile(r"/portal|/tasks/[1-9][0-9]{0,17}")


def link_next(next_url: str | None) -> str:
    """The page a sign-in link lands on: ``next_url`` when it is the portal or a task page
    (a local path, so the link cannot redirect elsewhere), else the portal."""
    if next_url and _LINK_NEXT.fullmatch(next_url):
        return next_url
    return "/portal"


def login_url(base_url: str, token: str, next_url: str | None = None) -> str:
    """The address to put in an agency contact's email for a token from create_login_link
    or issue_login_link; ``next_url`` (the portal or a task page) is where it lands."""
    url = f"{base_url.rstrip('/')}/login/link/{token}"
    if next_url is not None and link_next(next_url) == next_url and next_url != "/portal":
        url += f"?next={quote(next_url, safe='/')}"
    return url


def use_login_link(db: Database, token: str, now: datetime) -> LoginLink:
    """Spend a sign-in link: refused when unknown, used or expired (nothing changes then)."""
    hashed = token_hash(token)
    with db.write() as session:
        link = session.get(LoginLink, hashed)
        if link is None:
            raise PermissionDenied("this sign-in link is not valid")
        if link.used_at is not None:
            raise PermissionDenied("this sign-in link has already been used")
        if link.expires_at <= now:
            raise PermissionDenied("this sign-in link has expired")
        result = session.execute(
            LoginLink.__table__.update()  # type: ignore[attr-defined]
            .where(
                LoginLink.__table__.c.token_hash == hashed,  # type: ignore[attr-defined]
                LoginLink.__table__.c.used_at.is_(None),  # type: ignore[attr-defined]
            )
            .values(used_at=now)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise PermissionDenied("this sign-in link has already been used")
        session.expunge(link)
        return link
