"""The web application: server-rendered pages and a JSON API over the one service layer.

Every change goes through :class:`~sef_workflow.service.Service`; pages only read outside it.
Agency users are scoped to their own agency in every query, and the service checks roles
and agency scope again on every change.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import access
from ..app import App
from ..calendar import compute_due, describe_remaining, format_date
from ..definitions import DeadlineDef, InputSpec, TransitionDef, Workflow
from ..directory import CSV_COLUMNS, REQUIRED_COLUMNS, parse_agencies_csv
from ..errors import (
    ConcurrentUpdate,
    GuardFailed,
    InvalidInput,
    NotFound,
    PermissionDenied,
    SefError,
    TransitionNotAllowed,
)
from ..models import STAFF_ROLES, Activity, Agency, Task, Upload
from ..notify import catcher, delivery
from ..service import Actor
from ..views import describe_task_deadline, email_line, event_line
from . import auth, queries
from .reports import add_report_routes

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "sef_session"
PRE_COOKIE = "sef_pre"
#: file types an agency may upload, by extension, with the content type we serve them as
ALLOWED_UPLOADS: dict[str, str] = {
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".csv": "text/csv",
    ".txt": "text/plain",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}


#: sent with every response: no framing, no sniffing, no referrer (sign-in links carry tokens)
SECURITY_HEADERS: dict[str, str] = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
}


@dataclass(frozen=True)
class WebSettings:
    """What the web layer needs beyond the App's settings (to move into ``[web]`` config)."""

    secret_key: str
    session_lifetime: timedelta = timedelta(hours=8)
    link_lifetime: timedelta = timedelta(hours=72)
    upload_limit: int = 10 * 1024 * 1024
    upload_dir: Path = Path("var/uploads")
    cookie_secure: bool = False
    login_attempts: int = 5
    login_window: timedelta = timedelta(minutes=15)
    due_soon_days: int = 7


#: who may see and change the agencies directory
DIRECTORY_ROLES = ("admin", "coordinator")
OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "cancelled")
#: rows per list on the overdue page; the CSV export has every row
PAGE_ROWS = 200
CSV_ROWS = 100_000


class LoginRequired(Exception):
    """No live session: pages redirect to sign-in, the API answers 401."""


class CsrfRefused(Exception):
    """A POST without the session's CSRF token: 403, nothing changes."""


@dataclass
class FormState:
    """A form that came back: which one, what was typed, and what to fix."""

    name: str
    values: Mapping[str, str] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (field id, message)


@dataclass(frozen=True)
class PreviewLine:
    """One task kind's deadline in the preview: its due date (None if not yet known)."""

    title: str
    due: str | None
    detail: str


@dataclass(frozen=True)
class DeadlinePreview:
    heading: str
    lines: list[PreviewLine]


@dataclass(frozen=True)
class BragBar:
    status: str
    count: int
    colour: str
    width: int


@dataclass(frozen=True)
class BragChart:
    bars: list[BragBar]
    total: int


#: GOV.UK palette colours for each BRAG status (text beside each bar gives the number)
BRAG_COLOURS = {
    "blue": "#1d70b8",
    "green": "#00703c",
    "amber": "#f47738",
    "red": "#d4351c",
    "not rated": "#b1b4b6",
}
BRAG_BAR_WIDTH = 300


class FireBody(BaseModel):
    trigger: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    reason: str | None = None
    expected_version: int | None = None


def create_app(
    app: App,
    *,
    secret_key: str,
    session_lifetime: timedelta = timedelta(hours=8),
    link_lifetime: timedelta = timedelta(hours=72),
    upload_limit: int = 10 * 1024 * 1024,
    upload_dir: Path | None = None,
    cookie_secure: bool = False,
) -> FastAPI:
    """The FastAPI application for ``app``: pages, the portal, the manager pages and /api/."""
    settings = WebSettings(
        secret_key=secret_key,
        session_lifetime=session_lifetime,
        link_lifetime=link_lifetime,
        upload_limit=upload_limit,
        upload_dir=(upload_dir or app.settings.root / "var" / "uploads").resolve(),
        cookie_secure=cookie_secure,
    )
    web = Web(app, settings)
    return web.fastapi


