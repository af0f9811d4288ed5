"""The evidence pack's ``index.html``: the activity, and every part of the pack as tables.

This module owns the page an inspector opens first: the activity's summary, the contents,
the timeline, the decisions and managers' sign-offs, the tasks, ratings, findings, emails,
returned files and directory changes, each row linking to what the pack holds of it, in local time.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ..calendar import WorkingCalendar, format_date, format_deadline_date, format_moment
from ..definitions import Workflow
from ..directory_log import KIND_TITLES
from ..models import Event
from ..views import (
    EMAIL_STATUS_WORDS,
    activity_data_rows,
    change_lines,
    event_sentence,
    recipient_text,
    state_title,
    task_state_title,
    template_title,
    words,
)
from .archive import FileRow
from .snapshot import Snapshot

#: a task's deadline, by its status
_DEADLINE_WORDS = {
    "none": "No deadline",
    "running": "Running",
    "paused": "Paused",
    "met": "Answered",
    "waived": "Waived",
    "withdrawn": "Withdrawn",
}

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


class Index:
    """``index.html`` of one snapshot."""

    def __init__(
        self, snap: Snapshot, calendar: WorkingCalendar, partnership: str, now: datetime
    ) -> None:
        self.snap = snap
        self.cal = calendar
        self.partnership = partnership
        self.now = now

    def when(self, moment: datetime | None) -> str:
        return format_moment(moment, self.cal.tz) if moment is not None else ""

    def who(self, address: str | None) -> str:
        """A person by name (and agency), else their address."""
        if not address:
            return ""
        return self.snap.names.get(address.lower(), address)

    def events_table(self, events: Sequence[Event], anchor: str) -> str:
        if not events:
            return "<p>None.</p>"
        head = ("#", "When", "What happened")
        rows: list[list[str | _Cell]] = []
        for e in events:
            rows.append(
                [
                    _Cell(str(e.id), id_=f"{anchor}-{e.id}"),
                    self.when(e.at),
                    event_sentence(e, self.snap.words),
                ]
            )
        return _table(head, rows)

    def page(self, emails: Sequence[str], files: Sequence[FileRow]) -> bytes:
        snap = self.snap
        a = snap.activity
        decisions = snap.decisions()
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
        wf = snap.workflow
        kind = wf.title if wf is not None else words(a.workflow)
        summary: list[tuple[str, str]] = [
            ("Reference", a.ref),
            ("Kind of activity", f"{kind} (definition version {snap.definition_version})"),
            ("State", state_title(wf, a.state)),
            ("Opened", f"{self.when(a.opened_at)} by {self.who(a.opened_by)}"),
            ("Closed", self.when(a.closed_at) or "Not closed"),
            ("Agencies", ", ".join(f"{g.code} ({g.name})" for g in snap.agencies) or "None"),
        ]
        summary += activity_data_rows(a.data, wf)
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
            ("directory", f"Directory changes ({len(snap.directory)})"),
        ]
        parts.append('<nav aria-label="Contents"><h2>Contents</h2><ol>')
        parts += [f'<li><a href="#{k}">{esc(t)}</a></li>' for k, t in sections]
        parts.append(
            '<li>Data files: <a href="timeline.csv">timeline.csv</a>, '
            '<a href="decisions.csv">decisions.csv</a>, <a href="tasks.csv">tasks.csv</a>, '
            '<a href="ratings.csv">ratings.csv</a>, <a href="findings.csv">findings.csv</a>, '
            '<a href="emails/delivery.csv">emails/delivery.csv</a>, '
            '<a href="returns/files.csv">returns/files.csv</a>, '
            '<a href="directory.csv">directory.csv</a>, '
            '<a href="manifest.json">manifest.json</a> (SHA-256 of every file)</li>'
        )
        parts.append("</ol></nav>")
        parts.append(
            "<p>Times are local time in "
            f"{esc(str(self.cal.tz))}; the CSV files give them in UTC (ISO 8601), with the "
            "keys the workflow file uses beside what this page says in words. "
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
        parts.append(f'<h2 id="directory">{esc(sections[7][1])}</h2>')
        parts.append(
            "<p>Changes to the agencies' details, contacts and sign-in links while the "
            "activity was open, from the directory log: who made each, when, and the values "
            "before and after.</p>"
        )
        parts.append(self.directory_table())
        parts.append("</body></html>\n")
        return "\n".join(parts).encode("utf-8")

    def tasks_table(self) -> str:
        if not self.snap.tasks:
            return "<p>None.</p>"
        head = ("Task", "Kind", "Title", "Agency", "State", "Created", "Due", "Originally due",
                "Deadline", "Answered", "Working days late", "Closed")  # fmt: skip
        wf = self.snap.workflow
        rows = [
            [
                str(t.id),
                _kind_title(wf, t.kind),
                t.title,
                self.snap.code(t.agency_id),
                task_state_title(wf, t.kind, t.state),
                self.when(t.created_at),
                format_deadline_date(t.due_on) if t.due_on else "",
                format_date(t.original_due_on) if t.original_due_on else "",
                _DEADLINE_WORDS.get(t.deadline_status, words(t.deadline_status)),
                self.when(t.answered_at),
                str(t.late_working_days) if t.late_working_days is not None else "",
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
            rating = words(ans.rating) + (f" ({ans.score})" if ans.score is not None else "")
            if ans.carried_forward:
                rating += " (carried forward" + ("" if ans.reviewed else ", not reviewed") + ")"
            moderated = words(ans.moderated_rating)
            if ans.moderated_score is not None:
                moderated += f" ({ans.moderated_score})"
            by = self.who(ans.moderated_by)
            if ans.moderated_at is not None:
                by += f", {self.when(ans.moderated_at)}"
            status = words(a.status)
            rows.append(
                [
                    str(a.id),
                    words(a.form_name),
                    words(a.stage),
                    self.snap.code(a.agency_id),
                    status + (f", {self.when(a.submitted_at)}" if a.submitted_at else ""),
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
                words(f.kind),
                f.text,
                self.snap.code(f.agency_id),
                f.question or "",
                self.when(f.created_at),
                self.who(f.created_by),
                ", ".join(str(i) for i in self.snap.actions.get(f.id or 0, [])),
            ]
            for f in self.snap.findings
        ]
        return _table(head, rows)

    def emails_table(self, names: Sequence[str]) -> str:
        if not self.snap.notifications:
            return "<p>No emails.</p>"
        head = ("#", "Queued", "Email", "To", "Cc", "Subject", "Status", "Attempts", "Sent",
                "Message")  # fmt: skip
        rows: list[list[str | _Cell]] = []
        for n, name in zip(self.snap.notifications, names, strict=True):
            status = EMAIL_STATUS_WORDS.get(n.status, words(n.status))
            status += f": {n.last_error}" if n.last_error else ""
            rows.append(
                [
                    str(n.id),
                    self.when(n.created_at),
                    template_title(n.template, n.subject),
                    f"{n.to_addr} ({recipient_text(n.recipient_role)})",
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

    def files_table(self, files: Sequence[FileRow]) -> str:
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
                self.who(f.upload.uploaded_by),
                self.when(f.upload.uploaded_at),
                _Cell(f.sha256, cls="hash"),
                words(f.status),
            ]
            for f in files
        ]
        return _table(head, rows)

    def directory_table(self) -> str:
        if not self.snap.directory:
            return "<p>None.</p>"
        head = ("#", "When (local time)", "Who", "Role", "What", "About", "Agency", "Changes")
        rows: list[list[str | _Cell]] = [
            [
                _Cell(str(r.id), id_=f"directory-{r.id}"),
                self.when(r.at),
                self.who(r.actor),
                r.actor_role,
                KIND_TITLES.get(r.kind, r.kind),
                r.subject,
                self.snap.code(r.agency_id),
                "; ".join(change_lines(r.before, r.after)),
            ]
            for r in self.snap.directory
        ]
        return _table(head, rows)


def _kind_title(wf: Workflow | None, kind: str) -> str:
    """A task kind by its title in the definition."""
    found = wf.tasks.get(kind) if wf is not None else None
    return found.title if found is not None else words(kind)
