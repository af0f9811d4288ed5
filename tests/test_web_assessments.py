"""The assessment pages over real HTTP, on both databases: an agency's Section 11 form (save
part-way, come back, submit; carried forward into the next cycle), moderation and the
agency's feedback, the challenge list, actions raised from a question and from a finding,
a meeting's judgements on the activity page, and who may do what.

Set-up goes through the service as people would; what is tested goes through the pages.
Every agency and person is fictional.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from html import unescape
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sef_workflow.app import App
from sef_workflow.assessments import AssessmentView, Moderation
from sef_workflow.clock import FakeClock
from sef_workflow.config import load_settings
from sef_workflow.forms import Form
from sef_workflow.service import Actor, Service
from sef_workflow.web import create_app, create_login_link, set_password

from .conftest import COORDINATOR, MANAGER, answer_form, confirm_sign_in_link

PASSWORDS = {COORDINATOR.id: "coordinator-pass-1", MANAGER.id: "manager-pass-123"}
POL_LEAD = "lead@police.northshire.example"
ICB_LEAD = "lead@icb.northshire.example"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]*)"')
VERSION_RE = re.compile(r'name="expected_version" value="(\d+)"')
EVIDENCE = "Board minutes and the annual safeguarding report (fictional)."


@dataclass
class Site:
    service: Service
    clock: FakeClock
    web: FastAPI
    clients: list[TestClient]

    def client(self) -> TestClient:
        c = TestClient(self.web, follow_redirects=False)
        self.clients.append(c)
        return c

    def staff(self, email: str) -> TestClient:
        c = self.client()
        page = c.get("/login")
        r = c.post(
            "/login",
            data={
                "email": email,
                "password": PASSWORDS[email],
                "csrf_token": csrf_of(page.text),
                "next": "/",
            },
        )
        assert r.status_code == 303, r.text
        return c

    def agency(self, email: str) -> TestClient:
        c = self.client()
        token = create_login_link(self.service.db, email, self.clock.now(), service=self.service)
        r = confirm_sign_in_link(c, f"/login/link/{token}")
        assert r.status_code == 303
        return c


@pytest.fixture
def site(partnership: Service, clock: FakeClock, tmp_path: Path) -> Iterator[Site]:
    for email, password in PASSWORDS.items():
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
    web = create_app(app, secret_key="test-secret", upload_dir=tmp_path / "uploads")
    s = Site(partnership, clock, web, [])
    yield s
    for c in s.clients:
        c.close()


# ---------------------------------------------------------------------- helpers
def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no csrf token on the page"
    return match.group(1)


def text_of(html: str) -> str:
    """The page's text with tags dropped and entities decoded, spaces collapsed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def error_summary(html: str) -> str:
    found = re.search(r'<div class="error-summary".*?</div>', html, re.S)
    assert found, "no error summary on the page"
    return found.group(0)


def checked(html: str, number: str) -> str | None:
    """The rating chosen for a question on the agency's form (its checked radio)."""
    found = re.search(rf'name="rating-{re.escape(number)}" value="([^"]+)" checked', html)
    return found.group(1) if found else None


def textarea(html: str, name: str) -> str:
    found = re.search(rf'<textarea[^>]*name="{re.escape(name)}"[^>]*>(.*?)</textarea>', html, re.S)
    assert found, f"no textarea {name}"
    return unescape(found.group(1))


def selected(html: str, name: str) -> str | None:
    found = re.search(rf'<select[^>]*name="{re.escape(name)}"[^>]*>(.*?)</select>', html, re.S)
    assert found, f"no select {name}"
    option = re.search(r'<option value="([^"]*)" selected', found.group(1))
    return option.group(1) if option else None


def open_cycle(
    site: Site, codes: tuple[str, ...] = ("POL", "ICB"), cycle: str = "2026-28"
) -> tuple[str, dict[str, int]]:
    """A Section 11 cycle with its self-assessments issued; task id by agency code."""
    svc = site.service
    ref = svc.open_activity(
        COORDINATOR,
        "section11",
        f"Section 11 cycle {cycle} (fictional)",
        list(codes),
        {"cycle": cycle},
    ).activity.ref
    svc.fire(COORDINATOR, ref, "issue_tool", {"return_date": "2026-02-27"})
    _a, _wf, agencies, tasks = svc.get_activity(ref)
    code = {a.id: a.code for a in agencies}
    return ref, {code[t.agency_id]: t.id for t in tasks if t.agency_id and t.id}


def agency_actor(site: Site, email: str) -> Actor:
    return site.service.resolve_actor(email)


def view_of(site: Site, email: str, task_id: int) -> AssessmentView:
    return site.service.assessment_for_task(agency_actor(site, email), task_id)


