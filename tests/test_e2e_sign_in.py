"""Signing in from an emailed link in a real headless Chromium, against the real server
(``serve`` with its worker and the embedded mail catcher standing in for the recipients'
mailboxes), as in :mod:`tests.test_e2e`.

A mail scanner fetches the lead's link first (GET and HEAD, with a plain HTTP client); the
lead then opens it, sees what it leads to, presses Continue and reaches the task. The deputy
follows their own link and submits the return; the activity's timeline names the deputy.
The spent link offers "Email me a new sign-in link", which emails a new one. The
confirmation page fits a 390 px wide screen.

Skipped when Chromium or Playwright is missing, except under ``CI`` or
``SEF_REQUIRE_BROWSER``, where that fails.
"""

from __future__ import annotations

import re
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from . import test_e2e
from .test_e2e import (
    CHROMIUM,
    CHROMIUM_ARGS,
    COORDINATOR,
    LEADS,
    Site,
    _check_page,
    _email_to,
    _shot,
    _sign_in,
)

pytestmark = pytest.mark.slow
#: the served partnership of tests/test_e2e.py (skipped or failed there without a browser)
site = test_e2e.site

DEPUTY = "safeguarding.deputy@police.northshire.example"
LINK_RE = re.compile(r"http://127\.0\.0\.1:\d+/login/link/[A-Za-z0-9_-]+")


def _open_request(site: Site) -> str:
    """A data request issued to the police (lead and deputy); its reference."""
    from sef_workflow.app import build
    from sef_workflow.config import load_settings

    app = build(load_settings(site.env["SEF_CONFIG"], environ={}))
    try:
        coord = app.service.resolve_actor(COORDINATOR)
        ref = app.service.open_activity(
            coord,
            "agency_request",
            "Quarterly indicators (fictional data)",
            ["POL"],
            {"request_type": "quarterly_system_indicators", "period": "Q3"},
        ).activity.ref
        due = app.calendar.local_date(app.service.clock.now()) + timedelta(days=28)
        app.service.fire(coord, ref, "issue_request", {"due_date": due.isoformat()})
        return ref
    finally:
        app.db.dispose()


def _link_in(text: str) -> str:
    found = LINK_RE.search(text)
    assert found is not None, text
    return found.group(0)


def _new_link_to(site: Site, address: str, known: set[str], timeout: float = 20) -> str:
    """A sign-in link, not one of ``known``, in any message the catcher got for ``address``."""
    from sef_workflow.notify.catcher import list_messages, read_message

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for msg in list_messages(site.catcher_dir):
            if address in msg.to:
                body = read_message(site.catcher_dir, msg.file.name).get_body(
                    preferencelist=("plain",)
                )
                assert body is not None
                for link in LINK_RE.findall(body.get_content()):
                    if link not in known:
                        return str(link)
        time.sleep(0.3)
    raise AssertionError(f"no new sign-in link reached {address}")


def _scan(url: str) -> None:
    """What a mail-security scanner does before the person clicks: fetch the link."""
    for method in ("HEAD", "GET", "GET"):
        request = urllib.request.Request(url, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200


def _fits(page: Any, width: int) -> None:
    scroll: int = page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll <= width, f"the page scrolls sideways: {scroll} px wide at {width} px"


def test_links_survive_scanners_and_each_contact_acts_as_themselves(
    site: Site, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    ref = _open_request(site)
    lead_link = _link_in(_email_to(site, LEADS["POL"], ref))
    deputy_link = _link_in(_email_to(site, DEPUTY, ref))
    assert lead_link != deputy_link
    _scan(lead_link)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # the lead, on a phone: the confirmation page, then the task
            phone = browser.new_context(viewport={"width": 390, "height": 844})
            lead = phone.new_page()
            lead.set_default_timeout(15_000)
            lead.goto(lead_link)
            _check_page(lead, "Continue to sign in")
            text = lead.locator("main").inner_text()
            assert "Northshire Constabulary (fictional)" in text
            assert ref in text
            _fits(lead, 390)
            _shot(lead, "sign-in-01-confirm-390px")
            lead.get_by_role("button", name="Continue").click()
            lead.wait_for_load_state()
            assert re.search(r"/tasks/\d+$", lead.url), lead.url
            task_url = lead.url
            lead.goto(f"{site.base}/api/me")
            assert LEADS["POL"] in lead.locator("body").inner_text()

            # the deputy follows their own link and submits the return
            deputy = browser.new_context().new_page()
            deputy.set_default_timeout(15_000)
            deputy.goto(deputy_link)
            deputy.get_by_role("button", name="Continue").click()
            deputy.wait_for_load_state()
            assert deputy.url == task_url
            form = deputy.locator("#form-submit")
            form.locator("#t-submit-in_summary").fill("Indicators attached (fictional).")
            form.locator("button[type=submit]").click()
            deputy.wait_for_load_state()
            assert deputy.locator("#form-submit").count() == 0

            coordinator = browser.new_context().new_page()
            coordinator.set_default_timeout(15_000)
            _sign_in(coordinator, site.base, COORDINATOR, "sign-in-02-coordinator")
            coordinator.goto(f"{site.base}/activities/{ref}")
            timeline = coordinator.locator(".timeline").inner_text()
            # the deputy by name, not the lead: each contact acts as themselves
            assert "Blake Deputy of Northshire Constabulary (fictional) on “" in timeline, timeline
            _shot(coordinator, "sign-in-03-timeline-names-the-deputy")

            # the spent link says so and emails a new one in place
            again = browser.new_context().new_page()
            again.set_default_timeout(15_000)
            again.goto(lead_link)
            _check_page(again, "This sign-in link cannot be used")
            assert again.locator("#email").input_value() == LEADS["POL"]
            _shot(again, "sign-in-04-used-link")
            again.get_by_role("button", name="Email me a new sign-in link").click()
            again.wait_for_load_state()
            _check_page(again, "Check your email")
            fresh = _new_link_to(site, LEADS["POL"], {lead_link})
            again.goto(fresh)
            again.get_by_role("button", name="Continue").click()
            again.wait_for_load_state()
            assert re.search(r"/tasks/\d+$", again.url), again.url
        finally:
            browser.close()
