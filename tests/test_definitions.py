"""Tests for sef_workflow.definitions: the shipped workflows and what the validator rejects."""

from __future__ import annotations

import os
import re
import tomllib
from collections import deque
from pathlib import Path

import pytest

from sef_workflow import definitions
from sef_workflow.definitions import (
    STAY,
    Registry,
    TaskKind,
    Workflow,
    load_file,
    parse_workflow,
)
from sef_workflow.errors import ConfigError, DefinitionError
from sef_workflow.guards import GUARDS
from sef_workflow.models import ROLES

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
SHIPPED = ("action_plan", "agency_request", "practice_review", "section11", "themed_audit")


@pytest.fixture(scope="module")
def shipped() -> dict[str, Workflow]:
    return {p.stem: load_file(p) for p in sorted(WORKFLOWS.glob("*.toml"))}


# ---------------------------------------------------------------------------------------
# helpers


def walk(machine: Workflow | TaskKind, triggers: list[str]) -> str:
    """Fire ``triggers`` in order from the initial state; each must be allowed."""
    state = machine.initial
    for trigger in triggers:
        allowed = machine.allowed_triggers(state)
        assert trigger in allowed, f"'{trigger}' not allowed in '{state}' (allowed: {allowed})"
        state = machine.next_state(trigger, state)
    return state


def reachable(machine: Workflow | TaskKind) -> set[str]:
    """Every state the compiled machine can reach from its initial state."""
    seen = {machine.initial}
    todo = deque([machine.initial])
    while todo:
        state = todo.popleft()
        for trigger in machine.allowed_triggers(state):
            nxt = machine.next_state(trigger, state)
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def machines(wf: Workflow) -> list[Workflow | TaskKind]:
    return [wf, *wf.tasks.values()]


def all_inputs(wf: Workflow) -> set[str]:
    """Every input an activity of ``wf`` can hold: open inputs and activity transitions'."""
    names = {i.name for i in wf.open_inputs}
    for t in wf.transitions:
        names.update(i.name for i in t.inputs)
    return names


# ---------------------------------------------------------------------------------------
# the shipped workflows


def test_every_shipped_workflow_loads(shipped: dict[str, Workflow]) -> None:
    assert tuple(shipped) == SHIPPED
    for name, wf in shipped.items():
        assert wf.name == name
        assert wf.version


HAPPY_PATHS = {
    "themed_audit": [
        "sample_cases",
        "issue_audit_tools",
        "convene_meeting",
        "record_judgements",
        "submit_findings",
        "approve_findings",
        "disseminate_learning",
        "schedule_reaudit",
        "close",
    ],
    "practice_review (local review)": [
        "record_panel_notification",
        "request_agency_summaries",
        "convene_rapid_review_meeting",
        "record_rapid_review_meeting",
        "decide_local_review",
        "appoint_reviewer",
        "agree_terms_of_reference",
        "record_progress",
        "start_analysis",
        "receive_draft",
        "request_draft_changes",
        "receive_draft",
        "agree_final_report",
        "plan_publication",
        "send_report_to_panel",
        "publish",
        "close",
    ],
    "practice_review (no further review)": [
        "record_panel_notification",
        "request_agency_summaries",
        "convene_rapid_review_meeting",
        "record_rapid_review_meeting",
        "decide_no_further_review",
        "agree_learning_actions",
        "close",
    ],
    "section11": [
        "issue_tool",
        "start_moderation",
        "schedule_challenge_event",
        "record_challenge_event",
        "issue_feedback",
        "start_monitoring",
        "record_monitoring",
        "close",
    ],
    "action_plan": ["record_review", "start_monitoring", "submit_for_signoff", "sign_off_plan"],
    "agency_request (noted)": [
        "issue_request",
        "mark_received",
        "table_at_meeting",
        "note",
        "close",
    ],
    "agency_request (challenged)": [
        "issue_request",
        "mark_received",
        "table_at_meeting",
        "challenge",
        "consider_responses",
        "close",
    ],
}


@pytest.mark.parametrize("path", HAPPY_PATHS, ids=list(HAPPY_PATHS))
def test_happy_path_walks_request_to_closure(shipped: dict[str, Workflow], path: str) -> None:
    wf = shipped[path.split(" ", maxsplit=1)[0]]
    end = walk(wf, HAPPY_PATHS[path])
    assert end == "closed"
    assert wf.is_final(end)
    assert wf.allowed_triggers(end) == []


TASK_PATHS = {
    ("themed_audit", "audit_return"): (["submit", "send_back", "submit", "accept"], "accepted"),
    ("practice_review", "agency_summary"): (["submit", "accept"], "accepted"),
    ("practice_review", "chronology"): (["submit", "send_back", "submit", "accept"], "accepted"),
    ("practice_review", "panel_notification"): (["complete"], "done"),
    ("section11", "s11_return"): (["submit", "accept"], "accepted"),
    ("section11", "moderation"): (["finish_moderation"], "moderated"),
    ("section11", "agency_action_plan"): (["submit", "agree"], "agreed"),
    ("action_plan", "action"): (
        [
            "update_progress",
            "request_reprogramme",
            "approve_reprogramme",
            "request_reprogramme",
            "decline_reprogramme",
            "submit_completion",
            "send_back",
            "record_impact",
            "submit_completion",
            "sign_off",
        ],
        "signed_off",
    ),
    ("agency_request", "agency_return"): (["submit", "accept"], "accepted"),
    ("agency_request", "challenge_response"): (["send", "respond", "accept"], "accepted"),
}


