"""An agency's people by role: named contacts by purpose (CSV import, the directory log,
sessions), tasks addressed to a purpose (whose emails go to that contact), what each person
sees, tasks given to a person, and requests for more time decided by the roles a workflow
names; on SQLite and PostgreSQL, with real outbox rows and delivery through a real SMTP
server."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from sef_workflow.calendar import LONDON, WorkingCalendar
from sef_workflow.clock import FakeClock
from sef_workflow.db import Database
from sef_workflow.definitions import Registry
from sef_workflow.directory import AGENCY_COLUMNS, AgencyRecord, parse_agencies_csv
from sef_workflow.errors import (
    InvalidInput,
    NotFound,
    PermissionDenied,
    TransitionNotAllowed,
)
from sef_workflow.forms import FormRegistry
from sef_workflow.models import (
    AgencyContact,
    DirectoryEvent,
    Event,
    LoginLink,
    Notification,
    Task,
    WebSession,
)
from sef_workflow.notify.delivery import Delivery
from sef_workflow.notify.outbox import Notifier
from sef_workflow.notify.smtp import SmtpSender
from sef_workflow.service import Actor, Service

from .conftest import COORDINATOR, FICTIONAL_AGENCIES, MANAGER, ROOT
from .smtpd import Received, ScriptedSmtpServer

POL, ICB, CSC = FICTIONAL_AGENCIES
LEAD = POL.lead_email
DEPUTY = POL.deputy_email or ""
CHIEF = POL.manager_email or ""
LADO = "lado@police.northshire.example"
LADO_NAME = "Lado Police (fictional)"
COLLEAGUE = "analyst@police.northshire.example"
COLLEAGUE_NAME = "Ana Analyst (fictional)"
CSC_LEAD = CSC.lead_email
CSC_DEPUTY = CSC.deputy_email or ""
CSC_DIRECTOR = CSC.manager_email or ""
FROM = "business.unit@northshire-scp.example"
BUSINESS_UNIT = FROM
PURPOSE_HEADER = (*AGENCY_COLUMNS, "lado_name", "lado_email", "training_name", "training_email")


# ----------------------------------------------------------------------------- helpers
def csv_of(
    records: Sequence[AgencyRecord],
    header: Sequence[str] = PURPOSE_HEADER,
    contacts: dict[str, dict[str, tuple[str, str]]] | None = None,
) -> str:
    """An agencies CSV with ``header``'s columns; ``contacts`` gives each code's named
    contacts by purpose as ``(name, email)``."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for r in records:
        values: dict[str, Any] = {c: getattr(r, c) or "" for c in AGENCY_COLUMNS}
        for purpose, (name, email) in (contacts or {}).get(r.code, {}).items():
            values[f"{purpose}_name"], values[f"{purpose}_email"] = name, email
        writer.writerow([values.get(c, "") for c in header])
    return out.getvalue()


def import_csv(svc: Service, text: str, actor: Actor = COORDINATOR) -> None:
    svc.import_agencies(actor, parse_agencies_csv(text, "agencies.csv"))


def contacts(svc: Service) -> list[tuple[str, str, str, str]]:
    codes = {a.id: a.code for a in svc.list_agencies()}
    return [(codes[c.agency_id], c.purpose, c.name, c.email) for c in svc.contacts_of()]


def log(svc: Service) -> list[DirectoryEvent]:
    """The directory log, oldest first."""
    return [e for e, _code in svc.directory_log(Actor.system())][::-1]


def add_session(database: Database, email: str, now: datetime, name: str) -> None:
    with database.write() as session:
        session.add(
            WebSession(
                token_hash=name.ljust(64, "0"),
                email=email,
                csrf_token="c" * 32,
                created_at=now,
                expires_at=now + timedelta(hours=8),
            )
        )


def sessions_of(database: Database) -> list[str]:
    with database.read() as session:
        return sorted(s.email for s in session.exec(select(WebSession)).all())


def outbox(svc: Service, **where: Any) -> list[Notification]:
    """Outbox rows in order, those matching every ``column=value`` given."""
    with svc.db.read() as session:
        rows = session.exec(select(Notification).order_by(col(Notification.id))).all()
    return [r for r in rows if all(getattr(r, k) == v for k, v in where.items())]


def sent_to(rows: Sequence[Notification]) -> list[tuple[str, str, str]]:
    return [(r.template, r.recipient_role, r.to_addr) for r in rows]


def events(svc: Service, ref: str, kind: str) -> list[Event]:
    return [e for e in svc.timeline(ref) if e.kind == kind]


def task(svc: Service, task_id: int | None) -> Task:
    assert task_id is not None
    return svc.get_task(task_id)[0]


def agency_id(svc: Service, code: str) -> int:
    found = next(a.id for a in svc.list_agencies() if a.code == code)
    assert found is not None
    return found


def with_lado(svc: Service) -> Service:
    svc.set_contact(COORDINATOR, "POL", "lado", LADO_NAME, LADO)
    return svc


def request(
    svc: Service, codes: list[str], contact: str | None, due: str = "2026-01-20"
) -> tuple[str, dict[str, Task]]:
    """An agency_request sent to ``codes`` addressed to ``contact``; its returns by code."""
    inputs = {"request_type": "annual_report", "period": "2025-26"}
    if contact is not None:
        inputs["contact"] = contact
    ref = svc.open_activity(
        COORDINATOR, "agency_request", "Annual report (fictional)", codes, inputs
    ).activity.ref
    out = svc.fire(COORDINATOR, ref, "issue_request", {"due_date": due})
    codes_by_id = {a.id: a.code for a in svc.list_agencies()}
    return ref, {codes_by_id[t.agency_id]: t for t in out.created_tasks if t.agency_id}


@pytest.fixture
def smtp() -> Iterator[ScriptedSmtpServer]:
    with ScriptedSmtpServer() as server:
        yield server


def deliver_all(svc: Service, smtp: ScriptedSmtpServer) -> None:
    sender = SmtpSender("127.0.0.1", smtp.port, "none", "", "", 5.0, 2, local_hostname="localhost")
    delivery = Delivery(svc.db, sender, svc.clock, from_addr=FROM, worker="worker-a")
    while delivery.deliver_once().sent:
        pass
    assert not [r for r in outbox(svc) if r.status != "sent"]


def links_of(svc: Service) -> dict[int, LoginLink]:
    """The sign-in links minted at hand-off, by the notification they were minted for."""
    with svc.db.read() as session:
        return {
            link.notification_id: link
            for link in session.exec(select(LoginLink)).all()
            if link.notification_id is not None
        }


