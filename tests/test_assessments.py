"""Assessments through the service: carried-forward drafts, required answers, moderation,
grading scales, a meeting's judgements, findings and actions, and the report columns a
task keeps (answered when, how late, how often chased). Every test runs on SQLite and on
PostgreSQL."""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from sef_workflow.assessments import AnswerInput, AssessmentView, Moderation, fill
from sef_workflow.calendar import LONDON, WorkingCalendar
from sef_workflow.clock import FakeClock
from sef_workflow.db import Database
from sef_workflow.definitions import Registry
from sef_workflow.errors import (
    ConcurrentUpdate,
    GuardFailed,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TransitionNotAllowed,
)
from sef_workflow.forms import FormRegistry, Question
from sef_workflow.models import Task
from sef_workflow.notify.outbox import Notifier
from sef_workflow.service import Actor, Service, TaskFilter

from .conftest import COORDINATOR, MANAGER, ROOT

SECTION11 = [
    "1.1", "1.2", "1.3", "2.1", "2.2", "3.1", "3.2", "3.3", "4.1", "4.2",
    "5.1", "5.2", "6.1", "6.2", "6.3", "7.1", "7.2", "8.1", "8.2",
]  # fmt: skip
#: every Section 11 question but 3.3, which is optional
REQUIRED = [n for n in SECTION11 if n != "3.3"]
JUDGEMENTS = [
    "recognition", "assessment", "planning_intervention", "joint_working", "impact",
    "overall_quality",
]  # fmt: skip
ACTION = {
    "description": "Refresh level 3 safeguarding training for custody staff by March",
    "lead_name": "Lead Police",
    "target_date": "2026-03-31",
}


# ---------------------------------------------------------------------------- helpers
def _codes(svc: Service) -> dict[int | None, str]:
    return {a.id: a.code for a in svc.list_agencies()}


def _lead(task: Task) -> Actor:
    """The agency's lead, signed in through the portal."""
    return Actor(id=f"lead{task.agency_id}@agency.example", role="agency", agency_id=task.agency_id)


def _by_code(svc: Service, tasks: list[Task]) -> dict[str, Task]:
    codes = _codes(svc)
    return {codes[t.agency_id]: t for t in tasks}


def _tid(task: Task) -> int:
    assert task.id is not None
    return task.id


def _open_s11(
    svc: Service,
    agencies: tuple[str, ...] = ("POL", "ICB"),
    return_date: str = "2026-02-27",
    **inputs: str,
) -> tuple[str, dict[str, Task]]:
    """A Section 11 cycle with the tool issued; its returns by agency code."""
    ref = svc.open_activity(
        COORDINATOR,
        "section11",
        "Section 11 cycle (fictional)",
        list(agencies),
        {"cycle": "2026-28", **inputs},
    ).activity.ref
    out = svc.fire(COORDINATOR, ref, "issue_tool", {"return_date": return_date})
    return ref, _by_code(svc, out.created_tasks)


def _pol_rating(q: Question) -> str:
    """Police self ratings that differ by question, so a copy is seen to be a copy."""
    return {"1": "1", "2": "3", "3": "2"}.get(q.standard, "2")


def _submit(svc: Service, task: Task, rating: str | None = "2") -> AssessmentView:
    lead = _lead(task)
    view = svc.assessment_for_task(lead, _tid(task))
    svc.submit_assessment(lead, _tid(task), fill(view.form, view.scale, rating))
    return svc.assessment_for_task(lead, _tid(task))


def _ratings(view: AssessmentView) -> dict[str, str | None]:
    return {n: a.rating for n, a in view.answers.items()}


def _kinds(svc: Service, ref: str) -> list[str]:
    return [e.kind for e in svc.timeline(ref)]


def _audit_at_meeting(svc: Service, agencies: tuple[str, ...] = ("POL", "ICB")) -> str:
    """A themed audit whose returns are all in and accepted, at the audit meeting."""
    ref = svc.open_activity(
        COORDINATOR,
        "themed_audit",
        "Neglect audit (fictional)",
        list(agencies),
        {"theme": "Neglect"},
    ).activity.ref
    svc.fire(COORDINATOR, ref, "sample_cases", {"sample_size": 4})
    for task in svc.fire(COORDINATOR, ref, "issue_audit_tools").created_tasks:
        _submit(svc, task, None)
        svc.fire_task(COORDINATOR, _tid(task), "accept")
    svc.fire(COORDINATOR, ref, "convene_meeting", {"meeting_date": "2026-02-10"})
    return ref


def _judgements(rating: str = "good") -> dict[str, AnswerInput]:
    return {n: AnswerInput(rating=rating, evidence=f"Meeting notes on {n}") for n in JUDGEMENTS}


