"""Weekly digests: managers see every agency's overdue and due-soon work, each agency its own.

Through the real service on SQLite and PostgreSQL, with a fake clock; and the renderer's
rules for ``items`` (the one list a template may see).
"""

from __future__ import annotations

import multiprocessing as mp
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from sef_workflow.calendar import LONDON, WorkingCalendar
from sef_workflow.clock import FakeClock
from sef_workflow.db import Database
from sef_workflow.definitions import Registry
from sef_workflow.digest import DigestReport, dedupe_key, send_digests
from sef_workflow.models import Agency, Notification, Task
from sef_workflow.notify.outbox import Notifier
from sef_workflow.notify.render import (
    ITEM_NAMES,
    SAMPLE_CONTEXT,
    TemplateError,
    Templates,
)
from sef_workflow.service import Service

from .conftest import COORDINATOR, FICTIONAL_AGENCIES, MANAGER, TEMPLATES, WORKFLOWS, answer_form

POL, ICB, CSC = FICTIONAL_AGENCIES
PARTNERSHIP = "Northshire Safeguarding Children Partnership (fictional)"
BASE_URL = "http://127.0.0.1:8000"
BUSINESS_UNIT_EMAIL = "business.unit@northshire-scp.example"

MON_9_FEB = datetime(2026, 2, 9, 10, 0, tzinfo=LONDON)  # ISO week 2026-W07
TUE_10_FEB = datetime(2026, 2, 10, 10, 0, tzinfo=LONDON)
SAT_14_FEB = datetime(2026, 2, 14, 10, 0, tzinfo=LONDON)
MON_16_FEB = datetime(2026, 2, 16, 10, 0, tzinfo=LONDON)  # ISO week 2026-W08


# ---------------------------------------------------------------------------------------
# seeding


def _issue_audit(svc: Service, title: str, agencies: list[str]) -> dict[str, Task]:
    ref = svc.open_activity(
        COORDINATOR, "themed_audit", title, agencies, {"theme": "Neglect"}
    ).activity.ref
    svc.fire(COORDINATOR, ref, "sample_cases", {"sample_size": 2})
    tasks = svc.fire(COORDINATOR, ref, "issue_audit_tools").created_tasks
    codes = {a.id: a.code for a in svc.list_agencies()}
    return {codes[t.agency_id]: t for t in tasks if t.agency_id is not None}


def _seed(svc: Service, clock: FakeClock) -> str:
    """Two themed audits and a practice review; on Mon 9 Feb 2026:

    * MAA-2026-001 (POL, ICB, CSC), due Mon 2 Feb: POL 5 working days overdue; ICB extended
      to Wed 4 Feb, so 3 overdue; CSC answered.
    * MAA-2026-002 (POL, ICB), due Mon 9 Feb: POL due today (due soon); ICB extended to
      Mon 2 Mar (not due soon).
    * CSPR-2026-001: the business unit's Panel notification, due Mon 2 Feb: 5 overdue.

    Returns the practice review's reference.
    """
    clock.set(datetime(2026, 1, 5, 9, 0, tzinfo=LONDON))
    first = _issue_audit(svc, "Neglect themed audit (fictional)", ["POL", "ICB", "CSC"])
    assert {t.due_on for t in first.values()} == {date(2026, 2, 2)}

    clock.set(datetime(2026, 1, 12, 9, 0, tzinfo=LONDON))
    second = _issue_audit(svc, "Neglect re-audit (fictional)", ["POL", "ICB"])
    assert {t.due_on for t in second.values()} == {date(2026, 2, 9)}
    svc.extend_deadline(COORDINATOR, _id(first["ICB"]), date(2026, 2, 4), "Staff absence")
    svc.extend_deadline(COORDINATOR, _id(second["ICB"]), date(2026, 3, 2), "Agreed at subgroup")

    clock.set(datetime(2026, 2, 2, 9, 0, tzinfo=LONDON))
    review = svc.open_activity(
        COORDINATOR,
        "practice_review",
        "Practice review (fictional)",
        ["POL"],
        {"awareness_date": "2026-01-26"},
    )
    (statutory,) = review.created_tasks
    assert statutory.agency_id is None
    assert statutory.due_on == date(2026, 2, 2)

    csc_lead = svc.resolve_actor(CSC.lead_email)
    answer_form(svc, csc_lead, _id(first["CSC"]))
    svc.fire_task(csc_lead, _id(first["CSC"]), "submit", {"summary": "Return attached"})
    return review.activity.ref


