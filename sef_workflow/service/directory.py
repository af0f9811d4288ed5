"""The directory: agencies imported by code (their lead and deputy contacts each acting
for one agency only), staff added with their roles, and who an email address acts as."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import col, select

from ..directory import AgencyRecord, check_record, normalise_email
from ..errors import InvalidInput, NotFound, PermissionDenied
from ..models import STAFF_ROLES, Agency, Staff
from .core import Core
from .values import Actor, ImportResult


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
        with self.core.db.write() as session:
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
                    existing[record.code] = row
                    created += 1
                else:
                    for key, value in record.__dict__.items():
                        setattr(row, key, value)
                    row.active = True
                    updated += 1
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
        with self.core.db.write() as session:
            row = session.exec(select(Staff).where(Staff.email == address)).first()
            if row is None:
                row = Staff(name=name.strip(), email=address, role=role)
                session.add(row)
            else:
                row.name, row.role, row.active = name.strip(), role, True
            session.flush()
            return row

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
