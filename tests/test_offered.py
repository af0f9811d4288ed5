"""Only what can succeed is offered: for the person viewing, each transition their role may
fire is checked against its guards; a blocked one is a line saying why in plain English and
who can unblock it, with a button to ask them where the workflow allows; a form's submit
waits for the form; cancel and withdraw are warning buttons that open a confirmation page.
Service and web level, on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from sef_workflow.app import build
from sef_workflow.calendar import LONDON
from sef_workflow.clock import FakeClock
from sef_workflow.config import load_settings
from sef_workflow.definitions import Registry, guard_words
from sef_workflow.demo import load_demo
from sef_workflow.errors import GuardFailed
from sef_workflow.guards import GUARDS, GuardContext, Words, evaluate, explain
from sef_workflow.models import Event, Notification
from sef_workflow.service import Actor, Service
from sef_workflow.web import create_app, create_login_link

from . import test_web
from .conftest import COORDINATOR, MANAGER, ROOT, answer_form, confirm_sign_in_link
from .test_web import POL_LEAD, Site, audit_with_returns, csrf_of, state_of

#: the web app with the fictional partnership, on both databases, as the web tests sign in
site = test_web.site
#: engine text that must never reach a person
ENGINE_TEXT = ("guard '", "refused:", "task_has:", "tasks_done:", "'audit_return'")
CONVENE = re.compile(r'<li class="blocked" id="blocked-convene_meeting">(.*?)</li>', re.S)


def text_of(fragment: str) -> str:
    """A fragment of a page as a person reads it: tags dropped, spaces collapsed."""
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())
    return re.sub(r" ([:;,.)?])", r"\1", text)


def blocked_line(page: str, trigger: str) -> str:
    found = re.search(rf'<li class="blocked" id="blocked-{trigger}">(.*?)</li>', page, re.S)
    assert found, f"no blocked line for {trigger}"
    return text_of(found.group(1))


def agency_actor(service: Service, task_id: int) -> Actor:
    task = service.get_task(task_id)[0]
    return Actor(id="lead@x.example", role="agency", agency_id=task.agency_id)


def no_engine_text(text: str) -> None:
    for bit in ENGINE_TEXT:
        assert bit not in text, bit


# ---------------------------------------------------------------------- the audit meeting
def test_audit_meeting_waits_for_the_returns_and_names_the_agencies(site: Site) -> None:
    ref, c, tasks = audit_with_returns(site)
    page = c.get(f"/activities/{ref}").text
    assert 'id="form-convene_meeting"' not in page  # not a button while returns are out
    line = blocked_line(page, "convene_meeting")
    assert line == (
        "Convene the audit meeting: waiting for 3 of 3 single-agency audit returns (CSC, ICB, POL)"
    )
    no_engine_text(page)
    # the service refuses with the same words
    with pytest.raises(GuardFailed) as refused:
        site.service.fire(COORDINATOR, ref, "convene_meeting", {"meeting_date": "2026-02-10"})
    assert "waiting for 3 of 3 single-agency audit returns (CSC, ICB, POL)" in str(refused.value)
    no_engine_text(str(refused.value))

    # POL returns: the line says whose is in and who is still awaited
    pol = tasks["POL"]
    site.service.fire_task(agency_actor(site.service, pol), pol, "submit", {"summary": "In"})
    line = blocked_line(c.get(f"/activities/{ref}").text, "convene_meeting")
    assert line.endswith(
        "waiting for 3 of 3 single-agency audit returns (CSC, ICB; POL: in, not yet reviewed)"
    )
    site.service.fire_task(COORDINATOR, pol, "accept")
    line = blocked_line(c.get(f"/activities/{ref}").text, "convene_meeting")
    assert line.endswith("waiting for 2 of 3 single-agency audit returns (CSC, ICB)")

    for code in ("CSC", "ICB"):
        task_id = tasks[code]
        site.service.fire_task(agency_actor(site.service, task_id), task_id, "submit", {})
        site.service.fire_task(COORDINATOR, task_id, "accept")
    page = c.get(f"/activities/{ref}").text
    assert 'id="form-convene_meeting"' in page  # now it would succeed: a button
    assert 'id="blocked-convene_meeting"' not in page


# ---------------------------------------------------------------------- the sign-off
def _action_awaiting_sign_off(site: Site) -> tuple[str, int]:
    svc = site.service
    ref = svc.open_activity(COORDINATOR, "action_plan", "Plan (fictional)", ["POL"]).activity.ref
    (action,) = svc.add_task(
        COORDINATOR,
        ref,
        "action",
        "POL",
        {
            "description": "Invite health to every strategy discussion",
            "lead_name": "Police safeguarding lead (fictional)",
            "target_date": "2026-03-31",
        },
    ).created_tasks
    assert action.id is not None
    svc.fire_task(
        agency_actor(svc, action.id),
        action.id,
        "submit_completion",
        {"evidence_of_completion": "Health attended 9 of 10 discussions"},
    )
    return ref, action.id


def test_blocked_sign_off_says_why_and_asks_the_agency(site: Site) -> None:
    svc = site.service
    ref, action = _action_awaiting_sign_off(site)
    manager = site.staff(MANAGER.id)
    page = manager.get(f"/tasks/{action}").text
    assert 'id="form-sign_off"' not in page
    assert blocked_line(page, "sign_off").startswith(
        "Sign off the action (owning subgroup): needs evidence of impact from the agency (POL)"
    )
    no_engine_text(page)
    with pytest.raises(GuardFailed, match=r"needs evidence of impact from the agency \(POL\)"):
        svc.fire_task(MANAGER, action, "sign_off")

    # the button that asks: the action's own send_back, with the reason filled in
    form = re.search(r'<form [^>]*id="form-ask-send_back".*?</form>', page, re.S)
    assert form is not None
    assert "Ask the agency for evidence of impact" in form.group(0)
    reason = re.search(r'name="reason" value="([^"]*)"', form.group(0))
    assert reason is not None
    asked = html.unescape(reason.group(1))
    assert asked.startswith("Please add evidence of impact")
    assert "Sign off the action" in asked
    before = svc.get_task(action)[0].version
    r = manager.post(
        f"/tasks/{action}/fire",
        data={
            "csrf_token": csrf_of(page),
            "trigger": "send_back",
            "expected_version": str(before),
            "reason": asked,
        },
    )
    assert r.status_code == 303, r.text
    task = svc.get_task(action)[0]
    assert task.state == "in_progress"
    with svc.db.read() as s:
        event = s.exec(
            select(Event).where(Event.task_id == action, Event.trigger == "send_back")
        ).one()
        told = s.exec(select(Notification).where(Notification.template == "action_sent_back")).all()
    assert event.reason == asked
    assert told  # the agency is emailed the request

    # the agency adds the evidence and submits again: the manager can sign off
    lead = agency_actor(svc, action)
    svc.fire_task(lead, action, "record_impact", {"evidence_of_impact": "Earlier decisions"})
    svc.fire_task(lead, action, "submit_completion", {"evidence_of_completion": "Health attended"})
    page = manager.get(f"/tasks/{action}").text
    assert 'id="form-sign_off"' in page
    assert 'id="blocked-sign_off"' not in page
    assert ref


def test_the_agency_sees_no_line_for_what_its_role_cannot_do(site: Site) -> None:
    _ref, action = _action_awaiting_sign_off(site)
    page = site.agency(POL_LEAD).get(f"/tasks/{action}").text
    assert 'id="blocked-sign_off"' not in page  # signing off is the manager's
    assert 'id="form-record_impact"' in page  # adding the evidence is the agency's


# ---------------------------------------------------------------------- a form's submit
def test_section11_submit_waits_for_the_form(site: Site) -> None:
    svc = site.service
    ref = svc.open_activity(
        COORDINATOR, "section11", "Section 11 (fictional)", ["POL"], {"cycle": "2026-28"}
    ).activity.ref
    (task,) = svc.fire(COORDINATOR, ref, "issue_tool", {"return_date": "2026-03-31"}).created_tasks
    assert task.id is not None
    c = site.agency(POL_LEAD)
    page = c.get(f"/tasks/{task.id}").text
    assert 'id="form-submit"' not in page
    line = blocked_line(page, "submit")
    assert re.fullmatch(r"Submit the self-assessment: \d+ questions still need an answer", line)
    assert f'href="/tasks/{task.id}/assessment"' in page
    answer_form(svc, agency_actor(svc, task.id), task.id)
    page = c.get(f"/tasks/{task.id}").text
    assert 'id="form-submit"' in page
    assert 'id="blocked-submit"' not in page


# ---------------------------------------------------------------------- cancel and withdraw
def _counts(site: Site) -> tuple[int, int]:
    with site.service.db.read() as s:
        events = len(s.exec(select(Event)).all())
        emails = len(s.exec(select(Notification)).all())
    return events, emails


def test_cancel_asks_to_confirm_and_says_what_will_happen(site: Site) -> None:
    ref, c, _tasks = audit_with_returns(site)
    page = c.get(f"/activities/{ref}").text
    assert (
        '<form method="post" action="/activities/'
        + ref
        + '/fire" class="action-form" id="form-cancel"'
        not in page
    )
    link = re.search(r'<a class="button button-warning" href="([^"]+)">Cancel the audit</a>', page)
    assert link is not None
    assert link.group(1) == f"/activities/{ref}/confirm/cancel"
    before, counts = state_of(site, ref), _counts(site)

    confirm = c.get(link.group(1))
    assert confirm.status_code == 200
    said = text_of(confirm.text)
    assert "Are you sure you want to cancel the audit?" in said
    assert (
        "The 3 open single-agency audit returns will be withdrawn and CSC, ICB and POL emailed."
        in said
    )
    assert "This cannot be undone." in said
    assert "button button-warning" in confirm.text
    assert (state_of(site, ref), _counts(site)) == (before, counts)  # a GET changes nothing

    data = {"csrf_token": csrf_of(confirm.text), "expected_version": str(before[1])}
    r = c.post(f"/activities/{ref}/confirm/cancel", data=data)
    assert r.status_code == 422
    assert "Enter a reason" in r.text
    assert state_of(site, ref) == before
    r = c.post(f"/activities/{ref}/confirm/cancel", data={**data, "reason": "Duplicate audit"})
    assert r.status_code == 303
    assert state_of(site, ref)[0] == "cancelled"
    _a, _wf, _ag, tasks = site.service.get_activity(ref)
    assert {t.state for t in tasks} == {"withdrawn"}


def test_withdrawing_a_task_asks_to_confirm(site: Site) -> None:
    ref, c, tasks = audit_with_returns(site)
    pol = tasks["POL"]
    page = c.get(f"/tasks/{pol}").text
    assert f'href="/tasks/{pol}/confirm/withdraw"' in page
    before = site.service.get_task(pol)[0]
    confirm = c.get(f"/tasks/{pol}/confirm/withdraw")
    assert confirm.status_code == 200
    said = text_of(confirm.text)
    assert "This single-agency audit return (POL) will be withdrawn" in said
    assert "POL will be emailed that it is withdrawn." in said
    assert site.service.get_task(pol)[0].version == before.version
    r = c.post(
        f"/tasks/{pol}/confirm/withdraw",
        data={
            "csrf_token": csrf_of(confirm.text),
            "expected_version": str(before.version),
            "reason": "No cases in the sample",
        },
    )
    assert r.status_code == 303
    assert site.service.get_task(pol)[0].state == "withdrawn"
    # what needs no confirmation has no confirmation page; others may not open it
    assert c.get(f"/tasks/{tasks['ICB']}/confirm/accept").status_code == 404
    agency = site.agency("lead@icb.northshire.example")
    assert agency.get(f"/tasks/{tasks['ICB']}/confirm/withdraw").status_code == 403
    assert agency.get(f"/activities/{ref}/confirm/cancel").status_code in (303, 403)


def test_a_cancel_only_managers_may_make_is_not_offered_to_a_coordinator(site: Site) -> None:
    svc = site.service
    ref = svc.open_activity(
        MANAGER,
        "practice_review",
        "Child A (fictional)",
        ["POL"],
        {"awareness_date": "2026-01-02"},
    ).activity.ref
    coordinator = site.staff(COORDINATOR.id)
    assert "/confirm/cancel" not in coordinator.get(f"/activities/{ref}").text
    assert coordinator.get(f"/activities/{ref}/confirm/cancel").status_code == 403
    manager = site.staff(MANAGER.id)
    said = text_of(manager.get(f"/activities/{ref}/confirm/cancel").text)
    assert "Every agency taking part (POL) will be emailed." in said


# ---------------------------------------------------------------------- every guard kind
@dataclass
class _Task:
    kind: str
    state: str
    is_open: bool
    data: dict[str, Any]
    agency_id: int | None = None


def test_every_guard_kind_has_an_english_explanation() -> None:
    wf = Registry(ROOT / "workflows").get("action_plan")
    kind = wf.tasks["action"]
    words = guard_words(wf, kind, {1: "POL", 2: "ICB"}, "POL")
    words = replace(
        words,
        kinds={**words.kinds, "audit_return": "Single-agency audit return"},
        answered={**words.answered, "audit_return": frozenset({"submitted"})},
    )
    returns = [
        _Task("audit_return", "requested", True, {}, 1),
        _Task("audit_return", "submitted", True, {}, 2),
        _Task("audit_return", "accepted", False, {}),
    ]
    action = _Task("action", "completion_submitted", True, {}, 1)

    def ctx(**kw: Any) -> GuardContext:
        base: dict[str, Any] = {
            "activity_data": {},
            "agency_count": 0,
            "tasks": returns,
            "inputs": {},
            "task": action,
            "words": words,
        }
        return GuardContext(**{**base, **kw})

    expected = {
        "has_agencies": ("has_agencies", ctx(), "no agencies take part in it yet"),
        "tasks_done": (
            "tasks_done:audit_return",
            ctx(),
            "waiting for 2 of 3 single-agency audit returns (POL; ICB: in, not yet reviewed)",
        ),
        "tasks_exist": ("tasks_exist:action", ctx(), "no actions have been added yet"),
        "no_open_tasks": (
            "no_open_tasks",
            ctx(),
            "waiting for 2 single-agency audit returns (ICB, POL) still open",
        ),
        "activity_has": ("activity_has:owning_subgroup", ctx(), "needs owning subgroup"),
        "task_has": (
            "task_has:evidence_of_impact",
            ctx(),
            "needs evidence of impact from the agency (POL)",
        ),
        "answers_moderated": (
            "answers_moderated:audit_return",
            ctx(extra={"unmoderated": 3}),
            "3 answers of POL's single-agency audit return still need a moderated rating",
        ),
    }
    assert set(expected) == set(GUARDS), "every guard kind needs an explanation here"
    for name, (guard, context, sentence) in expected.items():
        said = explain(guard, context)
        assert said == sentence, name
        assert "_" not in said
        assert "guard" not in said
        assert evaluate([guard], context) == (guard, sentence)
    # nothing submitted to moderate yet; and with no words at all, keys become words
    assert explain("answers_moderated:audit_return", ctx(extra={})) == (
        "POL's single-agency audit return has not been submitted yet, so there is nothing "
        "to moderate"
    )
    bare = GuardContext({}, 1, [], {}, words=Words())
    assert explain("tasks_exist:challenge_response", bare) == (
        "no challenge responses have been added yet"
    )
    assert explain("activity_has:meeting_date", bare) == "needs meeting date"
    # each passes when what it needs is there
    done = GuardContext(
        {"owning_subgroup": "QA"},
        2,
        [_Task("action", "signed_off", False, {})],
        {},
        task=_Task("action", "completion_submitted", True, {"evidence_of_impact": "x"}),
        extra={"unmoderated": 0},
    )
    for guard in (
        "has_agencies",
        "tasks_done:action",
        "tasks_exist:action",
        "no_open_tasks",
        "activity_has:owning_subgroup",
        "task_has:evidence_of_impact",
        "answers_moderated:s11_return",
    ):
        assert explain(guard, done) is None, guard


# ---------------------------------------------------------------------- the demo
STAFF = (
    ("coordinator@northshire-scp.example", "coordinator"),
    ("manager@northshire-scp.example", "manager"),
    ("admin@northshire-scp.example", "admin"),
)
DEMO_PASSWORD = "northshire-demo"
#: downloads, signing out, and single emails (they offer nothing to do)
SKIP = re.compile(
    r"\.(csv|xlsx|zip|svg|png|ics|eml)$|/logout|/login|/static/|/uploads/|^/outbox/\d|^/mail/."
)


def _crawl(c: TestClient, start: str, limit: int) -> dict[str, str]:
    """Every page reachable from ``start`` by a link (GET only), up to ``limit`` pages."""
    seen: dict[str, str] = {}
    todo = deque([start])
    while todo and len(seen) < limit:
        path = todo.popleft()
        if path in seen:
            continue
        r = c.get(path)
        if r.status_code != 200 or "text/html" not in r.headers.get("content-type", ""):
            seen[path] = ""
            continue
        seen[path] = r.text
        for raw in re.findall(r'href="(/[^"#]*)"', r.text):
            href = html.unescape(raw)
            if href not in seen and not SKIP.search(href):
                todo.append(href)
    return seen


def test_no_engine_guard_text_on_any_page_of_the_demo(db_url: str, tmp_path: Path) -> None:
    config = tmp_path / "sef.toml"
    config.write_text(
        f'[database]\nurl = "{db_url}"\n'
        f'[workflows]\ndirectory = "{ROOT / "workflows"}"\n'
        f'templates = "{ROOT / "notifications"}"\nforms = "{ROOT / "forms"}"\n'
        f'[mail]\ncatcher_dir = "{tmp_path / "mail"}"\ncatcher_port = 0\n',
        encoding="utf-8",
    )
    clock = FakeClock(datetime(2026, 12, 1, 14, 0, tzinfo=LONDON))
    app = build(load_settings(config, environ={}), clock=clock)
    printed: list[str] = []
    try:
        load_demo(app, echo=printed.append)
        web = create_app(app, secret_key="test-secret", upload_dir=tmp_path / "uploads")
        pages: dict[str, str] = {}
        blocked = 0
        for email, _role in STAFF:
            with TestClient(web, follow_redirects=False) as c:
                login = c.get("/login")
                r = c.post(
                    "/login",
                    data={
                        "email": email,
                        "password": DEMO_PASSWORD,
                        "csrf_token": csrf_of(login.text),
                        "next": "/",
                    },
                )
                assert r.status_code == 303, r.text
                found = _crawl(c, "/activities?closed=yes", 400)
                found.update(_crawl(c, "/", 100))
                pages.update({f"{email} {k}": v for k, v in found.items()})
        lead = next(line for line in printed if "agency view:" in line)
        agency_email = lead.split("sef agencies link ")[1].rstrip(")").strip()
        with TestClient(web, follow_redirects=False) as c:
            token = create_login_link(app.db, agency_email, clock.now(), service=app.service)
            assert confirm_sign_in_link(c, f"/login/link/{token}").status_code == 303
            pages.update({f"agency {k}": v for k, v in _crawl(c, "/portal", 200).items()})
        assert sum(1 for k in pages if "/tasks/" in k) > 20
        assert sum(1 for k in pages if "/activities/" in k) > 10
        for where, text in pages.items():
            for bit in ENGINE_TEXT:
                assert bit not in text, f"{bit!r} on {where}"
            blocked += text.count('class="blocked"')
        assert blocked > 0  # the demo has work waiting on others, said in English
    finally:
        app.db.dispose()
