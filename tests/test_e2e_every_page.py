"""Every page as every role, in a real headless Chromium (Debian ``chromium``), against the
real server on the fictional demo partnership (``sef demo``: a dozen agencies, activities in
varied states, hundreds of emails in the mail catcher).

Each role (anonymous, coordinator, manager, admin, an agency's lead, its senior manager and
one of its named contacts) follows every link it is shown, from its home page, and every
page it reaches is checked at 1280 px and at 390 px: nothing scrolls sideways (nor at
320 px), no engine text in what a person reads (a raw ``snake_case`` key, a dict, "None"),
and no accessibility violation found by axe-core (``axe-playwright-python``). One page of
each kind (path with its numbers and references taken out) is checked per role. Each role's
home is screenshotted under ``var/screenshots/homes/``.

The forms follow the GOV.UK Design System: a form sent with mistakes comes back with
"Error: " before its title and the error summary at the top of the page, focused, linking
to each field in the order of the fields, with what was typed kept; a change made says so
in a success banner.

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
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest

from .test_e2e import CHROMIUM, CHROMIUM_ARGS, ROOT, SHOTS, _free_port, _require_browser

pytestmark = pytest.mark.slow

PASSWORD = "northshire-demo"  # the demo's (fictional accounts on a throwaway database)
STAFF = {
    "coordinator": "coordinator@northshire-scp.example",
    "manager": "manager@northshire-scp.example",
    "admin": "admin@northshire-scp.example",
}
#: the police's people in the demo directory: its lead, senior manager and the named
#: contact for performance data
AGENCY_PEOPLE = {
    "agency-lead": "safeguarding@police.northshire.example",
    "senior-manager": "public.protection@police.northshire.example",
    "named-contact": "analyst@police.northshire.example",
}
WIDTHS = (1280, 390)
#: each role's home page, at each width
HOMES = SHOTS / "homes"
NARROWEST = 320
#: pages that are not links, or not shown to everyone: reached by address
EXTRA = {
    "anonymous": ["/login", "/login/email", "/login/link/not-a-token", "/no/such/page"],
    "staff": ["/no/such/page", "/activities?closed=yes"],
    "agency": ["/no/such/page", "/activities"],  # the second is refused: its error page
}
#: links not followed: downloads, files, the JSON API, the static files
NOT_PAGES = re.compile(r"^/(static|api|uploads)/|^/logout|\.(csv|xlsx|zip|svg|ico)$")
#: how many pages of one kind each role checks (tasks differ by kind of task)
PER_KIND = {"/tasks/N": 6}
MAX_PAGES = 90
#: engine text a person should never read
RAW = {
    "a dict": re.compile(r"\{['\"]"),
    '"None"': re.compile(r"\bNone\b"),
    "a snake_case key": re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b"),
}
#: what is not a key although it may hold an underscore: addresses, links, file names
NOT_WORDS = re.compile(r"https?://\S+|\S+@\S+|\S+\.(?:txt|pdf|docx?|xlsx|csv|eml|png|zip)\b")


@dataclass
class DemoSite:
    base: str
    env: dict[str, str]
    config: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    """The demo partnership, served by ``serve`` (with its worker and mail catcher)."""
    _require_browser()
    tmp = tmp_path_factory.mktemp("every-page")
    port = _free_port()
    config = tmp / "sef.toml"
    config.write_text(
        f'[partnership]\nbase_url = "http://127.0.0.1:{port}"\n'
        f'[database]\nurl = "sqlite:///{tmp / "demo.db"}"\n'
        f'[workflows]\ndirectory = "{ROOT / "workflows"}"\ntemplates = "{ROOT / "notifications"}"\nforms = "{ROOT / "forms"}"\n'
        f"[scheduler]\nsweep_interval_seconds = 3600\ndeliver_interval_seconds = 1\n"
        f'programme_file = "{tmp / "no-programme.toml"}"\n'
        f'[smtp]\nhost = ""\n'
        f'[mail]\ncatcher_dir = "{tmp / "mail"}"\ncatcher_port = 0\n'
        f'[web]\nport = {port}\nupload_dir = "{tmp / "uploads"}"\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEF_")}
    env["SEF_CONFIG"] = str(config)
    from sef_workflow.app import build
    from sef_workflow.config import load_settings
    from sef_workflow.demo import load_demo

    app = build(load_settings(config, environ={}))
    try:
        load_demo(app, echo=lambda _line: None)
    finally:
        app.db.dispose()
    code = (
        "from sef_workflow.app import build\n"
        "from sef_workflow.web.serve import serve\n"
        "app = build()\n"
        f"serve(app, port={port}, upload_dir=app.settings.upload_dir(), log_level='warning')\n"
    )
    log_path = tmp / "server.log"
    log = log_path.open("w")
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
                    pytest.fail("the server did not start:\n" + log_path.read_text())
                time.sleep(0.2)
        yield DemoSite(base, env, config)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait()
        log.close()
    assert proc.returncode == 0, log_path.read_text()


# ----------------------------------------------------------------------------- helpers


def _link_for(site: DemoSite, email: str) -> str:
    """A fresh single-use sign-in link for one of an agency's people."""
    from sef_workflow.access import login_url
    from sef_workflow.app import build
    from sef_workflow.config import load_settings
    from sef_workflow.web.auth import create_login_link

    app = build(load_settings(site.config, environ={}))
    try:
        now = app.service.clock.now()
        token = create_login_link(app.db, email, now, timedelta(hours=1), service=app.service)
        return login_url(site.base, token)
    finally:
        app.db.dispose()


