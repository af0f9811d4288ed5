"""Text for people: deadlines as "N working days left", events and emails as sentences on a
timeline, states, inputs and choices by the titles and labels of their definitions.

One date style, GOV.UK's, everywhere a person reads (:mod:`.calendar`): "6 January 2027",
a deadline with its weekday ("Wednesday 6 January 2027"), a moment "6 January 2027 at
2:30pm". Nothing here shows a raw key, a dict, ``None`` or an ISO date: a key the
definitions give no title reads as words ("reprogramme_requested" as "Reprogramme
requested").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from .calendar import (
    LONDON,
    Due,
    WorkingCalendar,
    describe_remaining,
    format_date,
    format_deadline_date,
    format_moment,
    format_time,
)
from .definitions import InputSpec, TaskKind, TransitionDef, Workflow
from .models import CONTACT_PURPOSES, Agency, AgencyContact, Event, Notification, Staff, Task


def task_due(task: Task) -> Due | None:
    if task.due_at is None or task.due_on is None:
        return None
    return Due(at=task.due_at, on=task.due_on, all_day=task.due_all_day)


def describe_task_deadline(task: Task, now: datetime, cal: WorkingCalendar) -> str:
    """E.g. "due Monday 2 February 2026 (3 working days left)", "paused", "waived", "No
    deadline"."""
    due = task_due(task)
    if due is None or task.deadline_status == "none":
        return "No deadline"
    when = format_deadline_date(due.on)
    if not due.all_day:
        when += " at " + format_time(due.at.astimezone(cal.tz))
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


# ---------------------------------------------------------------------------- words for keys
def words(key: str | None) -> str:
    """A key no definition gives a title, as words: ``"reprogramme_requested"`` reads
    ``"Reprogramme requested"``."""
    text = (key or "").replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def state_title(wf: Workflow | None, state: str | None) -> str:
    """An activity state by its title in the definition."""
    if wf is not None and state in wf.states:
        return wf.states[state].title
    return words(state)


def task_state_title(wf: Workflow | None, kind: str | None, state: str | None) -> str:
    """A task state by its title in the definition of its task kind."""
    task_kind = wf.tasks.get(kind) if wf is not None and kind is not None else None
    if task_kind is not None and state in task_kind.states:
        return task_kind.states[state].title
    return words(state)


