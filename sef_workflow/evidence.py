"""The evidence pack: one activity, one zip an inspector can read.

::

    index.html                      the activity, and every section below as tables with links
    timeline.csv                    every event, in the order it happened
    decisions.csv                   the events people caused (not the system, not reminders)
    tasks.csv                       every task with its deadline record
    emails/NNNN-TEMPLATE-ROLE.eml   each email as the mail server was given it (RFC 5322)
    emails/delivery.csv             each delivery attempt, and each email never attempted
    returns/task-ID-AGENCY/upload-ID.EXT   the files agencies uploaded with their returns
    returns/files.csv               what each file is: original name, size, who, when, SHA-256
    ratings.csv                     every answer of every assessment, with its moderation
    findings.csv                    findings and recommendations, with the actions answering them
    manifest.json                   size and SHA-256 of every other member

Names inside the zip carry only the reference, task and upload ids, agency codes, template
names and recipient roles, never a child's or a family's details: an uploaded file keeps its
original name only in ``returns/files.csv`` and ``index.html``, inside the zip.

The pack only reads, in one read transaction (a repeatable-read snapshot on PostgreSQL), and
the same data with the same ``now`` gives the same bytes: members are written in a fixed
order with a timestamp derived from ``now``.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from .calendar import WorkingCalendar, format_date
from .db import Database
from .errors import NotFound
from .models import (
    Activity,
    ActivityAgency,
    Agency,
    Assessment,
    AssessmentAnswer,
    DeliveryAttempt,
    Event,
    Finding,
    Notification,
    Task,
    Upload,
    WorkflowDefinition,
)
from .notify.delivery import outgoing
from .notify.smtp import build_message

TIMELINE_COLUMNS = (
    "event_id",
    "at",
    "actor",
    "actor_role",
    "kind",
    "trigger",
    "task_id",
    "agency",
    "from_state",
    "to_state",
    "inputs",
    "reason",
)
TASK_COLUMNS = (
    "task_id",
    "kind",
    "title",
    "agency",
    "state",
    "created_at",
    "due_on",
    "original_due_on",
    "deadline_status",
    "answered_at",
    "late_working_days",
    "closed_at",
    "data",
)
DELIVERY_COLUMNS = (
    "notification_id",
    "message_id",
    "to",
    "attempt_id",
    "at",
    "worker",
    "outcome",
    "code",
    "detail",
    "status",
)
FILE_COLUMNS = (
    "task_id",
    "agency",
    "upload_id",
    "file",
    "original_name",
    "size",
    "content_type",
    "uploaded_by",
    "uploaded_at",
    "sha256",
    "status",
)
RATING_COLUMNS = (
    "assessment_id",
    "form",
    "stage",
    "agency",
    "status",
    "submitted_at",
    "question",
    "standard",
    "rating",
    "score",
    "evidence",
    "carried_forward",
    "reviewed",
    "moderated_rating",
    "moderated_score",
    "moderation_reason",
    "moderated_by",
    "moderated_at",
)
FINDING_COLUMNS = (
    "finding_id",
    "kind",
    "text",
    "agency",
    "question",
    "created_at",
    "created_by",
    "actions",
)

#: what the timeline calls each kind of event
_KIND_WORDS = {
    "opened": "opened the activity",
    "transition": "fired",
    "task_created": "created task",
    "task_transition": "moved task",
    "task_completed": "completed task",
    "task_withdrawn": "withdrew task",
    "deadline_extended": "extended the deadline of task",
    "deadline_paused": "paused the deadline of task",
    "deadline_resumed": "resumed the deadline of task",
    "deadline_waived": "waived the deadline of task",
    "deadline_reprogrammed": "reprogrammed task",
    "spawned": "opened a linked activity",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class EvidencePack:
    """The zip and what went into it."""

    data: bytes
    events: int
    emails: int
    #: uploaded files copied into the zip
    files: int
    #: uploaded files listed but no longer on disk
    missing_files: int


def pack_filename(ref: str) -> str:
    """``MAA-2026-004-evidence.zip``: the download's name (only letters, digits, - and _)."""
    return f"{_safe(ref.strip().upper()) or 'activity'}-evidence.zip"


