"""End to end in a real headless Chromium (Debian ``chromium``, driven by Playwright).

The real server (``serve`` with its worker and the embedded mail catcher) runs in a
subprocess on a temporary SQLite database. A coordinator opens a themed audit for three
agencies in the browser and issues the audit tools; the worker delivers the requests to the
catcher; each agency's lead follows the sign-in link from their own email and uploads a
return; the coordinator accepts them and convenes the meeting; a manager sees an overdue
return (from an audit issued weeks ago) and downloads the CSV. Every page is screenshotted
under ``var/screenshots/``.

Skipped when Chromium or Playwright is missing, except under ``CI`` or
``SEF_REQUIRE_BROWSER``, where that fails.
"""

from __future__ import annotations

import csv
import io
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "var" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "e2e-fictional-pass"
COORDINATOR = "coordinator@northshire-scp.example"
MANAGER = "manager@northshire-scp.example"
LEADS = {
    "POL": "safeguarding@police.northshire.example",
    "CSC": "qa.lead@csc.northshire.example",
    "ICB": "designated.nurse@icb.northshire.example",
}

pytestmark = pytest.mark.slow


def _browser_problem() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -e '.[dev]')"
    return None


def _require_browser() -> None:
    problem = _browser_problem()
    if problem is None:
        return
    if os.environ.get("CI") or os.environ.get("SEF_REQUIRE_BROWSER"):
        pytest.fail(problem)
    pytest.skip(problem)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Site:
    base: str
    catcher_dir: Path
    env: dict[str, str]
    overdue_ref: str
    overdue_plan_ref: str


