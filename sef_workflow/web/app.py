"""The web application: server-rendered pages and a JSON API over the one service layer.

:func:`create_app` builds the FastAPI app: the shared state on ``app.state.web``, the
security headers, the error pages and the routers of ``routes/``. Every change goes through
:class:`~sef_workflow.service.Service`; pages only read outside it. Agency users are scoped
to their own agency in every query, and the service checks roles and agency scope again on
every change.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..app import App
from ..errors import (
    ConcurrentUpdate,
    GuardFailed,
    InvalidInput,
    NotFound,
    PermissionDenied,
    SefError,
    TransitionNotAllowed,
)
from .assessment_views import portal_globals
from .auth import LoginLimiter
from .deps import CsrfRefused, LoginRequired
from .rendering import STATIC, environment, error_page, favicon
from .routes import (
    activities,
    admin,
    api,
    assessments,
    directory,
    manager,
    portal,
    reports,
    signin,
    tasks,
)
from .state import WebSettings, WebState

#: sent with every response: no framing, no sniffing, no referrer (sign-in links carry tokens)
SECURITY_HEADERS: dict[str, str] = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
}
#: the error page's title for each status a refusal from the service gets
ERROR_TITLES = {
    404: "Page not found",
    403: "You cannot do that",
    409: "That action is not allowed now",
    422: "There is a problem with what was sent",
}
#: in the order their routes are matched
ROUTERS = (
    signin,
    activities,
    tasks,
    portal,
    manager,
    admin,
    directory,
    api,
    reports,
    assessments,
)


def create_app(
    app: App,
    *,
    secret_key: str,
    session_lifetime: timedelta = timedelta(hours=8),
    link_lifetime: timedelta | None = None,
    upload_limit: int = 10 * 1024 * 1024,
    upload_dir: Path | None = None,
    cookie_secure: bool = False,
) -> FastAPI:
    """The FastAPI application for ``app``: pages, the portal, the manager pages and /api/.

    The idle timeout and the login limits come from the ``[web]`` settings; the session
    cookie is ``Secure`` when ``cookie_secure`` (or ``web.cookie_secure``) is set or
    ``partnership.base_url`` is https; sign-in links last ``link_lifetime``, by default
    ``web.link_hours``."""
    configured = app.settings.settings
    settings = WebSettings(
        secret_key=secret_key,
        session_lifetime=session_lifetime,
        link_lifetime=link_lifetime or timedelta(hours=configured.web.link_hours),
        upload_limit=upload_limit,
        upload_dir=(upload_dir or app.settings.root / "var" / "uploads").resolve(),
        cookie_secure=cookie_secure
        or configured.web.cookie_secure
        or configured.partnership.base_url.startswith("https://"),
        idle_timeout=timedelta(minutes=configured.web.idle_minutes),
        login_attempts=configured.web.login_attempts,
        client_login_attempts=configured.web.client_login_attempts,
        login_window=timedelta(minutes=configured.web.login_window_minutes),
    )
    web = WebState(
        app=app,
        settings=settings,
        env=environment(configured.partnership.name),
        limiter=LoginLimiter(
            app.db,
            per_address=settings.login_attempts,
            per_client=settings.client_login_attempts,
            window=settings.login_window,
        ),
    )
    portal_globals(web)
    api = FastAPI(
        title="sef-workflow",
        openapi_url="/api/openapi.json",
        docs_url=None,  # the Swagger page loads from a CDN; the document is enough
        redoc_url=None,
    )
    api.state.web = web
    api.mount("/static", StaticFiles(directory=STATIC), name="static")
    api.add_api_route("/favicon.ico", favicon, include_in_schema=False)
    api.middleware("http")(close_forms)
    api.add_exception_handler(LoginRequired, login_required)
    api.add_exception_handler(CsrfRefused, csrf_refused)
    api.add_exception_handler(SefError, sef_error)
    api.add_exception_handler(StarletteHTTPException, http_error)
    for module in ROUTERS:
        api.include_router(module.router)
    return api


async def close_forms(request: Request, call_next: Any) -> Response:
    """Uploaded files are spooled to temporary files: close them after every request. Every
    response gets the security headers, and none but the static files may be kept by a
    browser or a proxy: pages, downloads, sign-in pages and the JSON API alike."""
    try:
        response: Response = await call_next(request)
    finally:
        form = getattr(request.state, "form", None)
        if form is not None:
            await form.close()
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.url.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def login_required(request: Request, exc: Exception) -> Response:
    if _is_api(request):
        return JSONResponse({"error": "not_signed_in", "detail": "sign in first"}, 401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


async def csrf_refused(request: Request, exc: Exception) -> Response:
    if _is_api(request):
        return JSONResponse({"error": "csrf", "detail": "missing or wrong CSRF token"}, 403)
    return error_page(
        request,
        403,
        "This form has expired",
        "The form was missing its security token or it did not match your session, so nothing was changed. Go back, reload the page and try again.",
    )


async def sef_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SefError)
    status, kind = status_of(exc)
    if _is_api(request):
        return JSONResponse({"error": kind, "detail": str(exc)}, status)
    return error_page(request, status, ERROR_TITLES.get(status, "Something went wrong"), str(exc))


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if _is_api(request):
        return JSONResponse({"error": "http", "detail": exc.detail}, exc.status_code)
    title = "Page not found" if exc.status_code == 404 else "Something went wrong"
    message = (
        "Check the address, or go back to the start." if exc.status_code == 404 else str(exc.detail)
    )
    return error_page(request, exc.status_code, title, message)


def status_of(exc: SefError) -> tuple[int, str]:
    """The HTTP status and the API's error kind for a refusal from the service."""
    if isinstance(exc, NotFound):
        return 404, "not_found"
    if isinstance(exc, PermissionDenied):
        return 403, "permission_denied"
    if isinstance(exc, GuardFailed):
        return 409, "guard_failed"
    if isinstance(exc, TransitionNotAllowed):
        return 409, "transition_not_allowed"
    if isinstance(exc, ConcurrentUpdate):
        return 409, "concurrent_update"
    if isinstance(exc, InvalidInput):
        return 422, "invalid_input"
    return 500, "error"
