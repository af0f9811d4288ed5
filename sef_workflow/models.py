"""The tables. Only :mod:`sef_workflow.service` changes activities, tasks and events."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

#: Sectors an agency may belong to.
SECTORS: tuple[str, ...] = (
    "police",
    "health",
    "local_authority",
    "education",
    "probation",
    "cafcass",
    "housing",
    "youth_justice",
    "voluntary",
    "other",
)

#: Staff roles; every person of an agency acts with the role ``agency``. A workflow may also
#: give a step to ``agency_manager``: only the agency's senior manager may take it.
STAFF_ROLES: tuple[str, ...] = ("admin", "coordinator", "manager")
ROLES: tuple[str, ...] = (*STAFF_ROLES, "agency", "agency_manager", "system")

#: What a named contact of an agency is for, with its label. An agency has at most one
#: contact per purpose; ``colleague`` is anyone a lead gave a task to (as many as needed).
CONTACT_PURPOSES: dict[str, str] = {
    "lado": "LADO (allegations against staff)",
    "child_deaths": "Child death reviews",
    "private_fostering": "Private fostering",
    "performance_data": "Performance data",
    "training": "Training",
}
COLLEAGUE = "colleague"

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: store timezone-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


_TZ = UTCDateTime()


def _json() -> Any:
    return sa.Column(sa.JSON, nullable=False, default=dict)


class Agency(SQLModel, table=True):
    """A partner agency. Requests are addressed to the agency, through its contacts."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=200, unique=True)
    sector: str = Field(max_length=32)
    lead_name: str = Field(max_length=200)
    lead_email: str = Field(max_length=254)
    deputy_name: str | None = Field(default=None, max_length=200)
    deputy_email: str | None = Field(default=None, max_length=254)
    manager_name: str | None = Field(default=None, max_length=200)
    manager_email: str | None = Field(default=None, max_length=254)
    active: bool = True


class AgencyContact(SQLModel, table=True):
    """A named person of an agency besides its lead, deputy and senior manager: the contact for
    a purpose (LADO, child death reviews, ...) or a colleague a task was given to."""

    __tablename__ = "agency_contact"
    __table_args__ = (sa.UniqueConstraint("agency_id", "purpose", "email"),)

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    #: a key of CONTACT_PURPOSES, or ``colleague``
    purpose: str = Field(max_length=32)
    name: str = Field(max_length=200)
    email: str = Field(max_length=254, index=True)
    created_at: datetime = Field(sa_type=_TZ)


