"""The directory: agencies imported by code (their lead and deputy contacts each acting
for one agency only), staff added with their roles, and who an email address acts as.

Every change is written to the directory log in the transaction that makes it, with the
values before and after; a person who stops being a contact, or whose staff role changes,
is signed out everywhere in that same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from .. import directory_log
from ..definitions import Notify, Workflow
from ..directory import AgencyRecord, check_record, normalise_email
from ..errors import InvalidInput, NotFound, PermissionDenied
from ..models import STAFF_ROLES, Agency, DirectoryEvent, Staff
from ..sessions import revoke_sessions
from .core import Core, UnitOfWork
from .values import Actor, ImportResult

#: an agency's own fields, and its people's: a change to each is its own kind of record
AGENCY_FIELDS = ("name", "sector", "active")
CONTACT_FIELDS = (
    "lead_name",
    "lead_email",
    "deputy_name",
    "deputy_email",
    "manager_name",
    "manager_email",
)
CONTACT_ADDRESSES = ("lead_email", "deputy_email", "manager_email")
STAFF_FIELDS = ("name", "role", "active")
#: who may read the directory log
LOG_ROLES = ("admin", "coordinator", "manager", "system")
#: the most records one read returns
LOG_LIMIT = 5000


class Directory:
    """Agencies, their contacts and staff."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def import_agencies(self, actor: Actor, records: Sequence[AgencyRecord]) -> ImportResult:
        if not actor.may(("admin", "coordinator", "system")):
            raise PermissionDenied(f"{actor.role} {actor.id} may not change the directory")
        checked: list[AgencyRecord] = []
        for i, record in enumerate(records, start=1):
            try:
                checked.append(check_record(record))
            except ValueError as exc:
                raise InvalidInput(f"agency {i} ({record.code}): {exc}; nothing imported") from None
        created = updated = 0
        with self.core.unit(actor) as uow:
            session = uow.session
            existing = {a.code: a for a in session.exec(select(Agency))}
            by_name = {a.name.lower(): a for a in existing.values()}
            _check_contacts(existing, checked)
            for record in checked:
                other = by_name.get(record.name.lower())
                if other is not None and other.code != record.code:
                    raise InvalidInput(
                        f"agency {record.code}: duplicate name {record.name!r}, already used by "
                        f"{other.code}; nothing imported"
                    )
                row = existing.get(record.code)
                if row is None:
                    row = Agency(**record.__dict__)
                    session.add(row)
                    session.flush()
                    existing[record.code] = row
                    created += 1
                    after = {k: v for k, v in record.__dict__.items() if v is not None}
                    _log(uow, "agency_added", record.code, row.id, None, after)
                else:
                    before = _values(row, (*AGENCY_FIELDS, *CONTACT_FIELDS))
                    for key, value in record.__dict__.items():
                        setattr(row, key, value)
                    row.active = True
                    updated += 1
                    _log_agency_change(uow, row, before)
                by_name[record.name.lower()] = row
            session.flush()
        return ImportResult(created=created, updated=updated)

    def add_staff(self, actor: Actor, name: str, email: str, role: str) -> Staff:
        if not actor.may(("admin", "system")):
            raise PermissionDenied(f"{actor.role} {actor.id} may not change staff")
        if role not in STAFF_ROLES:
            raise InvalidInput(f"unknown staff role {role!r} (allowed: {', '.join(STAFF_ROLES)})")
        if not name.strip():
            raise InvalidInput("staff need a name")
        try:
            address = normalise_email(email)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        with self.core.unit(actor) as uow:
            session = uow.session
            row = session.exec(select(Staff).where(Staff.email == address)).first()
            if row is None:
                row = Staff(name=name.strip(), email=address, role=role)
                session.add(row)
                after = {"email": address, "name": row.name, "role": role}
                _log(uow, "staff_added", address, None, None, after)
            else:
                before = _values(row, STAFF_FIELDS)
                row.name, row.role, row.active = name.strip(), role, True
                _log_staff_change(uow, row, before)
            session.flush()
            return row

    def deactivate_staff(self, actor: Actor, email: str) -> Staff:
        """Take away a member of staff's role: they can no longer sign in or act."""
        if not actor.may(("admin", "system")):
            raise PermissionDenied(f"{actor.role} {actor.id} may not change staff")
        address = email.strip().lower()
        with self.core.unit(actor) as uow:
            row = uow.session.exec(select(Staff).where(Staff.email == address)).first()
            if row is None:
                raise NotFound(f"{address} is not a member of staff (see: sef staff list)")
            before = _values(row, STAFF_FIELDS)
            row.active = False
            _log_staff_change(uow, row, before)
            uow.session.flush()
            return row

    def workflows_needing_manager(self) -> list[str]:
        """The titles of the workflows in force that escalate to an agency's senior manager."""
        return escalating_workflows(list(self.core.registry.current().values()))

    def log(
        self,
        actor: Actor,
        *,
        agency: str | None = None,
        since: date | None = None,
        until: date | None = None,
        limit: int = 500,
    ) -> list[tuple[DirectoryEvent, str]]:
        """Records of the directory log, newest first, each with its agency's code ("" for
        none): of one agency by code, from the start of ``since`` to the end of ``until``
        (local days)."""
        if not actor.may(LOG_ROLES):
            raise PermissionDenied(f"{actor.role} {actor.id} may not read the directory log")
        if not 1 <= limit <= LOG_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {LOG_LIMIT}, not {limit}")
        if since is not None and until is not None and since > until:
            raise InvalidInput(
                f"the period starts ({since.isoformat()}) after it ends ({until.isoformat()})"
            )
        tz = self.core.calendar.tz
        with self.core.db.read() as session:
            codes = {a.id: a.code for a in session.exec(select(Agency))}
            agency_id = None
            if agency is not None:
                wanted = agency.strip().upper()
                agency_id = next((i for i, c in codes.items() if c == wanted), None)
                if agency_id is None:
                    raise NotFound(f"no agency with code {wanted} (see: sef agencies list)")
            rows = directory_log.read(
                session,
                agency_id=agency_id,
                since=_start_of(since, tz) if since else None,
                until=_start_of(until + timedelta(days=1), tz) - _TICK if until else None,
                limit=limit,
            )
            return [(r, codes.get(r.agency_id, "") if r.agency_id else "") for r in rows]

    def resolve_actor(self, email: str) -> Actor:
        address = email.strip().lower()
        with self.core.db.read() as session:
            staff = session.exec(select(Staff).where(Staff.email == address)).first()
            if staff is not None:
                if not staff.active:
                    raise PermissionDenied(f"{address} is no longer active")
                return Actor(id=staff.email, role=staff.role, name=staff.name)
            agency = session.exec(
                select(Agency).where(
                    sa.or_(col(Agency.lead_email) == address, col(Agency.deputy_email) == address)
                )
            ).first()
            if agency is not None and agency.active:
                return Actor(id=address, role="agency", agency_id=agency.id, name=agency.name)
        raise NotFound(f"{address} is neither staff nor an agency contact (see: sef staff list)")

    def list_agencies(self) -> list[Agency]:
        with self.core.db.read() as session:
            return list(session.exec(select(Agency).order_by(col(Agency.code))).all())

    def list_staff(self) -> list[Staff]:
        with self.core.db.read() as session:
            return list(
                session.exec(select(Staff).order_by(col(Staff.role), col(Staff.email))).all()
            )