def _id(task: Task) -> int:
    assert task.id is not None
    return task.id


def _digests(svc: Service) -> list[Notification]:
    with svc.db.read() as session:
        return list(
            session.exec(
                select(Notification)
                .where(col(Notification.template).in_(["digest_manager", "digest_agency"]))
                .order_by(col(Notification.id))
            ).all()
        )


def _sections(text: str, headings: set[str]) -> list[tuple[str, list[str]]]:
    """The digest text as (group heading, [item reference, ...]) in order."""
    out: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line in headings:
            out.append((line, []))
        elif line.startswith("- ") and out:
            out[-1][1].append(line[2:].split(" ", 1)[0])
    return out


def _everything(n: Notification) -> str:
    return "\n".join([n.subject, n.text_body, n.html_body, n.to_addr, *n.cc_addrs])


def _contacts(record: Any) -> list[str]:
    return [
        v
        for v in (
            record.name,
            record.lead_email,
            record.deputy_email,
            record.manager_email,
            record.lead_name,
            record.deputy_name,
            record.manager_name,
        )
        if v
    ]


# ---------------------------------------------------------------------------------------
# the digests, end to end


def test_weekly_digests(partnership: Service, clock: FakeClock) -> None:
    review_ref = _seed(partnership, clock)
    clock.set(MON_9_FEB)

    report = send_digests(partnership)
    # one email each to the police lead, the police deputy and the health lead
    assert report == DigestReport(managers=1, agencies=3, skipped_empty=1, already_sent=0)
    rows = _digests(partnership)
    by_to = {n.to_addr: n for n in rows}
    assert sorted(by_to) == sorted(
        [MANAGER.id, POL.lead_email, str(POL.deputy_email), ICB.lead_email]
    )
    assert CSC.lead_email not in by_to  # answered: an empty digest is not sent

    # every row: no activity, a stable key and Message-ID, pending, no calendar invite
    for n in rows:
        kind = "manager" if n.template == "digest_manager" else "agency"
        key = dedupe_key(kind, n.to_addr, "2026-W07")
        assert n.dedupe_key == key == f"digest:{kind}:{n.to_addr}:2026-W07"
        assert partnership.notifier is not None
        assert n.message_id == partnership.notifier.message_id(key)
        assert n.activity_id is None
        assert n.task_id is None
        deputy = n.to_addr == POL.deputy_email
        assert n.recipient_role == ("agency_deputy" if deputy else kind)
        assert n.status == "pending"
        assert n.ics is None
        assert "\n" not in n.subject
        assert "Weekly digest" in n.subject
        assert f"{BASE_URL}/dashboard" in n.text_body
        assert f'href="{BASE_URL}/dashboard"' in n.html_body
        assert "None" not in n.text_body

    # the manager: everything, grouped by agency, the most overdue group first
    manager = by_to[MANAGER.id]
    assert manager.template == "digest_manager"
    assert manager.subject == "Weekly digest: overdue and due soon"
    assert manager.cc_addrs == []
    assert manager.agency_id is None
    assert "Dear Morgan Manager," in manager.text_body
    headings = {POL.name, ICB.name, CSC.name, "Business unit"}
    assert _sections(manager.text_body, headings) == [
        ("Business unit", [review_ref]),
        (POL.name, ["MAA-2026-001", "MAA-2026-002"]),
        (ICB.name, ["MAA-2026-001"]),
    ]
    text = manager.text_body
    assert text.count("Overdue by 5 working days (due 2 February 2026)") == 2  # CSPR, POL
    assert "Overdue by 3 working days (due 4 February 2026)" in text  # ICB, extended
    assert "Due 9 February 2026 (due today)" in text  # POL, the re-audit
    assert CSC.name not in text  # answered
    assert f"{BASE_URL}/activities/MAA-2026-002" in text
    html = manager.html_body
    assert html.index(">Business unit</h2>") < html.index(f">{POL.name}</h2>")
    assert html.index(f">{POL.name}</h2>") < html.index(f">{ICB.name}</h2>")
    assert html.count("<ul") == html.count("</ul>") == 3
    assert "<strong>Overdue by 3 working days</strong>" in html
    assert "Neglect" not in text + html  # activity titles, typed by a coordinator, stay out

    # each agency: only its own items, an email to the lead and one to the deputy
    police = by_to[POL.lead_email]
    assert police.template == "digest_agency"
    assert police.cc_addrs == []
    deputy = by_to[POL.deputy_email]
    assert deputy.cc_addrs == []
    assert deputy.recipient_role == "agency_deputy"
    assert f"Dear {POL.deputy_name}," in deputy.text_body
    assert deputy.text_body.split(",", 1)[1] == police.text_body.split(",", 1)[1]
    assert "Dear Lead Police," in police.text_body
    assert [ref for _, refs in _sections("x\n" + police.text_body, {"x"}) for ref in refs] == [
        "MAA-2026-001",
        "MAA-2026-002",
    ]
    assert "Overdue by 5 working days (due 2 February 2026)" in police.text_body
    assert "Due 9 February 2026 (due today)" in police.text_body
    assert review_ref not in _everything(police)  # the business unit's own step

    health = by_to[ICB.lead_email]
    assert health.cc_addrs == []  # no deputy on record
    assert "Overdue by 3 working days (due 4 February 2026)" in health.text_body
    assert "MAA-2026-002" not in _everything(health)  # extended to March: not due soon

    with partnership.db.read() as session:
        ids = {a.code: a.id for a in session.exec(select(Agency)).all()}
    assert police.agency_id == ids["POL"]
    assert health.agency_id == ids["ICB"]

    # no other agency's name, people or addresses in an agency's digest: a must
    for own, mail in ((POL, police), (ICB, health)):
        body = _everything(mail)
        for other in FICTIONAL_AGENCIES:
            if other is own:
                continue
            for value in _contacts(other):
                assert value not in body, f"{other.code}'s {value!r} in {own.code}'s digest"
        assert "Business unit" not in body

    # a second run the same week sends nothing new
    clock.set(TUE_10_FEB)
    again = send_digests(partnership)
    assert again == DigestReport(managers=0, agencies=0, skipped_empty=1, already_sent=4)
    assert len(_digests(partnership)) == 4

    # nothing at all on a Saturday
    clock.set(SAT_14_FEB)
    assert send_digests(partnership) == DigestReport(0, 0, 0, 0)
    assert len(_digests(partnership)) == 4

    # the next week: sent again, with the days overdue moved on
    clock.set(MON_16_FEB)
    week8 = send_digests(partnership)
    assert week8 == DigestReport(managers=1, agencies=3, skipped_empty=1, already_sent=0)
    later = [n for n in _digests(partnership) if n.dedupe_key.endswith(":2026-W08")]
    assert len(later) == 4
    manager8 = next(n for n in later if n.to_addr == MANAGER.id)
    assert manager8.message_id != manager.message_id
    assert manager8.text_body.count("Overdue by 10 working days (due 2 February 2026)") == 2
    assert "Overdue by 5 working days (due 9 February 2026)" in manager8.text_body


