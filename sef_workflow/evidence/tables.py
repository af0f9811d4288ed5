"""The evidence pack's CSV files: timeline, decisions, tasks, delivery, files, ratings,
findings, directory.

This module owns the columns of each CSV file and its rows, in UTC (ISO 8601), with every
cell a spreadsheet would take for a formula starting with an apostrophe. The files keep the
keys the workflow file uses, for machines; the timeline's ``description`` says each event
as the pages do, in a sentence.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from ..directory_log import KIND_TITLES
from ..models import DeliveryAttempt, Event
from ..reports.export import csv_safe
from ..views import change_lines, event_sentence
from .archive import FileRow
from .snapshot import Snapshot
from .values import day, flag, iso, json_text

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
    "description",
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

DIRECTORY_COLUMNS = (
    "record_id",
    "at",
    "actor",
    "actor_role",
    "kind",
    "what",
    "subject",
    "agency",
    "changes",
    "before",
    "after",
)


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
        return flag(value)
    if isinstance(value, int | float):
        return str(value)
    return str(csv_safe(str(value)))


def events_csv(snap: Snapshot, events: Iterable[Event]) -> bytes:
    rows = (
        [
            e.id,
            iso(e.at),
            e.actor,
            e.actor_role,
            e.kind,
            e.trigger,
            e.task_id,
            snap.task_agency.get(e.task_id, "") if e.task_id is not None else "",
            e.from_state,
            e.to_state,
            json_text(e.inputs or {}),
            e.reason,
            event_sentence(e, snap.words),
        ]
        for e in events
    )
    return _csv(TIMELINE_COLUMNS, rows)


def tasks_csv(snap: Snapshot) -> bytes:
    rows = (
        [
            t.id,
            t.kind,
            t.title,
            snap.code(t.agency_id),
            t.state,
            iso(t.created_at),
            day(t.due_on),
            day(t.original_due_on),
            t.deadline_status,
            iso(t.answered_at),
            t.late_working_days,
            iso(t.closed_at),
            json_text(t.data or {}),
        ]
        for t in snap.tasks
    )
    return _csv(TASK_COLUMNS, rows)


def delivery_csv(snap: Snapshot) -> bytes:
    by_notification: dict[int, list[DeliveryAttempt]] = {}
    for a in snap.attempts:
        by_notification.setdefault(a.notification_id, []).append(a)
    rows: list[list[Any]] = []
    for n in snap.notifications:
        assert n.id is not None
        attempts = by_notification.get(n.id, [])
        for a in attempts:
            rows.append(
                [
                    n.id,
                    n.message_id,
                    n.to_addr,
                    a.id,
                    iso(a.at),
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


def files_csv(files: Sequence[FileRow]) -> bytes:
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
            iso(f.upload.uploaded_at),
            f.sha256,
            f.status,
        ]
        for f in files
    )
    return _csv(FILE_COLUMNS, rows)


def ratings_csv(snap: Snapshot) -> bytes:
    assessments = {a.id: a for a in snap.assessments}
    rows: list[list[Any]] = []
    for ans in snap.answers:
        a = assessments[ans.assessment_id]
        rows.append(
            [
                a.id,
                a.form_name,
                a.stage,
                snap.code(a.agency_id),
                a.status,
                iso(a.submitted_at),
                ans.question,
                ans.standard,
                ans.rating,
                ans.score,
                ans.evidence,
                flag(ans.carried_forward),
                flag(ans.reviewed),
                ans.moderated_rating,
                ans.moderated_score,
                ans.moderation_reason,
                ans.moderated_by,
                iso(ans.moderated_at),
            ]
        )
    return _csv(RATING_COLUMNS, rows)


def findings_csv(snap: Snapshot) -> bytes:
    rows = (
        [
            f.id,
            f.kind,
            f.text,
            snap.code(f.agency_id),
            f.question,
            iso(f.created_at),
            f.created_by,
            " ".join(str(i) for i in snap.actions.get(f.id or 0, [])),
        ]
        for f in snap.findings
    )
    return _csv(FINDING_COLUMNS, rows)


def directory_csv(snap: Snapshot) -> bytes:
    """The directory log's records that touched the activity's agencies while it was open."""
    rows = (
        [
            r.id,
            iso(r.at),
            r.actor,
            r.actor_role,
            r.kind,
            KIND_TITLES.get(r.kind, r.kind),
            r.subject,
            snap.code(r.agency_id),
            "; ".join(change_lines(r.before, r.after)),
            json_text(r.before) if r.before is not None else "",
            json_text(r.after) if r.after is not None else "",
        ]
        for r in snap.directory
    )
    return _csv(DIRECTORY_COLUMNS, rows)
