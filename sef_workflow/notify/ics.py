"""Calendar invites for deadlines: one stable UID per task, so a moved deadline updates the
same calendar entry (SEQUENCE goes up) and a lifted one is cancelled.

Written as RFC 5545 text directly (escaped and folded here): an invite goes with every
request and reminder, and building it through a general iCalendar object model cost more
than rendering the email itself. The tests parse what this writes with ``icalendar``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

PRODID = "-//sef-workflow//deadlines//EN"


def task_uid(task_id: int, domain: str) -> str:
    return f"sef-task-{task_id}@{domain}"


def _text(value: str) -> str:
    """An escaped TEXT value (RFC 5545 3.3.11)."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def _fold(line: str) -> str:
    """Fold a content line at 75 octets (RFC 5545 3.1), never inside a UTF-8 character."""
    if len(line.encode("utf-8")) <= 75:
        return line
    parts: list[str] = []
    current = ""
    size = 0
    limit = 75
    for ch in line:
        width = len(ch.encode("utf-8"))
        if size + width > limit:
            parts.append(current)
            current, size, limit = "", 0, 74  # continuation lines start with a space
        current += ch
        size += width
    parts.append(current)
    return "\r\n ".join(parts)


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
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        f"PRODID:{PRODID}",
        "VERSION:2.0",
        f"METHOD:{'CANCEL' if cancel else 'REQUEST'}",
        "BEGIN:VEVENT",
        f"UID:{task_uid(task_id, domain)}",
        f"SEQUENCE:{int(sequence)}",
        f"DTSTAMP:{stamp}",
        f"DTSTART;VALUE=DATE:{due_on:%Y%m%d}",
        f"DTEND;VALUE=DATE:{due_on + timedelta(days=1):%Y%m%d}",
        f"SUMMARY:{_text(summary)}",
        f"DESCRIPTION:{_text(f'Details in the secure application: {link}')}",
        f"URL:{link}",
        f"ORGANIZER:mailto:{organizer}",
        f"ATTENDEE:mailto:{attendee}",
        f"STATUS:{'CANCELLED' if cancel else 'CONFIRMED'}",
        "TRANSP:TRANSPARENT",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
