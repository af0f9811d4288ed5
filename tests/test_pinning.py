"""Activities stay on the definition they started on when a workflow file is edited."""

from __future__ import annotations

import shutil
from pathlib import Path

from sef_workflow.calendar import WorkingCalendar
from sef_workflow.clock import FakeClock
from sef_workflow.db import Database
from sef_workflow.definitions import Registry
from sef_workflow.service import Actor, Service

from .conftest import COORDINATOR, FICTIONAL_AGENCIES, WORKFLOWS


def test_editing_a_workflow_never_breaks_running_activities(
    database: Database, tmp_path: Path, calendar: WorkingCalendar, clock: FakeClock
) -> None:
    folder = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS, folder)
    old = Service(database, Registry(folder), calendar, clock)
    old.import_agencies(Actor.system(), FICTIONAL_AGENCIES)
    ref_old = old.open_activity(
        COORDINATOR, "themed_audit", "Before the edit (fictional)", ["POL"], {"theme": "Neglect"}
    ).activity.ref

    # The business unit renames a state and drops the sampling step.
    path = folder / "themed_audit.toml"
    text = path.read_text()
    text = text.replace(
        'source = "sampling"\ndest = "awaiting_returns"',
        'source = "planning"\ndest = "awaiting_returns"',
    )
    text = text.replace(
        '[[transitions]]\ntrigger = "sample_cases"', '[[transitions]]\ntrigger = "pick_cases"'
    )
    text = text.replace(
        '[states.sampling]\ntitle = "Cases sampled"', '[states.sampling]\ntitle = "Sample chosen"'
    )
    path.write_text(text)

    new = Service(database, Registry(folder), calendar, clock)  # a restart after the edit
    assert new.registry.get("themed_audit").version != old.registry.get("themed_audit").version
    ref_new = new.open_activity(
        COORDINATOR, "themed_audit", "After the edit (fictional)", ["POL"], {"theme": "Neglect"}
    ).activity.ref

    # The running activity still follows the old definition...
    out = new.fire(COORDINATOR, ref_old, "sample_cases", {"sample_size": 3})
    assert out.to_state == "sampling"
    # ...and the new one follows the edited file.
    assert new.get_activity(ref_new)[1].allowed_triggers("planning")[:2] == [
        "pick_cases",
        "issue_audit_tools",
    ]
    old_activity, old_wf, *_ = new.get_activity(ref_old)
    new_activity, new_wf, *_ = new.get_activity(ref_new)
    assert old_activity.definition_id != new_activity.definition_id
    assert old_wf.states["sampling"].title == "Cases sampled"
    assert new_wf.states["sampling"].title == "Sample chosen"
