"""The partnership directory: agencies CSV parsing, all-or-nothing imports, staff, actors."""

from __future__ import annotations

import dataclasses

import pytest

from sef_workflow.directory import AGENCY_COLUMNS, AgencyRecord, parse_agencies_csv
from sef_workflow.errors import InvalidInput, NotFound, PermissionDenied
from sef_workflow.service import Actor, Service

from .conftest import COORDINATOR, FICTIONAL_AGENCIES

HEADER = ",".join(AGENCY_COLUMNS)
SHORT_HEADER = "code,name,sector,lead_name,lead_email"


def _csv(*rows: str, header: str = HEADER) -> str:
    return "\n".join((header, *rows)) + "\n"


def _errors(text: str) -> str:
    with pytest.raises(InvalidInput) as info:
        parse_agencies_csv(text, "agencies.csv")
    message = str(info.value)
    assert message.startswith("agencies.csv: ")
    assert "nothing imported" in message
    return message


def _snapshot(svc: Service) -> list[tuple[object, ...]]:
    return [
        (
            a.code,
            a.name,
            a.sector,
            a.lead_name,
            a.lead_email,
            a.deputy_name,
            a.deputy_email,
            a.manager_name,
            a.manager_email,
            a.active,
        )
        for a in svc.list_agencies()
    ]


# ----------------------------------------------------------------------------- parsing


def test_parse_happy_path_normalises_and_skips_blank_rows() -> None:
    text = (
        "\ufeff"
        + HEADER
        + "\n"
        + "pol, Northshire Constabulary (fictional) ,Police,Lead Police,"
        + " Lead@Police.Northshire.EXAMPLE ,Deputy Police,deputy@police.northshire.example,,\n"
        + "\n"
        + ",,,,,,,,\n"
        + "icb,Northshire ICB (fictional),health,Lead Health,lead@icb.northshire.example,,,"
        + "Chief Health,Chief@ICB.northshire.example\n"
    )
    records = parse_agencies_csv(text, "agencies.csv")
    assert records == [
        AgencyRecord(
            code="POL",
            name="Northshire Constabulary (fictional)",
            sector="police",
            lead_name="Lead Police",
            lead_email="lead@police.northshire.example",
            deputy_name="Deputy Police",
            deputy_email="deputy@police.northshire.example",
            manager_name=None,
            manager_email=None,
            purposes=frozenset(),  # the file has no contact columns: contacts stay as they are
        ),
        AgencyRecord(
            code="ICB",
            name="Northshire ICB (fictional)",
            sector="health",
            lead_name="Lead Health",
            lead_email="lead@icb.northshire.example",
            deputy_name=None,
            deputy_email=None,
            manager_name="Chief Health",
            manager_email="chief@icb.northshire.example",
            purposes=frozenset(),
        ),
    ]


def test_parse_optional_columns_may_be_left_out() -> None:
    records = parse_agencies_csv(
        _csv(
            "csc,Children's Services (fictional),local_authority,Lead,lead@csc.example",
            header=SHORT_HEADER,
        )
    )
    assert [(r.code, r.deputy_email, r.manager_email) for r in records] == [("CSC", None, None)]


def test_parse_shipped_demo_file() -> None:
    from sef_workflow.demo import agencies_csv

    records = parse_agencies_csv(agencies_csv(), "demo")
    assert len(records) == 12
    assert all(r.lead_email.endswith(".example") for r in records)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            "A,Agency A,police,Lead,not-an-email,,,,",
            "row 3: lead_email: 'not-an-email' is not an email",
        ),
        (
            "A,Agency A,police,Lead,a@a.example,,bad@,,",
            "row 3: deputy_email: 'bad@' is not an email",
        ),
        (
            "A,Agency A,pirates,Lead,a@a.example,,,,",
            "row 3: unknown sector 'pirates' (allowed: police",
        ),
        ("A,Agency A,police,,a@a.example,,,,", "row 3: lead_name is empty"),
        ("A,Agency A,police,Lead,,,,,", "row 3: lead_email is empty"),
        (
            "A,Agency A,police,Lead,a@a.example,Deputy,,,",
            "row 3: deputy_name is given without deputy_email",
        ),
        (
            "A,Agency A,police,Lead,a@a.example,,,Chief,",
            "row 3: manager_name is given without manager_email",
        ),
        ("A,Agency A,police,Lead,a@a.example,,,,,surplus", "row 3: more values than columns"),
        ("A B,Agency A,police,Lead,a@a.example,,,,", "row 3: code 'A B' must be letters"),
        ("A,,police,Lead,a@a.example,,,,", "row 3: name is empty"),
    ],
)
def test_parse_bad_row_is_named_by_row_number(row: str, expected: str) -> None:
    # header = row 1, the good agency = row 2, the bad one = row 3
    message = _errors(_csv("OK,Good Agency (fictional),police,Lead,ok@good.example,,,,", row))
    assert expected in message
    assert "1 bad row," in message


