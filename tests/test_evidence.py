"""The evidence pack: one zip per activity, complete, checkable and free of names in its paths.

An agency request is driven through the service (returns, an extension request, a manager's
sign-off), its emails are delivered to a real SMTP server (aiosmtpd) with one deferral and
one refusal, a file is uploaded as the web stores it; then the pack is built and read back.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlmodel import col, select

import sef_workflow.app
from sef_workflow.app import App
from sef_workflow.calendar import WorkingCalendar
from sef_workflow.cli import main
from sef_workflow.clock import FakeClock
from sef_workflow.config import load_settings
from sef_workflow.db import Database
from sef_workflow.errors import NotFound
from sef_workflow.evidence import (
    DELIVERY_COLUMNS,
    FILE_COLUMNS,
    RATING_COLUMNS,
    TIMELINE_COLUMNS,
    build_evidence_pack,
    evidence_pack,
    pack_filename,
)
from sef_workflow.models import (
    Assessment,
    AssessmentAnswer,
    DeliveryAttempt,
    Finding,
    FormDefinition,
    Task,
    Upload,
)
from sef_workflow.notify.delivery import Delivery
from sef_workflow.notify.smtp import SmtpSender
from sef_workflow.service import Actor, Service
from sef_workflow.web import create_app, create_login_link, set_password

from .conftest import COORDINATOR, FICTIONAL_AGENCIES, MANAGER, WORKFLOWS, confirm_sign_in_link
from .smtpd import ScriptedSmtpServer

PARTNERSHIP = "Northshire Safeguarding Children Partnership (fictional)"
FROM = "business.unit@northshire-scp.example"
#: the uploaded file's original name: it must never become a name inside the zip
ORIGINAL_NAME = "Return for Jamie Fictional-Smith (final).PDF"
UPLOAD_BYTES = b"%PDF-1.4 fictional return, no real person\n" + bytes(range(256)) * 40
SCRIPT_REASON = "Staff sickness <script>alert(1)</script> & a late board"
NAMES_NEVER_IN_PATHS = [
    "Jamie",
    "Fictional-Smith",
    "final",
    *(r.lead_name for r in FICTIONAL_AGENCIES),
    *(r.lead_email for r in FICTIONAL_AGENCIES),
    *(r.deputy_name for r in FICTIONAL_AGENCIES if r.deputy_name),
    *(r.manager_name for r in FICTIONAL_AGENCIES if r.manager_name),
    "Police",
    "Health",
    "Council",
]


def agency_actor(service: Service, code: str) -> Actor:
    agency = next(a for a in service.list_agencies() if a.code == code)
    return Actor(id=f"lead@{code.lower()}.northshire.example", role="agency", agency_id=agency.id)


def open_request(service: Service) -> tuple[str, dict[str, int]]:
    """An agency request issued to three agencies; their return task ids by agency code."""
    out = service.open_activity(
        COORDINATOR,
        "agency_request",
        "Quarterly indicators (fictional)",
        ["POL", "ICB", "CSC"],
        {"request_type": "quarterly_system_indicators", "period": "Q4 2025-26"},
    )
    ref = out.activity.ref
    issued = service.fire(COORDINATOR, ref, "issue_request", {"due_date": "2026-01-30"})
    codes = {a.id: a.code for a in service.list_agencies()}
    return ref, {codes[t.agency_id]: t.id for t in issued.created_tasks if t.id and t.agency_id}


def store_upload(database: Database, upload_dir: Path, task_id: int, now: datetime) -> Upload:
    """A file as the web stores it: random name on disk, the original name in the row."""
    upload_dir.mkdir(parents=True, exist_ok=True)
    stored = os.urandom(16).hex()
    (upload_dir / stored).write_bytes(UPLOAD_BYTES)
    with database.write() as session:
        row = Upload(
            task_id=task_id,
            original_name=ORIGINAL_NAME,
            stored_name=stored,
            size=len(UPLOAD_BYTES),
            content_type="application/pdf",
            uploaded_by="lead@pol.northshire.example",
            uploaded_at=now,
        )
        session.add(row)
    return row


def deliver_all(database: Database, clock: FakeClock, server: ScriptedSmtpServer) -> None:
    sender = SmtpSender(
        "127.0.0.1", server.port, "none", "", "", 5.0, 2, local_hostname="localhost"
    )
    worker = Delivery(database, sender, clock, from_addr=FROM, worker="worker-a")
    for _ in range(10):
        if worker.deliver_once().claimed == 0:
            clock.advance(timedelta(minutes=5))  # past the backoff of a deferred message
            if worker.deliver_once().claimed == 0:
                return
    raise AssertionError("the outbox never emptied")


def add_ratings(database: Database, ref: str, service: Service, task_id: int) -> None:
    """An assessment with two answers (one moderated), a finding and an action answering it."""
    activity = service.get_activity(ref)[0]
    now = service.clock.now()
    pol = agency_actor(service, "POL").agency_id
    with database.write() as session:
        form = FormDefinition(name="fictional_form", version="1", source="", created_at=now)
        session.add(form)
        session.flush()
        assert form.id is not None
        assert activity.id is not None
        assessment = Assessment(
            activity_id=activity.id,
            agency_id=pol,
            form_definition_id=form.id,
            form_name="fictional_form",
            scale="brag",
            stage="first",
            status="submitted",
            created_at=now,
            updated_at=now,
            submitted_at=now,
            submitted_by=COORDINATOR.id,
        )
        session.add(assessment)
        session.flush()
        assert assessment.id is not None
        for question, rating, score in (("1.10", "green", 3), ("1.2", "amber", 2)):
            session.add(
                AssessmentAnswer(
                    assessment_id=assessment.id,
                    question=question,
                    standard="1",
                    rating=rating,
                    score=score,
                    evidence="=SUM(A1) policy in place (fictional)",
                    updated_at=now,
                    updated_by=COORDINATOR.id,
                    moderated_rating="red" if question == "1.2" else None,
                    moderated_score=1 if question == "1.2" else None,
                    moderation_reason="no audit seen" if question == "1.2" else None,
                    moderated_by=MANAGER.id if question == "1.2" else None,
                    moderated_at=now if question == "1.2" else None,
                )
            )
        finding = Finding(
            activity_id=activity.id,
            kind="recommendation",
            text="Share indicators monthly (fictional)",
            agency_id=pol,
            question="fictional_form 1.2",
            created_at=now,
            created_by=MANAGER.id,
        )
        session.add(finding)
        session.flush()
        task = session.get(Task, task_id)
        assert task is not None
        task.finding_id = finding.id
        session.add(task)


@dataclass
class Scenario:
    service: Service
    database: Database
    clock: FakeClock
    calendar: WorkingCalendar
    ref: str
    tasks: dict[str, int]
    upload: Upload
    upload_dir: Path
    server: ScriptedSmtpServer

    def build(self, **kw: Any) -> bytes:
        args: dict[str, Any] = {
            "upload_dir": self.upload_dir,
            "calendar": self.calendar,
            "partnership": PARTNERSHIP,
            "now": self.clock.now(),
            "from_addr": FROM,
        }
        args.update(kw)
        return evidence_pack(self.database, self.ref, **args)


@pytest.fixture
def scenario(
    partnership: Service,
    database: Database,
    clock: FakeClock,
    calendar: WorkingCalendar,
    tmp_path: Path,
) -> Iterator[Scenario]:
    service = partnership
    ref, tasks = open_request(service)
    with ScriptedSmtpServer() as server:
        # the first message is deferred once; the ICB lead's mailbox refuses for good
        server.fail_next(1)
        server.refuse("lead@icb.northshire.example")
        deliver_all(database, clock, server)
        clock.advance(timedelta(days=1))
        pol, icb, csc = (agency_actor(service, c) for c in ("POL", "ICB", "CSC"))
        upload = store_upload(database, tmp_path / "uploads", tasks["POL"], clock.now())
        service.fire_task(pol, tasks["POL"], "submit", {"summary": "Indicators attached"})
        service.fire_task(
            icb, tasks["ICB"], "request_extension", {"requested_date": "2026-02-06"}, SCRIPT_REASON
        )
        service.fire_task(icb, tasks["ICB"], "submit", {"summary": "Indicators"})
        service.fire_task(csc, tasks["CSC"], "submit", {"summary": "-1 outstanding"})
        for code in ("POL", "ICB", "CSC"):
            service.fire_task(COORDINATOR, tasks[code], "accept")
        service.fire(COORDINATOR, ref, "mark_received")
        service.fire(
            MANAGER,
            ref,
            "table_at_meeting",
            {"meeting_name": "Board (fictional)", "meeting_date": "2026-02-12"},
        )
        deliver_all(database, clock, server)
        clock.advance(timedelta(hours=2))
        # noted and closed by the manager: these emails stay in the outbox, never attempted
        service.fire(MANAGER, ref, "note", {"minute": "Noted with thanks"})
        service.fire(MANAGER, ref, "close", {"closure_note": "Complete"})
        add_ratings(database, ref, service, tasks["POL"])
        yield Scenario(
            service, database, clock, calendar, ref, tasks, upload, tmp_path / "uploads", server
        )


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        return {name: zf.read(name) for name in zf.namelist()}


def rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def header(data: bytes) -> list[str]:
    return next(csv.reader(io.StringIO(data.decode("utf-8"))))


def attempts(database: Database, ids: list[int]) -> list[DeliveryAttempt]:
    with database.read() as session:
        return list(
            session.exec(
                select(DeliveryAttempt)
                .where(col(DeliveryAttempt.notification_id).in_(ids))
                .order_by(col(DeliveryAttempt.id))
            ).all()
        )


# ---------------------------------------------------------------------------- the pack
def test_pack_holds_the_whole_record(scenario: Scenario) -> None:
    s = scenario
    data = s.build()
    files = members(data)
    names = list(files)

    # every member is in the manifest with its size and SHA-256; the manifest comes last
    assert names[-1] == "manifest.json"
    manifest = json.loads(files["manifest.json"])
    assert manifest["reference"] == s.ref
    assert manifest["partnership"] == PARTNERSHIP
    assert manifest["generated_at"] == s.clock.now().isoformat()
    assert [m["path"] for m in manifest["files"]] == names[:-1]
    for m in manifest["files"]:
        body = files[m["path"]]
        assert m["size"] == len(body)
        assert m["sha256"] == hashlib.sha256(body).hexdigest()

    # the timeline: exactly the activity's events, in order
    events = s.service.timeline(s.ref)
    timeline = rows(files["timeline.csv"])
    assert header(files["timeline.csv"]) == list(TIMELINE_COLUMNS)
    assert [int(r["event_id"]) for r in timeline] == [e.id for e in events]
    assert [r["at"] for r in timeline] == [e.at.isoformat() for e in events]
    by_id = {r["event_id"]: r for r in timeline}
    extension = next(e for e in events if e.trigger == "request_extension")
    row = by_id[str(extension.id)]
    assert row["reason"] == SCRIPT_REASON
    assert row["agency"] == "ICB"
    assert row["task_id"] == str(s.tasks["ICB"])
    assert json.loads(row["inputs"]) == extension.inputs
    # beside the keys, what happened in words
    assert row["description"].endswith(f": {SCRIPT_REASON}") or SCRIPT_REASON in row["description"]
    for engine in ("->", "{", "None", "_"):
        assert all(engine not in r["description"] for r in timeline), engine
    csc_submit = next(e for e in events if e.trigger == "submit" and e.task_id == s.tasks["CSC"])
    # text a spreadsheet would run is defused
    assert json.loads(by_id[str(csc_submit.id)]["inputs"])["summary"] == "-1 outstanding"

    # decisions: every event a person caused; the manager's sign-offs among them
    decisions = rows(files["decisions.csv"])
    expected = [e.id for e in events if e.actor_role != "system" and e.kind != "reminder"]
    assert [int(r["event_id"]) for r in decisions] == expected
    assert {r["trigger"] for r in decisions if r["actor_role"] == "manager"} == {
        "table_at_meeting",
        "note",
        "close",
    }
    assert any(r["actor_role"] == "agency" for r in decisions)

    # tasks
    tasks = rows(files["tasks.csv"])
    assert [int(r["task_id"]) for r in tasks] == sorted(s.tasks.values())
    assert {r["agency"] for r in tasks} == {"POL", "ICB", "CSC"}
    assert {r["due_on"] for r in tasks} == {"2026-01-30"}
    assert {r["state"] for r in tasks} == {"accepted"}


def test_every_email_is_there_as_sent_with_its_delivery_record(scenario: Scenario) -> None:
    s = scenario
    files = members(s.build())
    sent = s.service.notifications_for(s.ref)
    assert len(sent) >= 6
    emls = sorted(n for n in files if n.startswith("emails/") and n.endswith(".eml"))
    assert len(emls) == len(sent)
    for n, name in zip(sent, emls, strict=True):
        assert name == f"emails/{n.id:04d}-{n.template}-{n.recipient_role}.eml"
        raw = files[name]
        msg = message_from_bytes(raw, policy=default)
        assert isinstance(msg, EmailMessage)
        assert msg["Message-ID"] == n.message_id
        assert msg["Subject"] == n.subject
        assert msg["To"] == n.to_addr
        assert msg["From"] == FROM
        body = msg.get_body(("plain",))
        assert body is not None
        assert body.get_content().replace("\r\n", "\n") == n.text_body.replace("\r\n", "\n")
        html_part = msg.get_body(("html",))
        assert html_part is not None
        calendars = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
        assert len(calendars) == (1 if n.ics else 0)
        # exactly what the mail server was given
        if n.status == "sent":
            (got,) = [r for r in s.server.received if r.message_id == n.message_id]
            assert got.raw.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
    assert any(n.ics for n in sent)

    # delivery.csv: one row per attempt, and one per email never attempted
    statuses = {n.status for n in sent}
    assert {"sent", "failed", "pending"} <= statuses
    ids = [n.id for n in sent if n.id is not None]
    tried = attempts(s.database, ids)
    assert {a.outcome for a in tried} >= {"sent", "transient", "permanent"}
    delivery = rows(files["emails/delivery.csv"])
    assert header(files["emails/delivery.csv"]) == list(DELIVERY_COLUMNS)
    with_attempts = [r for r in delivery if r["attempt_id"]]
    assert [
        (int(r["notification_id"]), int(r["attempt_id"]), r["worker"], r["outcome"], r["code"])
        for r in with_attempts
    ] == sorted(
        (a.notification_id, a.id or 0, a.worker, a.outcome, str(a.code) if a.code else "")
        for a in tried
    )
    details = {int(r["attempt_id"]): r["detail"] for r in with_attempts}
    for a in tried:
        assert details[a.id or 0] == (a.detail or "")
    untried = {int(r["notification_id"]) for r in delivery if not r["attempt_id"]}
    assert untried == {n.id for n in sent if n.attempts == 0 and n.id is not None}
    assert all(r["status"] == "pending" for r in delivery if not r["attempt_id"])
    refused = next(a for a in tried if a.outcome == "permanent")
    assert refused.code == 550


def test_returned_files_are_copied_under_safe_names(scenario: Scenario) -> None:
    s = scenario
    files = members(s.build())
    path = f"returns/task-{s.tasks['POL']}-POL/upload-{s.upload.id}.pdf"
    assert files[path] == UPLOAD_BYTES
    (listed,) = rows(files["returns/files.csv"])
    assert header(files["returns/files.csv"]) == list(FILE_COLUMNS)
    assert listed["file"] == path
    assert listed["original_name"] == ORIGINAL_NAME
    assert listed["sha256"] == hashlib.sha256(UPLOAD_BYTES).hexdigest()
    assert listed["size"] == str(len(UPLOAD_BYTES))
    assert listed["status"] == "included"
    assert listed["agency"] == "POL"
    # no child, family or contact name in any member's name
    for name in files:
        assert re.fullmatch(r"[A-Za-z0-9_./-]+", name), name
        for word in NAMES_NEVER_IN_PATHS:
            assert word.lower() not in name.lower(), (word, name)
    # the original name is inside the pack, in the index
    index = files["index.html"].decode("utf-8")
    assert "Return for Jamie Fictional-Smith (final).PDF" in index
    assert f'href="{path}"' in index


def test_a_file_gone_from_disk_is_listed_as_missing(scenario: Scenario) -> None:
    s = scenario
    (s.upload_dir / s.upload.stored_name).unlink()
    pack = build_evidence_pack(
        s.database,
        s.ref,
        upload_dir=s.upload_dir,
        calendar=s.calendar,
        partnership=PARTNERSHIP,
        now=s.clock.now(),
    )
    assert (pack.files, pack.missing_files) == (0, 1)
    files = members(pack.data)
    assert not any(n.startswith("returns/task-") for n in files)
    (listed,) = rows(files["returns/files.csv"])
    assert (listed["status"], listed["file"], listed["sha256"]) == ("missing", "", "")
    # without a sender address the emails carry no From header
    eml = next(v for k, v in files.items() if k.endswith(".eml"))
    assert message_from_bytes(eml, policy=default)["From"] is None


def test_ratings_and_findings(scenario: Scenario) -> None:
    s = scenario
    files = members(s.build())
    ratings = rows(files["ratings.csv"])
    assert header(files["ratings.csv"]) == list(RATING_COLUMNS)
    assert [r["question"] for r in ratings] == ["1.2", "1.10"]  # in question order
    first = ratings[0]
    assert (first["agency"], first["form"], first["stage"], first["status"]) == (
        "POL",
        "fictional_form",
        "first",
        "submitted",
    )
    assert (first["rating"], first["score"]) == ("amber", "2")
    assert (first["moderated_rating"], first["moderated_score"]) == ("red", "1")
    assert first["moderated_by"] == MANAGER.id
    assert first["carried_forward"] == "false"
    assert first["reviewed"] == "true"
    assert first["evidence"] == "'=SUM(A1) policy in place (fictional)"  # no formula
    (finding,) = rows(files["findings.csv"])
    assert finding["kind"] == "recommendation"
    assert finding["actions"] == str(s.tasks["POL"])
    index = files["index.html"].decode("utf-8")
    assert "no audit seen" in index
    assert "Share indicators monthly (fictional)" in index


def test_index_is_readable_and_escaped(scenario: Scenario) -> None:
    s = scenario
    files = members(s.build())
    index = files["index.html"].decode("utf-8")
    assert index.startswith("<!DOCTYPE html>")
    assert f"<h1>Evidence pack: {s.ref}</h1>" in index
    assert "Quarterly indicators (fictional)" in index
    assert "<script>" not in index
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; a late board" in index
    for section in ("timeline", "decisions", "tasks", "ratings", "findings", "emails", "files"):
        assert f'href="#{section}"' in index
        assert f'id="{section}"' in index
    # every other member is linked from the index, by a relative link
    for name in files:
        if name != "index.html" and not name.startswith("returns/task-"):
            assert f'href="{name}"' in index, name
    # self-contained: nothing loaded from anywhere else
    for external in ("src=", "<link", "://"):
        assert external not in index
    # local time, GOV.UK style: 9am on Monday 5 January 2026 in London is the opening
    assert "<dd>5 January 2026 at 9am by Casey Coord</dd>" in index
    # the timeline in sentences, by the definition's titles: no keys, arrows or dicts
    timeline = index.split('id="timeline"')[1].split('id="decisions"')[0]
    assert "Casey Coord opened the activity" in timeline
    for engine in ("-&gt;", "→", "{", "None", "_", "2026-01"):
        assert engine not in timeline, engine
    assert "POL (Northshire Constabulary (fictional))" in index


def test_two_builds_are_byte_identical_and_stamped_with_now(scenario: Scenario) -> None:
    s = scenario
    first = s.build()
    assert s.build() == first
    later = s.build(now=s.clock.now() + timedelta(days=1))
    assert later != first
    local = s.clock.now().astimezone(s.calendar.tz)
    with zipfile.ZipFile(io.BytesIO(first)) as zf:
        stamps = {info.date_time for info in zf.infolist()}
    assert stamps == {(local.year, local.month, local.day, local.hour, local.minute, local.second)}


def test_only_the_activity_itself(partnership: Service, database: Database, tmp_path: Path) -> None:
    """Another activity's events and emails stay out; with no assessments, ratings.csv is
    only its header; an unknown reference is NotFound."""
    ref, _tasks = open_request(partnership)
    other, _ = open_request(partnership)
    now = partnership.clock.now()
    kw: dict[str, Any] = {
        "upload_dir": tmp_path / "none",
        "calendar": partnership.calendar,
        "partnership": PARTNERSHIP,
        "now": now,
    }
    files = members(evidence_pack(database, ref.lower(), **kw))
    assert [int(r["event_id"]) for r in rows(files["timeline.csv"])] == [
        e.id for e in partnership.timeline(ref)
    ]
    emails = [n for n in files if n.endswith(".eml")]
    assert len(emails) == len(partnership.notifications_for(ref)) == 5  # leads and deputies
    assert files["ratings.csv"].decode() == ",".join(RATING_COLUMNS) + "\r\n"
    assert rows(files["findings.csv"]) == []
    assert rows(files["returns/files.csv"]) == []
    assert json.loads(files["manifest.json"])["reference"] == ref
    assert other != ref
    with pytest.raises(NotFound, match="REQ-2026-999"):
        evidence_pack(database, "REQ-2026-999", **kw)
    with pytest.raises(ValueError, match="naive"):
        evidence_pack(database, ref, **{**kw, "now": now.replace(tzinfo=None)})


def test_pack_filename() -> None:
    assert pack_filename("maa-2026-004") == "MAA-2026-004-evidence.zip"
    assert pack_filename('x"; evil\r\n') == "X_EVIL-evidence.zip"


# ---------------------------------------------------------------------------- the CLI
AGENCIES_CSV = """\
code,name,sector,lead_name,lead_email,deputy_name,deputy_email,manager_name,manager_email
POL,Northshire Constabulary (fictional),police,Lead Police,lead@police.northshire.example,,,Chief Police,chief@police.northshire.example
ICB,Northshire ICB (fictional),health,Lead Health,lead@icb.northshire.example,,,Chief Health,chief@icb.northshire.example
"""


def sef(env: dict[str, str], *args: str, code: int = 0) -> str:
    """Run ``sef`` in-process; disposes the engines it built; stdout (stderr on failure)."""
    apps: list[Any] = []
    real_build = sef_workflow.app.build

    def tracking_build(*a: Any, **kw: Any) -> Any:
        app = real_build(*a, **kw)
        apps.append(app)
        return app

    environ: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith("SEF_") and not k.startswith("SEF_TEST_")
    }
    environ.update(env)
    try:
        with mock.patch.object(sef_workflow.app, "build", tracking_build):
            result = CliRunner().invoke(main, list(args), env=environ, prog_name="sef")
    finally:
        for app in apps:
            app.db.dispose()
    assert result.exit_code == code, (args, result.stdout, result.stderr, result.exception)
    return result.stdout if code == 0 else result.stderr


def test_cli_writes_the_pack(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "sef.toml"
    config.write_text(
        f'[workflows]\ndirectory = "{WORKFLOWS}"\ntemplates = "{WORKFLOWS.parent / "notifications"}"\n'
        f'forms = "{WORKFLOWS.parent / "forms"}"\n'
        f'[web]\nupload_dir = "{tmp_path / "uploads"}"\n',
        encoding="utf-8",
    )
    env = {"SEF_CONFIG": str(config), "SEF_DATABASE_URL": db_url}
    agencies = tmp_path / "agencies.csv"
    agencies.write_text(AGENCIES_CSV, encoding="utf-8")
    sef(env, "db", "upgrade")
    sef(env, "agencies", "import", str(agencies))
    sef(env, "staff", "add", "--name", "Casey Coord", "--email", COORDINATOR.id, "--role",
        "coordinator")  # fmt: skip
    opened = sef(
        env, "--as", COORDINATOR.id, "activity", "open", "agency_request",
        "--title", "Annual report (fictional)", "--agency", "POL", "--agency", "ICB",
        "--input", "request_type=annual_report",
    )  # fmt: skip
    ref = opened.split()[0]
    due = (date.today() + timedelta(days=30)).isoformat()
    sef(env, "--as", COORDINATOR.id, "activity", "fire", ref, "issue_request",
        "--input", f"due_date={due}")  # fmt: skip

    monkeypatch.chdir(tmp_path)
    out = sef(env, "evidence-pack", ref.lower())
    target = tmp_path / f"{ref}-evidence.zip"
    files = members(target.read_bytes())
    events = len(rows(files["timeline.csv"]))
    assert events >= 3
    assert len([n for n in files if n.endswith(".eml")]) == 2
    assert out.strip() == f"{target.name}: {events} events, 2 emails, 0 files"

    # never overwrites unless told
    err = sef(env, "evidence-pack", ref, code=8)
    assert "already exists" in err
    assert "--force" in err
    elsewhere = tmp_path / "out" / "pack.zip"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(b"old")
    sef(env, "evidence-pack", ref, "--output", str(elsewhere), code=8)
    assert elsewhere.read_bytes() == b"old"
    out = sef(env, "evidence-pack", ref, "--output", str(elsewhere), "--force")
    assert out.startswith(str(elsewhere))
    assert "manifest.json" in members(elsewhere.read_bytes())
    assert not list(elsewhere.parent.glob("*.part"))
    # an unknown reference: exit 4, one line
    assert sef(env, "evidence-pack", "REQ-2026-999", code=4).startswith("error: no activity")


# ---------------------------------------------------------------------------- the web
PASSWORDS = {COORDINATOR.id: "coordinator-pass-1", MANAGER.id: "manager-pass-123"}
ADMIN = "admin@northshire-scp.example"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]*)"')


def sign_in(c: TestClient, email: str, password: str) -> None:
    page = c.get("/login")
    match = CSRF_RE.search(page.text)
    assert match
    r = c.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": match.group(1), "next": "/"},
    )
    assert r.status_code == 303, r.text


def test_web_download_for_coordinators_and_managers_only(
    partnership: Service, clock: FakeClock, tmp_path: Path
) -> None:
    partnership.add_staff(Actor.system(), "Ada Admin", ADMIN, "admin")
    for email, password in {**PASSWORDS, ADMIN: "admin-pass-12345"}.items():
        set_password(partnership.db, email, password, clock.now())
    assert partnership.notifier is not None
    app = App(
        settings=replace(load_settings(environ={}), root=tmp_path),
        db=partnership.db,
        registry=partnership.registry,
        calendar=partnership.calendar,
        service=partnership,
        notifier=partnership.notifier,
    )
    upload_dir = tmp_path / "uploads"
    web = create_app(app, secret_key="test-secret", upload_dir=upload_dir)
    ref, tasks = open_request(partnership)
    url = f"/activities/{ref}/evidence.zip"
    clients: list[TestClient] = []
    try:

        def client() -> TestClient:
            c = TestClient(web, follow_redirects=False)
            clients.append(c)
            return c

        # an agency uploads its return through the portal
        agency = client()
        link = create_login_link(
            partnership.db, "lead@police.northshire.example", clock.now(), service=partnership
        )
        assert confirm_sign_in_link(agency, f"/login/link/{link}").status_code == 303
        page = agency.get(f"/tasks/{tasks['POL']}")
        match = CSRF_RE.search(page.text)
        assert match
        r = agency.post(
            f"/tasks/{tasks['POL']}/fire",
            data={"csrf_token": match.group(1), "trigger": "submit", "in_summary": "Attached"},
            files={"upload": (ORIGINAL_NAME, UPLOAD_BYTES, "application/pdf")},
        )
        assert r.status_code == 303, r.text
        # ... and may not have the pack
        assert agency.get(url).status_code == 403
        assert client().get(url).status_code == 303  # not signed in: to the sign-in page

        for email, password in PASSWORDS.items():
            staff = client()
            sign_in(staff, email, password)
            page = staff.get(f"/activities/{ref}")
            assert "Download the evidence pack (zip)" in page.text
            assert f'href="{url}"' in page.text
            r = staff.get(url)
            assert r.status_code == 200
            assert r.headers["content-type"] == "application/zip"
            assert r.headers["content-disposition"] == f'attachment; filename="{ref}-evidence.zip"'
            assert r.headers["cache-control"] == "no-store"
            files = members(r.content)
            (listed,) = rows(files["returns/files.csv"])
            assert files[listed["file"]] == UPLOAD_BYTES
            assert listed["original_name"] == ORIGINAL_NAME
            assert staff.get("/activities/REQ-2026-999/evidence.zip").status_code == 404

        admin = client()
        sign_in(admin, ADMIN, "admin-pass-12345")
        assert "Download the evidence pack" not in admin.get(f"/activities/{ref}").text
        assert admin.get(url).status_code == 403
    finally:
        for c in clients:
            c.close()
