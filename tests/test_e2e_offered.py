"""Only what can succeed is offered, in a real headless Chromium (Debian ``chromium``,
driven by Playwright) against the real server on a temporary SQLite database.

A manager opens an action waiting for sign-off without evidence of impact: there is no
Sign off button but a line saying why, and "Ask the agency for evidence of impact" sends
the action back with that request (the agency is emailed). A coordinator sees the audit
meeting waiting on the agencies' returns, presses the red "Cancel the audit", reads what
will happen on the confirmation page (nothing has changed), is asked for a reason, and
cancels. Screenshots go to ``var/screenshots/offered/``.

Skipped when Chromium or Playwright is missing, except under ``CI`` or
``SEF_REQUIRE_BROWSER``, where that fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .test_e2e import (
    CHROMIUM,
    CHROMIUM_ARGS,
    COORDINATOR,
    LEADS,
    MANAGER,
    PASSWORD,
    _free_port,
    _require_browser,
    _unlabelled,
)

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "var" / "screenshots" / "offered"

pytestmark = pytest.mark.slow


@dataclass
class Site:
    base: str
    catcher_dir: Path
    config: Path
    audit: str
    plan: str
    action: int


def _seed(config: Path) -> tuple[str, str, int]:
    """The partnership; an audit whose returns are out with POL, CSC and ICB; an action of
    POL's marked complete without evidence of impact. Returns the audit's and the plan's
    references and the action's id."""
    from sef_workflow.app import build
    from sef_workflow.config import load_settings
    from sef_workflow.demo import agencies_csv
    from sef_workflow.directory import parse_agencies_csv
    from sef_workflow.service import Actor
    from sef_workflow.web.auth import set_password

    app = build(load_settings(config, environ={}))
    try:
        svc = app.service
        system = Actor.system()
        svc.import_agencies(system, parse_agencies_csv(agencies_csv(), "agencies"))
        for name, email, role in (
            ("Casey Coordinator", COORDINATOR, "coordinator"),
            ("Morgan Manager", MANAGER, "manager"),
        ):
            svc.add_staff(system, name, email, role)
            set_password(app.db, email, PASSWORD)
        coord = svc.resolve_actor(COORDINATOR)
        audit = svc.open_activity(
            coord, "themed_audit", "Neglect audit (fictional)", list(LEADS), {"theme": "Neglect"}
        ).activity.ref
        svc.fire(coord, audit, "sample_cases", {"sample_size": 4})
        svc.fire(coord, audit, "issue_audit_tools")
        plan = svc.open_activity(
            coord, "action_plan", "Neglect audit actions (fictional)", ["POL"]
        ).activity.ref
        (action,) = svc.add_task(
            coord,
            plan,
            "action",
            "POL",
            {
                "description": "Strategy discussions include health, audited monthly",
                "lead_name": "Police safeguarding lead (fictional)",
                "target_date": "2027-03-31",
            },
        ).created_tasks
        assert action.id is not None
        police = svc.resolve_actor(LEADS["POL"])
        svc.fire_task(
            police,
            action.id,
            "submit_completion",
            {"evidence_of_completion": "Health attended 9 of 10 discussions (fictional)"},
        )
        return audit, plan, action.id
    finally:
        app.db.dispose()


def _state(config: Path, ref: str, task_id: int | None = None) -> tuple[str, int]:
    """The state and version of the activity (or of its task) as the database has them."""
    from sef_workflow.app import build
    from sef_workflow.config import load_settings

    app = build(load_settings(config, environ={}))
    try:
        if task_id is not None:
            task = app.service.get_task(task_id)[0]
            return task.state, task.version
        activity = app.service.get_activity(ref)[0]
        return activity.state, activity.version
    finally:
        app.db.dispose()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    _require_browser()
    port = _free_port()
    config = tmp_path / "sef.toml"
    config.write_text(
        f'[partnership]\nbase_url = "http://127.0.0.1:{port}"\n'
        f'[database]\nurl = "sqlite:///{tmp_path / "e2e.db"}"\n'
        f'[workflows]\ndirectory = "{ROOT / "workflows"}"\ntemplates = "{ROOT / "notifications"}"\nforms = "{ROOT / "forms"}"\n'
        f"[scheduler]\nsweep_interval_seconds = 60\ndeliver_interval_seconds = 1\n"
        f'programme_file = "{tmp_path / "no-programme.toml"}"\n'
        f'[smtp]\nhost = ""\n'
        f'[mail]\ncatcher_dir = "{tmp_path / "mail"}"\ncatcher_port = 0\n'
        f'[web]\nport = {port}\nupload_dir = "{tmp_path / "uploads"}"\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEF_")}
    env["SEF_CONFIG"] = str(config)
    subprocess.run(
        [sys.executable, "-m", "sef_workflow.cli", "db", "upgrade"],
        env=env,
        check=True,
        capture_output=True,
    )
    audit, plan, action = _seed(config)
    code = (
        "from sef_workflow.app import build\n"
        "from sef_workflow.web.serve import serve\n"
        "app = build()\n"
        f"serve(app, port={port}, upload_dir=app.settings.upload_dir(), log_level='warning')\n"
    )
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/login", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(
                        "the server did not start:\n" + (tmp_path / "server.log").read_text()
                    )
                time.sleep(0.2)
        yield Site(base, tmp_path / "mail", config, audit, plan, action)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait()
        log.close()
    assert proc.returncode == 0, (tmp_path / "server.log").read_text()


