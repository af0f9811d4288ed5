"""Reminder ladders on a fake clock: the right emails on the right days, none at weekends,
on bank holidays or out of hours; one catch-up rung after downtime; answers stop ladders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

from sqlmodel import col, select

from sef_workflow.calendar import LONDON, WorkingCalendar
from sef_workflow.clock import FakeClock
from sef_workflow.models import Event, Notification, Task
from sef_workflow.service import Actor, Service

from .conftest import COORDINATOR, answer_form


def _hours(start: datetime, end: datetime) -> Iterator[datetime]:
    t = start
    while t <= end:
        yield t
        t += timedelta(hours=1)


def _emails(
    svc: Service, since_id: int = 0, role: str | None = None
) -> list[tuple[date, time, str, str]]:
    """The emails queued after ``since_id``; those to a deputy (each has their own copy of
    what the lead gets) only when ``role`` is ``"agency_deputy"``."""
    with svc.db.read() as session:
        query = select(Notification).where(col(Notification.id) > since_id)
        if role is None:
            query = query.where(col(Notification.recipient_role) != "agency_deputy")
        else:
            query = query.where(col(Notification.recipient_role) == role)
        rows = session.exec(query.order_by(col(Notification.id))).all()
    return [
        (
            r.created_at.astimezone(LONDON).date(),
            r.created_at.astimezone(LONDON).time(),
            r.template,
            r.to_addr,
        )
        for r in rows
    ]


def _last_id(svc: Service) -> int:
    with svc.db.read() as session:
        ids = session.exec(select(Notification.id).order_by(col(Notification.id).desc())).first()
    return ids or 0


def _issue_audit(svc: Service, clock: FakeClock, when: datetime) -> Task:
    clock.set(when)
    ref = svc.open_activity(
        COORDINATOR,
        "themed_audit",
        "Christmas ladder check (fictional)",
        ["POL"],
        {"theme": "Neglect"},
    ).activity.ref
    svc.fire(COORDINATOR, ref, "sample_cases", {"sample_size": 2})
    (task,) = svc.fire(COORDINATOR, ref, "issue_audit_tools").created_tasks
    return task


LEAD = "lead@police.northshire.example"
CHIEF = "chief@police.northshire.example"
BUSINESS_UNIT = "business.unit@northshire-scp.example"
NINE = time(9, 0)


def test_ladder_across_christmas(partnership: Service, clock: FakeClock) -> None:
    task = _issue_audit(partnership, clock, datetime(2025, 12, 1, 10, 0, tzinfo=LONDON))
    assert task.due_on == date(2025, 12, 31)  # 20 working days, Christmas and Boxing Day off
    start = _last_id(partnership)
    for t in _hours(
        datetime(2025, 12, 1, 11, tzinfo=LONDON), datetime(2026, 1, 20, 18, tzinfo=LONDON)
    ):
        clock.set(t)
        partnership.sweep()
    assert _emails(partnership, start) == [
        (date(2025, 12, 22), NINE, "reminder", LEAD),  # 5 working days before
        (date(2025, 12, 30), NINE, "reminder", LEAD),  # 1 working day before
        (date(2025, 12, 31), NINE, "due_today", LEAD),
        (date(2026, 1, 6), NINE, "overdue_chaser", LEAD),  # +3 working days (1 Jan off)
        (date(2026, 1, 8), NINE, "escalation_agency_manager", CHIEF),  # +5
        (date(2026, 1, 9), NINE, "overdue_chaser", LEAD),  # +6
        (date(2026, 1, 14), NINE, "overdue_chaser", LEAD),  # +9, the last chaser
        (date(2026, 1, 15), NINE, "escalation_business_unit", BUSINESS_UNIT),  # +10
    ]
    cal = WorkingCalendar()
    assert all(cal.is_working_day(d) for d, *_ in _emails(partnership, start))
    # the deputy gets each of the lead's own emails, in an email of their own
    assert _emails(partnership, start, "agency_deputy") == [
        (d, t, tpl, "deputy@police.northshire.example")
        for d, t, tpl, to in _emails(partnership, start)
        if to == LEAD
    ]


def test_statutory_clock_over_easter_reminds_the_business_unit(
    partnership: Service, clock: FakeClock
) -> None:
    clock.set(datetime(2026, 3, 30, 10, tzinfo=LONDON))
    out = partnership.open_activity(
        COORDINATOR,
        "practice_review",
        "Practice review (fictional)",
        ["POL"],
        {"awareness_date": "2026-03-30"},
    )
    (task,) = out.created_tasks
    assert task.due_on == date(2026, 4, 8)  # Good Friday and Easter Monday do not count
    start = _last_id(partnership)
    for t in _hours(
        datetime(2026, 3, 30, 11, tzinfo=LONDON), datetime(2026, 4, 9, 12, tzinfo=LONDON)
    ):
        clock.set(t)
        partnership.sweep()
    sent = [(d, tpl) for d, _t, tpl, _to in _emails(partnership, start)]
    days = sorted({d for d, _ in sent})
    assert days == [
        date(2026, 4, 1),
        date(2026, 4, 2),
        date(2026, 4, 7),
        date(2026, 4, 8),
        date(2026, 4, 9),
    ]
    assert "due_today" in {tpl for d, tpl in sent if d == date(2026, 4, 8)}
    to = {to for *_rest, to in _emails(partnership, start)}
    assert COORDINATOR.id in to
    assert "manager@northshire-scp.example" in to
    assert not any(a.endswith("police.northshire.example") for a in to)


def test_nothing_goes_out_of_hours_or_at_weekends(partnership: Service, clock: FakeClock) -> None:
    task = _issue_audit(partnership, clock, datetime(2025, 12, 1, 10, 0, tzinfo=LONDON))
    start = _last_id(partnership)
    # The first rung falls Mon 22 Dec 09:00: a sweep at 08:00, and all weekend before, sends nothing.
    for t in (
        datetime(2025, 12, 20, 12, tzinfo=LONDON),
        datetime(2025, 12, 21, 12, tzinfo=LONDON),
        datetime(2025, 12, 22, 8, tzinfo=LONDON),
    ):
        clock.set(t)
        report = partnership.sweep()
        assert report.sent == 0
    assert _emails(partnership, start) == []
    clock.set(datetime(2025, 12, 22, 9, 5, tzinfo=LONDON))
    assert partnership.sweep().sent == 1
    assert task.id is not None


def test_downtime_sends_one_catch_up_rung_and_says_what_was_skipped(
    partnership: Service, clock: FakeClock
) -> None:
    task = _issue_audit(partnership, clock, datetime(2025, 12, 1, 10, 0, tzinfo=LONDON))
    clock.set(datetime(2025, 12, 31, 9, 30, tzinfo=LONDON))
    partnership.sweep()  # the worker was down for the two reminders; one catch-up email
    start = _last_id(partnership)
    # ...then down again from 2 to 12 January.
    clock.set(datetime(2026, 1, 12, 10, tzinfo=LONDON))
    report = partnership.sweep()
    assert (report.sent, report.skipped) == (1, 2)
    assert _emails(partnership, start) == [(date(2026, 1, 12), time(10, 0), "overdue_chaser", LEAD)]
    with partnership.db.read() as session:
        events = session.exec(
            select(Event).where(Event.task_id == task.id, Event.kind == "reminder")
        ).all()
    assert events[0].inputs["rungs"] == ["due"]
    assert events[0].inputs["skipped"] == ["before-5", "before-1"]
    assert events[1].inputs["rungs"] == ["chase-2"]
    assert events[1].inputs["skipped"] == ["chase-1", "escalate-1"]


def test_answering_between_sweeps_stops_the_ladder(partnership: Service, clock: FakeClock) -> None:
    task = _issue_audit(partnership, clock, datetime(2025, 12, 1, 10, 0, tzinfo=LONDON))
    clock.set(datetime(2025, 12, 22, 9, 30, tzinfo=LONDON))
    assert partnership.sweep().sent == 1
    clock.set(datetime(2025, 12, 22, 15, tzinfo=LONDON))
    assert task.id is not None
    assert task.agency_id is not None
    lead = Actor(id=LEAD, role="agency", agency_id=task.agency_id)
    answer_form(partnership, lead, task.id)
    partnership.fire_task(lead, task.id, "submit", {"summary": "Returned (fictional)"})
    start = _last_id(partnership)
    for t in _hours(
        datetime(2025, 12, 22, 16, tzinfo=LONDON), datetime(2025, 12, 29, 12, tzinfo=LONDON)
    ):
        clock.set(t)
        partnership.sweep()
    assert _emails(partnership, start) == []  # no reminder on 30 Dec... until it is sent back
    partnership.fire_task(COORDINATOR, task.id, "send_back", reason="Please add the second case")
    for t in _hours(
        datetime(2025, 12, 29, 13, tzinfo=LONDON), datetime(2026, 1, 2, 12, tzinfo=LONDON)
    ):
        clock.set(t)
        partnership.sweep()
    assert [(d, tpl) for d, _t, tpl, _to in _emails(partnership, start)] == [
        (date(2025, 12, 29), "return_sent_back"),
        (date(2025, 12, 30), "reminder"),  # the ladder runs again for the same due date
        (date(2025, 12, 31), "due_today"),
    ]


def test_extension_reschedules_and_pause_stops(partnership: Service, clock: FakeClock) -> None:
    task = _issue_audit(partnership, clock, datetime(2025, 12, 1, 10, 0, tzinfo=LONDON))
    assert task.id is not None
    clock.set(datetime(2025, 12, 19, 15, tzinfo=LONDON))
    partnership.extend_deadline(COORDINATOR, task.id, date(2026, 1, 16), "Christmas cover")
    start = _last_id(partnership)
    for t in _hours(
        datetime(2025, 12, 19, 16, tzinfo=LONDON), datetime(2026, 1, 12, 12, tzinfo=LONDON)
    ):
        clock.set(t)
        partnership.sweep()
    # 5 working days before 16 Jan is 9 Jan; nothing for the old 31 Dec date
    assert [(d, tpl) for d, _t, tpl, _to in _emails(partnership, start)] == [
        (date(2026, 1, 9), "reminder")
    ]
    partnership.pause_deadline(COORDINATOR, task.id, "Legal hold")
    for t in _hours(
        datetime(2026, 1, 12, 13, tzinfo=LONDON), datetime(2026, 2, 12, 12, tzinfo=LONDON)
    ):
        clock.set(t)
        partnership.sweep()
    assert [tpl for _d, _t, tpl, _to in _emails(partnership, start)] == [
        "reminder",
        "deadline_paused",  # and nothing more while the clock is stopped
    ]
