"""Notifications are written with the change that causes them: one per recipient (an agency's
lead and deputy each their own, nobody copied in), deduplicated, with only allow-listed
details, with a calendar invite for an agency's own deadline, and, for an agency contact,
with a stored link that signs nobody in."""

from __future__ import annotations

from datetime import date, timedelta

import icalendar
import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from sef_workflow.access import link_next, login_url, neutral_link
from sef_workflow.errors import TransitionNotAllowed
from sef_workflow.models import Activity, Agency, LoginLink, Notification
from sef_workflow.notify.outbox import About, insert_notification
from sef_workflow.service import Actor, Service

from .conftest import COORDINATOR, MANAGER, answer_form


def _rows(svc: Service) -> list[Notification]:
    with svc.db.read() as session:
        return list(session.exec(select(Notification).order_by(col(Notification.id))).all())


def _issue(svc: Service) -> str:
    ref = svc.open_activity(
        COORDINATOR,
        "themed_audit",
        "Neglect themed audit (fictional)",
        ["POL", "ICB", "CSC"],
        {"theme": "Neglect"},
    ).activity.ref
    svc.fire(COORDINATOR, ref, "sample_cases", {"sample_size": 3})
    svc.fire(COORDINATOR, ref, "issue_audit_tools")
    return ref


def test_request_goes_to_each_lead_and_each_deputy_in_an_email_of_their_own(
    partnership: Service,
) -> None:
    _issue(partnership)
    rows = _rows(partnership)
    assert [r.template for r in rows] == ["audit_tool_issued"] * 5
    by_to = {r.to_addr: r for r in rows}
    assert {a: r.recipient_role for a, r in by_to.items()} == {
        "lead@police.northshire.example": "agency",
        "deputy@police.northshire.example": "agency_deputy",
        "lead@icb.northshire.example": "agency",  # no deputy
        "lead@csc.northshire.example": "agency",
        "deputy@csc.northshire.example": "agency_deputy",
    }
    assert all(r.cc_addrs == [] for r in rows)  # nobody is copied in
    lead, deputy = (
        by_to["lead@police.northshire.example"],
        by_to["deputy@police.northshire.example"],
    )
    assert lead.task_id == deputy.task_id
    # the lead's key is what it always was; the deputy's is its own
    assert lead.dedupe_key.endswith(":audit_tool_issued:agency:lead@police.northshire.example")
    assert deputy.dedupe_key == lead.dedupe_key.replace(":agency:lead@", ":agency_deputy:deputy@")
    assert lead.message_id != deputy.message_id
    assert "Dear Deputy Police," in deputy.text_body
    for row in rows:
        assert row.status == "pending"
        assert row.message_id.startswith("<")
        assert row.message_id.endswith("@northshire-scp.example>")
        # one email per recipient: no other address anywhere in it
        others = {a for a in by_to if a != row.to_addr}
        for other in others:
            assert other not in row.text_body + row.html_body + row.subject
        assert row.subject.startswith("MAA-2026-001")
        # the link leads to the agency's own task
        assert f"http://127.0.0.1:8000/tasks/{row.task_id}" in row.text_body


def test_subject_carries_only_reference_and_type(partnership: Service) -> None:
    _issue(partnership)
    for row in _rows(partnership):
        assert "Neglect" not in row.subject  # the title and theme stay out of the subject
        assert "Northshire Constabulary" not in row.subject


