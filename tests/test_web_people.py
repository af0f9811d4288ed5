"""The web app with every person of an agency: the senior manager and a named contact of two
agencies on every route (nothing of another agency, nothing not meant for them), giving a
task to a colleague, deciding on more time, and naming contacts on the agencies page."""

from __future__ import annotations

from datetime import timedelta

import pytest

from . import test_web
from .conftest import COORDINATOR, MANAGER
from .test_web import ADMIN, PAGES, POL_LEAD, Site, audit_with_returns, fail_email, token

#: the served test partnership, as the web tests run it
site = test_web.site

POL_CHIEF = "chief@police.northshire.example"
ICB_CHIEF = "chief@icb.northshire.example"
POL_LADO = "lado@police.northshire.example"
ICB_LADO = "lado@icb.northshire.example"
COLLEAGUE = "analyst.fictional@police.northshire.example"


def lado_request(site: Site) -> tuple[str, dict[str, int]]:
    """A report request addressed to each agency's LADO contact; its returns by agency."""
    svc = site.service
    ref = svc.open_activity(
        COORDINATOR,
        "agency_request",
        "LADO annual report (fictional)",
        ["POL", "ICB"],
        {"request_type": "annual_report", "contact": "lado"},
    ).activity.ref
    due = site.clock.now().date() + timedelta(days=30)
    svc.fire(COORDINATOR, ref, "issue_request", {"due_date": due.isoformat()})
    _a, _wf, agencies, tasks = svc.get_activity(ref)
    code = {a.id: a.code for a in agencies}
    return ref, {code[t.agency_id]: t.id for t in tasks if t.agency_id and t.id}


@pytest.fixture
def people(site: Site) -> Site:
    for code, email in (("POL", POL_LADO), ("ICB", ICB_LADO)):
        site.service.set_contact(COORDINATOR, code, "lado", f"LADO {code} (fictional)", email)
    return site


def test_every_route_as_senior_managers_and_named_contacts(people: Site) -> None:
    site = people
    ref, _c, audit = audit_with_returns(site)
    _req, lado = lado_request(site)
    email = fail_email(site).id
    ids = {"pol": audit["POL"], "icb": audit["ICB"]}
    mine = {"POL": lado["POL"], "ICB": lado["ICB"]}

    def expected(code: str, position: str) -> dict[str, int]:
        own = "pol" if code == "POL" else "icb"
        other = "icb" if own == "pol" else "pol"
        out = dict.fromkeys(PAGES, 403) | {
            "/": 303,
            "/portal": 200,
            "/api/tasks": 200,
            "/api/agencies": 200,
            "/api/me": 200,
            f"/tasks/{{{other}}}": 404,
            f"/api/tasks/{{{other}}}": 404,
        }
        # a senior manager sees all of the agency's tasks; a LADO contact only the LADO ones
        seen = 200 if position == "manager" else 404
        out[f"/tasks/{{{own}}}"] = seen
        out[f"/api/tasks/{{{own}}}"] = seen
        return out

    people_of = {
        ("POL", "manager"): POL_CHIEF,
        ("POL", "contact"): POL_LADO,
        ("ICB", "manager"): ICB_CHIEF,
        ("ICB", "contact"): ICB_LADO,
    }
    for (code, position), address in people_of.items():
        client = site.agency(address)
        for page, status in expected(code, position).items():
            path = page.format(ref=ref, email=email, **ids)
            r = client.get(path)
            assert r.status_code == status, (code, position, path, r.status_code)
        # the LADO returns: their own agency's only
        other = "ICB" if code == "POL" else "POL"
        assert client.get(f"/tasks/{mine[code]}").status_code == 200
        assert client.get(f"/tasks/{mine[other]}").status_code == 404
        listed = {t["id"] for t in client.get("/api/tasks").json()}
        if position == "manager":
            assert listed == {audit[code], mine[code]}
        else:
            assert listed == {mine[code]}
        me = client.get("/api/me").json()
        assert (me["role"], me["position"]) == ("agency", position)
        # nothing posted to another agency's task changes it
        before = site.service.get_task(mine[other])[0]
        csrf = token(client, "/portal")
        r = client.post(
            f"/tasks/{mine[other]}/give",
            data={"csrf_token": csrf, "to": "other", "name": "X (fictional)", "email": COLLEAGUE},
        )
        assert r.status_code == 404
        r = client.post(
            f"/tasks/{mine[other]}/more-time", data={"csrf_token": csrf, "decision": "agree"}
        )
        assert r.status_code == 404
        after = site.service.get_task(mine[other])[0]
        assert (after.version, after.assignee_email) == (before.version, before.assignee_email)


def test_a_named_contact_cannot_give_a_task_on(people: Site) -> None:
    site = people
    _ref, lado = lado_request(site)
    contact = site.agency(POL_LADO)
    page = contact.get(f"/tasks/{lado['POL']}")
    assert "Give this task to someone else" not in page.text  # not offered
    r = contact.post(
        f"/tasks/{lado['POL']}/give",
        data={"csrf_token": token(contact, "/portal"), "to": POL_LEAD},
    )
    assert r.status_code == 403
    assert site.service.get_task(lado["POL"])[0].assignee_email is None