class Web:
    """The routes and the helpers they share."""

    def __init__(self, app: App, settings: WebSettings) -> None:
        self.app = app
        self.service = app.service
        self.db = app.db
        self.cal = app.calendar
        self.settings = settings
        self.limiter = auth.RateLimiter(settings.login_attempts, settings.login_window)
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals["partnership"] = app.settings.settings.partnership.name
        api = FastAPI(
            title="sef-workflow",
            openapi_url="/api/openapi.json",
            docs_url=None,  # the Swagger page loads from a CDN; the document is enough
            redoc_url=None,
        )
        api.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
        self.fastapi = api
        self._handlers()
        self._pages()
        self._api()
        add_report_routes(self)
        from .assessments import add_assessment_routes

        add_assessment_routes(self)

    # ------------------------------------------------------------------ plumbing
    def now(self) -> datetime:
        return self.service.clock.now()

    def signed_in(self, request: Request) -> auth.SignedIn | None:
        cached = getattr(request.state, "signed", None)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        token = request.cookies.get(SESSION_COOKIE)
        signed = auth.load_session(self.db, self.service, token, self.now())
        request.state.signed = signed
        return signed

    def need(self, request: Request, *roles: str) -> auth.SignedIn:
        """The session, or LoginRequired; PermissionDenied unless the role is in ``roles``."""
        signed = self.signed_in(request)
        if signed is None:
            raise LoginRequired()
        if roles and signed.actor.role not in roles:
            raise PermissionDenied(f"this page is not open to the {signed.actor.role} role")
        return signed

    def staff(self, request: Request) -> auth.SignedIn:
        return self.need(request, *STAFF_ROLES)

    async def form(self, request: Request, signed: auth.SignedIn) -> FormData:
        """The posted form, after checking its CSRF token against the session's."""
        length = request.headers.get("content-length")
        too_big = self.settings.upload_limit + 1024 * 1024
        if length is not None and length.isdigit() and int(length) > too_big:
            raise InvalidInput(
                f"the upload is larger than the limit of {_size(self.settings.upload_limit)}"
            )
        form = await read_form(request)
        sent = form.get("csrf_token")
        if not isinstance(sent, str) or not secrets.compare_digest(sent, signed.csrf_token):
            raise CsrfRefused()
        return form

    def pre_token(self, request: Request) -> tuple[str, str]:
        """(cookie nonce, form token) protecting the sign-in form before any session exists."""
        nonce = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(16)
        mac = hmac.new(self.settings.secret_key.encode(), nonce.encode(), hashlib.sha256)
        return nonce, mac.hexdigest()

    def render(
        self,
        request: Request,
        template: str,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        signed = self.signed_in(request) if "signed" not in context else context.pop("signed")
        ctx = {
            "request": request,
            "signed": signed,
            "actor": signed.actor if signed else None,
            "csrf": signed.csrf_token if signed else "",
            "is_staff": bool(signed and signed.actor.role in STAFF_ROLES),
            "now": self.now(),
            "format_date": format_date,
            "deadline": lambda t: describe_task_deadline(t, self.now(), self.cal),
            **context,
        }
        html = self.env.get_template(template).render(ctx)
        return HTMLResponse(html, status_code=status)

    def error_page(
        self, request: Request, status: int, title: str, message: str, **extra: Any
    ) -> HTMLResponse:
        return self.render(
            request, "error.html", status=status, title=title, message=message, **extra
        )

    def set_session_cookie(self, response: Response, token: str) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=int(self.settings.session_lifetime.total_seconds()),
            httponly=True,
            secure=self.settings.cookie_secure,
            samesite="lax",
            path="/",
        )

    # ------------------------------------------------------------------ scoping
    def task_for(self, signed: auth.SignedIn, task_id: int) -> tuple[Task, Activity]:
        """The task if this user may see it: staff see all, an agency only its own (else 404)."""
        task, activity = self.service.get_task(task_id)
        actor = signed.actor
        if actor.role in STAFF_ROLES:
            return task, activity
        if (
            actor.role == "agency"
            and task.agency_id is not None
            and task.agency_id == actor.agency_id
        ):
            return task, activity
        raise NotFound(f"task {task_id} not found")

    def stale_page(
        self, request: Request, activity_ref: str, exc: SefError, task_id: int | None = None
    ) -> HTMLResponse:
        """Someone else moved the record, or the trigger is no longer allowed: say where it is."""
        activity, wf, _agencies, tasks = self.service.get_activity(activity_ref)
        task = next((t for t in tasks if t.id == task_id), None) if task_id else None
        if task is not None:
            kind = wf.tasks[task.kind]
            state_title = kind.states[task.state].title
            back = f"/tasks/{task.id}"
            what = f"task {task.id} ({task.title})"
        else:
            state_title = wf.states[activity.state].title
            back = f"/activities/{activity.ref}"
            what = activity.ref
        if isinstance(exc, ConcurrentUpdate):
            title = f"Someone else moved {what}"
            message = f"Someone else moved {what} while you had the page open. It is now in state '{state_title}'. Nothing you sent was saved."
        elif isinstance(exc, GuardFailed):
            title = "That action cannot be taken yet"
            message = str(exc)
        else:
            title = f"That action is no longer allowed on {what}"
            message = f"{what} is now in state '{state_title}', where that action is not allowed. Someone else may have moved it. Nothing you sent was saved."
        return self.error_page(request, 409, title, message, back=back, current_state=state_title)

    # ------------------------------------------------------------------ errors
    def _handlers(self) -> None:
        api = self.fastapi

        @api.middleware("http")
        async def close_forms(request: Request, call_next: Any) -> Response:
            """Uploaded files are spooled to temporary files: close them after every request."""
            try:
                response: Response = await call_next(request)
            finally:
                form = getattr(request.state, "form", None)
                if form is not None:
                    await form.close()
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            if response.headers.get("content-type", "").startswith("text/html"):
                response.headers.setdefault("Cache-Control", "no-store")
            return response

        @api.exception_handler(LoginRequired)
        async def login_required(request: Request, exc: LoginRequired) -> Response:
            if request.url.path.startswith("/api/"):
                return JSONResponse({"error": "not_signed_in", "detail": "sign in first"}, 401)
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

        @api.exception_handler(CsrfRefused)
        async def csrf_refused(request: Request, exc: CsrfRefused) -> Response:
            if request.url.path.startswith("/api/"):
                return JSONResponse({"error": "csrf", "detail": "missing or wrong CSRF token"}, 403)
            return self.error_page(
                request,
                403,
                "This form has expired",
                "The form was missing its security token or it did not match your session, so nothing was changed. Go back, reload the page and try again.",
            )

        @api.exception_handler(SefError)
        async def sef_error(request: Request, exc: SefError) -> Response:
            status, kind = _status(exc)
            if request.url.path.startswith("/api/"):
                return JSONResponse({"error": kind, "detail": str(exc)}, status)
            titles = {
                404: "Page not found",
                403: "You cannot do that",
                409: "That action is not allowed now",
                422: "There is a problem with what was sent",
            }
            return self.error_page(
                request, status, titles.get(status, "Something went wrong"), str(exc)
            )

        @api.exception_handler(StarletteHTTPException)
        async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
            if request.url.path.startswith("/api/"):
                return JSONResponse({"error": "http", "detail": exc.detail}, exc.status_code)
            title = "Page not found" if exc.status_code == 404 else "Something went wrong"
            message = (
                "Check the address, or go back to the start."
                if exc.status_code == 404
                else str(exc.detail)
            )
            return self.error_page(request, exc.status_code, title, message)

    # ------------------------------------------------------------------ pages
    def _pages(self) -> None:
        api = self.fastapi
        web = self

        @api.get("/login", response_class=HTMLResponse, include_in_schema=False)
        async def login_form(request: Request, next: str = "/") -> Response:
            return web.login_page(request, next_url=next)

        @api.post("/login", response_class=HTMLResponse, include_in_schema=False)
        async def login(request: Request) -> Response:
            form = await read_form(request)
            email = str(form.get("email") or "").strip().lower()
            password = str(form.get("password") or "")
            next_url = _safe_next(str(form.get("next") or "/"))
            _nonce, expected = web.pre_token(request)
            sent = str(form.get("csrf_token") or "")
            if PRE_COOKIE not in request.cookies or not secrets.compare_digest(sent, expected):
                raise CsrfRefused()
            host = request.client.host if request.client else "-"
            key = f"{email}|{host}"
            now = web.now()
            errors: list[tuple[str, str]] = []
            if not email:
                errors.append(("email", "Enter your email address"))
            if not password:
                errors.append(("password", "Enter your password"))
            if errors:
                return web.login_page(request, next_url, email, errors, 422)
            if web.limiter.blocked(key, now):
                return web.login_page(
                    request,
                    next_url,
                    email,
                    [("password", "Too many failed attempts. Wait 15 minutes and try again.")],
                    429,
                )
            if not auth.check_password(web.db, email, password):
                web.limiter.failed(key, now)
                return web.login_page(
                    request,
                    next_url,
                    email,
                    [("email", "The email address or password is not right")],
                    401,
                )
            web.limiter.reset(key)
            token = auth.start_session(web.db, email, now, web.settings.session_lifetime)
            response = RedirectResponse(next_url, status_code=303)
            web.set_session_cookie(response, token)
            return response

        @api.get("/login/link/{token}", include_in_schema=False)
        async def login_link(request: Request, token: str, next: str = "/portal") -> Response:
            now = web.now()
            try:
                link = access.use_login_link(web.db, token, now)
                actor = web.service.resolve_actor(link.email)
            except (PermissionDenied, NotFound) as exc:
                return web.error_page(
                    request,
                    403,
                    "This sign-in link cannot be used",
                    f"{str(exc).capitalize()}. Links work once and expire; ask the business unit for a new one.",
                )
            if actor.role != "agency" or actor.agency_id != link.agency_id:
                return web.error_page(
                    request,
                    403,
                    "This sign-in link cannot be used",
                    "The link was made for another agency; ask the business unit for a new one.",
                )
            session_token = auth.start_session(
                web.db, link.email, now, web.settings.session_lifetime
            )
            response = RedirectResponse(access.link_next(next), status_code=303)
            web.set_session_cookie(response, session_token)
            return response

        @api.post("/logout", include_in_schema=False)
        async def logout(request: Request) -> Response:
            signed = web.need(request)
            await web.form(request, signed)
            token = request.cookies.get(SESSION_COOKIE)
            if token:
                auth.end_session(web.db, token)
            response = RedirectResponse("/login", status_code=303)
            response.delete_cookie(SESSION_COOKIE, path="/")
            return response

        @api.get("/", response_class=HTMLResponse, include_in_schema=False)
        async def dashboard(request: Request) -> Response:
            signed = web.need(request)
            if signed.actor.role == "agency":
                return RedirectResponse("/portal", status_code=303)
            signed = web.staff(request)
            now = web.now()
            today = web.cal.local_date(now)
            week_end = today + timedelta(days=6 - today.weekday())
            return web.render(
                request,
                "dashboard.html",
                mine=queries.activities_of(web.db, signed.actor.id),
                due_week=queries.tasks(web.db, due_by=week_end, limit=100),
                overdue=queries.overdue_by_agency(web.db, now),
                failed=queries.failed_email_count(web.db),
                week_end=week_end,
            )

        @api.get("/activities", response_class=HTMLResponse, include_in_schema=False)
        async def activity_list(request: Request, workflow: str = "", closed: str = "") -> Response:
            web.staff(request)
            return web.render(
                request,
                "activities.html",
                activities=queries.activities(web.db, workflow or None, closed == "yes"),
                workflows=web.app.registry.current(),
                workflow=workflow,
                closed=closed == "yes",
            )

        @api.get("/activities/new", response_class=HTMLResponse, include_in_schema=False)
        async def new_activity(request: Request, workflow: str = "") -> Response:
            signed = web.staff(request)
            return web.new_activity_page(request, signed, workflow, None)

        @api.post("/activities/new", response_class=HTMLResponse, include_in_schema=False)
        async def open_activity(request: Request) -> Response:
            signed = web.staff(request)
            form = await web.form(request, signed)
            name = str(form.get("workflow") or "")
            typed = _typed(form)
            try:
                wf = web.app.registry.get(name)
            except SefError:
                return web.new_activity_page(
                    request,
                    signed,
                    "",
                    FormState("open", typed, [("workflow", "Choose a kind of activity")]),
                    422,
                )
            title = str(form.get("title") or "").strip()
            errors: list[tuple[str, str]] = []
            if not title:
                errors.append(("title", "Enter a title"))
            codes = [str(v) for v in form.getlist("agencies")]
            typed["agencies"] = ",".join(codes)
            if form.get("action") == "preview":  # re-render with the preview; nothing changes
                return web.new_activity_page(request, signed, name, FormState("open", typed))
            if wf.agencies == "required" and not codes:
                errors.append(("agencies", "Choose at least one agency"))
            if errors:
                return web.new_activity_page(
                    request, signed, name, FormState("open", typed, errors), 422
                )
            try:
                outcome = web.service.open_activity(
                    signed.actor, name, title, codes, _inputs(form, wf.open_inputs)
                )
            except (InvalidInput, PermissionDenied, NotFound) as exc:
                state = FormState("open", typed, [_field_error(exc, wf.open_inputs)])
                status = 403 if isinstance(exc, PermissionDenied) else 422
                return web.new_activity_page(request, signed, name, state, status)
            return RedirectResponse(f"/activities/{outcome.activity.ref}", status_code=303)

        @api.get("/activities/{ref}", response_class=HTMLResponse, include_in_schema=False)
        async def activity_page(request: Request, ref: str) -> Response:
            signed = web.staff(request)
            return web.activity_page(request, signed, ref, None)

        @api.get("/activities/{ref}/evidence.zip", include_in_schema=False)
        def evidence_zip(request: Request, ref: str) -> Response:
            # a plain def: FastAPI builds the zip in its thread pool, off the event loop
            from ..evidence import evidence_pack, pack_filename

            web.need(request, "coordinator", "manager")
            s = web.app.settings.settings
            data = evidence_pack(
                web.db,
                ref,
                upload_dir=web.settings.upload_dir,
                calendar=web.cal,
                partnership=s.partnership.name,
                now=web.now(),
                from_addr=s.smtp.from_address or s.partnership.business_unit_email,
            )
            return Response(
                data,
                media_type="application/zip",
                headers={
                    "Content-Disposition": f'attachment; filename="{pack_filename(ref)}"',
                    "Cache-Control": "no-store",
                },
            )

        @api.post("/activities/{ref}/fire", response_class=HTMLResponse, include_in_schema=False)
        async def fire(request: Request, ref: str) -> Response:
            from .assessments import fire_errors, judgement_answers

            signed = web.staff(request)
            form = await web.form(request, signed)
            activity, wf, _a, _t = web.service.get_activity(ref)
            trigger = str(form.get("trigger") or "")
            t = wf.transition_for(trigger, activity.state)
            expected = _int(form.get("expected_version"))
            typed = _typed(form)
            try:
                if t is None:
                    if expected is not None and expected != activity.version:
                        raise ConcurrentUpdate(f"{activity.ref} changed")
                    raise TransitionNotAllowed(f"'{trigger}' is not allowed now")
                web.service.fire(
                    signed.actor,
                    activity.ref,
                    trigger,
                    _inputs(form, t.inputs),
                    str(form.get("reason") or "") or None,
                    expected,
                    answers=judgement_answers(web, t, form),  # a meeting's judgements form
                )
            except (ConcurrentUpdate, TransitionNotAllowed) as exc:
                return web.stale_page(request, activity.ref, exc)
            except InvalidInput as exc:
                specs = t.inputs if t else ()
                state = FormState(
                    f"fire-{trigger}", typed, fire_errors(web, exc, t, trigger, specs)
                )
                return web.activity_page(request, signed, activity.ref, state, 422)
            return RedirectResponse(f"/activities/{activity.ref}", status_code=303)

        @api.get("/tasks/{task_id}", response_class=HTMLResponse, include_in_schema=False)
        async def task_page(request: Request, task_id: int) -> Response:
            signed = web.need(request, *STAFF_ROLES, "agency")
            return web.task_page(request, signed, task_id, None)

        @api.post("/tasks/{task_id}/fire", response_class=HTMLResponse, include_in_schema=False)
        async def fire_task(request: Request, task_id: int) -> Response:
            signed = web.need(request, *STAFF_ROLES, "agency")
            task, activity = web.task_for(signed, task_id)
            try:
                form = await web.form(request, signed)
            except InvalidInput as exc:  # the request was too large to read: nothing read
                return web.error_page(
                    request,
                    413,
                    "The file is too large",
                    f"{str(exc).capitalize()}. Nothing was saved.",
                    back=f"/tasks/{task_id}",
                )
            wf = web.workflow_of(activity)
            kind = wf.tasks[task.kind]
            trigger = str(form.get("trigger") or "")
            t = kind.transition_for(trigger, task.state)
            expected = _int(form.get("expected_version"))
            typed = _typed(form)
            specs = t.inputs if t else ()
            stored: tuple[Path, UploadFile, int] | None = None
            try:
                if t is None:
                    if expected is not None and expected != task.version:
                        raise ConcurrentUpdate(f"task {task_id} changed")
                    raise TransitionNotAllowed(f"'{trigger}' is not allowed now")
                if not signed.actor.may(t.roles):
                    raise PermissionDenied(
                        f"{signed.actor.role} may not '{trigger}' task {task_id}"
                    )
                inputs = _inputs(form, specs)
                file = form.get("upload")
                if isinstance(file, UploadFile) and file.filename:
                    stored = await web.store_upload(file)
                    note = f"Attached file: {_clean_name(file.filename)} ({_size(stored[2])})"
                    text = next((s.name for s in specs if s.type == "text"), None)
                    if text is not None:
                        typed_text = str(inputs.get(text) or "").strip()
                        inputs[text] = f"{typed_text}\n\n{note}".strip()
                web.service.fire_task(
                    signed.actor,
                    task_id,
                    trigger,
                    inputs,
                    str(form.get("reason") or "") or None,
                    expected,
                )
            except (ConcurrentUpdate, TransitionNotAllowed) as exc:
                _discard(stored)
                return web.stale_page(request, activity.ref, exc, task_id)
            except InvalidInput as exc:
                _discard(stored)
                state = FormState(f"fire-{trigger}", typed, [_field_error(exc, specs, trigger)])
                return web.task_page(request, signed, task_id, state, 422)
            except BaseException:
                _discard(stored)
                raise
            if stored is not None:
                path, file, size = stored
                web.record_upload(task_id, file, path.name, size, signed.actor)
            return RedirectResponse(f"/tasks/{task_id}", status_code=303)

        @api.post("/tasks/{task_id}/deadline", response_class=HTMLResponse, include_in_schema=False)
        async def deadline(request: Request, task_id: int) -> Response:
            signed = web.staff(request)
            form = await web.form(request, signed)
            web.task_for(signed, task_id)
            action = str(form.get("action") or "")
            reason = str(form.get("reason") or "").strip()
            approver = str(form.get("approver") or "").strip() or None
            typed = _typed(form)
            name = f"deadline-{action}"
            errors: list[tuple[str, str]] = []
            if action not in ("extend", "pause", "resume", "waive"):
                raise InvalidInput(f"unknown deadline action {action!r}")
            if not reason:
                errors.append((f"{name}-reason", "Enter a reason"))
            new_due: date | None = None
            if action == "extend":
                try:
                    new_due = date.fromisoformat(str(form.get("new_due") or ""))
                except ValueError:
                    errors.append((f"{name}-new_due", "Enter the new due date as a date"))
            if action == "waive" and not approver:
                errors.append((f"{name}-approver", "Enter who approved the waiver"))
            if errors:
                return web.task_page(request, signed, task_id, FormState(name, typed, errors), 422)
            try:
                if action == "extend":
                    assert new_due is not None
                    web.service.extend_deadline(signed.actor, task_id, new_due, reason, approver)
                elif action == "pause":
                    web.service.pause_deadline(signed.actor, task_id, reason)
                elif action == "resume":
                    web.service.resume_deadline(signed.actor, task_id, reason)
                else:
                    assert approver is not None
                    web.service.waive_deadline(signed.actor, task_id, reason, approver)
            except (InvalidInput, TransitionNotAllowed) as exc:
                state = FormState(name, typed, [(f"{name}-reason", str(exc))])
                return web.task_page(request, signed, task_id, state, 422)
            return RedirectResponse(f"/tasks/{task_id}", status_code=303)

        @api.get("/uploads/{upload_id}", include_in_schema=False)
        async def download(request: Request, upload_id: int) -> Response:
            signed = web.need(request, *STAFF_ROLES, "agency")
            found = queries.upload(web.db, upload_id)
            if found is None:
                raise NotFound(f"file {upload_id} not found")
            row, task = found
            assert task.id is not None
            web.task_for(signed, task.id)
            path = web.settings.upload_dir / row.stored_name
            if not path.is_file():
                raise NotFound(f"file {upload_id} is no longer stored")
            return FileResponse(
                path,
                media_type=row.content_type,
                filename=row.original_name,
                headers={"X-Content-Type-Options": "nosniff"},
            )

        @api.get("/portal", response_class=HTMLResponse, include_in_schema=False)
        async def portal(request: Request) -> Response:
            signed = web.need(request, "agency")
            agency_id = signed.actor.agency_id
            assert agency_id is not None
            return web.render(
                request,
                "portal.html",
                agency=queries.agency(web.db, agency_id),
                rows=queries.tasks(web.db, agency_id=agency_id),
            )

        @api.get("/manager/overdue", response_class=HTMLResponse, include_in_schema=False)
        async def overdue(
            request: Request, agency: str = "", workflow: str = "", group: str = "agency"
        ) -> Response:
            web.staff(request)
            group = group if group in ("agency", "activity") else "agency"
            # one row more than shown tells the page there are more (the CSV has them all)
            overdue_rows, soon_rows = web.overdue_rows(agency, workflow, PAGE_ROWS + 1)
            return web.render(
                request,
                "overdue.html",
                overdue=overdue_rows,
                soon=soon_rows,
                brag=web.brag_chart(agency if not workflow or workflow == "action_plan" else None),
                page_rows=PAGE_ROWS,
                group=group,
                agencies=web.service.list_agencies(),
                workflows=web.app.registry.current(),
                agency=agency,
                workflow=workflow,
                query=request.url.query,
            )

        @api.get("/manager/overdue.csv", include_in_schema=False)
        async def overdue_csv(request: Request, agency: str = "", workflow: str = "") -> Response:
            web.staff(request)
            overdue_rows, soon_rows = web.overdue_rows(agency, workflow, CSV_ROWS)
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(
                [
                    "status",
                    "agency",
                    "activity",
                    "workflow",
                    "task_id",
                    "task",
                    "state",
                    "due_on",
                    "deadline",
                ]
            )
            for label, rows in (("overdue", overdue_rows), ("due_soon", soon_rows)):
                for r in rows:
                    writer.writerow(
                        [
                            label,
                            r.agency.code if r.agency else "",
                            r.activity.ref,
                            r.activity.workflow,
                            r.task.id,
                            _csv_safe(r.task.title),
                            r.task.state,
                            r.task.due_on.isoformat() if r.task.due_on else "",
                            describe_task_deadline(r.task, web.now(), web.cal),
                        ]
                    )
            return Response(
                out.getvalue(),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": 'attachment; filename="overdue.csv"'},
            )

        @api.get("/outbox", response_class=HTMLResponse, include_in_schema=False)
        async def outbox(request: Request, status: str = "") -> Response:
            web.staff(request)
            chosen = status if status in OUTBOX_STATUSES else ""
            return web.render(
                request,
                "outbox.html",
                rows=delivery.list_outbox(web.db, chosen or None, None, PAGE_ROWS),
                statuses=OUTBOX_STATUSES,
                chosen=chosen,
                page_rows=PAGE_ROWS,
                catcher=not web.app.settings.settings.smtp.host,
            )

        @api.get("/outbox/{notification_id}", response_class=HTMLResponse, include_in_schema=False)
        async def outbox_item(request: Request, notification_id: int) -> Response:
            web.staff(request)
            row, attempts = delivery.get_notification(web.db, notification_id)
            ref = None
            if row.activity_id is not None:
                with web.db.read() as session:
                    activity = session.get(Activity, row.activity_id)
                    ref = activity.ref if activity else None
            return web.render(
                request, "outbox_item.html", n=row, attempts=attempts, activity_ref=ref
            )

        @api.post(
            "/outbox/{notification_id}/retry", response_class=HTMLResponse, include_in_schema=False
        )
        async def outbox_retry(request: Request, notification_id: int) -> Response:
            signed = web.staff(request)
            await web.form(request, signed)
            web.service.retry_email(signed.actor, notification_id)
            return RedirectResponse(f"/outbox/{notification_id}", status_code=303)

        @api.get("/mail", response_class=HTMLResponse, include_in_schema=False)
        async def mail_list(request: Request) -> Response:
            web.staff(request)
            folder = web.catcher_dir()
            messages = list(enumerate(catcher.list_messages(folder), start=1))
            return web.render(request, "mail.html", messages=messages[::-1])

        @api.get("/mail/{number}", response_class=HTMLResponse, include_in_schema=False)
        async def mail_message(request: Request, number: int) -> Response:
            web.staff(request)
            if number < 1:
                raise NotFound(f"no message {number}")
            msg = catcher.read_message(web.catcher_dir(), number)
            part = msg.get_body(preferencelist=("plain",))
            body = part.get_content() if part is not None else ""
            headers = [
                (h, str(msg[h]))
                for h in ("Date", "From", "To", "Cc", "Subject", "Message-ID")
                if msg[h]
            ]
            return web.render(
                request, "mail_message.html", number=number, headers=headers, body=body
            )

        @api.get("/agencies", response_class=HTMLResponse, include_in_schema=False)
        async def agencies(request: Request, created: int = -1, updated: int = -1) -> Response:
            web.need(request, *DIRECTORY_ROLES)
            done = (created, updated) if created >= 0 and updated >= 0 else None
            return web.agencies_page(request, [], done=done)

        @api.post("/agencies/import", response_class=HTMLResponse, include_in_schema=False)
        async def agencies_import(request: Request) -> Response:
            signed = web.need(request, *DIRECTORY_ROLES)
            try:
                form = await web.form(request, signed)
            except InvalidInput as exc:  # too large to read
                return web.agencies_page(request, [("file", str(exc).capitalize())], 413)
            file = form.get("file")
            if not isinstance(file, UploadFile) or not file.filename:
                return web.agencies_page(request, [("file", "Choose a CSV file to import")], 422)
            raw = await file.read(web.settings.upload_limit + 1)
            if len(raw) > web.settings.upload_limit:
                limit = _size(web.settings.upload_limit)
                return web.agencies_page(
                    request, [("file", f"The file is larger than the limit of {limit}")], 422
                )
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                return web.agencies_page(
                    request, [("file", "The file must be a CSV file saved as UTF-8")], 422
                )
            name = _clean_name(file.filename)
            try:
                records = parse_agencies_csv(text, source=name)
                result = web.service.import_agencies(signed.actor, records)
            except InvalidInput as exc:
                errors = [("file", message) for message in _csv_errors(str(exc))]
                return web.agencies_page(request, errors, 422)
            return RedirectResponse(
                f"/agencies?created={result.created}&updated={result.updated}", status_code=303
            )

    # ------------------------------------------------------------------ API
    def _api(self) -> None:
        api = self.fastapi
        web = self

        def need_csrf(request: Request, signed: auth.SignedIn) -> None:
            sent = request.headers.get("x-csrf-token", "")
            if not secrets.compare_digest(sent, signed.csrf_token):
                raise CsrfRefused()

        @api.get("/api/me", tags=["session"])
        def me(request: Request) -> dict[str, Any]:
            """Who is signed in, and the CSRF token to send as ``X-CSRF-Token`` on POSTs."""
            signed = web.need(request)
            a = signed.actor
            return {
                "id": a.id,
                "role": a.role,
                "agency_id": a.agency_id,
                "name": a.name,
                "csrf_token": signed.csrf_token,
            }

        @api.get("/api/activities", tags=["activities"])
        def api_activities(
            request: Request, workflow: str = "", include_closed: bool = True
        ) -> list[dict[str, Any]]:
            web.staff(request)
            return [
                _activity_json(a)
                for a in queries.activities(web.db, workflow or None, include_closed)
            ]

        @api.get("/api/activities/{ref}", tags=["activities"])
        def api_activity(request: Request, ref: str) -> dict[str, Any]:
            signed = web.staff(request)
            activity, wf, agencies, tasks = web.service.get_activity(ref)
            return {
                **_activity_json(activity),
                "workflow_title": wf.title,
                "allowed_triggers": [
                    t.trigger for t in web.allowed(wf, activity.state, signed.actor)
                ],
                "agencies": [a.code for a in agencies],
                "tasks": [web.task_json(t, activity, None) for t in tasks],
            }

        @api.post("/api/activities/{ref}/fire", tags=["activities"])
        def api_fire(request: Request, ref: str, body: FireBody) -> dict[str, Any]:
            signed = web.staff(request)
            need_csrf(request, signed)
            outcome = web.service.fire(
                signed.actor, ref, body.trigger, body.inputs, body.reason, body.expected_version
            )
            return _activity_json(outcome.activity)

        @api.get("/api/tasks", tags=["tasks"])
        def api_tasks(
            request: Request,
            agency: str = "",
            workflow: str = "",
            overdue: bool = False,
            include_closed: bool = False,
        ) -> list[dict[str, Any]]:
            signed = web.need(request, *STAFF_ROLES, "agency")
            scope = signed.actor.agency_id if signed.actor.role == "agency" else None
            if signed.actor.role == "agency" and scope is None:  # pragma: no cover
                raise PermissionDenied("no agency")
            rows = queries.tasks(
                web.db,
                agency_id=scope,
                agency_code=agency or None,
                workflow=workflow or None,
                open_only=not include_closed,
                overdue_at=web.now() if overdue else None,
            )
            return [web.task_json(r.task, r.activity, r.agency) for r in rows]

        @api.get("/api/tasks/{task_id}", tags=["tasks"])
        def api_task(request: Request, task_id: int) -> dict[str, Any]:
            signed = web.need(request, *STAFF_ROLES, "agency")
            task, activity = web.task_for(signed, task_id)
            return web.task_json(task, activity, None)

        @api.post("/api/tasks/{task_id}/fire", tags=["tasks"])
        def api_fire_task(request: Request, task_id: int, body: FireBody) -> dict[str, Any]:
            signed = web.need(request, *STAFF_ROLES, "agency")
            need_csrf(request, signed)
            web.task_for(signed, task_id)
            outcome = web.service.fire_task(
                signed.actor, task_id, body.trigger, body.inputs, body.reason, body.expected_version
            )
            assert outcome.task is not None
            return web.task_json(outcome.task, outcome.activity, None)

        @api.get("/api/agencies", tags=["agencies"])
        def api_agencies(request: Request) -> list[dict[str, Any]]:
            signed = web.need(request, *STAFF_ROLES, "agency")
            agencies = web.service.list_agencies()
            if signed.actor.role == "agency":
                agencies = [a for a in agencies if a.id == signed.actor.agency_id]
            return [_agency_json(a) for a in agencies]

    # ------------------------------------------------------------------ page builders
    def login_page(
        self,
        request: Request,
        next_url: str = "/",
        email: str = "",
        errors: Sequence[tuple[str, str]] = (),
        status: int = 200,
    ) -> HTMLResponse:
        nonce, token = self.pre_token(request)
        response = self.render(
            request,
            "login.html",
            status=status,
            signed=None,
            pre_csrf=token,
            next_url=_safe_next(next_url),
            email=email,
            errors=list(errors),
        )
        response.set_cookie(
            PRE_COOKIE,
            nonce,
            httponly=True,
            secure=self.settings.cookie_secure,
            samesite="strict",
            path="/login",
        )
        return response

    def agencies_page(
        self,
        request: Request,
        errors: list[tuple[str, str]],
        status: int = 200,
        done: tuple[int, int] | None = None,
    ) -> HTMLResponse:
        return self.render(
            request,
            "agencies.html",
            status=status,
            agencies=self.service.list_agencies(),
            errors=errors,
            done=done,
            columns=CSV_COLUMNS,
            required=REQUIRED_COLUMNS,
            upload_limit=_size(self.settings.upload_limit),
        )

    def brag_chart(self, agency: str | None) -> BragChart | None:
        """Bars for the open action-plan actions by BRAG status (None when filtered away)."""
        if agency is None:
            return None
        counts = queries.brag_counts(self.db, agency or None)
        top = max((n for _s, n in counts), default=0) or 1
        bars = [
            BragBar(status, n, BRAG_COLOURS[status], round(BRAG_BAR_WIDTH * n / top))
            for status, n in counts
        ]
        return BragChart(bars, sum(n for _s, n in counts))

    def catcher_dir(self) -> Path:
        """The embedded catcher's folder; NotFound when mail goes to a real SMTP server."""
        host = self.app.settings.settings.smtp.host
        if host:
            raise NotFound(
                f"the embedded mail catcher is not in use: mail goes to the SMTP server {host}"
            )
        return self.app.settings.catcher_dir()

    def workflow_of(self, activity: Activity) -> Workflow:
        with self.db.read() as session:
            return self.service.workflow_for(session, activity)

    def allowed(self, wf: Workflow | Any, state: str, actor: Actor) -> list[TransitionDef]:
        out = []
        for trigger in wf.allowed_triggers(state):
            t = wf.transition_for(trigger, state)
            if t is not None and actor.may(t.roles):
                out.append(t)
        return list(out)

    def new_activity_page(
        self,
        request: Request,
        signed: auth.SignedIn,
        workflow: str,
        state: FormState | None,
        status: int = 200,
    ) -> HTMLResponse:
        available = {
            name: wf
            for name, wf in self.app.registry.current().items()
            if signed.actor.may(wf.open_roles)
        }
        wf = available.get(workflow)
        form = state or FormState("open")
        return self.render(
            request,
            "activity_new.html",
            status=status,
            workflows=available,
            wf=wf,
            preview=self.deadline_preview(wf, form.values) if wf else None,
            agencies=[a for a in self.service.list_agencies() if a.active],
            form=form,
        )

    def deadline_preview(self, wf: Workflow, values: Mapping[str, str]) -> DeadlinePreview | None:
        """The deadlines the workflow's first request would get, counted as the service does.

        The first request is what opening creates, or else the first transition that creates
        tasks; a deadline counted from an opening date uses the date typed in ``values``.
        """
        issue_inputs: tuple[InputSpec, ...] = ()
        if wf.open_creates:
            kinds, heading = wf.open_creates, "If opened now"
        else:
            first = next((t for t in wf.transitions if t.creates), None)
            if first is None:
                return None
            kinds = first.creates
            heading = f"If opened today and issued now (“{first.title}”)"
            issue_inputs = first.inputs
        now = self.now()
        open_specs = {s.name: s for s in wf.open_inputs}
        lines: list[PreviewLine] = []
        for name in kinds:
            kind = wf.tasks[name]
            d = kind.deadline
            if d is None:
                lines.append(PreviewLine(kind.title, None, "no deadline"))
                continue
            rule = _rule_text(d)
            source, _, field_name = d.basis.partition(":")
            basis: datetime | None = None
            note = ""
            if d.basis == "created":
                basis = now
            elif source == "activity" and field_name in open_specs:
                label = open_specs[field_name].label
                raw = str(values.get(f"in_{field_name}") or "").strip()
                if not raw:
                    note = f"due {rule} “{label}”: enter it and choose “Preview deadlines”"
                else:
                    try:
                        basis = datetime.combine(
                            date.fromisoformat(raw), datetime.min.time(), tzinfo=self.cal.tz
                        )
                    except ValueError:
                        note = f"due {rule} “{label}”, but “{raw}” is not a date"
            else:
                specs = {s.name: s for s in (*issue_inputs, *kind.inputs)}
                label = specs[field_name].label if field_name in specs else field_name
                when = "given for each one" if source == "task" else "given when it is issued"
                note = f"due {rule} the “{label}” {when}"
            if basis is None:
                lines.append(PreviewLine(kind.title, None, note))
                continue
            due = compute_due(d.rule(), basis, self.cal)
            left = describe_remaining(due, now, self.cal)
            lines.append(
                PreviewLine(kind.title, format_date(due.on), f"{left}; {rule} {_basis_text(d)}")
            )
        return DeadlinePreview(heading, lines)

    def activity_page(
        self,
        request: Request,
        signed: auth.SignedIn,
        ref: str,
        state: FormState | None,
        status: int = 200,
    ) -> HTMLResponse:
        from .assessments import activity_context

        activity, wf, agencies, tasks = self.service.get_activity(ref)
        events = self.service.timeline(activity.ref)
        emails = self.service.notifications_for(activity.ref)
        titles: dict[int | None, str] = {t.id: t.title for t in tasks}
        timeline = sorted(
            [(e.at, "event", event_line(e, self.cal, titles)) for e in events]
            + [(n.created_at, "email", email_line(n, self.cal)) for n in emails],
            key=lambda x: x[0],
        )
        return self.render(
            request,
            "activity.html",
            status=status,
            activity=activity,
            wf=wf,
            agencies=agencies,
            tasks=tasks,
            triggers=self.allowed(wf, activity.state, signed.actor),
            steps=_steps(wf, activity.state),
            timeline=timeline,
            form=state or FormState(""),
            **activity_context(self, signed, activity, wf, tasks),
        )

    def task_page(
        self,
        request: Request,
        signed: auth.SignedIn,
        task_id: int,
        state: FormState | None,
        status: int = 200,
    ) -> HTMLResponse:
        task, activity = self.task_for(signed, task_id)
        wf = self.workflow_of(activity)
        kind = wf.tasks[task.kind]
        is_staff = signed.actor.role in STAFF_ROLES
        events = [e for e in self.service.timeline(activity.ref) if e.task_id == task.id]
        agency = queries.agency(self.db, task.agency_id) if task.agency_id else None
        return self.render(
            request,
            "task.html",
            status=status,
            task=task,
            activity=activity,
            wf=wf,
            kind=kind,
            agency=agency,
            triggers=self.allowed(kind, task.state, signed.actor),
            events=[event_line(e, self.cal, {task.id: task.title}) for e in events],
            uploads=queries.uploads_for(self.db, [task_id]),
            can_upload=signed.actor.role == "agency",
            deadline_actions=is_staff and task.is_open and task.deadline_status != "none",
            upload_limit=_size(self.settings.upload_limit),
            allowed_types=", ".join(sorted({e.lstrip(".") for e in ALLOWED_UPLOADS} - {"jpeg"})),
            accept=",".join(ALLOWED_UPLOADS),
            form=state or FormState(""),
        )

    def overdue_rows(
        self,
        agency: str,
        workflow: str,
        limit: int = 1000,
    ) -> tuple[list[queries.TaskRow], list[queries.TaskRow]]:
        now = self.now()
        today = self.cal.local_date(now)
        overdue = queries.tasks(
            self.db,
            agency_code=agency or None,
            workflow=workflow or None,
            overdue_at=now,
            limit=limit,
        )
        soon = queries.tasks(
            self.db,
            agency_code=agency or None,
            workflow=workflow or None,
            due_by=today + timedelta(days=self.settings.due_soon_days),
            due_after=now,  # not yet overdue: the two lists never overlap
            limit=limit,
        )
        return overdue, soon

    def task_json(self, task: Task, activity: Activity, agency: Agency | None) -> dict[str, Any]:
        return {
            "id": task.id,
            "activity": activity.ref,
            "kind": task.kind,
            "title": task.title,
            "state": task.state,
            "is_open": task.is_open,
            "agency_id": task.agency_id,
            "agency": agency.code if agency else None,
            "deadline_status": task.deadline_status,
            "due_on": task.due_on.isoformat() if task.due_on else None,
            "deadline": describe_task_deadline(task, self.now(), self.cal),
            "version": task.version,
            "data": task.data,
        }

    # ------------------------------------------------------------------ uploads
    async def store_upload(self, file: UploadFile) -> tuple[Path, UploadFile, int]:
        """Check type and size, then write under a random name; InvalidInput if refused."""
        name = _clean_name(file.filename or "")
        ext = Path(name).suffix.lower()
        if ext not in ALLOWED_UPLOADS:
            allowed = ", ".join(sorted(e.lstrip(".") for e in ALLOWED_UPLOADS))
            raise InvalidInput(
                f"input 'upload': files of type '{ext or 'none'}' are not accepted (allowed: {allowed})"
            )
        limit = self.settings.upload_limit
        directory = self.settings.upload_dir
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / secrets.token_hex(16)
        size = 0
        try:
            with path.open("xb") as out:
                while chunk := await file.read(64 * 1024):
                    size += len(chunk)
                    if size > limit:
                        raise InvalidInput(
                            f"input 'upload': the file is larger than the limit of {_size(limit)}"
                        )
                    out.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if size == 0:
            path.unlink(missing_ok=True)
            raise InvalidInput("input 'upload': the file is empty")
        return path, file, size

    def record_upload(
        self, task_id: int, file: UploadFile, stored_name: str, size: int, actor: Actor
    ) -> None:
        name = _clean_name(file.filename or "")
        with self.db.write() as session:
            session.add(
                Upload(
                    task_id=task_id,
                    original_name=name[:255],
                    stored_name=stored_name,
                    size=size,
                    content_type=ALLOWED_UPLOADS[Path(name).suffix.lower()],
                    uploaded_by=actor.id,
                    uploaded_at=self.now(),
                )
            )