def _as_date(value: object) -> date | None:
    """A date stored as ISO text (or a date), else None."""
    if isinstance(value, datetime):
        return value.astimezone(LONDON).date() if value.tzinfo is not None else value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        return _as_date(moment)
    return None


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def value_text(spec: InputSpec | None, value: object) -> str:
    """An input's value as people read it: dates as "6 January 2027", choices by their
    labels, yes or no; "" for no value."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if spec is not None and spec.type == "choice":
        return spec.label_for(str(value))
    if spec is None or spec.type == "date":
        day = _as_date(value)
        if day is not None:
            return format_date(day)
    if isinstance(value, Mapping | list | tuple | set):
        return ""
    return str(value)


def inputs_text(specs: Sequence[InputSpec], values: Mapping[str, Any]) -> str:
    """Declared inputs as ``"Label: value; Label: value"`` (in the definition's order)."""
    parts = []
    for spec in specs:
        shown = value_text(spec, values.get(spec.name))
        if shown:
            parts.append(f"{spec.label}: {shown}")
    return "; ".join(parts)


def _specs_of(kind: TaskKind | None, wf: Workflow | None = None) -> dict[str, InputSpec]:
    """Every input a task kind (or, with no kind, an activity) declares, by name; the first
    declaration of a name gives its label."""
    specs: dict[str, InputSpec] = {}
    machine: TaskKind | Workflow | None = kind if kind is not None else wf
    if machine is None:
        return specs
    first = machine.inputs if isinstance(machine, TaskKind) else machine.open_inputs
    for spec in first:
        specs.setdefault(spec.name, spec)
    for t in machine.transitions:
        for spec in t.inputs:
            specs.setdefault(spec.name, spec)
    return specs


def task_data_rows(task: Task, kind: TaskKind | None) -> list[tuple[str, str]]:
    """The task's inputs as (label, value) rows for its summary, in the definition's order.

    What no longer holds is left out: a date asked for with "more time" (shown as the
    request, while it waits), a proposed new target date once it was decided, and inputs
    the definition does not declare (an assessment's ratings: the form shows them). The
    date the deadline counts from reads as the current deadline, with the original."""
    if kind is None:
        return [
            (words(k), value_text(None, v)) for k, v in task.data.items() if value_text(None, v)
        ]
    specs = _specs_of(kind)
    hidden: set[str] = set()
    for t in kind.transitions:
        if "ask_for_more_time" in t.effects:
            hidden.update(s.name for s in t.inputs)
        leads_to_reprogramme = any(
            "reprogramme" in u.effects for u in kind.transitions if t.dest in u.sources
        )
        if leads_to_reprogramme and task.state != t.dest:
            hidden.update(s.name for s in t.inputs)
    basis = kind.deadline.basis if kind.deadline is not None else ""
    basis_field = basis.removeprefix("task:") if basis.startswith("task:") else None
    rows: list[tuple[str, str]] = []
    for name, spec in specs.items():
        if name in hidden or name not in task.data:
            continue
        shown = value_text(spec, task.data[name])
        if not shown:
            continue
        if name == basis_field and task.due_on is not None:
            stated = _as_date(task.data[name])
            if stated is not None and stated != task.due_on:
                shown = f"{format_date(task.due_on)} (originally {format_date(stated)})"
        rows.append((spec.label, shown))
    return rows


def activity_data_rows(data: Mapping[str, Any], wf: Workflow | None) -> list[tuple[str, str]]:
    """An activity's inputs as (label, value) rows, by the labels of its definition."""
    specs = _specs_of(None, wf)
    rows = []
    for key, value in data.items():
        spec = specs.get(key)
        shown = value_text(spec, value)
        if shown:
            rows.append((spec.label if spec is not None else words(key), shown))
    return rows


# ---------------------------------------------------------------------------- who
def _person_of(name: str, agency: str) -> str:
    """ "Avery Lead (Northshire Constabulary)"; "of" when the agency's name has brackets."""
    return f"{name} of {agency}" if ")" in agency else f"{name} ({agency})"


def people_names(
    staff: Iterable[Staff] = (),
    agencies: Iterable[Agency] = (),
    contacts: Iterable[AgencyContact] = (),
) -> dict[str, str]:
    """Each known address's person in words: staff by name, an agency's people by name and
    agency ("Avery Lead (Northshire Constabulary)")."""
    names: dict[str, str] = {}
    by_id: dict[int | None, Agency] = {}
    for a in agencies:
        by_id[a.id] = a
        for email, name in (
            (a.manager_email, a.manager_name),
            (a.deputy_email, a.deputy_name),
            (a.lead_email, a.lead_name),
        ):
            if email:
                names[email.lower()] = _person_of(name or email, a.name)
    for c in contacts:
        agency = by_id.get(c.agency_id)
        if c.email.lower() not in names:
            names[c.email.lower()] = _person_of(c.name, agency.name) if agency else c.name
    for s in staff:
        names[s.email.lower()] = s.name
    return names


#: who did it, for actors that are not people
_NOT_PEOPLE = {"system": "The system", "programme": "The programme", "cli": "The command line"}


# ---------------------------------------------------------------------------- emails
#: each email template by a title (what its subject says, without the reference)
TEMPLATE_TITLES: dict[str, str] = {
    "action_assigned": "A new action for your agency",
    "action_completion_submitted": "Action completed, sign-off requested",
    "action_overdue": "Action overdue",
    "action_plan_agreed": "Action plan agreed",
    "action_plan_signoff_requested": "Action plan ready for sign-off",
    "action_progress_updated": "Action updated",
    "action_reprogrammed": "New target date approved",
    "action_sent_back": "Action sent back for more",
    "action_signed_off": "Action signed off",
    "activity_cancelled": "Cancelled",
    "activity_closed": "Closed",
    "agency_summary_requested": "Rapid review summary requested",
    "approval_requested": "Findings ready for approval",
    "audit_tool_issued": "Audit tool issued",
    "challenge_event_invitation": "Invitation to the challenge event",
    "challenge_raised": "A challenge for your agency",
    "challenge_response_received": "Challenge response received",
    "chronology_requested": "Chronology and report requested",
    "data_return_requested": "Data return requested",
    "deadline_extended": "Deadline extended",
    "deadline_paused": "Deadline paused",
    "deadline_resumed": "Deadline restarted",
    "deadline_waived": "Deadline waived",
    "digest_agency": "Weekly digest for an agency",
    "digest_manager": "Weekly digest for managers",
    "draft_report_received": "Draft report received",
    "due_today": "Due today",
    "escalation_agency_manager": "Escalation to the agency's senior manager",
    "escalation_business_unit": "Escalation to the business unit",
    "escalation_subgroup_chair": "Escalation to the subgroup chair",
    "extension_requested": "More time requested",
    "more_time_declined": "More time not agreed",
    "overdue_chaser": "Overdue chaser",
    "panel_notified": "National Panel notified",
    "practice_review_notice": "Notice of a rapid review",
    "practice_review_opened": "Practice review opened",
    "rapid_review_decision": "Rapid review decision",
    "rapid_review_meeting_arranged": "Rapid review meeting arranged",
    "rapid_review_signoff_requested": "Rapid review sign-off requested",
    "reminder": "Reminder",
    "report_requested": "Report or data requested",
    "reprogramme_declined": "New target date not agreed",
    "reprogramme_requested": "New target date requested",
    "request_withdrawn": "Request withdrawn",
    "return_received": "Return received",
    "return_sent_back": "Return sent back: more needed",
    "review_published": "Review published",
    "s11_assessment_issued": "Section 11 self-assessment issued",
    "s11_feedback_issued": "Section 11 feedback report and action plan",
    "safeguarding_concern_escalated": "Urgent: safeguarding concern raised",
    "sign_in_link": "Sign-in link",
    "statutory_deadline_escalation": "Statutory deadline missed, escalation",
    "statutory_deadline_overdue": "Statutory deadline overdue",
    "statutory_deadline_reminder": "Statutory deadline approaching",
    "task_given_to_you": "A request given to you",
}

#: "MAA-2026-004: audit tool issued (Multi-agency themed audit)": what is between
_SUBJECT = re.compile(r"^[A-Z][A-Z0-9]*-\d{4}-\d+: (?P<what>.+?)(?: \([^()]*\))?$")


def template_title(template: str, subject: str | None = None) -> str:
    """An email template by its title; a template without one, by what its subject says
    (without the reference and the kind of activity), else its name in words."""
    title = TEMPLATE_TITLES.get(template)
    if title is not None:
        return title
    if subject:
        found = _SUBJECT.match(subject.strip())
        return words(found.group("what") if found else subject.strip())
    return words(template)


#: whom of an activity an email went to, by its recipient role
RECIPIENT_WORDS = {
    "agency": "the agency's lead",
    "agency_deputy": "the agency's deputy",
    "agency_contact": "the agency's named contact",
    "agency_manager": "the agency's senior manager",
    "coordinator": "the coordinator",
    "manager": "a manager",
    "business_unit": "the business unit",
}

#: what became of an email, by its status
EMAIL_STATUS_WORDS = {
    "pending": "Waiting to be sent",
    "sending": "Being sent",
    "sent": "Sent",
    "failed": "Not delivered",
    "cancelled": "Cancelled",
}


def recipient_text(role: str) -> str:
    return RECIPIENT_WORDS.get(role, words(role).lower())


def email_state(n: Notification, cal: WorkingCalendar) -> str:
    """What became of an email: "sent 6 January 2027 at 9am", "not delivered after 3
    attempts: 550 no such user", "waiting to be sent"."""
    if n.status == "sent" and n.sent_at is not None:
        state = "sent " + format_moment(n.sent_at, cal.tz)
        if n.attempts > 1:
            state += f" after {n.attempts} attempts"
        return state
    if n.status == "failed":
        tries = f"{n.attempts} attempt{'s' if n.attempts != 1 else ''}"
        return f"not delivered after {tries}: {n.last_error or 'no reason recorded'}"
    state = EMAIL_STATUS_WORDS.get(n.status, words(n.status)).lower()
    if n.status == "pending" and n.attempts:
        state += f" (tried {n.attempts} time{'s' if n.attempts != 1 else ''})"
    return state


def email_line(n: Notification, cal: WorkingCalendar) -> str:
    """One email on the timeline: when it was queued, which, to whom, and what became of
    it: ``6 January 2027 at 9am – Email “Reminder” to x@y.example (the agency's lead):
    sent 6 January 2027 at 9:05am``."""
    title = template_title(n.template, n.subject)
    what = f"Email “{title}” to {n.to_addr} ({recipient_text(n.recipient_role)})"
    if n.cc_addrs:
        what += f", copied to {', '.join(n.cc_addrs)}"
    return f"{format_moment(n.created_at, cal.tz)} – {what}: {email_state(n, cal)}"


# ---------------------------------------------------------------------------- the timeline
class Directory(Protocol):
    """Where names come from (the service)."""

    def list_staff(self) -> list[Staff]: ...
    def list_agencies(self) -> list[Agency]: ...
    def contacts_of(self, agency_ids: Sequence[int] | None = None) -> list[AgencyContact]: ...


@dataclass(frozen=True)
class Timeline:
    """What a timeline needs to say its events in words: the activity's definition (titles
    of transitions and states, labels of inputs), its tasks' titles and kinds, and who is
    who. Each part may be missing: the sentence then says less, never a key."""

    wf: Workflow | None = None
    titles: Mapping[int | None, str] = field(default_factory=dict)
    kinds: Mapping[int | None, str] = field(default_factory=dict)
    #: address (lower case) -> the person in words
    names: Mapping[str, str] = field(default_factory=dict)
    #: agency code -> its name
    agencies: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        wf: Workflow | None,
        tasks: Iterable[Task] = (),
        names: Mapping[str, str] | None = None,
        agencies: Iterable[Agency] = (),
    ) -> Timeline:
        rows = list(tasks)
        return cls(
            wf=wf,
            titles={t.id: t.title for t in rows},
            kinds={t.id: t.kind for t in rows},
            names=dict(names or {}),
            agencies={a.code: a.name for a in agencies},
        )

    @classmethod
    def read(
        cls, directory: Directory, wf: Workflow | None, tasks: Iterable[Task] = ()
    ) -> Timeline:
        """:meth:`of`, with who is who read from ``directory`` (the service): every member
        of staff and every agency's people by name."""
        agencies = directory.list_agencies()
        names = people_names(directory.list_staff(), agencies, directory.contacts_of())
        return cls.of(wf, tasks, names, agencies)

    def who(self, event: Event) -> str:
        actor = event.actor or ""
        named = self.names.get(actor.lower())
        if named:
            return named
        if actor in _NOT_PEOPLE:
            return _NOT_PEOPLE[actor]
        if event.actor_role == "system":
            return "The system"
        return actor or "Someone"

    def person(self, address: str | None) -> str:
        if not address:
            return ""
        return self.names.get(address.lower(), address)

    def task(self, task_id: int | None) -> str:
        title = self.titles.get(task_id)
        return f"“{title}”" if title else (f"task {task_id}" if task_id is not None else "a task")

    def kind(self, task_id: int | None) -> TaskKind | None:
        name = self.kinds.get(task_id)
        if self.wf is None or name is None:
            return None
        return self.wf.tasks.get(name)

    def transition(self, machine: Workflow | TaskKind | None, event: Event) -> TransitionDef | None:
        if machine is None or not event.trigger:
            return None
        if event.from_state:
            found = machine.transition_for(event.trigger, event.from_state)
            if found is not None:
                return found
        return next((t for t in machine.transitions if t.trigger == event.trigger), None)

    def task_state(self, task_id: int | None, state: str | None) -> str:
        kind = self.kind(task_id)
        if kind is not None and state in kind.states:
            return kind.states[state].title
        return words(state)


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {many or word + 's'}"