def test_the_lead_gives_a_task_to_a_colleague_who_signs_in_and_answers(people: Site) -> None:
    site = people
    _ref, lado = lado_request(site)
    task_id = lado["POL"]
    lead = site.agency(POL_LEAD)
    page = lead.get(f"/tasks/{task_id}")
    assert "Give this task to someone else" in page.text
    assert (
        "LADO POL (fictional) (lado@police.northshire.example), the agency&#39;s contact for LADO"
        in page.text
    )
    csrf = token(lead, "/portal")
    # a colleague not listed needs a name and an address: refused, nothing changes
    r = lead.post(f"/tasks/{task_id}/give", data={"csrf_token": csrf, "to": "other"})
    assert r.status_code == 422
    assert "Enter the colleague&#39;s email address" in r.text
    assert "Enter the colleague&#39;s name" in r.text
    assert site.service.get_task(task_id)[0].assignee_email is None
    r = lead.post(
        f"/tasks/{task_id}/give",
        data={
            "csrf_token": csrf,
            "to": "other",
            "name": "Ari Analyst (fictional)",
            "email": COLLEAGUE,
            "note": "Ari holds the figures",
        },
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/tasks/{task_id}?done=given"
    page = lead.get(r.headers["location"])
    assert "The task has been given on" in page.text
    assert "Ari Analyst (fictional) (analyst.fictional@police.northshire.example)" in page.text
    task = site.service.get_task(task_id)[0]
    assert task.assignee_email == COLLEAGUE

    colleague = site.agency(COLLEAGUE)
    portal = colleague.get("/portal")
    assert f"/tasks/{task_id}" in portal.text
    assert f"/tasks/{lado['ICB']}" not in portal.text
    assert [t["id"] for t in colleague.get("/api/tasks").json()] == [task_id]
    r = colleague.post(
        f"/tasks/{task_id}/fire",
        data={
            "csrf_token": token(colleague, "/portal"),
            "trigger": "submit",
            "expected_version": str(task.version),
            "in_summary": "Sent through the secure application (fictional)",
        },
    )
    assert r.status_code == 303, r.text
    task = site.service.get_task(task_id)[0]
    assert task.state == "submitted"
    events = [e for e in site.service.timeline(_ref) if e.task_id == task_id]
    given = next(e for e in events if e.kind == "task_given")
    assert (given.actor, given.inputs["to"], given.reason) == (
        POL_LEAD,
        COLLEAGUE,
        "Ari holds the figures",
    )
    assert events[-1].actor == COLLEAGUE  # the colleague answered, as themselves


def test_the_senior_manager_sees_escalations_and_decides_more_time(people: Site) -> None:
    site = people
    _ref, lado = lado_request(site)
    task_id = lado["POL"]
    svc = site.service
    # the LADO contact asks for more time
    contact = svc.resolve_actor(POL_LADO)
    due = svc.get_task(task_id)[0].due_on
    assert due is not None
    asked = due + timedelta(days=14)
    svc.fire_task(
        contact,
        task_id,
        "request_extension",
        {"requested_date": asked.isoformat()},
        "Figures are late from a partner (fictional)",
    )
    chief = site.agency(POL_CHIEF)
    portal = chief.get("/portal")
    assert "Requests for more time for you to decide (1)" in portal.text
    page = chief.get(f"/tasks/{task_id}")
    assert "More time asked for" in page.text
    assert "Figures are late from a partner (fictional)" in page.text
    assert "Agree to " in page.text
    # decline needs a reason: refused, nothing changes
    csrf = token(chief, "/portal")
    r = chief.post(f"/tasks/{task_id}/more-time", data={"csrf_token": csrf, "decision": "decline"})
    assert r.status_code == 422
    assert svc.get_task(task_id)[0].requested_due_on == asked
    r = chief.post(f"/tasks/{task_id}/more-time", data={"csrf_token": csrf, "decision": "agree"})
    assert r.status_code == 303
    assert "More time agreed" in chief.get(r.headers["location"]).text
    task = svc.get_task(task_id)[0]
    assert (task.due_on, task.requested_due_on) == (asked, None)

    # overdue and escalated: the senior manager's portal lists the escalation sent to them
    site.clock.advance(timedelta(hours=1))  # 10:00, within working hours
    for _day in range(60):  # one rung a day
        site.clock.advance(timedelta(days=1))
        svc.sweep()
    portal = site.agency(POL_CHIEF).get("/portal")
    assert "Escalations sent to you" in portal.text
    assert f'href="/tasks/{task_id}"' in portal.text
    assert "Overdue (" in portal.text


def test_the_senior_manager_is_not_offered_decisions_the_workflow_keeps(people: Site) -> None:
    site = people
    _ref, _c, audit = audit_with_returns(site)
    svc = site.service
    task = svc.get_task(audit["POL"])[0]
    assert task.due_on is not None
    svc.fire_task(
        svc.resolve_actor(POL_LEAD),
        task.id or 0,
        "request_extension",
        {"requested_date": (task.due_on + timedelta(days=7)).isoformat()},
        "Short of auditors (fictional)",
    )
    chief = site.agency(POL_CHIEF)
    page = chief.get(f"/tasks/{task.id}")
    assert "waiting for a decision" in page.text
    assert "Agree to " not in page.text  # a themed audit's more time is the business unit's
    r = chief.post(
        f"/tasks/{task.id}/more-time",
        data={"csrf_token": token(chief, "/portal"), "decision": "agree"},
    )
    assert r.status_code == 403
    assert svc.get_task(task.id or 0)[0].requested_due_on is not None
    # the coordinator may
    coordinator = site.staff(COORDINATOR.id)
    assert "Agree to " in coordinator.get(f"/tasks/{task.id}").text


def test_the_api_gives_tasks_and_decides_more_time(people: Site) -> None:
    site = people
    _ref, lado = lado_request(site)
    task_id = lado["ICB"]
    chief = site.agency(ICB_CHIEF)
    headers = {"X-CSRF-Token": chief.get("/api/me").json()["csrf_token"]}
    r = chief.post(
        f"/api/tasks/{task_id}/give", json={"email": "lead@icb.northshire.example"}, headers=headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["given_to"] == "lead@icb.northshire.example"
    r = chief.post(f"/api/tasks/{task_id}/more-time", json={"agree": True}, headers=headers)
    assert r.status_code == 409  # nothing asked for: nothing to decide
    r = chief.post(f"/api/tasks/{lado['POL']}/give", json={"email": POL_LEAD}, headers=headers)
    assert r.status_code == 404


def test_agencies_page_names_and_removes_contacts(people: Site) -> None:
    site = people
    c = site.staff(COORDINATOR.id)
    page = c.get("/agencies")
    assert "LADO (allegations against staff)" in page.text
    assert POL_LADO in page.text
    csrf = token(c, "/agencies")
    # every field missing: each named, nothing changes
    r = c.post("/agencies/contact", data={"csrf_token": csrf})
    assert r.status_code == 422
    for message in ("Choose the agency", "Choose what the contact is for", "Enter the contact"):
        assert message in r.text
    r = c.post(
        "/agencies/contact",
        data={
            "csrf_token": csrf,
            "agency": "POL",
            "purpose": "training",
            "name": "Tia Trainer (fictional)",
            "email": "training@police.northshire.example",
        },
    )
    assert r.status_code == 303
    contacts = {(x.purpose, x.email) for x in site.service.contacts_of()}
    assert ("training", "training@police.northshire.example") in contacts
    # an address already one of another agency's people is refused, named
    r = c.post(
        "/agencies/contact",
        data={
            "csrf_token": csrf,
            "agency": "POL",
            "purpose": "child_deaths",
            "name": "Someone (fictional)",
            "email": ICB_LADO,
        },
    )
    assert r.status_code == 422
    assert "a person acts for one agency only" in r.text
    r = c.post(
        "/agencies/contact/remove",
        data={"csrf_token": csrf, "agency": "POL", "purpose": "lado", "email": POL_LADO},
    )
    assert r.status_code == 303
    assert ("lado", POL_LADO) not in {(x.purpose, x.email) for x in site.service.contacts_of()}
    # a manager reads the directory but does not change it
    manager = site.staff(MANAGER.id)
    r = manager.post(
        "/agencies/contact",
        data={
            "csrf_token": token(manager),
            "agency": "POL",
            "purpose": "lado",
            "name": "X",
            "email": "x@police.northshire.example",
        },
    )
    assert r.status_code == 403
    assert site.staff(ADMIN).get("/agencies").status_code == 200


def test_a_stale_give_or_decision_says_so_and_changes_nothing(people: Site) -> None:
    site = people
    _ref, lado = lado_request(site)
    task_id = lado["POL"]
    coordinator = site.staff(COORDINATOR.id)
    csrf = token(coordinator)
    # nothing asked for: the decision is out of date, said on a page, not a blank 422
    r = coordinator.post(
        f"/tasks/{task_id}/more-time", data={"csrf_token": csrf, "decision": "agree"}
    )
    assert r.status_code == 409
    assert "no longer allowed" in r.text
    site.service.fire_task(COORDINATOR, task_id, "withdraw", reason="Not needed (fictional)")
    before = site.service.get_task(task_id)[0]
    r = coordinator.post(f"/tasks/{task_id}/give", data={"csrf_token": csrf, "to": POL_LEAD})
    assert r.status_code == 409
    assert "Nothing you sent was saved" in r.text
    after = site.service.get_task(task_id)[0]
    assert (after.version, after.assignee_email) == (before.version, before.assignee_email)