# ---------------------------------------------------------------------------- carry-forward
def test_next_cycle_starts_from_each_agencys_last_answers(
    partnership: Service, clock: FakeClock
) -> None:
    svc = partnership
    first, returns = _open_s11(svc)
    for code, task in returns.items():
        lead = _lead(task)
        view = svc.assessment_for_task(lead, _tid(task))
        assert view.answers == {}
        assert view.carried_from_ref is None
        rating = _pol_rating if code == "POL" else "3"
        answers = fill(view.form, view.scale, rating, evidence=f"{code} evidence (fictional)")
        svc.save_answers(lead, _tid(task), answers)
        svc.submit_assessment(lead, _tid(task))
    old = {code: svc.assessment_for_task(COORDINATOR, _tid(t)) for code, t in returns.items()}
    assert old["POL"].answers["1.1"].rating == "1"
    assert old["POL"].answers["2.1"].rating == "3"
    assert {a.rating for a in old["ICB"].answers.values()} == {"3"}
    assert all(not a.carried_forward for v in old.values() for a in v.answers.values())

    clock.advance(timedelta(days=400))
    second, returns2 = _open_s11(
        svc, ("POL", "ICB", "CSC"), return_date="2027-03-01", previous_cycle=first
    )
    assert second != first
    for code in ("POL", "ICB"):
        view = svc.assessment_for_task(COORDINATOR, _tid(returns2[code]))
        assert view.assessment.status == "draft"
        assert view.editable
        assert view.carried_from_ref == first
        assert view.assessment.carried_from_id == old[code].assessment.id
        assert _ratings(view) == _ratings(old[code])
        assert {n: a.evidence for n, a in view.answers.items()} == {
            n: a.evidence for n, a in old[code].answers.items()
        }
        assert all(a.carried_forward and not a.reviewed for a in view.answers.values())
        assert view.unreviewed() == SECTION11
    started = [e for e in svc.timeline(second) if e.kind == "assessment_started"]
    assert sorted(e.task_id or 0 for e in started) == sorted(
        _tid(returns2[c]) for c in ("POL", "ICB")
    )
    assert {e.inputs["carried_forward"] for e in started} == {len(SECTION11)}
    # an agency with no earlier assessment starts with an empty form
    csc = svc.assessment_for_task(COORDINATOR, _tid(returns2["CSC"]))
    assert csc.answers == {}
    assert csc.carried_from_ref is None
    assert csc.assessment.carried_from_id is None

    # carried-forward answers must each be looked at before the form can go back
    pol = returns2["POL"]
    lead = _lead(pol)
    with pytest.raises(InvalidInput) as refused:
        svc.submit_assessment(lead, _tid(pol))
    message = str(refused.value)
    assert f"{len(SECTION11)} answers need attention" in message
    for n in SECTION11:
        assert f"Question {n} (standard " in message
    assert message.count("not yet reviewed") == len(SECTION11)
    assert svc.get_task(_tid(pol))[0].state == "requested"

    kept = old["POL"].answers
    same = {
        n: AnswerInput(rating=a.rating, evidence=a.evidence, reviewed=True) for n, a in kept.items()
    }
    # the same rating saved without saying it still holds leaves it unreviewed
    svc.save_answers(lead, _tid(pol), {"1.1": AnswerInput("1", kept["1.1"].evidence)})
    assert "1.1" in svc.assessment_for_task(lead, _tid(pol)).unreviewed()
    # a changed rating is a review
    view = svc.save_answers(lead, _tid(pol), {"1.2": AnswerInput("2", kept["1.2"].evidence)})
    assert view.answers["1.2"].rating == "2"
    assert view.answers["1.2"].reviewed
    assert view.answers["1.2"].carried_forward
    # confirmed as it stands
    view = svc.save_answers(lead, _tid(pol), {"1.1": same["1.1"]})
    assert view.answers["1.1"].rating == "1"
    assert view.answers["1.1"].reviewed
    assert view.unreviewed() == [n for n in SECTION11 if n not in ("1.1", "1.2")]
    with pytest.raises(InvalidInput) as still:
        svc.submit_assessment(lead, _tid(pol))
    assert f"{len(SECTION11) - 2} answers need attention" in str(still.value)
    assert "Question 1.1 " not in str(still.value)
    assert "Question 1.2 " not in str(still.value)

    rest = {n: a for n, a in same.items() if n not in ("1.1", "1.2")}
    out = svc.submit_assessment(lead, _tid(pol), rest)
    assert out.to_state == "submitted"
    done = svc.assessment_for_task(lead, _tid(pol))
    assert done.assessment.status == "submitted"
    assert not done.editable
    assert done.unreviewed() == []
    assert done.problems == []
    assert _ratings(done) == {**_ratings(old["POL"]), "1.2": "2"}
    # the earlier cycle's answers are untouched
    assert _ratings(svc.assessment_for_task(COORDINATOR, _tid(returns["POL"]))) == _ratings(
        old["POL"]
    )


def test_an_audit_tool_starts_empty_even_after_an_earlier_audit(partnership: Service) -> None:
    """Carry-forward is for self-assessment cycles: an audit tool is about its own cases."""
    _audit_at_meeting(partnership)  # POL and ICB submitted an audit tool already
    ref = partnership.open_activity(
        COORDINATOR, "themed_audit", "Second audit (fictional)", ["POL"], {"theme": "Exploitation"}
    ).activity.ref
    partnership.fire(COORDINATOR, ref, "sample_cases", {"sample_size": 3})
    (task,) = partnership.fire(COORDINATOR, ref, "issue_audit_tools").created_tasks
    view = partnership.assessment_for_task(_lead(task), _tid(task))
    assert view.answers == {}
    assert view.assessment.carried_from_id is None
    assert view.carried_from_ref is None
    assert "assessment_started" not in _kinds(partnership, ref)


def test_a_question_gone_from_the_form_is_not_carried_forward(
    database: Database,
    registry: Registry,
    calendar: WorkingCalendar,
    clock: FakeClock,
    notifier: Notifier,
    tmp_path: Path,
) -> None:
    from .conftest import FICTIONAL_AGENCIES

    before = Service(
        database, registry, calendar, clock, notifier, forms=FormRegistry(ROOT / "forms")
    )
    before.import_agencies(Actor.system(), FICTIONAL_AGENCIES)
    first, returns = _open_s11(before, ("POL",))
    _submit(before, returns["POL"], "2")

    # the business unit drops question 8.2 from the tool before the next cycle
    edited = tmp_path / "forms"
    shutil.copytree(ROOT / "forms", edited)
    path = edited / "section11.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: text.index('[[standards.questions]]\nnumber = "8.2"')], encoding="utf-8")
    after = Service(database, registry, calendar, clock, notifier, forms=FormRegistry(edited))
    clock.advance(timedelta(days=30))
    _second, returns2 = _open_s11(after, ("POL",), previous_cycle=first)
    view = after.assessment_for_task(COORDINATOR, _tid(returns2["POL"]))
    assert [q.number for q in view.form.questions()] == SECTION11[:-1]
    assert sorted(view.answers) == sorted(SECTION11[:-1])
    assert view.carried_from_ref == first
    # the first cycle keeps the form it was answered on
    old = after.assessment_for_task(COORDINATOR, _tid(returns["POL"]))
    assert [q.number for q in old.form.questions()] == SECTION11
    assert old.answers["8.2"].rating == "2"


