"""The web app's shared state, kept on ``app.state.web``: the application it serves, the
web settings, the page templates and the sign-in rate limiter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from jinja2 import Environment

from ..app import App
from ..calendar import WorkingCalendar
from ..db import Database
from ..service import Service
from .auth import RateLimiter


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


@dataclass(frozen=True)
class WebState:
    """One web app's application, settings, templates and rate limiter."""

    app: App
    settings: WebSettings
    env: Environment
    limiter: RateLimiter

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
