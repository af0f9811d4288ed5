"""The directory: agencies imported by code with their people (lead, deputy, senior manager
and named contacts by purpose, each person acting for one agency only), staff added with
their roles, and who an email address acts as.

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
from ..directory import AgencyRecord, NamedContact, check_contact, check_record, normalise_email
from ..errors import InvalidInput, NotFound, PermissionDenied
from ..models import (
    COLLEAGUE,
    CONTACT_PURPOSES,
    STAFF_ROLES,
    Agency,
    AgencyContact,
    DirectoryEvent,
    Staff,
    Task,
)
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
#: who may change agencies and their contacts
DIRECTORY_ROLES = ("admin", "coordinator", "system")
#: who may read the directory log
LOG_ROLES = ("admin", "coordinator", "manager", "system")
#: the most records one read returns
LOG_LIMIT = 5000


class Directory:
    """Agencies, their contacts and staff."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def import_agencies(self, actor: Actor, records: Sequence[AgencyRecord]) -> ImportResult:
        if not actor.may(DIRECTORY_ROLES):
            raise PermissionDenied(f"{actor.role} {actor.id} may not change the directory")
        checked: list[AgencyRecord] = []
        for i, record in enumerate(records, start=1):
            try:
                checked.append(check_record(record))
            except ValueError as exc:
                raise InvalidInput(f"agency {i} ({record.code}): {exc}; nothing imported") from None
        created = updated = 0
        imported: list[tuple[Agency, AgencyRecord]] = []
        with self.core.unit(actor) as uow:
            session = uow.session
            existing = {a.code: a for a in session.exec(select(Agency))}
            by_name = {a.name.lower(): a for a in existing.values()}
            named = list(session.exec(select(AgencyContact)))
            _check_contacts(existing, named, checked)
            for record in checked:
                other = by_name.get(record.name.lower())
                if other is not None and other.code != record.code:
                    raise InvalidInput(
                        f"agency {record.code}: duplicate name {record.name!r}, already used by "
                        f"{other.code}; nothing imported"
                    )
                row = existing.get(record.code)
                fields = record.agency_fields()
                if row is None:
                    row = Agency(**fields)
                    session.add(row)
                    session.flush()
                    existing[record.code] = row
                    created += 1
                    after = {k: v for k, v in fields.items() if v is not None}
                    _log(uow, "agency_added", record.code, row.id, None, after)
                else:
                    before = _values(row, (*AGENCY_FIELDS, *CONTACT_FIELDS))
                    for key, value in fields.items():
                        setattr(row, key, value)
                    row.active = True
                    updated += 1
                    _log_agency_change(uow, row, before)
                imported.append((row, record))
                by_name[record.name.lower()] = row
            # named contacts once every agency's own people are in place, those no longer
            # wanted dropped before any is added: a person may move agency in one file
            for row, record in imported:
                _drop_contacts(uow, row, record)
            for row, record in imported:
                for contact in record.contacts:
                    add_contact(uow, row, contact, replace=True)
            for row, _record in imported:
                _take_back_tasks(uow, row)
            session.flush()
        return ImportResult(created=created, updated=updated)

    def set_contact(
        self, actor: Actor, agency: str, purpose: str, name: str, email: str
    ) -> AgencyContact:
        """Make ``name <email>`` the agency's contact for ``purpose`` (replacing the one
        before), or add a colleague (purpose ``colleague``)."""
        if not actor.may(DIRECTORY_ROLES):
            raise PermissionDenied(f"{actor.role} {actor.id} may not change the directory")
        wanted = purpose.strip().lower()
        try:
            checked = check_contact(NamedContact(wanted, name, email))
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        with self.core.unit(actor) as uow:
            row = agency_by_code(uow, agency)
            contact = add_contact(uow, row, checked, replace=wanted != COLLEAGUE)
            _take_back_tasks(uow, row)
            return contact

    def remove_contact(
        self, actor: Actor, agency: str, purpose: str, email: str | None = None
    ) -> int:
        """Remove the agency's contact for ``purpose`` (a colleague by ``email``); they are
        signed out unless still one of the agency's people. Returns how many were removed."""
        if not actor.may(DIRECTORY_ROLES):
            raise PermissionDenied(f"{actor.role} {actor.id} may not change the directory")
        wanted = purpose.strip().lower()
        if wanted not in CONTACT_PURPOSES and wanted != COLLEAGUE:
            raise InvalidInput(
                f"unknown contact purpose {purpose!r} "
                f"(allowed: {', '.join((*CONTACT_PURPOSES, COLLEAGUE))})"
            )
        if wanted == COLLEAGUE and not (email or "").strip():
            raise InvalidInput("say which colleague to remove (their email)")
        with self.core.unit(actor) as uow:
            row = agency_by_code(uow, agency)
            query = select(AgencyContact).where(
                AgencyContact.agency_id == row.id, AgencyContact.purpose == wanted
            )
            if email:
                query = query.where(AgencyContact.email == email.strip().lower())
            gone = list(uow.session.exec(query))
            if not gone:
                label = CONTACT_PURPOSES.get(wanted, "colleague")
                raise NotFound(
                    f"{row.code} has no contact for {_in_sentence(label)}"
                    f"{f' ({email})' if email else ''}"
                )
            for contact in gone:
                drop_contact(uow, row, contact)
            _take_back_tasks(uow, row)
            return len(gone)

    def contacts_of(self, agency_ids: Sequence[int] | None = None) -> list[AgencyContact]:
        """Named contacts and colleagues (of the given agencies), by agency and purpose."""
        with self.core.db.read() as session:
            query = select(AgencyContact).order_by(
                col(AgencyContact.agency_id), col(AgencyContact.purpose), col(AgencyContact.email)
            )
            if agency_ids is not None:
                query = query.where(col(AgencyContact.agency_id).in_(list(agency_ids)))
            return list(session.exec(query))

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
            actor = agency_person(session, address)
            if actor is not None:
                return actor
        raise NotFound(
            f"{address} is neither staff nor one of an agency's people "
            "(see: sef staff list, sef agencies contacts)"
        )

    def list_agencies(self) -> list[Agency]:
        with self.core.db.read() as session:
            return list(session.exec(select(Agency).order_by(col(Agency.code))).all())

    def list_staff(self) -> list[Staff]:
        with self.core.db.read() as session:
            return list(
                session.exec(select(Staff).order_by(col(Staff.role), col(Staff.email))).all()
            )


