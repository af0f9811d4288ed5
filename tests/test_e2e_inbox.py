"""End to end in a real headless Chromium: "Waiting on you" fills and empties as the other
side acts, and requests for more time are agreed (on a changed date) and declined from it.

The real server (``serve`` with its worker and the embedded mail catcher, the fixture of
``test_e2e``) runs in a subprocess on a temporary SQLite database. A themed audit is issued
to three agencies; two of them ask for more time. The police lead signs in with a link and
submits the return from the portal's list; the coordinator's list then shows the return to
review, the coordinator takes it, accepts it and it leaves the list; one request for more
time is agreed on another date and the other declined with a reason, from the list. A
manager's home lists the new target date an agency asked for, until it is approved. Each
role's home is screenshotted under ``var/screenshots/inbox/``.

Skipped when Chromium or Playwright is missing, except under ``CI`` or
``SEF_REQUIRE_BROWSER``, where that fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from .conftest import answer_form
from .test_e2e import (
    CHROMIUM,
    CHROMIUM_ARGS,
    COORDINATOR,
    LEADS,
    MANAGER,
    Site,
    _check_page,
    _sign_in,
    site,
)

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "var" / "screenshots" / "inbox"

pytestmark = pytest.mark.slow

__all__ = ["site"]  # the served partnership of test_e2e, as a fixture here too


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def app(site: Site) -> Iterator[Any]:
    """The application on the served database, to set the scene and look at the results."""
    from sef_workflow.app import build
    from sef_workflow.config import load_settings

    built = build(load_settings(Path(site.env["SEF_CONFIG"]), environ={}))
    try:
        yield built
    finally:
        built.db.dispose()


def _item(page: Any, kind: str, task_id: int) -> Any:
    return page.locator(f"#item-{kind}-{task_id}")


def _body(page: Any) -> str:
    text: str = page.locator("body").inner_text()
    return text


def test_waiting_on_you_fills_empties_and_decides_more_time(site: Site, app: Any) -> None:
    from playwright.sync_api import sync_playwright

    from sef_workflow.web.auth import create_login_link

    svc = app.service
    cal = app.calendar
    coordinator = svc.resolve_actor(COORDINATOR)
    ref = svc.open_activity(
        coordinator, "themed_audit", "Neglect themed audit (fictional)", list(LEADS), {"theme": "N"}
    ).activity.ref
    svc.fire(coordinator, ref, "sample_cases", {"sample_size": 4})
    out = svc.fire(coordinator, ref, "issue_audit_tools")
    codes = {a.id: a.code for a in svc.list_agencies()}
    tasks: dict[str, int] = {codes[t.agency_id]: t.id for t in out.created_tasks}
    due: date = out.created_tasks[0].due_on
    police = svc.resolve_actor(LEADS["POL"])
    answer_form(svc, police, tasks["POL"])  # the audit tool filled in, not yet submitted
    asked = cal.add_working_days(due, 10)
    for code in ("ICB", "CSC"):
        svc.fire_task(
            svc.resolve_actor(LEADS[code]),
            tasks[code],
            "request_extension",
            {"requested_date": asked.isoformat()},
            reason="Staff away (fictional)",
        )

    # the hospital asks the subgroup for a new target date for its overdue action
    _plan, _wf, _agencies, plan_tasks = svc.get_activity(site.overdue_plan_ref)
    [action] = plan_tasks
    hospital = next(a for a in svc.list_agencies() if a.code == "HOSP")
    target = cal.add_working_days(cal.local_date(svc.clock.now()), 20)
    svc.fire_task(
        svc.resolve_actor(hospital.lead_email),
        action.id,
        "request_reprogramme",
        {"new_target_date": target.isoformat()},
        reason="Waiting for the new case system (fictional)",
    )

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            home = browser.new_context().new_page()
            home.set_default_timeout(15_000)
            _sign_in(home, site.base, COORDINATOR, "inbox/00-coordinator-dashboard")
            _check_page(home, "Dashboard")
            assert _item(home, "more_time", tasks["ICB"]).count() == 1
            assert _item(home, "more_time", tasks["CSC"]).count() == 1
            assert _item(home, "review", tasks["POL"]).count() == 0  # nothing returned yet

            # the police lead answers from the portal's list
            agency = browser.new_context().new_page()
            agency.set_default_timeout(15_000)
            token = create_login_link(app.db, LEADS["POL"], svc.clock.now(), service=svc)
            agency.goto(f"{site.base}/login/link/{token}")
            agency.get_by_role("button", name="Continue").click()
            agency.wait_for_load_state()
            agency.goto(f"{site.base}/portal")
            _check_page(agency, "Your open requests")
            mine = _item(agency, "answer", tasks["POL"])
            assert "Submit the audit return" in mine.inner_text()
            _shot(agency, "01-agency-waiting-on-you")
            mine.get_by_role("link", name="Submit the audit return").click()
            agency.wait_for_load_state()
            assert agency.url.endswith(f"/tasks/{tasks['POL']}")
            agency.locator("#form-submit button[type=submit]").click()
            agency.wait_for_load_state()
            agency.goto(f"{site.base}/portal")
            assert _item(agency, "answer", tasks["POL"]).count() == 0

            # the coordinator's list fills: the return to review; take it, accept it
            home.goto(f"{site.base}/")
            review = _item(home, "review", tasks["POL"])
            assert "Review the return" in review.inner_text()
            assert "With nobody yet" in review.inner_text()
            _shot(home, "02-coordinator-waiting-on-you")
            review.get_by_role("button", name="Assign to me").click()
            home.wait_for_load_state()
            assert "Assigned to you." in _body(home)
            assert "With Casey Coordinator" in _item(home, "review", tasks["POL"]).inner_text()
            _item(home, "review", tasks["POL"]).get_by_role(
                "link", name="Review the return"
            ).click()
            home.wait_for_load_state()
            home.locator("#form-accept button[type=submit]").click()
            home.wait_for_load_state()
            home.goto(f"{site.base}/")
            assert _item(home, "review", tasks["POL"]).count() == 0  # the list empties

            # more time agreed, on another date than asked
            chosen = cal.add_working_days(due, 5)
            item = _item(home, "more_time", tasks["ICB"])
            key = f"#inbox-{tasks['ICB']}-new_due"
            assert home.input_value(key) == str(asked.day)
            home.fill(key, str(chosen.day))
            home.fill(f"{key}-month", str(chosen.month))
            home.fill(f"{key}-year", str(chosen.year))
            item.get_by_role("button", name="Agree").click()
            home.wait_for_load_state()
            assert "More time agreed" in _body(home)
            assert _item(home, "more_time", tasks["ICB"]).count() == 0
            moved = svc.get_task(tasks["ICB"])[0]
            assert (moved.due_on, moved.requested_due_on) == (chosen, None)

            # and declined, with a reason (refused without one)
            item = _item(home, "more_time", tasks["CSC"])
            item.get_by_role("button", name="Decline").click()
            home.wait_for_load_state()
            assert "Enter why more time is not agreed" in _body(home)
            assert svc.get_task(tasks["CSC"])[0].requested_due_on == asked
            home.fill(f"#inbox-{tasks['CSC']}-reason", "The meeting date is fixed (fictional)")
            _item(home, "more_time", tasks["CSC"]).get_by_role("button", name="Decline").click()
            home.wait_for_load_state()
            assert "More time not agreed" in _body(home)
            kept = svc.get_task(tasks["CSC"])[0]
            assert (kept.due_on, kept.requested_due_on) == (due, None)
            _check_page(home, "Dashboard")
            _shot(home, "03-coordinator-decided")

            # the manager's home has the list too
            manager = browser.new_context().new_page()
            manager.set_default_timeout(15_000)
            _sign_in(manager, site.base, MANAGER, "inbox/04-manager-dashboard")
            _check_page(manager, "Dashboard")
            decision = _item(manager, "decision", action.id)
            assert "Decide on a new target date" in decision.inner_text()
            assert "New target date requested" in decision.inner_text()
            _shot(manager, "05-manager-home")
            decision.get_by_role("link", name="Decide on a new target date").click()
            manager.wait_for_load_state()
            assert manager.url.endswith(f"/tasks/{action.id}")
            manager.locator("#form-approve_reprogramme button[type=submit]").click()
            manager.wait_for_load_state()
            manager.goto(f"{site.base}/")
            assert _item(manager, "decision", action.id).count() == 0
        finally:
            browser.close()
    written = {p.name for p in SHOTS.glob("*.png")}
    assert {
        "00-coordinator-dashboard.png",
        "01-agency-waiting-on-you.png",
        "02-coordinator-waiting-on-you.png",
        "03-coordinator-decided.png",
        "04-manager-dashboard.png",
        "05-manager-home.png",
    } <= written