def _seed(config: Path) -> tuple[str, str]:
    """The partnership (agencies, staff, passwords), an audit issued eight weeks ago, so its
    return is overdue today, and an action plan whose action is past its target date;
    returns the two references."""
    from sef_workflow.app import build
    from sef_workflow.clock import FakeClock
    from sef_workflow.config import load_settings
    from sef_workflow.demo import agencies_csv
    from sef_workflow.directory import parse_agencies_csv
    from sef_workflow.service import Actor, Service
    from sef_workflow.web.auth import set_password

    app = build(load_settings(config, environ={}))
    try:
        system = Actor.system()
        app.service.import_agencies(system, parse_agencies_csv(agencies_csv(), "agencies"))
        for name, email, role in (
            ("Casey Coordinator", COORDINATOR, "coordinator"),
            ("Morgan Manager", MANAGER, "manager"),
        ):
            app.service.add_staff(system, name, email, role)
            set_password(app.db, email, PASSWORD)
        past = FakeClock(app.service.clock.now() - timedelta(days=56))
        svc = Service(app.db, app.registry, app.calendar, past, app.notifier)
        coord = svc.resolve_actor(COORDINATOR)
        ref = svc.open_activity(
            coord,
            "themed_audit",
            "Missing episodes audit (fictional)",
            ["HOSP"],
            {"theme": "Missing"},
        ).activity.ref
        svc.fire(coord, ref, "sample_cases", {"sample_size": 4})
        svc.fire(coord, ref, "issue_audit_tools")
        plan = svc.open_activity(
            coord, "action_plan", "Missing episodes actions (fictional)", ["HOSP"]
        ).activity.ref
        target = app.calendar.local_date(app.service.clock.now()) - timedelta(days=14)
        svc.add_task(
            coord,
            plan,
            "action",
            "HOSP",
            {
                "description": "Return interviews offered within 72 hours, audited monthly",
                "lead_name": "Named nurse (fictional)",
                "target_date": target.isoformat(),
            },
        )
        return ref, plan
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
        f'programme_file = "{tmp_path / "no-programme.toml"}"\n'  # nothing opens by itself
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
    overdue_ref, overdue_plan_ref = _seed(config)
    # the served app sends agencies sign-in links (Notifier(sign_in_links=True))
    code = (
        "from sef_workflow.app import build\n"
        "from sef_workflow.web.serve import serve\n"
        "app = build()\n"
        "app.notifier.sign_in_links = True\n"
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
        yield Site(base, tmp_path / "mail", env, overdue_ref, overdue_plan_ref)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait()
        log.close()
    assert proc.returncode == 0, (tmp_path / "server.log").read_text()


# ----------------------------------------------------------------------------- helpers


def _shot(page: Any, step: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{step}.png"), full_page=True)


def _unlabelled(page: Any) -> list[str]:
    """Inputs a person cannot identify: every visible field needs a label."""
    found: list[str] = page.evaluate(
        """() => Array.from(document.querySelectorAll('input, select, textarea'))
            .filter(el => el.type !== 'hidden')
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
            .map(el => el.outerHTML)"""
    )
    return found


def _check_page(page: Any, heading: str) -> None:
    assert page.locator("h1").first.inner_text().strip().startswith(heading), page.content()
    assert _unlabelled(page) == []
    assert page.locator("html").get_attribute("lang")


def _sign_in(page: Any, base: str, email: str, step: str) -> None:
    page.goto(f"{base}/login")
    _check_page(page, "Sign in")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()
    _shot(page, step)


def _email_to(site: Site, address: str, ref: str, timeout: float = 20) -> str:
    """The text body of the request for ``ref`` delivered to ``address``."""
    from sef_workflow.notify.catcher import list_messages, read_message

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for msg in list_messages(site.catcher_dir):
            if address in msg.to and msg.subject.startswith(f"{ref}:"):
                full = read_message(site.catcher_dir, msg.file.name)
                body = full.get_body(preferencelist=("plain",))
                assert body is not None
                text: str = body.get_content()
                return text
        time.sleep(0.3)
    raise AssertionError(f"no email for {ref} reached {address}")


def _fire(page: Any, trigger: str, fields: dict[str, str] | None = None) -> None:
    form = page.locator(f"#form-{trigger}")
    for selector, value in (fields or {}).items():
        form.locator(selector).fill(value)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()


def _agency_returns(
    browser: Any, site: Site, code: str, ref: str, upload: Path, shots: bool
) -> None:
    """The agency's lead follows the link in their email and submits a return with a file."""
    text = _email_to(site, LEADS[code], ref)
    found = re.search(r"(http://127\.0\.0\.1:\d+/login/link/[A-Za-z0-9_-]+(?:\?next=\S+)?)", text)
    assert found is not None, text
    link = found.group(1)
    assert "/activities/" not in text  # the staff page is no use to an agency
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{site.base}/portal")  # not signed in yet: sent to the sign-in page
        assert "/login" in page.url
        page.goto(link)
        _check_page(page, "Continue to sign in")  # opening the link changes nothing
        page.get_by_role("button", name="Continue").click()
        page.wait_for_load_state()
        assert re.search(r"/tasks/\d+$", page.url), page.url  # lands on its own task
        _check_page(page, "Single-agency audit return")
        if shots:
            _shot(page, f"04-{code.lower()}-task-from-email-link")
        page.goto(f"{site.base}/portal")
        _check_page(page, "Your open requests")
        rows = page.locator("table.table tbody tr")
        assert rows.count() == 1, [rows.nth(i).inner_text() for i in range(rows.count())]
        assert ref in rows.first.inner_text()
        assert site.overdue_ref not in page.content()
        if shots:
            _shot(page, f"05-{code.lower()}-portal")
        rows.first.locator("a").click()
        page.wait_for_load_state()
        task_url = page.url
        # the audit tool itself: a rating and evidence for every question, saved part-way
        page.get_by_role("link", name="Complete the assessment").click()
        page.wait_for_load_state()
        _check_page(page, "Single-agency audit tool")
        for radio in page.locator("input[type=radio][value=good]").all():
            radio.check()
        for box in page.locator("textarea[name^=evidence-]").all():
            box.fill("Practice seen in the sampled case files (fictional).")
        if shots:
            _shot(page, f"05b-{code.lower()}-audit-tool")
        page.locator("button[name=action][value=save]").click()
        page.wait_for_load_state()
        assert "Saved" in page.locator("body").inner_text()
        page.goto(task_url)
        form = page.locator("#form-submit")
        form.locator("#t-submit-in_summary").fill("Audit tool completed for 3 cases (fictional).")
        form.locator("#t-submit-upload").set_input_files(str(upload))
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()
        _check_page(page, "Single-agency audit return")
        assert upload.name in page.locator("body").inner_text()  # listed under Files
        assert page.locator("#form-submit").count() == 0  # submitted: nothing more to submit
        if shots:
            _shot(page, f"06-{code.lower()}-return-submitted")
        page.goto(link)  # the link worked once
        assert "cannot be used" in page.locator("body").inner_text()
        if shots:
            _shot(page, f"07-{code.lower()}-link-reused")
    finally:
        context.close()


# ----------------------------------------------------------------------------- the journey


def test_audit_from_opening_to_meeting_and_overdue_export(site: Site, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    for old in SHOTS.glob("*.png"):
        old.unlink()
    upload = tmp_path / "police-audit-return.txt"
    upload.write_text("Fictional audit tool answers: no real case details.\n", encoding="utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )  # Playwright gives each launch a fresh, temporary user-data-dir
        try:
            coordinator = browser.new_context().new_page()
            coordinator.set_default_timeout(15_000)

            # a bad sign-in keeps the email and says what to fix
            coordinator.goto(f"{site.base}/login")
            coordinator.fill("#email", COORDINATOR)
            coordinator.click("form[action='/login'] button[type=submit]")
            summary = coordinator.locator(".error-summary")
            assert summary.count() == 1
            assert "There is a problem" in summary.inner_text()
            assert coordinator.input_value("#email") == COORDINATOR
            _shot(coordinator, "00-login-error")

            _sign_in(coordinator, site.base, COORDINATOR, "01-coordinator-dashboard")
            _check_page(coordinator, "Dashboard")

            # open a themed audit: first without agencies (refused, with an error summary)
            coordinator.goto(f"{site.base}/activities/new")
            _check_page(coordinator, "Open an activity")
            coordinator.select_option("#workflow", "themed_audit")
            coordinator.click("form[action='/activities/new'] button[type=submit]")
            coordinator.wait_for_load_state()
            coordinator.fill("#title", "Domestic abuse themed audit (fictional)")
            coordinator.fill("#in_theme", "Domestic abuse")
            coordinator.click("form[action='/activities/new'] button[type=submit]")
            coordinator.wait_for_load_state()
            summary = coordinator.locator(".error-summary")
            assert "Choose at least one agency" in summary.inner_text()
            assert coordinator.input_value("#title") == "Domestic abuse themed audit (fictional)"
            _check_page(coordinator, "Open an activity")
            _shot(coordinator, "02-open-activity-error")
            for code in LEADS:
                coordinator.check(f"#agency-{code}")
            coordinator.click("form[action='/activities/new'] button[type=submit]")
            coordinator.wait_for_load_state()
            found = re.search(r"/activities/([A-Z]+-\d{4}-\d{3})(?:\?|$)", coordinator.url)
            assert found is not None, coordinator.url
            ref = found.group(1)
            _check_page(coordinator, f"{ref}: Domestic abuse themed audit")

            _fire(coordinator, "sample_cases", {"#t-sample_cases-in_sample_size": "6"})
            _fire(coordinator, "issue_audit_tools")
            _check_page(coordinator, ref)
            assert coordinator.locator("[aria-current=step]").count() == 1
            tasks = coordinator.locator("table.table tbody tr")
            assert tasks.count() == 3
            _shot(coordinator, "03-activity-tools-issued")

            # each lead follows the link in their own email and uploads a return
            for i, code in enumerate(LEADS):
                _agency_returns(browser, site, code, ref, upload, shots=i == 0)

            # the coordinator accepts the three returns and convenes the meeting
            coordinator.goto(f"{site.base}/activities/{ref}")
            links = coordinator.locator("table.table tbody tr a")
            every = [links.nth(i).get_attribute("href") or "" for i in range(links.count())]
            hrefs = [h for h in every if re.fullmatch(r"/tasks/\d+", h)][:3]
            assert len(hrefs) == 3, every
            for n, href in enumerate(hrefs):
                coordinator.goto(f"{site.base}{href}")
                _check_page(coordinator, "Single-agency audit return")
                assert upload.name in coordinator.locator("body").inner_text()
                if n == 0:
                    _shot(coordinator, "08-coordinator-sees-return")
                _fire(coordinator, "accept")
                assert coordinator.locator("#form-accept").count() == 0
            coordinator.goto(f"{site.base}/activities/{ref}")
            meeting = (datetime.now() + timedelta(days=21)).date()
            box = "#t-convene_meeting-in_meeting_date"  # a date as day, month and year
            _fire(
                coordinator,
                "convene_meeting",
                {
                    box: str(meeting.day),
                    f"{box}-month": str(meeting.month),
                    f"{box}-year": str(meeting.year),
                },
            )
            _check_page(coordinator, ref)
            current = coordinator.locator("[aria-current=step]").inner_text()
            assert "(current state)" in current
            assert "Awaiting returns" not in current
            assert coordinator.locator("#form-convene_meeting").count() == 0
            assert coordinator.locator("#form-record_judgements").count() == 1
            _shot(coordinator, "09-activity-meeting-convened")

            # a manager sees the overdue return and exports it
            manager = browser.new_context(accept_downloads=True).new_page()
            manager.set_default_timeout(15_000)
            _sign_in(manager, site.base, MANAGER, "10-manager-dashboard")
            manager.goto(f"{site.base}/manager/overdue")
            _check_page(manager, "Overdue and due soon")
            body = manager.locator("body").inner_text()
            assert site.overdue_ref in body
            assert site.overdue_plan_ref in body  # the overdue action
            assert ref not in body  # all of that audit's returns are accepted
            _shot(manager, "11-manager-overdue")
            with manager.expect_download() as info:
                manager.click("text=Download as CSV")
            download = info.value
            assert download.suggested_filename == "overdue.csv"
            saved = tmp_path / "overdue.csv"
            download.save_as(str(saved))
            rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
            assert len(rows) >= 2
            overdue = [r for r in rows[1:] if any(site.overdue_ref in cell for cell in r)]
            assert len(overdue) == 1
            actions = [r for r in rows[1:] if any(site.overdue_plan_ref in cell for cell in r)]
            assert len(actions) == 1  # the overdue action is exported too
            assert any("HOSP" in cell or "Hospitals" in cell for cell in overdue[0])
            assert not any(ref in cell for r in rows[1:] for cell in r)
        finally:
            browser.close()
    written = sorted(p.name for p in SHOTS.glob("*.png"))
    assert len(written) == 13, written
