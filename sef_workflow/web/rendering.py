"""How pages are made: the Jinja environment of ``templates/``, rendering a page for the
signed-in user, the error page, and the session cookie."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..calendar import format_date
from ..models import STAFF_ROLES
from ..views import describe_task_deadline
from .deps import SESSION_COOKIE, signed_in, state_of
from .forms import FormState
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
    """``template`` rendered with the signed-in user (or ``signed`` given in ``context``).

    Every page shows its errors once, in the error summary at the top of its content (with
    "Error: " before its title), listed in the order of their fields on the page; and
    ``success`` (a fixed message, never text from the request) in a success banner.
    """
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
        "local_date": web.cal.local_date,
        "deadline": lambda t: describe_task_deadline(t, web.now(), web.cal),
        "success": "",
        **context,
    }
    page = web.env.get_template(template)
    ctx["page_errors"] = errors = page_errors(context)
    html = page.render(ctx)
    ordered = in_page_order(errors, html)
    if ordered != errors:  # list them as the fields come on the page
        ctx["page_errors"] = ordered
        html = page.render(ctx)
    return HTMLResponse(html, status_code=status)


def page_errors(context: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (field id, message) a page shows: its ``errors`` and those of its forms."""
    found: list[tuple[str, str]] = []
    for value in context.values():
        if isinstance(value, FormState):
            found.extend(value.errors)
    listed = context.get("errors")
    if isinstance(listed, list | tuple):
        found.extend((str(e[0]), str(e[1])) for e in listed if isinstance(e, tuple) and len(e) == 2)
    return list(dict.fromkeys(found))


def in_page_order(errors: list[tuple[str, str]], html: str) -> list[tuple[str, str]]:
    """``errors`` in the order their fields come in ``html`` (a field not found goes last)."""

    def where(error: tuple[str, str]) -> int:
        at = html.find(f'id="{error[0]}"')
        return at if at >= 0 else len(html)

    return sorted(errors, key=where)


def error_page(
    request: Request, status: int, title: str, message: str, **extra: Any
) -> HTMLResponse:
    return render(request, "error.html", status=status, title=title, message=message, **extra)


async def favicon() -> Response:
    """The site's icon where browsers look for it first, so a first visit gets no 404."""
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


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