def calendar_parts(m: Received) -> list[Any]:
    return [p for p in m.message.walk() if p.get_content_type() == "text/calendar"]


def text_of(m: Received) -> str:
    part = m.message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


# ----------------------------------------------------------------------------- 1. the CSV
def test_csv_purpose_columns_add_keep_and_remove_named_contacts(
    service: Service, database: Database
) -> None:
    import_csv(
        service,
        csv_of(
            FICTIONAL_AGENCIES,
            contacts={
                "POL": {"lado": (LADO_NAME, LADO.upper())},
                "CSC": {
                    "training": ("Tia Training (fictional)", "training@csc.northshire.example")
                },
            },
        ),
        Actor.system(),
    )
    assert contacts(service) == [
        ("POL", "lado", LADO_NAME, LADO),  # the address normalised
        ("CSC", "training", "Tia Training (fictional)", "training@csc.northshire.example"),
    ]
    added = [(e.kind, e.subject, e.after) for e in log(service) if e.kind == "contact_added"]
    assert added == [
        ("contact_added", "POL", {"purpose": "lado", "name": LADO_NAME, "email": LADO}),
        (
            "contact_added",
            "CSC",
            {
                "purpose": "training",
                "name": "Tia Training (fictional)",
                "email": "training@csc.northshire.example",
            },
        ),
    ]
    lado = service.resolve_actor(LADO)
    assert (lado.role, lado.position, lado.purposes) == ("agency", "contact", frozenset({"lado"}))
    assert lado.agency_id == agency_id(service, "POL")

    # a file without the purpose columns speaks for no purpose: the contacts stay
    before = len(log(service))
    import_csv(service, csv_of(FICTIONAL_AGENCIES, header=AGENCY_COLUMNS))
    assert len(contacts(service)) == 2
    assert len(log(service)) == before  # nothing changed, nothing recorded

    # a file with the lado columns, blank for the police: their LADO contact goes, signed out
    now = service.clock.now()
    add_session(database, LADO, now, "lado1")
    add_session(database, LADO, now, "lado2")
    add_session(database, LEAD, now, "lead")
    header = (*AGENCY_COLUMNS, "lado_name", "lado_email")
    import_csv(service, csv_of(FICTIONAL_AGENCIES, header=header))
    assert contacts(service) == [
        ("CSC", "training", "Tia Training (fictional)", "training@csc.northshire.example")
    ]  # the training columns were not in the file: CSC's training contact stays
    new = log(service)[before:]
    assert [(e.kind, e.subject, e.actor, e.before, e.after) for e in new] == [
        (
            "contact_removed",
            "POL",
            COORDINATOR.id,
            {"purpose": "lado", "name": LADO_NAME, "email": LADO},
            None,
        ),
        (
            "sessions_revoked",
            LADO,
            COORDINATOR.id,
            {"sessions": 2},
            {"sessions": 0, "reason": "no longer a contact of POL"},
        ),
    ]
    assert sessions_of(database) == [LEAD]
    with pytest.raises(NotFound, match="neither staff nor one of an agency's people"):
        service.resolve_actor(LADO)


def test_csv_replaces_a_contact_by_another_person(service: Service) -> None:
    service.import_agencies(Actor.system(), FICTIONAL_AGENCIES)
    import_csv(service, csv_of([POL], contacts={"POL": {"lado": (LADO_NAME, LADO)}}))
    other = "lado2@police.northshire.example"
    start = len(log(service))
    import_csv(service, csv_of([POL], contacts={"POL": {"lado": ("Lee Lado (fictional)", other)}}))
    assert contacts(service) == [("POL", "lado", "Lee Lado (fictional)", other)]
    assert [(e.kind, (e.before or e.after or {}).get("email")) for e in log(service)[start:]] == [
        ("contact_removed", LADO),
        ("contact_added", other),
    ]
    # the same person with a new name is a change, not a new contact
    import_csv(
        service, csv_of([POL], contacts={"POL": {"lado": ("Lee Lado-Smith (fictional)", other)}})
    )
    last = log(service)[-1]
    assert (last.kind, last.before, last.after) == (
        "contact_changed",
        {"purpose": "lado", "name": "Lee Lado (fictional)", "email": other},
        {"purpose": "lado", "name": "Lee Lado-Smith (fictional)", "email": other},
    )


def test_an_address_of_two_agencies_is_refused_and_nothing_imported(service: Service) -> None:
    service.import_agencies(Actor.system(), FICTIONAL_AGENCIES)
    service.add_staff(Actor.system(), "Casey Coord", COORDINATOR.id, "coordinator")
    import_csv(service, csv_of([POL], contacts={"POL": {"lado": (LADO_NAME, LADO)}}))
    before = (
        contacts(service),
        len(log(service)),
        [a.model_dump() for a in service.list_agencies()],
    )

    # in one file: the police lead is the council's LADO contact
    clash = csv_of(
        [POL, dataclasses.replace(CSC, name="Renamed council (fictional)")],
        contacts={"CSC": {"lado": ("Lead Police", LEAD)}},
    )
    with pytest.raises(
        InvalidInput,
        match=f"agency CSC: {LEAD} is already one of the people of POL; a person acts for one "
        "agency only; nothing imported",
    ):
        import_csv(service, clash)
    # the police's LADO contact, kept while POL is not in the file, as the council's lead
    clash = csv_of([dataclasses.replace(CSC, lead_email=LADO)], header=AGENCY_COLUMNS)
    with pytest.raises(
        InvalidInput, match=f"agency CSC: {LADO} is already one of the people of POL"
    ):
        import_csv(service, clash)
    # the same, with POL in the file but without the lado columns (so its contact stays)
    clash = csv_of([POL, dataclasses.replace(CSC, lead_email=LADO)], header=AGENCY_COLUMNS)
    with pytest.raises(InvalidInput, match=f"{LADO} is already one of the people of POL"):
        import_csv(service, clash)
    # and by hand: the council's LADO contact may not be the police's senior manager
    with pytest.raises(InvalidInput, match=f"{CHIEF} is already one of the people of POL"):
        service.set_contact(COORDINATOR, "CSC", "lado", "Chief Police", CHIEF)
    with pytest.raises(InvalidInput, match="is a member of staff"):
        service.set_contact(COORDINATOR, "CSC", "lado", "Casey Coord", COORDINATOR.id)
    after = (
        contacts(service),
        len(log(service)),
        [a.model_dump() for a in service.list_agencies()],
    )
    assert after == before
    assert service.resolve_actor(LADO).agency_id == agency_id(service, "POL")