def agency_person(session: Any, address: str) -> Actor | None:
    """The person of an active agency with ``address``: its lead, deputy or senior manager,
    or a named contact (with the purposes they are the contact for)."""
    agency = session.exec(
        select(Agency).where(
            sa.or_(
                col(Agency.lead_email) == address,
                col(Agency.deputy_email) == address,
                col(Agency.manager_email) == address,
            )
        )
    ).first()
    if agency is not None:
        if not agency.active:
            return None
        if address == agency.lead_email:
            position, name = "lead", agency.lead_name
        elif address == agency.deputy_email:
            position, name = "deputy", agency.deputy_name or ""
        else:
            position, name = "manager", agency.manager_name or ""
        return Actor(
            id=address,
            role="agency",
            agency_id=agency.id,
            name=name or agency.name,
            position=position,
        )
    rows = list(session.exec(select(AgencyContact).where(AgencyContact.email == address)))
    if not rows:
        return None
    agency = session.get(Agency, rows[0].agency_id)
    if agency is None or not agency.active:
        return None
    return Actor(
        id=address,
        role="agency",
        agency_id=agency.id,
        name=rows[0].name,
        position="contact",
        purposes=frozenset(r.purpose for r in rows if r.agency_id == agency.id),
    )


def agency_by_code(uow: UnitOfWork, code: str) -> Agency:
    wanted = code.strip().upper()
    row = uow.session.exec(select(Agency).where(Agency.code == wanted)).first()
    if row is None:
        raise NotFound(f"no agency with code {wanted} (see: sef agencies list)")
    return row


def acting_for(session: Any, address: str) -> str | None:
    """The code of the agency (active or not) ``address`` is one of the people of, if any."""
    agency = session.exec(
        select(Agency).where(
            sa.or_(
                col(Agency.lead_email) == address,
                col(Agency.deputy_email) == address,
                col(Agency.manager_email) == address,
            )
        )
    ).first()
    if agency is None:
        contact = session.exec(select(AgencyContact).where(AgencyContact.email == address)).first()
        agency = session.get(Agency, contact.agency_id) if contact is not None else None
    return agency.code if agency is not None else None


def add_contact(
    uow: UnitOfWork, agency: Agency, contact: NamedContact, *, replace: bool
) -> AgencyContact:
    """Add ``contact`` to ``agency`` (replacing its contact for that purpose when
    ``replace``), refused if the address acts for another agency or is staff; logged."""
    session = uow.session
    assert agency.id is not None
    other = acting_for(session, contact.email)
    if other is not None and other != agency.code:
        raise InvalidInput(
            f"{contact.email} is already one of the people of {other}; a person acts for one "
            "agency only"
        )
    if session.exec(select(Staff).where(Staff.email == contact.email)).first() is not None:
        raise InvalidInput(f"{contact.email} is a member of staff, not an agency's person")
    same = session.exec(
        select(AgencyContact).where(
            AgencyContact.agency_id == agency.id,
            AgencyContact.purpose == contact.purpose,
            AgencyContact.email == contact.email,
        )
    ).first()
    if replace:
        for old in session.exec(
            select(AgencyContact).where(
                AgencyContact.agency_id == agency.id,
                AgencyContact.purpose == contact.purpose,
                AgencyContact.email != contact.email,
            )
        ):
            drop_contact(uow, agency, old)
    if same is not None:
        if same.name != contact.name:
            before = _contact_values(same)
            same.name = contact.name
            session.add(same)
            _log(uow, "contact_changed", agency.code, agency.id, before, _contact_values(same))
        return same
    row = AgencyContact(
        agency_id=agency.id,
        purpose=contact.purpose,
        name=contact.name,
        email=contact.email,
        created_at=uow.now,
    )
    session.add(row)
    session.flush()
    _log(uow, "contact_added", agency.code, agency.id, None, _contact_values(row))
    return row


