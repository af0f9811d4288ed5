"""The directory log page: every change to agencies, contacts, staff, roles and passwords,
and every sign-in link issued, asked for or used, newest first, filtered by agency and
period (coordinators, managers and admins)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ...directory_log import KIND_TITLES
from ...errors import NotFound
from ...views import change_lines, moment_text
from ..deps import StaffUser, WebDep
from ..rendering import render

router = APIRouter(include_in_schema=False)

#: records on one page; a narrower period or one agency shows older ones
PAGE_ROWS = 200
ROLE_WORDS = {"system": "the system", "agency": "agency contact"}


@dataclass(frozen=True)
class LogLine:
    """One record as the page shows it."""

    title: str
    subject: str
    agency: str
    when: str
    by: str
    changes: list[str]


@router.get("/directory/log", response_class=HTMLResponse)
async def directory_log(
    request: Request,
    web: WebDep,
    signed: StaffUser,
    agency: str = "",
    since: str = "",
    until: str = "",
) -> Response:
    errors: list[tuple[str, str]] = []
    period: dict[str, date | None] = {}
    for field, value, words in (("since", since, "From"), ("until", until, "To")):
        period[field] = None
        if value.strip():
            try:
                period[field] = date.fromisoformat(value.strip())
            except ValueError:
                errors.append((field, f"{words}: enter a real date, for example 2026-01-31"))
    start, end = period["since"], period["until"]
    if start and end and start > end:
        errors.append(("until", "To: the period must end on or after the day it starts"))
    codes = [a.code for a in web.service.list_agencies()]
    chosen = agency.strip().upper()
    if chosen and chosen not in codes:
        errors.append(("agency", f"Agency: there is no agency with code {chosen[:32]}"))
    rows = []
    if not errors:
        try:
            rows = web.service.directory_log(
                signed.actor, agency=chosen or None, since=start, until=end, limit=PAGE_ROWS
            )
        except NotFound as exc:  # the agency went between the two reads
            errors.append(("agency", str(exc)))
    lines = [
        LogLine(
            title=KIND_TITLES.get(e.kind, e.kind),
            subject=e.subject,
            agency=code,
            when=moment_text(e.at, web.cal),
            by=f"{e.actor} ({ROLE_WORDS.get(e.actor_role, e.actor_role)})",
            changes=change_lines(e.before, e.after),
        )
        for e, code in rows
    ]
    return render(
        request,
        "directory_log.html",
        status=422 if errors else 200,
        errors=errors,
        lines=lines,
        codes=codes,
        chosen=chosen,
        since=since.strip()[:10],
        until=until.strip()[:10],
        page_rows=PAGE_ROWS,
    )