# ----------------------------------------------------------------------------- 2. addressed
def test_a_lado_request_goes_to_the_lado_contact_only(
    partnership: Service, smtp: ScriptedSmtpServer, clock: FakeClock
) -> None:
    with_lado(partnership)
    assert partnership.notifier is not None
    partnership.notifier.sign_in_links = True
    ref, tasks = request(partnership, ["POL", "CSC"], "lado")
    pol, csc = tasks["POL"], tasks["CSC"]
    assert (pol.purpose, csc.purpose) == ("lado", "lado")
    assert pol.assignee_email is None

    issued = outbox(partnership, template="report_requested")
    assert sent_to([r for r in issued if r.task_id == pol.id]) == [
        ("report_requested", "agency_contact", LADO)
    ]  # one email, to the LADO contact only: not the lead, the deputy or the senior manager
    # the council names nobody for LADO work: its lead and deputy
    assert sent_to([r for r in issued if r.task_id == csc.id]) == [
        ("report_requested", "agency", CSC_LEAD),
        ("report_requested", "agency_deputy", CSC_DEPUTY),
    ]
    [to_lado] = [r for r in issued if r.to_addr == LADO]
    assert to_lado.sign_in_next == f"/tasks/{pol.id}"
    assert to_lado.ics is not None  # the contact owes the return: the deadline's calendar entry
    assert "Dear Lado Police (fictional)," in to_lado.text_body

    # reminders, the due-day email and chasers from the sweep: the LADO contact alone
    for day in range(1, 30):
        clock.set(datetime(2026, 1, 5, 9, 30, tzinfo=LONDON) + timedelta(days=day))
        partnership.sweep()
    ladder = [
        r for r in outbox(partnership) if r.task_id == pol.id and r.template != "report_requested"
    ]
    templates = [r.template for r in ladder]
    assert {"reminder", "due_today", "overdue_chaser"} <= set(templates)
    for r in ladder:
        if r.template.startswith("escalation"):
            continue
        assert (r.recipient_role, r.to_addr, r.sign_in_next) == (
            "agency_contact",
            LADO,
            f"/tasks/{pol.id}",
        ), r.template
    # the council's reminders go to its lead and deputy, an email each
    council = [r for r in outbox(partnership) if r.task_id == csc.id and r.template == "reminder"]
    assert {r.to_addr for r in council} == {CSC_LEAD, CSC_DEPUTY}
    # escalations go to the senior manager, as before, then the business unit
    escalations = [r for r in ladder if r.template.startswith("escalation")]
    assert sent_to(escalations) == [
        ("escalation_agency_manager", "agency_manager", CHIEF),
        ("escalation_business_unit", "business_unit", BUSINESS_UNIT),
    ]
    police = {r.to_addr for r in outbox(partnership) if r.task_id == pol.id}
    assert LEAD not in police
    assert DEPUTY not in police

    # handed to the mail server, each of the LADO contact's emails carries its own link
    deliver_all(partnership, smtp)
    minted = links_of(partnership)
    for r in outbox(partnership, to_addr=LADO):
        assert r.id is not None
        link = minted[r.id]
        assert (link.email, link.next_url) == (LADO, f"/tasks/{pol.id}")
    got = [m for m in smtp.received if m.rcpt_tos == (LADO,)]
    assert len(got) == len(outbox(partnership, to_addr=LADO))
    assert all("/login/link/" in text_of(m) for m in got)
    assert ref.startswith("REQ-")


def test_a_request_to_the_lead_or_to_nobody_goes_to_lead_and_deputy(partnership: Service) -> None:
    with_lado(partnership)
    for contact in ("lead", None):
        _ref, tasks = request(partnership, ["POL"], contact)
        pol = tasks["POL"]
        assert pol.purpose is None
        assert sent_to(outbox(partnership, template="report_requested", task_id=pol.id)) == [
            ("report_requested", "agency", LEAD),
            ("report_requested", "agency_deputy", DEPUTY),
        ]


PURPOSE_WORKFLOW = """\
[workflow]
name = "lado_notice"
title = "LADO notice (fictional)"
reference_prefix = "LADO"
initial = "open"

[open]
agencies = "required"
roles = ["coordinator"]

[states.open]
title = "Open"
[states.asked]
title = "Asked"
[states.done]
title = "Done"
final = true

[[transitions]]
trigger = "ask"
source = "open"
dest = "asked"
roles = ["coordinator"]
creates = ["note"]
notify = [{ template = "report_requested", to = "agency:lado" }]

[[transitions]]
trigger = "finish"
source = "asked"
dest = "done"
roles = ["coordinator"]

[tasks.note]
title = "Note"
assignee = "each_agency"
initial = "todo"

[tasks.note.states.todo]
title = "To do"
[tasks.note.states.sent_back]
title = "Sent back"
[tasks.note.states.done]
title = "Done"
final = true

[[tasks.note.transitions]]
trigger = "submit"
source = ["todo", "sent_back"]
dest = "done"
roles = ["agency"]

[[tasks.note.transitions]]
trigger = "send_back"
source = "todo"
dest = "sent_back"
roles = ["coordinator"]
notify = [{ template = "return_sent_back", to = "agency:lado" }]
"""


def test_a_notification_to_agency_lado_goes_to_the_lado_contact(
    database: Database,
    calendar: WorkingCalendar,
    clock: FakeClock,
    notifier: Notifier,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "lado_notice.toml").write_text(PURPOSE_WORKFLOW, encoding="utf-8")
    svc = Service(
        database, Registry(folder), calendar, clock, notifier, forms=FormRegistry(ROOT / "forms")
    )
    svc.import_agencies(Actor.system(), FICTIONAL_AGENCIES)
    svc.add_staff(Actor.system(), "Casey Coord", COORDINATOR.id, "coordinator")
    with_lado(svc)
    ref = svc.open_activity(COORDINATOR, "lado_notice", "LADO notice", ["POL", "CSC"]).activity.ref
    out = svc.fire(COORDINATOR, ref, "ask")
    by_code = {a.id: a.code for a in svc.list_agencies()}
    tasks = {by_code[t.agency_id]: t for t in out.created_tasks if t.agency_id}
    assert tasks["POL"].purpose is None  # addressed by the notification, not the task kind
    assert sorted((n.template, n.address) for n in out.notifications) == [
        ("report_requested", CSC_DEPUTY),
        ("report_requested", LADO),
        ("report_requested", CSC_LEAD),
    ]
    assert sent_to(outbox(svc, template="report_requested", task_id=tasks["POL"].id)) == [
        ("report_requested", "agency_contact", LADO)
    ]
    # on a task transition, too; and even when the task was given to someone
    pol_id = tasks["POL"].id
    assert pol_id is not None
    svc.give_task(COORDINATOR, pol_id, DEPUTY)
    svc.fire_task(COORDINATOR, pol_id, "send_back")
    assert sent_to(outbox(svc, template="return_sent_back", task_id=pol_id)) == [
        ("return_sent_back", "agency_contact", LADO)
    ]


