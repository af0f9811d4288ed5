"""Text for people: deadlines as "N working days left", events as timeline lines."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from .calendar import LONDON, Due, WorkingCalendar, describe_remaining, format_date
from .models import CONTACT_PURPOSES, Event, Notification, Task


def task_due(task: Task) -> Due | None:
    if task.due_at is None or task.due_on is None:
        return None
    return Due(at=task.due_at, on=task.due_on, all_day=task.due_all_day)


def describe_task_deadline(task: Task, now: datetime, cal: WorkingCalendar) -> str:
    """E.g. "due Mon 2 Feb 2026 (3 working days left)", "paused", "waived", "-"."""
    due = task_due(task)
    if due is None or task.deadline_status == "none":
        return "-"
    when = format_date(due.on)
    if not due.all_day:
        when += " " + due.at.astimezone(cal.tz).strftime("%H:%M")
    if task.deadline_status == "withdrawn":
        return f"was due {when} (withdrawn)"
    if not task.is_open:
        return f"was due {when}"
    if task.deadline_status == "paused":
        return f"due {when} (paused)"
    if task.deadline_status == "waived":
        return f"was due {when} (waived)"
    if task.deadline_status == "met":
        return f"due {when} (answered)"
    moved = ""
    if task.original_due_on and task.original_due_on != task.due_on:
        moved = f"; originally {format_date(task.original_due_on)}"
    return f"due {when} ({describe_remaining(due, now, cal)}{moved})"


_KIND_WORDS = {
    "opened": "opened",
    "transition": "fired",
    "task_created": "created task",
    "task_transition": "task",
    "task_completed": "completed task",
    "task_withdrawn": "withdrew task",
    "deadline_extended": "extended deadline of",
    "deadline_paused": "paused deadline of",
    "deadline_resumed": "resumed deadline of",
    "deadline_waived": "waived deadline of",
    "deadline_reprogrammed": "reprogrammed",
    "task_given": "gave task",
    "more_time_declined": "declined more time for",
    "spawned": "opened linked",
}


def event_line(event: Event, cal: WorkingCalendar, task_titles: Mapping[int | None, str]) -> str:
    """One line of the timeline: when, who, what, from -> to, inputs, why."""
    at = event.at.astimezone(cal.tz).strftime("%a %d %b %Y %H:%M")
    who = f"{event.actor} ({event.actor_role})"
    what = _KIND_WORDS.get(event.kind, event.kind)
    if event.task_id is not None:
        what += f" {event.task_id} {task_titles.get(event.task_id, '')}".rstrip()
    if event.trigger:
        what += f" '{event.trigger}'"
    if event.from_state and event.to_state and event.from_state != event.to_state:
        what += f": {event.from_state} -> {event.to_state}"
    elif event.to_state and event.kind in ("opened", "task_created"):
        what += f" [{event.to_state}]"
    details = ", ".join(f"{k}={v}" for k, v in event.inputs.items() if v not in (None, ""))
    line = f"{at}  {who}  {what}"
    if details:
        line += f"  {{{details}}}"
    if event.reason:
        line += f"  reason: {event.reason}"
    return line


def email_line(n: Notification, cal: WorkingCalendar) -> str:
    """One email on the timeline: when it was queued, to whom, and what became of it."""
    at = n.created_at.astimezone(cal.tz).strftime("%a %d %b %Y %H:%M")
    what = f"email '{n.template}' to {n.to_addr} ({n.recipient_role})"
    if n.cc_addrs:
        what += f", cc {', '.join(n.cc_addrs)}"
    if n.status == "sent" and n.sent_at is not None:
        state = "sent " + n.sent_at.astimezone(cal.tz).strftime("%a %d %b %H:%M")
        if n.attempts > 1:
            state += f" after {n.attempts} attempts"
    elif n.status == "failed":
        tries = f"{n.attempts} attempt{'s' if n.attempts != 1 else ''}"
        state = f"FAILED after {tries}: {n.last_error or 'no reason recorded'}"
    else:
        state = n.status + (f" (attempt {n.attempts})" if n.attempts else "")
    return f"{at}  {what}: {state}"


#: the directory log's fields, for people
_FIELD_WORDS = {
    "code": "Code",
    "name": "Name",
    "sector": "Sector",
    "active": "Active",
    "lead_name": "Lead",
    "lead_email": "Lead's email",
    "deputy_name": "Deputy",
    "deputy_email": "Deputy's email",
    "manager_name": "Senior manager",
    "manager_email": "Senior manager's email",
    "email": "Email",
    "role": "Role",
    "sessions": "Signed-in sessions",
    "reason": "Reason",
    "purpose": "Contact for",
}


def moment_text(moment: datetime, cal: WorkingCalendar) -> str:
    """A moment in the calendar's time zone: "Mon 5 Jan 2026 09:00"."""
    local = moment.astimezone(cal.tz)
    return f"{format_date(local.date())} {local:%H:%M}"


def _value_text(key: str, value: object) -> str:
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key in _MOMENT_FIELDS and isinstance(value, str):
        try:
            local = datetime.fromisoformat(value).astimezone(LONDON)
        except ValueError:
            return value
        return f"{format_date(local.date())} {local:%H:%M}"
    if key == "purpose" and isinstance(value, str):
        return CONTACT_PURPOSES.get(value, "Colleague")
    return str(value).replace("_", " ") if key in ("sector", "role") else str(value)


#: fields of a directory record that hold a moment (stored as ISO text), shown as people read
#: them, in the partnership's time zone
_MOMENT_FIELDS = frozenset({"expires", "expires_at", "used_at"})


def change_lines(
    before: Mapping[str, object] | None, after: Mapping[str, object] | None
) -> list[str]:
    """A directory record's values as "Lead's email: old → new" (one line per field that
    differs; a field only after, as "Name: new")."""
    old, new = before or {}, after or {}
    lines = []
    for key in [*new, *(k for k in old if k not in new)]:
        word = _FIELD_WORDS.get(key, key.replace("_", " ").capitalize())
        if key in old and key in new:
            if old[key] != new[key]:
                lines.append(f"{word}: {_value_text(key, old[key])} → {_value_text(key, new[key])}")
        elif key in new:
            lines.append(f"{word}: {_value_text(key, new[key])}")
        else:
            lines.append(f"{word}: {_value_text(key, old[key])} → none")
    return lines


__all__ = [
    "change_lines",
    "describe_task_deadline",
    "email_line",
    "event_line",
    "format_date",
    "moment_text",
    "task_due",
]
