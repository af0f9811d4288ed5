"""Settings: ``config.toml`` at the project root, another file by ``SEF_CONFIG``, and
``SEF_<SECTION>_<KEY>`` environment variables over both.

Every key is declared here with its type and a description; ``config.toml`` documents
each one. Secrets (``database.password``, ``smtp.password``, ``web.secret_key``) are never
read from a file, only from the
environment. Any problem stops start-up with a :class:`~sef_workflow.errors.ConfigError`
whose one line names the file, the key and what is allowed.
"""

from __future__ import annotations

import os
import tomllib
import typing
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from .errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config.toml"
ENV_PREFIX = "SEF_"

#: Settings that may only come from the environment, as ``(section, key)``.
SECRETS: frozenset[tuple[str, str]] = frozenset(
    {("database", "password"), ("smtp", "password"), ("web", "secret_key")}
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class PartnershipSettings(_Section):
    name: str = Field(
        "Northshire Safeguarding Children Partnership (demo)",
        description="The partnership's name, shown in emails and pages.",
    )
    base_url: str = Field(
        "http://127.0.0.1:8000", description="Address of the application, used in links."
    )
    business_unit_email: str = Field(
        "business.unit@northshire-scp.example",
        description="The business unit's shared mailbox: sender and escalation address.",
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parsed = urlsplit(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("must be an http(s) address such as https://sef.example.org")
        return value.rstrip("/")

    @field_validator("business_unit_email")
    @classmethod
    def _email(cls, value: str) -> str:
        return _check_email(value)


def _check_email(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"must be an email address ({exc})") from None


class DatabaseSettings(_Section):
    url: str = Field(
        "sqlite:///var/sef.db",
        description="SQLAlchemy URL. A relative SQLite path is under the config file's folder. "
        "PostgreSQL: postgresql+psycopg://user@host/db (put passwords in SEF_DATABASE_URL).",
    )
    password: str = Field(
        "",
        description="Database password, put into the URL when it has none. Secret: only from "
        "SEF_DATABASE_PASSWORD, never the file.",
    )
    echo: bool = Field(False, description="Log every SQL statement (debugging only).")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(
                "must be a database URL such as sqlite:///var/sef.db or "
                "postgresql+psycopg://user@host/db"
            ) from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError("must be a SQLite or PostgreSQL URL")
        return value

    busy_timeout_ms: int = Field(
        5000, ge=0, description="SQLite: how long a writer waits for another writer."
    )


class CalendarSettings(_Section):
    country: str = Field("GB", description="Country whose bank holidays count (holidays).")
    subdiv: str = Field("ENG", description="Nation within the country: ENG, WLS, SCT, NIR.")
    timezone: str = Field("Europe/London", description="Local time zone for dates and hours.")
    closure_days: list[date] = Field(
        default_factory=list,
        description="The partnership's own closure days, not working days, e.g. a Christmas "
        "shutdown.",
    )


class WorkflowSettings(_Section):
    directory: str = Field("workflows", description="Folder of workflow definition files (*.toml).")
    templates: str = Field(
        "notifications",
        description="Folder of email templates: <name>.subject.j2, .txt.j2 and .html.j2.",
    )
    forms: str = Field(
        "forms",
        description="Folder of assessment forms (*.toml) and their grading scales (scales.toml).",
    )


class ReportSettings(_Section):
    year_start_month: int = Field(
        4,
        ge=1,
        le=12,
        description="Month the reporting year starts in (4: April to March) for the annual report.",
    )


class SmtpSettings(_Section):
    host: str = Field(
        "",
        description="SMTP server for outgoing mail. Empty: the embedded mail catcher on "
        "127.0.0.1 keeps every message under mail.catcher_dir instead of sending it.",
    )
    port: int = Field(25, ge=1, le=65535, description="SMTP port.")
    tls: Literal["none", "starttls", "implicit"] = Field(
        "none", description="TLS: none, starttls (upgrade after connecting) or implicit (SMTPS)."
    )
    username: str = Field("", description="Login name; empty for no login.")
    password: str = Field(
        "",
        description="Login password. Secret: only from SEF_SMTP_PASSWORD, never the file.",
    )
    timeout_seconds: float = Field(30.0, gt=0, description="Seconds to wait for each SMTP step.")
    from_address: str = Field(
        "",
        description="Sender address; empty: partnership.business_unit_email.",
    )

    @field_validator("from_address")
    @classmethod
    def _from(cls, value: str) -> str:
        return _check_email(value) if value else value


class MailSettings(_Section):
    catcher_dir: str = Field(
        "var/mail", description="Folder where the embedded mail catcher keeps messages."
    )
    catcher_port: int = Field(
        8025, ge=0, le=65535, description="Port of the embedded mail catcher on 127.0.0.1."
    )
    batch_size: int = Field(50, ge=1, description="Notifications claimed per delivery batch.")
    connections: int = Field(
        4, ge=1, le=32, description="SMTP connections used at once by one delivery worker."
    )
    lease_seconds: int = Field(
        300,
        ge=10,
        description="How long a worker holds claimed notifications before another may reclaim "
        "them.",
    )
    max_attempts: int = Field(
        8, ge=1, description="Attempts before a transiently failing email is marked failed."
    )
    retry_base_seconds: int = Field(
        60, ge=1, description="First retry delay; doubles each attempt (exponential backoff)."
    )
    retry_cap_seconds: int = Field(3600, ge=1, description="Longest delay between retries.")


class SchedulerSettings(_Section):
    sweep_interval_seconds: int = Field(
        300,
        ge=5,
        description="How often the worker sweeps for due reminders, chasers and escalations.",
    )
    deliver_interval_seconds: int = Field(
        30, ge=1, description="How often the worker delivers the outbox."
    )
    programme_interval_seconds: int = Field(
        3600, ge=60, description="How often the worker checks the recurring programme."
    )
    working_day_start: str = Field(
        "09:00",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="Local time (HH:MM) from which reminders may go out on working days.",
    )
    working_day_end: str = Field(
        "17:00",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="Local time (HH:MM) after which no reminder goes out.",
    )
    digest_day: Literal["mon", "tue", "wed", "thu", "fri"] = Field(
        "mon", description="Weekday of the weekly digests (skipped when not a working day)."
    )
    digest_time: str = Field(
        "08:30",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="Local time (HH:MM) of the weekly digests.",
    )
    due_soon_working_days: int = Field(
        5, ge=1, description="Digests list items due within this many working days."
    )
    programme_file: str = Field(
        "programme.toml", description="The recurring programme: which activities open when."
    )
    misfire_grace_seconds: int = Field(
        3600,
        ge=1,
        description="How late a job may still run after a pause (it catches up "
        "from the database anyway).",
    )


class WebSettings(_Section):
    host: str = Field("127.0.0.1", description="Address `sef serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `sef serve` listens on.")
    secret_key: str = Field(
        "",
        description="Key that signs the sign-in form. Secret: only from SEF_WEB_SECRET_KEY; "
        "empty: a random key per process.",
    )
    session_hours: int = Field(8, ge=1, description="Hours a signed-in session lasts.")
    idle_minutes: int = Field(
        60,
        ge=5,
        le=1440,
        description="Minutes without a request after which a signed-in session ends "
        "(5 to 1440; the session_hours limit stays).",
    )
    login_attempts: int = Field(
        5,
        ge=1,
        le=100,
        description="Failed sign-ins allowed per email address within login_window_minutes, "
        "counted by every process on the database.",
    )
    client_login_attempts: int = Field(
        20,
        ge=1,
        le=1000,
        description="Failed sign-ins and sign-in link requests allowed per client address "
        "within login_window_minutes, whichever email addresses it tries.",
    )
    login_window_minutes: int = Field(
        15, ge=1, le=1440, description="Minutes over which failed sign-ins are counted."
    )
    link_hours: int = Field(
        72, ge=1, description="Hours an agency contact's emailed sign-in link stays valid."
    )
    upload_limit_mb: int = Field(10, ge=1, le=512, description="Largest file upload, in MB.")
    upload_dir: str = Field(
        "var/uploads", description="Folder for uploaded files, outside the web root."
    )
    cookie_secure: bool = Field(
        False,
        description="Send the session cookie over HTTPS only even when partnership.base_url "
        "is http; with an https base_url it always is.",
    )


class Settings(_Section):
    partnership: PartnershipSettings = PartnershipSettings()
    database: DatabaseSettings = DatabaseSettings()
    calendar: CalendarSettings = CalendarSettings()
    workflows: WorkflowSettings = WorkflowSettings()
    reports: ReportSettings = ReportSettings()
    smtp: SmtpSettings = SmtpSettings()
    mail: MailSettings = MailSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    web: WebSettings = WebSettings()
    workflow_parameters: dict[str, dict[str, str | int | bool]] = Field(
        default_factory=dict,
        description="Per-workflow parameters, [workflow_parameters.NAME] KEY = value; "
        "each workflow file declares which it accepts.",
    )


@dataclass(frozen=True)
class LoadedSettings:
    """Settings with where they came from."""

    settings: Settings
    source: Path
    root: Path

    def database_url(self) -> str:
        """The database URL with a relative SQLite path made absolute under ``root``."""
        url = self.settings.database.url
        password = self.settings.database.password
        if password and not url.startswith("sqlite"):
            from sqlalchemy.engine import make_url

            parsed = make_url(url)
            if parsed.password is None:
                url = parsed.set(password=password).render_as_string(hide_password=False)
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith("sqlite:////"):
            rest = url[len(prefix) :]
            if rest and rest != ":memory:" and not rest.startswith("file:"):
                return prefix + str((self.root / rest).resolve())
        return url

    def workflows_dir(self) -> Path:
        return (self.root / self.settings.workflows.directory).resolve()

    def templates_dir(self) -> Path:
        return (self.root / self.settings.workflows.templates).resolve()

    def forms_dir(self) -> Path:
        return (self.root / self.settings.workflows.forms).resolve()

    def programme_path(self) -> Path:
        return (self.root / self.settings.scheduler.programme_file).resolve()

    def working_hours(self) -> tuple[time, time]:
        sch = self.settings.scheduler
        start, end = (
            time.fromisoformat(sch.working_day_start),
            time.fromisoformat(sch.working_day_end),
        )
        if not start < end:
            raise ConfigError(
                f"{self.source}: key 'scheduler.working_day_end': {sch.working_day_end} must be "
                f"after scheduler.working_day_start {sch.working_day_start}"
            )
        return start, end

    def upload_dir(self) -> Path:
        return (self.root / self.settings.web.upload_dir).resolve()

    def catcher_dir(self) -> Path:
        return (self.root / self.settings.mail.catcher_dir).resolve()


def describe_settings() -> list[tuple[str, str, str, str]]:
    """Every setting as ``(key, type, default, description)``, for docs and tests."""
    rows: list[tuple[str, str, str, str]] = []
    for section, sfield in Settings.model_fields.items():
        ann = sfield.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            for key, field in ann.model_fields.items():
                default = field.get_default(call_default_factory=True)
                rows.append(
                    (
                        f"{section}.{key}",
                        _type_name(field.annotation),
                        repr(default),
                        field.description or "",
                    )
                )
        else:
            rows.append((section, "table", "{}", sfield.description or ""))
    return rows


def _type_name(ann: Any) -> str:
    origin = typing.get_origin(ann)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(ann))
    if origin is list:
        return f"list of {_type_name(typing.get_args(ann)[0])}"
    if isinstance(ann, type):
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(
            ann.__name__, ann.__name__
        )
    return str(ann)


def load_settings(
    path: str | os.PathLike[str] | None = None, environ: typing.Mapping[str, str] | None = None
) -> LoadedSettings:
    """Read settings from ``path`` (or ``SEF_CONFIG``, or ``config.toml``) and the environment."""
    env = os.environ if environ is None else environ
    explicit = path if path is not None else env.get("SEF_CONFIG")
    source = Path(explicit) if explicit else DEFAULT_CONFIG
    where = str(source)
    if explicit and not source.is_file():
        raise ConfigError(f"{where}: config file not found (set SEF_CONFIG to an existing file)")
    data: dict[str, Any] = {}
    if source.is_file():
        try:
            data = tomllib.loads(source.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{where}: malformed TOML: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where}: cannot read the file: {exc}") from None
    _check_shape(data, where)
    file_url = (data.get("database") or {}).get("url")
    if isinstance(file_url, str) and "://" in file_url:
        try:
            has_password = make_url(file_url).password is not None
        except ArgumentError:
            has_password = False
        if has_password:
            raise ConfigError(
                f"{where}: key 'database.url' carries a password, a secret that is not allowed "
                "in a file; set SEF_DATABASE_URL or SEF_DATABASE_PASSWORD in the environment"
            )
    for section, key in SECRETS:
        if key in data.get(section, {}):
            env_name = f"{ENV_PREFIX}{section.upper()}_{key.upper()}"
            raise ConfigError(
                f"{where}: key '{section}.{key}' is a secret and is not allowed in a file; "
                f"set {env_name} in the environment"
            )
    from_env = _apply_environment(data, env, where)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_first_error(exc, where, data, from_env)) from None
    root = source.resolve().parent if source.is_file() else PROJECT_ROOT
    return LoadedSettings(settings=settings, source=source, root=root)


def _section_model(section: str) -> type[BaseModel] | None:
    field = Settings.model_fields.get(section)
    if field is None:
        return None
    ann = field.annotation
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def _check_shape(data: dict[str, Any], where: str) -> None:
    """Unknown sections and keys, named with what is allowed."""
    allowed_sections = list(Settings.model_fields)
    for section, value in data.items():
        if section not in Settings.model_fields:
            raise ConfigError(
                f"{where}: unknown section '{section}' (allowed: {', '.join(allowed_sections)})"
            )
        model = _section_model(section)
        if model is None:
            continue
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: key '{section}' must be a table [{section}]")
        for key in value:
            if key not in model.model_fields:
                raise ConfigError(
                    f"{where}: unknown key '{section}.{key}' "
                    f"(allowed in [{section}]: {', '.join(model.model_fields)})"
                )


def _apply_environment(
    data: dict[str, Any], env: typing.Mapping[str, str], where: str
) -> dict[tuple[str, str], str]:
    """Put ``SEF_<SECTION>_<KEY>`` values into ``data``; returns which keys came from where."""
    from_env: dict[tuple[str, str], str] = {}
    for section in Settings.model_fields:
        model = _section_model(section)
        if model is None:
            continue
        for key, field in model.model_fields.items():
            name = f"{ENV_PREFIX}{section.upper()}_{key.upper()}"
            if name not in env:
                continue
            raw = env[name]
            data.setdefault(section, {})[key] = _parse_env(raw, field.annotation, name)
            from_env[(section, key)] = name
    return from_env


def _parse_env(raw: str, annotation: Any, name: str) -> Any:
    if annotation is str or typing.get_origin(annotation) is Literal:
        return raw
    if annotation is bool:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"environment: {name}={raw!r}: expected true or false")
    if annotation is int:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"environment: {name}={raw!r}: expected an integer") from None
    if annotation is float:
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"environment: {name}={raw!r}: expected a number") from None
    if typing.get_origin(annotation) is list:
        try:
            return tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            raise ConfigError(
                f"environment: {name}={raw!r}: expected a TOML list, e.g. [2026-12-29]"
            ) from None
    return raw


