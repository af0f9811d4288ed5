"""Shared fixtures: a real database (SQLite file and PostgreSQL schema), a fake clock, the service.

Every test that takes ``database`` runs twice: on a fresh SQLite file and in a fresh
PostgreSQL schema. PostgreSQL comes from ``SEF_TEST_POSTGRES_URL`` (default: the local
server's ``test`` database). When it cannot be reached the PostgreSQL half is skipped,
unless ``CI`` or ``SEF_REQUIRE_POSTGRES`` is set, in which case it fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from sef_workflow.assessments import fill
from sef_workflow.calendar import LONDON, WorkingCalendar
from sef_workflow.clock import FakeClock
from sef_workflow.db import Database
from sef_workflow.definitions import Registry
from sef_workflow.directory import AgencyRecord
from sef_workflow.notify.outbox import Notifier
from sef_workflow.notify.render import Templates
from sef_workflow.service import Actor, Service

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
POSTGRES_URL = os.environ.get(
    "SEF_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
_pg_state: dict[str, str | None] = {}


def answer_form(service: Service, actor: Actor, task_id: int, rating: str | None = None) -> None:
    """Fill in every answer of a task's assessment form (a return's content), not submitting."""
    view = service.assessment_for_task(actor, task_id)
    service.save_answers(actor, task_id, fill(view.form, view.scale, rating))


def _postgres_problem() -> str | None:
    if "problem" not in _pg_state:
        try:
            engine = sa.create_engine(POSTGRES_URL)
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            engine.dispose()
            _pg_state["problem"] = None
        except Exception as exc:  # pragma: no cover - depends on the machine
            _pg_state["problem"] = f"PostgreSQL at {POSTGRES_URL} unreachable: {exc}"
    return _pg_state["problem"]


def require_postgres() -> None:
    problem = _postgres_problem()
    if problem is None:
        return
    if os.environ.get("CI") or os.environ.get("SEF_REQUIRE_POSTGRES"):
        pytest.fail(problem)
    pytest.skip(problem)


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A URL whose connections work in a brand-new PostgreSQL schema, dropped afterwards."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sef.db'}"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    """A database with the schema created by the shipped migrations."""
    db = Database(db_url)
    db.upgrade()
    yield db
    db.dispose()


@pytest.fixture
def clock() -> FakeClock:
    """Monday 5 January 2026, 09:00 in London."""
    return FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=LONDON))


@pytest.fixture
def calendar() -> WorkingCalendar:
    return WorkingCalendar()


@pytest.fixture
def registry() -> Registry:
    return Registry(WORKFLOWS)


TEMPLATES = ROOT / "notifications"


@pytest.fixture
def notifier(calendar: WorkingCalendar) -> Notifier:
    return Notifier(
        Templates(TEMPLATES, "Northshire Safeguarding Children Partnership (fictional)"),
        calendar,
        base_url="http://127.0.0.1:8000",
        business_unit_email="business.unit@northshire-scp.example",
    )


@pytest.fixture
def service(
    database: Database,
    registry: Registry,
    calendar: WorkingCalendar,
    clock: FakeClock,
    notifier: Notifier,
) -> Service:
    return Service(database, registry, calendar, clock, notifier)


def process_config(tmp_path: Path) -> tuple[dict[str, str], list[str]]:
    """For tests that run ``sef`` as a real process: a config on a fresh, upgraded SQLite
    file with short worker intervals and a mail catcher on any free port; returns the
    environment to run with and the command that starts ``sef``."""
    import subprocess
    import sys

    config = tmp_path / "sef.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "w.db"}"\n'
        f'[workflows]\ndirectory = "{WORKFLOWS}"\ntemplates = "{ROOT / "notifications"}"\nforms = "{ROOT / "forms"}"\n'
        f"[scheduler]\nsweep_interval_seconds = 5\ndeliver_interval_seconds = 1\n"
        f'programme_file = "{ROOT / "programme.toml"}"\n'
        f"[mail]\ncatcher_port = 0\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEF_")}
    env["SEF_CONFIG"] = str(config)
    sef = [sys.executable, "-m", "sef_workflow.cli"]
    subprocess.run([*sef, "db", "upgrade"], env=env, check=True, capture_output=True)
    return env, sef


def confirm_sign_in_link(client: Any, path: str) -> Any:
    """Open a sign-in link (``/login/link/<token>``) with a test client and press Continue
    on the page it shows, as a person does; the response to that POST."""
    import re

    page = client.get(path)
    found = re.search(
        r'<form method="post" action="([^"]*)".*?name="csrf_token" value="([^"]*)"', page.text, re.S
    )
    assert page.status_code == 200, (path, page.status_code)
    assert found, "the link's page has no Continue form"
    return client.post(found.group(1), data={"csrf_token": found.group(2)})


COORDINATOR = Actor(id="coordinator@northshire-scp.example", role="coordinator", name="Casey Coord")
MANAGER = Actor(id="manager@northshire-scp.example", role="manager", name="Morgan Manager")

FICTIONAL_AGENCIES = [
    AgencyRecord(
        code="POL",
        name="Northshire Constabulary (fictional)",
        sector="police",
        lead_name="Lead Police",
        lead_email="lead@police.northshire.example",
        deputy_name="Deputy Police",
        deputy_email="deputy@police.northshire.example",
        manager_name="Chief Police",
        manager_email="chief@police.northshire.example",
    ),
    AgencyRecord(
        code="ICB",
        name="Northshire Integrated Care Board (fictional)",
        sector="health",
        lead_name="Lead Health",
        lead_email="lead@icb.northshire.example",
        deputy_name=None,
        deputy_email=None,
        manager_name="Chief Health",
        manager_email="chief@icb.northshire.example",
    ),
    AgencyRecord(
        code="CSC",
        name="Northshire Children's Services (fictional)",
        sector="local_authority",
        lead_name="Lead Council",
        lead_email="lead@csc.northshire.example",
        deputy_name="Deputy Council",
        deputy_email="deputy@csc.northshire.example",
        manager_name="Director Council",
        manager_email="director@csc.northshire.example",
    ),
]


@pytest.fixture
def partnership(service: Service) -> Service:
    """The service with three fictional agencies and a coordinator and manager on staff."""
    service.import_agencies(Actor.system(), FICTIONAL_AGENCIES)
    service.add_staff(Actor.system(), "Casey Coord", COORDINATOR.id, "coordinator")
    service.add_staff(Actor.system(), "Morgan Manager", MANAGER.id, "manager")
    return service
