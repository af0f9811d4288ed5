"""End to end in a real headless Chromium: a Section 11 self-assessment, moderated, fed back
and carried into the next cycle.

The real server (``serve`` with its worker and the embedded mail catcher) runs in a
subprocess on a temporary SQLite database. The coordinator opens a Section 11 cycle in the
browser and issues the tool; the police lead follows the sign-in link from their email,
answers part of the form, saves, comes back, tries to submit (the error summary names every
missing question), completes and submits. The coordinator accepts the return, moderates one
answer down with a reason, agrees the rest and finishes moderation; the lead sees the
feedback. In the next cycle the lead's form starts from those answers and is refused until
each carried-forward answer is confirmed. Every step is screenshotted under
``var/screenshots/assessments/``.

Skipped when Chromium or Playwright is missing, except under ``CI`` or
``SEF_REQUIRE_BROWSER``, where that fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from .test_e2e import (
    CHROMIUM,
    CHROMIUM_ARGS,
    COORDINATOR,
    PASSWORD,
    _free_port,
    _require_browser,
    _unlabelled,
)

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "var" / "screenshots" / "assessments"
POLICE_LEAD = "safeguarding@police.northshire.example"
EVIDENCE = "Safeguarding board minutes and the annual report (fictional)."
REASON = "The minutes offered do not show safeguarding at board level (fictional)."

pytestmark = pytest.mark.slow


@dataclass
class Site:
    base: str
    catcher_dir: Path


def _seed(config: Path) -> None:
    """The partnership's agencies and a coordinator with a password."""
    from sef_workflow.app import build
    from sef_workflow.config import load_settings
    from sef_workflow.demo import agencies_csv
    from sef_workflow.directory import parse_agencies_csv
    from sef_workflow.service import Actor
    from sef_workflow.web.auth import set_password

    app = build(load_settings(config, environ={}))
    try:
        system = Actor.system()
        app.service.import_agencies(system, parse_agencies_csv(agencies_csv(), "agencies"))
        app.service.add_staff(system, "Casey Coordinator", COORDINATOR, "coordinator")
        set_password(app.db, COORDINATOR, PASSWORD)
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
    _seed(config)
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
        yield Site(base, tmp_path / "mail")
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


def _check_page(page: Any, heading: str) -> None:
    assert page.locator("h1").first.inner_text().strip().startswith(heading), page.content()
    assert _unlabelled(page) == []


def _sign_in_link(site: Site, address: str, ref: str, timeout: float = 20) -> str:
    """The sign-in link in the request for ``ref`` delivered to ``address``."""
    from sef_workflow.notify.catcher import list_messages, read_message

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for msg in list_messages(site.catcher_dir):
            if address in msg.to and msg.subject.startswith(f"{ref}:"):
                body = read_message(site.catcher_dir, msg.file.name).get_body(
                    preferencelist=("plain",)
                )
                assert body is not None
                text: str = body.get_content()
                found = re.search(r"(http://127\.0\.0\.1:\d+/login/link/\S+)", text)
                assert found is not None, text
                return found.group(1)
        time.sleep(0.3)
    raise AssertionError(f"no email for {ref} reached {address}")


def _by_id(page: Any, element_id: str) -> Any:
    """An element by id (question numbers hold dots, which CSS selectors would misread)."""
    return page.locator(f"[id='{element_id}']")


def _questions(page: Any) -> list[str]:
    numbers: list[str] = page.evaluate(
        """() => Array.from(document.querySelectorAll('div.question[id^="q-"]'))
            .map(el => el.id.slice(2))"""
    )
    return numbers


def _answer(page: Any, number: str, rating: str, evidence: str = EVIDENCE) -> None:
    _by_id(page, f"rating-{number}-{rating}").check()
    box = _by_id(page, f"evidence-{number}")
    if box.count():
        box.fill(evidence)


def _open_cycle(page: Any, site: Site, title: str, cycle: str) -> str:
    """The coordinator opens a Section 11 cycle for the police and issues the tool."""
    page.goto(f"{site.base}/activities/new?workflow=section11")
    _check_page(page, "Open an activity")
    page.fill("#title", title)
    page.check("#agency-POL")
    page.fill("#in_cycle", cycle)
    page.click("form[action='/activities/new'] button[type=submit]:not([value=preview])")
    page.wait_for_load_state()
    found = re.search(r"/activities/(S11-\d{4}-\d{3})(?:\?|$)", page.url)
    assert found is not None, page.url
    ref = found.group(1)
    form = page.locator("#form-issue_tool")
    returns = date.today() + timedelta(days=42)  # a date as day, month and year
    form.locator("#t-issue_tool-in_return_date").fill(str(returns.day))
    form.locator("#t-issue_tool-in_return_date-month").fill(str(returns.month))
    form.locator("#t-issue_tool-in_return_date-year").fill(str(returns.year))
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    _check_page(page, ref)
    return ref


