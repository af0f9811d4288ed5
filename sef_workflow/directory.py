"""The partnership directory: agencies with their people, and staff.

An agency has a lead (required), a deputy and a senior manager, and may name a contact for
each purpose in :data:`~sef_workflow.models.CONTACT_PURPOSES` (its LADO contact, ...): the
columns ``<purpose>_name`` and ``<purpose>_email``.

``parse_agencies_csv`` checks a whole file before anything is written and reports every
bad row by its row number; the service then imports all rows in one transaction, so a
file is never half-imported.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email

from .errors import InvalidInput
from .models import COLLEAGUE, CONTACT_PURPOSES, SECTORS

#: the agency's own columns
AGENCY_COLUMNS: tuple[str, ...] = (
    "code",
    "name",
    "sector",
    "lead_name",
    "lead_email",
    "deputy_name",
    "deputy_email",
    "manager_name",
    "manager_email",
)
#: a name and an email column for each purpose's contact
PURPOSE_COLUMNS: tuple[str, ...] = tuple(
    f"{purpose}_{part}" for purpose in CONTACT_PURPOSES for part in ("name", "email")
)
CSV_COLUMNS: tuple[str, ...] = (*AGENCY_COLUMNS, *PURPOSE_COLUMNS)
REQUIRED_COLUMNS: tuple[str, ...] = ("code", "name", "sector", "lead_name", "lead_email")


@dataclass(frozen=True)
class NamedContact:
    """An agency's contact for a purpose (its LADO contact, ...)."""

    purpose: str
    name: str
    email: str


@dataclass(frozen=True)
class AgencyRecord:
    """One agency as imported: its people are where requests and escalations go.

    ``contacts`` are its named contacts; ``purposes`` the purposes the record speaks for (a
    file without a purpose's columns leaves that purpose's contact as it is)."""

    code: str
    name: str
    sector: str
    lead_name: str
    lead_email: str
    deputy_name: str | None = None
    deputy_email: str | None = None
    manager_name: str | None = None
    manager_email: str | None = None
    contacts: tuple[NamedContact, ...] = ()
    purposes: frozenset[str] = frozenset(CONTACT_PURPOSES)

    def agency_fields(self) -> dict[str, Any]:
        """The agency row's own values."""
        return {c: getattr(self, c) for c in AGENCY_COLUMNS}

    def addresses(self) -> list[str]:
        """Every address of the agency's people in this record."""
        people = (self.lead_email, self.deputy_email, self.manager_email)
        return [a for a in people if a] + [c.email for c in self.contacts]


def normalise_email(value: str) -> str:
    """A checked, normalised address; :class:`ValueError` with the reason if it is not one."""
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(f"{value!r} is not an email address ({exc})") from None


def check_record(record: AgencyRecord) -> AgencyRecord:
    """The record with code upper-cased and emails normalised; ValueError names the problem."""
    code = record.code.strip().upper()
    if not code or not code.replace("_", "").replace("-", "").isalnum() or len(code) > 32:
        raise ValueError(f"code {record.code!r} must be letters, digits, '-' or '_' (at most 32)")
    name = record.name.strip()
    if not name:
        raise ValueError("name is empty")
    sector = record.sector.strip().lower()
    if sector not in SECTORS:
        raise ValueError(f"unknown sector {record.sector!r} (allowed: {', '.join(SECTORS)})")
    if not record.lead_name.strip():
        raise ValueError("lead_name is empty")
    for field in ("name", "lead_name", "deputy_name", "manager_name"):
        if len((getattr(record, field) or "").strip()) > NAME_MAX:
            raise ValueError(f"{field} is longer than {NAME_MAX} characters")
    emails: dict[str, str | None] = {}
    for field in ("lead_email", "deputy_email", "manager_email"):
        raw = getattr(record, field)
        if raw is None or not raw.strip():
            if field == "lead_email":
                raise ValueError("lead_email is empty")
            emails[field] = None
            continue
        try:
            emails[field] = normalise_email(raw)
        except ValueError as exc:
            raise ValueError(f"{field}: {exc}") from None
    if emails["deputy_email"] and emails["deputy_email"] == emails["lead_email"]:
        raise ValueError("deputy_email is the lead's own address")
    for person, field in (("deputy_name", "deputy_email"), ("manager_name", "manager_email")):
        if (getattr(record, person) or "").strip() and emails[field] is None:
            raise ValueError(f"{person} is given without {field}")
    return AgencyRecord(
        code=code,
        name=name,
        sector=sector,
        lead_name=record.lead_name.strip(),
        lead_email=emails["lead_email"] or "",
        deputy_name=(record.deputy_name or "").strip() or None,
        deputy_email=emails["deputy_email"],
        manager_name=(record.manager_name or "").strip() or None,
        manager_email=emails["manager_email"],
        contacts=tuple(check_contact(c) for c in record.contacts),
        purposes=record.purposes,
    )