def test_an_assessment_keeps_the_scale_it_was_rated_on(
    database: Database,
    registry: Registry,
    calendar: WorkingCalendar,
    clock: FakeClock,
    notifier: Notifier,
    tmp_path: Path,
) -> None:
    """Rewording or dropping a scale later never changes what a stored rating meant."""
    from .conftest import FICTIONAL_AGENCIES

    before = Service(
        database, registry, calendar, clock, notifier, forms=FormRegistry(ROOT / "forms")
    )
    before.import_agencies(Actor.system(), FICTIONAL_AGENCIES)
    first, returns = _open_s11(before, ("POL",))
    _submit(before, returns["POL"], "2")
    old_label = before.forms.scale("zero_to_three").level("2").label

    edited = tmp_path / "forms"
    shutil.copytree(ROOT / "forms", edited)
    path = edited / "scales.toml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(f'label = "{old_label}"', 'label = "2 - Solid"'),
        encoding="utf-8",
    )
    after = Service(database, registry, calendar, clock, notifier, forms=FormRegistry(edited))
    assert after.forms.scale("zero_to_three").level("2").label == "2 - Solid"
    old = after.assessment_for_task(COORDINATOR, _tid(returns["POL"]))
    assert old.scale.level("2").label == old_label
    clock.advance(timedelta(days=30))
    _second, returns2 = _open_s11(after, ("POL",), previous_cycle=first)
    new = after.assessment_for_task(COORDINATOR, _tid(returns2["POL"]))
    assert new.scale.level("2").label == "2 - Solid"


def test_ratings_not_on_the_new_cycles_scale_are_left_to_choose_again(
    partnership: Service, clock: FakeClock
) -> None:
    svc = partnership
    first, returns = _open_s11(svc, ("POL",))
    old = _submit(svc, returns["POL"], "2")
    clock.advance(timedelta(days=30))
    _second, returns2 = _open_s11(svc, ("POL",), previous_cycle=first, grading_scale="rag")
    pol = returns2["POL"]
    view = svc.assessment_for_task(COORDINATOR, _tid(pol))
    assert view.scale.name == "rag"
    assert view.carried_from_ref == first
    # "2" is not a RAG rating: the evidence comes forward, the rating is chosen afresh
    assert set(_ratings(view).values()) == {None}
    assert {n: a.evidence for n, a in view.answers.items()} == {
        n: a.evidence for n, a in old.answers.items()
    }
    assert all(a.carried_forward and not a.reviewed for a in view.answers.values())
    # one sentence per question, however many things it needs
    assert len(view.problems) == len(SECTION11)
    with pytest.raises(InvalidInput) as refused:
        svc.submit_assessment(_lead(pol), _tid(pol))
    message = str(refused.value)
    assert f"{len(SECTION11)} answers need attention" in message
    for n in REQUIRED:
        assert message.count(f"Question {n} (") == 1
        assert f"Question {n} (standard {n.split('.')[0]}): choose a rating" in message
    assert "Question 3.3 (standard 3): carried forward from the last cycle" in message
    view = svc.save_answers(
        _lead(pol),
        _tid(pol),
        {n: AnswerInput("amber", a.evidence) for n, a in view.answers.items()},
    )
    assert view.problems == []
    assert view.unreviewed() == []
    assert svc.submit_assessment(_lead(pol), _tid(pol)).to_state == "submitted"


# ---------------------------------------------------------------------------- required answers
def test_submit_names_every_question_needing_attention_and_saves_nothing(
    partnership: Service,
) -> None:
    svc = partnership
    ref, returns = _open_s11(svc)
    pol = returns["POL"]
    lead = _lead(pol)
    svc.save_answers(
        lead,
        _tid(pol),
        {"1.1": AnswerInput(rating="2"), "1.2": AnswerInput(evidence="Audit programme 2025")},
    )
    with pytest.raises(InvalidInput) as refused:
        svc.submit_assessment(lead, _tid(pol))
    message = str(refused.value)
    assert f"{len(REQUIRED)} answers need attention" in message
    assert "Question 1.1 (standard 1): describe the evidence for the rating" in message
    assert "Question 1.2 (standard 1): choose a rating" in message
    for n in REQUIRED[2:]:
        assert f"Question {n} (standard {n.split('.')[0]}): choose a rating" in message
    assert "3.3" not in message  # optional
    # the same checks when the submit trigger is fired directly
    with pytest.raises(InvalidInput, match=f"{len(REQUIRED)} answers need attention"):
        svc.fire_task(lead, _tid(pol), "submit")

    # a refused submit keeps none of the answers it was given
    view = svc.assessment_for_task(lead, _tid(pol))
    events = len(svc.timeline(ref))
    nearly = fill(view.form, view.scale, "3")
    del nearly["5.1"]
    with pytest.raises(InvalidInput) as one_left:
        svc.submit_assessment(lead, _tid(pol), nearly)
    assert "1 answer needs attention: Question 5.1 (standard 5): choose a rating" in str(
        one_left.value
    )
    after = svc.assessment_for_task(lead, _tid(pol))
    assert _ratings(after) == {"1.1": "2", "1.2": None}
    assert after.assessment.version == view.assessment.version
    assert len(svc.timeline(ref)) == events
    task = svc.get_task(_tid(pol))[0]
    assert (task.state, task.answered_at) == ("requested", None)

    # an unknown question or rating changes nothing, even the good answers beside it
    with pytest.raises(InvalidInput) as bad:
        svc.save_answers(
            lead,
            _tid(pol),
            {"2.1": AnswerInput("3", "ok"), "9.9": AnswerInput("2"), "4.1": AnswerInput("5")},
        )
    assert "no question '9.9' in form 'section11'" in str(bad.value)
    assert "question 4.1 (standard 4): '5' is not a rating on the 0–3 score scale" in str(bad.value)
    assert "nothing was saved" in str(bad.value)
    assert _ratings(svc.assessment_for_task(lead, _tid(pol))) == {"1.1": "2", "1.2": None}

    out = svc.submit_assessment(lead, _tid(pol), fill(view.form, view.scale, "2"))
    assert (out.from_state, out.to_state) == ("requested", "submitted")
    done = svc.assessment_for_task(lead, _tid(pol))
    assert done.assessment.status == "submitted"
    assert done.assessment.submitted_by == lead.id
    assert _ratings(done) == dict.fromkeys(SECTION11, "2")
    submitted = [e for e in svc.timeline(ref) if e.trigger == "submit"]
    assert len(submitted) == 1
    assert submitted[0].inputs["assessment"] == done.assessment.id
    assert submitted[0].inputs["ratings"] == dict.fromkeys(SECTION11, "2")
    assert "Evidence held" not in json.dumps(submitted[0].inputs)  # ratings only

    # submitted: no more changes until it is sent back
    with pytest.raises(TransitionNotAllowed, match="can no longer be changed"):
        svc.save_answers(lead, _tid(pol), {"1.1": AnswerInput("3", "More")})
    with pytest.raises(TransitionNotAllowed):
        svc.submit_assessment(lead, _tid(pol), {"1.1": AnswerInput("3", "More")})
    assert done.answers["1.1"].rating == "2"

    svc.fire_task(COORDINATOR, _tid(pol), "send_back", reason="Please add the audit results")
    back = svc.assessment_for_task(lead, _tid(pol))
    assert back.assessment.status == "draft"
    assert back.editable
    assert svc.get_task(_tid(pol))[0].state == "returned"
    svc.save_answers(lead, _tid(pol), {"1.2": AnswerInput("1", "Audit results attached")})
    out = svc.fire_task(lead, _tid(pol), "submit")
    assert out.to_state == "submitted"
    final = svc.assessment_for_task(lead, _tid(pol))
    assert final.assessment.status == "submitted"
    assert final.answers["1.2"].rating == "1"
    assert final.answers["1.2"].evidence == "Audit results attached"