class Staff(SQLModel, table=True):
    """A member of the business unit or a manager: coordinator, manager or admin."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    email: str = Field(max_length=254, unique=True)
    role: str = Field(max_length=16)
    active: bool = True


class WorkflowDefinition(SQLModel, table=True):
    """A workflow file as it was when an activity started on it; activities are pinned here."""

    __tablename__ = "workflow_definition"
    __table_args__ = (sa.UniqueConstraint("name", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64)
    version: str = Field(max_length=64)
    source: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    parameters: dict[str, Any] = Field(default_factory=dict, sa_column=_json())
    created_at: datetime = Field(sa_type=_TZ)


class ReferenceCounter(SQLModel, table=True):
    """The last number used for a reference prefix in a year (MAA-2026-004)."""

    __tablename__ = "reference_counter"

    prefix: str = Field(primary_key=True, max_length=16)
    year: int = Field(primary_key=True)
    last: int = 0


class Activity(SQLModel, table=True):
    """One instance of a workflow: an audit, a review, a Section 11 cycle, an action plan."""

    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(max_length=32, unique=True)
    workflow: str = Field(max_length=64, index=True)
    definition_id: int = Field(foreign_key="workflow_definition.id")
    state: str = Field(max_length=64, index=True)
    title: str = Field(max_length=300)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=_json())
    opened_by: str = Field(max_length=254)
    opened_at: datetime = Field(sa_type=_TZ)
    updated_at: datetime = Field(sa_type=_TZ)
    closed_at: datetime | None = Field(default=None, sa_type=_TZ)
    parent_id: int | None = Field(default=None, foreign_key="activity.id")
    version: int = 1


class ActivityAgency(SQLModel, table=True):
    """An agency taking part in an activity."""

    __tablename__ = "activity_agency"

    activity_id: int = Field(foreign_key="activity.id", primary_key=True)
    agency_id: int = Field(foreign_key="agency.id", primary_key=True, index=True)


class Task(SQLModel, table=True):
    """Work owed by someone by a date. All deadlines hang on tasks."""

    __table_args__ = (
        sa.Index("ix_task_next_reminder_at", "next_reminder_at"),
        sa.Index("ix_task_activity_id_kind", "activity_id", "kind"),
        sa.Index("ix_task_agency_id_is_open_due_at", "agency_id", "is_open", "due_at"),
        # running deadlines of open tasks in due order: dashboards and overdue lists
        sa.Index(
            "ix_task_deadline_status_is_open_due_at", "deadline_status", "is_open", "due_at", "id"
        ),
        # period reports: requests issued, returns received, actions by category
        sa.Index("ix_task_category_created_at", "category", "created_at"),
        sa.Index("ix_task_category_answered_at", "category", "answered_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    activity_id: int = Field(foreign_key="activity.id")
    kind: str = Field(max_length=64)
    agency_id: int | None = Field(default=None, foreign_key="agency.id")
    state: str = Field(max_length=64)
    is_open: bool = True
    title: str = Field(max_length=300)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=_json())
    created_at: datetime = Field(sa_type=_TZ)
    updated_at: datetime = Field(sa_type=_TZ)
    closed_at: datetime | None = Field(default=None, sa_type=_TZ)
    #: running, paused, met (answered or completed), waived, withdrawn, or none (no deadline)
    deadline_status: str = Field(default="none", max_length=16)
    due_at: datetime | None = Field(default=None, sa_type=_TZ)
    due_on: date | None = None
    due_all_day: bool = True
    original_due_on: date | None = None
    original_due_at: datetime | None = Field(default=None, sa_type=_TZ)
    paused_at: datetime | None = Field(default=None, sa_type=_TZ)
    #: bumped whenever the due date moves or the deadline ends, for calendar invites
    deadline_sequence: int = 0
    next_reminder_at: datetime | None = Field(default=None, sa_type=_TZ)
    #: what reports count it as: request (an agency's return), action, statutory, none
    category: str = Field(default="none", max_length=16)
    #: when the owner last answered (moved into an answered state)
    answered_at: datetime | None = Field(default=None, sa_type=_TZ)
    #: working days after the due date the answer came (0: on time); None: no deadline
    late_working_days: int | None = None
    #: reminder and escalation rungs sent for this task
    reminders_sent: int = 0
    escalations_sent: int = 0
    #: the finding or recommendation an action answers
    finding_id: int | None = Field(default=None, foreign_key="finding.id", index=True)
    #: the agency contact purpose its emails go to (the agency's LADO contact, ...), else the
    #: lead and deputy
    purpose: str | None = Field(default=None, max_length=32)
    #: the person of the agency it was given to (delegated or reassigned); its emails go to
    #: them alone
    assignee_email: str | None = Field(default=None, max_length=254)
    assignee_name: str | None = Field(default=None, max_length=200)
    #: the date the agency asked to move the deadline to, until someone decides
    requested_due_on: date | None = None
    #: who asked for it (nobody decides on their own request)
    requested_due_by: str | None = Field(default=None, max_length=254)
    #: the member of staff of the business unit handling it ("Assign to me"), by email
    handled_by: str | None = Field(default=None, max_length=254, index=True)
    version: int = 1


class Event(SQLModel, table=True):
    """An append-only audit record: who did what, when, from which state to which, and why."""

    __table_args__ = (
        sa.Index("ix_event_activity_id_id", "activity_id", "id"),
        sa.Index("ix_event_task_id", "task_id"),
        sa.Index("ix_event_kind_at", "kind", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    activity_id: int = Field(foreign_key="activity.id")
    task_id: int | None = Field(default=None, foreign_key="task.id")
    at: datetime = Field(sa_type=_TZ)
    actor: str = Field(max_length=254)
    actor_role: str = Field(max_length=16)
    #: opened, transition, task_created, task_transition, deadline_extended, deadline_paused,
    #: deadline_resumed, deadline_waived, spawned
    kind: str = Field(max_length=32)
    trigger: str | None = Field(default=None, max_length=64)
    from_state: str | None = Field(default=None, max_length=64)
    to_state: str | None = Field(default=None, max_length=64)
    inputs: dict[str, Any] = Field(default_factory=dict, sa_column=_json())
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))


class Notification(SQLModel, table=True):
    """An email in the outbox, written in the same transaction as the change that causes it.

    ``dedupe_key`` is unique, so firing twice or retrying never queues the same email twice;
    ``message_id`` is derived from it, so a resend carries the same Message-ID.
    """

    __table_args__ = (
        sa.Index("ix_notification_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=200, unique=True)
    message_id: str = Field(max_length=250)
    activity_id: int | None = Field(default=None, foreign_key="activity.id", index=True)
    task_id: int | None = Field(default=None, foreign_key="task.id")
    agency_id: int | None = Field(default=None, foreign_key="agency.id")
    template: str = Field(max_length=64)
    recipient_role: str = Field(max_length=32)
    to_addr: str = Field(max_length=254)
    cc_addrs: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    subject: str = Field(max_length=300)
    text_body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    html_body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    ics: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    #: pending, sending, sent, failed, cancelled
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=_TZ)
    lease_until: datetime | None = Field(default=None, sa_type=_TZ)
    leased_by: str | None = Field(default=None, max_length=64)
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    created_at: datetime = Field(sa_type=_TZ)
    sent_at: datetime | None = Field(default=None, sa_type=_TZ)
    #: the notification this one replaces (a permanent failure retried to the deputy)
    fallback_of: int | None = Field(default=None, foreign_key="notification.id")
    #: where the recipient's sign-in link lands (the portal or a task page), for an email
    #: whose link is minted when it is handed to the mail server; the stored bodies keep a
    #: link that signs nobody in
    sign_in_next: str | None = Field(default=None, max_length=200)


class DeliveryAttempt(SQLModel, table=True):
    """One try at handing a notification to the SMTP server, and what the server said."""

    __tablename__ = "delivery_attempt"

    id: int | None = Field(default=None, primary_key=True)
    notification_id: int = Field(foreign_key="notification.id", index=True)
    at: datetime = Field(sa_type=_TZ)
    worker: str = Field(max_length=64)
    #: sent, transient (will retry), permanent (failed)
    outcome: str = Field(max_length=16)
    code: int | None = None
    detail: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))


class JobStatus(SQLModel, table=True):
    """The last run of each scheduled job, for ``sef status``."""

    __tablename__ = "job_status"

    job: str = Field(primary_key=True, max_length=64)
    worker: str = Field(max_length=64)
    last_started_at: datetime = Field(sa_type=_TZ)
    last_finished_at: datetime | None = Field(default=None, sa_type=_TZ)
    last_duration_ms: int | None = None
    last_items: int = 0
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    next_run_at: datetime | None = Field(default=None, sa_type=_TZ)


class ProgrammeRun(SQLModel, table=True):
    """One opening of a recurring activity for one period: the key makes it happen once."""

    __tablename__ = "programme_run"

    key: str = Field(primary_key=True, max_length=200)
    activity_id: int = Field(foreign_key="activity.id")
    opened_at: datetime = Field(sa_type=_TZ)


# ---------------------------------------------------------------------------------------
# assessments: forms completed by agencies (or recorded at a meeting), answer by answer


class FormDefinition(SQLModel, table=True):
    """A form file as it was when an assessment started on it; assessments are pinned here."""

    __tablename__ = "form_definition"
    __table_args__ = (sa.UniqueConstraint("name", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64)
    version: str = Field(max_length=64)
    source: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime = Field(sa_type=_TZ)


class Assessment(SQLModel, table=True):
    """One completion of a form: an agency's self-assessment or audit tool (``task_id`` set),
    or the judgements a meeting recorded for the activity (``stage`` names which)."""

    __table_args__ = (
        sa.Index(
            "ix_assessment_form_name_status_submitted_at", "form_name", "status", "submitted_at"
        ),
        sa.Index("ix_assessment_activity_id_stage", "activity_id", "stage"),
        sa.Index("ix_assessment_agency_id_form_name", "agency_id", "form_name"),
    )

    id: int | None = Field(default=None, primary_key=True)
    activity_id: int = Field(foreign_key="activity.id")
    task_id: int | None = Field(default=None, foreign_key="task.id", unique=True)
    agency_id: int | None = Field(default=None, foreign_key="agency.id")
    form_definition_id: int = Field(foreign_key="form_definition.id")
    form_name: str = Field(max_length=64)
    scale: str = Field(max_length=64)
    #: the scale's levels as they were when the assessment started, so a later edit of
    #: scales.toml never changes what a stored rating means
    scale_definition: dict[str, Any] = Field(default_factory=dict, sa_column=_json())
    #: "return" for a task's form; for a meeting's judgements, the stage (e.g. first, reaudit)
    stage: str = Field(max_length=64)
    #: draft (being filled in) or submitted
    status: str = Field(default="draft", max_length=16)
    #: the earlier assessment whose answers this one started from
    carried_from_id: int | None = Field(default=None, foreign_key="assessment.id")
    created_at: datetime = Field(sa_type=_TZ)
    updated_at: datetime = Field(sa_type=_TZ)
    submitted_at: datetime | None = Field(default=None, sa_type=_TZ)
    submitted_by: str | None = Field(default=None, max_length=254)
    version: int = 1


class AssessmentAnswer(SQLModel, table=True):
    """The answer to one question: rating and evidence, and the moderated rating and reason."""

    __tablename__ = "assessment_answer"

    assessment_id: int = Field(foreign_key="assessment.id", primary_key=True)
    question: str = Field(max_length=64, primary_key=True)
    standard: str = Field(max_length=64)
    rating: str | None = Field(default=None, max_length=64)
    score: int | None = None
    evidence: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    #: copied from the agency's last submitted assessment of the same form
    carried_forward: bool = False
    #: False while a carried-forward answer has not been looked at again
    reviewed: bool = True
    updated_at: datetime = Field(sa_type=_TZ)
    updated_by: str = Field(max_length=254)
    moderated_rating: str | None = Field(default=None, max_length=64)
    moderated_score: int | None = None
    moderation_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    moderated_by: str | None = Field(default=None, max_length=254)
    moderated_at: datetime | None = Field(default=None, sa_type=_TZ)


class Finding(SQLModel, table=True):
    """A finding or recommendation of an activity; actions answer it (``Task.finding_id``)."""

    id: int | None = Field(default=None, primary_key=True)
    activity_id: int = Field(foreign_key="activity.id", index=True)
    #: finding or recommendation
    kind: str = Field(max_length=16)
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    agency_id: int | None = Field(default=None, foreign_key="agency.id")
    #: the form question it was raised from, if any: "section11 2.3"
    question: str | None = Field(default=None, max_length=140)
    created_at: datetime = Field(sa_type=_TZ, index=True)
    created_by: str = Field(max_length=254)


# ---------------------------------------------------------------------------------------
# web sign-in (sef_workflow.web): credentials, sessions, sign-in links, uploaded files


class StaffCredential(SQLModel, table=True):
    """A member of staff's password, as an argon2 hash only."""

    __tablename__ = "staff_credential"

    email: str = Field(primary_key=True, max_length=254)
    password_hash: str = Field(max_length=255)
    updated_at: datetime = Field(sa_type=_TZ)