def test_invite_is_stable_and_moves_with_the_deadline(partnership: Service) -> None:
    _issue(partnership)
    rows = _rows(partnership)
    first = next(r for r in rows if r.to_addr.startswith("lead@police"))
    deputy = next(r for r in rows if r.to_addr.startswith("deputy@police"))
    assert deputy.ics is not None  # each recipient has the invite, as its attendee
    deputy_event = icalendar.Calendar.from_ical(deputy.ics).walk("VEVENT")[0]
    assert str(deputy_event["ATTENDEE"]).endswith("deputy@police.northshire.example")
    assert deputy_event["UID"] == f"sef-task-{first.task_id}@northshire-scp.example"
    assert first.ics is not None
    event = icalendar.Calendar.from_ical(first.ics).walk("VEVENT")[0]
    assert event["UID"] == f"sef-task-{first.task_id}@northshire-scp.example"
    assert int(event["SEQUENCE"]) == 0
    assert event.decoded("DTSTART") == date(2026, 2, 2)
    assert first.task_id is not None
    partnership.extend_deadline(COORDINATOR, first.task_id, date(2026, 2, 9), "Staff sickness")
    moved = _rows(partnership)[-2]
    assert moved.template == "deadline_extended"
    assert moved.to_addr == first.to_addr
    assert moved.ics is not None
    event = icalendar.Calendar.from_ical(moved.ics).walk("VEVENT")[0]
    assert event["UID"] == f"sef-task-{first.task_id}@northshire-scp.example"
    assert int(event["SEQUENCE"]) == 1
    assert event.decoded("DTSTART") == date(2026, 2, 9)
    partnership.waive_deadline(COORDINATOR, first.task_id, "Agency not involved", MANAGER.id)
    waived = _rows(partnership)[-2]
    assert waived.template == "deadline_waived"
    assert waived.ics is not None
    cal = icalendar.Calendar.from_ical(waived.ics)
    assert cal["METHOD"] == "CANCEL"
    event = cal.walk("VEVENT")[0]
    assert (event["STATUS"], int(event["SEQUENCE"])) == ("CANCELLED", 2)


def test_return_received_goes_to_the_coordinator(partnership: Service) -> None:
    _issue(partnership)
    task = next(r for r in _rows(partnership) if r.to_addr.startswith("lead@csc"))
    assert task.task_id is not None
    assert task.agency_id is not None
    lead = Actor(id="lead@csc.northshire.example", role="agency", agency_id=task.agency_id)
    answer_form(partnership, lead, task.task_id)
    out = partnership.fire_task(lead, task.task_id, "submit", {"summary": "Attached"})
    assert [(n.template, n.address) for n in out.notifications] == [
        ("return_received", COORDINATOR.id)
    ]
    assert _rows(partnership)[-1].ics is None  # not the coordinator's own deadline


def test_managers_each_get_their_own_email(partnership: Service) -> None:
    partnership.add_staff(
        Actor.system(), "Second Manager", "manager2@northshire-scp.example", "manager"
    )
    ref = partnership.open_activity(
        COORDINATOR, "themed_audit", "Concern check (fictional)", ["POL"], {"theme": "Neglect"}
    ).activity.ref
    partnership.fire(COORDINATOR, ref, "raise_concern", reason="Referred to the MASH")
    rows = [r for r in _rows(partnership) if r.template == "safeguarding_concern_escalated"]
    assert sorted(r.to_addr for r in rows) == [
        "business.unit@northshire-scp.example",
        "manager2@northshire-scp.example",
        "manager@northshire-scp.example",
    ]
    assert all(r.cc_addrs == [] for r in rows)


def test_a_failed_change_queues_nothing(partnership: Service) -> None:
    ref = partnership.open_activity(
        COORDINATOR, "themed_audit", "Failure check (fictional)", ["POL"], {"theme": "Neglect"}
    ).activity.ref
    with pytest.raises(TransitionNotAllowed):
        partnership.fire(COORDINATOR, ref, "issue_audit_tools")
    assert _rows(partnership) == []


def test_the_same_dedupe_key_is_queued_once(partnership: Service) -> None:
    _issue(partnership)
    row = _rows(partnership)[0]
    values = {
        c.name: getattr(row, c.name) for c in Notification.__table__.columns if c.name != "id"
    }  # type: ignore[attr-defined]
    with partnership.db.write() as session:
        assert insert_notification(session, values) == 0
    with partnership.db.read() as session:
        count = session.execute(sa.select(sa.func.count()).select_from(Notification)).scalar_one()
    assert count == 5


# ----------------------------------------------------------------------------- sign-in links


def _links(svc: Service) -> list[LoginLink]:
    with svc.db.read() as session:
        return list(session.exec(select(LoginLink)).all())


def _queue_to_police(svc: Service, ref: str, key: str, fail: bool = False) -> int:
    """Queue one request to the police lead in its own transaction (rolled back on ``fail``)."""
    with svc.db.write() as session:
        activity = session.exec(select(Activity).where(Activity.ref == ref)).one()
        agency = session.exec(select(Agency).where(Agency.code == "POL")).one()
        about = About(activity, "Themed audit", None, agency)
        queued = svc.notifier.queue(
            session,
            key=key,
            template="audit_tool_issued",
            about=about,
            recipients=svc.notifier.recipients(session, "agency", about, [agency]),
            now=svc.clock.now(),
        )
        if fail:
            raise RuntimeError("boom")
        return queued