def _sign_in_staff(page: Any, site: DemoSite, email: str) -> None:
    page.goto(f"{site.base}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()


def _sign_in_agency(page: Any, site: DemoSite, email: str) -> None:
    page.goto(_link_for(site, email))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state()
    assert urlsplit(page.url).path == "/portal", page.url


def _kind(url: str) -> str:
    """A page's kind: its path without numbers and references, and its query's names."""
    parts = urlsplit(url)
    path = re.sub(r"/\d[\d.]*(?=/|$)", "/N", parts.path)
    path = re.sub(r"-\d{4}-\d{3}(?=/|$)", "-YYYY-NNN", path)
    names = sorted({name for name, _v in parse_qsl(parts.query, keep_blank_values=True)})
    return path + (f"?{'&'.join(names)}" if names else "")


def _links(page: Any, site: DemoSite) -> list[str]:
    """The addresses of this site's pages that the page links to (no downloads)."""
    found: list[str] = page.evaluate(
        """() => Array.from(document.querySelectorAll('a[href]'))
            .filter(a => !a.hasAttribute('download'))
            .map(a => a.href)"""
    )
    out = []
    for href in found:
        parts = urlsplit(urljoin(page.url, href))
        if f"{parts.scheme}://{parts.netloc}" != site.base or NOT_PAGES.search(parts.path):
            continue
        out.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return out


def _visible_text(page: Any) -> str:
    """What a person reads on the page, less what is shown as code on purpose (the column
    names a CSV file must have)."""
    text: str
    code: list[str]
    text, code = page.evaluate(
        """() => [document.body.innerText,
            Array.from(document.querySelectorAll('code')).map(c => c.innerText)]"""
    )
    for shown in code:
        text = text.replace(shown, " ")
    return text


def _raw_text(text: str) -> list[str]:
    """What in ``text`` is engine text (each kind once, with its first example)."""
    plain = NOT_WORDS.sub(" ", text)
    found = []
    for what, pattern in RAW.items():
        match = pattern.search(plain)
        if match:
            start = max(match.start() - 40, 0)
            context = plain[start : match.end() + 40].replace("\n", " ")
            found.append(f"{what}: …{context}…")
    return found


def _axe(page: Any) -> list[str]:
    """axe-core's violations on the page as it is now: rule, impact, first element."""
    from axe_playwright_python.sync_playwright import Axe

    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(Axe().axe_script)
    result: dict[str, Any] = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}, {len(v['nodes'])}x): {v['nodes'][0]['target']}"
        for v in result["violations"]
    ]


def _width(page: Any) -> int:
    scroll: int = page.evaluate("() => document.documentElement.scrollWidth")
    return scroll