class WebSession(SQLModel, table=True):
    """A signed-in browser. Only the SHA-256 of the cookie's random token is stored."""

    __tablename__ = "web_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    email: str = Field(max_length=254, index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=_TZ)
    expires_at: datetime = Field(sa_type=_TZ)
    #: the last request it made, for the idle timeout
    last_seen_at: datetime | None = Field(default=None, sa_type=_TZ)


class LoginLink(SQLModel, table=True):
    """A single-use, expiring sign-in link for an agency contact; stored as a hash only."""

    __tablename__ = "login_link"

    token_hash: str = Field(primary_key=True, max_length=64)
    email: str = Field(max_length=254)
    agency_id: int = Field(foreign_key="agency.id")
    created_at: datetime = Field(sa_type=_TZ)
    expires_at: datetime = Field(sa_type=_TZ)
    used_at: datetime | None = Field(default=None, sa_type=_TZ)
    #: the email it was minted for when handed to the mail server (none for a link asked for)
    notification_id: int | None = Field(default=None, foreign_key="notification.id", index=True)
    #: where it lands once confirmed: the portal or a task page
    next_url: str | None = Field(default=None, max_length=200)


class LoginAttempt(SQLModel, table=True):
    """A failed or limited sign-in attempt, counted by every process on the database: one row
    per key (``address:<email>`` or ``client:<address>``) and moment."""

    __tablename__ = "login_attempt"
    __table_args__ = (sa.Index("ix_login_attempt_key_at", "key", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=300)
    at: datetime = Field(sa_type=_TZ)


class DirectoryEvent(SQLModel, table=True):
    """An append-only record of a change to the directory (agencies, contacts, staff, roles,
    passwords: never the password itself) or of a sign-in link issued or used: who, when,
    and the values before and after."""

    __tablename__ = "directory_event"
    __table_args__ = (
        sa.Index("ix_directory_event_agency_id_at", "agency_id", "at"),
        sa.Index("ix_directory_event_at", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=_TZ)
    actor: str = Field(max_length=254)
    actor_role: str = Field(max_length=16)
    #: agency_added, agency_changed, contact_changed, contact_added, contact_removed,
    #: staff_added, staff_changed,
    #: password_set, link_issued, link_used, link_requested
    kind: str = Field(max_length=40)
    #: the agency code or the email address the change is about
    subject: str = Field(max_length=254)
    agency_id: int | None = Field(default=None, foreign_key="agency.id")
    before: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))


class Upload(SQLModel, table=True):
    """A file an agency uploaded with a task, stored outside the web root under a random name."""

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    original_name: str = Field(max_length=255)
    stored_name: str = Field(max_length=64, unique=True)
    size: int
    content_type: str = Field(max_length=100)
    uploaded_by: str = Field(max_length=254)
    uploaded_at: datetime = Field(sa_type=_TZ)
