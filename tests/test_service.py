"""The service: one transaction per call, clear errors, nothing written on failure."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from sef_workflow.errors import (
    ConcurrentUpdate,
    GuardFailed,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TransitionNotAllowed,
)
from sef_workflow.models import Task
from sef_workflow.service import Actor, Service, TaskFilter

from .conftest import COORDINATOR, MANAGER, answer_form


def _open_audit(svc: Service) -> str:
    out = svc.open_activity(
        COORDINATOR,
        "themed_audit",
        "Neglect themed audit (fictional)",
        ["POL", "ICB", "CSC"],
        {"theme": "Neglect"},
    )
    return out.activity.ref


def test_open_gives_reference_and_pins_definition(partnership: Service) -> None:
    ref = _open_audit(partnership)
    assert ref == "MAA-2026-001"
    assert _open_audit(partnership) == "MAA-2026-002"
    activity, wf, agencies, tasks = partnership.get_activity(ref)
    assert activity.state == "planning"
    assert [a.code for a in agencies] == ["CSC", "POL", "ICB"]  # by name
    assert tasks == []
    assert wf.version == partnership.registry.get("themed_audit").version
    events = partnership.timeline(ref)
    assert [e.kind for e in events] == ["opened"]
    assert events[0].actor == COORDINATOR.id
    assert events[0].inputs == {"theme": "Neglect"}


def test_issue_creates_one_task_per_agency_with_working_day_deadline(partnership: Service) -> None:
    ref = _open_audit(partnership)
    partnership.fire(COORDINATOR, ref, "sample_cases", {"sample_size": "6"})
    out = partnership.fire(COORDINATOR, ref, "issue_audit_tools")
    assert out.to_state == "awaiting_returns"
    assert len(out.created_tasks) == 3
    # Mon 5 Jan 2026 + 20 working days = Mon 2 Feb 2026
    assert {t.due_on for t in out.created_tasks} == {date(2026, 2, 2)}
    assert {n.template for n in out.notifications} == {"audit_tool_issued"}
    assert len(out.notifications) == 5  # each lead, and the police and council deputies
    rows = partnership.list_tasks(TaskFilter(activity=ref))
    assert len(rows) == 3


def test_not_allowed_names_state_and_allowed_triggers(partnership: Service) -> None:
    ref = _open_audit(partnership)
    with pytest.raises(
        TransitionNotAllowed,
        match=r"cannot fire 'close' on MAA-2026-001 in state 'planning'; allowed: sample_cases, raise_concern, cancel",
    ):
        partnership.fire(COORDINATOR, ref, "close")
    assert [e.kind for e in partnership.timeline(ref)] == ["opened"]


def test_guard_refuses_until_returns_accepted(partnership: Service) -> None:
    ref = _open_audit(partnership)
    partnership.fire(COORDINATOR, ref, "sample_cases", {"sample_size": 4})
    tasks = partnership.fire(COORDINATOR, ref, "issue_audit_tools").created_tasks
    with pytest.raises(
        GuardFailed,
        match=r"waiting for 3 of 3 single-agency audit returns \(CSC, ICB, POL\)",
    ):
        partnership.fire(COORDINATOR, ref, "convene_meeting", {"meeting_date": "2026-02-10"})
    for task in tasks:
        agency = Actor(id="lead@x.example", role="agency", agency_id=task.agency_id)
        assert task.id is not None
        answer_form(partnership, agency, task.id)
        partnership.fire_task(agency, task.id, "submit", {"summary": "Return attached"})
        partnership.fire_task(COORDINATOR, task.id, "accept")
    out = partnership.fire(COORDINATOR, ref, "convene_meeting", {"meeting_date": "2026-02-10"})
    assert out.to_state == "meeting"
    assert out.activity.data["meeting_date"] == "2026-02-10"


def test_agency_cannot_touch_another_agencys_task(partnership: Service) -> None:
    ref = _open_audit(partnership)
    partnership.fire(COORDINATOR, ref, "sample_cases", {"sample_size": 4})
    tasks = partnership.fire(COORDINATOR, ref, "issue_audit_tools").created_tasks
    a, b = tasks[0], tasks[1]
    assert a.id is not None
    intruder = Actor(id="lead@other.example", role="agency", agency_id=b.agency_id)
    with pytest.raises(PermissionDenied, match="another agency"):
        partnership.fire_task(intruder, a.id, "submit", {"summary": "x"})
    owner = Actor(id="lead@own.example", role="agency", agency_id=a.agency_id)
    answer_form(partnership, owner, a.id)
    partnership.fire_task(owner, a.id, "submit", {"summary": "Return attached"})
    with pytest.raises(PermissionDenied, match=r"may not fire 'accept'.*allowed: coordinator"):
        partnership.fire_task(owner, a.id, "accept")


def test_roles_and_inputs_are_checked_and_nothing_changes(partnership: Service) -> None:
    ref = _open_audit(partnership)
    with pytest.raises(PermissionDenied, match=r"allowed: coordinator"):
        partnership.fire(MANAGER, ref, "sample_cases", {"sample_size": 3})
    with pytest.raises(InvalidInput, match="missing required input sample_size"):
        partnership.fire(COORDINATOR, ref, "sample_cases")
    with pytest.raises(InvalidInput, match="expected a whole number"):
        partnership.fire(COORDINATOR, ref, "sample_cases", {"sample_size": "lots"})
    with pytest.raises(InvalidInput, match="unknown input 'colour'"):
        partnership.fire(COORDINATOR, ref, "sample_cases", {"sample_size": 3, "colour": "red"})
    with pytest.raises(InvalidInput, match="needs a reason"):
        partnership.fire(COORDINATOR, ref, "cancel")
    with pytest.raises(NotFound, match="no activity with reference MAA-1999-001"):
        partnership.fire(COORDINATOR, "MAA-1999-001", "cancel", reason="x")
    activity, *_ = partnership.get_activity(ref)
    assert (activity.state, activity.version) == ("planning", 1)
    assert len(partnership.timeline(ref)) == 1


def test_stale_version_is_a_concurrency_error(partnership: Service) -> None:
    ref = _open_audit(partnership)
    activity, *_ = partnership.get_activity(ref)
    partnership.fire(
        COORDINATOR,
        ref,
        "raise_concern",
        reason="Concern shared with MASH",
        expected_version=activity.version,
    )
    with pytest.raises(ConcurrentUpdate, match="changed by someone else"):
        partnership.fire(
            COORDINATOR, ref, "raise_concern", reason="again", expected_version=activity.version
        )
    kinds = [e.trigger for e in partnership.timeline(ref)]
    assert kinds.count("raise_concern") == 1


def test_cancel_withdraws_open_tasks(partnership: Service) -> None:
    ref = _open_audit(partnership)
    partnership.fire(COORDINATOR, ref, "sample_cases", {"sample_size": 4})
    partnership.fire(COORDINATOR, ref, "issue_audit_tools")
    out = partnership.fire(COORDINATOR, ref, "cancel", reason="Theme merged into another audit")
    assert out.activity.closed_at is not None
    tasks = partnership.get_activity(ref)[3]
    assert {t.state for t in tasks} == {"withdrawn"}
    assert not any(t.is_open for t in tasks)


def test_deadline_extend_pause_resume_waive(partnership: Service, clock) -> None:  # type: ignore[no-untyped-def]
    ref = _open_audit(partnership)
    partnership.fire(COORDINATOR, ref, "sample_cases", {"sample_size": 4})
    task = partnership.fire(COORDINATOR, ref, "issue_audit_tools").created_tasks[0]
    assert task.id is not None
    out = partnership.extend_deadline(COORDINATOR, task.id, date(2026, 2, 9), "Staff sickness")
    assert out.task is not None
    assert out.task.due_on == date(2026, 2, 9)
    assert out.task.original_due_on == date(2026, 2, 2)
    partnership.pause_deadline(COORDINATOR, task.id, "Legal hold")
    clock.advance(timedelta(days=7))  # Mon 12 Jan: five working days paused
    out = partnership.resume_deadline(COORDINATOR, task.id, "Hold lifted")
    assert out.task is not None
    assert out.task.due_on == date(2026, 2, 16)
    with pytest.raises(InvalidInput, match="needs an approver"):
        partnership.waive_deadline(COORDINATOR, task.id, "No longer needed", None)  # type: ignore[arg-type]
    out = partnership.waive_deadline(COORDINATOR, task.id, "Agency not involved", MANAGER.id)
    assert out.task is not None
    assert out.task.deadline_status == "waived"
    kinds = [
        (e.kind, e.inputs.get("approver"))
        for e in partnership.timeline(ref)
        if e.kind.startswith("deadline")
    ]
    assert kinds == [
        ("deadline_extended", COORDINATOR.id),
        ("deadline_paused", None),  # no approval needed to stop or restart the clock
        ("deadline_resumed", None),
        ("deadline_waived", MANAGER.id),
    ]


def _statutory(svc: Service) -> Task:
    out = svc.open_activity(
        COORDINATOR,
        "practice_review",
        "Practice review (fictional)",
        ["POL"],
        {"awareness_date": "2026-01-05"},
    )
    (task,) = out.created_tasks
    assert task.kind == "panel_notification"
    assert task.due_on == date(2026, 1, 12)
    return task


def test_statutory_deadline_moves_only_with_a_manager_and_to_a_working_day(
    partnership: Service,
) -> None:
    task = _statutory(partnership)
    assert task.id is not None
    with pytest.raises(TransitionNotAllowed, match="statutory and cannot be waived"):
        partnership.waive_deadline(COORDINATOR, task.id, "Relaxed", MANAGER.id)
    with pytest.raises(InvalidInput, match="needs an approver"):
        partnership.extend_deadline(COORDINATOR, task.id, date(2026, 1, 14), "Late referral")
    with pytest.raises(PermissionDenied, match="needs a manager"):
        partnership.extend_deadline(COORDINATOR, task.id, date(2026, 1, 14), "x", COORDINATOR.id)
    with pytest.raises(InvalidInput, match="not a working day"):
        partnership.extend_deadline(COORDINATOR, task.id, date(2026, 1, 17), "x", MANAGER.id)
    with pytest.raises(InvalidInput, match="before the task was set"):
        partnership.extend_deadline(COORDINATOR, task.id, date(2025, 12, 25), "x", MANAGER.id)
    out = partnership.extend_deadline(
        COORDINATOR, task.id, date(2026, 1, 14), "Panel agreed", MANAGER.id
    )
    assert out.task is not None
    assert (out.task.due_on, out.task.original_due_on) == (date(2026, 1, 14), date(2026, 1, 12))


def test_answering_while_paused_meets_the_deadline(partnership: Service) -> None:
    ref = _open_audit(partnership)
    partnership.fire(COORDINATOR, ref, "sample_cases", {"sample_size": 4})
    task = partnership.fire(COORDINATOR, ref, "issue_audit_tools").created_tasks[0]
    assert task.id is not None
    partnership.pause_deadline(COORDINATOR, task.id, "Waiting on records")
    lead = Actor(id="lead@x.example", role="agency", agency_id=task.agency_id)
    answer_form(partnership, lead, task.id)
    partnership.fire_task(lead, task.id, "submit", {"summary": "Return attached"})
    answered, _ = partnership.get_task(task.id)
    assert (answered.deadline_status, answered.paused_at, answered.next_reminder_at) == (
        "met",
        None,
        None,
    )
    with pytest.raises(TransitionNotAllowed, match="deadline is met; cannot resume"):
        partnership.resume_deadline(COORDINATOR, task.id, "Records arrived")
    with pytest.raises(TransitionNotAllowed, match="deadline is met; cannot extend"):
        partnership.extend_deadline(COORDINATOR, task.id, date(2026, 3, 2), "x")


def test_withdrawn_tasks_are_not_counted_as_met(partnership: Service) -> None:
    ref = _open_audit(partnership)
    partnership.fire(COORDINATOR, ref, "sample_cases", {"sample_size": 4})
    partnership.fire(COORDINATOR, ref, "issue_audit_tools")
    partnership.fire(COORDINATOR, ref, "cancel", reason="Merged into another audit")
    assert {t.deadline_status for t in partnership.get_activity(ref)[3]} == {"withdrawn"}


def test_agency_asks_for_more_time_and_the_coordinator_is_told(partnership: Service) -> None:
    ref = _open_audit(partnership)
    partnership.fire(COORDINATOR, ref, "sample_cases", {"sample_size": 4})
    task = partnership.fire(COORDINATOR, ref, "issue_audit_tools").created_tasks[0]
    assert task.id is not None
    lead = Actor(id="lead@x.example", role="agency", agency_id=task.agency_id)
    with pytest.raises(InvalidInput, match="needs a reason"):
        partnership.fire_task(lead, task.id, "request_extension", {"requested_date": "2026-02-13"})
    out = partnership.fire_task(
        lead,
        task.id,
        "request_extension",
        {"requested_date": "2026-02-13"},
        reason="Records are with the archive service",
    )
    assert out.to_state == "requested"  # asking changes nothing until the coordinator agrees
    assert [(n.template, n.address) for n in out.notifications] == [
        ("extension_requested", COORDINATOR.id)
    ]
    same, _ = partnership.get_task(task.id)
    assert same.due_on == date(2026, 2, 2)
    assert same.data["requested_date"] == "2026-02-13"
    with pytest.raises(PermissionDenied, match="may not fire 'request_extension'"):
        partnership.fire_task(
            COORDINATOR, task.id, "request_extension", {"requested_date": "2026-02-13"}, reason="x"
        )


def test_action_plan_from_action_to_sign_off(partnership: Service) -> None:
    plan = partnership.open_activity(
        COORDINATOR, "action_plan", "Action plan (fictional)", ["POL", "ICB"]
    ).activity.ref
    out = partnership.add_task(
        COORDINATOR,
        plan,
        "action",
        "POL",
        {
            "description": "Invite health to every strategy discussion; monthly dip sample",
            "lead_name": "Police safeguarding lead (fictional)",
            "target_date": "2026-03-31",
        },
    )
    (action,) = out.created_tasks
    assert action.id is not None
    assert action.due_on == date(2026, 3, 31)
    assert [(n.template, n.to, n.address) for n in out.notifications] == [
        ("action_assigned", "agency", "lead@police.northshire.example"),
        ("action_assigned", "agency", "deputy@police.northshire.example"),
    ]
    partnership.fire(
        COORDINATOR,
        plan,
        "start_monitoring",
        {"owning_subgroup": "Quality and Performance subgroup"},
    )
    lead = Actor(id="lead@police.northshire.example", role="agency", agency_id=action.agency_id)
    out = partnership.fire_task(
        lead,
        action.id,
        "update_progress",
        {"brag": "amber", "progress_note": "Slipping: rota changes"},
    )
    assert [(n.template, n.address) for n in out.notifications] == [
        ("action_progress_updated", COORDINATOR.id)
    ]
    partnership.fire_task(
        lead,
        action.id,
        "request_reprogramme",
        {"new_target_date": "2026-04-30"},
        reason="Rota changes",
    )
    out = partnership.fire_task(MANAGER, action.id, "approve_reprogramme", reason="Agreed")
    assert out.task is not None
    assert (out.task.due_on, out.task.original_due_on) == (date(2026, 4, 30), date(2026, 3, 31))
    partnership.fire_task(
        lead,
        action.id,
        "submit_completion",
        {"evidence_of_completion": "Nine of ten discussions had health"},
    )
    with pytest.raises(GuardFailed, match=r"needs evidence of impact from the agency \(POL\)"):
        partnership.fire_task(MANAGER, action.id, "sign_off")
    partnership.fire_task(
        lead,
        action.id,
        "record_impact",
        {"evidence_of_impact": "Earlier health information in decisions"},
    )
    out = partnership.fire_task(MANAGER, action.id, "sign_off")
    assert out.to_state == "signed_off"
    assert out.task is not None
    assert out.task.deadline_status == "met"
    partnership.fire(COORDINATOR, plan, "submit_for_signoff")
    out_plan = partnership.fire(
        MANAGER, plan, "sign_off_plan", {"impact_summary": "Health joins strategy discussions"}
    )
    assert out_plan.to_state == "closed"
