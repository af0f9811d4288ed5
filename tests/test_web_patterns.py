"""GOV.UK Design System patterns in the web app: one error summary at the top of the page
(with "Error: " in the title, errors in the fields' order), dates typed as day, month and
year, success banners after a change (fixed messages only), pagination of the outbox and the
mail catcher, "(optional)" said once, and the favicon."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import httpx2 as httpx
import pytest
from sqlmodel import select
from starlette.datastructures import FormData

from sef_workflow.definitions import InputSpec
from sef_workflow.errors import InvalidInput
from sef_workflow.models import Notification
from sef_workflow.notify import catcher
from sef_workflow.web.forms import (
    FormInvalid,
    field_errors,
    input_errors,
    input_values,
    read_date,
    the,
    typed_values,
)
from sef_workflow.web.rendering import environment

from . import test_web
from .conftest import COORDINATOR
from .test_web import POL_LEAD, Site, audit_with_returns, csrf_of, fire, open_audit, token

#: the web tests' served partnership
site = test_web.site

MEETING = InputSpec("meeting_date", "date", True, "Meeting date")
NOTE = InputSpec("note", "text", False, "Anything to add (optional)")


def form(**fields: str) -> FormData:
    return FormData([(k.replace("__", "-"), v) for k, v in fields.items()])


# ---------------------------------------------------------------------- reading forms
@pytest.mark.parametrize(
    ("day", "month", "year", "expected"),
    [
        ("2", "3", "2027", ("2027-03-02", None)),
        (" 02 ", "03", "2027", ("2027-03-02", None)),
        ("", "", "", (None, "Enter the meeting date")),
        ("31", "2", "2027", (None, "The meeting date must be a real date")),
        ("12", "", "", (None, "The meeting date must include a month and year")),
        ("", "3", "2027", (None, "The meeting date must include a day")),
        ("1", "3", "27", (None, "The year must include 4 numbers")),
        ("x", "3", "2027", (None, "The meeting date must be a real date")),
    ],
)
def test_a_date_is_read_from_day_month_and_year(
    day: str, month: str, year: str, expected: tuple[str | None, str | None]
) -> None:
    posted = form(
        in_meeting_date__day=day, in_meeting_date__month=month, in_meeting_date__year=year
    )
    assert read_date(posted, "in_meeting_date", "Meeting date") == expected


def test_a_date_posted_whole_still_reads_and_a_blank_optional_one_is_no_error() -> None:
    assert read_date(form(due="2027-01-06"), "due", "Due date") == ("2027-01-06", None)
    assert read_date(form(due="6/1/2027"), "due", "Due date") == (
        None,
        "The due date must be a real date",
    )
    assert read_date(form(), "due", "Due date", required=False) == (None, None)


def test_inputs_give_dates_as_iso_and_name_every_date_that_is_no_date() -> None:
    specs = [MEETING, InputSpec("other_date", "date", False, "Date of the decision"), NOTE]
    good = form(in_meeting_date__day="6", in_meeting_date__month="1", in_meeting_date__year="2027")
    assert input_values(good, specs) == {"meeting_date": "2027-01-06"}
    bad = form(
        in_meeting_date__day="32",
        in_meeting_date__month="1",
        in_meeting_date__year="2027",
        in_other_date__month="2",
        in_note="kept",
    )
    with pytest.raises(FormInvalid) as caught:
        input_values(bad, specs)
    assert isinstance(caught.value, InvalidInput)
    assert field_errors(caught.value, specs, "convene") == [
        ("t-convene-in_meeting_date", "The meeting date must be a real date"),
        ("t-convene-in_other_date", "The date of the decision must include a day and year"),
    ]
    # every input of a form at once: required ones left blank and dates
    assert input_errors(form(in_note="x"), specs) == [("in_meeting_date", "Enter the meeting date")]


def test_what_was_typed_keeps_the_three_boxes_and_gives_the_date_whole() -> None:
    typed = typed_values(
        form(in_x__day="6", in_x__month="1", in_x__year="2027", in_y__day="31", in_y__month="2")
    )
    assert typed["in_x"] == "2027-01-06"
    assert typed["in_x-day"] == "6"
    assert typed["in_y"] == "31/2/"  # not a date: as typed, for the deadlines preview to say so


def test_the_services_refusals_read_as_what_to_fix() -> None:
    specs = [MEETING, InputSpec("sample_size", "int", True, "Number of cases sampled"), NOTE]
    missing = InvalidInput("fire 'x': missing required input meeting_date, sample_size")
    assert field_errors(missing, specs) == [
        ("in_meeting_date", "Enter the meeting date"),
        ("in_sample_size", "Enter the number of cases sampled"),
    ]
    number = InvalidInput("fire 'x': input 'sample_size': expected a whole number, got 'many'")
    assert field_errors(number, specs, "x") == [
        ("t-x-in_sample_size", "The number of cases sampled must be a whole number")
    ]
    assert the("What the meeting noted") == "what the meeting noted"
    assert the("Is anyone better off? Evidence of impact") == "the evidence of impact"
    assert the("Grading scale (default: 0-3)") == "the grading scale"
    assert the("SMART action: specific, measurable") == "the SMART action"


def test_optional_is_said_once_and_a_date_is_three_labelled_boxes() -> None:
    macros = environment("Northshire (fictional)").get_template("macros.html").module
    html = str(macros.input_field(NOTE, "", {}, []))  # type: ignore[attr-defined]
    assert "Anything to add (optional)</label>" in html
    assert "(optional) (optional)" not in html
    html = str(macros.input_field(MEETING, "t-c-", {"in_meeting_date": "2027-01-06"}, []))  # type: ignore[attr-defined]
    assert "<legend" in html
    for box, value in (("", "6"), ("-month", "1"), ("-year", "2027")):
        assert re.search(rf'id="t-c-in_meeting_date{box}"[^>]*value="{value}"', html), html
    assert html.count("<label") == 3


# ---------------------------------------------------------------------- pages
def test_errors_are_summarised_once_at_the_top_in_the_fields_order(site: Site) -> None:
    c = site.staff(COORDINATOR.id)
    r = c.post(
        "/activities/new",
        data={
            "csrf_token": token(c, "/activities/new?workflow=themed_audit"),
            "workflow": "themed_audit",
            "title": "",
        },
    )
    assert r.status_code == 422
    assert re.search(r"<title>Error: Open an activity", r.text)
    assert r.text.count('class="error-summary"') == 1
    main = r.text[r.text.index('<main id="main-content"') :]
    assert main.index('class="error-summary"') < main.index("<h1>")
    links = re.findall(r'<li><a href="#([^"]+)">', main)
    assert links == ["title", "agencies", "in_theme"]  # as the fields come on the page
    assert "autofocus" in main[: main.index("</div>")]
    assert "novalidate" in main  # no browser pop-ups: the page says what to fix


def test_a_date_typed_in_boxes_reaches_the_service_and_a_wrong_one_is_kept(site: Site) -> None:
    _ref, _c, tasks = audit_with_returns(site)
    task_id = tasks["POL"]
    lead = site.agency(POL_LEAD)
    page = lead.get(f"/tasks/{task_id}").text
    assert 'id="t-request_extension-in_requested_date-month"' in page

    def ask(day: str, month: str, year: str) -> httpx.Response:
        return lead.post(
            f"/tasks/{task_id}/fire",
            data={
                "csrf_token": csrf_of(page),
                "trigger": "request_extension",
                "expected_version": "",
                "reason": "Staff absence (fictional)",
                "in_requested_date-day": day,
                "in_requested_date-month": month,
                "in_requested_date-year": year,
            },
        )

    r = ask("31", "2", "2027")
    assert r.status_code == 422
    assert "<title>Error: " in r.text
    assert "The date you can manage must be a real date" in r.text
    assert 'href="#t-request_extension-in_requested_date"' in r.text
    assert re.search(r'id="t-request_extension-in_requested_date"[^>]*value="31"', r.text)
    assert site.service.get_task(task_id)[0].requested_due_on is None  # nothing changed
    wanted = (site.clock.now() + timedelta(days=60)).date()
    r = ask(str(wanted.day), str(wanted.month), str(wanted.year))
    assert r.status_code == 303
    assert r.headers["location"] == f"/tasks/{task_id}?done=fired-request_extension"
    assert site.service.get_task(task_id)[0].requested_due_on == wanted
    done = lead.get(r.headers["location"]).text
    assert 'class="notification-banner notification-banner-success"' in done
    assert "Ask for more time: done." in done
    assert "<title>Error" not in done


def test_success_banners_say_fixed_things_only(site: Site) -> None:
    ref = open_audit(site)
    c = site.staff(COORDINATOR.id)
    r = fire(c, ref, "sample_cases", in_sample_size="6")
    assert r.headers["location"] == f"/activities/{ref}?done=fired-sample_cases"
    page = c.get(r.headers["location"]).text
    assert ": done. It is now" in page
    assert 'class="notification-banner' in page
    for key in ("<script>alert(1)</script>", "fired-no_such_trigger", "opened-x", ""):
        page = c.get(f"/activities/{ref}", params={"done": key}).text
        assert 'class="notification-banner' not in page
        assert "alert(1)" not in page
    assert "opened." in c.get(f"/activities/{ref}?done=opened").text


def test_outbox_and_mail_catcher_are_paged_fifty_at_a_time(site: Site) -> None:
    audit_with_returns(site)
    now = site.clock.now()
    with site.service.db.write() as s:
        first = s.exec(select(Notification).order_by(Notification.id)).first()  # type: ignore[arg-type]
        assert first is not None
        for n in range(120):
            s.add(
                Notification(
                    **(
                        first.model_dump(exclude={"id"})
                        | {
                            "dedupe_key": f"paging-{n}",
                            "message_id": f"<paging-{n}@example>",
                            "subject": f"Paging test {n:03d} (fictional)",
                            "created_at": now,
                            "next_attempt_at": now,
                        }
                    )
                )
            )
    with site.service.db.read() as s:
        total = len(s.exec(select(Notification)).all())
    c = site.staff(COORDINATOR.id)
    first_page = c.get("/outbox").text
    assert first_page.count('href="/outbox/') == 50
    assert f"Showing 1 to 50 of {total} emails" in first_page
    assert 'aria-label="Pagination"' in first_page
    assert 'href="/outbox?page=2" rel="next"' in first_page
    assert "Paging test 119" in first_page  # newest first
    pages = -(-total // 50)
    last = c.get(f"/outbox?page={pages}").text
    assert last.count('href="/outbox/') == total - 50 * (pages - 1)
    assert 'rel="prev"' in last
    assert 'aria-current="page">' + str(pages) in last
    assert c.get("/outbox?page=999").text.count('href="/outbox/') == last.count('href="/outbox/')
    assert "Showing 1 to 50" in c.get("/outbox?page=nonsense").text
    # a filter is kept from page to page
    assert c.get("/outbox?status=pending").status_code == 200

    folder = site.web.state.web.app.settings.catcher_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(1, 121):
        (folder / f"20270106T090000-{n:06d}.eml").write_text(
            f"From: unit@example.org\nTo: lead{n}@example.org\nSubject: Message {n} (fictional)\n"
            f"Date: {datetime(2027, 1, 6, 9, 0).strftime('%a, %d %b %Y %H:%M:%S')} +0000\n\nBody\n",
            encoding="utf-8",
        )
    assert catcher.count_messages(folder) == 120
    assert [n for n, _m in catcher.list_newest(folder, 100, 50)] == list(range(20, 0, -1))
    mail = c.get("/mail").text
    assert mail.count('href="/mail/') == 50
    assert 'href="/mail/120"' in mail
    assert "Showing 1 to 50 of 120 messages" in mail
    third = c.get("/mail?page=3").text
    assert 'href="/mail/20"' in third
    assert 'href="/mail/21"' not in third
    assert c.get("/mail/120").status_code == 200


def test_every_page_has_the_favicon_and_browsers_find_it_where_they_look(site: Site) -> None:
    c = site.client()
    page = c.get("/login").text
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    for path in ("/favicon.ico", "/static/favicon.svg"):
        r = c.get(path)
        assert r.status_code == 200
        assert r.headers["content-type"] == "image/svg+xml"
        assert r.text.startswith("<svg")
    assert c.get("/static/app.js").status_code == 200