def test_an_agency_sees_and_answers_only_its_own_form(partnership: Service) -> None:
    svc = partnership
    _ref, returns = _open_s11(svc)
    pol, icb = returns["POL"], returns["ICB"]
    intruder = _lead(icb)
    view = svc.assessment_for_task(_lead(pol), _tid(pol))
    answers = fill(view.form, view.scale)
    with pytest.raises(PermissionDenied, match="another agency"):
        svc.assessment_for_task(intruder, _tid(pol))
    with pytest.raises(PermissionDenied, match="another agency"):
        svc.assessment(intruder, view.assessment.id or 0)
    with pytest.raises(PermissionDenied, match="another agency"):
        svc.save_answers(intruder, _tid(pol), answers)
    with pytest.raises(PermissionDenied, match="another agency"):
        svc.submit_assessment(intruder, _tid(pol), answers)
    assert svc.assessment_for_task(_lead(pol), _tid(pol)).answers == {}
    # staff see it; the agency sees its own by id as well
    assert svc.assessment(_lead(pol), view.assessment.id or 0).agency is not None
    assert svc.assessment_for_task(COORDINATOR, _tid(pol)).assessment.id == view.assessment.id


def test_a_stale_page_cannot_overwrite_newer_answers(partnership: Service) -> None:
    svc = partnership
    ref, returns = _open_s11(svc)
    pol = returns["POL"]
    lead = _lead(pol)
    page = svc.assessment_for_task(lead, _tid(pol)).assessment.version
    saved = svc.save_answers(lead, _tid(pol), {"1.1": AnswerInput("2", "First")}, page)
    assert saved.assessment.version == page + 1
    with pytest.raises(ConcurrentUpdate, match="changed by someone else"):
        svc.save_answers(lead, _tid(pol), {"1.1": AnswerInput("0", "Second")}, page)
    view = svc.assessment_for_task(lead, _tid(pol))
    assert view.answers["1.1"].rating == "2"
    assert view.answers["1.1"].evidence == "First"
    full = fill(view.form, view.scale)
    with pytest.raises(ConcurrentUpdate):
        svc.submit_assessment(lead, _tid(pol), full, expected_version=page)
    # a submit with no new answers is checked against the page too
    svc.save_answers(lead, _tid(pol), full)
    current = svc.assessment_for_task(lead, _tid(pol)).assessment.version
    with pytest.raises(ConcurrentUpdate):
        svc.submit_assessment(lead, _tid(pol), expected_version=current - 1)
    assert svc.get_task(_tid(pol))[0].state == "requested"
    out = svc.submit_assessment(lead, _tid(pol), expected_version=current)
    assert out.to_state == "submitted"
    assert _kinds(svc, ref).count("answers_saved") == 2


