"""The business unit's administration pages: the outbox (with retrying a failed email), the
embedded mail catcher's messages, and the agencies directory with its CSV import."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from ...calendar import format_moment
from ...directory import CSV_COLUMNS, REQUIRED_COLUMNS, parse_agencies_csv
from ...errors import InvalidInput, NotFound
from ...models import CONTACT_PURPOSES, Activity, AgencyContact
from ...notify import catcher, delivery
from ...views import EMAIL_STATUS_WORDS, recipient_text, template_title
from ..auth import SignedIn
from ..deps import CsrfForm, StaffUser, UploadForm, WebDep, require
from ..forms import FormState, clean_name, parse_int, size_text, typed_values
from ..rendering import render
from ..state import WebState

router = APIRouter(include_in_schema=False)

#: who may see and change the agencies directory
DIRECTORY_ROLES = ("admin", "coordinator")
DirectoryUser = Annotated[SignedIn, Depends(require(*DIRECTORY_ROLES))]
OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "cancelled")
#: rows on a page of the outbox and of the mail catcher
PAGE_ROWS = 50


@dataclass(frozen=True)
class Page:
    """One page of a long list: its number (from 1), how many pages, which rows it shows."""

    number: int
    pages: int
    total: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * PAGE_ROWS

    @property
    def first(self) -> int:
        return min(self.offset + 1, self.total)

    @property
    def last(self) -> int:
        return min(self.offset + PAGE_ROWS, self.total)


def page_of(asked: str, total: int) -> Page:
    """The page ``?page=`` asks for, within the list (the first if it is not a number)."""
    pages = max(1, -(-total // PAGE_ROWS))
    number = parse_int(asked) or 1
    return Page(min(max(number, 1), pages), pages, total)


@router.get("/outbox", response_class=HTMLResponse)
async def outbox(
    request: Request, web: WebDep, _staff: StaffUser, status: str = "", page: str = ""
) -> Response:
    chosen = status if status in OUTBOX_STATUSES else ""
    at = page_of(page, delivery.count_outbox(web.db, chosen or None))
    return render(
        request,
        "outbox.html",
        rows=delivery.list_outbox(web.db, chosen or None, None, PAGE_ROWS, at.offset),
        statuses=OUTBOX_STATUSES,
        chosen=chosen,
        page=at,
        page_base=f"/outbox?status={chosen}&" if chosen else "/outbox?",
        catcher=not web.app.settings.settings.smtp.host,
    )


@router.get("/outbox/{notification_id}", response_class=HTMLResponse)
async def outbox_item(
    request: Request, web: WebDep, _staff: StaffUser, notification_id: int
) -> Response:
    row, attempts = delivery.get_notification(web.db, notification_id)
    ref = None
    if row.activity_id is not None:
        with web.db.read() as session:
            activity = session.get(Activity, row.activity_id)
            ref = activity.ref if activity else None
    return render(
        request,
        "outbox_item.html",
        n=row,
        attempts=attempts,
        activity_ref=ref,
        email_title=template_title(row.template, row.subject),
        recipient=recipient_text(row.recipient_role),
        status_text=EMAIL_STATUS_WORDS.get(row.status, row.status.capitalize()),
        moment=lambda at: format_moment(at, web.cal.tz),
    )


@router.post("/outbox/{notification_id}/retry", response_class=HTMLResponse)
async def outbox_retry(
    web: WebDep, signed: StaffUser, _csrf: CsrfForm, notification_id: int
) -> Response:
    web.service.retry_email(signed.actor, notification_id)
    return RedirectResponse(f"/outbox/{notification_id}", status_code=303)


@router.get("/mail", response_class=HTMLResponse)
async def mail_list(request: Request, web: WebDep, _staff: StaffUser, page: str = "") -> Response:
    folder = catcher_dir(web)
    at = page_of(page, catcher.count_messages(folder))
    messages = catcher.list_newest(folder, at.offset, PAGE_ROWS)
    return render(request, "mail.html", messages=messages, page=at, page_base="/mail?")


@router.get("/mail/{number}", response_class=HTMLResponse)
async def mail_message(request: Request, web: WebDep, _staff: StaffUser, number: int) -> Response:
    if number < 1:
        raise NotFound(f"no message {number}")
    msg = catcher.read_message(catcher_dir(web), number)
    part = msg.get_body(preferencelist=("plain",))
    body = part.get_content() if part is not None else ""
    headers = [
        (h, str(msg[h])) for h in ("Date", "From", "To", "Cc", "Subject", "Message-ID") if msg[h]
    ]
    return render(request, "mail_message.html", number=number, headers=headers, body=body)


@router.get("/agencies", response_class=HTMLResponse)
async def agencies(
    request: Request, web: WebDep, _user: DirectoryUser, created: int = -1, updated: int = -1
) -> Response:
    done = (created, updated) if created >= 0 and updated >= 0 else None
    return agencies_page(web, request, [], done=done)


@router.post("/agencies/import", response_class=HTMLResponse)
async def agencies_import(
    request: Request, web: WebDep, signed: DirectoryUser, form: UploadForm
) -> Response:
    if isinstance(form, InvalidInput):  # too large to read
        return agencies_page(web, request, [("file", str(form).capitalize())], 413)
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        return agencies_page(web, request, [("file", "Choose a CSV file to import")], 422)
    raw = await file.read(web.settings.upload_limit + 1)
    if len(raw) > web.settings.upload_limit:
        limit = size_text(web.settings.upload_limit)
        return agencies_page(
            web, request, [("file", f"The file is larger than the limit of {limit}")], 422
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return agencies_page(
            web, request, [("file", "The file must be a CSV file saved as UTF-8")], 422
        )
    name = clean_name(file.filename)
    try:
        records = parse_agencies_csv(text, name, web.service.workflows_needing_manager())
        result = web.service.import_agencies(signed.actor, records)
    except InvalidInput as exc:
        errors = [("file", message) for message in csv_errors(str(exc))]
        return agencies_page(web, request, errors, 422)
    return RedirectResponse(
        f"/agencies?created={result.created}&updated={result.updated}", status_code=303
    )


@router.post("/agencies/contact", response_class=HTMLResponse)
async def agencies_set_contact(
    request: Request, web: WebDep, signed: DirectoryUser, form: CsrfForm
) -> Response:
    """Name an agency's contact for a purpose (replacing the one before)."""
    typed = typed_values(form)
    agency = str(form.get("agency") or "").strip()
    purpose = str(form.get("purpose") or "").strip()
    name = str(form.get("name") or "").strip()
    email = str(form.get("email") or "").strip()
    errors: list[tuple[str, str]] = []
    for field, value, message in (
        ("contact-agency", agency, "Choose the agency"),
        ("contact-purpose", purpose, "Choose what the contact is for"),
        ("contact-name", name, "Enter the contact's name"),
        ("contact-email", email, "Enter the contact's email address"),
    ):
        if not value:
            errors.append((field, message))
    if not errors:
        try:
            web.service.set_contact(signed.actor, agency, purpose, name, email)
        except NotFound as exc:
            errors.append(("contact-agency", str(exc)))
        except InvalidInput as exc:
            message = str(exc)
            field = (
                "contact-purpose"
                if "purpose" in message
                else "contact-name"
                if "_name" in message
                else "contact-email"
            )
            errors.append((field, message))
    if errors:
        return agencies_page(
            web, request, [], 422, contact_form=FormState("contact", typed, errors)
        )
    return RedirectResponse(f"/agencies?contact={agency}#agency-{agency}", status_code=303)


