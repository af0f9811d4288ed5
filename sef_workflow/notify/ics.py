"""Calendar invites for deadlines: one stable UID per task, so a moved deadline updates the
same calendar entry (SEQUENCE goes up) and a lifted one is cancelled."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from icalendar import Calendar
from icalendar import Event as VEvent

PRODID = "-//sef-workflow//deadlines//EN"


def task_uid(task_id: int, domain: str) -> str:
    return f"sef-task-{task_id}@{domain}"


def deadline_invite(
    *,
    task_id: int,
    domain: str,
    sequence: int,
    summary: str,
    due_on: date,
    link: str,
    organizer: str,
    attendee: str,
    now: datetime,
    cancel: bool = False,
) -> str:
    """An all-day event on the due date; ``cancel`` withdraws the same entry."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", "CANCEL" if cancel else "REQUEST")
    event = VEvent()
    event.add("uid", task_uid(task_id, domain))
    event.add("sequence", sequence)
    event.add("dtstamp", now)
    event.add("dtstart", due_on)
    event.add("dtend", due_on + timedelta(days=1))
    event.add("summary", summary)
    event.add("description", f"Details in the secure application: {link}")
    event.add("url", link)
    event.add("organizer", f"mailto:{organizer}")
    event.add("attendee", f"mailto:{attendee}")
    event.add("status", "CANCELLED" if cancel else "CONFIRMED")
    event.add("transp", "TRANSPARENT")
    cal.add_component(event)
    text: str = cal.to_ical().decode("utf-8")
    return text