@dataclass
class Findings:
    """What is wrong, page by page, for the one assertion at the end."""

    problems: list[str] = field(default_factory=list)
    checked: dict[str, list[str]] = field(default_factory=dict)

    def check(self, page: Any, role: str, path: str) -> None:
        self.checked.setdefault(role, []).append(path)
        where = f"{role} {path}"
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            if _width(page) > width:
                self.problems.append(f"{where}: {_width(page)} px wide at {width} px")
            for violation in _axe(page):
                self.problems.append(f"{where} at {width} px: axe {violation}")
        page.set_viewport_size({"width": NARROWEST, "height": 900})
        if _width(page) > NARROWEST:
            self.problems.append(f"{where}: {_width(page)} px wide at {NARROWEST} px")
        page.set_viewport_size({"width": WIDTHS[0], "height": 900})
        for raw in _raw_text(_visible_text(page)):
            self.problems.append(f"{where}: {raw}")


def _crawl(page: Any, site: DemoSite, role: str, start: list[str], findings: Findings) -> None:
    """Visit ``start`` and every page linked from what is visited, one page per kind (a few
    for tasks), checking each."""
    queue = list(start)
    seen: dict[str, int] = {}
    visited: set[str] = set()
    while queue and len(visited) < MAX_PAGES:
        path = queue.pop(0)
        kind = _kind(path)
        if path in visited or seen.get(kind, 0) >= PER_KIND.get(kind, 1):
            continue
        visited.add(path)
        response = page.goto(f"{site.base}{path}")
        page.wait_for_load_state()
        landed = urlsplit(page.url)  # where a redirect led
        path = landed.path + (f"?{landed.query}" if landed.query else "")
        kind = _kind(path)
        if path in findings.checked.get(role, []) or seen.get(kind, 0) >= PER_KIND.get(kind, 1):
            continue
        visited.add(path)
        if response is not None and "text/html" not in response.headers.get("content-type", ""):
            continue
        seen[kind] = seen.get(kind, 0) + 1
        findings.check(page, role, path)
        queue.extend(link for link in _links(page, site) if link not in visited)


def _home_shots(page: Any, role: str) -> None:
    HOMES.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(HOMES / f"{role}-{width}px.png"), full_page=True)
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})


# ----------------------------------------------------------------------------- the tests


def test_every_page_as_every_role_fits_reads_plainly_and_passes_axe(demo: DemoSite) -> None:
    from playwright.sync_api import sync_playwright

    findings = Findings()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # no one signed in: the sign-in pages, a sign-in link's page, a page not found
            context = browser.new_context()
            page = context.new_page()
            page.set_default_timeout(15_000)
            favicon = page.request.get(f"{demo.base}/favicon.ico")
            assert (favicon.status, favicon.headers["content-type"]) == (200, "image/svg+xml")
            page.goto(f"{demo.base}/")
            assert urlsplit(page.url).path == "/login"
            _home_shots(page, "anonymous")
            link = _link_for(demo, AGENCY_PEOPLE["agency-lead"])
            _crawl(page, demo, "anonymous", [*EXTRA["anonymous"], urlsplit(link).path], findings)
            context.close()

            for role, email in STAFF.items():
                context = browser.new_context()
                page = context.new_page()
                page.set_default_timeout(15_000)
                _sign_in_staff(page, demo, email)
                _home_shots(page, role)
                _crawl(page, demo, role, ["/", *EXTRA["staff"]], findings)
                context.close()

            for role, email in AGENCY_PEOPLE.items():
                context = browser.new_context()
                page = context.new_page()
                page.set_default_timeout(15_000)
                _sign_in_agency(page, demo, email)
                _home_shots(page, role)
                _crawl(page, demo, role, ["/portal", *EXTRA["agency"]], findings)
                context.close()
        finally:
            browser.close()

    checked = findings.checked
    assert set(checked) == {"anonymous", *STAFF, *AGENCY_PEOPLE}
    for role in STAFF:  # the crawl reached the staff's pages, not just the home page
        kinds = {_kind(path) for path in checked[role]}
        assert {"/", "/activities", "/activities/new", "/outbox", "/mail"} <= kinds, kinds
        assert any(k.startswith("/tasks/N") for k in kinds), kinds
    for role in AGENCY_PEOPLE:
        assert "/portal" in {_kind(path) for path in checked[role]}
    for role in ("anonymous", *STAFF, *AGENCY_PEOPLE):
        assert (HOMES / f"{role}-390px.png").is_file()
    pages = ", ".join(f"{role} {len(paths)}" for role, paths in checked.items())
    assert not findings.problems, (
        f"{len(findings.problems)} problems on the pages checked ({pages}):\n"
        + "\n".join(findings.problems)
    )


