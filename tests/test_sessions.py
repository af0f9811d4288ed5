"""Sessions: a password set signs the person out everywhere and is logged, sessions end when
idle and when their person stops being staff, the login limiter counts per address and per
client in the database, no response but the static files may be cached, and the cookie is
Secure with an https base_url."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from sef_workflow import directory_log
from sef_workflow.app import App
from sef_workflow.clock import FakeClock
from sef_workflow.config import load_settings
from sef_workflow.db import Database
from sef_workflow.models import DirectoryEvent, LoginAttempt, WebSession
from sef_workflow.service import Actor, Service
from sef_workflow.sessions import revoke_sessions
from sef_workflow.web import create_app, set_password
from sef_workflow.web.auth import LoginLimiter, address_key, client_key, start_session

from .conftest import COORDINATOR, MANAGER
from .test_cli import Cli, _config

ADMIN = Actor(id="admin@northshire-scp.example", role="admin", name="Ada Admin")
PASSWORDS = {
    COORDINATOR.id: "coordinator-pass-1",
    MANAGER.id: "manager-pass-123",
    ADMIN.id: "admin-pass-12345",
}
POL_LEAD = "lead@police.northshire.example"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]*)"')

Clients = Callable[..., TestClient]


@pytest.fixture
def clients(partnership: Service, clock: FakeClock, tmp_path: Path) -> Iterator[Clients]:
    """Makes browsers on the web app, with the settings given as ``SEF_*`` variables."""
    partnership.add_staff(Actor.system(), ADMIN.name, ADMIN.id, "admin")
    for email, password in PASSWORDS.items():
        set_password(partnership.db, email, password, clock.now())
    assert partnership.notifier is not None
    opened: list[TestClient] = []

    def client(environ: dict[str, str] | None = None, *, https: bool = False) -> TestClient:
        app = App(
            settings=replace(load_settings(environ=environ or {}), root=tmp_path),
            db=partnership.db,
            registry=partnership.registry,
            calendar=partnership.calendar,
            service=partnership,
            notifier=partnership.notifier,
        )
        web = create_app(app, secret_key="test-secret", upload_dir=tmp_path / "uploads")
        base = "https://testserver" if https else "http://testserver"
        c = TestClient(web, base_url=base, follow_redirects=False)
        opened.append(c)
        return c

    yield client
    for c in opened:
        c.close()


def sign_in(c: TestClient, email: str, password: str | None = None) -> httpx.Response:
    page = c.get("/login")
    match = CSRF_RE.search(page.text)
    assert match, "no csrf token on the sign-in page"
    data = {"email": email, "password": password or PASSWORDS[email], "csrf_token": match[1]}
    return c.post("/login", data={**data, "next": "/"})


def signed_in(c: TestClient) -> bool:
    r = c.get("/")
    assert r.status_code in (200, 303), r.status_code
    return r.status_code == 200


def events(service: Service, kind: str) -> list[DirectoryEvent]:
    with service.db.read() as session:
        return [e for e in directory_log.read(session) if e.kind == kind]


# ---------------------------------------------------------------------- passwords
def test_setting_a_password_signs_the_person_out_everywhere_and_is_logged(
    partnership: Service, clock: FakeClock, clients: Clients
) -> None:
    laptop, phone, other = clients(), clients(), clients()
    for c, email in ((laptop, COORDINATOR.id), (phone, COORDINATOR.id), (other, MANAGER.id)):
        assert sign_in(c, email).status_code == 303
    assert signed_in(laptop)
    assert signed_in(phone)
    password_events = len(events(partnership, "password_set"))

    new_password = "a-new-long-password"
    ended = set_password(partnership.db, COORDINATOR.id, new_password, clock.now(), actor=ADMIN)

    assert ended == 2
    assert not signed_in(laptop)
    assert not signed_in(phone)
    assert signed_in(other)  # someone else's session is untouched
    assert sign_in(clients(), COORDINATOR.id).status_code == 401  # the old password
    assert sign_in(clients(), COORDINATOR.id, new_password).status_code == 303

    set_events = events(partnership, "password_set")
    assert len(set_events) == password_events + 1
    latest = set_events[0]
    assert (latest.actor, latest.actor_role, latest.subject) == (ADMIN.id, "admin", COORDINATOR.id)
    assert (latest.before, latest.after) == (None, {"set": True})
    revoked = events(partnership, "sessions_revoked")[0]
    assert (revoked.actor, revoked.subject) == (ADMIN.id, COORDINATOR.id)
    assert revoked.before == {"sessions": 2}
    assert revoked.after == {"sessions": 0, "reason": "password set"}
    with partnership.db.read() as session:
        every = json.dumps([e.model_dump(mode="json") for e in directory_log.read(session)])
    assert new_password not in every
    assert "argon2" not in every


def test_staff_password_command_records_who_set_it(tmp_path: Path) -> None:
    cli = Cli({"SEF_CONFIG": str(_config(tmp_path))})
    cli.run("db", "upgrade")
    for name, email, role in (
        ("Ada Admin", ADMIN.id, "admin"),
        ("Casey", COORDINATOR.id, "coordinator"),
    ):
        cli.run("staff", "add", "--name", name, "--email", email, "--role", role)
    out = cli.run("--as", ADMIN.id, "staff", "password", COORDINATOR.id, "--password", "x" * 12)
    assert out.stdout == f"{COORDINATOR.id}: password set\n"
    cli.run("staff", "password", ADMIN.id, "--password", "y" * 12)
    db = Database(f"sqlite:///{tmp_path / 'sef.db'}")
    try:
        with db.read() as session:
            rows = session.exec(
                select(DirectoryEvent)
                .where(DirectoryEvent.kind == "password_set")
                .order_by(col(DirectoryEvent.id))
            ).all()
    finally:
        db.dispose()
    assert [(r.subject, r.actor, r.actor_role) for r in rows] == [
        (COORDINATOR.id, ADMIN.id, "admin"),
        (ADMIN.id, "system", "system"),
    ]


def test_revoke_sessions_ends_every_session_of_one_person(
    partnership: Service, clock: FakeClock, clients: Clients
) -> None:
    for _ in range(2):  # the lead signed in on two devices
        start_session(partnership.db, POL_LEAD, clock.now(), timedelta(hours=8))
    staff = clients()
    assert sign_in(staff, MANAGER.id).status_code == 303
    with partnership.db.write() as session:
        ended = revoke_sessions(
            session,
            " Lead@Police.Northshire.Example ",
            at=clock.now(),
            actor=ADMIN.id,
            actor_role="admin",
            reason="no longer a contact of POL",
        )
    with partnership.db.write() as session:  # nothing left: nothing ended, nothing recorded
        again = revoke_sessions(
            session, POL_LEAD, at=clock.now(), actor=ADMIN.id, actor_role="admin", reason="again"
        )
    assert again == 0
    with partnership.db.read() as session:
        emails = set(session.exec(select(WebSession.email)).all())
    assert POL_LEAD not in emails
    assert MANAGER.id in emails
    assert ended == 2
    recorded = [e for e in events(partnership, "sessions_revoked") if e.subject == POL_LEAD]
    assert len(recorded) == 1
    assert (recorded[0].actor, recorded[0].before) == (ADMIN.id, {"sessions": 2})
    assert recorded[0].after == {"sessions": 0, "reason": "no longer a contact of POL"}
    assert signed_in(staff)


def test_a_member_of_staff_made_inactive_is_signed_out(
    partnership: Service, clients: Clients
) -> None:
    c = clients()
    assert sign_in(c, MANAGER.id).status_code == 303
    assert signed_in(c)
    partnership.deactivate_staff(Actor.system(), MANAGER.id)
    assert not signed_in(c)
    with partnership.db.read() as session:
        left = session.exec(select(WebSession).where(WebSession.email == MANAGER.id)).all()
    assert left == []


# ---------------------------------------------------------------------- the idle timeout
def test_an_idle_session_ends_and_use_keeps_it_alive(
    partnership: Service, clock: FakeClock, clients: Clients
) -> None:
    c = clients({"SEF_WEB_IDLE_MINUTES": "30"})
    assert sign_in(c, COORDINATOR.id).status_code == 303

    def last_seen() -> object:
        with partnership.db.read() as session:
            rows = session.exec(select(WebSession.last_seen_at)).all()
        assert len(rows) == 1
        return rows[0]

    first = last_seen()
    clock.advance(timedelta(seconds=20))
    assert signed_in(c)
    assert last_seen() == first  # not written on every request
    for _ in range(4):  # two hours in use, never 30 minutes idle
        clock.advance(timedelta(minutes=29))
        assert signed_in(c)
    assert last_seen() == clock.now()
    clock.advance(timedelta(minutes=30))
    assert not signed_in(c)
    assert c.get("/api/activities").status_code == 401
    with partnership.db.read() as session:
        assert session.exec(select(WebSession)).all() == []


def test_idle_minutes_setting_is_checked() -> None:
    from sef_workflow.errors import ConfigError

    with pytest.raises(ConfigError, match="SEF_WEB_IDLE_MINUTES"):
        load_settings(environ={"SEF_WEB_IDLE_MINUTES": "0"})
    assert load_settings(environ={}).settings.web.idle_minutes == 60


# ---------------------------------------------------------------------- what may be kept
def test_no_response_but_static_files_may_be_stored(clients: Clients) -> None:
    anonymous = clients()
    for path in ("/login", "/", "/api/activities", "/no-such-page"):
        assert anonymous.get(path).headers["cache-control"] == "no-store", path
    c = clients()
    assert sign_in(c, COORDINATOR.id).headers["cache-control"] == "no-store"
    for path in ("/", "/activities", "/api/activities", "/api/openapi.json", "/no-such-page"):
        r = c.get(path)
        assert r.status_code in (200, 404), (path, r.status_code)
        assert r.headers["cache-control"] == "no-store", path
    static = c.get("/static/style.css")
    assert static.status_code == 200
    assert "no-store" not in static.headers.get("cache-control", "")


# ---------------------------------------------------------------------- the cookie
@pytest.mark.parametrize(
    ("environ", "secure"),
    [
        ({"SEF_PARTNERSHIP_BASE_URL": "https://sef.northshire-scp.example"}, True),
        ({"SEF_PARTNERSHIP_BASE_URL": "http://127.0.0.1:8000"}, False),
        ({"SEF_WEB_COOKIE_SECURE": "true"}, True),
    ],
)
def test_session_cookie_is_secure_with_an_https_base_url(
    clients: Clients, environ: dict[str, str], secure: bool
) -> None:
    c = clients(environ, https=True)
    page = c.get("/login")
    pre = {part.strip() for part in page.headers["set-cookie"].lower().split(";")[1:]}
    assert ("secure" in pre) is secure
    r = sign_in(c, COORDINATOR.id)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert cookie.startswith("sef_session=")
    attributes = {part.strip() for part in cookie.split(";")[1:]}
    assert "httponly" in attributes
    assert ("secure" in attributes) is secure


# ---------------------------------------------------------------------- the limiter
def test_one_client_trying_many_addresses_is_slowed(clients: Clients, partnership: Service) -> None:
    c = clients({"SEF_WEB_CLIENT_LOGIN_ATTEMPTS": "6", "SEF_WEB_LOGIN_ATTEMPTS": "3"})
    for n in range(6):
        assert sign_in(c, f"guess{n}@northshire.example", "wrong password").status_code == 401
    # no address has had more than one try, yet this client is held back, even with a
    # right password
    r = sign_in(c, MANAGER.id)
    assert r.status_code == 429
    assert "Too many failed attempts" in r.text
    with partnership.db.read() as session:
        keys = set(session.exec(select(LoginAttempt.key)).all())
    assert "client:testclient" in keys
    assert address_key("guess0@northshire.example") in keys


def test_limiter_counts_in_a_window_and_forgets_old_rows(
    database: Database, clock: FakeClock
) -> None:
    limiter = LoginLimiter(database, per_address=2, per_client=3, window=timedelta(minutes=10))
    person, client = address_key(" Someone@Northshire.Example"), client_key("192.0.2.7")
    assert person == "address:someone@northshire.example"
    for _ in range(2):
        assert not limiter.blocked(person, clock.now())
        limiter.failed(person, clock.now())
        limiter.failed(client, clock.now())
    assert limiter.blocked(person, clock.now())
    assert not limiter.blocked(client, clock.now())  # the client may fail 3 times
    limiter.failed(client, clock.now())
    assert limiter.blocked(client, clock.now())
    limiter.reset(person)
    assert not limiter.blocked(person, clock.now())
    assert limiter.blocked(client, clock.now())
    clock.advance(timedelta(minutes=10))
    assert not limiter.blocked(client, clock.now())
    limiter.failed(person, clock.now())  # writing purges rows older than the window
    with database.read() as session:
        assert session.exec(select(LoginAttempt.key)).all() == [person]
