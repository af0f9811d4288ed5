"""The login limiter is shared by every web process on one PostgreSQL database: an attacker
held back by one `sef serve` is held back by the other, and one client trying many
addresses is held back whichever addresses and processes it tries."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
import sqlalchemy as sa

from .conftest import COORDINATOR, MANAGER, process_config
from .test_web_serve import _free_port

PASSWORD = "a-long-enough-password"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]*)"')


def _sign_in(client: httpx.Client, email: str, password: str) -> int:
    page = client.get("/login")
    match = CSRF_RE.search(page.text)
    assert match, "no csrf token on the sign-in page"
    r = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": match[1], "next": "/"},
    )
    return r.status_code


@pytest.fixture
def two_servers(pg_schema_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two `sef serve --no-worker` processes on one PostgreSQL schema, with a coordinator and
    a manager who have passwords; yields their base addresses."""
    env, sef = process_config(tmp_path)
    env |= {
        "SEF_DATABASE_URL": pg_schema_url,
        "SEF_WEB_LOGIN_ATTEMPTS": "4",
        "SEF_WEB_CLIENT_LOGIN_ATTEMPTS": "9",
        "SEF_WEB_SECRET_KEY": "shared-form-key",
    }
    subprocess.run([*sef, "db", "upgrade"], env=env, check=True, capture_output=True)
    for name, email, role in (
        ("Casey", COORDINATOR.id, "coordinator"),
        ("Morgan", MANAGER.id, "manager"),
    ):
        add = ["staff", "add", "--name", name, "--email", email, "--role", role]
        subprocess.run([*sef, *add], env=env, check=True, capture_output=True)
        set_it = ["staff", "password", email, "--password", PASSWORD]
        subprocess.run([*sef, *set_it], env=env, check=True, capture_output=True)
    ports = [_free_port(), _free_port()]
    logs = [(tmp_path / f"serve-{p}.log").open("w") for p in ports]
    procs = [
        subprocess.Popen(
            [*sef, "serve", "--no-worker", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for port, log in zip(ports, logs, strict=True)
    ]
    try:
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for base, proc in zip(bases, procs, strict=True):
            _wait_for(base, proc)
        yield bases[0], bases[1]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:  # pragma: no cover
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()


def _wait_for(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"sef serve on {base} stopped"
        try:
            if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"sef serve on {base} did not answer")


@pytest.mark.postgres
def test_an_attacker_held_back_by_one_process_is_held_back_by_the_other(
    two_servers: tuple[str, str], pg_schema_url: str
) -> None:
    first, second = two_servers
    with httpx.Client(base_url=first) as a, httpx.Client(base_url=second) as b:
        # four wrong passwords for one address, spread over both processes
        for client in (a, b, a, b):
            assert _sign_in(client, COORDINATOR.id, "not the password") == 401
        # the right password is now refused by both
        assert _sign_in(b, COORDINATOR.id, PASSWORD) == 429
        assert _sign_in(a, COORDINATOR.id, PASSWORD) == 429

        # the same client tries other addresses, one wrong password each, on both processes
        for n in range(5):
            client = (a, b)[n % 2]
            assert _sign_in(client, f"guess{n}@northshire.example", "not it") == 401
        # nine failures from this client: even an address never tried is held back
        assert _sign_in(a, MANAGER.id, PASSWORD) == 429
        assert _sign_in(b, MANAGER.id, PASSWORD) == 429

    engine = sa.create_engine(pg_schema_url)
    try:
        with engine.connect() as conn:
            counts = dict(
                conn.execute(sa.text("SELECT key, count(*) FROM login_attempt GROUP BY key")).all()
            )
    finally:
        engine.dispose()
    assert counts["client:127.0.0.1"] == 9
    assert counts[f"address:{COORDINATOR.id}"] == 4
    assert f"address:{MANAGER.id}" not in counts
