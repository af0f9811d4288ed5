"""Wiring: settings to database, calendar, workflow registry, clock and service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .calendar import WorkingCalendar
from .clock import Clock, SystemClock
from .config import LoadedSettings, load_settings
from .db import Database
from .definitions import Registry, Workflow
from .errors import ConfigError
from .forms import FormRegistry
from .ladder import WorkingHours
from .notify.outbox import Notifier, check_templates_exist
from .notify.render import Templates
from .service import Service


@dataclass
class App:
    settings: LoadedSettings
    db: Database
    registry: Registry
    calendar: WorkingCalendar
    service: Service
    notifier: Notifier

    @property
    def forms(self) -> FormRegistry:
        return self.service.forms


def build_calendar(loaded: LoadedSettings) -> WorkingCalendar:
    cal = loaded.settings.calendar
    try:
        tz = ZoneInfo(cal.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{loaded.source}: key 'calendar.timezone': unknown time zone {cal.timezone!r} "
            "(allowed: an IANA name such as Europe/London)"
        ) from None
    try:
        return WorkingCalendar(cal.country, cal.subdiv or None, cal.closure_days, tz=tz)
    except (NotImplementedError, KeyError, ValueError) as exc:
        raise ConfigError(
            f"{loaded.source}: key 'calendar.country'/'calendar.subdiv': "
            f"{cal.country}/{cal.subdiv} is not known to the holidays package ({exc})"
        ) from None


def build_registry(
    loaded: LoadedSettings, templates: Templates | None = None, forms: FormRegistry | None = None
) -> Registry:
    """The workflow files; with ``templates``, a file naming a missing template fails to load,
    and with ``forms``, one naming an unknown form or a scale the form does not allow."""

    def validate(wf: Workflow) -> None:
        if templates is not None:
            check_templates_exist([wf], templates)
        if forms is not None:
            from .assessments import check_workflow_forms

            check_workflow_forms(wf, forms)

    return Registry(
        loaded.workflows_dir(),
        loaded.settings.workflow_parameters,
        config_origin=str(loaded.source),
        validate=validate,
    )


def build(loaded: LoadedSettings | None = None, clock: Clock | None = None) -> App:
    loaded = loaded or load_settings()
    db_settings = loaded.settings.database
    db = Database(
        loaded.database_url(), echo=db_settings.echo, busy_timeout_ms=db_settings.busy_timeout_ms
    )
    calendar = build_calendar(loaded)
    notifier = build_notifier(loaded, calendar)
    forms = FormRegistry(loaded.forms_dir())
    registry = build_registry(loaded, notifier.templates, forms)
    start, end = loaded.working_hours()
    service = Service(
        db, registry, calendar, clock or SystemClock(), notifier, WorkingHours(start, end), forms
    )
    return App(
        settings=loaded,
        db=db,
        registry=registry,
        calendar=calendar,
        service=service,
        notifier=notifier,
    )


def build_notifier(loaded: LoadedSettings, calendar: WorkingCalendar) -> Notifier:
    partnership = loaded.settings.partnership
    templates = Templates(loaded.templates_dir(), partnership.name)
    return Notifier(
        templates,
        calendar,
        base_url=partnership.base_url,
        business_unit_email=partnership.business_unit_email,
        link_lifetime=timedelta(hours=loaded.settings.web.link_hours),
        sign_in_links=True,
    )