def test_nothing_due_sends_nothing(partnership: Service, clock: FakeClock) -> None:
    clock.set(datetime(2026, 1, 5, 9, 0, tzinfo=LONDON))
    _issue_audit(partnership, "Neglect themed audit (fictional)", ["POL"])  # due 2 Feb
    clock.set(datetime(2026, 1, 12, 9, 0, tzinfo=LONDON))
    report = send_digests(partnership)
    # one manager and three agencies, all with nothing overdue or due within 5 working days
    assert report == DigestReport(managers=0, agencies=0, skipped_empty=4, already_sent=0)
    assert _digests(partnership) == []
    # due within 20 working days: now it is due soon
    # the police lead and deputy, an email each
    assert send_digests(partnership, due_soon_working_days=20).agencies == 2


def test_a_bank_holiday_sends_nothing(partnership: Service, clock: FakeClock) -> None:
    clock.set(datetime(2026, 1, 5, 9, 0, tzinfo=LONDON))
    _issue_audit(partnership, "Neglect themed audit (fictional)", ["POL"])
    clock.set(datetime(2026, 5, 4, 10, 0, tzinfo=LONDON))  # Early May bank holiday, a Monday
    assert send_digests(partnership) == DigestReport(0, 0, 0, 0)
    clock.set(datetime(2026, 5, 5, 10, 0, tzinfo=LONDON))
    assert send_digests(partnership).managers == 1


