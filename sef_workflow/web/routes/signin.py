"""Signing in and out: the staff sign-in form (rate-limited, protected by a cookie token
before any session exists), agencies' single-use sign-in links (opening one shows what it
leads to; only the person's own click on "Continue" spends it), asking for a new link by
email, and signing out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ... import access
from ...directory import normalise_email
from ...errors import NotFound, PermissionDenied
from ...models import Activity, Agency, Task
from .. import auth
from ..deps import PRE_COOKIE, SESSION_COOKIE, CsrfForm, SignInForm, WebDep, pre_token
from ..rendering import render, set_session_cookie
from ..state import WebState

router = APIRouter(include_in_schema=False)

#: the longest address the sign-in link form reads
EMAIL_MAX = 254
#: why a sign-in link cannot be used, by its state
REFUSALS = {
    "used": "This sign-in link has already been used. Each link works once.",
    "expired": "This sign-in link has expired.",
    "unknown": "This sign-in link is not one this site made, or it was copied incompletely.",
    "moved": "The address this link was made for is no longer a contact of its agency.",
}


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, web: WebDep, next: str = "/") -> Response:
    return login_page(web, request, next_url=next)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, web: WebDep, form: SignInForm) -> Response:
    email = str(form.get("email") or "").strip().lower()
    password = str(form.get("password") or "")
    next_url = safe_next(str(form.get("next") or "/"))
    # counted per address and per client, so trying many addresses is slowed too
    keys = (auth.address_key(email), auth.client_key(request.client and request.client.host))
    now = web.now()
    errors: list[tuple[str, str]] = []
    if not email:
        errors.append(("email", "Enter your email address"))
    if not password:
        errors.append(("password", "Enter your password"))
    if errors:
        return login_page(web, request, next_url, email, errors, 422)
    if any(web.limiter.blocked(key, now) for key in keys):
        wait = int(web.settings.login_window.total_seconds() // 60)
        return login_page(
            web,
            request,
            next_url,
            email,
            [("password", f"Too many failed attempts. Wait {wait} minutes and try again.")],
            429,
        )
    if not auth.check_password(web.db, email, password):
        for key in keys:
            web.limiter.failed(key, now)
        return login_page(
            web,
            request,
            next_url,
            email,
            [("email", "The email address or password is not right")],
            401,
        )
    web.limiter.reset(keys[0])  # the client's count stays: one good password does not clear it
    token = auth.start_session(web.db, email, now, web.settings.session_lifetime)
    response = RedirectResponse(next_url, status_code=303)
    set_session_cookie(response, token, web.settings)
    return response


@router.api_route("/login/link/{token}", methods=["GET", "HEAD"], response_class=HTMLResponse)
async def login_link(
    request: Request, web: WebDep, token: str, next: str | None = None
) -> Response:
    """What an emailed link opens: a page naming what it leads to, with one button that
    signs in. Reading it changes nothing, so a mail scanner that fetches it spends nothing."""
    state = access.peek_login_link(web.db, token, web.now())
    if state.status != "valid":
        return link_refused(web, request, state.status, state.email, state.next_url)
    lands_on = landing(state.next_url, next)
    agency, task = link_target(web, state.agency_id, lands_on)
    action = f"/login/link/{token}" + (f"?next={lands_on}" if lands_on != state.next_url else "")
    return with_pre_cookie(web, request, "login_link.html", action=action, agency=agency, task=task)


@router.post("/login/link/{token}", response_class=HTMLResponse)
async def login_link_confirm(
    request: Request, web: WebDep, _form: SignInForm, token: str, next: str | None = None
) -> Response:
    """The person's own click: spend the link, sign in as the address it was made for and
    go to the page it leads to."""
    now = web.now()
    state = access.peek_login_link(web.db, token, now)
    try:
        link = access.use_login_link(web.db, token, now)
        actor = web.service.resolve_actor(link.email)
    except (PermissionDenied, NotFound):
        status = "used" if state.status == "valid" else state.status
        return link_refused(web, request, status, state.email, state.next_url)
    if actor.role != "agency" or actor.agency_id != link.agency_id:
        return link_refused(web, request, "moved", link.email, link.next_url)
    session_token = auth.start_session(web.db, link.email, now, web.settings.session_lifetime)
    response = RedirectResponse(landing(link.next_url, next), status_code=303)
    set_session_cookie(response, session_token, web.settings)
    return response


@router.get("/login/email", response_class=HTMLResponse)
async def email_link_form(request: Request, web: WebDep, next: str = "/portal") -> Response:
    return email_link_page(web, request, next_url=next)


@router.post("/login/email", response_class=HTMLResponse)
async def email_link(request: Request, web: WebDep, form: SignInForm) -> Response:
    """Email a fresh sign-in link to an agency contact. The answer is the same whether or
    not the address is known, and when too many were asked for (nothing is sent then)."""
    typed = str(form.get("email") or "").strip()
    next_url = access.link_next(str(form.get("next") or ""))
    try:
        address = normalise_email(typed) if len(typed) <= EMAIL_MAX else ""
    except ValueError:
        address = ""
    if not address:
        error = "Enter your email address" if not typed else "Enter a valid email address"
        return email_link_page(web, request, next_url, typed[:EMAIL_MAX], [("email", error)], 422)
    now = web.now()
    client = request.client.host if request.client else "-"
    keys = (f"link-address:{address}", f"link-client:{client}")
    if not any(web.limiter.blocked(key, now) for key in keys):
        for key in keys:
            web.limiter.failed(key, now)
        web.service.request_sign_in_link(address, next_url, client)
    return email_link_page(web, request, next_url, address, sent=True)


@router.post("/logout")
async def logout(request: Request, web: WebDep, _csrf: CsrfForm) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        auth.end_session(web.db, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def login_page(
    web: WebState,
    request: Request,
    next_url: str = "/",
    email: str = "",
    errors: Sequence[tuple[str, str]] = (),
    status: int = 200,
) -> HTMLResponse:
    return with_pre_cookie(
        web,
        request,
        "login.html",
        status,
        next_url=safe_next(next_url),
        email=email,
        errors=list(errors),
    )


def email_link_page(
    web: WebState,
    request: Request,
    next_url: str = "/portal",
    email: str = "",
    errors: Sequence[tuple[str, str]] = (),
    status: int = 200,
    *,
    sent: bool = False,
) -> HTMLResponse:
    """The "Email me a new sign-in link" form, or its answer once sent."""
    return with_pre_cookie(
        web,
        request,
        "login_email.html",
        status,
        next_url=access.link_next(next_url),
        email=email,
        errors=list(errors),
        sent=sent,
        link_hours=link_hours(web),
    )


def link_refused(
    web: WebState, request: Request, status: str, email: str | None, next_url: str | None
) -> HTMLResponse:
    """Why a sign-in link cannot be used, with the form that emails a new one in place."""
    return with_pre_cookie(
        web,
        request,
        "login_link_refused.html",
        403,
        reason=REFUSALS.get(status, REFUSALS["unknown"]),
        next_url=access.link_next(next_url),
        email=email or "",
        errors=[],
        link_hours=link_hours(web),
    )


def with_pre_cookie(
    web: WebState, request: Request, template: str, status: int = 200, **context: Any
) -> HTMLResponse:
    """A page whose forms post before any session exists: rendered with the form token
    and with the cookie it is checked against."""
    nonce, token = pre_token(request, web.settings.secret_key)
    response = render(request, template, status=status, signed=None, pre_csrf=token, **context)
    response.set_cookie(
        PRE_COOKIE,
        nonce,
        httponly=True,
        secure=web.settings.cookie_secure,
        samesite="strict",
        path="/login",
    )
    return response


def link_target(
    web: WebState, agency_id: int | None, next_url: str | None
) -> tuple[Agency | None, tuple[Activity, Task] | None]:
    """The agency a link was made for, and the task it leads to when it leads to one of
    that agency's tasks (else it leads to the agency's requests)."""
    target = access.link_next(next_url)
    with web.db.read() as session:
        agency = session.get(Agency, agency_id) if agency_id is not None else None
        if agency is None or not target.startswith("/tasks/"):
            return agency, None
        task = session.get(Task, int(target.rsplit("/", 1)[1]))
        if task is None or task.agency_id != agency.id:
            return agency, None
        activity = session.get(Activity, task.activity_id)
        return agency, ((activity, task) if activity is not None else None)


def landing(stored: str | None, asked: str | None) -> str:
    """Where a link lands: the page stored with it, or, for a link stored as landing on the
    portal, a task page its address names (``?next=``, as ``sef agencies link`` makes)."""
    lands_on = access.link_next(stored)
    return access.link_next(asked) if lands_on == "/portal" and asked else lands_on


def link_hours(web: WebState) -> int:
    """How many hours an emailed sign-in link lasts (``web.link_hours``)."""
    return max(1, int(web.settings.link_lifetime.total_seconds() // 3600))


def safe_next(url: str) -> str:
    """Only a path on this site (no scheme, no //host) may be a redirect target."""
    if (
        not url.startswith("/")
        or url.startswith("//")
        or "\\" in url
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in url)  # "/\t/host" reads as "//host"
    ):
        return "/"
    return url