# ----------------------------------------------------------------------------- 3. who sees
def test_who_an_address_is_and_what_they_see(partnership: Service) -> None:
    with_lado(partnership)
    chief = partnership.resolve_actor(CHIEF.upper())
    assert (chief.role, chief.position, chief.name) == ("agency", "manager", "Chief Police")
    assert chief.agency_id == agency_id(partnership, "POL")
    assert chief.is_agency_manager
    assert chief.runs_agency
    assert chief.may(["agency_manager"])
    assert not chief.may(["coordinator", "manager"])
    lead = partnership.resolve_actor(LEAD)
    assert (lead.position, lead.is_agency_manager) == ("lead", False)
    assert not lead.may(["agency_manager"])
    deputy = partnership.resolve_actor(DEPUTY)
    assert deputy.position == "deputy"
    lado = partnership.resolve_actor(LADO)
    assert (lado.role, lado.position, lado.name, lado.purposes) == (
        "agency",
        "contact",
        LADO_NAME,
        frozenset({"lado"}),
    )
    assert not lado.runs_agency
    assert not lado.may(["agency_manager"])

    _ref, lado_tasks = request(partnership, ["POL", "CSC"], "lado")
    _ref, lead_tasks = request(partnership, ["POL"], "lead")
    mine, councils, other = lado_tasks["POL"], lado_tasks["CSC"], lead_tasks["POL"]
    assert lado.sees(mine)
    assert not lado.sees(other)  # the same agency's, not addressed to LADO work
    assert not lado.sees(councils)  # addressed to LADO work, but another agency's
    for person in (lead, deputy, chief):
        assert person.sees(mine)
        assert person.sees(other)
        assert not person.sees(councils)
    assert COORDINATOR.sees(councils)

    assert other.id is not None
    assert councils.id is not None
    assert mine.id is not None
    with pytest.raises(PermissionDenied, match="is not one of the tasks given to"):
        partnership.fire_task(lado, other.id, "submit", {"summary": "Sent (fictional)"})
    with pytest.raises(PermissionDenied, match="belongs to another agency"):
        partnership.fire_task(lado, councils.id, "submit", {"summary": "Sent (fictional)"})
    assert (task(partnership, other.id).state, task(partnership, councils.id).state) == (
        "requested",
        "requested",
    )
    out = partnership.fire_task(lado, mine.id, "submit", {"summary": "LADO report (fictional)"})
    assert out.to_state == "submitted"
    # a task given to someone else is no longer the LADO contact's
    partnership.fire_task(COORDINATOR, mine.id, "send_back", reason="Add the figures")
    partnership.give_task(chief, mine.id, DEPUTY)
    assert not lado.sees(task(partnership, mine.id))
    with pytest.raises(PermissionDenied, match="is not one of the tasks given to"):
        partnership.fire_task(lado, mine.id, "submit", {"summary": "again"})


# ----------------------------------------------------------------------------- 4. giving
def test_the_lead_gives_a_task_to_a_colleague_who_answers_it(partnership: Service) -> None:
    with_lado(partnership)
    ref, tasks = request(partnership, ["POL", "CSC"], None)
    _ref2, others = request(partnership, ["POL"], None)
    pol, second = tasks["POL"], others["POL"]
    assert pol.id is not None
    assert second.id is not None
    lead = partnership.resolve_actor(LEAD)
    events_before = len(partnership.timeline(ref))

    with pytest.raises(InvalidInput, match="give their name to add them as a colleague"):
        partnership.give_task(lead, pol.id, COLLEAGUE)
    assert contacts(partnership) == [("POL", "lado", LADO_NAME, LADO)]

    out = partnership.give_task(lead, pol.id, COLLEAGUE.upper(), COLLEAGUE_NAME, "Ana has the data")
    given = task(partnership, pol.id)
    assert (given.assignee_email, given.assignee_name) == (COLLEAGUE, COLLEAGUE_NAME)
    assert out.task is not None
    assert out.task.assignee_email == COLLEAGUE
    assert contacts(partnership) == [
        ("POL", "colleague", COLLEAGUE_NAME, COLLEAGUE),
        ("POL", "lado", LADO_NAME, LADO),
    ]
    added = log(partnership)[-1]
    assert (added.kind, added.subject, added.actor, added.actor_role, added.after) == (
        "contact_added",
        "POL",
        LEAD,
        "agency",
        {"purpose": "colleague", "name": COLLEAGUE_NAME, "email": COLLEAGUE},
    )
    [ev] = events(partnership, ref, "task_given")
    assert (ev.task_id, ev.actor, ev.actor_role, ev.inputs, ev.reason) == (
        pol.id,
        LEAD,
        "agency",
        {"to": COLLEAGUE, "name": COLLEAGUE_NAME, "from": LEAD},
        "Ana has the data",
    )
    assert len(partnership.timeline(ref)) == events_before + 1
    assert sent_to(outbox(partnership, template="task_given_to_you")) == [
        ("task_given_to_you", "agency_contact", COLLEAGUE)
    ]
    [email] = outbox(partnership, template="task_given_to_you")
    assert "Dear Ana Analyst (fictional)," in email.text_body
    assert "has been given to you" in email.text_body

    # the colleague signs in as a contact: sees that task only, and answers it
    colleague = partnership.resolve_actor(COLLEAGUE)
    assert (colleague.position, colleague.purposes) == ("contact", frozenset({"colleague"}))
    assert colleague.sees(given)
    assert not colleague.sees(task(partnership, second.id))
    with pytest.raises(PermissionDenied, match="is not one of the tasks given to"):
        partnership.fire_task(colleague, second.id, "submit", {"summary": "x"})
    # its emails now go to the colleague alone
    partnership.fire_task(
        colleague, pol.id, "request_extension", {"requested_date": "2026-01-27"}, reason="Leave"
    )
    partnership.decide_more_time(COORDINATOR, pol.id, False, "The board meets on the 21st")
    assert sent_to(outbox(partnership, template="more_time_declined")) == [
        ("more_time_declined", "agency_contact", COLLEAGUE)
    ]
    partnership.fire_task(colleague, pol.id, "submit", {"summary": "Figures sent (fictional)"})
    [submitted] = [e for e in partnership.timeline(ref) if e.trigger == "submit"]
    assert (submitted.task_id, submitted.actor, submitted.actor_role, submitted.to_state) == (
        pol.id,
        COLLEAGUE,
        "agency",
        "submitted",
    )


