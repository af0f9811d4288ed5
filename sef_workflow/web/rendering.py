"""How pages are made: the Jinja environment of ``templates/``, rendering a page for the
signed-in user, the error page, and the session cookie."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..calendar import format_date
from ..models import STAFF_ROLES
from ..views import describe_task_deadline
from .deps import SESSION_COOKIE, signed_in, state_of
from .state import WebSettings

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


def environment(partnership: str) -> Environment:
    """The templates' environment; every page names the partnership."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["partnership"] = partnership
    return env


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered with the signed-in user (or ``signed`` given in ``context``)."""
    web = state_of(request)
    signed = signed_in(request) if "signed" not in context else context.pop("signed")
    ctx = {
        "request": request,
        "signed": signed,
        "actor": signed.actor if signed else None,
        "csrf": signed.csrf_token if signed else "",
        "is_staff": bool(signed and signed.actor.role in STAFF_ROLES),
        "now": web.now(),
        "format_date": format_date,
        "deadline": lambda t: describe_task_deadline(t, web.now(), web.cal),
        **context,
    }
    html = web.env.get_template(template).render(ctx)
    return HTMLResponse(html, status_code=status)


def error_page(
    request: Request, status: int, title: str, message: str, **extra: Any
) -> HTMLResponse:
    return render(request, "error.html", status=status, title=title, message=message, **extra)


def set_session_cookie(response: Response, token: str, settings: WebSettings) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.session_lifetime.total_seconds()),
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
        path="/",
    )