@router.post("/agencies/contact/remove", response_class=HTMLResponse)
async def agencies_remove_contact(
    request: Request, web: WebDep, signed: DirectoryUser, form: CsrfForm
) -> Response:
    """Remove a named contact or a colleague."""
    agency = str(form.get("agency") or "").strip()
    web.service.remove_contact(
        signed.actor,
        agency,
        str(form.get("purpose") or ""),
        str(form.get("email") or "").strip() or None,
    )
    return RedirectResponse(f"/agencies?contact={agency}#agency-{agency}", status_code=303)


def agencies_page(
    web: WebState,
    request: Request,
    errors: list[tuple[str, str]],
    status: int = 200,
    done: tuple[int, int] | None = None,
    contact_form: FormState | None = None,
) -> HTMLResponse:
    agencies = web.service.list_agencies()
    contacts: dict[int, list[AgencyContact]] = {}
    for c in web.service.contacts_of():
        contacts.setdefault(c.agency_id, []).append(c)
    return render(
        request,
        "agencies.html",
        status=status,
        agencies=agencies,
        contacts=contacts,
        purposes=CONTACT_PURPOSES,
        contact_form=contact_form or FormState(""),
        errors=errors,
        done=done,
        columns=CSV_COLUMNS,
        required=REQUIRED_COLUMNS,
        upload_limit=size_text(web.settings.upload_limit),
        needs_manager=web.service.workflows_needing_manager(),
    )


def catcher_dir(web: WebState) -> Path:
    """The embedded catcher's folder; NotFound when mail goes to a real SMTP server."""
    host = web.app.settings.settings.smtp.host
    if host:
        raise NotFound(
            f"the embedded mail catcher is not in use: mail goes to the SMTP server {host}"
        )
    return web.app.settings.catcher_dir()


def csv_errors(message: str) -> list[str]:
    """One message per bad row of an import error (``"...: row 3: ...; row 5: ..."``)."""
    head, sep, rows = message.partition(" nothing imported: ")
    if not sep:
        return [message]
    return [f"{head} nothing imported.", *re.split(r"; (?=row \d+: )", rows)]