def test_the_senior_manager_reassigns_and_the_lead_takes_it_back(partnership: Service) -> None:
    with_lado(partnership)
    ref, tasks = request(partnership, ["POL"], None)
    pol = tasks["POL"]
    assert pol.id is not None
    lead, chief = partnership.resolve_actor(LEAD), partnership.resolve_actor(CHIEF)
    partnership.give_task(lead, pol.id, COLLEAGUE, COLLEAGUE_NAME)

    # the senior manager gives it to the agency's LADO contact: no name needed
    partnership.give_task(chief, pol.id, LADO)
    moved = task(partnership, pol.id)
    assert (moved.assignee_email, moved.assignee_name) == (LADO, LADO_NAME)
    lado = partnership.resolve_actor(LADO)
    assert lado.sees(moved)  # given to them, though not addressed to LADO work
    assert not partnership.resolve_actor(COLLEAGUE).sees(moved)
    with pytest.raises(InvalidInput, match="is already with"):
        partnership.give_task(chief, pol.id, LADO)

    # given back to the lead: the agency as a whole has it again (lead and deputy)
    partnership.give_task(chief, pol.id, LEAD)
    back = task(partnership, pol.id)
    assert (back.assignee_email, back.assignee_name) == (None, None)
    assert not lado.sees(back)
    with pytest.raises(InvalidInput, match="is already with"):
        partnership.give_task(lead, pol.id, LEAD)

    given = events(partnership, ref, "task_given")
    assert [(e.actor, e.inputs["from"], e.inputs["to"]) for e in given] == [
        (LEAD, LEAD, COLLEAGUE),
        (CHIEF, COLLEAGUE, LADO),
        (CHIEF, LADO, LEAD),
    ]
    notices = outbox(partnership, template="task_given_to_you")
    assert [(r.recipient_role, r.to_addr) for r in notices] == [
        ("agency_contact", COLLEAGUE),
        ("agency_contact", LADO),
        ("agency", LEAD),
        ("agency_deputy", DEPUTY),
    ]
    # the business unit may give it, too
    partnership.give_task(COORDINATOR, pol.id, DEPUTY)
    assert task(partnership, pol.id).assignee_email == DEPUTY


def test_giving_a_task_is_refused_where_it_should_be(partnership: Service) -> None:
    with_lado(partnership)
    ref, tasks = request(partnership, ["POL", "CSC"], "lado")
    pol, csc = tasks["POL"], tasks["CSC"]
    assert pol.id is not None
    assert csc.id is not None
    lead, lado = partnership.resolve_actor(LEAD), partnership.resolve_actor(LADO)
    council_lead = partnership.resolve_actor(CSC_LEAD)
    before = (len(partnership.timeline(ref)), contacts(partnership), len(outbox(partnership)))

    with pytest.raises(PermissionDenied, match="may not give tasks to someone else"):
        partnership.give_task(lado, pol.id, DEPUTY)  # a named contact, though it is theirs
    with pytest.raises(PermissionDenied, match="belongs to another agency"):
        partnership.give_task(council_lead, pol.id, CSC_DEPUTY)
    with pytest.raises(InvalidInput, match=f"{CSC_DEPUTY} is already one of the people of CSC"):
        partnership.give_task(lead, pol.id, CSC_DEPUTY, "Deputy Council")
    with pytest.raises(InvalidInput, match="is a member of staff"):
        partnership.give_task(lead, pol.id, COORDINATOR.id, "Casey Coord")
    with pytest.raises(InvalidInput, match="not an email address"):
        partnership.give_task(lead, pol.id, "not-an-address", "Someone (fictional)")
    assert (
        len(partnership.timeline(ref)),
        contacts(partnership),
        len(outbox(partnership)),
    ) == before

    partnership.fire_task(COORDINATOR, pol.id, "withdraw", reason="Not needed (fictional)")
    with pytest.raises(TransitionNotAllowed, match="it is closed"):
        partnership.give_task(lead, pol.id, DEPUTY)
    assert task(partnership, pol.id).assignee_email is None


# ----------------------------------------------------------------------------- 5. more time
def ask(svc: Service, actor: Actor, task_id: int, when: str, reason: str = "Staff away") -> None:
    svc.fire_task(actor, task_id, "request_extension", {"requested_date": when}, reason=reason)