def test_agency_emails_keep_a_link_that_signs_nobody_in(partnership: Service) -> None:
    partnership.notifier.sign_in_links = True
    _issue(partnership)
    rows = _rows(partnership)
    assert _links(partnership) == []  # a link is minted when the email is handed over
    for row in rows:
        assert row.sign_in_next == f"/tasks/{row.task_id}"  # lands on the agency's own task
        neutral = neutral_link("http://127.0.0.1:8000", row.sign_in_next)
        assert neutral == f"http://127.0.0.1:8000/login/email?next=/tasks/{row.task_id}"
        assert neutral in row.text_body
        assert f'href="{neutral}"' in row.html_body
        assert "/login/link/" not in row.text_body + row.html_body
        assert "/activities/" not in row.text_body  # an agency cannot use the staff page
        assert "works for 72 hours" in row.text_body
        assert "works for 72 hours" in row.html_body


def test_staff_emails_link_to_the_task(partnership: Service) -> None:
    partnership.notifier.sign_in_links = True
    _issue(partnership)
    task = next(r for r in _rows(partnership) if r.to_addr.startswith("lead@csc"))
    assert task.task_id is not None
    assert task.agency_id is not None
    lead = Actor(id="lead@csc.northshire.example", role="agency", agency_id=task.agency_id)
    answer_form(partnership, lead, task.task_id)
    partnership.fire_task(lead, task.task_id, "submit", {"summary": "Attached"})
    received = _rows(partnership)[-1]
    assert received.recipient_role == "coordinator"
    assert received.sign_in_next is None
    assert f"http://127.0.0.1:8000/tasks/{task.task_id}" in received.text_body
    assert "/login/" not in received.text_body
    assert "works for" not in received.text_body


def test_the_emails_state_the_notifiers_lifetime(partnership: Service) -> None:
    partnership.notifier.sign_in_links = True
    partnership.notifier.link_lifetime = timedelta(days=10)
    _issue(partnership)
    assert all("works for 240 hours" in r.text_body for r in _rows(partnership))


def test_a_failed_change_queues_no_email(partnership: Service) -> None:
    partnership.notifier.sign_in_links = True
    ref = partnership.open_activity(
        COORDINATOR, "themed_audit", "Failure check (fictional)", ["POL"], {"theme": "Neglect"}
    ).activity.ref
    partnership.fire(COORDINATOR, ref, "sample_cases", {"sample_size": 3})
    with pytest.raises(RuntimeError, match="boom"):
        _queue_to_police(partnership, ref, "rollback-check", fail=True)
    assert _rows(partnership) == []


def test_a_duplicate_email_is_queued_once(partnership: Service) -> None:
    partnership.notifier.sign_in_links = True
    ref = partnership.open_activity(
        COORDINATOR, "themed_audit", "Dedupe check (fictional)", ["POL"], {"theme": "Neglect"}
    ).activity.ref
    assert _queue_to_police(partnership, ref, "dedupe-check") == 2  # the lead and the deputy
    assert _queue_to_police(partnership, ref, "dedupe-check") == 0
    rows = [r for r in _rows(partnership) if r.dedupe_key.startswith("dedupe-check")]
    assert [r.sign_in_next for r in rows] == ["/portal", "/portal"]  # no task: the portal
    assert all("/login/email?next=/portal" in r.text_body for r in rows)


@pytest.mark.parametrize(
    ("next_url", "landing"),
    [
        ("/tasks/12", "/tasks/12"),
        ("/portal", "/portal"),
        ("//evil.example/x", "/portal"),
        ("https://evil.example/", "/portal"),
        ("/\t/evil.example", "/portal"),
        ("/tasks/12/../../admin", "/portal"),
        ("/activities/MAA-2026-001", "/portal"),
        ("", "/portal"),
        (None, "/portal"),
    ],
)
def test_a_link_lands_only_on_the_portal_or_a_task(next_url: str | None, landing: str) -> None:
    assert link_next(next_url) == landing
    url = login_url("http://x.example/", "tok", next_url)
    expected = "" if landing == "/portal" else f"?next={landing}"
    assert url == f"http://x.example/login/link/tok{expected}"