def _day(value: object) -> str:
    day = _as_date(value)
    return format_date(day) if day is not None else ""


def _count(value: object) -> int:
    return len(value) if isinstance(value, Mapping | list | tuple) else 0


def _extra_inputs(event: Event, declared: Sequence[InputSpec]) -> list[str]:
    """What a step records beside its declared inputs, in words (answers rated)."""
    names = {s.name for s in declared}
    extra = []
    ratings = event.inputs.get("ratings")
    if "ratings" not in names and _count(ratings):
        extra.append(_plural(_count(ratings), "answer") + " rated")
    return extra


def _with_inputs(sentence: str, event: Event, declared: Sequence[InputSpec]) -> str:
    parts = [p for p in [inputs_text(declared, event.inputs)] if p]
    parts += _extra_inputs(event, declared)
    return f"{sentence} ({'; '.join(parts)})" if parts else sentence


def _because(sentence: str, reason: str | None) -> str:
    return f"{sentence}: {reason}" if reason else sentence


def event_sentence(event: Event, w: Timeline) -> str:
    """One event as one sentence: who did what, by the titles and labels of the definition,
    with its dates as people read them."""
    who, kind, inputs = w.who(event), event.kind, event.inputs or {}
    task = w.task(event.task_id)
    if kind == "opened":
        if inputs.get("spawned_from"):
            line = f"{who} opened this activity to follow {inputs['spawned_from']}"
        else:
            specs = w.wf.open_inputs if w.wf is not None else ()
            line = _with_inputs(f"{who} opened the activity", event, specs)
        return f"{line}. Now: {state_title(w.wf, event.to_state)}" if event.to_state else line
    if kind == "transition":
        t = w.transition(w.wf, event)
        title = t.title if t is not None else words(event.trigger)
        line = _with_inputs(f"{who}: {title}", event, t.inputs if t is not None else ())
        if event.to_state and event.to_state != event.from_state:
            line += f". Now: {state_title(w.wf, event.to_state)}"
        return line + (f". Reason: {event.reason}" if event.reason else "")
    if kind == "task_created":
        kind_def = w.kind(event.task_id)
        line = _with_inputs(
            f"{who} added the task {task}", event, kind_def.inputs if kind_def else ()
        )
        due_on = _as_date(inputs.get("due"))
        return line + (f", due {format_deadline_date(due_on)}" if due_on is not None else "")
    if kind in ("task_transition", "task_completed"):
        kind_def = w.kind(event.task_id)
        machine = kind_def if kind == "task_transition" else w.wf
        t = w.transition(machine, event)
        if kind == "task_completed":
            step = f" when {who} chose “{t.title}”" if t is not None else f" ({who})"
            return f"{task[:1].upper()}{task[1:]} is done{step}. Now: " + w.task_state(
                event.task_id, event.to_state
            )
        title = t.title if t is not None else words(event.trigger)
        line = _with_inputs(f"{who} on {task}: {title}", event, t.inputs if t else ())
        if event.to_state and event.to_state != event.from_state:
            line += f". Now: {w.task_state(event.task_id, event.to_state)}"
        return line + (f". Reason: {event.reason}" if event.reason else "")
    if kind == "task_withdrawn":
        return _because(f"{who} withdrew {task}", event.reason)
    if kind in _DEADLINE_WORDS:
        return _because(_deadline_sentence(event, w, who, task), event.reason)
    if kind == "more_time_declined":
        asked = _day(inputs.get("asked"))
        line = f"{who} declined more time for {task}" + (f" (asked for {asked})" if asked else "")
        return _because(line, event.reason)
    if kind == "task_given":
        if not inputs.get("to"):
            return _because(f"{task[:1].upper()}{task[1:]} went back to the agency", event.reason)
        to = inputs.get("name") or w.person(str(inputs["to"]))
        return _because(f"{who} gave {task} to {to}", event.reason)
    if kind == "task_handled":  # who of the business unit handles it ("Assign to me")
        to = str(inputs.get("to") or "")
        if to.lower() == (event.actor or "").lower():
            return f"{who} took {task} to handle"
        name = inputs.get("name") or w.person(to)
        return f"{who} gave {task} to {name} to handle"
    if kind == "spawned":
        ref = inputs.get("action_plan", "")
        if inputs.get("already_open"):
            return f"The actions go into the action plan already open, {ref}"
        return f"{who} opened the linked action plan {ref}"
    if kind == "reminder":
        templates = [template_title(str(t)) for t in inputs.get("templates") or ()]
        sent = ", ".join(f"“{t}”" for t in templates) or "A reminder"
        line = f"{sent} sent about {task}"
        due_on = _as_date(inputs.get("due"))
        if due_on is not None:
            line += f", due {format_deadline_date(due_on)}"
        skipped = _count(inputs.get("skipped"))
        if skipped:
            line += f" ({_plural(skipped, 'earlier reminder')} no longer due, not sent)"
        return line
    if kind == "assessment_started":
        line = f"{who} started the assessment form for {task}"
        carried = inputs.get("carried_forward")
        if isinstance(carried, int) and carried:
            line += f", with {_plural(carried, 'answer')} carried forward from the last return"
        return line
    if kind == "answers_saved":
        n = _count(inputs.get("questions"))
        return f"{who} saved {_plural(n, 'answer')} on {task}" if n else f"{who} saved answers"
    if kind == "moderated":
        n = _count(inputs.get("moderated"))
        return f"{who} moderated {_plural(n, 'answer')} of an agency's assessment"
    if kind == "finding_recorded":
        what = "recommendation" if inputs.get("kind") == "recommendation" else "finding"
        line = f"{who} recorded a {what}"
        code = inputs.get("agency")
        if code:
            line += f" for {w.agencies.get(str(code), str(code))}"
        text = inputs.get("text")  # one raised from a question names it (form, number)
        return f"{line}: {text}" if text else line
    return _fallback(event, w, who, task)