def test_parse_duplicate_code_and_name_name_the_first_row() -> None:
    message = _errors(
        _csv(
            "POL,Police (fictional),police,Lead,a@pol.example,,,,",
            "pol,Other Police (fictional),police,Lead,b@pol.example,,,,",
            "XPOL,POLICE (FICTIONAL),police,Lead,c@pol.example,,,,",
        )
    )
    assert "row 3: duplicate code POL (also row 2)" in message
    assert "row 4: duplicate name 'POLICE (FICTIONAL)' (also row 2)" in message


def test_parse_reports_every_bad_row_together() -> None:
    message = _errors(
        _csv(
            "A,Agency A (fictional),police,Lead,a@a.example,,,,",
            "B,Agency B (fictional),police,Lead,bad-email,,,,",
            "C,Agency C (fictional),nowhere,Lead,c@c.example,,,,",
            "D,Agency D (fictional),police,Lead,d@d.example,,,,",
            "A,Agency E (fictional),police,Lead,e@e.example,,,,",
        )
    )
    assert "\n" not in message  # one line, every bad row in it
    head, _, rows = message.partition(" nothing imported: ")
    assert head == "agencies.csv: 3 bad rows,"
    assert [part.split(":")[0] for part in rows.split("; ")] == ["row 3", "row 4", "row 6"]


def test_parse_quoted_multiline_value_keeps_record_numbering() -> None:
    message = _errors(
        _csv(
            'A,"Agency A\n(fictional)",police,Lead,a@a.example,,,,',
            "B,Agency B (fictional),police,Lead,bad-email,,,,",
        )
    )
    assert "row 3: lead_email" in message


def test_parse_row_numbers_count_blank_lines() -> None:
    message = _errors(
        _csv(
            "A,Agency A (fictional),police,Lead,a@a.example,,,,",
            "",
            "B,Agency B (fictional),police,Lead,bad-email,,,,",
        )
    )
    # header = row 1, A = row 2, the blank line = row 3, B = row 4 (as a spreadsheet shows it)
    assert "row 4: lead_email" in message


def test_parse_missing_and_unknown_columns() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_agencies_csv("code,name,lead_name,colour\nA,Agency,Lead,blue\n", "agencies.csv")
    message = str(info.value)
    assert "missing column sector, lead_email" in message
    assert "unknown column colour" in message
    assert "code, name, sector, lead_name, lead_email, deputy_name" in message
    assert "nothing imported" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the file is empty"),
        ("\ufeff", "the file is empty"),
        (HEADER + "\n", "no agencies in the file"),
        (HEADER + "\n\n,,,,,,,,\n", "no agencies in the file"),
    ],
)
def test_parse_empty_files(text: str, expected: str) -> None:
    with pytest.raises(InvalidInput, match=expected):
        parse_agencies_csv(text, "agencies.csv")


# ----------------------------------------------------------------------------- import


def test_import_creates_then_updates_by_code(service: Service) -> None:
    result = service.import_agencies(Actor.system(), FICTIONAL_AGENCIES)
    assert (result.created, result.updated) == (3, 0)
    assert [a.code for a in service.list_agencies()] == ["CSC", "ICB", "POL"]

    changed = dataclasses.replace(
        FICTIONAL_AGENCIES[0],
        lead_name="New Lead Police",
        lead_email="New.Lead@Police.Northshire.example",
        deputy_name=None,
        deputy_email=None,
    )
    new = AgencyRecord(
        code="edu",
        name="Northshire Schools (fictional)",
        sector="Education",
        lead_name="Lead Schools",
        lead_email="lead@schools.northshire.example",
    )
    result = service.import_agencies(COORDINATOR, [changed, new])
    assert (result.created, result.updated) == (1, 1)
    rows = {a.code: a for a in service.list_agencies()}
    assert sorted(rows) == ["CSC", "EDU", "ICB", "POL"]
    assert rows["POL"].lead_email == "new.lead@police.northshire.example"
    assert rows["POL"].lead_name == "New Lead Police"
    assert rows["POL"].deputy_email is None
    assert rows["EDU"].sector == "education"
    # the actor follows the directory: the old lead is no longer an agency contact
    with pytest.raises(NotFound):
        service.resolve_actor("lead@police.northshire.example")
    assert service.resolve_actor("new.lead@police.northshire.example").agency_id == rows["POL"].id


def test_import_bad_later_record_changes_nothing(partnership: Service) -> None:
    before = _snapshot(partnership)
    good = AgencyRecord(
        code="HOUS",
        name="Northshire Homes (fictional)",
        sector="housing",
        lead_name="Lead Homes",
        lead_email="lead@homes.northshire.example",
    )
    update = dataclasses.replace(FICTIONAL_AGENCIES[1], lead_email="other@icb.northshire.example")
    bad = dataclasses.replace(good, code="VOL", name="Voluntary (fictional)", lead_email="nope")
    with pytest.raises(InvalidInput, match=r"agency 3 \(VOL\): lead_email: .*nothing imported"):
        partnership.import_agencies(Actor.system(), [good, update, bad])
    assert _snapshot(partnership) == before