#: the longest name a person of an agency may have (the columns' length)
NAME_MAX = 200


def check_contact(contact: NamedContact) -> NamedContact:
    """The contact with its email normalised; ValueError names the problem."""
    purpose = contact.purpose.strip().lower()
    if purpose not in CONTACT_PURPOSES and purpose != COLLEAGUE:
        raise ValueError(
            f"unknown contact purpose {contact.purpose!r} "
            f"(allowed: {', '.join((*CONTACT_PURPOSES, COLLEAGUE))})"
        )
    name = contact.name.strip()
    if not name:
        raise ValueError(f"{purpose}_name is empty but {purpose}_email is given")
    if len(name) > NAME_MAX:
        raise ValueError(f"{purpose}_name is longer than {NAME_MAX} characters")
    if not contact.email.strip():
        raise ValueError(f"{purpose}_name is given without {purpose}_email")
    try:
        email = normalise_email(contact.email)
    except ValueError as exc:
        raise ValueError(f"{purpose}_email: {exc}") from None
    return NamedContact(purpose=purpose, name=name, email=email)


def _contacts_of(values: dict[str, str], purposes: frozenset[str]) -> tuple[NamedContact, ...]:
    """The named contacts a CSV row gives, for the purposes whose columns the file has."""
    return tuple(
        NamedContact(p, values.get(f"{p}_name", ""), values.get(f"{p}_email", ""))
        for p in CONTACT_PURPOSES
        if p in purposes
        and (values.get(f"{p}_name", "").strip() or values.get(f"{p}_email", "").strip())
    )


def parse_agencies_csv(
    text: str, source: str = "CSV", manager_needed_by: Sequence[str] = ()
) -> list[AgencyRecord]:
    """Every row of an agencies CSV, checked; :class:`InvalidInput` lists each bad row.

    ``manager_needed_by`` names the workflows that escalate to an agency's senior manager:
    while there is any, a row without a senior manager is a bad row."""
    # csv.reader keeps blank lines as empty rows, so numbers match a spreadsheet's rows
    # (a quoted value spanning lines is still one row).
    rows = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in next(rows, [])]
    if not header:
        raise InvalidInput(
            f"{source}: the file is empty (expected columns: {', '.join(CSV_COLUMNS)})"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing column {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column {', '.join(unknown)}")
        raise InvalidInput(
            f"{source}: {'; '.join(parts)} (columns: {', '.join(CSV_COLUMNS)}); nothing imported"
        )
    purposes = frozenset(
        p for p in CONTACT_PURPOSES if f"{p}_name" in header or f"{p}_email" in header
    )
    records: list[AgencyRecord] = []
    errors: list[str] = []
    seen_codes: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    for row_number, row in enumerate(rows, start=2):
        if len(row) > len(header):
            errors.append(f"row {row_number}: more values than columns")
            continue
        values = dict(zip(header, row, strict=False))
        if not any(v.strip() for v in values.values()):
            continue
        try:
            record = check_record(
                AgencyRecord(
                    **{c: values.get(c, "") for c in AGENCY_COLUMNS},
                    contacts=_contacts_of(values, purposes),
                    purposes=purposes,
                )
            )
        except ValueError as exc:
            errors.append(f"row {row_number}: {exc}")
            continue
        if manager_needed_by and record.manager_email is None:
            errors.append(
                f"row {row_number}: agency {record.code} has no senior manager (manager_email), "
                f"but {_listed(manager_needed_by)} escalate overdue work to the agency's senior "
                "manager"
            )
            continue
        if record.code in seen_codes:
            errors.append(
                f"row {row_number}: duplicate code {record.code} (also row {seen_codes[record.code]})"
            )
            continue
        if record.name.lower() in seen_names:
            errors.append(
                f"row {row_number}: duplicate name {record.name!r} "
                f"(also row {seen_names[record.name.lower()]})"
            )
            continue
        seen_codes[record.code] = row_number
        seen_names[record.name.lower()] = row_number
        records.append(record)
    if errors:
        count = len(errors)
        raise InvalidInput(
            f"{source}: {count} bad row{'s' if count != 1 else ''}, nothing imported: "
            + "; ".join(errors)
        )
    if not records:
        raise InvalidInput(f"{source}: no agencies in the file; nothing imported")
    return records


def _listed(titles: Sequence[str]) -> str:
    """``"Themed audit, Section 11 and Action plan"``."""
    return titles[0] if len(titles) == 1 else f"{', '.join(titles[:-1])} and {titles[-1]}"