def form_data(
    form: Form, rating: str | Mapping[str, str], evidence: str = EVIDENCE
) -> dict[str, str]:
    """What a person filling in every question of ``form`` posts."""
    data: dict[str, str] = {}
    for q in form.questions():
        data[f"rating-{q.number}"] = rating if isinstance(rating, str) else rating[q.number]
        if q.evidence != "none":
            data[f"evidence-{q.number}"] = evidence
    return data


def post_form(c: TestClient, task_id: int, action: str, data: Mapping[str, str]) -> httpx.Response:
    page = c.get(f"/tasks/{task_id}/assessment")
    assert page.status_code == 200, page.text
    version = VERSION_RE.search(page.text)
    assert version is not None
    return c.post(
        f"/tasks/{task_id}/assessment",
        data={
            "csrf_token": csrf_of(page.text),
            "expected_version": version.group(1),
            "action": action,
            **data,
        },
    )


def submitted_cycle(
    site: Site, ratings: Mapping[str, str] | None = None
) -> tuple[str, dict[str, int]]:
    """A cycle whose agencies have submitted (each at its rating), accepted and in moderation."""
    ratings = ratings or {"POL": "2", "ICB": "1"}
    ref, tasks = open_cycle(site, tuple(ratings))
    svc = site.service
    for code, task_id in tasks.items():
        actor = Actor(
            id=f"{code.lower()}-lead", role="agency", agency_id=svc.get_task(task_id)[0].agency_id
        )
        answer_form(svc, actor, task_id, ratings[code])
        svc.submit_assessment(actor, task_id)
        svc.fire_task(COORDINATOR, task_id, "accept")
    svc.fire(COORDINATOR, ref, "start_moderation")
    return ref, tasks


def moderation_tasks(site: Site, ref: str) -> dict[int, int]:
    """The moderation task id by agency id."""
    _a, _wf, _ag, tasks = site.service.get_activity(ref)
    return {t.agency_id: t.id for t in tasks if t.kind == "moderation" and t.agency_id and t.id}


def moderate_page(c: TestClient, assessment_id: int) -> httpx.Response:
    page = c.get(f"/assessments/{assessment_id}/moderate")
    assert page.status_code == 200, page.text
    return page


def post_moderation(
    c: TestClient, assessment_id: int, action: str, data: Mapping[str, str]
) -> httpx.Response:
    page = moderate_page(c, assessment_id)
    version = VERSION_RE.search(page.text)
    assert version is not None
    return c.post(
        f"/assessments/{assessment_id}/moderate",
        data={
            "csrf_token": csrf_of(page.text),
            "expected_version": version.group(1),
            "action": action,
            **data,
        },
    )


