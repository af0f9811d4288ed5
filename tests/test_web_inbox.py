""" "Waiting on you" on the web: the staff dashboard and the agency portal list what waits on
the person signed in, filtered mine, unassigned or all; items are taken, given to a
colleague, and requests for more time agreed (on a changed date) or declined from the list;
the JSON API lists the same and takes a task."""

from __future__ import annotations

import re
from datetime import date, timedelta

from fastapi.testclient import TestClient
from sqlmodel import select

from sef_workflow.calendar import format_date
from sef_workflow.models import Notification, Task
from sef_workflow.service import Service

from . import test_web
from .conftest import COORDINATOR, MANAGER, answer_form
from .test_web import ADMIN, ICB_LEAD, POL_LEAD, Site, token

#: the served test partnership, as the web tests run it
site = test_web.site

POL_CHIEF = "chief@police.northshire.example"


def audit_with_returns(site: Site) -> tuple[str, TestClient, dict[str, int]]:
    """A themed audit opened by the coordinator with its returns issued to POL, ICB and CSC;
    the coordinator's client; task id by agency."""
    svc = site.service
    ref = svc.open_activity(
        COORDINATOR,
        "themed_audit",
        "Neglect audit (fictional)",
        ["POL", "ICB", "CSC"],
        {"theme": "N"},
    ).activity.ref
    svc.fire(COORDINATOR, ref, "sample_cases", {"sample_size": 6})
    out = svc.fire(COORDINATOR, ref, "issue_audit_tools")
    codes = {a.id: a.code for a in svc.list_agencies()}
    ids = {}
    for t in out.created_tasks:
        assert t.id is not None
        ids[codes[t.agency_id]] = t.id
    return ref, site.staff(COORDINATOR.id), ids


def submit(svc: Service, email: str, task_id: int) -> None:
    person = svc.resolve_actor(email)
    answer_form(svc, person, task_id)
    svc.fire_task(person, task_id, "submit", {"summary": "Sent (fictional)"})


def ask(svc: Service, email: str, task_id: int, until: date) -> None:
    svc.fire_task(
        svc.resolve_actor(email),
        task_id,
        "request_extension",
        {"requested_date": until.isoformat()},
        reason="Staff away (fictional)",
    )


def task(site: Site, task_id: int) -> Task:
    return site.service.get_task(task_id)[0]


def date_fields(d: date, prefix: str = "new_due") -> dict[str, str]:
    return {
        f"{prefix}-day": str(d.day),
        f"{prefix}-month": str(d.month),
        f"{prefix}-year": str(d.year),
    }


def waiting(html: str) -> int:
    found = re.search(r"Waiting on you \((\d+)\)", html)
    assert found, "no Waiting on you heading"
    return int(found.group(1))


