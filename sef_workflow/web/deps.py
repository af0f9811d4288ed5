"""What a route declares it needs, resolved once per request: the shared state, the signed-in
user, the role the page requires, a task the user may see, and posted forms whose CSRF token
has been checked. Each comes with an ``Annotated`` alias to declare it by.

A route lists its dependencies in the order they are checked: the sign-in and role first,
then what it reads, then the posted form."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated, NamedTuple, cast

from fastapi import Depends, Request
from starlette.datastructures import FormData

from ..errors import InvalidInput, PermissionDenied
from ..models import STAFF_ROLES, Activity, Task
from .auth import SignedIn, load_session
from .forms import size_text
from .scope import task_for
from .state import WebState

SESSION_COOKIE = "sef_session"
PRE_COOKIE = "sef_pre"
#: a form may be this much larger than the upload limit (its other fields, the encoding)
FORM_ALLOWANCE = 1024 * 1024
_UNREAD = object()


class LoginRequired(Exception):
    """No live session: pages redirect to sign-in, the API answers 401."""


class CsrfRefused(Exception):
    """A POST without the session's CSRF token: 403, nothing changes."""


# ---------------------------------------------------------------------- the shared state
def state_of(request: Request) -> WebState:
    return cast(WebState, request.app.state.web)


async def get_web(request: Request) -> WebState:
    return state_of(request)


WebDep = Annotated[WebState, Depends(get_web)]


# ---------------------------------------------------------------------- who is signed in
def signed_in(request: Request) -> SignedIn | None:
    """The session behind the request's cookie, read once and remembered for the request."""
    known = getattr(request.state, "signed", _UNREAD)
    if known is not _UNREAD:
        return cast(SignedIn | None, known)
    web = state_of(request)
    signed = load_session(
        web.db,
        web.service,
        request.cookies.get(SESSION_COOKIE),
        web.now(),
        web.settings.idle_timeout,
    )
    request.state.signed = signed
    return signed


async def current_user(request: Request) -> SignedIn:
    """The session, or LoginRequired."""
    signed = signed_in(request)
    if signed is None:
        raise LoginRequired()
    return signed


CurrentUser = Annotated[SignedIn, Depends(current_user)]


def check_role(signed: SignedIn, roles: tuple[str, ...]) -> SignedIn:
    """``signed``, or PermissionDenied unless its role is one of ``roles``."""
    if signed.actor.role not in roles:
        raise PermissionDenied(f"this page is not open to the {signed.actor.role} role")
    return signed


def require(*roles: str) -> Callable[[SignedIn], Awaitable[SignedIn]]:
    """A dependency: the signed-in user, when their role is one of ``roles``."""

    async def signed_in_as(signed: CurrentUser) -> SignedIn:
        return check_role(signed, roles)

    return signed_in_as


StaffUser = Annotated[SignedIn, Depends(require(*STAFF_ROLES))]
#: staff, or an agency (scoped to its own tasks)
TaskUser = Annotated[SignedIn, Depends(require(*STAFF_ROLES, "agency"))]
AgencyUser = Annotated[SignedIn, Depends(require("agency"))]


# ---------------------------------------------------------------------- what the user may see
class TaskInScope(NamedTuple):
    """The task of the path's ``task_id``, which the signed-in user may see, and its activity."""

    id: int
    task: Task
    activity: Activity


async def visible_task(task_id: int, signed: TaskUser, web: WebDep) -> TaskInScope:
    return TaskInScope(task_id, *task_for(web, signed, task_id))


VisibleTask = Annotated[TaskInScope, Depends(visible_task)]


# ---------------------------------------------------------------------- posted forms
async def read_form(request: Request) -> FormData:
    """The posted form, remembered so that its spooled files are closed after the response."""
    form = await request.form(max_files=5, max_fields=200)
    request.state.form = form
    return form


def too_large(request: Request, limit: int) -> InvalidInput | None:
    """The refusal of a request whose declared length is more than a form may be."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit + FORM_ALLOWANCE:
        return InvalidInput(f"the upload is larger than the limit of {size_text(limit)}")
    return None


async def checked_form(request: Request, signed: SignedIn) -> FormData:
    """The posted form, after checking its CSRF token against the session's."""
    form = await read_form(request)
    sent = form.get("csrf_token")
    if not isinstance(sent, str) or not secrets.compare_digest(sent, signed.csrf_token):
        raise CsrfRefused()
    return form


async def posted_form(request: Request, signed: CurrentUser, web: WebDep) -> FormData:
    """The CSRF-checked form; InvalidInput, unread, when the request is too large."""
    refusal = too_large(request, web.settings.upload_limit)
    if refusal is not None:
        raise refusal
    return await checked_form(request, signed)


async def posted_upload(
    request: Request, signed: CurrentUser, web: WebDep
) -> FormData | InvalidInput:
    """The CSRF-checked form of a page that takes a file, or, when the request is too large
    to read, the refusal itself for the page to show in its own way."""
    refusal = too_large(request, web.settings.upload_limit)
    if refusal is not None:
        return refusal
    return await checked_form(request, signed)


CsrfForm = Annotated[FormData, Depends(posted_form)]
UploadForm = Annotated[FormData | InvalidInput, Depends(posted_upload)]


async def csrf_header(request: Request, signed: CurrentUser) -> None:
    """An API POST carries the session's CSRF token in ``X-CSRF-Token``."""
    sent = request.headers.get("x-csrf-token", "")
    if not secrets.compare_digest(sent, signed.csrf_token):
        raise CsrfRefused()


CsrfHeader = Annotated[None, Depends(csrf_header)]


# ---------------------------------------------------------------------- the sign-in form
def pre_token(request: Request, secret_key: str) -> tuple[str, str]:
    """(cookie nonce, form token) protecting the sign-in form before any session exists."""
    nonce = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(16)
    mac = hmac.new(secret_key.encode(), nonce.encode(), hashlib.sha256)
    return nonce, mac.hexdigest()


async def sign_in_form(request: Request, web: WebDep) -> FormData:
    """The posted sign-in form, after checking its token against the form's cookie."""
    form = await read_form(request)
    _nonce, expected = pre_token(request, web.settings.secret_key)
    sent = str(form.get("csrf_token") or "")
    if PRE_COOKIE not in request.cookies or not secrets.compare_digest(sent, expected):
        raise CsrfRefused()
    return form


SignInForm = Annotated[FormData, Depends(sign_in_form)]