@pytest.mark.parametrize("key", TASK_PATHS, ids=[f"{w}.{k}" for w, k in TASK_PATHS])
def test_task_happy_paths(shipped: dict[str, Workflow], key: tuple[str, str]) -> None:
    wf_name, kind_name = key
    kind = shipped[wf_name].tasks[kind_name]
    triggers, final = TASK_PATHS[key]
    end = walk(kind, triggers)
    assert end == final
    assert kind.is_final(end)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_state_and_every_final_state_is_reachable(
    shipped: dict[str, Workflow], name: str
) -> None:
    for machine in machines(shipped[name]):
        seen = reachable(machine)
        assert seen == set(machine.states), machine.name
        finals = {s for s in machine.states if machine.is_final(s)}
        assert finals <= seen


@pytest.mark.parametrize("name", SHIPPED)
def test_compiled_machine_agrees_with_the_definition(
    shipped: dict[str, Workflow], name: str
) -> None:
    for machine in machines(shipped[name]):
        for t in machine.transitions:
            for source in t.sources:
                expected = source if t.dest == STAY else t.dest
                assert machine.next_state(t.trigger, source) == expected
                assert machine.transition_for(t.trigger, source) is t


@pytest.mark.parametrize("name", SHIPPED)
def test_mermaid_diagram(shipped: dict[str, Workflow], name: str) -> None:
    wf = shipped[name]
    diagram = wf.mermaid()
    assert diagram.startswith("stateDiagram-v2\n")
    for state in wf.states:
        assert re.search(rf"\b{state}\b", diagram), state
    assert f"[*] --> {wf.initial}" in diagram


@pytest.mark.parametrize("name", SHIPPED)
def test_every_workflow_can_be_cancelled_from_any_open_state(
    shipped: dict[str, Workflow], name: str
) -> None:
    wf = shipped[name]
    (cancel,) = [t for t in wf.transitions if t.trigger == "cancel"]
    assert "withdraw_open_tasks" in cancel.effects
    assert cancel.reason_required
    assert wf.is_final(cancel.dest)
    assert set(cancel.sources) == {s for s in wf.states if not wf.is_final(s)}
    for kind in wf.tasks.values():
        assert kind.withdrawn_state is not None
        assert kind.is_final(kind.withdrawn_state)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_deadline_has_a_reminder_ladder(shipped: dict[str, Workflow], name: str) -> None:
    for kind in shipped[name].tasks.values():
        if kind.deadline is None:
            continue
        ladder = kind.ladder
        assert ladder.before, kind.name
        assert ladder.on_due_template, kind.name
        assert ladder.chase_every, kind.name
        assert ladder.chase_template, kind.name
        assert ladder.escalations, kind.name


def parameter_choices(wf: Workflow) -> list[dict[str, str]]:
    """One override per choice of every parameter that has choices, plus the defaults."""
    declared = tomllib.loads(wf.source)["workflow"].get("parameters", {})
    overrides: list[dict[str, str]] = [{}]
    for pname, spec in declared.items():
        overrides.extend({pname: choice} for choice in spec.get("choices", {}))
    return overrides


@pytest.mark.parametrize("name", SHIPPED)
def test_activity_deadline_bases_name_a_real_input(shipped: dict[str, Workflow], name: str) -> None:
    """The loader does not check 'activity:<field>' bases, so the shipped files are checked here,
    for every choice a partnership may make in config.toml."""
    for overrides in parameter_choices(shipped[name]):
        wf = load_file(WORKFLOWS / f"{name}.toml", overrides)
        inputs = all_inputs(wf)
        for kind in wf.tasks.values():
            if kind.deadline is not None and kind.deadline.basis.startswith("activity:"):
                field = kind.deadline.basis.removeprefix("activity:")
                assert field in inputs, (kind.name, overrides)


@pytest.mark.parametrize("name", SHIPPED)
def test_completes_only_business_unit_steps(shipped: dict[str, Workflow], name: str) -> None:
    wf = shipped[name]
    for t in wf.transitions:
        for kind_name in t.completes:
            assert wf.tasks[kind_name].assignee == "business_unit"


def test_practice_review_statutory_clocks(shipped: dict[str, Workflow]) -> None:
    wf = shipped["practice_review"]
    assert wf.reference_prefix == "CSPR"
    assert [i.name for i in wf.open_inputs] == ["awareness_date"]
    assert wf.open_creates == ("panel_notification",)

    notification = wf.tasks["panel_notification"]
    assert notification.assignee == "business_unit"
    assert notification.deadline is not None
    assert (notification.deadline.unit, notification.deadline.amount) == ("working_days", 5)
    assert notification.deadline.basis == "activity:awareness_date"
    assert notification.deadline.waivable is False
    recorded = wf.transition_for("record_panel_notification", "notification")
    assert recorded is not None
    assert recorded.completes == ("panel_notification",)
    assert ("practice_review_notice", "activity_agencies") in {
        (n.template, n.to) for n in recorded.notify
    }

    rapid = wf.tasks["rapid_review"].deadline
    assert rapid is not None
    assert (rapid.unit, rapid.amount, rapid.basis) == (
        "working_days",
        15,
        "activity:awareness_date",
    )
    assert rapid.waivable is True
    for trigger in ("decide_local_review", "decide_no_further_review"):
        decided = wf.transition_for(trigger, "partner_signoff")
        assert decided is not None
        assert decided.completes == ("rapid_review",)

    publication = wf.tasks["publication"].deadline
    assert publication is not None
    assert (publication.unit, publication.amount, publication.basis) == (
        "calendar_months",
        6,
        "activity:decision_date",
    )
    assert publication.waivable is True

    panel_report = wf.tasks["panel_report"].deadline
    assert panel_report is not None
    assert (panel_report.unit, panel_report.amount, panel_report.direction) == (
        "working_days",
        7,
        "before",
    )
    assert panel_report.basis == "activity:planned_publication_date"