def _digest_in_process(url: str, barrier: Any, results: Any) -> None:
    db = Database(url)
    calendar = WorkingCalendar()
    notifier = Notifier(
        Templates(TEMPLATES, PARTNERSHIP),
        calendar,
        base_url=BASE_URL,
        business_unit_email=BUSINESS_UNIT_EMAIL,
    )
    service = Service(db, Registry(WORKFLOWS), calendar, FakeClock(MON_9_FEB), notifier)
    barrier.wait(timeout=60)
    try:
        r = send_digests(service)
        results.put((r.managers + r.agencies, r.already_sent))
    except Exception as exc:  # pragma: no cover - reported by the assertion below
        results.put((-1, f"{type(exc).__name__}: {exc}"))
    finally:
        db.dispose()


def test_two_workers_send_each_digest_once(partnership: Service, clock: FakeClock) -> None:
    _seed(partnership, clock)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_digest_in_process, args=(partnership.db.url, barrier, results))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert all(isinstance(o[1], int) for o in outcomes), outcomes
    assert sum(o[0] for o in outcomes) == 4  # the manager, the police lead and deputy, health
    assert sum(int(o[1]) for o in outcomes) == 4
    assert len(_digests(partnership)) == 4


# ---------------------------------------------------------------------------------------
# the renderer: items


@pytest.fixture(scope="module")
def templates() -> Templates:
    return Templates(TEMPLATES, PARTNERSHIP)


def _digest_context() -> dict[str, Any]:
    return {
        "reference": "DIGEST-2026-W07",
        "activity_type": "Weekly digest",
        "recipient_name": "Sam Sample (fictional)",
        "agency_name": "Northshire Constabulary (fictional)",
        "link": f"{BASE_URL}/dashboard",
        "items": SAMPLE_CONTEXT["items"],
    }


def test_sample_items_use_every_item_key() -> None:
    items = SAMPLE_CONTEXT["items"]
    assert isinstance(items, list)
    assert len(items) == 2
    assert all(set(item) == ITEM_NAMES for item in items)
    assert any(item["days_overdue"] is None for item in items)


@pytest.mark.parametrize("name", ["digest_manager", "digest_agency"])
def test_digest_templates_render(templates: Templates, name: str) -> None:
    out = templates.render(name, _digest_context())
    assert out.subject.startswith("Weekly digest: ")
    for item in SAMPLE_CONTEXT["items"]:  # type: ignore[attr-defined]
        assert item["reference"] not in out.subject
        assert item["link"] in out.text
        assert f'href="{item["link"]}"' in out.html
    assert "Overdue by 3 working days" in out.text
    assert "Due Fri 2 Jan 2026 (4 working days left)" in out.text
    assert "do not forward" in out.text


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([{**SAMPLE_CONTEXT["items"][0], "child_name": "Jo"}], "child_name"),  # type: ignore[index]
        ([{"reference": "MAA-2026-001", "nhs_number": "1"}], "nhs_number"),
        ("MAA-2026-001", "list of dicts"),
        ({"reference": "MAA-2026-001"}, "list of dicts"),
        (["MAA-2026-001"], r"items\[0\] must be a dict"),
        ([{"reference": object()}], r"items\[0\]\.reference must be a string"),
        ([{"days_overdue": "3"}], "int or None"),
        ([{"days_overdue": True}], "int or None"),
        ([{"link": "javascript:alert(1)"}], "http"),
    ],
)
def test_render_refuses_a_bad_items_entry(
    templates: Templates, items: object, message: str
) -> None:
    with pytest.raises(TemplateError, match=message):
        templates.render("digest_manager", {**_digest_context(), "items": items})


