"""The outbox: notifications written by the service in the same transaction as the change.

:class:`Notifier` works out who a declared notification is for (one email per recipient:
an agency's lead and its deputy each get their own, nobody is copied in, no email names
another agency), builds the allow-listed template context, renders the message and
inserts it with a unique dedupe key, so the same change can never queue the same email
twice. Nothing here commits: the caller's transaction does.

An agency contact's email is stored with a link that signs nobody in (the page that emails
a fresh sign-in link) and with ``sign_in_next``, where its working link is to land; that
link is minted only when delivery hands the message to the mail server.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from ..access import link_next, neutral_link
from ..calendar import WorkingCalendar, describe_remaining, format_deadline_date, remaining
from ..definitions import Workflow
from ..errors import DefinitionError
from ..models import Activity, Agency, AgencyContact, Notification, Staff, Task
from ..sql import insert_new
from ..views import task_due
from .ics import deadline_invite
from .render import Rendered, Templates

#: templates the service itself sends, beside those the workflow files name
SERVICE_TEMPLATES: tuple[str, ...] = (
    "sign_in_link",
    "request_withdrawn",
    "deadline_extended",
    "deadline_paused",
    "deadline_resumed",
    "deadline_waived",
    "more_time_declined",
    "task_given_to_you",
)


def template_references(wf: Workflow) -> list[tuple[str, str]]:
    """Every template a workflow names, as ``(dotted key, template)``."""
    refs: list[tuple[str, str]] = [
        (f"open.notify[{i}]", n.template) for i, n in enumerate(wf.open_notify)
    ]
    for i, t in enumerate(wf.transitions):
        refs += [(f"transitions[{i}] ({t.trigger}).notify", n.template) for n in t.notify]
    for kind in wf.tasks.values():
        key = f"tasks.{kind.name}"
        refs += [(f"{key}.add_notify", n.template) for n in kind.add_notify]
        for i, t in enumerate(kind.transitions):
            refs += [(f"{key}.transitions[{i}] ({t.trigger}).notify", n.template) for n in t.notify]
        ladder = kind.ladder
        for field in ("before_template", "on_due_template", "chase_template"):
            name = getattr(ladder, field)
            if name:
                refs.append((f"{key}.reminders.{field}", name))
        refs += [
            (f"{key}.reminders.escalations[{i}].template", e.template)
            for i, e in enumerate(ladder.escalations)
        ]
    return refs


def templates_named(workflows: Iterable[Workflow]) -> set[str]:
    """Every template a workflow or the service may send."""
    names = set(SERVICE_TEMPLATES)
    for wf in workflows:
        names.update(name for _key, name in template_references(wf))
    return names


def check_templates_exist(workflows: Iterable[Workflow], templates: Templates) -> None:
    """Fail at load, naming the workflow file and key, when a template is missing."""
    have = set(templates.names())
    for name in SERVICE_TEMPLATES:
        if name not in have:
            raise DefinitionError(
                f"{templates.directory}: template '{name}' (sent by the service) is missing"
            )
    for wf in workflows:
        for key, name in template_references(wf):
            if name not in have:
                raise DefinitionError(
                    f"{wf.origin}: key '{key}': unknown template '{name}' "
                    f"(no {name}.subject.j2 in {templates.directory})"
                )


@dataclass(frozen=True)
class Recipient:
    """One email's addressee: one person (nobody is copied in)."""

    role: str
    to: str
    name: str
    agency: Agency | None = None


@dataclass(frozen=True)
class About:
    """What a notification is about."""

    activity: Activity
    activity_type: str
    task: Task | None = None
    agency: Agency | None = None


