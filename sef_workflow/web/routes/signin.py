"""Signing in and out: the staff sign-in form (rate-limited, protected by a cookie token
before any session exists), agencies' single-use sign-in links, and signing out."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ... import access
from ...errors import NotFound, PermissionDenied
from .. import auth
from ..deps import PRE_COOKIE, SESSION_COOKIE, CsrfForm, SignInForm, WebDep, pre_token
from ..rendering import error_page, render, set_session_cookie
from ..state import WebState

router = APIRouter(include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, web: WebDep, next: str = "/") -> Response:
    return login_page(web, request, next_url=next)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, web: WebDep, form: SignInForm) -> Response:
    email = str(form.get("email") or "").strip().lower()
    password = str(form.get("password") or "")
    next_url = safe_next(str(form.get("next") or "/"))
    host = request.client.host if request.client else "-"
    key = f"{email}|{host}"
    now = web.now()
    errors: list[tuple[str, str]] = []
    if not email:
        errors.append(("email", "Enter your email address"))
    if not password:
        errors.append(("password", "Enter your password"))
    if errors:
        return login_page(web, request, next_url, email, errors, 422)
    if web.limiter.blocked(key, now):
        return login_page(
            web,
            request,
            next_url,
            email,
            [("password", "Too many failed attempts. Wait 15 minutes and try again.")],
            429,
        )
    if not auth.check_password(web.db, email, password):
        web.limiter.failed(key, now)
        return login_page(
            web,
            request,
            next_url,
            email,
            [("email", "The email address or password is not right")],
            401,
        )
    web.limiter.reset(key)
    token = auth.start_session(web.db, email, now, web.settings.session_lifetime)
    response = RedirectResponse(next_url, status_code=303)
    set_session_cookie(response, token, web.settings)
    return response


@router.get("/login/link/{token}")
async def login_link(request: Request, web: WebDep, token: str, next: str = "/portal") -> Response:
    now = web.now()
    try:
        link = access.use_login_link(web.db, token, now)
        actor = web.service.resolve_actor(link.email)
    except (PermissionDenied, NotFound) as exc:
        return error_page(
            request,
            403,
            "This sign-in link cannot be used",
            f"{str(exc).capitalize()}. Links work once and expire; ask the business unit for a new one.",
        )
    if actor.role != "agency" or actor.agency_id != link.agency_id:
        return error_page(
            request,
            403,
            "This sign-in link cannot be used",
            "The link was made for another agency; ask the business unit for a new one.",
        )
    session_token = auth.start_session(web.db, link.email, now, web.settings.session_lifetime)
    response = RedirectResponse(access.link_next(next), status_code=303)
    set_session_cookie(response, session_token, web.settings)
    return response


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
    nonce, token = pre_token(request, web.settings.secret_key)
    response = render(
        request,
        "login.html",
        status=status,
        signed=None,
        pre_csrf=token,
        next_url=safe_next(next_url),
        email=email,
        errors=list(errors),
    )
    response.set_cookie(
        PRE_COOKIE,
        nonce,
        httponly=True,
        secure=web.settings.cookie_secure,
        samesite="strict",
        path="/login",
    )
    return response


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