def _shot(page: Any, step: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{step}.png"), full_page=True)


def _sign_in(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()


def _sent_back_email(catcher_dir: Path, address: str, ref: str, timeout: float = 20) -> str:
    """The subject of the email telling ``address`` that an action of ``ref`` was sent
    back for more, once the worker has delivered it to the mail catcher."""
    from sef_workflow.notify.catcher import list_messages

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for msg in list_messages(catcher_dir):
            if (
                address in msg.to
                and msg.subject.startswith(f"{ref}:")
                and "sent back" in msg.subject
            ):
                return msg.subject
        time.sleep(0.3)
    raise AssertionError(f"no email saying an action of {ref} was sent back reached {address}")


def _no_engine_text(page: Any) -> None:
    body = page.locator("body").inner_text()
    for bit in ("guard '", "refused:", "task_has:", "tasks_done:"):
        assert bit not in body, bit


def test_blocked_sign_off_asks_the_agency_and_cancel_needs_confirmation(site: Site) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            # ---------------------------------------------------------- the manager
            manager = browser.new_context().new_page()
            manager.set_default_timeout(15_000)
            _sign_in(manager, site.base, MANAGER)
            manager.goto(f"{site.base}/tasks/{site.action}")
            assert manager.locator("#form-sign_off").count() == 0  # not a button
            line = manager.locator("#blocked-sign_off")
            assert line.count() == 1
            said = " ".join(line.inner_text().split())
            assert said.startswith(
                "Sign off the action (owning subgroup): needs evidence of impact from the "
                "agency (POL)"
            ), said
            ask = manager.get_by_role("button", name="Ask the agency for evidence of impact")
            assert ask.count() == 1
            reason = manager.locator("#ask-send_back-reason")
            assert reason.input_value().startswith("Please add evidence of impact")
            assert _unlabelled(manager) == []
            _no_engine_text(manager)
            _shot(manager, "01-manager-sign-off-blocked")
            ask.click()
            manager.wait_for_load_state()
            assert _state(site.config, site.plan, site.action)[0] == "in_progress"
            assert manager.locator("#blocked-sign_off").count() == 0  # sent back: not theirs now
            _shot(manager, "02-manager-asked-the-agency")
            # the request is kept on the action's history, and the agency is emailed to
            # look (reasons stay in the application)
            history = manager.locator("body").inner_text()
            assert "Please add evidence of impact" in history
            assert _sent_back_email(site.catcher_dir, LEADS["POL"], site.plan)

            # ---------------------------------------------------------- the coordinator
            coordinator = browser.new_context().new_page()
            coordinator.set_default_timeout(15_000)
            _sign_in(coordinator, site.base, COORDINATOR)
            coordinator.goto(f"{site.base}/activities/{site.audit}")
            assert coordinator.locator("#form-convene_meeting").count() == 0
            waiting = " ".join(coordinator.locator("#blocked-convene_meeting").inner_text().split())
            assert waiting == (
                "Convene the audit meeting: waiting for 3 of 3 single-agency audit returns "
                "(CSC, ICB, POL)"
            )
            cancel = coordinator.get_by_role("link", name="Cancel the audit")
            assert "button-warning" in (cancel.get_attribute("class") or "")
            red = cancel.evaluate("el => getComputedStyle(el).backgroundColor")
            assert red == "rgb(212, 53, 28)", red
            _shot(coordinator, "03-coordinator-audit-waiting")
            before = _state(site.config, site.audit)
            cancel.click()
            coordinator.wait_for_load_state()
            assert coordinator.url.endswith(f"/activities/{site.audit}/confirm/cancel")
            heading = coordinator.locator("h1").inner_text()
            assert heading == "Are you sure you want to cancel the audit?"
            happens = " ".join(coordinator.locator("#what-happens").inner_text().split())
            assert (
                "The 3 open single-agency audit returns will be withdrawn and CSC, ICB and POL "
                "emailed." in happens
            )
            assert "This cannot be undone." in coordinator.locator("body").inner_text()
            assert _unlabelled(coordinator) == []
            _shot(coordinator, "04-coordinator-confirm-cancel")
            assert _state(site.config, site.audit) == before  # opening it changed nothing

            final = coordinator.locator("#form-confirm-cancel button[type=submit]")
            assert final.inner_text() == "Cancel the audit"
            final.click()  # no reason: asked for one, nothing changed
            coordinator.wait_for_load_state()
            assert "Enter a reason" in coordinator.locator(".error-summary").inner_text()
            assert _state(site.config, site.audit) == before
            _shot(coordinator, "05-coordinator-confirm-needs-a-reason")
            coordinator.locator("#t-cancel-reason").fill("Merged into the annual audit")
            coordinator.locator("#form-confirm-cancel button[type=submit]").click()
            coordinator.wait_for_load_state()
            assert coordinator.url.split("?")[0].endswith(f"/activities/{site.audit}")
            assert _state(site.config, site.audit)[0] == "cancelled"
            assert "Cancelled" in coordinator.locator(".summary").inner_text()
            _no_engine_text(coordinator)
            _shot(coordinator, "06-coordinator-audit-cancelled")
        finally:
            browser.close()