_DEADLINE_WORDS = {
    "deadline_extended": "extended the deadline of",
    "deadline_paused": "paused the deadline of",
    "deadline_resumed": "restarted the deadline of",
    "deadline_waived": "waived the deadline of",
    "deadline_reprogrammed": "moved the target date of",
}


def _deadline_sentence(event: Event, w: Timeline, who: str, task: str) -> str:
    inputs = event.inputs or {}
    line = f"{who} {_DEADLINE_WORDS[event.kind]} {task}"
    old, new = _day(inputs.get("from")), _day(inputs.get("to"))
    if event.kind == "deadline_resumed" and old and new and old != new:
        line += f"; it moved from {old} to {new}"
    elif event.kind != "deadline_resumed" and old and new:
        line += f" from {old} to {new}"
    elif new:
        line += f" to {new}"
    original = _day(inputs.get("original"))
    if event.kind == "deadline_reprogrammed" and original and original != old:
        line += f" (originally {original})"
    approver = inputs.get("approver")
    if approver and str(approver).lower() != (event.actor or "").lower():
        line += f", approved by {w.person(str(approver))}"
    return line


def _fallback(event: Event, w: Timeline, who: str, task: str) -> str:
    """An event of a kind this module does not know yet: its kind in words, the task, its
    plain inputs (dates as people read them), the reason."""
    line = f"{who}: {words(event.kind).lower()}"
    if event.task_id is not None:
        line += f" on {task}"
    if event.trigger:
        kind_def = w.kind(event.task_id)
        t = w.transition(kind_def if event.task_id is not None else w.wf, event)
        line += f" ({t.title if t is not None else words(event.trigger)})"
    plain = []
    for key, value in (event.inputs or {}).items():
        shown = value_text(None, value)
        if shown:
            plain.append(f"{words(key)}: {w.person(shown) if '@' in shown else shown}")
    if plain:
        line += f" ({'; '.join(plain)})"
    return _because(line, event.reason)