def test_practice_review_parameters_from_config(shipped: dict[str, Workflow]) -> None:
    wf = load_file(
        WORKFLOWS / "practice_review.toml",
        {"rapid_review_basis": "notification", "panel_report_working_days": 10},
        config_origin="config.toml",
    )
    rapid = wf.tasks["rapid_review"].deadline
    panel_report = wf.tasks["panel_report"].deadline
    assert rapid is not None
    assert panel_report is not None
    assert rapid.basis == "activity:notification_date"
    assert panel_report.amount == 10
    assert wf.parameters["rapid_review_basis__choice"] == "notification"
    assert wf.version != shipped["practice_review"].version


def test_shipped_config_parameters_are_accepted() -> None:
    config = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    parameters = config.get("workflow_parameters", {})
    assert "rapid_review_basis" in parameters["practice_review"]
    assert "panel_report_working_days" in parameters["practice_review"]
    registry = Registry(WORKFLOWS, parameters, "config.toml")
    assert set(registry.current()) == set(SHIPPED)


def test_section11_issue_fixes_the_return_date(shipped: dict[str, Workflow]) -> None:
    wf = shipped["section11"]
    issue = wf.transition_for("issue_tool", "preparing")
    assert issue is not None
    assert "return_date" in {i.name for i in issue.inputs}
    assert issue.creates == ("s11_return",)
    deadline = wf.tasks["s11_return"].deadline
    assert deadline is not None
    assert (deadline.unit, deadline.amount, deadline.basis) == (
        "calendar_days",
        0,
        "activity:return_date",
    )
    assert wf.tasks["agency_action_plan"].assignee == "each_agency"


def test_action_plan_actions(shipped: dict[str, Workflow]) -> None:
    wf = shipped["action_plan"]
    assert all(not i.required for i in wf.open_inputs), "spawned plans open with no inputs"
    action = wf.tasks["action"]
    assert action.assignee == "chosen_agency"
    assert {"description", "lead_name", "target_date"} <= {i.name for i in action.inputs}
    assert action.deadline is not None
    assert action.deadline.basis == "task:target_date"
    approve = action.transition_for("approve_reprogramme", "reprogramme_requested")
    request = action.transition_for("request_reprogramme", "in_progress")
    assert approve is not None
    assert request is not None
    assert approve.effects == ("reprogramme",)
    assert approve.roles == ("manager",)
    assert "new_target_date" in {i.name for i in request.inputs}
    sign_off = action.transition_for("sign_off", "completion_submitted")
    assert sign_off is not None
    assert sign_off.roles == ("manager",)
    assert set(sign_off.guards) == {
        "task_has:evidence_of_completion",
        "task_has:evidence_of_impact",
    }
    update = action.transition_for("update_progress", "in_progress")
    assert update is not None
    assert update.dest == STAY
    (brag,) = [i for i in update.inputs if i.name == "brag"]
    assert brag.choices == ("blue", "green", "amber", "red")
    assert [e.to for e in action.ladder.escalations] == [
        "agency_manager",
        "managers",
        "business_unit",
    ]


def test_agency_request_types(shipped: dict[str, Workflow]) -> None:
    wf = shipped["agency_request"]
    (request_type,) = [i for i in wf.open_inputs if i.name == "request_type"]
    assert request_type.choices == (
        "quarterly_system_indicators",
        "single_agency_report",
        "agency_performance_report",
        "annual_report",
        "subgroup_chair_report",
    )


# ---------------------------------------------------------------------------------------
# what the validator rejects

VALID = """\
[workflow]
name = "x"
title = "X"
reference_prefix = "XX"
initial = "open"

[workflow.parameters.days]
default = 5

[workflow.parameters.basis]
default = "created"
choices = { created = "created", start = "activity:start_date" }

[open]
agencies = "optional"
inputs = { start_date = { type = "date", required = false } }

[states.open]
title = "Open"
[states.working]
title = "Working"
[states.done]
title = "Done"
final = true

[[transitions]]
trigger = "begin"
source = "open"
dest = "working"
creates = ["job"]
notify = [{ template = "job_requested", to = "agency" }]

[[transitions]]
trigger = "finish"
source = "working"
dest = "done"
guards = ["tasks_done:job"]

[tasks.job]
title = "Job"
assignee = "each_agency"
initial = "todo"

[tasks.job.states.todo]
title = "To do"
[tasks.job.states.finished]
title = "Finished"
final = true

[[tasks.job.transitions]]
trigger = "submit"
source = "todo"
dest = "finished"
roles = ["agency"]

[tasks.job.deadline]
unit = "working_days"
amount = "param:days"
basis = "param:basis"

[tasks.job.reminders]
before = [2]
before_template = "reminder"
"""