# ---------------------------------------------------------------------- the agency's form
def test_agency_saves_part_way_and_comes_back(site: Site) -> None:
    ref, tasks = open_cycle(site)
    pol = tasks["POL"]
    c = site.agency(POL_LEAD)
    portal = c.get("/portal").text
    assert f'href="/tasks/{pol}/assessment"' in portal
    assert "Complete the assessment" in portal
    assert "Complete the assessment" in c.get(f"/tasks/{pol}").text

    page = c.get(f"/tasks/{pol}/assessment")
    assert page.status_code == 200
    view = view_of(site, POL_LEAD, pol)
    form, scale = view.form, view.scale
    text = text_of(page.text)
    for standard in form.standards:
        assert f"Standard {standard.key}: {standard.title}" in text
    for q in form.questions():
        assert f'id="q-{q.number}"' in page.text
        for level in scale.levels:
            assert f'id="rating-{q.number}-{level.key}"' in page.text
    for level in scale.levels:  # each level with its label and its written definition
        assert level.label in text
        assert level.definition in text
    assert text.count("What the partnership expects to see") == sum(
        1 for q in form.questions() if q.guidance
    )
    required = sum(1 for q in form.questions() if q.required)
    assert f"{required} answers still to complete" in text
    assert "0 carried-forward answers not yet reviewed" in text
    assert f'name="expected_version" value="{view.assessment.version}"' in page.text
    assert "Save and come back later" in text

    first, second = form.questions()[0], form.questions()[1]
    r = post_form(
        c,
        pol,
        "save",
        {
            f"rating-{first.number}": "2",
            f"evidence-{first.number}": EVIDENCE + "\r\nSecond line.",
            f"rating-{second.number}": "1",
        },
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/tasks/{pol}/assessment?saved=1"
    back = c.get(r.headers["location"])
    assert "Your answers have been saved" in back.text
    assert checked(back.text, first.number) == "2"
    assert checked(back.text, second.number) == "1"
    assert textarea(back.text, f"evidence-{first.number}") == EVIDENCE + "\nSecond line."
    assert checked(back.text, form.questions()[2].number) is None
    # the second question still needs its evidence: it is still to complete
    assert f"{required - 1} answers still to complete" in text_of(back.text)
    stored = view_of(site, POL_LEAD, pol)
    assert {n: a.rating for n, a in stored.answers.items()} == {
        first.number: "2",
        second.number: "1",
    }
    assert stored.assessment.status == "draft"
    assert site.service.get_task(pol)[0].state == "requested"
    # saving again with nothing changed keeps the answers; the staff see them read-only
    assert post_form(c, pol, "save", {}).status_code == 303
    assert len(view_of(site, POL_LEAD, pol).answers) == 2
    staff = site.staff(COORDINATOR.id).get(f"/tasks/{pol}/assessment")
    assert staff.status_code == 200
    assert "Save and come back later" not in staff.text
    assert EVIDENCE in unescape(staff.text)
    assert ref in staff.text


def test_submit_refused_names_every_problem_and_keeps_what_was_typed(site: Site) -> None:
    _ref, tasks = open_cycle(site)
    pol = tasks["POL"]
    c = site.agency(POL_LEAD)
    form = view_of(site, POL_LEAD, pol).form
    questions = form.questions()
    rated_no_evidence = next(q for q in questions[1:] if q.evidence == "required")
    typed = {
        f"rating-{questions[0].number}": "3",
        f"evidence-{questions[0].number}": "Typed evidence that must be kept (fictional).",
        f"rating-{rated_no_evidence.number}": "1",
        f"evidence-{rated_no_evidence.number}": "   ",
    }
    r = post_form(c, pol, "submit", typed)
    assert r.status_code == 422
    summary = error_summary(r.text)
    missing = [q for q in questions if q.required and f"rating-{q.number}" not in typed]
    assert missing
    for q in missing:
        assert f'href="#q-{q.number}"' in summary
        assert f"Question {q.number}: choose a rating" in summary
    assert f"Question {rated_no_evidence.number}: describe the evidence for the rating" in summary
    assert f'href="#q-{questions[0].number}"' not in summary  # that one is complete
    assert summary.count("<li>") == len(missing) + 1
    # what was typed is on the page again; nothing was saved
    assert checked(r.text, questions[0].number) == "3"
    assert checked(r.text, rated_no_evidence.number) == "1"
    assert (
        textarea(r.text, f"evidence-{questions[0].number}")
        == typed[f"evidence-{questions[0].number}"]
    )
    assert view_of(site, POL_LEAD, pol).answers == {}
    assert site.service.get_task(pol)[0].state == "requested"
    # a rating that is not on the scale is refused for that question, nothing saved
    r = post_form(c, pol, "save", {f"rating-{questions[0].number}": "7"})
    assert r.status_code == 422
    assert f'href="#q-{questions[0].number}"' in error_summary(r.text)
    assert view_of(site, POL_LEAD, pol).answers == {}


def test_submit_completes_the_return(site: Site) -> None:
    _ref, tasks = open_cycle(site)
    pol = tasks["POL"]
    c = site.agency(POL_LEAD)
    form = view_of(site, POL_LEAD, pol).form
    r = post_form(c, pol, "submit", form_data(form, "2"))
    assert r.status_code == 303
    assert r.headers["location"] == f"/tasks/{pol}/assessment?submitted=1"
    task = site.service.get_task(pol)[0]
    assert task.state == "submitted"
    view = view_of(site, POL_LEAD, pol)
    assert view.assessment.status == "submitted"
    assert {a.rating for a in view.answers.values()} == {"2"}
    assert len(view.answers) == len(form.questions())
    page = c.get(r.headers["location"])
    assert "has been submitted" in page.text
    assert "Save and come back later" not in page.text
    assert 'type="radio"' not in page.text  # read-only now
    assert "will appear here as your feedback" in page.text
    assert "View the assessment" in c.get("/portal").text
    # saving or submitting again: the form can no longer be changed, nothing is written
    r = c.post(
        f"/tasks/{pol}/assessment",
        data={"csrf_token": csrf_of(page.text), "action": "save", "rating-1.1": "0"},
    )
    assert r.status_code == 409
    assert "can no longer be changed" in r.text
    assert view_of(site, POL_LEAD, pol).answers["1.1"].rating == "2"


def test_a_stale_form_is_refused(site: Site) -> None:
    _ref, tasks = open_cycle(site)
    pol = tasks["POL"]
    c = site.agency(POL_LEAD)
    page = c.get(f"/tasks/{pol}/assessment")
    version = VERSION_RE.search(page.text)
    assert version is not None
    data = {
        "csrf_token": csrf_of(page.text),
        "expected_version": version.group(1),
        "action": "save",
    }
    assert c.post(f"/tasks/{pol}/assessment", data={**data, "rating-1.1": "2"}).status_code == 303
    # the deputy had the same page open, at the old version
    r = c.post(f"/tasks/{pol}/assessment", data={**data, "rating-1.1": "0"})
    assert r.status_code == 409
    assert "Someone else changed this form" in r.text
    assert f'href="/tasks/{pol}/assessment"' in r.text
    assert view_of(site, POL_LEAD, pol).answers["1.1"].rating == "2"
    r = c.post(f"/tasks/{pol}/assessment", data={**data, "action": "submit"})
    assert r.status_code == 409


def test_second_cycle_starts_from_the_last_answers_and_needs_each_reviewed(site: Site) -> None:
    first_ref, _tasks = submitted_cycle(site, {"POL": "2"})
    ref, tasks = open_cycle(site, ("POL",), "2028-30")
    pol = tasks["POL"]
    c = site.agency(POL_LEAD)
    page = c.get(f"/tasks/{pol}/assessment")
    view = view_of(site, POL_LEAD, pol)
    n = len(view.form.questions())
    text = text_of(page.text)
    assert text.count(f"Carried forward from {first_ref} — not yet reviewed") == n
    assert page.text.count(">This answer still holds</label>") == n
    assert f"{n} carried-forward answers not yet reviewed" in text
    assert "0 answers still to complete" in text
    assert checked(page.text, "1.1") == "2"
    assert textarea(page.text, "evidence-1.1") == "Evidence held by the agency (fictional)."
    # submitting as it is: refused, every carried-forward answer named
    data = form_data(view.form, "2", "Evidence held by the agency (fictional).")
    r = post_form(c, pol, "submit", data)
    assert r.status_code == 422
    summary = error_summary(r.text)
    for q in view.form.questions():
        assert f'href="#q-{q.number}"' in summary
    assert "carried forward from the last cycle and not yet reviewed" in summary
    assert view_of(site, POL_LEAD, pol).unreviewed() == [q.number for q in view.form.questions()]
    # confirm all but one, change that one: saved, counted down
    reviewed = {f"reviewed-{q.number}": "yes" for q in view.form.questions()[1:]}
    r = post_form(c, pol, "save", {**data, **reviewed})
    assert r.status_code == 303
    page = c.get(f"/tasks/{pol}/assessment")
    assert "1 carried-forward answer not yet reviewed" in text_of(page.text)
    assert view_of(site, POL_LEAD, pol).unreviewed() == ["1.1"]
    r = post_form(c, pol, "submit", {**data, "rating-1.1": "3"})  # changed: reviewed
    assert r.status_code == 303, error_summary(r.text)
    view = view_of(site, POL_LEAD, pol)
    assert view.assessment.status == "submitted"
    assert view.answers["1.1"].rating == "3"
    assert site.service.get_task(pol)[0].state == "submitted"
    assert ref != first_ref


# ---------------------------------------------------------------------- moderation
def test_moderation_needs_a_reason_where_it_differs_and_feedback_waits_for_release(
    site: Site,
) -> None:
    ref, tasks = submitted_cycle(site)
    pol = tasks["POL"]
    svc = site.service
    view = view_of(site, POL_LEAD, pol)
    aid = view.assessment.id
    assert aid is not None
    coordinator = site.staff(COORDINATOR.id)
    mods = moderation_tasks(site, ref)
    pol_mod = mods[view.assessment.agency_id or 0]
    # the activity page links each moderation task to its agency's return
    activity = coordinator.get(f"/activities/{ref}").text
    assert f'href="/tasks/{pol_mod}/moderation"' in activity
    assert "Challenge event list" in activity
    r = coordinator.get(f"/tasks/{pol_mod}/moderation")
    assert r.status_code == 303
    assert r.headers["location"] == f"/assessments/{aid}/moderate"
    assert "Moderate" in coordinator.get(f"/tasks/{pol_mod}").text

    page = moderate_page(coordinator, aid)
    assert "Northshire Constabulary" in page.text
    assert unescape(page.text).count("Evidence held by the agency (fictional).") == len(
        view.form.questions()
    )
    assert f'href="/assessments/{aid}/questions/1.1/action"' in page.text
    # down a level without a reason: refused for that question, what was typed kept
    r = post_moderation(
        coordinator, aid, "save", {"moderated-1.1": "0", "moderated-1.2": "2", "reason-1.2": ""}
    )
    assert r.status_code == 422
    summary = error_summary(r.text)
    assert 'href="#q-1.1"' in summary
    assert "give the reason" in summary
    assert selected(r.text, "moderated-1.1") == "0"
    assert svc.assessment(COORDINATOR, aid).answers["1.2"].moderated_rating is None  # nothing saved
    # with the reason: saved
    reason = "No board minutes were offered as evidence (fictional)."
    r = post_moderation(
        coordinator, aid, "save", {"moderated-1.1": "0", "reason-1.1": reason, "moderated-1.2": "2"}
    )
    assert r.status_code == 303
    page = coordinator.get(r.headers["location"])
    assert "The moderated ratings have been saved" in page.text
    assert selected(page.text, "moderated-1.1") == "0"
    assert textarea(page.text, "reason-1.1") == reason
    stored = svc.assessment(COORDINATOR, aid)
    assert (stored.answers["1.1"].moderated_rating, stored.answers["1.1"].moderation_reason) == (
        "0",
        reason,
    )
    assert stored.answers["1.2"].moderated_rating == "2"
    assert len(stored.unmoderated()) == len(view.form.questions()) - 2

    # finishing now is not offered, and refused: answers are not all moderated
    task_page = coordinator.get(f"/tasks/{pol_mod}").text
    assert 'id="form-finish_moderation"' not in task_page
    left = len(view.form.questions()) - 2
    assert (
        f"{left} answers of POL&#39;s Section 11 self-assessment still need a moderated rating"
        in task_page
    )
    version = svc.get_task(pol_mod)[0].version
    r = coordinator.post(
        f"/tasks/{pol_mod}/fire",
        data={
            "csrf_token": csrf_of(task_page),
            "trigger": "finish_moderation",
            "expected_version": str(version),
        },
    )
    assert r.status_code == 409
    assert "still need a moderated rating" in r.text
    assert "answers_moderated" not in r.text
    # the rest agree with the self rating
    r = post_moderation(
        coordinator,
        aid,
        "agree_rest",
        {"moderated-1.1": "0", "reason-1.1": reason, "moderated-1.2": "2"},
    )
    assert r.status_code == 303
    stored = svc.assessment(COORDINATOR, aid)
    assert stored.unmoderated() == []
    assert [a.question for a in stored.disagreements()] == ["1.1"]

    # the agency does not see the moderation before it is released
    agency = site.agency(POL_LEAD)
    before = agency.get(f"/tasks/{pol}/assessment").text
    assert reason not in unescape(before)
    assert "Moderated rating" not in before
    assert 'id="feedback"' not in before
    # released by finishing moderation (from the moderation page's form)
    page = moderate_page(coordinator, aid)
    assert 'id="form-finish_moderation"' in page.text
    r = coordinator.post(
        f"/tasks/{pol_mod}/fire",
        data={
            "csrf_token": csrf_of(page.text),
            "trigger": "finish_moderation",
            "expected_version": str(svc.get_task(pol_mod)[0].version),
            "in_moderation_summary": "Strong arrangements; governance evidence to follow (fictional).",
        },
    )
    assert r.status_code == 303
    assert svc.get_task(pol_mod)[0].state == "moderated"
    after = agency.get(f"/tasks/{pol}/assessment")
    assert after.status_code == 200
    text = text_of(after.text)
    assert 'id="feedback"' in after.text
    assert reason in text
    assert "0 – Not met" in text
    assert "2 – Met" in text
    assert "−2 (lower)" in text
    assert "Strong arrangements; governance evidence to follow (fictional)." in text
    assert "Feedback available" in agency.get("/portal").text
    # the agency's link from the moderation task goes to its own return
    r = agency.get(f"/tasks/{pol_mod}/moderation")
    assert (r.status_code, r.headers["location"]) == (303, f"/tasks/{pol}/assessment")
    # finished: the moderation page is read-only and refuses changes
    page = moderate_page(coordinator, aid)
    assert "Moderation is finished" in page.text
    assert 'name="moderated-1.1"' not in page.text
    r = coordinator.post(
        f"/assessments/{aid}/moderate",
        data={"csrf_token": csrf_of(page.text), "moderated-1.1": "3", "reason-1.1": "x"},
    )
    assert r.status_code == 409
    assert svc.assessment(COORDINATOR, aid).answers["1.1"].moderated_rating == "0"


def test_challenge_list_and_csv(site: Site) -> None:
    ref, tasks = submitted_cycle(site)
    svc = site.service
    reasons = {
        "POL": "Evidence was a draft policy only (fictional).",
        "ICB": "Training figures show more than claimed (fictional).",
    }
    for code, task_id in tasks.items():
        view = svc.assessment_for_task(COORDINATOR, task_id)
        ratings = {n: Moderation(a.rating or "") for n, a in view.answers.items()}
        ratings["2.1"] = Moderation("0" if code == "POL" else "3", reasons[code])
        svc.moderate(COORDINATOR, view.assessment.id or 0, ratings)
    manager = site.staff(MANAGER.id)
    page = manager.get(f"/activities/{ref}/challenge")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "2 answers moderated differently, from 2 agencies" in text
    assert "Northshire Constabulary (fictional) (POL)" in text
    assert "Northshire Integrated Care Board (fictional) (ICB)" in text
    for reason in reasons.values():
        assert reason in text
    assert "−2 (lower)" in text  # POL: 2 down to 0
    assert "+2 (higher)" in text  # ICB: 1 up to 3
    r = manager.get(f"/activities/{ref}/challenge.csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert f'filename="{ref}-challenge.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    expected = svc.disagreements(ref)
    assert [
        (
            x["Agency code"],
            x["Question"],
            x["Self rating"],
            x["Moderated rating"],
            int(x["Difference"]),
            x["Reason"],
        )
        for x in rows
    ] == [
        (d.agency_code, d.question, d.self_rating, d.moderated_rating, d.difference, d.reason)
        for d in expected
    ]
    assert {x["Agency code"] for x in rows} == {"POL", "ICB"}


def test_raise_an_action_from_a_question(site: Site) -> None:
    ref, tasks = submitted_cycle(site, {"POL": "1"})
    svc = site.service
    aid = svc.assessment_for_task(COORDINATOR, tasks["POL"]).assessment.id
    coordinator = site.staff(COORDINATOR.id)
    page = coordinator.get(f"/assessments/{aid}/questions/2.1/action")
    assert page.status_code == 200
    assert "Raise an action on question 2.1" in page.text
    assert coordinator.get(f"/assessments/{aid}/questions/9.9/action").status_code == 404
    csrf = csrf_of(page.text)
    r = coordinator.post(
        f"/assessments/{aid}/questions/2.1/action",
        data={
            "csrf_token": csrf,
            "in_description": "Publish the named lead on the intranet",
            "in_target_date": "not a date",
        },
    )
    assert r.status_code == 422
    summary = error_summary(r.text)
    assert 'href="#in_lead_name"' in summary
    assert "Publish the named lead on the intranet" in r.text  # kept
    assert svc.findings(ref) == []
    r = coordinator.post(
        f"/assessments/{aid}/questions/2.1/action",
        data={
            "csrf_token": csrf,
            "in_description": "Publish the named lead on the intranet",
            "in_lead_name": "Head of safeguarding (fictional)",
            "in_target_date": "2026-04-30",
            "in_success_measure": "Staff survey: 90% know the lead",
        },
    )
    assert r.status_code == 303
    task_id = int(r.headers["location"].rsplit("/", 1)[-1])
    task, plan = svc.get_task(task_id)
    assert (
        task.kind,
        task.data["lead_name"],
        task.due_on.isoformat() if task.due_on else None,
    ) == (
        "action",
        "Head of safeguarding (fictional)",
        "2026-04-30",
    )
    assert plan.parent_id == svc.get_activity(ref)[0].id
    ((finding, agency, actions),) = svc.findings(ref)
    assert (finding.kind, finding.question, agency.code if agency else None) == (
        "recommendation",
        "section11 2.1",
        "POL",
    )
    assert task.finding_id == finding.id
    assert [t.id for t in actions] == [task_id]
    assert coordinator.get(f"/tasks/{task_id}").status_code == 200
    activity = coordinator.get(f"/activities/{ref}").text
    assert f'id="finding-{finding.id}"' in activity
    assert f'href="/tasks/{task_id}"' in activity


def test_findings_and_their_actions_on_the_activity_page(site: Site) -> None:
    ref, _tasks = open_cycle(site)
    svc = site.service
    c = site.staff(MANAGER.id)
    page = c.get(f"/activities/{ref}")
    assert 'id="form-finding"' in page.text
    csrf = csrf_of(page.text)
    r = c.post(
        f"/activities/{ref}/findings",
        data={"csrf_token": csrf, "kind": "recommendation", "text": "  ", "agency": "ICB"},
    )
    assert r.status_code == 422
    assert 'href="#finding-text"' in error_summary(r.text)
    assert selected(r.text, "agency") == "ICB"  # kept
    assert svc.findings(ref) == []
    text = "Health partners join strategy discussions too late (fictional)."
    r = c.post(
        f"/activities/{ref}/findings",
        data={"csrf_token": csrf, "kind": "finding", "text": text, "agency": "ICB"},
    )
    assert r.status_code == 303
    ((finding, agency, actions),) = svc.findings(ref)
    assert (finding.kind, finding.text, agency.code if agency else None, actions) == (
        "finding",
        text,
        "ICB",
        [],
    )
    assert r.headers["location"] == f"/activities/{ref}#finding-{finding.id}"
    page = c.get(f"/activities/{ref}")
    assert text in unescape(page.text)
    assert f'id="form-finding-{finding.id}"' in page.text
    # an action on it: the agency is needed
    action = f"/activities/{ref}/findings/{finding.id}/actions"
    typed = {
        "csrf_token": csrf,
        "agency": "",
        "in_description": "Invite health to every strategy discussion",
        "in_lead_name": "Designated nurse (fictional)",
        "in_target_date": "2026-05-29",
    }
    r = c.post(action, data=typed)
    assert r.status_code == 422
    assert f'href="#f{finding.id}-agency"' in error_summary(r.text)
    assert "Invite health to every strategy discussion" in r.text
    assert svc.findings(ref)[0][2] == []
    r = c.post(action, data={**typed, "agency": "ICB"})
    assert r.status_code == 303
    ((_f, _a, actions),) = svc.findings(ref)
    (task,) = actions
    assert (task.kind, task.data["description"], task.finding_id) == (
        "action",
        "Invite health to every strategy discussion",
        finding.id,
    )
    assert task.data["recommendation"] == text
    assert f'href="/tasks/{task.id}"' in c.get(f"/activities/{ref}").text
    assert (
        c.post(
            f"/activities/{ref}/findings/999/actions", data={**typed, "agency": "ICB"}
        ).status_code
        == 404
    )


# ---------------------------------------------------------------------- judgements
def audit_at_meeting(site: Site) -> str:
    svc = site.service
    ref = svc.open_activity(
        COORDINATOR,
        "themed_audit",
        "Neglect audit (fictional)",
        ["POL", "ICB"],
        {"theme": "Neglect"},
    ).activity.ref
    svc.fire(COORDINATOR, ref, "sample_cases", {"sample_size": 4})
    svc.fire(COORDINATOR, ref, "issue_audit_tools")
    for t in svc.get_activity(ref)[3]:
        actor = Actor(id="lead", role="agency", agency_id=t.agency_id)
        answer_form(svc, actor, t.id or 0)
        svc.submit_assessment(actor, t.id or 0)
        svc.fire_task(COORDINATOR, t.id or 0, "accept")
    svc.fire(COORDINATOR, ref, "convene_meeting", {"meeting_date": "2026-02-10"})
    return ref


def test_judgements_are_recorded_on_the_activity_page(site: Site) -> None:
    ref = audit_at_meeting(site)
    svc = site.service
    form = svc.forms.get("maa_judgements")
    c = site.staff(COORDINATOR.id)
    page = c.get(f"/activities/{ref}")
    assert 'id="form-record_judgements"' in page.text
    for q in form.questions():
        assert f'id="t-record_judgements-rating-{q.number}"' in page.text
        assert f'name="evidence-{q.number}"' in page.text
    version = VERSION_RE.search(page.text)
    assert version is not None
    data = {
        "csrf_token": csrf_of(page.text),
        "trigger": "record_judgements",
        "expected_version": version.group(1),
        **form_data(form, "good", "Agencies shared information well (fictional)."),
    }
    data["rating-impact"] = ""
    data["rating-assessment"] = "requires_improvement"
    r = c.post(f"/activities/{ref}/fire", data=data)
    assert r.status_code == 422
    summary = error_summary(r.text)
    assert 'href="#t-record_judgements-q-impact"' in summary
    assert f"{form.question('impact').text}: choose a rating" in text_of(summary)
    assert summary.count("<li>") == 1
    assert selected(r.text, "rating-assessment") == "requires_improvement"  # kept
    assert selected(r.text, "rating-impact") is None
    assert svc.get_activity(ref)[0].state == "meeting"
    data["rating-impact"] = "outstanding"
    r = c.post(f"/activities/{ref}/fire", data=data)
    assert r.status_code == 303
    assert svc.get_activity(ref)[0].state == "findings"
    (judgements,) = [v for v in svc.assessments_of(ref) if v.task is None]
    assert judgements.assessment.status == "submitted"
    assert {n: a.rating for n, a in judgements.answers.items()} == {
        q.number: {"impact": "outstanding", "assessment": "requires_improvement"}.get(
            q.number, "good"
        )
        for q in form.questions()
    }
    page = c.get(f"/activities/{ref}").text
    assert "Judgements recorded" in page
    assert "Outstanding" in page
    assert "Requires improvement" in page
    assert f'href="/assessments/{judgements.assessment.id}/questions/impact/action"' in page
    # an action from a judgement: the agency is chosen
    r = c.get(f"/assessments/{judgements.assessment.id}/questions/impact/action")
    assert 'name="agency"' in r.text
    r = c.post(
        f"/assessments/{judgements.assessment.id}/questions/impact/action",
        data={
            "csrf_token": csrf_of(r.text),
            "agency": "POL",
            "in_description": "Review outcomes at the core group",
            "in_lead_name": "DI (fictional)",
            "in_target_date": "2026-06-30",
        },
    )
    assert r.status_code == 303
    ((finding, agency, actions),) = svc.findings(ref)
    assert (agency.code if agency else None, finding.question, len(actions)) == (
        "POL",
        "maa_judgements impact",
        1,
    )


# ---------------------------------------------------------------------- who may do what
def test_roles_agency_scope_and_csrf(site: Site) -> None:
    ref, tasks = submitted_cycle(site)
    svc = site.service
    pol_view = svc.assessment_for_task(COORDINATOR, tasks["POL"])
    icb_view = svc.assessment_for_task(COORDINATOR, tasks["ICB"])
    icb_aid = icb_view.assessment.id
    mods = moderation_tasks(site, ref)
    pol = site.agency(POL_LEAD)
    csrf = csrf_of(pol.get("/portal").text)
    # another agency's form, task links and moderation: not found
    assert pol.get(f"/tasks/{tasks['ICB']}/assessment").status_code == 404
    r = pol.post(
        f"/tasks/{tasks['ICB']}/assessment",
        data={"csrf_token": csrf, "action": "save", "rating-1.1": "0"},
    )
    assert r.status_code == 404
    assert (
        pol.get(f"/tasks/{mods[icb_view.assessment.agency_id or 0]}/moderation").status_code == 404
    )
    assert pol.get(f"/tasks/{tasks['POL']}/assessment").status_code == 200
    # staff pages: refused
    for path in (
        f"/assessments/{icb_aid}/moderate",
        f"/assessments/{pol_view.assessment.id}/moderate",
        f"/assessments/{icb_aid}/questions/1.1/action",
        f"/activities/{ref}/challenge",
        f"/activities/{ref}/challenge.csv",
    ):
        assert pol.get(path).status_code == 403, path
    for path, data in (
        (
            f"/assessments/{pol_view.assessment.id}/moderate",
            {"moderated-1.1": "3", "reason-1.1": "x"},
        ),
        (
            f"/assessments/{icb_aid}/questions/1.1/action",
            {"in_description": "x", "in_lead_name": "x", "in_target_date": "2026-05-01"},
        ),
        (f"/activities/{ref}/findings", {"kind": "finding", "text": "x"}),
    ):
        assert pol.post(path, data={"csrf_token": csrf, **data}).status_code == 403, path
    anonymous = site.client()
    r = anonymous.get(f"/tasks/{tasks['POL']}/assessment")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login")
    # staff cannot answer an agency's form
    ref2, tasks2 = open_cycle(site, ("POL",), "2030-32")
    draft = {
        n: (a.rating, a.reviewed) for n, a in view_of(site, POL_LEAD, tasks2["POL"]).answers.items()
    }
    coordinator = site.staff(COORDINATOR.id)
    ccsrf = csrf_of(coordinator.get("/").text)
    r = coordinator.post(
        f"/tasks/{tasks2['POL']}/assessment",
        data={"csrf_token": ccsrf, "action": "save", "rating-1.1": "2"},
    )
    assert r.status_code == 403
    # no CSRF token, or a forged one: refused, nothing changed
    for token in (None, "forged"):
        extra = {} if token is None else {"csrf_token": token}
        r = coordinator.post(
            f"/assessments/{icb_aid}/moderate",
            data={**extra, "moderated-1.1": "0", "reason-1.1": "x"},
        )
        assert r.status_code == 403
        assert "nothing was changed" in r.text
        r = coordinator.post(
            f"/activities/{ref}/findings", data={**extra, "kind": "finding", "text": "x"}
        )
        assert r.status_code == 403
    r = pol.post(f"/tasks/{tasks2['POL']}/assessment", data={"action": "save", "rating-1.1": "2"})
    assert r.status_code == 403
    after = {
        n: (a.rating, a.reviewed) for n, a in view_of(site, POL_LEAD, tasks2["POL"]).answers.items()
    }
    assert after == draft
    assert svc.assessment(COORDINATOR, icb_aid or 0).answers["1.1"].moderated_rating is None
    assert svc.findings(ref) == []
    assert ref2 != ref