# ---------------------------------------------------------------------------- moderation
def test_moderation_from_submitted_return_to_release(partnership: Service) -> None:
    svc = partnership
    ref, returns = _open_s11(svc)
    pol, icb = returns["POL"], returns["ICB"]
    pol_view = _submit(svc, pol, "2")
    pid = pol_view.assessment.id or 0
    icb_draft = svc.assessment_for_task(COORDINATOR, _tid(icb))
    with pytest.raises(TransitionNotAllowed, match="has not been submitted"):
        svc.moderate(COORDINATOR, icb_draft.assessment.id or 0, {"1.1": Moderation("2")})
    with pytest.raises(PermissionDenied, match="may not moderate"):
        svc.moderate(_lead(pol), pid, {"1.1": Moderation("2")})
    icb_view = _submit(svc, icb, "3")
    for task in (pol, icb):
        svc.fire_task(COORDINATOR, _tid(task), "accept")
    created = svc.fire(COORDINATOR, ref, "start_moderation").created_tasks
    mod = _by_code(svc, created)
    assert {t.kind for t in created} == {"moderation"}

    # a different rating needs a reason; nothing of a refused call is kept
    with pytest.raises(InvalidInput) as why:
        svc.moderate(
            COORDINATOR, pid, {"1.2": Moderation("2"), "1.1": Moderation("1", reason="  ")}
        )
    assert "question 1.1 (standard 1): give the reason the moderated rating (1) differs" in str(
        why.value
    )
    assert svc.assessment(COORDINATOR, pid).answers["1.2"].moderated_rating is None
    with pytest.raises(InvalidInput, match="'blue' is not a rating"):
        svc.moderate(COORDINATOR, pid, {"1.1": Moderation("blue", "x")})
    with pytest.raises(InvalidInput, match=r"no question '0\.1'"):
        svc.moderate(COORDINATOR, pid, {"0.1": Moderation("2")})

    # an equal rating needs none
    view = svc.moderate(
        COORDINATOR,
        pid,
        {
            "1.1": Moderation("1", "Training figures show gaps in two services"),
            "1.2": Moderation("2"),
            "2.1": Moderation("3", "Statement is embedded and reviewed yearly"),
        },
    )
    assert view.answers["1.1"].moderated_rating == "1"
    assert view.answers["1.1"].moderated_score == 1
    assert view.answers["1.1"].moderation_reason == "Training figures show gaps in two services"
    assert view.answers["1.1"].moderated_by == COORDINATOR.id
    assert view.answers["1.2"].moderated_rating == "2"
    assert view.answers["1.2"].moderation_reason is None
    assert view.answers["1.1"].rating == "2"  # the agency's own rating stays
    moderated = [e for e in svc.timeline(ref) if e.kind == "moderated"]
    assert len(moderated) == 1
    assert moderated[0].inputs == {
        "assessment": pid,
        "moderated": {"1.1": "1", "1.2": "2", "2.1": "3"},
    }
    # on the activity, not on the agency's task, whose timeline the agency can read
    assert moderated[0].task_id is None

    # the guard counts the answers still to moderate
    left = len(SECTION11) - 3
    with pytest.raises(
        GuardFailed,
        match=f"{left} answers of POL's Section 11 self-assessment still need a moderated rating",
    ):
        svc.fire_task(MANAGER, _tid(mod["POL"]), "finish_moderation")
    assert not svc.assessment_for_task(_lead(pol), _tid(pol)).moderation_released
    rest = {n: Moderation("2") for n in SECTION11 if n not in ("1.1", "1.2", "2.1", "8.2")}
    svc.moderate(MANAGER, pid, rest)
    with pytest.raises(
        GuardFailed,
        match=r"1 answer of POL.s Section 11 self-assessment still needs a moderated rating",
    ):
        svc.fire_task(MANAGER, _tid(mod["POL"]), "finish_moderation")
    svc.moderate(MANAGER, pid, {"8.2": Moderation("2")})
    assert svc.assessment(MANAGER, pid).unmoderated() == []
    # a page rendered before the last change cannot overwrite it
    stale = svc.assessment(MANAGER, pid).assessment.version - 1
    with pytest.raises(ConcurrentUpdate):
        svc.moderate(COORDINATOR, pid, {"8.2": Moderation("3", "Reviews embedded")}, stale)
    assert svc.assessment(MANAGER, pid).answers["8.2"].moderated_rating == "2"
    out = svc.fire_task(MANAGER, _tid(mod["POL"]), "finish_moderation")
    assert out.to_state == "moderated"
    assert svc.assessment_for_task(_lead(pol), _tid(pol)).moderation_released
    assert not svc.assessment_for_task(_lead(icb), _tid(icb)).moderation_released
    with pytest.raises(TransitionNotAllowed, match="finished and released"):
        svc.moderate(COORDINATOR, pid, {"1.1": Moderation("2")})
    assert svc.assessment(COORDINATOR, pid).answers["1.1"].moderated_rating == "1"

    # the challenge list: exactly the answers the panel rated differently
    iid = icb_view.assessment.id or 0
    svc.moderate(COORDINATOR, iid, {"7.2": Moderation("1", "Record audit found gaps")})
    found = svc.disagreements(ref)
    assert [(d.agency_code, d.question) for d in found] == [
        ("POL", "1.1"),
        ("POL", "2.1"),
        ("ICB", "7.2"),
    ]  # by agency name: Constabulary, then Integrated Care Board
    first, second, third = found
    assert (first.self_rating, first.moderated_rating, first.difference) == (
        "2 – Met",
        "1 – Partially met",
        -1,
    )
    assert (second.self_rating, second.moderated_rating, second.difference) == (
        "2 – Met",
        "3 – Exceeded",
        1,
    )
    assert (third.self_rating, third.moderated_rating, third.difference) == (
        "3 – Exceeded",
        "1 – Partially met",
        -2,
    )
    assert first.reason == "Training figures show gaps in two services"
    assert first.standard == "1"
    assert first.assessment_id == pid
    assert first.agency == "Northshire Constabulary (fictional)"
    assert first.text.startswith("Senior managers have clear responsibility")


# ---------------------------------------------------------------------------- grading scale
def test_each_cycle_grades_on_its_chosen_scale(partnership: Service) -> None:
    svc = partnership
    ref, returns = _open_s11(svc, ("POL",), grading_scale="rag")
    pol = returns["POL"]
    lead = _lead(pol)
    view = svc.assessment_for_task(lead, _tid(pol))
    assert view.scale.name == "rag"
    assert view.assessment.scale == "rag"
    assert view.scale.keys() == ("red", "amber", "green")
    with pytest.raises(
        InvalidInput, match=r"'2' is not a rating on the RAG scale \(allowed: red, amber, green\)"
    ):
        svc.save_answers(lead, _tid(pol), {"1.1": AnswerInput("2", "Evidence")})
    view = svc.save_answers(lead, _tid(pol), {"1.1": AnswerInput("green", "Evidence")})
    assert (view.answers["1.1"].rating, view.answers["1.1"].score) == ("green", 2)
    # the default cycle keeps the form's own scale
    _other, returns2 = _open_s11(svc, ("POL",))
    assert svc.assessment_for_task(COORDINATOR, _tid(returns2["POL"])).scale.name == "zero_to_three"

    count = len(svc.list_activities())
    with pytest.raises(InvalidInput, match=r"input 'grading_scale': 'stars' is not allowed"):
        svc.open_activity(
            COORDINATOR,
            "section11",
            "Section 11 cycle (fictional)",
            ["POL"],
            {"cycle": "2026-28", "grading_scale": "stars"},
        )
    assert len(svc.list_activities()) == count
    assert ref in {a.ref for a in svc.list_activities()}