def event_line(
    event: Event, cal: WorkingCalendar, words_: Timeline | Mapping[int | None, str]
) -> str:
    """One line of the timeline: when, then the event as a sentence (``words_``: what the
    timeline knows of the activity, or just its tasks' titles)."""
    w = words_ if isinstance(words_, Timeline) else Timeline(titles=words_)
    return f"{format_moment(event.at, cal.tz)} – {event_sentence(event, w)}"


# ---------------------------------------------------------------------------- the directory log
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
    """A moment in the calendar's time zone: "5 January 2026 at 9am"."""
    return format_moment(moment, cal.tz)


def _value_text(key: str, value: object) -> str:
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key in _MOMENT_FIELDS and isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return format_moment(moment if moment.tzinfo else moment.replace(tzinfo=LONDON))
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
    "EMAIL_STATUS_WORDS",
    "RECIPIENT_WORDS",
    "TEMPLATE_TITLES",
    "Directory",
    "Timeline",
    "activity_data_rows",
    "change_lines",
    "describe_task_deadline",
    "email_line",
    "email_state",
    "event_line",
    "event_sentence",
    "format_date",
    "format_deadline_date",
    "format_moment",
    "inputs_text",
    "moment_text",
    "people_names",
    "recipient_text",
    "state_title",
    "task_data_rows",
    "task_due",
    "task_state_title",
    "template_title",
    "value_text",
    "words",
]