def test_the_senior_manager_agrees_or_declines_more_time(partnership: Service) -> None:
    ref, tasks = request(partnership, ["POL", "CSC"], None)
    pol, csc = tasks["POL"], tasks["CSC"]
    assert pol.id is not None
    assert csc.id is not None
    assert pol.due_on == date(2026, 1, 20)
    lead, chief = partnership.resolve_actor(LEAD), partnership.resolve_actor(CHIEF)
    director = partnership.resolve_actor(CSC_DIRECTOR)

    with pytest.raises(TransitionNotAllowed, match="no request for more time is waiting"):
        partnership.decide_more_time(chief, pol.id, True)
    for not_after in ("2026-01-20", "2026-01-13"):
        with pytest.raises(InvalidInput, match=r"must be after the deadline \(20 January 2026\)"):
            ask(partnership, lead, pol.id, not_after)
    assert task(partnership, pol.id).requested_due_on is None
    assert [e for e in partnership.timeline(ref) if e.trigger == "request_extension"] == []

    ask(partnership, lead, pol.id, "2026-01-27")
    asked = task(partnership, pol.id)
    assert (asked.requested_due_on, asked.due_on) == (date(2026, 1, 27), date(2026, 1, 20))
    assert sent_to(outbox(partnership, template="extension_requested")) == [
        ("extension_requested", "coordinator", COORDINATOR.id)
    ]

    with pytest.raises(PermissionDenied, match="you asked for this more time"):
        partnership.decide_more_time(lead, pol.id, True)  # the lead asked: someone else decides
    with pytest.raises(PermissionDenied, match="may not decide on more time"):
        partnership.decide_more_time(director, pol.id, True)  # another agency's senior manager
    with pytest.raises(InvalidInput, match="a reason"):
        partnership.decide_more_time(chief, pol.id, False)
    assert task(partnership, pol.id).requested_due_on == date(2026, 1, 27)

    partnership.decide_more_time(chief, pol.id, True)
    agreed = task(partnership, pol.id)
    assert (agreed.due_on, agreed.requested_due_on, agreed.original_due_on) == (
        date(2026, 1, 27),
        None,
        date(2026, 1, 20),
    )
    [extended] = events(partnership, ref, "deadline_extended")
    assert (extended.task_id, extended.actor, extended.actor_role) == (pol.id, CHIEF, "agency")
    assert extended.inputs == {
        "approver": CHIEF,
        "asked": "2026-01-27",
        "from": "2026-01-20",
        "to": "2026-01-27",
    }
    assert sent_to(outbox(partnership, template="deadline_extended")) == [
        ("deadline_extended", "agency", LEAD),
        ("deadline_extended", "agency_deputy", DEPUTY),
    ]
    assert all(r.ics is not None for r in outbox(partnership, template="deadline_extended"))

    # asked again, declined with a reason: the deadline stays, the agency is told
    ask(partnership, lead, pol.id, "2026-02-03")
    partnership.decide_more_time(chief, pol.id, False, "The board meets on the 28th")
    declined = task(partnership, pol.id)
    assert (declined.due_on, declined.requested_due_on) == (date(2026, 1, 27), None)
    [no] = events(partnership, ref, "more_time_declined")
    assert (no.actor, no.inputs, no.reason) == (
        CHIEF,
        {"asked": "2026-02-03"},
        "The board meets on the 28th",
    )
    assert sent_to(outbox(partnership, template="more_time_declined")) == [
        ("more_time_declined", "agency", LEAD),
        ("more_time_declined", "agency_deputy", DEPUTY),
    ]
    with pytest.raises(TransitionNotAllowed, match="no request for more time is waiting"):
        partnership.decide_more_time(chief, pol.id, True)

    # the senior manager never decides on another agency's; the business unit may
    ask(partnership, partnership.resolve_actor(CSC_LEAD), csc.id, "2026-01-30")
    with pytest.raises(PermissionDenied, match="may not decide on more time"):
        partnership.decide_more_time(chief, csc.id, True)
    partnership.decide_more_time(COORDINATOR, csc.id, True)
    assert task(partnership, csc.id).due_on == date(2026, 1, 30)
    assert events(partnership, ref, "deadline_extended")[-1].inputs["approver"] == COORDINATOR.id

    # a deadline moved by hand settles whatever was asked
    ask(partnership, lead, pol.id, "2026-02-10")
    partnership.extend_deadline(COORDINATOR, pol.id, date(2026, 2, 3), "Agreed by phone")
    moved = task(partnership, pol.id)
    assert (moved.due_on, moved.requested_due_on) == (date(2026, 2, 3), None)


def test_the_senior_manager_may_not_decide_where_the_workflow_does_not_say(
    partnership: Service,
) -> None:
    ref = partnership.open_activity(
        COORDINATOR, "themed_audit", "Neglect audit (fictional)", ["POL"], {"theme": "Neglect"}
    ).activity.ref
    partnership.fire(COORDINATOR, ref, "sample_cases", {"sample_size": 4})
    (audit,) = partnership.fire(COORDINATOR, ref, "issue_audit_tools").created_tasks
    assert audit.id is not None
    assert audit.due_on == date(2026, 2, 2)
    ask(partnership, partnership.resolve_actor(LEAD), audit.id, "2026-02-09")
    assert task(partnership, audit.id).requested_due_on == date(2026, 2, 9)
    with pytest.raises(PermissionDenied, match=r"allowed: coordinator, manager"):
        partnership.decide_more_time(partnership.resolve_actor(CHIEF), audit.id, True)
    partnership.decide_more_time(MANAGER, audit.id, True)
    assert task(partnership, audit.id).due_on == date(2026, 2, 9)


def test_more_time_on_a_statutory_deadline_needs_a_manager(partnership: Service) -> None:
    ref = partnership.open_activity(
        COORDINATOR,
        "practice_review",
        "Practice review (fictional)",
        ["POL"],
        {"awareness_date": "2026-01-05"},
    ).activity.ref
    partnership.fire(
        COORDINATOR, ref, "record_panel_notification", {"notification_date": "2026-01-05"}
    )
    (summary,) = partnership.fire(COORDINATOR, ref, "request_agency_summaries").created_tasks
    assert summary.id is not None
    assert summary.due_on == date(2026, 1, 12)
    # the deadline counts working days: a weekend could never be agreed, so it is not asked
    with pytest.raises(InvalidInput, match=r"17 January 2026 is not a working day"):
        ask(partnership, partnership.resolve_actor(LEAD), summary.id, "2026-01-17")
    assert task(partnership, summary.id).requested_due_on is None
    ask(partnership, partnership.resolve_actor(LEAD), summary.id, "2026-01-14")
    with pytest.raises(PermissionDenied, match="moving a statutory deadline needs a manager"):
        partnership.decide_more_time(COORDINATOR, summary.id, True)
    assert task(partnership, summary.id).requested_due_on == date(2026, 1, 14)
    partnership.decide_more_time(MANAGER, summary.id, True)
    agreed = task(partnership, summary.id)
    assert (agreed.due_on, agreed.requested_due_on) == (date(2026, 1, 14), None)
    # a coordinator may still say no
    ask(partnership, partnership.resolve_actor(LEAD), summary.id, "2026-01-16")
    partnership.decide_more_time(COORDINATOR, summary.id, False, "The meeting is fixed")
    assert task(partnership, summary.id).requested_due_on is None


# ----------------------------------------------------------------------------- 6. escalation
def test_an_escalation_to_the_senior_manager_signs_them_in_on_the_task(
    partnership: Service, smtp: ScriptedSmtpServer, clock: FakeClock
) -> None:
    assert partnership.notifier is not None
    partnership.notifier.sign_in_links = True
    _ref, tasks = request(partnership, ["POL"], None, due="2026-01-07")
    pol = tasks["POL"]
    for day in range(1, 20):
        clock.set(datetime(2026, 1, 5, 9, 30, tzinfo=LONDON) + timedelta(days=day))
        partnership.sweep()
    [row] = outbox(partnership, template="escalation_agency_manager")
    assert (row.recipient_role, row.to_addr, row.task_id) == ("agency_manager", CHIEF, pol.id)
    assert row.sign_in_next == f"/tasks/{pol.id}"
    assert row.ics is None  # the senior manager does not owe the task: no calendar entry
    assert "/login/email" in row.text_body  # the stored link signs nobody in
    deliver_all(partnership, smtp)
    [m] = [m for m in smtp.received if m.rcpt_tos == (CHIEF,)]
    assert calendar_parts(m) == []
    assert "/login/link/" in text_of(m)
    assert row.id is not None
    link = links_of(partnership)[row.id]
    assert (link.email, link.next_url) == (CHIEF, f"/tasks/{pol.id}")
    # signed in, the senior manager is one of the agency's people who sees the task
    chief = partnership.resolve_actor(link.email)
    assert chief.sees(task(partnership, pol.id))