def mutate(old: str, new: str) -> str:
    assert VALID.count(old) == 1, old
    return VALID.replace(old, new)


def rejects(text: str, key: str, message: str) -> None:
    expected = re.escape(f"x.toml: key '{key}': {message}")
    with pytest.raises(DefinitionError, match=expected):
        parse_workflow(text, "x.toml")


def test_the_valid_base_loads() -> None:
    wf = parse_workflow(VALID, "x.toml")
    assert wf.name == "x"
    assert walk(wf, ["begin", "finish"]) == "done"


def test_rejects_malformed_toml() -> None:
    with pytest.raises(DefinitionError, match=re.escape("x.toml: malformed TOML")):
        parse_workflow(VALID + "\n[broken\n", "x.toml")


REJECTIONS = {
    "unknown top-level key": (
        "colour = 'red'\n" + VALID,
        "colour",
        "unknown key",
    ),
    "unknown key in a transition": (
        mutate('trigger = "begin"\n', 'trigger = "begin"\ncolour = "red"\n'),
        "transitions[0].colour",
        "unknown key",
    ),
    "unknown state in source": (
        mutate('source = "working"', 'source = "nowhere"'),
        "transitions[1] (finish).source",
        "unknown state 'nowhere'",
    ),
    "unknown state in dest": (
        mutate('dest = "done"', 'dest = "nowhere"'),
        "transitions[1] (finish).dest",
        "unknown state 'nowhere'",
    ),
    "unknown initial state": (
        mutate('initial = "open"', 'initial = "nowhere"'),
        "workflow.initial",
        "unknown state 'nowhere'",
    ),
    "unreachable state": (
        VALID + '[states.orphan]\ntitle = "Orphan"\n',
        "states.orphan",
        "unreachable state",
    ),
    "non-final dead end": (
        VALID
        + '[states.stuck]\ntitle = "Stuck"\n'
        + '[[transitions]]\ntrigger = "stall"\nsource = "open"\ndest = "stuck"\n',
        "states.stuck",
        "dead end",
    ),
    "trap cycle": (
        VALID
        + '[states.ping]\ntitle = "Ping"\n[states.pong]\ntitle = "Pong"\n'
        + '[[transitions]]\ntrigger = "go"\nsource = "open"\ndest = "ping"\n'
        + '[[transitions]]\ntrigger = "to_pong"\nsource = "ping"\ndest = "pong"\n'
        + '[[transitions]]\ntrigger = "to_ping"\nsource = "pong"\ndest = "ping"\n',
        "states.ping",
        "trap: no path from this state to a final state",
    ),
    "unknown guard": (
        mutate('"tasks_done:job"', '"psychic"'),
        "transitions[1] (finish).guards[0]",
        "unknown guard 'psychic'",
    ),
    "guard with an unknown task kind": (
        mutate('"tasks_done:job"', '"tasks_done:nothing"'),
        "transitions[1] (finish).guards[0]",
        "unknown task kind 'nothing'",
    ),
    "guard without its argument": (
        mutate('"tasks_done:job"', '"tasks_done"'),
        "transitions[1] (finish).guards[0]",
        "guard 'tasks_done' needs an argument",
    ),
    "duplicate trigger from the same source": (
        VALID + '[[transitions]]\ntrigger = "finish"\nsource = "working"\ndest = "open"\n',
        "transitions[2] (finish).trigger",
        "duplicate trigger 'finish' from state 'working' (also at transitions[1])",
    ),
    "unknown role": (
        mutate('roles = ["agency"]', 'roles = ["janitor"]'),
        "tasks.job.transitions[0] (submit).roles[0]",
        "unknown role 'janitor'",
    ),
    "unknown recipient": (
        mutate('to = "agency"', 'to = "everyone"'),
        "transitions[0] (begin).notify[0].to",
        "unknown recipient 'everyone'",
    ),
    "bad template name": (
        mutate('template = "job_requested"', 'template = "Job Requested!"'),
        "transitions[0] (begin).notify[0].template",
        "must be a lower-case name",
    ),
    "unknown effect": (
        mutate('guards = ["tasks_done:job"]', 'guards = ["tasks_done:job"]\neffects = ["explode"]'),
        "transitions[1] (finish).effects",
        "unknown effect 'explode'",
    ),
    "activity effect on a task transition": (
        mutate('roles = ["agency"]', 'roles = ["agency"]\neffects = ["spawn_action_plan"]'),
        "tasks.job.transitions[0] (submit).effects",
        "unknown effect 'spawn_action_plan' (allowed: reprogramme, ask_for_more_time)",
    ),
    "bad deadline unit": (
        mutate('unit = "working_days"', 'unit = "fortnights"'),
        "tasks.job.deadline.unit",
        "must be one of working_days, calendar_days, calendar_months, hours",
    ),
    "bad deadline direction": (
        mutate('unit = "working_days"', 'unit = "working_days"\ndirection = "sideways"'),
        "tasks.job.deadline.direction",
        "must be 'after' or 'before'",
    ),
    "basis naming an unknown task input": (
        mutate('basis = "param:basis"', 'basis = "task:due_date"'),
        "tasks.job.deadline.basis",
        "'task:due_date' names no input of the task kind",
    ),
    "basis of an unknown form": (
        mutate('basis = "param:basis"', 'basis = "yesterday"'),
        "tasks.job.deadline.basis",
        "must be one of created, activity:<field>, task:<field>, param:<name>",
    ),
    "reminders without a deadline": (
        mutate(
            '[tasks.job.deadline]\nunit = "working_days"\namount = "param:days"\n'
            'basis = "param:basis"\n',
            "",
        ),
        "tasks.job.reminders",
        "a task kind without a deadline cannot have reminders",
    ),
    "reminders before without a template": (
        mutate('before_template = "reminder"\n', ""),
        "tasks.job.reminders.before_template",
        "is required when 'before' lists reminders",
    ),
    "escalations out of order": (
        VALID
        + "escalations = [\n"
        + '  { after = 5, to = "agency_manager", template = "escalation_agency_manager" },\n'
        + '  { after = 5, to = "business_unit", template = "escalation_business_unit" },\n'
        + "]\n",
        "tasks.job.reminders.escalations[1].after",
        "escalations must come later one after another",
    ),
    "unknown parameter reference": (
        mutate('amount = "param:days"', 'amount = "param:weeks"'),
        "tasks.job.deadline.amount",
        "unknown parameter 'weeks' (parameters: days, basis, basis__choice)",
    ),
    "parameter default not among its choices": (
        mutate('default = "created"', 'default = "later"'),
        "workflow.parameters.basis.default",
        "'later' is not allowed (allowed: created, start)",
    ),
    "bad reference prefix": (
        mutate('reference_prefix = "XX"', 'reference_prefix = "x-1"'),
        "workflow.reference_prefix",
        "must be 2-8 capital letters or digits",
    ),
    "unknown input type": (
        mutate('{ type = "date", required = false }', '{ type = "colour" }'),
        "open.inputs.start_date.type",
        "unknown type 'colour'",
    ),
    "unknown agencies rule": (
        mutate('agencies = "optional"', 'agencies = "some"'),
        "open.agencies",
        "must be one of required, optional, none",
    ),
    "no final state": (
        mutate("final = true\n\n[[transitions]]", "\n[[transitions]]"),
        "states",
        "no state is final",
    ),
    "task kind nothing creates": (
        mutate('creates = ["job"]\n', ""),
        "tasks.job",
        "no transition creates this task kind",
    ),
    "chosen_agency task created by a transition": (
        mutate(
            'assignee = "each_agency"', 'assignee = "chosen_agency"\nadd_roles = ["coordinator"]'
        ),
        "transitions[0] (begin).creates",
        "task kind 'job' is added by hand",
    ),
    "completes a task kind without a complete_state": (
        mutate('guards = ["tasks_done:job"]', 'completes = ["job"]'),
        "transitions[1] (finish).completes",
        "'job' is not a task kind with a complete_state",
    ),
    "withdraw_open_tasks without withdrawn_state": (
        VALID
        + '[[transitions]]\ntrigger = "cancel"\nsource = "*"\ndest = "done"\n'
        + 'effects = ["withdraw_open_tasks"]\n',
        "tasks.job.withdrawn_state",
        "transition 'cancel' withdraws open tasks",
    ),
    "withdrawn_state that is not final": (
        mutate('initial = "todo"', 'initial = "todo"\nwithdrawn_state = "todo"'),
        "tasks.job.withdrawn_state",
        "must be a final state of the task, got 'todo'",
    ),
    "unreachable task state": (
        VALID + '[tasks.job.states.lost]\ntitle = "Lost"\nfinal = true\n',
        "tasks.job.states.lost",
        "unreachable state",
    ),
    # ------------------------------------------------------------------ an agency's people
    "task purpose that is not a contact purpose": (
        mutate('assignee = "each_agency"', 'assignee = "each_agency"\npurpose = "astrology"'),
        "tasks.job.purpose",
        "must be one of <purpose>, activity:<input> (purposes: lado, child_deaths, "
        "private_fostering, performance_data, training), got 'astrology'",
    ),
    "task purpose colleague": (
        mutate('assignee = "each_agency"', 'assignee = "each_agency"\npurpose = "colleague"'),
        "tasks.job.purpose",
        "must be one of <purpose>, activity:<input> (purposes: lado, child_deaths, "
        "private_fostering, performance_data, training), got 'colleague'",
    ),
    "task purpose that is not text": (
        mutate('assignee = "each_agency"', 'assignee = "each_agency"\npurpose = 3'),
        "tasks.job.purpose",
        "must be one of <purpose>, activity:<input> (purposes: lado, child_deaths, "
        "private_fostering, performance_data, training), got 3",
    ),
    "task purpose from an input that does not exist": (
        mutate('assignee = "each_agency"', 'assignee = "each_agency"\npurpose = "activity:who"'),
        "tasks.job.purpose",
        "'activity:who' names no choice input of [open.inputs]",
    ),
    "task purpose from an input that is not a choice": (
        mutate(
            'assignee = "each_agency"', 'assignee = "each_agency"\npurpose = "activity:start_date"'
        ),
        "tasks.job.purpose",
        "'activity:start_date' names no choice input of [open.inputs]",
    ),
    "task purpose from a choice that is not a purpose": (
        mutate(
            'assignee = "each_agency"', 'assignee = "each_agency"\npurpose = "activity:contact"'
        ).replace(
            'inputs = { start_date = { type = "date", required = false } }',
            'inputs = { start_date = { type = "date", required = false }, contact = { type = '
            '"choice", choices = ["lead", "lado", "astrology"], required = false } }',
        ),
        "open.inputs.contact.choices",
        "astrology: not a contact purpose (a task's purpose comes from this input; allowed: "
        "lead, lado, child_deaths, private_fostering, performance_data, training)",
    ),
    "task purpose on a business unit task": (
        mutate('assignee = "each_agency"', 'assignee = "business_unit"\npurpose = "lado"'),
        "tasks.job.purpose",
        "a task for the business unit has no agency contact",
    ),
    "recipient for a purpose that does not exist": (
        mutate('to = "agency"', 'to = "agency:astrology"'),
        "transitions[0] (begin).notify[0].to",
        "unknown recipient 'agency:astrology' (allowed: agency, agency_manager, "
        "activity_agencies, coordinator, managers, business_unit, agency:<purpose> (lado, "
        "child_deaths, private_fostering, performance_data, training))",
    ),
    "recipient for colleagues": (
        mutate('to = "agency"', 'to = "agency:colleague"'),
        "transitions[0] (begin).notify[0].to",
        "unknown recipient 'agency:colleague'",
    ),
    "recipient for no purpose": (
        mutate('to = "agency"', 'to = "agency:"'),
        "transitions[0] (begin).notify[0].to",
        "unknown recipient 'agency:'",
    ),
    "escalation to a purpose that does not exist": (
        VALID
        + 'escalations = [{ after = 5, to = "agency:astrology", template = "overdue_chaser" }]\n',
        "tasks.job.reminders.escalations[0].to",
        "unknown recipient 'agency:astrology'",
    ),
    "more time decided by an unknown role": (
        mutate(
            'basis = "param:basis"', 'basis = "param:basis"\nmore_time_decided_by = ["janitor"]'
        ),
        "tasks.job.deadline.more_time_decided_by[0]",
        "unknown role 'janitor'",
    ),
    "more time decided by nobody": (
        mutate('basis = "param:basis"', 'basis = "param:basis"\nmore_time_decided_by = []'),
        "tasks.job.deadline.more_time_decided_by",
        "must name at least one role",
    ),
    "more time decided by the agency asking": (
        mutate(
            'basis = "param:basis"',
            'basis = "param:basis"\nmore_time_decided_by = ["coordinator", "agency"]',
        ),
        "tasks.job.deadline.more_time_decided_by[1]",
        "'agency' cannot decide on a request for more time",
    ),
    "more time decided by the system": (
        mutate('basis = "param:basis"', 'basis = "param:basis"\nmore_time_decided_by = ["system"]'),
        "tasks.job.deadline.more_time_decided_by[0]",
        "'system' cannot decide on a request for more time",
    ),
    "ask_for_more_time without a requested date": (
        mutate('roles = ["agency"]', 'roles = ["agency"]\neffects = ["ask_for_more_time"]'),
        "tasks.job.transitions[0] (submit).effects",
        "'ask_for_more_time' needs a required date input named requested_date",
    ),
    "ask_for_more_time with a requested date that may be left out": (
        mutate(
            'roles = ["agency"]',
            'roles = ["agency"]\neffects = ["ask_for_more_time"]\n'
            'inputs = { requested_date = { type = "date", required = false } }',
        ),
        "tasks.job.transitions[0] (submit).effects",
        "'ask_for_more_time' needs a required date input named requested_date",
    ),
    "ask_for_more_time with a requested date that is not a date": (
        mutate(
            'roles = ["agency"]',
            'roles = ["agency"]\neffects = ["ask_for_more_time"]\n'
            'inputs = { requested_date = { type = "text" } }',
        ),
        "tasks.job.transitions[0] (submit).effects",
        "'ask_for_more_time' needs a required date input named requested_date",
    ),
    "ask_for_more_time on an activity transition": (
        mutate(
            'guards = ["tasks_done:job"]',
            'guards = ["tasks_done:job"]\neffects = ["ask_for_more_time"]',
        ),
        "transitions[1] (finish).effects",
        "unknown effect 'ask_for_more_time'",
    ),
}