# ---------------------------------------------------------------------- helpers
async def read_form(request: Request) -> FormData:
    """The posted form, remembered so that ``close_forms`` closes its files afterwards."""
    form = await request.form(max_files=5, max_fields=200)
    request.state.form = form
    return form


def _status(exc: SefError) -> tuple[int, str]:
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


def _safe_next(url: str) -> str:
    """Only a path on this site (no scheme, no //host) may be a redirect target."""
    if (
        not url.startswith("/")
        or url.startswith("//")
        or "\\" in url
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in url)  # "/\t/host" reads as "//host"
    ):
        return "/"
    return url


def _typed(form: FormData) -> dict[str, str]:
    return {k: v for k, v in form.multi_items() if isinstance(v, str) and k != "csrf_token"}


def _inputs(form: FormData, specs: Sequence[InputSpec]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for spec in specs:
        value = form.get(f"in_{spec.name}")
        if isinstance(value, str) and value.strip():
            out[spec.name] = value
    return out


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _field_error(exc: SefError, specs: Sequence[InputSpec], prefix: str = "") -> tuple[str, str]:
    """(the id of the field to fix, the message) for an error from the service."""
    message = str(exc)
    base = f"t-{prefix}-" if prefix else ""
    for spec in specs:
        if f"'{spec.name}'" in message or message.endswith(f"input {spec.name}"):
            return f"{base}in_{spec.name}", message
    if "input 'upload'" in message:
        return f"{base}upload", message
    if "reason" in message:
        return f"{base}reason", message
    return (f"{base}in_{specs[0].name}" if specs else f"{base}reason"), message


def _steps(wf: Workflow, current: str) -> list[tuple[str, str, str]]:
    """(name, title, status) for the stepper: done, current or todo; finals at the end."""
    names = [s for s in wf.states if not wf.states[s].final]
    finals = [s for s in wf.states if wf.states[s].final]
    order = names + finals
    index = order.index(current) if current in order else -1
    out = []
    for i, name in enumerate(order):
        if wf.states[name].final and name != current:
            continue
        status = "current" if name == current else ("done" if i < index else "todo")
        out.append((name, wf.states[name].title, status))
    return out


def _rule_text(d: DeadlineDef) -> str:
    """``"20 working days after"``, ``"5 working days before"``, ``"on"`` (amount 0)."""
    if d.amount == 0 and d.unit != "hours":
        return "on"
    unit = d.unit.replace("_", " ")
    if d.amount == 1:
        unit = unit.removesuffix("s")
    return f"{d.amount} {unit} {d.direction}"


def _basis_text(d: DeadlineDef) -> str:
    return "issue" if d.basis == "created" else "the date given"


def _csv_errors(message: str) -> list[str]:
    """One message per bad row of an import error (``"...: row 3: ...; row 5: ..."``)."""
    head, sep, rows = message.partition(" nothing imported: ")
    if not sep:
        return [message]
    return [f"{head} nothing imported.", *re.split(r"; (?=row \d+: )", rows)]


def _clean_name(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in base if c.isprintable() and c not in '"<>:|?*').strip() or "file"


def _discard(stored: tuple[Path, UploadFile, int] | None) -> None:
    if stored is not None:
        stored[0].unlink(missing_ok=True)


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.0f} MB"
    if n >= 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n} bytes"


def _csv_safe(text: str) -> str:
    """No formula injection when the CSV is opened in a spreadsheet."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _activity_json(a: Activity) -> dict[str, Any]:
    return {
        "ref": a.ref,
        "workflow": a.workflow,
        "title": a.title,
        "state": a.state,
        "version": a.version,
        "opened_by": a.opened_by,
        "opened_at": a.opened_at.isoformat(),
        "closed_at": a.closed_at.isoformat() if a.closed_at else None,
        "data": a.data,
    }


def _agency_json(a: Agency) -> dict[str, Any]:
    return {
        "id": a.id,
        "code": a.code,
        "name": a.name,
        "sector": a.sector,
        "lead_name": a.lead_name,
        "lead_email": a.lead_email,
        "active": a.active,
    }