def test_import_name_used_by_another_code_is_refused(partnership: Service) -> None:
    before = _snapshot(partnership)
    new = AgencyRecord(
        code="HOUS",
        name="Northshire Homes (fictional)",
        sector="housing",
        lead_name="Lead Homes",
        lead_email="lead@homes.northshire.example",
    )
    clash = AgencyRecord(
        code="POL2",
        name="NORTHSHIRE CONSTABULARY (FICTIONAL)",
        sector="police",
        lead_name="Lead",
        lead_email="lead2@police.northshire.example",
    )
    with pytest.raises(InvalidInput) as info:
        partnership.import_agencies(Actor.system(), [new, clash])
    message = str(info.value)
    assert "POL2" in message
    assert "already used by POL" in message
    assert "nothing imported" in message
    # the first record was written inside the same transaction and rolled back with it
    assert _snapshot(partnership) == before


def test_import_same_code_keeps_its_own_name(partnership: Service) -> None:
    renamed = dataclasses.replace(FICTIONAL_AGENCIES[0], name="Northshire Police (fictional)")
    result = partnership.import_agencies(Actor.system(), [renamed])
    assert (result.created, result.updated) == (0, 1)
    assert {a.code: a.name for a in partnership.list_agencies()}["POL"] == renamed.name


def test_import_needs_coordinator_or_admin(partnership: Service) -> None:
    lead = partnership.resolve_actor("lead@police.northshire.example")
    manager = partnership.resolve_actor("manager@northshire-scp.example")
    before = _snapshot(partnership)
    for actor in (lead, manager):
        with pytest.raises(PermissionDenied, match="may not change the directory"):
            partnership.import_agencies(actor, FICTIONAL_AGENCIES)
    assert _snapshot(partnership) == before


# ----------------------------------------------------------------------------- staff


def test_add_staff_validates_role_name_and_email(service: Service) -> None:
    system = Actor.system()
    with pytest.raises(InvalidInput, match=r"unknown staff role 'chair' \(allowed: admin"):
        service.add_staff(system, "Sam Chair", "chair@scp.example", "chair")
    with pytest.raises(InvalidInput, match="unknown staff role 'agency'"):
        service.add_staff(system, "Sam Chair", "chair@scp.example", "agency")
    with pytest.raises(InvalidInput, match="need a name"):
        service.add_staff(system, "  ", "chair@scp.example", "manager")
    with pytest.raises(InvalidInput, match="not an email address"):
        service.add_staff(system, "Sam Chair", "chair-at-scp", "manager")
    assert service.list_staff() == []


def test_add_staff_updates_by_email_and_needs_admin(service: Service) -> None:
    row = service.add_staff(Actor.system(), "Alex Admin", "Admin@SCP.example", "admin")
    assert (row.email, row.role) == ("admin@scp.example", "admin")
    admin = service.resolve_actor("admin@scp.example")
    service.add_staff(admin, "Casey Coord", "casey@scp.example", "coordinator")
    service.add_staff(admin, "Casey Coordinator", "CASEY@scp.example", "manager")
    staff = {s.email: (s.name, s.role) for s in service.list_staff()}
    assert staff == {
        "admin@scp.example": ("Alex Admin", "admin"),
        "casey@scp.example": ("Casey Coordinator", "manager"),
    }
    manager = service.resolve_actor("casey@scp.example")
    with pytest.raises(PermissionDenied, match="may not change staff"):
        service.add_staff(manager, "Drew", "drew@scp.example", "coordinator")
    assert len(service.list_staff()) == 2


# ----------------------------------------------------------------------------- actors


def test_resolve_actor_staff_lead_deputy_and_unknown(partnership: Service) -> None:
    coordinator = partnership.resolve_actor("  Coordinator@Northshire-SCP.example ")
    assert coordinator == Actor(
        id="coordinator@northshire-scp.example", role="coordinator", name="Casey Coord"
    )
    ids = {a.code: a.id for a in partnership.list_agencies()}

    lead = partnership.resolve_actor("LEAD@police.northshire.example")
    assert (lead.id, lead.role, lead.agency_id) == (
        "lead@police.northshire.example",
        "agency",
        ids["POL"],
    )
    deputy = partnership.resolve_actor("deputy@csc.northshire.example")
    assert (deputy.role, deputy.agency_id) == ("agency", ids["CSC"])

    with pytest.raises(NotFound):  # the system actor is internal, never a sign-in
        partnership.resolve_actor("system")
    with pytest.raises(NotFound, match=r"nobody@elsewhere\.example is neither staff nor"):
        partnership.resolve_actor("nobody@elsewhere.example")