PEOPLE = (
    mutate('assignee = "each_agency"', 'assignee = "each_agency"\npurpose = "activity:contact"')
    .replace(
        'inputs = { start_date = { type = "date", required = false } }',
        'inputs = { start_date = { type = "date", required = false }, contact = { type = '
        '"choice", choices = ["lead", "lado", "training"], required = false } }',
    )
    .replace('to = "agency"', 'to = "agency:lado"')
    .replace(
        'basis = "param:basis"',
        'basis = "param:basis"\nmore_time_decided_by = ["manager", "agency_manager"]',
    )
    .replace(
        'roles = ["agency"]',
        'roles = ["agency"]\neffects = ["ask_for_more_time"]\n'
        'inputs = { requested_date = { type = "date" } }',
    )
)


def test_an_agencys_people_keys_load() -> None:
    wf = parse_workflow(PEOPLE, "x.toml")
    job = wf.tasks["job"]
    assert job.purpose == "activity:contact"
    assert job.deadline is not None
    assert job.deadline.more_time_decided_by == ("manager", "agency_manager")
    assert [n.to for n in wf.transitions[0].notify] == ["agency:lado"]
    assert job.transitions[0].effects == ("ask_for_more_time",)
    # a purpose named outright, and the default deciders
    plain = parse_workflow(
        mutate('assignee = "each_agency"', 'assignee = "each_agency"\npurpose = "lado"'), "x.toml"
    )
    assert plain.tasks["job"].purpose == "lado"
    assert plain.tasks["job"].deadline is not None
    assert plain.tasks["job"].deadline.more_time_decided_by == ("coordinator", "manager")
    assert parse_workflow(VALID, "x.toml").tasks["job"].purpose is None