def _first_error(
    exc: ValidationError,
    where: str,
    data: dict[str, Any],
    from_env: typing.Mapping[tuple[str, str], str],
) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    got = _lookup(data, err["loc"])
    allowed = _allowed(err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "value_error":
        allowed = ""  # the message says what is allowed
    if len(err["loc"]) >= 2:
        env_name = from_env.get((str(err["loc"][0]), str(err["loc"][1])))
        if env_name is not None:
            where = f"environment: {env_name} (for {loc})"
            return (
                f"{where}: {msg}"
                + (f" (allowed: {allowed})" if allowed else "")
                + (f"; got {got!r}" if got is not _MISSING else "")
            )
    return (
        f"{where}: key '{loc}': {msg}"
        + (f" (allowed: {allowed})" if allowed else "")
        + (f"; got {got!r}" if got is not _MISSING else "")
    )


_MISSING = object()


def _lookup(data: Any, loc: tuple[int | str, ...]) -> Any:
    cur = data
    for part in loc:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
            continue
        if isinstance(cur, list) and isinstance(part, int) and part < len(cur):
            cur = cur[part]
            continue
        return _MISSING
    return cur


def _allowed(loc: tuple[int | str, ...]) -> str:
    if len(loc) < 2:
        return ""
    model = _section_model(str(loc[0]))
    if model is None:
        return ""
    field = model.model_fields.get(str(loc[1]))
    if field is None:
        return ""
    return _type_name(field.annotation)


__all__ = [
    "SECRETS",
    "LoadedSettings",
    "Settings",
    "describe_settings",
    "load_settings",
]