# ---------------------------------------------------------------------------- judgements
def test_the_meeting_records_its_judgements_and_the_reaudit_its_own(
    partnership: Service,
) -> None:
    svc = partnership
    ref = _audit_at_meeting(svc)
    returns = svc.assessments_of(ref)
    assert {v.assessment.stage for v in returns} == {"return"}

    with pytest.raises(InvalidInput) as missing:
        svc.fire(
            COORDINATOR,
            ref,
            "record_judgements",
            answers={n: a for n, a in _judgements().items() if n != "impact"},
        )
    assert "Question impact (standard judgements): choose a rating" in str(missing.value)
    assert "recognition" not in str(missing.value)
    with pytest.raises(InvalidInput, match="Question overall_quality"):
        svc.fire(COORDINATOR, ref, "record_judgements")
    with pytest.raises(InvalidInput, match="'green' is not a rating on the Ofsted"):
        svc.fire(COORDINATOR, ref, "record_judgements", answers=_judgements("green"))
    activity, *_ = svc.get_activity(ref)
    assert activity.state == "meeting"
    assert len(svc.assessments_of(ref)) == len(returns)

    judged = {**_judgements(), "impact": AnswerInput("requires_improvement", "Drift in plans")}
    version = svc.get_activity(ref)[0].version
    with pytest.raises(ConcurrentUpdate):
        svc.fire(
            COORDINATOR, ref, "record_judgements", expected_version=version - 1, answers=judged
        )
    assert len(svc.assessments_of(ref)) == len(returns)
    out = svc.fire(COORDINATOR, ref, "record_judgements", answers=judged)
    assert out.to_state == "findings"
    (first,) = [v for v in svc.assessments_of(ref) if v.assessment.stage == "first"]
    assert first.agency is None
    assert first.task is None
    assert first.assessment.status == "submitted"
    assert first.assessment.form_name == "maa_judgements"
    assert first.scale.name == "ofsted"
    assert first.moderation_released
    assert _ratings(first) == {
        n: ("requires_improvement" if n == "impact" else "good") for n in JUDGEMENTS
    }
    assert first.answers["impact"].evidence == "Drift in plans"
    event = next(e for e in svc.timeline(ref) if e.trigger == "record_judgements")
    assert event.inputs["assessment"] == first.assessment.id
    assert event.inputs["ratings"]["impact"] == "requires_improvement"

    # answers given to a transition that records no form are refused
    with pytest.raises(InvalidInput, match=r"'submit_findings' on .* records no form answers"):
        svc.fire(
            COORDINATOR,
            ref,
            "submit_findings",
            {"findings_summary": "Plans drift"},
            answers=_judgements(),
        )
    assert svc.get_activity(ref)[0].state == "findings"

    svc.fire(COORDINATOR, ref, "submit_findings", {"findings_summary": "Plans drift"})
    svc.fire(MANAGER, ref, "approve_findings")
    svc.fire(COORDINATOR, ref, "disseminate_learning", {"dissemination_note": "Briefing"})
    svc.fire(COORDINATOR, ref, "schedule_reaudit", {"reaudit_date": "2026-09-01"})
    with pytest.raises(InvalidInput):
        svc.fire(
            COORDINATOR, ref, "record_reaudit_judgements", answers={"impact": AnswerInput("good")}
        )
    out = svc.fire(COORDINATOR, ref, "record_reaudit_judgements", answers=_judgements("good"))
    assert (out.from_state, out.to_state) == ("reaudit", "reaudit")
    (reaudit,) = [v for v in svc.assessments_of(ref) if v.assessment.stage == "reaudit"]
    assert _ratings(reaudit) == dict.fromkeys(JUDGEMENTS, "good")
    # recorded again, the re-audit's ratings are replaced; the first stage is untouched
    svc.fire(COORDINATOR, ref, "record_reaudit_judgements", answers=_judgements("outstanding"))
    stages = [v for v in svc.assessments_of(ref) if v.task is None]
    assert sorted(v.assessment.stage for v in stages) == ["first", "reaudit"]
    again = next(v for v in stages if v.assessment.stage == "reaudit")
    assert again.assessment.id == reaudit.assessment.id
    assert _ratings(again) == dict.fromkeys(JUDGEMENTS, "outstanding")
    assert _ratings(next(v for v in stages if v.assessment.stage == "first")) == _ratings(first)


def test_judgements_on_the_scale_the_audit_chose(partnership: Service) -> None:
    svc = partnership
    ref = svc.open_activity(
        COORDINATOR,
        "themed_audit",
        "Neglect audit (fictional)",
        ["POL"],
        {"theme": "Neglect", "grading_scale": "brag"},
    ).activity.ref
    svc.fire(COORDINATOR, ref, "sample_cases", {"sample_size": 2})
    (task,) = svc.fire(COORDINATOR, ref, "issue_audit_tools").created_tasks
    view = svc.assessment_for_task(COORDINATOR, _tid(task))
    assert view.scale.name == "brag"
    assert view.form.name == "single_agency_audit"
    _submit(svc, task, "blue")
    svc.fire_task(COORDINATOR, _tid(task), "accept")
    svc.fire(COORDINATOR, ref, "convene_meeting", {"meeting_date": "2026-02-10"})
    with pytest.raises(InvalidInput, match="'good' is not a rating on the BRAG scale"):
        svc.fire(COORDINATOR, ref, "record_judgements", answers=_judgements("good"))
    svc.fire(COORDINATOR, ref, "record_judgements", answers=_judgements("amber"))
    (first,) = [v for v in svc.assessments_of(ref) if v.assessment.stage == "first"]
    assert first.scale.name == "brag"
    assert {a.score for a in first.answers.values()} == {1}


# ---------------------------------------------------------------------------- findings and actions
def test_findings_are_recorded_by_staff_with_a_kind_and_text(partnership: Service) -> None:
    svc = partnership
    ref = svc.open_activity(
        COORDINATOR,
        "themed_audit",
        "Neglect audit (fictional)",
        ["POL", "ICB"],
        {"theme": "Neglect"},
    ).activity.ref
    with pytest.raises(PermissionDenied, match="may not record findings"):
        svc.record_finding(_lead_for(svc, "POL"), ref, "finding", "Plans drift")
    with pytest.raises(InvalidInput, match="'observation' is not a kind of finding"):
        svc.record_finding(COORDINATOR, ref, "observation", "Plans drift")
    with pytest.raises(InvalidInput, match="has no text"):
        svc.record_finding(COORDINATOR, ref, "finding", "   ")
    with pytest.raises(NotFound, match="no agency with code XYZ"):
        svc.record_finding(COORDINATOR, ref, "finding", "Plans drift", "XYZ")
    assert svc.findings(ref) == []
    assert "finding_recorded" not in _kinds(svc, ref)

    finding = svc.record_finding(
        COORDINATOR, ref, "finding", "  Plans drifted after the first review  ", "pol"
    )
    rec = svc.record_finding(MANAGER, ref, "recommendation", "Use the escalation procedure")
    assert finding.text == "Plans drifted after the first review"
    assert (finding.kind, finding.created_by, finding.question) == ("finding", COORDINATOR.id, None)
    listed = svc.findings(ref)
    assert [(f.id, a.code if a else None, actions) for f, a, actions in listed] == [
        (finding.id, "POL", []),
        (rec.id, None, []),
    ]
    events = [e for e in svc.timeline(ref) if e.kind == "finding_recorded"]
    assert [e.actor for e in events] == [COORDINATOR.id, MANAGER.id]
    assert events[0].inputs == {
        "finding": finding.id,
        "kind": "finding",
        "text": "Plans drifted after the first review",
        "agency": "POL",
        "question": None,
    }
    svc.fire(COORDINATOR, ref, "cancel", reason="Merged into another audit")
    with pytest.raises(TransitionNotAllowed, match="nothing can be added"):
        svc.record_finding(COORDINATOR, ref, "finding", "Too late")