def _fire(page: Any, trigger: str, fields: dict[str, str] | None = None) -> None:
    form = page.locator(f"#form-{trigger}")
    for selector, value in (fields or {}).items():
        form.locator(selector).fill(value)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()


# ----------------------------------------------------------------------------- the journey


def test_section11_return_moderation_feedback_and_next_cycle(site: Site) -> None:
    from playwright.sync_api import sync_playwright

    from sef_workflow.forms import FormRegistry

    for old in SHOTS.glob("*.png"):
        old.unlink()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            coordinator = browser.new_context().new_page()
            coordinator.set_default_timeout(15_000)
            coordinator.goto(f"{site.base}/login")
            coordinator.fill("#email", COORDINATOR)
            coordinator.fill("#password", PASSWORD)
            coordinator.click("form[action='/login'] button[type=submit]")
            coordinator.wait_for_load_state()
            assert "/login" not in coordinator.url
            ref = _open_cycle(coordinator, site, "Section 11 cycle 2026-28 (fictional)", "2026-28")
            _shot(coordinator, "01-cycle-issued")

            # the police lead follows the link in their email to the request
            lead_context = browser.new_context()
            lead = lead_context.new_page()
            lead.set_default_timeout(15_000)
            lead.goto(_sign_in_link(site, POLICE_LEAD, ref))
            lead.get_by_role("button", name="Continue").click()  # the link's confirmation
            lead.wait_for_load_state()
            assert re.search(r"/tasks/\d+$", lead.url), lead.url
            task_url = lead.url
            _check_page(lead, "Section 11 self-assessment")
            lead.click("text=Complete the assessment")
            lead.wait_for_load_state()
            assert lead.url == f"{task_url}/assessment"
            _check_page(lead, "Section 11 organisational safeguarding assessment")
            numbers = _questions(lead)
            form = FormRegistry(ROOT / "forms").get("section11")
            assert numbers == [q.number for q in form.questions()]
            required = int(lead.locator("#to-complete").inner_text())
            assert required == sum(1 for q in form.questions() if q.required)
            # guidance and every level's written definition are on the page
            assert lead.locator("details.details").count() >= len(numbers)
            assert "Not met. There are no arrangements" in lead.locator("body").inner_text()
            _shot(lead, "02-form-empty")

            # part of the form, saved; away to the portal and back
            for n in numbers[:3]:
                _answer(lead, n, "2")
            lead.click("button[value=save]")
            lead.wait_for_load_state()
            assert "Your answers have been saved" in lead.locator(".notice").inner_text()
            assert int(lead.locator("#to-complete").inner_text()) == required - 3
            _shot(lead, "03-form-saved")
            lead.goto(f"{site.base}/portal")
            _check_page(lead, "Your open requests")
            lead.click("text=Complete the assessment")
            lead.wait_for_load_state()
            for n in numbers[:3]:
                assert _by_id(lead, f"rating-{n}-2").is_checked()
                assert _by_id(lead, f"evidence-{n}").input_value() == EVIDENCE
            assert not _by_id(lead, f"rating-{numbers[3]}-2").is_checked()

            # submitting part-way is refused: every missing question is named
            _answer(lead, numbers[3], "1", "Typed before submitting (fictional).")
            lead.click("button[value=submit]")
            lead.wait_for_load_state()
            summary = lead.locator(".error-summary")
            assert summary.count() == 1
            listed = summary.locator("li a")
            summary_text = summary.inner_text()
            missing = [q.number for q in form.questions()[4:] if q.required]
            assert listed.count() == len(missing) == required - 4
            for n in missing:
                assert f"Question {n}: choose a rating" in summary_text
            assert listed.first.get_attribute("href") == f"#q-{numbers[4]}"
            assert _by_id(lead, f"rating-{numbers[3]}-1").is_checked()  # typed, kept
            assert (
                _by_id(lead, f"evidence-{numbers[3]}").input_value()
                == "Typed before submitting (fictional)."
            )
            _check_page(lead, "Section 11 organisational safeguarding assessment")
            _shot(lead, "04-submit-refused")
            listed.first.click()  # the link takes the lead to the question
            assert lead.url.endswith(f"#q-{numbers[4]}")

            # completed and submitted
            for n in numbers[4:]:
                _answer(lead, n, "2")
            lead.click("button[value=submit]")
            lead.wait_for_load_state()
            assert "has been submitted" in lead.locator(".notice").inner_text()
            assert lead.locator("input[type=radio]").count() == 0
            _shot(lead, "05-submitted")

            # the coordinator accepts the return and starts moderation
            coordinator.goto(f"{site.base}/activities/{ref}")
            coordinator.locator("table.table tbody tr a").first.click()
            coordinator.wait_for_load_state()
            _check_page(coordinator, "Section 11 self-assessment")
            _fire(coordinator, "accept")
            coordinator.goto(f"{site.base}/activities/{ref}")
            _fire(coordinator, "start_moderation")
            _check_page(coordinator, ref)
            coordinator.click("a:has-text('Moderate')")
            coordinator.wait_for_load_state()
            assert "/assessments/" in coordinator.url
            assert coordinator.url.endswith("/moderate")
            _check_page(coordinator, "Moderate: Northshire Constabulary")
            first = numbers[0]
            # down a level without a reason: refused, with the question named
            _by_id(coordinator, f"moderated-{first}").select_option("0")
            coordinator.click("button[value=save]")
            coordinator.wait_for_load_state()
            assert f"Question {first}" in coordinator.locator(".error-summary").inner_text()
            assert _by_id(coordinator, f"moderated-{first}").input_value() == "0"
            _shot(coordinator, "06-moderation-needs-reason")
            _by_id(coordinator, f"reason-{first}").fill(REASON)
            coordinator.click("button[value=agree_rest]")
            coordinator.wait_for_load_state()
            assert "saved" in coordinator.locator(".notice").inner_text()
            assert coordinator.locator("#moderated-count").inner_text() == str(len(numbers))
            _shot(coordinator, "07-moderated")
            _fire(
                coordinator,
                "finish_moderation",
                {
                    "#t-finish_moderation-in_moderation_summary": "Good arrangements overall (fictional)."
                },
            )
            assert "Moderated" in coordinator.locator("dl.summary").inner_text()
            coordinator.goto(f"{site.base}/activities/{ref}/challenge")
            _check_page(coordinator, "Challenge event list")
            assert REASON in coordinator.locator("table").inner_text()
            _shot(coordinator, "08-challenge-list")

            # the lead sees the feedback: self rating, moderated rating and reason
            lead.goto(f"{site.base}/portal")
            lead.click("text=Feedback available")
            lead.wait_for_load_state()
            feedback = lead.locator("#feedback")
            assert feedback.count() == 1
            body = lead.locator("main").inner_text()
            assert REASON in body
            assert "Good arrangements overall (fictional)." in body
            row = _by_id(lead, f"q-{first}").inner_text()
            assert "2 – Met" in row
            assert "0 – Not met" in row
            _check_page(lead, "Section 11 organisational safeguarding assessment")
            _shot(lead, "09-agency-feedback")

            # the next cycle starts from these answers; each must be confirmed
            next_ref = _open_cycle(
                coordinator, site, "Section 11 cycle 2028-30 (fictional)", "2028-30"
            )
            lead.goto(f"{site.base}/portal")
            lead.locator(".assessment-list li", has_text=next_ref).locator(
                "text=Complete the assessment"
            ).click()
            lead.wait_for_load_state()
            badges = lead.locator(".badge-carried")
            assert badges.count() == len(numbers)
            assert f"Carried forward from {ref}" in badges.first.inner_text()
            assert int(lead.locator("#to-review").inner_text()) == len(numbers)
            assert _by_id(lead, f"rating-{first}-2").is_checked()
            _shot(lead, "10-next-cycle-carried-forward")
            lead.click("button[value=submit]")
            lead.wait_for_load_state()
            summary_text = lead.locator(".error-summary").inner_text()
            assert "carried forward from the last cycle" in summary_text
            assert lead.locator(".error-summary li").count() == len(numbers)
            _shot(lead, "11-next-cycle-refused")
            for n in numbers:
                _by_id(lead, f"reviewed-{n}").check()
            lead.click("button[value=submit]")
            lead.wait_for_load_state()
            assert "has been submitted" in lead.locator(".notice").inner_text()
            _shot(lead, "12-next-cycle-submitted")
            lead_context.close()
        finally:
            browser.close()
    written = sorted(p.name for p in SHOTS.glob("*.png"))
    assert len(written) == 12, written