def evidence_pack(
    db: Database,
    ref: str,
    *,
    upload_dir: Path,
    calendar: WorkingCalendar,
    partnership: str,
    now: datetime,
    from_addr: str | None = None,
) -> bytes:
    """The evidence pack of activity ``ref`` as zip bytes; NotFound for an unknown reference.

    ``from_addr`` is the sender the delivery worker uses (it is not stored with each
    email); without it the emails in the pack carry no From header.
    """
    return build_evidence_pack(
        db,
        ref,
        upload_dir=upload_dir,
        calendar=calendar,
        partnership=partnership,
        now=now,
        from_addr=from_addr,
    ).data


def build_evidence_pack(
    db: Database,
    ref: str,
    *,
    upload_dir: Path,
    calendar: WorkingCalendar,
    partnership: str,
    now: datetime,
    from_addr: str | None = None,
) -> EvidencePack:
    """:func:`evidence_pack`, with the counts of what went in."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"naive datetime {now!r}: pass a timezone-aware time")
    with db.read() as session:
        if not db.is_sqlite:
            # one snapshot for every query below, as SQLite's read transaction gives anyway
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        snap = _load(session, ref)
    return _Builder(snap, upload_dir, calendar, partnership, now, from_addr).build()


# ---------------------------------------------------------------------------- reading
@dataclass
class _Snapshot:
    activity: Activity
    definition_version: str
    agencies: list[Agency]
    codes: dict[int, str]
    tasks: list[Task]
    events: list[Event]
    notifications: list[Notification]
    attempts: list[DeliveryAttempt]
    uploads: list[Upload]
    assessments: list[Assessment]
    answers: list[AssessmentAnswer]
    findings: list[Finding]
    actions: dict[int, list[int]] = field(default_factory=dict)


def _load(session: Session, ref: str) -> _Snapshot:
    activity = session.exec(select(Activity).where(Activity.ref == ref.strip().upper())).first()
    if activity is None:
        raise NotFound(f"no activity with reference {ref}")
    aid = activity.id
    assert aid is not None
    definition = session.get(WorkflowDefinition, activity.definition_id)
    agencies = list(
        session.exec(
            select(Agency)
            .join(ActivityAgency, col(ActivityAgency.agency_id) == col(Agency.id))
            .where(ActivityAgency.activity_id == aid)
            .order_by(col(Agency.code))
        ).all()
    )
    tasks = list(session.exec(select(Task).where(Task.activity_id == aid).order_by(col(Task.id))))
    events = list(
        session.exec(select(Event).where(Event.activity_id == aid).order_by(col(Event.id))).all()
    )
    notifications = list(
        session.exec(
            select(Notification)
            .where(Notification.activity_id == aid)
            .order_by(col(Notification.id))
        ).all()
    )
    attempts = list(
        session.exec(
            select(DeliveryAttempt)
            .join(Notification, col(Notification.id) == col(DeliveryAttempt.notification_id))
            .where(Notification.activity_id == aid)
            .order_by(col(DeliveryAttempt.id))
        ).all()
    )
    uploads = list(
        session.exec(
            select(Upload)
            .join(Task, col(Task.id) == col(Upload.task_id))
            .where(Task.activity_id == aid)
            .order_by(col(Upload.id))
        ).all()
    )
    assessments = list(
        session.exec(
            select(Assessment).where(Assessment.activity_id == aid).order_by(col(Assessment.id))
        ).all()
    )
    answers = list(
        session.exec(
            select(AssessmentAnswer)
            .join(Assessment, col(Assessment.id) == col(AssessmentAnswer.assessment_id))
            .where(Assessment.activity_id == aid)
        ).all()
    )
    answers.sort(key=lambda a: (a.assessment_id, _natural(a.question)))
    findings = list(
        session.exec(select(Finding).where(Finding.activity_id == aid).order_by(col(Finding.id)))
    )
    actions: dict[int, list[int]] = {}
    finding_ids = [f.id for f in findings if f.id is not None]
    if finding_ids:
        rows = session.exec(
            select(Task.id, Task.finding_id)
            .where(col(Task.finding_id).in_(finding_ids))
            .order_by(col(Task.id))
        ).all()
        for task_id, finding_id in rows:
            if task_id is not None and finding_id is not None:
                actions.setdefault(finding_id, []).append(task_id)
    wanted = {
        *(t.agency_id for t in tasks),
        *(a.agency_id for a in assessments),
        *(f.agency_id for f in findings),
    } - {None}
    codes = {a.id: a.code for a in agencies if a.id is not None}
    missing = sorted(i for i in wanted if i is not None and i not in codes)
    if missing:
        for row in session.exec(select(Agency).where(col(Agency.id).in_(missing))).all():
            if row.id is not None:
                codes[row.id] = row.code
    return _Snapshot(
        activity=activity,
        definition_version=definition.version if definition is not None else "",
        agencies=agencies,
        codes=codes,
        tasks=tasks,
        events=events,
        notifications=notifications,
        attempts=attempts,
        uploads=uploads,
        assessments=assessments,
        answers=answers,
        findings=findings,
        actions=actions,
    )


# ---------------------------------------------------------------------------- writing
@dataclass(frozen=True)
class _Member:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class _FileRow:
    upload: Upload
    task_id: int
    agency: str
    path: str | None
    sha256: str
    status: str


class _Zip:
    """A zip written member by member, each with the same fixed timestamp; remembers sums."""

    def __init__(self, moment: datetime) -> None:
        self.buffer = io.BytesIO()
        self.zf = zipfile.ZipFile(self.buffer, "w", zipfile.ZIP_DEFLATED)
        stamp = max(moment, datetime(1980, 1, 1, tzinfo=moment.tzinfo))
        self.date_time = (
            stamp.year,
            stamp.month,
            stamp.day,
            stamp.hour,
            stamp.minute,
            stamp.second,
        )
        self.members: list[_Member] = []

    def _info(self, path: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(path, self.date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.create_system = 3
        info.external_attr = 0o644 << 16
        return info

    def add(self, path: str, data: bytes) -> None:
        self.zf.writestr(self._info(path), data)
        self.members.append(_Member(path, len(data), hashlib.sha256(data).hexdigest()))

    def add_file(self, path: str, source: Path) -> _Member:
        """Copy ``source`` in, in chunks; its size and SHA-256 as copied."""
        digest = hashlib.sha256()
        size = 0
        with source.open("rb") as src, self.zf.open(self._info(path), "w") as dst:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                dst.write(chunk)
        member = _Member(path, size, digest.hexdigest())
        self.members.append(member)
        return member

    def close(self) -> bytes:
        self.zf.close()
        return self.buffer.getvalue()


class _Builder:
    def __init__(
        self,
        snap: _Snapshot,
        upload_dir: Path,
        calendar: WorkingCalendar,
        partnership: str,
        now: datetime,
        from_addr: str | None,
    ) -> None:
        self.snap = snap
        self.upload_dir = upload_dir
        self.cal = calendar
        self.partnership = partnership
        self.now = now
        self.from_addr = from_addr
        self.task_agency = {t.id: self.code(t.agency_id) for t in snap.tasks}
        self.task_titles = {t.id: t.title for t in snap.tasks}

    def code(self, agency_id: int | None) -> str:
        return self.snap.codes.get(agency_id, str(agency_id)) if agency_id is not None else ""

    # -------------------------------------------------------------------- the whole
    def build(self) -> EvidencePack:
        snap = self.snap
        out = _Zip(self.now.astimezone(self.cal.tz))
        emails = self.email_names()
        # files first: their sums go into returns/files.csv and index.html
        files = self.copy_files(out)
        out.add("timeline.csv", self.events_csv(snap.events))
        out.add("decisions.csv", self.events_csv(self.decisions()))
        out.add("tasks.csv", self.tasks_csv())
        for n, name in zip(snap.notifications, emails, strict=True):
            out.add(name, self.eml(n))
        out.add("emails/delivery.csv", self.delivery_csv())
        out.add("returns/files.csv", self.files_csv(files))
        out.add("ratings.csv", self.ratings_csv())
        out.add("findings.csv", self.findings_csv())
        out.add("index.html", self.index_html(emails, files))
        manifest = {
            "reference": snap.activity.ref,
            "generated_at": _iso(self.now),
            "partnership": self.partnership,
            "files": [{"path": m.path, "size": m.size, "sha256": m.sha256} for m in out.members],
        }
        text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
        out.add("manifest.json", text.encode("utf-8"))
        included = sum(1 for f in files if f.path is not None)
        return EvidencePack(
            data=out.close(),
            events=len(snap.events),
            emails=len(snap.notifications),
            files=included,
            missing_files=len(files) - included,
        )

    def decisions(self) -> list[Event]:
        """What people decided: every event not caused by the system and not a reminder."""
        return [e for e in self.snap.events if e.actor_role != "system" and e.kind != "reminder"]

    # -------------------------------------------------------------------- files
    def copy_files(self, out: _Zip) -> list[_FileRow]:
        rows: list[_FileRow] = []
        for u in self.snap.uploads:
            assert u.id is not None
            agency = self.task_agency.get(u.task_id, "")
            folder = f"returns/task-{u.task_id}-{_safe(agency) or 'none'}"
            path = f"{folder}/upload-{u.id}{_extension(u.original_name)}"
            source = self.upload_dir / u.stored_name
            # stored names are random hex; anything else never leaves the upload folder
            if Path(u.stored_name).name != u.stored_name or not source.is_file():
                rows.append(_FileRow(u, u.task_id, agency, None, "", "missing"))
                continue
            member = out.add_file(path, source)
            status = "included"
            if member.size != u.size:
                status = f"included; {member.size} bytes on disk, {u.size} recorded"
            rows.append(_FileRow(u, u.task_id, agency, path, member.sha256, status))
        return rows

    # -------------------------------------------------------------------- CSV
    def event_row(self, e: Event) -> list[Any]:
        return [
            e.id,
            _iso(e.at),
            e.actor,
            e.actor_role,
            e.kind,
            e.trigger,
            e.task_id,
            self.task_agency.get(e.task_id, "") if e.task_id is not None else "",
            e.from_state,
            e.to_state,
            _json(e.inputs or {}),
            e.reason,
        ]

    def events_csv(self, events: Iterable[Event]) -> bytes:
        return _csv(TIMELINE_COLUMNS, (self.event_row(e) for e in events))

    def tasks_csv(self) -> bytes:
        rows = (
            [
                t.id,
                t.kind,
                t.title,
                self.code(t.agency_id),
                t.state,
                _iso(t.created_at),
                _day(t.due_on),
                _day(t.original_due_on),
                t.deadline_status,
                _iso(t.answered_at),
                t.late_working_days,
                _iso(t.closed_at),
                _json(t.data or {}),
            ]
            for t in self.snap.tasks
        )
        return _csv(TASK_COLUMNS, rows)

    def delivery_csv(self) -> bytes:
        by_notification: dict[int, list[DeliveryAttempt]] = {}
        for a in self.snap.attempts:
            by_notification.setdefault(a.notification_id, []).append(a)
        rows: list[list[Any]] = []
        for n in self.snap.notifications:
            assert n.id is not None
            attempts = by_notification.get(n.id, [])
            for a in attempts:
                rows.append(
                    [
                        n.id,
                        n.message_id,
                        n.to_addr,
                        a.id,
                        _iso(a.at),
                        a.worker,
                        a.outcome,
                        a.code,
                        a.detail,
                        n.status,
                    ]
                )
            if not attempts:
                rows.append([n.id, n.message_id, n.to_addr, "", "", "", "", "", "", n.status])
        return _csv(DELIVERY_COLUMNS, rows)

    def files_csv(self, files: Sequence[_FileRow]) -> bytes:
        rows = (
            [
                f.task_id,
                f.agency,
                f.upload.id,
                f.path or "",
                f.upload.original_name,
                f.upload.size,
                f.upload.content_type,
                f.upload.uploaded_by,
                _iso(f.upload.uploaded_at),
                f.sha256,
                f.status,
            ]
            for f in files
        )
        return _csv(FILE_COLUMNS, rows)

    def ratings_csv(self) -> bytes:
        assessments = {a.id: a for a in self.snap.assessments}
        rows: list[list[Any]] = []
        for ans in self.snap.answers:
            a = assessments[ans.assessment_id]
            rows.append(
                [
                    a.id,
                    a.form_name,
                    a.stage,
                    self.code(a.agency_id),
                    a.status,
                    _iso(a.submitted_at),
                    ans.question,
                    ans.standard,
                    ans.rating,
                    ans.score,
                    ans.evidence,
                    _bool(ans.carried_forward),
                    _bool(ans.reviewed),
                    ans.moderated_rating,
                    ans.moderated_score,
                    ans.moderation_reason,
                    ans.moderated_by,
                    _iso(ans.moderated_at),
                ]
            )
        return _csv(RATING_COLUMNS, rows)

    def findings_csv(self) -> bytes:
        rows = (
            [
                f.id,
                f.kind,
                f.text,
                self.code(f.agency_id),
                f.question,
                _iso(f.created_at),
                f.created_by,
                " ".join(str(i) for i in self.snap.actions.get(f.id or 0, [])),
            ]
            for f in self.snap.findings
        )
        return _csv(FINDING_COLUMNS, rows)

    # -------------------------------------------------------------------- emails
    def email_names(self) -> list[str]:
        width = max(4, len(str(max((n.id or 0 for n in self.snap.notifications), default=0))))
        return [
            f"emails/{n.id:0{width}d}-{_safe(n.template) or 'email'}-"
            f"{_safe(n.recipient_role) or 'recipient'}.eml"
            for n in self.snap.notifications
        ]

    def eml(self, n: Notification) -> bytes:
        """The message as the delivery worker builds it: same Message-ID, Date and bytes."""
        raw = build_message(outgoing(n, self.from_addr or ""))
        if self.from_addr:
            return raw
        head, sep, body = raw.partition(b"\r\n\r\n")
        lines = [line for line in head.split(b"\r\n") if line != b"From: "]
        return b"\r\n".join(lines) + sep + body

    # -------------------------------------------------------------------- index.html
    def when(self, moment: datetime | None) -> str:
        if moment is None:
            return ""
        local = moment.astimezone(self.cal.tz)
        return f"{format_date(local.date())} {local:%H:%M} {local.tzname() or ''}".rstrip()

    def what(self, e: Event) -> str:
        text = _KIND_WORDS.get(e.kind, e.kind.replace("_", " "))
        if e.task_id is not None:
            agency = self.task_agency.get(e.task_id, "")
            text += f" {e.task_id}" + (f" ({agency})" if agency else "")
            title = self.task_titles.get(e.task_id)
            if title:
                text += f" {title}"
        if e.trigger:
            text += f" '{e.trigger}'"
        return text

    def events_table(self, events: Sequence[Event], anchor: str) -> str:
        if not events:
            return "<p>None.</p>"
        head = ("#", "When (local time)", "Who", "Role", "What", "From → to", "Inputs", "Reason")
        rows: list[list[str | _Cell]] = []
        for e in events:
            moved = e.to_state or e.from_state or ""
            if e.from_state and e.to_state:
                moved = f"{e.from_state} → {e.to_state}"
            rows.append(
                [
                    _Cell(str(e.id), id_=f"{anchor}-{e.id}"),
                    self.when(e.at),
                    e.actor,
                    e.actor_role,
                    self.what(e),
                    moved,
                    _inputs_text(e.inputs or {}),
                    e.reason or "",
                ]
            )
        return _table(head, rows)

    def index_html(self, emails: Sequence[str], files: Sequence[_FileRow]) -> bytes:
        snap = self.snap
        a = snap.activity
        decisions = self.decisions()
        sign_offs = [e for e in decisions if e.actor_role == "manager"]
        esc = html.escape
        parts: list[str] = [
            "<!DOCTYPE html>",
            '<html lang="en-GB">',
            '<head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>Evidence pack: {esc(a.ref)}</title>",
            f"<style>{_CSS}</style></head>",
            "<body>",
            f'<p class="caption">{esc(self.partnership)}</p>',
            f"<h1>Evidence pack: {esc(a.ref)}</h1>",
            f"<p>{esc(a.title)}</p>",
        ]
        summary: list[tuple[str, str]] = [
            ("Reference", a.ref),
            ("Workflow", f"{a.workflow} (definition version {snap.definition_version})"),
            ("State", a.state),
            ("Opened", f"{self.when(a.opened_at)} by {a.opened_by}"),
            ("Closed", self.when(a.closed_at) or "not closed"),
            ("Agencies", ", ".join(f"{g.code} ({g.name})" for g in snap.agencies) or "none"),
        ]
        summary += [(key.replace("_", " ").capitalize(), _text(v)) for key, v in a.data.items()]
        summary.append(("Pack generated", self.when(self.now)))
        parts.append('<dl class="summary">')
        parts += [f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in summary]
        parts.append("</dl>")
        sections = [
            ("timeline", f"Timeline ({len(snap.events)} events)"),
            ("decisions", f"Decisions and sign-offs ({len(decisions)})"),
            ("tasks", f"Tasks ({len(snap.tasks)})"),
            ("ratings", f"Ratings ({len(snap.answers)} answers)"),
            ("findings", f"Findings and recommendations ({len(snap.findings)})"),
            ("emails", f"Emails ({len(snap.notifications)})"),
            ("files", f"Returned files ({len(files)})"),
        ]
        parts.append('<nav aria-label="Contents"><h2>Contents</h2><ol>')
        parts += [f'<li><a href="#{k}">{esc(t)}</a></li>' for k, t in sections]
        parts.append(
            '<li>Data files: <a href="timeline.csv">timeline.csv</a>, '
            '<a href="decisions.csv">decisions.csv</a>, <a href="tasks.csv">tasks.csv</a>, '
            '<a href="ratings.csv">ratings.csv</a>, <a href="findings.csv">findings.csv</a>, '
            '<a href="emails/delivery.csv">emails/delivery.csv</a>, '
            '<a href="returns/files.csv">returns/files.csv</a>, '
            '<a href="manifest.json">manifest.json</a> (SHA-256 of every file)</li>'
        )
        parts.append("</ol></nav>")
        parts.append(
            "<p>Times are local time in "
            f"{esc(str(self.cal.tz))}; the CSV files give them in UTC (ISO 8601). "
            "A CSV cell that would start with = + - or @ starts with an apostrophe instead, "
            "so that a spreadsheet does not run it.</p>"
        )

        parts.append(f'<h2 id="timeline">{esc(sections[0][1])}</h2>')
        parts.append(self.events_table(snap.events, "event"))

        parts.append(f'<h2 id="decisions">{esc(sections[1][1])}</h2>')
        parts.append(
            "<p>Every step a person took (not the system's own steps, not reminders): "
            "transitions, task decisions, deadline changes.</p>"
        )
        parts.append(self.events_table(decisions, "decision"))
        parts.append(f"<h3>Sign-offs by managers ({len(sign_offs)})</h3>")
        parts.append(self.events_table(sign_offs, "sign-off"))

        parts.append(f'<h2 id="tasks">{esc(sections[2][1])}</h2>')
        parts.append(self.tasks_table())
        parts.append(f'<h2 id="ratings">{esc(sections[3][1])}</h2>')
        parts.append(self.ratings_table())
        parts.append(f'<h2 id="findings">{esc(sections[4][1])}</h2>')
        parts.append(self.findings_table())
        parts.append(f'<h2 id="emails">{esc(sections[5][1])}</h2>')
        parts.append(self.emails_table(emails))
        parts.append(f'<h2 id="files">{esc(sections[6][1])}</h2>')
        parts.append(self.files_table(files))
        parts.append("</body></html>\n")
        return "\n".join(parts).encode("utf-8")

    def tasks_table(self) -> str:
        if not self.snap.tasks:
            return "<p>None.</p>"
        head = ("Task", "Kind", "Title", "Agency", "State", "Created", "Due", "Originally due",
                "Deadline", "Answered", "Working days late", "Closed")  # fmt: skip
        rows = [
            [
                str(t.id),
                t.kind,
                t.title,
                self.code(t.agency_id),
                t.state,
                self.when(t.created_at),
                format_date(t.due_on) if t.due_on else "",
                format_date(t.original_due_on) if t.original_due_on else "",
                t.deadline_status,
                self.when(t.answered_at),
                _text(t.late_working_days),
                self.when(t.closed_at),
            ]
            for t in self.snap.tasks
        ]
        return _table(head, rows)

    def ratings_table(self) -> str:
        if not self.snap.answers:
            return "<p>No assessments recorded.</p>"
        assessments = {a.id: a for a in self.snap.assessments}
        head = ("Assessment", "Form", "Stage", "Agency", "Status", "Question", "Standard",
                "Rating", "Evidence", "Moderated rating", "Moderation reason", "Moderated by")  # fmt: skip
        rows = []
        for ans in self.snap.answers:
            a = assessments[ans.assessment_id]
            rating = _text(ans.rating) + (f" ({ans.score})" if ans.score is not None else "")
            if ans.carried_forward:
                rating += " [carried forward" + ("" if ans.reviewed else ", not reviewed") + "]"
            moderated = _text(ans.moderated_rating)
            if ans.moderated_score is not None:
                moderated += f" ({ans.moderated_score})"
            by = ans.moderated_by or ""
            if ans.moderated_at is not None:
                by += f", {self.when(ans.moderated_at)}"
            rows.append(
                [
                    str(a.id),
                    a.form_name,
                    a.stage,
                    self.code(a.agency_id),
                    a.status + (f", {self.when(a.submitted_at)}" if a.submitted_at else ""),
                    ans.question,
                    ans.standard,
                    rating,
                    ans.evidence or "",
                    moderated,
                    ans.moderation_reason or "",
                    by,
                ]
            )
        return _table(head, rows)

    def findings_table(self) -> str:
        if not self.snap.findings:
            return "<p>None recorded.</p>"
        head = ("#", "Kind", "Text", "Agency", "Question", "Recorded", "By", "Actions (task ids)")
        rows = [
            [
                str(f.id),
                f.kind,
                f.text,
                self.code(f.agency_id),
                f.question or "",
                self.when(f.created_at),
                f.created_by,
                ", ".join(str(i) for i in self.snap.actions.get(f.id or 0, [])),
            ]
            for f in self.snap.findings
        ]
        return _table(head, rows)

    def emails_table(self, names: Sequence[str]) -> str:
        if not self.snap.notifications:
            return "<p>No emails.</p>"
        head = ("#", "Queued", "Template", "To", "Cc", "Subject", "Status", "Attempts", "Sent",
                "Message")  # fmt: skip
        rows: list[list[str | _Cell]] = []
        for n, name in zip(self.snap.notifications, names, strict=True):
            status = n.status + (f": {n.last_error}" if n.last_error else "")
            rows.append(
                [
                    str(n.id),
                    self.when(n.created_at),
                    n.template,
                    f"{n.to_addr} ({n.recipient_role})",
                    ", ".join(n.cc_addrs or ()),
                    n.subject,
                    status,
                    str(n.attempts),
                    self.when(n.sent_at),
                    _Cell(name.split("/", 1)[1], href=name),
                ]
            )
        return (
            _table(head, rows)
            + '<p>Every attempt and what the server replied: <a href="emails/delivery.csv">'
            "emails/delivery.csv</a>.</p>"
        )

    def files_table(self, files: Sequence[_FileRow]) -> str:
        if not files:
            return "<p>No files were uploaded.</p>"
        head = ("Task", "Agency", "Upload", "File in this pack", "Original name", "Size",
                "Type", "Uploaded by", "Uploaded", "SHA-256", "Status")  # fmt: skip
        rows = [
            [
                str(f.task_id),
                f.agency,
                str(f.upload.id),
                _Cell(f.path, href=f.path) if f.path else "(not stored)",
                f.upload.original_name,
                str(f.upload.size),
                f.upload.content_type,
                f.upload.uploaded_by,
                self.when(f.upload.uploaded_at),
                _Cell(f.sha256, cls="hash"),
                f.status,
            ]
            for f in files
        ]
        return _table(head, rows)


# ---------------------------------------------------------------------------- helpers
_CSS = (
    "body{font-family:Arial,Helvetica,sans-serif;margin:2em;color:#0b0c0c;line-height:1.4}"
    "h1{font-size:1.8em}h2{margin-top:2em;border-bottom:2px solid #0b0c0c}"
    ".caption{color:#505a5f;margin:0}"
    "table{border-collapse:collapse;width:100%;font-size:.9em}"
    "th,td{border:1px solid #b1b4b6;padding:.3em .5em;text-align:left;vertical-align:top}"
    "th{background:#f3f2f1}td:target{background:#ffdd00}"
    "dl.summary{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}"
    "dt{font-weight:bold}dd{margin:0}.hash{font-family:monospace;word-break:break-all}"
    "@media print{a{color:inherit}}"
)


@dataclass(frozen=True)
class _Cell:
    text: str
    href: str | None = None
    id_: str | None = None
    cls: str | None = None


def _table(head: Sequence[str], rows: Iterable[Sequence[str | _Cell]]) -> str:
    esc = html.escape
    out = ["<table>", "<thead><tr>"]
    out += [f'<th scope="col">{esc(h)}</th>' for h in head]
    out.append("</tr></thead><tbody>")
    for row in rows:
        cells = []
        for cell in row:
            if isinstance(cell, _Cell):
                attrs = f' id="{esc(cell.id_)}"' if cell.id_ else ""
                attrs += f' class="{esc(cell.cls)}"' if cell.cls else ""
                inner = esc(cell.text)
                if cell.href:
                    inner = f'<a href="{esc(cell.href)}">{inner}</a>'
                cells.append(f"<td{attrs}>{inner}</td>")
            else:
                cells.append(f"<td>{esc(cell)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return buffer.getvalue().encode("utf-8")


def _cell(value: Any) -> str:
    """A CSV cell; text a spreadsheet would take for a formula starts with an apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return _bool(value)
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat() if moment is not None else ""


def _day(d: date | None) -> str:
    return d.isoformat() if d is not None else ""


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _json(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return str(value)


def _inputs_text(inputs: Mapping[str, Any]) -> str:
    return "; ".join(f"{k}: {_text(v)}" for k, v in sorted(inputs.items()) if v not in (None, ""))


def _safe(text: str) -> str:
    """Letters, digits, - and _ only: safe in a file name and a header."""
    return _UNSAFE.sub("_", text).strip("_")


def _extension(name: str) -> str:
    """``.pdf`` from ``Return (final).PDF``: lower case, letters and digits, at most 8."""
    suffix = Path(name.replace("\\", "/")).suffix.lower().lstrip(".")
    clean = "".join(c for c in suffix if c.isascii() and c.isalnum())[:8]
    return f".{clean}" if clean else ""


def _natural(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key putting question 1.2 before 1.10."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", text) if p)


__all__ = ["EvidencePack", "build_evidence_pack", "evidence_pack", "pack_filename"]