def _check_contacts(existing: dict[str, Agency], checked: Sequence[AgencyRecord]) -> None:
    """Refuse an import that would make one address the contact of two agencies."""
    contact_of: dict[str, str] = {}  # an agency contact acts for one agency only
    incoming = {r.code for r in checked}
    for a in existing.values():
        if a.code not in incoming:
            for address in (a.lead_email, a.deputy_email):
                if address:
                    contact_of[address] = a.code
    for record in checked:
        for address in (record.lead_email, record.deputy_email):
            if address and contact_of.setdefault(address, record.code) != record.code:
                raise InvalidInput(
                    f"agency {record.code}: {address} is already a contact of "
                    f"{contact_of[address]}; an agency contact acts for one agency only; "
                    "nothing imported"
                )


_TICK = timedelta(microseconds=1)


def _start_of(day: date, tz: Any) -> datetime:
    """The first instant (UTC) of the local ``day``."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _values(row: Agency | Staff, fields: Sequence[str]) -> dict[str, Any]:
    return {f: getattr(row, f) for f in fields}


def _diff(
    before: dict[str, Any], after: dict[str, Any], fields: Sequence[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields whose value changed, before and after."""
    changed = [f for f in fields if before[f] != after[f]]
    return {f: before[f] for f in changed}, {f: after[f] for f in changed}


def _log(
    uow: UnitOfWork,
    kind: str,
    subject: str,
    agency_id: int | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    directory_log.record(
        uow.session,
        at=uow.now,
        actor=uow.actor.id,
        actor_role=uow.actor.role,
        kind=kind,
        subject=subject,
        agency_id=agency_id,
        before=before,
        after=after,
    )


def _revoke(uow: UnitOfWork, address: str, reason: str) -> None:
    revoke_sessions(
        uow.session,
        address,
        at=uow.now,
        actor=uow.actor.id,
        actor_role=uow.actor.role,
        reason=reason,
    )


def _log_agency_change(uow: UnitOfWork, row: Agency, before: dict[str, Any]) -> None:
    """``agency_changed`` and ``contact_changed`` records for what changed (with the code);
    whoever is no longer one of the agency's contacts is signed out everywhere."""
    after = _values(row, (*AGENCY_FIELDS, *CONTACT_FIELDS))
    for kind, fields in (("agency_changed", AGENCY_FIELDS), ("contact_changed", CONTACT_FIELDS)):
        old, new = _diff(before, after, fields)
        if old or new:
            code = {"code": row.code}
            _log(uow, kind, row.code, row.id, code | old, code | new)
    remaining = {after[f] for f in CONTACT_ADDRESSES}
    for address in sorted({before[f] for f in CONTACT_ADDRESSES} - remaining - {None}):
        _revoke(uow, address, f"no longer a contact of {row.code}")


def _log_staff_change(uow: UnitOfWork, row: Staff, before: dict[str, Any]) -> None:
    """A ``staff_changed`` record of what changed; a role changed or taken away signs the
    person out everywhere."""
    old, new = _diff(before, _values(row, STAFF_FIELDS), STAFF_FIELDS)
    if not (old or new):
        return
    _log(
        uow,
        "staff_changed",
        row.email,
        None,
        {"email": row.email} | old,
        {"email": row.email} | new,
    )
    if "role" in old or new.get("active") is False:
        _revoke(uow, row.email, "staff role changed" if row.active else "staff role removed")


def escalating_workflows(workflows: Sequence[Workflow]) -> list[str]:
    """The titles of the workflows that escalate to, or notify, an agency's senior manager:
    every agency taking part needs one."""
    titles = []
    for wf in workflows:
        notifies = [*wf.open_notify, *(n for t in wf.transitions for n in t.notify)]
        for kind in wf.tasks.values():
            notifies += [*kind.add_notify, *(n for t in kind.transitions for n in t.notify)]
            notifies += [Notify(e.template, e.to) for e in kind.ladder.escalations]
        if any(n.to == "agency_manager" for n in notifies):
            titles.append(wf.title)
    return titles