def test_actions_raised_from_findings_share_one_plan_with_the_approved_findings(
    partnership: Service,
) -> None:
    svc = partnership
    ref = _audit_at_meeting(svc)
    audit = svc.get_activity(ref)[0]
    finding = svc.record_finding(COORDINATOR, ref, "finding", "Plans drifted", "POL")
    other = svc.open_activity(
        COORDINATOR, "themed_audit", "Other audit (fictional)", ["POL"], {"theme": "Neglect"}
    ).activity.ref
    with pytest.raises(NotFound, match=f"{other} has no finding"):
        svc.raise_action(COORDINATOR, other, "POL", ACTION, finding.id)
    assert svc.list_activities(workflow="action_plan") == []
    with pytest.raises(PermissionDenied):
        svc.raise_action(_lead_for(svc, "POL"), ref, "POL", ACTION, finding.id)
    assert svc.list_activities(workflow="action_plan") == []

    out = svc.raise_action(COORDINATOR, ref, "POL", ACTION, finding.id)
    (plan,) = out.spawned
    assert plan.workflow == "action_plan"
    assert plan.parent_id == audit.id
    assert plan.data == {"origin": "audit"}
    assert plan.state == "drafting"
    action = out.task
    assert action is not None
    assert action.activity_id == plan.id
    assert (action.kind, action.finding_id, action.category) == ("action", finding.id, "action")
    assert _codes(svc)[action.agency_id] == "POL"
    assert action.data["recommendation"] == "Plans drifted"
    assert action.data["lead_name"] == "Lead Police"
    assert action.due_on == date(2026, 3, 31)
    assert {n.template for n in out.notifications} == {"action_assigned"}
    assert "spawned" in _kinds(svc, ref)
    assert _kinds(svc, plan.ref)[:2] == ["opened", "task_created"]

    second = svc.raise_action(
        COORDINATOR, ref, "ICB", {**ACTION, "lead_name": "Lead Health", "recommendation": "Own"}
    )
    assert second.task is not None
    assert second.task.activity_id == plan.id
    assert second.task.finding_id is None
    assert second.task.data["recommendation"] == "Own"
    assert [a.ref for a in svc.list_activities(workflow="action_plan")] == [plan.ref]
    plan_agencies = {a.code for a in svc.get_activity(plan.ref)[2]}
    assert plan_agencies == {"POL", "ICB"}
    ((f, agency, actions),) = svc.findings(ref)
    assert f.id == finding.id
    assert agency is not None
    assert agency.code == "POL"
    assert [t.id for t in actions] == [action.id]

    # the approved findings use the plan already open instead of opening a second
    svc.fire(COORDINATOR, ref, "record_judgements", answers=_judgements())
    svc.fire(COORDINATOR, ref, "submit_findings", {"findings_summary": "Plans drift"})
    approved = svc.fire(MANAGER, ref, "approve_findings")
    assert [a.ref for a in approved.spawned] == [plan.ref]
    assert [a.ref for a in svc.list_activities(workflow="action_plan")] == [plan.ref]
    spawned = [e for e in svc.timeline(ref) if e.kind == "spawned"]
    assert [e.inputs for e in spawned] == [
        {"action_plan": plan.ref},
        {"action_plan": plan.ref, "already_open": True},
    ]
    assert len([t for t in svc.get_activity(plan.ref)[3] if t.kind == "action"]) == 2

    # once that plan is over, the next action starts a new one
    svc.fire(COORDINATOR, plan.ref, "cancel", reason="Superseded by the partnership plan")
    third = svc.raise_action(COORDINATOR, ref, "POL", ACTION)
    (new_plan,) = third.spawned
    assert new_plan.ref != plan.ref
    assert new_plan.parent_id == audit.id
    assert third.task is not None
    assert third.task.activity_id == new_plan.id


def _lead_for(svc: Service, code: str) -> Actor:
    agency_id = next(i for i, c in _codes(svc).items() if c == code)
    return Actor(id=f"lead@{code.lower()}.example", role="agency", agency_id=agency_id)


def test_an_action_raised_from_a_question_records_the_recommendation_with_it(
    partnership: Service,
) -> None:
    svc = partnership
    ref, returns = _open_s11(svc, ("POL",))
    view = _submit(svc, returns["POL"], "1")
    aid = view.assessment.id or 0
    plans = len(svc.list_activities(workflow="action_plan"))
    events = len(svc.timeline(ref))

    # a bad target date: neither the recommendation nor the plan is kept
    with pytest.raises(InvalidInput, match="target_date"):
        svc.raise_action_from_question(COORDINATOR, aid, "4.1", {**ACTION, "target_date": "soon"})
    with pytest.raises(NotFound, match=r"no question '4\.9'"):
        svc.raise_action_from_question(COORDINATOR, aid, "4.9", ACTION)
    with pytest.raises(PermissionDenied):
        svc.raise_action_from_question(_lead(returns["POL"]), aid, "4.1", ACTION)
    assert svc.findings(ref) == []
    assert len(svc.list_activities(workflow="action_plan")) == plans
    assert len(svc.timeline(ref)) == events

    out = svc.raise_action_from_question(COORDINATOR, aid, "4.1", ACTION)
    ((finding, agency, actions),) = svc.findings(ref)
    assert finding.kind == "recommendation"
    assert finding.question == "section11 4.1"
    assert finding.text.startswith(
        "Section 11 organisational safeguarding assessment, question 4.1:"
    )
    assert view.form.question("4.1").text in finding.text
    assert agency is not None
    assert agency.code == "POL"
    assert out.task is not None
    assert [t.id for t in actions] == [out.task.id]
    assert out.task.finding_id == finding.id
    assert out.task.data["recommendation"] == finding.text
    assert _codes(svc)[out.task.agency_id] == "POL"
    (plan,) = out.spawned
    assert plan.data == {"origin": "section11"}
    assert plan.parent_id == view.activity.id


def test_an_action_from_a_meeting_judgement_names_its_agency(partnership: Service) -> None:
    svc = partnership
    ref = _audit_at_meeting(svc)
    svc.fire(COORDINATOR, ref, "record_judgements", answers=_judgements())
    (first,) = [v for v in svc.assessments_of(ref) if v.assessment.stage == "first"]
    aid = first.assessment.id or 0
    with pytest.raises(InvalidInput, match="choose the agency that owns the action"):
        svc.raise_action_from_question(COORDINATOR, aid, "joint_working", ACTION)
    assert svc.findings(ref) == []
    out = svc.raise_action_from_question(
        COORDINATOR, aid, "joint_working", {**ACTION, "lead_name": "Lead Health"}, agency="ICB"
    )
    ((finding, agency, _actions),) = svc.findings(ref)
    assert finding.question == "maa_judgements joint_working"
    assert agency is not None
    assert agency.code == "ICB"
    assert out.task is not None
    assert _codes(svc)[out.task.agency_id] == "ICB"