def test_named_contacts_by_hand_and_removed(partnership: Service, database: Database) -> None:
    with_lado(partnership)
    with pytest.raises(InvalidInput, match="unknown contact purpose 'astrology'"):
        partnership.set_contact(
            COORDINATOR, "POL", "astrology", "Someone", "x@police.northshire.example"
        )
    with pytest.raises(PermissionDenied, match="may not change the directory"):
        partnership.set_contact(MANAGER, "POL", "lado", "Someone", "x@police.northshire.example")
    # a new LADO contact replaces the one before, who is signed out
    add_session(database, LADO, partnership.clock.now(), "lado")
    other = "lado2@police.northshire.example"
    partnership.set_contact(COORDINATOR, "POL", "lado", "Lee Lado (fictional)", other)
    assert contacts(partnership) == [("POL", "lado", "Lee Lado (fictional)", other)]
    assert sessions_of(database) == []
    # removing a colleague needs their address; removing nobody is an error
    with pytest.raises(InvalidInput, match="say which colleague"):
        partnership.remove_contact(COORDINATOR, "POL", "colleague")
    with pytest.raises(NotFound, match="POL has no contact for training"):
        partnership.remove_contact(COORDINATOR, "POL", "training")
    assert partnership.remove_contact(COORDINATOR, "POL", "lado") == 1
    assert contacts(partnership) == []
    assert [e.kind for e in log(partnership)[-4:]] == [
        "contact_removed",
        "sessions_revoked",
        "contact_added",
        "contact_removed",
    ]
    with database.read() as session:
        assert session.exec(select(AgencyContact)).all() == []


@pytest.mark.parametrize("order", ["police first", "council first"])
def test_people_move_between_agencies_in_one_file_whatever_the_order(
    service: Service, order: str
) -> None:
    service.import_agencies(Actor.system(), FICTIONAL_AGENCIES)
    import_csv(
        service, csv_of([POL], contacts={"POL": {"lado": (LADO_NAME, LADO)}}), Actor.system()
    )
    new_lado = "lado.new@police.northshire.example"
    rows = [POL, CSC] if order == "police first" else [CSC, POL]
    # the police's LADO contact becomes the council's; the police name someone new
    import_csv(
        service,
        csv_of(
            rows,
            contacts={
                "POL": {"lado": ("New Lado (fictional)", new_lado)},
                "CSC": {"lado": (LADO_NAME, LADO)},
            },
        ),
    )
    assert sorted(contacts(service)) == [
        ("CSC", "lado", LADO_NAME, LADO),
        ("POL", "lado", "New Lado (fictional)", new_lado),
    ]
    assert service.resolve_actor(LADO).agency_id == agency_id(service, "CSC")
    # the police's deputy becomes the council's training contact, the police have no deputy
    moved = dataclasses.replace(POL, deputy_name=None, deputy_email=None)
    rows = [moved, CSC] if order == "police first" else [CSC, moved]
    import_csv(
        service,
        csv_of(rows, contacts={"CSC": {"training": ("Deputy Police", DEPUTY)}}),
    )
    assert ("CSC", "training", "Deputy Police", DEPUTY) in contacts(service)
    assert service.resolve_actor(DEPUTY).agency_id == agency_id(service, "CSC")


def test_a_task_given_to_someone_who_leaves_goes_back_to_the_agency(
    partnership: Service,
) -> None:
    ref, tasks = request(partnership, ["POL"], None)
    _ref2, kept = request(partnership, ["POL"], None)
    pol, other = tasks["POL"], kept["POL"]
    assert pol.id is not None
    assert other.id is not None
    lead = partnership.resolve_actor(LEAD)
    partnership.give_task(lead, pol.id, COLLEAGUE, COLLEAGUE_NAME)
    partnership.give_task(lead, other.id, DEPUTY)

    # the colleague is removed: their task comes back to the lead and deputy
    partnership.remove_contact(COORDINATOR, "POL", "colleague", COLLEAGUE)
    back = task(partnership, pol.id)
    assert (back.assignee_email, back.assignee_name) == (None, None)
    [_given, returned] = events(partnership, ref, "task_given")
    assert (returned.actor, returned.inputs["from"], returned.inputs["to"]) == (
        COORDINATOR.id,
        COLLEAGUE,
        None,
    )
    assert returned.reason == "no longer one of POL's people"
    partnership.fire_task(COORDINATOR, pol.id, "withdraw", reason="Merged (fictional)")
    assert sent_to(outbox(partnership, template="request_withdrawn", task_id=pol.id)) == [
        ("request_withdrawn", "agency", LEAD),
        ("request_withdrawn", "agency_deputy", DEPUTY),
    ]  # not the colleague who left

    # the deputy leaves the police in an import: the same for the task they had
    assert task(partnership, other.id).assignee_email == DEPUTY
    partnership.import_agencies(
        COORDINATOR, [dataclasses.replace(POL, deputy_name=None, deputy_email=None)]
    )
    assert task(partnership, other.id).assignee_email is None
    # someone who stays one of the agency's people keeps what they were given
    partnership.set_contact(COORDINATOR, "POL", "lado", LADO_NAME, LADO)
    partnership.give_task(lead, other.id, LADO)
    partnership.set_contact(COORDINATOR, "POL", "training", LADO_NAME, LADO)
    partnership.remove_contact(COORDINATOR, "POL", "lado")  # still the training contact
    partnership.import_agencies(COORDINATOR, [dataclasses.replace(POL, purposes=frozenset())])
    assert task(partnership, other.id).assignee_email == LADO
    assert [
        (e.inputs["from"], e.inputs["to"]) for e in events(partnership, _ref2, "task_given")
    ] == [
        (LEAD, DEPUTY),
        (DEPUTY, None),  # the deputy left
        (LEAD, LADO),
    ]


