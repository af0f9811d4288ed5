"""Asking for a sign-in link: an agency contact types their address and is emailed a fresh,
single-use link; the request is kept in the directory log. An address that is not an
agency contact changes nothing, so the answer never tells who is known."""

from __future__ import annotations

from .. import directory_log
from ..access import link_next
from ..directory import normalise_email
from ..errors import NotFound, PermissionDenied
from ..models import Agency
from .core import Core
from .directory import Directory

#: the longest client address kept in the directory log (the one asking is not signed in)
CLIENT_MAX = 64


class SignIn:
    """Sign-in links asked for by the people they are for."""

    def __init__(self, core: Core, directory: Directory) -> None:
        self.core = core
        self.directory = directory

    def request_link(self, email: str, next_url: str | None, client: str) -> bool:
        """Queue a "your sign-in link" email to the agency contact ``email``, landing on
        ``next_url`` (the portal or a task page), and record the request in the directory
        log, in one transaction. False, with nothing changed, when the address is not an
        active agency contact or no email can be queued."""
        notifier = self.core.notifier
        if notifier is None:
            return False
        try:
            address = normalise_email(email)
            actor = self.directory.resolve_actor(address)
        except (ValueError, NotFound, PermissionDenied):
            return False
        if actor.role != "agency" or actor.agency_id is None:
            return False
        lands_on = link_next(next_url)
        now = self.core.clock.now()
        with self.core.db.write() as session:
            agency = session.get(Agency, actor.agency_id)
            if agency is None or not agency.active:
                return False
            queued = notifier.queue_sign_in_link(
                session, email=address, agency=agency, next_url=lands_on, now=now
            )
            if not queued:
                return False
            directory_log.record(
                session,
                at=now,
                actor=client[:CLIENT_MAX] or "unknown client",
                actor_role="anonymous",
                kind="link_requested",
                subject=address,
                agency_id=agency.id,
                after={"lands_on": lands_on},
            )
        return True