# ---------------------------------------------------------------------------- report columns
def test_answered_late_on_time_or_with_the_deadline_waived(
    partnership: Service, clock: FakeClock
) -> None:
    svc = partnership
    # due Friday 9 January 2026
    _ref, returns = _open_s11(svc, ("POL", "ICB", "CSC"), return_date="2026-01-09")
    assert {t.due_on for t in returns.values()} == {date(2026, 1, 9)}
    assert {t.category for t in returns.values()} == {"request"}
    assert all(t.answered_at is None and t.late_working_days is None for t in returns.values())

    clock.set(datetime(2026, 1, 8, 15, 0, tzinfo=LONDON))  # the day before
    _submit(svc, returns["POL"])
    svc.waive_deadline(COORDINATOR, _tid(returns["CSC"]), "Agency restructure", MANAGER.id)
    clock.set(datetime(2026, 1, 14, 11, 0, tzinfo=LONDON))  # Mon 12, Tue 13, Wed 14: 3 late
    _submit(svc, returns["ICB"])
    clock.set(datetime(2026, 1, 20, 10, 0, tzinfo=LONDON))
    _submit(svc, returns["CSC"])

    tasks = {c: svc.get_task(_tid(t))[0] for c, t in returns.items()}
    assert tasks["POL"].answered_at == datetime(2026, 1, 8, 15, 0, tzinfo=LONDON)
    assert tasks["POL"].late_working_days == 0
    assert tasks["ICB"].answered_at == datetime(2026, 1, 14, 11, 0, tzinfo=LONDON)
    assert tasks["ICB"].late_working_days == 3
    assert tasks["CSC"].answered_at == datetime(2026, 1, 20, 10, 0, tzinfo=LONDON)
    assert tasks["CSC"].late_working_days is None
    assert tasks["CSC"].deadline_status == "waived"
    assert {t.deadline_status for c, t in tasks.items() if c != "CSC"} == {"met"}

    # accepting keeps when it was answered
    clock.set(datetime(2026, 1, 21, 10, 0, tzinfo=LONDON))
    svc.fire_task(COORDINATOR, _tid(returns["ICB"]), "accept")
    accepted = svc.get_task(_tid(returns["ICB"]))[0]
    assert accepted.answered_at == datetime(2026, 1, 14, 11, 0, tzinfo=LONDON)
    assert accepted.late_working_days == 3


def test_report_category_by_kind_of_task(partnership: Service) -> None:
    svc = partnership
    ref, returns = _open_s11(svc, ("POL",))
    _submit(svc, returns["POL"])
    svc.fire_task(COORDINATOR, _tid(returns["POL"]), "accept")
    (moderation,) = svc.fire(COORDINATOR, ref, "start_moderation").created_tasks
    assert moderation.category == "none"
    assert moderation.deadline_status == "none"
    action = svc.raise_action(COORDINATOR, ref, "POL", ACTION).task
    assert action is not None
    assert action.category == "action"
    review = svc.open_activity(
        COORDINATOR,
        "practice_review",
        "Practice review (fictional)",
        ["POL"],
        {"awareness_date": "2026-01-05"},
    )
    (notification,) = review.created_tasks
    assert notification.category == "statutory"
    stored = {t.kind: t.category for t, _a, _g in svc.list_tasks(TaskFilter(include_closed=True))}
    assert stored == {
        "s11_return": "request",
        "moderation": "none",
        "action": "action",
        "panel_notification": "statutory",
    }


def _expected_rungs(svc: Service) -> tuple[int, int]:
    """Reminders and escalations the s11_return ladder holds, read from the workflow file."""
    ladder = svc.registry.get("section11").tasks["s11_return"].ladder
    reminders = len(ladder.before) + (1 if ladder.on_due_template else 0) + ladder.chase_max
    return reminders, len(ladder.escalations)


def test_the_sweep_counts_reminders_and_escalations_sent(
    partnership: Service, clock: FakeClock
) -> None:
    svc = partnership
    ref, returns = _open_s11(svc, ("POL",), return_date="2026-01-30")
    pol = returns["POL"]
    assert (pol.reminders_sent, pol.escalations_sent) == (0, 0)
    day = date(2026, 1, 5)
    while day <= date(2026, 1, 30):  # up to the due date: reminders only
        clock.set(datetime(day.year, day.month, day.day, 10, tzinfo=LONDON))
        svc.sweep()
        day += timedelta(days=1)
    task = svc.get_task(_tid(pol))[0]
    ladder = svc.registry.get("section11").tasks["s11_return"].ladder
    assert (task.reminders_sent, task.escalations_sent) == (len(ladder.before) + 1, 0)
    while day <= date(2026, 2, 27):
        clock.set(datetime(day.year, day.month, day.day, 10, tzinfo=LONDON))
        svc.sweep()
        day += timedelta(days=1)
    task = svc.get_task(_tid(pol))[0]
    assert (task.reminders_sent, task.escalations_sent) == _expected_rungs(svc) == (7, 2)
    sent = [r for e in svc.timeline(ref) if e.kind == "reminder" for r in e.inputs["rungs"]]
    assert len(sent) == sum(_expected_rungs(svc))
    assert sum(r.startswith("escalate") for r in sent) == task.escalations_sent
    assert task.next_reminder_at is None


def test_after_downtime_only_the_rung_sent_is_counted(
    partnership: Service, clock: FakeClock
) -> None:
    svc = partnership
    _ref, returns = _open_s11(svc, ("POL",), return_date="2026-01-30")
    clock.set(datetime(2026, 2, 4, 10, 0, tzinfo=LONDON))  # third working day after: chase-1
    report = svc.sweep()
    assert report.sent == 1
    assert report.skipped == 4
    task = svc.get_task(_tid(returns["POL"]))[0]
    assert (task.reminders_sent, task.escalations_sent) == (1, 0)
    clock.set(datetime(2026, 2, 20, 10, 0, tzinfo=LONDON))  # past the last escalation
    svc.sweep()
    task = svc.get_task(_tid(returns["POL"]))[0]
    assert (task.reminders_sent, task.escalations_sent) == (1, 1)