def _summary_state(page: Any) -> dict[str, Any]:
    """Where the error summary is, whether it has the focus, and the fields it links to."""
    state: dict[str, Any] = page.evaluate(
        """() => {
            const summary = document.querySelector('.error-summary');
            const main = document.querySelector('main');
            const targets = Array.from(summary.querySelectorAll('a')).map(a =>
                document.getElementById(a.getAttribute('href').slice(1)));
            const order = targets.map(t => t && Array.from(document.querySelectorAll('[id]')).indexOf(t));
            return {
                first: main.firstElementChild === summary,
                focused: document.activeElement === summary,
                top: summary.getBoundingClientRect().top + window.scrollY,
                links: summary.querySelectorAll('a').length,
                found: targets.every(t => t !== null),
                order: order,
            };
        }"""
    )
    return state


def test_forms_say_what_to_fix_at_the_top_and_changes_say_they_are_done(demo: DemoSite) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
            page.set_default_timeout(15_000)
            _sign_in_staff(page, demo, STAFF["coordinator"])

            # opening an activity with nothing filled in: the page's own errors, no pop-up
            page.goto(f"{demo.base}/activities/new?workflow=practice_review")
            page.locator("form[action='/activities/new'] button:not([value=preview])").click()
            page.wait_for_load_state()
            assert page.title().startswith("Error: ")
            state = _summary_state(page)
            assert (state["first"], state["focused"], state["found"]) == (True, True, True), state
            assert state["order"] == sorted(state["order"]), state  # in the fields' order

            # a date that is no date: said so, and what was typed is kept
            page.fill("#title", "Practice review (fictional)")
            page.check("#agency-CSC")
            page.fill("#in_awareness_date", "31")
            page.fill("#in_awareness_date-month", "2")
            page.fill("#in_awareness_date-year", "2026")
            page.locator("form[action='/activities/new'] button:not([value=preview])").click()
            page.wait_for_load_state()
            summary = page.locator(".error-summary").inner_text()
            assert "must be a real date" in summary, summary
            assert page.input_value("#in_awareness_date") == "31"
            assert page.input_value("#in_awareness_date-month") == "2"
            assert page.input_value("#title") == "Practice review (fictional)"
            # its link takes the person to the day box
            page.locator(".error-summary a", has_text="real date").click()
            assert page.evaluate("() => document.activeElement.id") == "in_awareness_date"

            # a real date: opened, and the activity page says so
            page.fill("#in_awareness_date", "2")
            page.locator("form[action='/activities/new'] button:not([value=preview])").click()
            page.wait_for_load_state()
            assert "?done=opened" in page.url, page.url
            banner = page.locator(".notification-banner")
            assert "opened" in banner.inner_text()
            assert page.evaluate(
                "() => document.activeElement.classList.contains('notification-banner')"
            )
            assert not page.title().startswith("Error")

            # extending a deadline with mistakes in two fields, listed as the fields come
            page.goto(f"{demo.base}/manager/overdue")
            task = page.locator("main a[href^='/tasks/']").first.get_attribute("href")
            assert task is not None
            page.goto(f"{demo.base}{task}")
            form = page.locator("#form-deadline-extend")
            form.locator("#deadline-extend-new_due").fill("12")
            form.locator("button[type=submit]").click()
            page.wait_for_load_state()
            assert page.title().startswith("Error: ")
            state = _summary_state(page)
            assert (state["first"], state["focused"], state["links"]) == (True, True, 2), state
            assert state["top"] < 400, state  # at the top, not a thousand pixels down
            assert state["order"] == sorted(state["order"]), state
            links = page.locator(".error-summary a").all_inner_texts()
            assert links == ["The new due date must include a month and year", "Enter a reason"]
            assert page.input_value("#deadline-extend-new_due") == "12"
            assert _width(page) <= 390
        finally:
            browser.close()