def test_the_dashboard_fills_as_the_agency_answers_and_empties_when_accepted(site: Site) -> None:
    _ref, coordinator, tasks = audit_with_returns(site)
    pol = tasks["POL"]
    page = coordinator.get("/").text
    assert waiting(page) == 0
    assert "Nothing is waiting on you at the moment." in page
    # the filters are links; the one shown is marked
    assert '<strong aria-current="true">Mine</strong>' in page
    assert 'href="/?show=unassigned"' in page
    assert 'href="/?show=all"' in page
    assert page.index("Waiting on you") < page.index("Your activities")

    submit(site.service, POL_LEAD, pol)
    page = coordinator.get("/").text
    assert waiting(page) == 1
    assert f'<a href="/tasks/{pol}">Review the return</a>' in page
    assert "Return to review" in page
    assert "With nobody yet" in page
    assert f'action="/inbox/{pol}/take"' in page
    manager = site.staff(MANAGER.id)
    assert waiting(manager.get("/?show=all").text) == 0  # managers do not accept returns

    # assign to me: the success line is fixed words, never what was sent
    r = coordinator.post(
        f"/inbox/{pol}/take", data={"csrf_token": token(coordinator), "show": "mine"}
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/?show=mine&done=taken"
    page = coordinator.get(r.headers["location"]).text
    assert "Assigned to you." in page
    assert f"With Casey Coord &lt;{COORDINATOR.id}&gt;" in page
    assert f'id="form-inbox-{pol}-review-take"' not in page  # it is mine already
    assert task(site, pol).handled_by == COORDINATOR.id
    assert "<script>" not in coordinator.get("/?done=<script>alert(1)</script>").text

    # given to a colleague: in their list, no longer in mine
    r = coordinator.post(
        f"/inbox/{pol}/take", data={"csrf_token": token(coordinator), "to": ADMIN, "show": "all"}
    )
    assert r.headers["location"] == "/?show=all&done=given"
    assert "Given to your colleague" in coordinator.get(r.headers["location"]).text
    assert waiting(coordinator.get("/").text) == 0
    admin = site.staff(ADMIN)
    assert f'<a href="/tasks/{pol}">Review the return</a>' in admin.get("/").text
    # someone who is not staff is refused, on the page, and nothing changes
    r = coordinator.post(
        f"/inbox/{pol}/take", data={"csrf_token": token(coordinator), "to": POL_LEAD}
    )
    assert r.status_code == 422
    assert "is not an active member of staff" in r.text
    assert 'href="#waiting-on-you"' in r.text
    assert task(site, pol).handled_by == ADMIN

    # accepted: the list empties
    site.service.fire_task(COORDINATOR, pol, "accept")
    assert waiting(admin.get("/").text) == 0
    assert waiting(coordinator.get("/?show=all").text) == 0
    assert coordinator.get("/?show=everything").status_code == 422


def test_more_time_agreed_on_another_date_and_declined_from_the_list(site: Site) -> None:
    _ref, coordinator, tasks = audit_with_returns(site)
    pol, icb = tasks["POL"], tasks["ICB"]
    due = task(site, pol).due_on
    assert due is not None
    asked = due + timedelta(days=14)  # a Monday, two weeks on
    ask(site.service, POL_LEAD, pol, asked)

    page = coordinator.get("/").text
    assert f"Decide on more time until {format_date(asked)}" in page
    assert f'id="form-inbox-{pol}-agree"' in page
    assert f'id="inbox-{pol}-new_due" name="new_due-day" value="{asked.day}"' in page

    # the date is checked; a refusal keeps what was typed and changes nothing
    saturday = asked - timedelta(days=2)
    csrf = token(coordinator)
    r = coordinator.post(
        f"/inbox/{pol}/more-time",
        data={"csrf_token": csrf, "decision": "agree", **date_fields(saturday)},
    )
    assert r.status_code == 422
    assert "not a working day" in r.text
    assert f'href="#inbox-{pol}-new_due"' in r.text
    assert f'value="{saturday.day}"' in r.text
    assert task(site, pol).due_on == due
    r = coordinator.post(
        f"/inbox/{pol}/more-time",
        data={
            "csrf_token": csrf,
            "decision": "agree",
            "new_due-day": "31",
            "new_due-month": "2",
            "new_due-year": str(asked.year),
        },
    )
    assert r.status_code == 422
    assert "must be a real date" in r.text

    agreed_on = asked - timedelta(days=7)
    r = coordinator.post(
        f"/inbox/{pol}/more-time",
        data={"csrf_token": csrf, "decision": "agree", "show": "mine", **date_fields(agreed_on)},
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/?show=mine&done=agreed"
    page = coordinator.get(r.headers["location"]).text
    assert "More time agreed: the deadline has moved and the agency has been emailed." in page
    assert (task(site, pol).due_on, task(site, pol).requested_due_on) == (agreed_on, None)
    assert waiting(page) == 0

    # declined: a reason is needed
    ask(site.service, ICB_LEAD, icb, asked)
    r = coordinator.post(
        f"/inbox/{icb}/more-time", data={"csrf_token": csrf, "decision": "decline"}
    )
    assert r.status_code == 422
    assert "Enter why more time is not agreed" in r.text
    assert f'href="#inbox-{icb}-reason"' in r.text
    assert task(site, icb).requested_due_on == asked
    r = coordinator.post(
        f"/inbox/{icb}/more-time",
        data={"csrf_token": csrf, "decision": "decline", "reason": "The meeting is fixed"},
    )
    assert r.headers["location"] == "/?show=mine&done=declined"
    assert "More time not agreed" in coordinator.get(r.headers["location"]).text
    assert task(site, icb).requested_due_on is None
    with site.service.db.read() as session:
        q = select(Notification).where(Notification.template == "more_time_declined")
        told = session.exec(q).all()
    assert [n.to_addr for n in told] == [ICB_LEAD]
    # nothing is waiting any more: deciding again says so on the list
    r = coordinator.post(
        f"/inbox/{icb}/more-time",
        data={"csrf_token": csrf, "decision": "decline", "reason": "Again"},
    )
    assert r.status_code == 422
    assert "no request for more time is waiting" in r.text


def test_the_portal_lists_what_waits_for_the_agency(site: Site) -> None:
    _ref, _coordinator, tasks = audit_with_returns(site)
    pol = site.agency(POL_LEAD)
    page = pol.get("/portal").text
    assert waiting(page) == 1
    assert f'<a href="/tasks/{tasks["POL"]}">Submit the audit return</a>' in page
    assert "Assign to me" not in page
    assert page.index("Waiting on you") < page.index("All open")
    submit(site.service, POL_LEAD, tasks["POL"])
    assert waiting(pol.get("/portal").text) == 0
    site.service.fire_task(COORDINATOR, tasks["POL"], "send_back", reason="Case 2 (fictional)")
    assert "Sent back to you: answer again" in pol.get("/portal").text
    # the business unit's actions are not the agency's
    r = pol.post(f"/inbox/{tasks['POL']}/take", data={"csrf_token": token(pol, "/portal")})
    assert r.status_code == 403
    r = pol.post(
        f"/inbox/{tasks['ICB']}/more-time",
        data={"csrf_token": token(pol, "/portal"), "decision": "decline", "reason": "x"},
    )
    assert r.status_code == 404


def test_the_senior_manager_decides_more_time_from_the_portal(site: Site) -> None:
    svc = site.service
    ref = svc.open_activity(
        COORDINATOR,
        "agency_request",
        "Quarterly figures (fictional)",
        ["POL"],
        {"request_type": "quarterly_system_indicators"},
    ).activity.ref
    due = site.clock.now().date() + timedelta(days=30)
    out = svc.fire(COORDINATOR, ref, "issue_request", {"due_date": due.isoformat()})
    [request] = out.created_tasks
    assert request.id is not None
    asked = task(site, request.id).due_on
    assert asked is not None
    asked += timedelta(days=7)
    ask(svc, POL_LEAD, request.id, asked)

    chief = site.agency(POL_CHIEF)
    page = chief.get("/portal").text
    assert f"Decide on more time until {format_date(asked)}" in page
    r = chief.post(
        f"/inbox/{request.id}/more-time",
        data={"csrf_token": token(chief, "/portal"), "decision": "agree", **date_fields(asked)},
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/portal?show=mine&done=agreed"
    assert "More time agreed" in chief.get(r.headers["location"]).text
    assert task(site, request.id).due_on == asked


def test_the_api_lists_what_waits_and_takes_a_task(site: Site) -> None:
    _ref, coordinator, tasks = audit_with_returns(site)
    pol = tasks["POL"]
    submit(site.service, POL_LEAD, pol)
    headers = {"X-CSRF-Token": coordinator.get("/api/me").json()["csrf_token"]}
    [item] = coordinator.get("/api/inbox").json()
    assert item["kind"] == "review"
    assert item["task_id"] == pol
    assert item["needs"] == "Review the return"
    assert item["action"] == {"label": "Review the return", "url": f"/tasks/{pol}"}
    assert (item["agency"], item["handled_by"], item["overdue"]) == ("POL", None, False)
    assert coordinator.get("/api/inbox?show=all").json() == [item]
    r = coordinator.get("/api/inbox?show=nobody")
    assert (r.status_code, r.json()["error"]) == (422, "invalid_input")

    assert coordinator.post(f"/api/tasks/{pol}/take", json={}).status_code == 403  # no token
    r = coordinator.post(f"/api/tasks/{pol}/take", json={}, headers=headers)
    assert r.status_code == 200
    assert r.json()["handled_by"] == COORDINATOR.id
    r = coordinator.post(f"/api/tasks/{pol}/take", json={"to": MANAGER.id}, headers=headers)
    assert r.json()["handled_by"] == MANAGER.id
    assert coordinator.get("/api/inbox").json() == []
    assert coordinator.get("/api/inbox?show=unassigned").json() == []
    r = coordinator.post(f"/api/tasks/{pol}/take", json={"to": MANAGER.id}, headers=headers)
    assert (r.status_code, r.json()["error"]) == (422, "invalid_input")
    r = coordinator.post(f"/api/tasks/{pol}/take", json={"to": "x" * 300}, headers=headers)
    assert r.status_code == 422

    lead = site.agency(POL_LEAD)
    lead_headers = {"X-CSRF-Token": lead.get("/api/me").json()["csrf_token"]}
    assert lead.get("/api/inbox").json() == []
    assert lead.post(f"/api/tasks/{pol}/take", json={}, headers=lead_headers).status_code == 403
    assert site.client().get("/api/inbox").status_code == 401

    # more time through the API, on another date than asked
    icb = tasks["ICB"]
    due = task(site, icb).due_on
    assert due is not None
    ask(site.service, ICB_LEAD, icb, due + timedelta(days=14))
    [asked] = [i for i in coordinator.get("/api/inbox?show=all").json() if i["task_id"] == icb]
    assert asked["more_time_asked_until"] == (due + timedelta(days=14)).isoformat()
    assert (asked["may_agree"], asked["may_decline"]) == (True, True)
    moved = due + timedelta(days=7)
    r = coordinator.post(
        f"/api/tasks/{icb}/more-time",
        json={"agree": True, "new_due": moved.isoformat()},
        headers=headers,
    )
    assert r.status_code == 200
    assert r.json()["due_on"] == moved.isoformat()
    spec = site.client().get("/api/openapi.json").json()
    assert {"/api/inbox", "/api/tasks/{task_id}/take"} <= set(spec["paths"])
