"""The web app's shared state, kept on ``app.state.web``: the application it serves, the
web settings, the page templates and the login limiter (kept in the database)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from jinja2 import Environment

from ..app import App
from ..calendar import WorkingCalendar
from ..db import Database
from ..service import Service
from .auth import LoginLimiter


@dataclass(frozen=True)
class WebSettings:
    """What the web layer needs beyond the App's settings (to move into ``[web]`` config)."""

    secret_key: str
    session_lifetime: timedelta = timedelta(hours=8)
    link_lifetime: timedelta = timedelta(hours=72)
    upload_limit: int = 10 * 1024 * 1024
    upload_dir: Path = Path("var/uploads")
    cookie_secure: bool = False
    #: a session unused this long ends (the absolute ``session_lifetime`` stays)
    idle_timeout: timedelta = timedelta(minutes=60)
    #: failed sign-ins allowed per email address, and per client, within ``login_window``
    login_attempts: int = 5
    client_login_attempts: int = 20
    login_window: timedelta = timedelta(minutes=15)
    due_soon_days: int = 7


@dataclass(frozen=True)
class WebState:
    """One web app's application, settings, templates and login limiter."""

    app: App
    settings: WebSettings
    env: Environment
    limiter: LoginLimiter

    @property
    def service(self) -> Service:
        return self.app.service

    @property
    def db(self) -> Database:
        return self.app.db

    @property
    def cal(self) -> WorkingCalendar:
        return self.app.calendar

    def now(self) -> datetime:
        return self.service.clock.now()