def _message(folder: Path, name: str, subject: str, text: str, html: str) -> None:
    files = {
        f"{name}.subject.j2": subject,
        f"{name}.txt.j2": text,
        f"{name}.html.j2": '{% extends "_layout.html.j2" %}{% block content %}'
        + html
        + "{% endblock %}",
    }
    for file, source in files.items():
        (folder / file).write_text(source, encoding="utf-8")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "_layout.html.j2").write_text(
        '<!doctype html><html lang="en"><head><title>{{ reference }}</title></head>'
        "<body>{% block content %}{% endblock %}</body></html>\n",
        encoding="utf-8",
    )
    return tmp_path


def test_check_accepts_a_digest_with_a_plain_subject(folder: Path) -> None:
    _message(
        folder,
        "digest_ok",
        "Weekly digest",
        "{% for item in items %}{{ item.reference }} {{ item.days_overdue }}{% endfor %}",
        '{% for a, rows in items|groupby("agency_name") %}<h2>{{ a }}</h2>'
        "{% for r in rows %}<p>{{ r.task_title }}</p>{% endfor %}{% endfor %}",
    )
    assert Templates(folder, PARTNERSHIP).check() == []


def test_check_reports_an_item_attribute_outside_the_allow_list(folder: Path) -> None:
    _message(
        folder,
        "digest_leaky",
        "Weekly digest",
        "{% for item in items %}{{ item.child_name }}{% endfor %}",
        '{% for x in items %}{{ x["family_address"] }}{% endfor %}',
    )
    problems = Templates(folder, PARTNERSHIP).check()
    label = folder.as_posix()
    assert any(
        p.startswith(f"{label}/digest_leaky.txt.j2: ") and "child_name" in p for p in problems
    )
    assert any(
        p.startswith(f"{label}/digest_leaky.html.j2: ") and "family_address" in p for p in problems
    )


def test_check_reports_uses_it_cannot_follow(folder: Path) -> None:
    _message(
        folder,
        "digest_sneaky",
        "Weekly digest",
        "{% macro row(x) %}{{ x.dob }}{% endmacro %}{% for i in items %}{{ row(i) }}{% endfor %}"
        '{{ items|map(attribute="child_name")|join }}',
        "{% set all = items %}{% for i in all %}{{ loop.previtem.school }}{% endfor %}",
    )
    problems = "\n".join(Templates(folder, PARTNERSHIP).check())
    assert "digest_sneaky.txt.j2: line 1: uses i in a way the check cannot follow" in problems
    assert "child_name" in problems
    assert "loop.previtem.school" in problems


def test_check_keeps_items_out_of_subjects_and_other_messages(folder: Path) -> None:
    _message(folder, "digest_loud", "{{ items|length }} overdue", "t", "<p>h</p>")
    _message(
        folder,
        "reminder_list",
        "{{ reference }}",
        "{% for item in items %}{{ item.reference }}{% endfor %}",
        "<p>h</p>",
    )
    problems = Templates(folder, PARTNERSHIP).check()
    label = folder.as_posix()
    assert any(
        p.startswith(f"{label}/digest_loud.subject.j2: ") and "travel in clear" in p
        for p in problems
    ), problems
    assert any(
        p.startswith(f"{label}/reminder_list.txt.j2: ") and "only digests" in p for p in problems
    ), problems