def test_shipped_report_returns_go_to_the_chosen_contact(shipped: dict[str, Workflow]) -> None:
    wf = shipped["agency_request"]
    (contact,) = [i for i in wf.open_inputs if i.name == "contact"]
    assert (contact.type, contact.required) == ("choice", False)
    for name in ("agency_return", "challenge_response"):
        kind = wf.tasks[name]
        assert kind.purpose == "activity:contact"
        assert kind.deadline is not None
    deadline = wf.tasks["agency_return"].deadline
    assert deadline is not None
    assert deadline.more_time_decided_by == ("coordinator", "manager", "agency_manager")
    # every agency's request for more time is kept for a decision
    for flow in shipped.values():
        for kind in flow.tasks.values():
            for t in kind.transitions:
                if t.trigger == "request_extension":
                    assert t.effects == ("ask_for_more_time",), (flow.name, kind.name)


@pytest.mark.parametrize("case", REJECTIONS, ids=list(REJECTIONS))
def test_validator_rejects(case: str) -> None:
    text, key, message = REJECTIONS[case]
    rejects(text, key, message)


def test_parameter_override_not_among_choices_names_the_config_key() -> None:
    expected = re.escape(
        "config.toml: key 'workflow_parameters.x.basis': 'later' is not allowed "
        "(allowed: created, start)"
    )
    with pytest.raises(ConfigError, match=expected):
        parse_workflow(VALID, "x.toml", {"basis": "later"}, config_origin="config.toml")