def drop_contact(uow: UnitOfWork, agency: Agency, contact: AgencyContact) -> None:
    """Remove a named contact, logged; signed out unless still one of the agency's people
    (someone who moves to another agency is signed out too)."""
    session = uow.session
    session.delete(contact)
    session.flush()
    _log(uow, "contact_removed", agency.code, agency.id, _contact_values(contact), None)
    still = agency_person(session, contact.email)
    if still is None or still.agency_id != agency.id:
        _revoke(uow, contact.email, f"no longer a contact of {agency.code}", agency.id)


def _take_back_tasks(uow: UnitOfWork, agency: Agency) -> None:
    """The agency's open tasks given to someone who is no longer one of its people go back
    to the agency (its contact for the task's purpose, else its lead and deputy), on the
    timeline: their emails no longer go to someone who left."""
    session = uow.session
    given = session.exec(
        select(Task).where(
            Task.agency_id == agency.id,
            col(Task.is_open).is_(True),
            col(Task.assignee_email).is_not(None),
        )
    ).all()
    for task in given:
        before = task.assignee_email
        person = agency_person(session, before or "")
        if person is not None and person.agency_id == agency.id:
            continue
        uow.cas_task(task, {"assignee_email": None, "assignee_name": None})
        uow.task_event(
            task,
            "task_given",
            {"to": None, "name": None, "from": before},
            f"no longer one of {agency.code}'s people",
        )


def _contact_values(row: AgencyContact) -> dict[str, Any]:
    return {"purpose": row.purpose, "name": row.name, "email": row.email}


def _drop_contacts(uow: UnitOfWork, agency: Agency, record: AgencyRecord) -> None:
    """Drop the agency's named contacts for the purposes the record speaks for that the
    record does not give; colleagues stay."""
    session = uow.session
    given = {c.purpose: c for c in record.contacts}
    current = session.exec(
        select(AgencyContact).where(
            AgencyContact.agency_id == agency.id,
            col(AgencyContact.purpose).in_(sorted(record.purposes)),
        )
    ).all()
    for row in current:
        wanted = given.get(row.purpose)
        if wanted is None or wanted.email != row.email:
            drop_contact(uow, agency, row)


def _check_contacts(
    existing: dict[str, Agency], named: Sequence[AgencyContact], checked: Sequence[AgencyRecord]
) -> None:
    """Refuse an import that would make one address a person of two agencies."""
    acts_for: dict[str, str] = {}  # a person acts for one agency only
    speaks_for = {r.code: r.purposes for r in checked}
    code_of = {a.id: a.code for a in existing.values()}
    for a in existing.values():
        if a.code not in speaks_for:
            for address in (a.lead_email, a.deputy_email, a.manager_email):
                if address:
                    acts_for[address] = a.code
    for contact in named:
        # a contact the import keeps: of an agency not in it, a colleague, or for a purpose
        # whose columns the file does not have
        code = code_of.get(contact.agency_id, "")
        if contact.purpose not in speaks_for.get(code, frozenset()):
            acts_for.setdefault(contact.email, code)
    for record in checked:
        for address in dict.fromkeys(record.addresses()):
            if acts_for.setdefault(address, record.code) != record.code:
                raise InvalidInput(
                    f"agency {record.code}: {address} is already one of the people of "
                    f"{acts_for[address]}; a person acts for one agency only; nothing imported"
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


def _in_sentence(label: str) -> str:
    """A label inside a sentence: "Child death reviews" -> "child death reviews", "LADO" kept."""
    return label if label[1:2].isupper() else label[:1].lower() + label[1:]


def _revoke(uow: UnitOfWork, address: str, reason: str, agency_id: int | None = None) -> None:
    revoke_sessions(
        uow.session,
        address,
        at=uow.now,
        actor=uow.actor.id,
        actor_role=uow.actor.role,
        reason=reason,
        agency_id=agency_id,
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
        _revoke(uow, address, f"no longer a contact of {row.code}", row.id)


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
