"""The partnership directory: agencies with their contacts, and staff.

``parse_agencies_csv`` checks a whole file before anything is written and reports every
bad row by its row number; the service then imports all rows in one transaction, so a
file is never half-imported.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from .errors import InvalidInput
from .models import SECTORS

CSV_COLUMNS: tuple[str, ...] = (
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
REQUIRED_COLUMNS: tuple[str, ...] = ("code", "name", "sector", "lead_name", "lead_email")


@dataclass(frozen=True)
class AgencyRecord:
    """One agency as imported: its contacts are where requests and escalations go."""

    code: str
    name: str
    sector: str
    lead_name: str
    lead_email: str
    deputy_name: str | None = None
    deputy_email: str | None = None
    manager_name: str | None = None
    manager_email: str | None = None


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
            record = check_record(AgencyRecord(**{c: values.get(c, "") for c in CSV_COLUMNS}))
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