class Notifier:
    """Renders declared notifications into outbox rows inside the caller's transaction."""

    def __init__(
        self,
        templates: Templates,
        calendar: WorkingCalendar,
        *,
        base_url: str,
        business_unit_email: str,
        link_lifetime: timedelta = timedelta(hours=72),
        sign_in_links: bool = False,
    ) -> None:
        self.templates = templates
        #: when True, an email to an agency contact carries a sign-in link (minted when the
        #: message is handed to the mail server, valid for ``link_lifetime``, which the email
        #: states) instead of the activity page's address
        self.sign_in_links = sign_in_links
        self.link_lifetime = link_lifetime
        self.calendar = calendar
        self.base_url = base_url.rstrip("/")
        self.business_unit_email = business_unit_email
        self.domain = business_unit_email.rpartition("@")[2] or "sef-workflow.invalid"

    # ------------------------------------------------------------------ recipients
    def recipients(
        self,
        session: Session,
        to: str,
        about: About,
        activity_agencies: Sequence[Agency],
    ) -> list[Recipient]:
        """Who gets a notification declared ``to = <to>``, one entry per email.

        ``agency``: the person the task was given to, else the agency's contact for the task's
        purpose, else its lead and deputy; ``agency:<purpose>``: the contact for that purpose,
        else the lead and deputy."""
        if to == "agency" or to.startswith("agency:"):
            agency = about.agency
            if agency is None:
                return []
            task = about.task
            own = task if task is not None and task.agency_id == agency.id else None
            if to == "agency" and own is not None and own.assignee_email:
                name = own.assignee_name or agency.name
                return [Recipient("agency_contact", own.assignee_email, name, agency)]
            purpose = to.partition(":")[2] or (own.purpose if own is not None else None)
            named = purpose_contacts(session, agency, purpose) if purpose else []
            return named or _contacts(agency)
        if to == "agency_manager":
            agency = about.agency
            if agency is None:
                return []
            if agency.manager_email:
                return [
                    Recipient(
                        "agency_manager",
                        agency.manager_email,
                        agency.manager_name or agency.name,
                        agency,
                    )
                ]
            return _contacts(agency)
        if to == "activity_agencies":
            return [r for a in activity_agencies if a.active for r in _contacts(a)]
        if to == "coordinator":
            staff = session.exec(
                select(Staff).where(Staff.email == about.activity.opened_by)
            ).first()
            if staff is not None and staff.active:
                return [Recipient("coordinator", staff.email, staff.name)]
            return [Recipient("business_unit", self.business_unit_email, "Business unit")]
        if to == "managers":
            managers = session.exec(
                select(Staff)
                .where(Staff.role == "manager", col(Staff.active).is_(True))
                .order_by(col(Staff.email))
            ).all()
            return [Recipient("manager", m.email, m.name) for m in managers]
        if to == "business_unit":
            return [Recipient("business_unit", self.business_unit_email, "Business unit")]
        raise ValueError(f"unknown recipient {to!r}")  # pragma: no cover - validated at load

    # ------------------------------------------------------------------ context
    def link(self, about: About) -> str:
        """The page the email is about, for staff (who sign in with a password): the exact
        task when it is about one, else the activity's page."""
        task = about.task
        if task is not None and task.id is not None:
            return f"{self.base_url}/tasks/{task.id}"
        return f"{self.base_url}/activities/{about.activity.ref}"

    @property
    def link_hours(self) -> int:
        """How many hours a sign-in link works, as the emails say it."""
        return max(1, int(self.link_lifetime.total_seconds() // 3600))

    def sign_in_next(self, about: About, recipient: Recipient) -> str | None:
        """Where the sign-in link of an agency contact's email lands (their agency's task, or
        the portal); ``None`` when the recipient is not an agency contact who signs in by
        link."""
        agency = recipient.agency
        if (
            not self.sign_in_links
            or recipient.role not in AGENCY_LINK_ROLES
            or agency is None
            or agency.id is None
        ):
            return None
        task = about.task
        own_task = task is not None and task.id is not None and task.agency_id == agency.id
        return f"/tasks/{task.id}" if own_task and task is not None else "/portal"

    def context(
        self, about: About, recipient: Recipient, now: datetime, link: str | None = None
    ) -> dict[str, Any]:
        """The allow-listed names a template may see, and nothing else (``link`` defaults to
        the activity's page; a sign-in link's email also says how long the link works)."""
        task = about.task
        due = task_due(task) if task is not None else None
        deadline = ""
        left: int | None = None
        deadline_text = ""
        if task is not None and due is not None and task.deadline_status in ("running", "paused"):
            deadline = format_deadline_date(due.on)
            left = remaining(due, now, self.calendar)
            deadline_text = (
                "the clock is paused"
                if task.deadline_status == "paused"
                else describe_remaining(due, now, self.calendar)
            )
        agency = about.agency or recipient.agency
        return {
            "reference": about.activity.ref,
            "activity_type": about.activity_type,
            "activity_title": about.activity.title,
            "task_title": task.title if task is not None else "",
            "agency_name": agency.name if agency is not None else "",
            "recipient_name": recipient.name,
            "deadline": deadline,
            "working_days_left": left,
            "deadline_text": deadline_text,
            "link": link if link is not None else self.link(about),
            "link_hours": self.link_hours if link is not None else None,
        }

    # ------------------------------------------------------------------ writing
    def queue(
        self,
        session: Session,
        *,
        key: str,
        template: str,
        about: About,
        recipients: Sequence[Recipient],
        now: datetime,
        cancel_invite: bool = False,
    ) -> int:
        """Render and insert one row per recipient; returns how many were new."""
        added = 0
        for recipient in recipients:
            dedupe_key = f"{key}:{template}:{recipient.role}:{recipient.to}"
            next_url = self.sign_in_next(about, recipient)
            link = neutral_link(self.base_url, next_url) if next_url is not None else None
            rendered = self.templates.render(template, self.context(about, recipient, now, link))
            ics = self._invite(about, recipient, now, cancel_invite)
            values: dict[str, Any] = {
                "dedupe_key": fit_key(dedupe_key),
                "message_id": self.message_id(dedupe_key),
                "activity_id": about.activity.id,
                "task_id": about.task.id if about.task is not None else None,
                "agency_id": recipient.agency.id if recipient.agency is not None else None,
                "template": template,
                "recipient_role": recipient.role,
                "to_addr": recipient.to,
                "cc_addrs": [],
                "subject": rendered.subject[:300],
                "text_body": rendered.text,
                "html_body": rendered.html,
                "ics": ics,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "sign_in_next": next_url,
            }
            added += insert_notification(session, values)
        return added

    def queue_sign_in_link(
        self, session: Session, *, email: str, agency: Agency, next_url: str | None, now: datetime
    ) -> bool:
        """Queue the email "here is your sign-in link" to ``email``, a contact of ``agency``,
        landing on ``next_url`` (the portal or a task page); its link is minted when the
        message is handed to the mail server. One per address within a minute: False, with
        nothing queued, when one was queued less than a minute ago."""
        address = email.strip().lower()
        if agency.id is None:
            return False
        recent = session.exec(
            select(Notification.created_at).where(
                col(Notification.dedupe_key).in_(
                    [_sign_in_key(address, now - timedelta(minutes=1)), _sign_in_key(address, now)]
                )
            )
        ).all()
        if any(at > now - timedelta(minutes=1) for at in recent):
            return False
        role, name = _person(session, agency, address)
        lands_on = link_next(next_url)
        rendered = self.templates.render(
            SIGN_IN_TEMPLATE,
            {
                "reference": "Sign-in link",
                "activity_type": "Secure application",
                "agency_name": agency.name,
                "recipient_name": name,
                "link": neutral_link(self.base_url, lands_on),
                "link_hours": self.link_hours,
            },
        )
        values = self.standalone_row(
            _sign_in_key(address, now),
            SIGN_IN_TEMPLATE,
            rendered,
            agency_id=agency.id,
            role=role,
            to=address,
            now=now,
        )
        values["sign_in_next"] = lands_on
        return insert_notification(session, values) == 1

    def standalone_row(
        self,
        key: str,
        template: str,
        rendered: Rendered,
        *,
        agency_id: int | None,
        role: str,
        to: str,
        now: datetime,
    ) -> dict[str, Any]:
        """The outbox row of an email about no activity (a digest, a sign-in link), due now:
        one recipient, nobody copied in, a Message-ID derived from ``key``."""
        return {
            "dedupe_key": fit_key(key),
            "message_id": self.message_id(key),
            "activity_id": None,
            "task_id": None,
            "agency_id": agency_id,
            "template": template,
            "recipient_role": role,
            "to_addr": to,
            "cc_addrs": [],
            "subject": rendered.subject[:300],
            "text_body": rendered.text,
            "html_body": rendered.html,
            "ics": None,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }

    def message_id(self, dedupe_key: str) -> str:
        digest = hashlib.sha256(dedupe_key.encode("utf-8")).hexdigest()[:32]
        return f"<{digest}@{self.domain}>"

    def _invite(
        self, about: About, recipient: Recipient, now: datetime, cancel: bool
    ) -> str | None:
        """The calendar entry for the agency's own deadline, or ``None`` when there is none.

        Sent only to the agency that owes the task; cancelled once the deadline is waived or
        the task is closed.
        """
        task = about.task
        agency = recipient.agency
        if (
            task is None
            or task.id is None
            or task.due_on is None
            or agency is None
            or recipient.role not in INVITE_ROLES
            or task.agency_id != agency.id
        ):
            return None
        lifted = cancel or task.deadline_status == "waived" or not task.is_open
        if task.deadline_status == "met" and not lifted:
            return None
        return deadline_invite(
            task_id=task.id,
            domain=self.domain,
            sequence=task.deadline_sequence,
            summary=f"{about.activity.ref}: {about.activity_type} deadline",
            due_on=task.due_on,
            link=self.link(about),
            organizer=self.business_unit_email,
            attendee=recipient.to,
            now=now,
            cancel=lifted,
        )


#: the email that carries a sign-in link someone asked for
SIGN_IN_TEMPLATE = "sign_in_link"


def _sign_in_key(address: str, at: datetime) -> str:
    """The dedupe key of a sign-in link email asked for by ``address`` in ``at``'s minute."""
    return f"sign_in:{address}:{at.astimezone(UTC):%Y%m%dT%H%M}"


#: recipient roles of an agency's people: their emails carry a sign-in link
AGENCY_LINK_ROLES = frozenset({"agency", "agency_deputy", "agency_contact", "agency_manager"})
#: the recipients who owe the task: they get its calendar entry (a senior manager does not)
INVITE_ROLES = frozenset({"agency", "agency_deputy", "agency_contact"})


def purpose_contacts(session: Session, agency: Agency, purpose: str) -> list[Recipient]:
    """The agency's named contact for ``purpose``, if it has one."""
    rows = session.exec(
        select(AgencyContact)
        .where(AgencyContact.agency_id == agency.id, AgencyContact.purpose == purpose)
        .order_by(col(AgencyContact.email))
    ).all()
    return [Recipient("agency_contact", r.email, r.name, agency) for r in rows]


def _person(session: Session, agency: Agency, address: str) -> tuple[str, str]:
    """The recipient role and name of one of ``agency``'s people."""
    if address == agency.lead_email.lower():
        return "agency", agency.lead_name
    if address == (agency.deputy_email or "").lower():
        return "agency_deputy", agency.deputy_name or ""
    if address == (agency.manager_email or "").lower():
        return "agency_manager", agency.manager_name or ""
    row = session.exec(
        select(AgencyContact).where(
            AgencyContact.agency_id == agency.id, AgencyContact.email == address
        )
    ).first()
    return "agency_contact", row.name if row is not None else ""


def _contacts(agency: Agency) -> list[Recipient]:
    """The agency's lead, then its deputy if it has one: one email each."""
    lead = Recipient("agency", agency.lead_email, agency.lead_name, agency)
    deputy = agency.deputy_email
    if not deputy or deputy.lower() == agency.lead_email.lower():
        return [lead]
    return [lead, Recipient("agency_deputy", deputy, agency.deputy_name or agency.name, agency)]


#: the dedupe_key column's length
DEDUPE_KEY_MAX = 200


def fit_key(key: str, limit: int = DEDUPE_KEY_MAX) -> str:
    """``key`` within ``limit`` characters; a long one keeps its head and a hash of the whole,
    so two long keys never collide by truncation."""
    if len(key) <= limit:
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
    return f"{key[: limit - len(digest) - 1]}~{digest}"


def insert_notification(session: Session, values: dict[str, Any]) -> int:
    """Insert unless a row with the same dedupe key exists; 1 if inserted, else 0."""
    table = Notification.__table__  # type: ignore[attr-defined]
    return int(insert_new(session, table, values, ("dedupe_key",)))
