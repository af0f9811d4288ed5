"""The deadlines a new activity's first request would get, counted as the service counts
them, for the page that opens an activity."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from ..calendar import compute_due, describe_remaining, format_date
from ..definitions import DeadlineDef, InputSpec, Workflow
from .state import WebState


@dataclass(frozen=True)
class PreviewLine:
    """One task kind's deadline in the preview: its due date (None if not yet known)."""

    title: str
    due: str | None
    detail: str


@dataclass(frozen=True)
class DeadlinePreview:
    heading: str
    lines: list[PreviewLine]


def deadline_preview(
    web: WebState, wf: Workflow, values: Mapping[str, str]
) -> DeadlinePreview | None:
    """The deadlines the workflow's first request would get, counted as the service does.

    The first request is what opening creates, or else the first transition that creates
    tasks; a deadline counted from an opening date uses the date typed in ``values``.
    """
    issue_inputs: tuple[InputSpec, ...] = ()
    if wf.open_creates:
        kinds, heading = wf.open_creates, "If opened now"
    else:
        first = next((t for t in wf.transitions if t.creates), None)
        if first is None:
            return None
        kinds = first.creates
        heading = f"If opened today and issued now (“{first.title}”)"
        issue_inputs = first.inputs
    now = web.now()
    open_specs = {s.name: s for s in wf.open_inputs}
    lines: list[PreviewLine] = []
    for name in kinds:
        kind = wf.tasks[name]
        d = kind.deadline
        if d is None:
            lines.append(PreviewLine(kind.title, None, "no deadline"))
            continue
        rule = rule_text(d)
        source, _, field_name = d.basis.partition(":")
        basis: datetime | None = None
        note = ""
        if d.basis == "created":
            basis = now
        elif source == "activity" and field_name in open_specs:
            label = open_specs[field_name].label
            raw = str(values.get(f"in_{field_name}") or "").strip()
            if not raw:
                note = f"due {rule} “{label}”: enter it and choose “Preview deadlines”"
            else:
                try:
                    basis = datetime.combine(
                        date.fromisoformat(raw), datetime.min.time(), tzinfo=web.cal.tz
                    )
                except ValueError:
                    note = f"due {rule} “{label}”, but “{raw}” is not a date"
        else:
            specs = {s.name: s for s in (*issue_inputs, *kind.inputs)}
            label = specs[field_name].label if field_name in specs else field_name
            when = "given for each one" if source == "task" else "given when it is issued"
            note = f"due {rule} the “{label}” {when}"
        if basis is None:
            lines.append(PreviewLine(kind.title, None, note))
            continue
        due = compute_due(d.rule(), basis, web.cal)
        left = describe_remaining(due, now, web.cal)
        lines.append(
            PreviewLine(kind.title, format_date(due.on), f"{left}; {rule} {basis_text(d)}")
        )
    return DeadlinePreview(heading, lines)


def rule_text(d: DeadlineDef) -> str:
    """``"20 working days after"``, ``"5 working days before"``, ``"on"`` (amount 0)."""
    if d.amount == 0 and d.unit != "hours":
        return "on"
    unit = d.unit.replace("_", " ")
    if d.amount == 1:
        unit = unit.removesuffix("s")
    return f"{d.amount} {unit} {d.direction}"


def basis_text(d: DeadlineDef) -> str:
    return "issue" if d.basis == "created" else "the date given"