def test_shipped_parameter_override_not_among_choices() -> None:
    expected = re.escape(
        "config.toml: key 'workflow_parameters.practice_review.rapid_review_basis': "
        "'incident' is not allowed (allowed: awareness, notification)"
    )
    with pytest.raises(ConfigError, match=expected):
        load_file(
            WORKFLOWS / "practice_review.toml",
            {"rapid_review_basis": "incident"},
            config_origin="config.toml",
        )


def test_unknown_parameter_override() -> None:
    expected = re.escape(
        "config.toml: key 'workflow_parameters.x.weeks': unknown parameter (allowed: days, basis)"
    )
    with pytest.raises(ConfigError, match=expected):
        parse_workflow(VALID, "x.toml", {"weeks": 2}, config_origin="config.toml")


def test_parameter_override_of_the_wrong_type() -> None:
    expected = re.escape("config.toml: key 'workflow_parameters.x.days': expected int, got '5'")
    with pytest.raises(ConfigError, match=expected):
        parse_workflow(VALID, "x.toml", {"days": "5"}, config_origin="config.toml")


def test_file_name_must_match_workflow_name(tmp_path: Path) -> None:
    path = tmp_path / "other.toml"
    path.write_text(VALID, encoding="utf-8")
    expected = re.escape(f"{path}: key 'workflow.name': 'x' must match the file name 'other'")
    with pytest.raises(DefinitionError, match=expected):
        load_file(path)
    good = tmp_path / "x.toml"
    good.write_text(VALID, encoding="utf-8")
    assert load_file(good).name == "x"


def test_missing_file_is_a_definition_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(DefinitionError, match=re.escape(f"{path}: cannot read")):
        load_file(path)


# ---------------------------------------------------------------------------------------
# versions


def test_same_source_gives_the_same_version() -> None:
    first = parse_workflow(VALID, "x.toml")
    second = parse_workflow(VALID, "elsewhere.toml")
    assert first.version == second.version
    # overriding a parameter with its default changes nothing
    assert parse_workflow(VALID, "x.toml", {"days": 5}).version == first.version


def test_parameters_change_the_version() -> None:
    base = parse_workflow(VALID, "x.toml").version
    days = parse_workflow(VALID, "x.toml", {"days": 6})
    basis = parse_workflow(VALID, "x.toml", {"basis": "start"})
    assert len({base, days.version, basis.version}) == 3
    job = basis.tasks["job"].deadline
    assert job is not None
    assert job.basis == "activity:start_date"
    assert days.tasks["job"].deadline is not None
    assert days.tasks["job"].deadline.amount == 6


def test_source_changes_change_the_version() -> None:
    base = parse_workflow(VALID, "x.toml").version
    assert parse_workflow("# a comment\n" + VALID, "x.toml").version != base


def test_pinned_version_rebuilds_with_its_parameter_choices() -> None:
    wf = load_file(WORKFLOWS / "practice_review.toml", {"rapid_review_basis": "notification"})
    registry = Registry(WORKFLOWS)
    pinned = registry.pinned(wf.name, wf.version, wf.source, wf.parameters)
    assert pinned.version == wf.version
    assert pinned.parameters == wf.parameters
    deadline = pinned.tasks["rapid_review"].deadline
    assert deadline is not None
    assert deadline.basis == "activity:notification_date"
    assert registry.pinned(wf.name, wf.version, wf.source, wf.parameters) is pinned