def test_a_challenge_to_a_lado_return_goes_to_the_lado_contact(partnership: Service) -> None:
    with_lado(partnership)
    ref, tasks = request(partnership, ["POL"], "lado")
    pol = tasks["POL"]
    assert pol.id is not None
    lado = partnership.resolve_actor(LADO)
    partnership.fire_task(lado, pol.id, "submit", {"summary": "LADO report (fictional)"})
    partnership.fire_task(COORDINATOR, pol.id, "accept")
    partnership.fire(COORDINATOR, ref, "mark_received")
    partnership.fire(
        COORDINATOR,
        ref,
        "table_at_meeting",
        {"meeting_name": "Board", "meeting_date": "2026-02-02"},
    )
    partnership.fire(COORDINATOR, ref, "challenge", {"challenge_summary": "Timeliness"})
    (challenge,) = partnership.add_task(
        COORDINATOR,
        ref,
        "challenge_response",
        "POL",
        {"question": "Why were referrals late?", "response_due_date": "2026-02-16"},
    ).created_tasks
    assert challenge.id is not None
    assert challenge.purpose == "lado"
    partnership.fire_task(COORDINATOR, challenge.id, "send")
    assert sent_to(outbox(partnership, template="challenge_raised")) == [
        ("challenge_raised", "agency_contact", LADO)
    ]
    assert lado.sees(task(partnership, challenge.id))
    partnership.fire_task(lado, challenge.id, "respond", {"response": "Staffing (fictional)"})
    assert task(partnership, challenge.id).state == "responded"


def test_a_named_contact_asks_for_a_sign_in_link(partnership: Service, clock: FakeClock) -> None:
    with_lado(partnership)
    assert partnership.request_sign_in_link(LADO.upper(), "/tasks/1", "192.0.2.1")
    [row] = outbox(partnership, template="sign_in_link")
    assert (row.recipient_role, row.to_addr, row.sign_in_next) == (
        "agency_contact",
        LADO,
        "/tasks/1",
    )
    assert "Dear Lado Police (fictional)," in row.text_body
    assert partnership.request_sign_in_link(CHIEF, None, "192.0.2.1")
    assert outbox(partnership, template="sign_in_link")[-1].recipient_role == "agency_manager"
    # once removed, the address is nobody's: nothing is sent
    partnership.remove_contact(COORDINATOR, "POL", "lado")
    clock.advance(timedelta(minutes=2))
    assert not partnership.request_sign_in_link(LADO, None, "192.0.2.1")
    assert len(outbox(partnership, template="sign_in_link")) == 2


def test_agreeing_never_brings_a_deadline_forward(partnership: Service, clock: FakeClock) -> None:
    _ref, tasks = request(partnership, ["POL"], None)
    pol = tasks["POL"]
    assert pol.id is not None
    ask(partnership, partnership.resolve_actor(LEAD), pol.id, "2026-01-22")
    partnership.pause_deadline(COORDINATOR, pol.id, "Waiting on the archive")
    clock.advance(timedelta(days=14))
    partnership.resume_deadline(COORDINATOR, pol.id, "Records arrived")
    resumed = task(partnership, pol.id)
    assert resumed.due_on is not None
    assert resumed.due_on > date(2026, 1, 22)  # the pause moved it past the date asked for
    with pytest.raises(InvalidInput, match=r"on or after the date asked for \(22 January 2026\)"):
        partnership.decide_more_time(partnership.resolve_actor(CHIEF), pol.id, True)
    assert task(partnership, pol.id).due_on == resumed.due_on
    partnership.decide_more_time(COORDINATOR, pol.id, False, "The pause gave the time asked for")
    assert task(partnership, pol.id).requested_due_on is None


# ----------------------------------------------------------------------------- review cases
def test_nobody_decides_on_their_own_request_for_more_time(partnership: Service) -> None:
    _ref, tasks = request(partnership, ["POL"], None)
    pol = tasks["POL"]
    chief = partnership.resolve_actor(CHIEF)
    partnership.fire_task(
        chief, pol.id or 0, "request_extension", {"requested_date": "2026-01-27"}, "Busy"
    )
    asked = task(partnership, pol.id)
    assert (asked.requested_due_on, asked.requested_due_by) == (date(2026, 1, 27), CHIEF)
    with pytest.raises(PermissionDenied, match="you asked for this more time"):
        partnership.decide_more_time(chief, pol.id or 0, True)
    assert task(partnership, pol.id).due_on == date(2026, 1, 20)
    # someone else may: the coordinator
    partnership.decide_more_time(COORDINATOR, pol.id or 0, True)
    assert task(partnership, pol.id).due_on == date(2026, 1, 27)


def test_an_answer_settles_a_pending_request_for_more_time(partnership: Service) -> None:
    _ref, tasks = request(partnership, ["POL"], None)
    pol = tasks["POL"]
    lead = partnership.resolve_actor(LEAD)
    partnership.fire_task(
        lead, pol.id or 0, "request_extension", {"requested_date": "2026-01-27"}, "x"
    )
    partnership.fire_task(lead, pol.id or 0, "submit", {"summary": "Sent (fictional)"})
    answered = task(partnership, pol.id)
    assert (answered.requested_due_on, answered.requested_due_by) == (None, None)
    with pytest.raises(TransitionNotAllowed, match="no request for more time is waiting"):
        partnership.decide_more_time(COORDINATOR, pol.id or 0, True)


def test_a_contact_who_moves_to_another_agency_is_signed_out(
    partnership: Service, database: Database, clock: FakeClock
) -> None:
    with_lado(partnership)
    add_session(database, LADO, clock.now(), "lado")
    moved = dataclasses.replace(CSC, deputy_name="Moved (fictional)", deputy_email=LADO)
    pol_without = dataclasses.replace(POL, contacts=(), purposes=frozenset({"lado"}))
    partnership.import_agencies(COORDINATOR, [pol_without, moved])
    assert LADO not in sessions_of(database)
    assert partnership.resolve_actor(LADO).agency_id == agency_id(partnership, "CSC")


def test_names_longer_than_their_column_are_refused(partnership: Service) -> None:
    with pytest.raises(InvalidInput, match="longer than 200 characters"):
        partnership.set_contact(COORDINATOR, "POL", "lado", "N" * 201, LADO)
    _ref, tasks = request(partnership, ["POL"], None)
    lead = partnership.resolve_actor(LEAD)
    with pytest.raises(InvalidInput, match="longer than 200 characters"):
        partnership.give_task(lead, tasks["POL"].id or 0, COLLEAGUE, "N" * 201)
    assert task(partnership, tasks["POL"].id).assignee_email is None
    assert contacts(partnership) == []


def test_giving_a_purpose_task_records_who_had_it(partnership: Service) -> None:
    with_lado(partnership)
    ref, tasks = request(partnership, ["POL"], "lado")
    lead = partnership.resolve_actor(LEAD)
    with pytest.raises(InvalidInput, match="already with"):
        partnership.give_task(lead, tasks["POL"].id or 0, LADO)
    partnership.give_task(lead, tasks["POL"].id or 0, COLLEAGUE, COLLEAGUE_NAME)
    [given] = events(partnership, ref, "task_given")
    assert (given.inputs["from"], given.inputs["to"]) == (LADO, COLLEAGUE)