# ---------------------------------------------------------------------------------------
# the documentation of the format

DOCS = ROOT / "docs" / "workflows.md"


def test_documented_example_loads(tmp_path: Path) -> None:
    text = DOCS.read_text(encoding="utf-8")
    example = re.search(r"```toml\n(.*?)```", text, re.DOTALL)
    assert example is not None
    path = tmp_path / "data_request.toml"
    path.write_text(example.group(1), encoding="utf-8")
    wf = load_file(path)
    assert walk(wf, ["issue_request", "close"]) == "closed"


def test_documentation_names_every_allowed_value() -> None:
    text = DOCS.read_text(encoding="utf-8")
    allowed = [
        *definitions.INPUT_TYPES,
        *definitions.UNITS,
        *definitions.ASSIGNEES,
        *definitions.RECIPIENTS,
        *definitions.ACTIVITY_EFFECTS,
        *definitions.TASK_EFFECTS,
        *definitions.AGENCY_RULES,
        *ROLES,
        *GUARDS,
    ]
    missing = [v for v in allowed if not re.search(rf"[`\"]{re.escape(v)}[`\":]", text)]
    assert missing == []


# ---------------------------------------------------------------------------------------
# who can get past a guard: `sef workflows check` fails a workflow offering a role a
# transition whose guard only another role can satisfy, with no way to ask them


def _unreachable_sign_off(tmp_path: Path) -> Path:
    """The shipped action plan, but a manager can no longer send an action back: the
    manager's sign-off waits on evidence of impact only the agency (or a coordinator) can
    give, and nothing lets the manager ask for it."""
    folder = tmp_path / "workflows"
    folder.mkdir()
    text = (WORKFLOWS / "action_plan.toml").read_text(encoding="utf-8")
    old = (
        'trigger = "send_back"\ntitle = "Not yet: send back to the agency"\n'
        'source = "completion_submitted"\ndest = "in_progress"\nroles = ["coordinator", "manager"]'
    )
    assert old in text
    (folder / "action_plan.toml").write_text(
        text.replace(old, old.replace('["coordinator", "manager"]', '["coordinator"]')),
        encoding="utf-8",
    )
    return folder


def test_workflows_check_fails_on_a_guard_the_role_cannot_get_past(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sef_workflow.cli import main

    folder = _unreachable_sign_off(tmp_path)
    config = tmp_path / "sef.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "sef.db"}"\n'
        f'[workflows]\ndirectory = "{folder}"\ntemplates = "{ROOT / "notifications"}"\n'
        f'forms = "{ROOT / "forms"}"\n',
        encoding="utf-8",
    )
    env = {k: None for k in os.environ if k.startswith("SEF_")}
    result = CliRunner().invoke(
        main, ["workflows", "check"], env={**env, "SEF_CONFIG": str(config)}, prog_name="sef"
    )
    assert result.exit_code == 9, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {folder / 'action_plan.toml'}: key ")
    assert "'tasks.action.transitions[6] (sign_off).guards[0]'" in line
    assert "role 'manager' is offered 'sign_off' from 'completion_submitted'" in line
    assert (
        "only agency, coordinator can satisfy its guard 'task_has:evidence_of_completion'" in line
    )
    assert "no transition lets manager ask them" in line
    # the shipped file, with its send_back open to managers, passes
    with pytest.raises(DefinitionError, match=r"sign_off\).guards\[0\]"):
        load_file(folder / "action_plan.toml")
    assert load_file(WORKFLOWS / "action_plan.toml").name == "action_plan"


def test_a_guard_nobody_can_satisfy_is_rejected(tmp_path: Path) -> None:
    text = (WORKFLOWS / "themed_audit.toml").read_text(encoding="utf-8")
    old = 'guards = ["tasks_done:audit_return"]'
    assert old in text
    path = tmp_path / "themed_audit.toml"
    path.write_text(text.replace(old, 'guards = ["activity_has:chair_name"]'), encoding="utf-8")
    with pytest.raises(DefinitionError) as refused:
        load_file(path)
    assert "key 'transitions[2] (convene_meeting).guards[0]'" in str(refused.value)
    assert "nobody can ever satisfy guard 'activity_has:chair_name'" in str(refused.value)
    # a guard on the transition's own input is satisfied by its form
    path.write_text(text.replace(old, 'guards = ["activity_has:meeting_date"]'), encoding="utf-8")
    assert load_file(path).name == "themed_audit"


def test_shipped_workflows_let_every_role_past_every_guard(shipped: dict[str, Workflow]) -> None:
    """Every guarded transition of the shipped files: its roles satisfy the guard, or are
    given a way to ask (the action plan's sign-off asks through send_back)."""
    from sef_workflow.definitions import ask_for, covers, need_of

    wf = shipped["action_plan"]
    kind = wf.tasks["action"]
    sign_off = kind.transition_for("sign_off", "completion_submitted")
    assert sign_off is not None
    need = need_of(wf, kind, sign_off, "task_has:evidence_of_impact")
    assert (need.field, set(need.roles)) == ("evidence_of_impact", {"agency", "coordinator"})
    assert not covers(need.roles, "manager")
    asked = ask_for(
        kind,
        sign_off,
        "completion_submitted",
        need,
        lambda roles: "manager" in roles,
        ["agency"],
    )
    assert asked is not None
    assert asked.trigger == "send_back"
