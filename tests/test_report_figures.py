"""The four-questions report: every figure of a small hand-made dataset, on both databases.

The dataset is written straight into the tables, so each figure is known in advance. All
people and organisations are fictional. The main period is the reporting year 1 April 2026
to 31 March 2027: both ends fall in British Summer Time, so local midnight is 23:00 UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from sef_workflow.calendar import WorkingCalendar
from sef_workflow.db import Database
from sef_workflow.definitions import Registry
from sef_workflow.errors import InvalidInput, NotFound
from sef_workflow.forms import FormRegistry
from sef_workflow.models import (
    Activity,
    Agency,
    Assessment,
    AssessmentAnswer,
    Event,
    Finding,
    FormDefinition,
    Task,
    WorkflowDefinition,
)
from sef_workflow.reports.figures import build_report, reporting_year
from sef_workflow.reports.model import Chart, Colour, Rated, Report, Series

FORMS = Path(__file__).resolve().parent.parent / "forms"
START, END = date(2026, 4, 1), date(2027, 3, 31)
NOW = datetime(2027, 4, 2, 9, 0, tzinfo=UTC)
BU = "business.unit@northshire-scp.example"

ALDER = "Alderbrook Police (fictional)"
BIRCH = "Birchfield Health Trust (fictional)"
CEDAR = "Cedarvale Children's Services (fictional)"

STANDARDS = [
    "1. Senior management commitment…",
    "2. Clear statement of responsibilities…",
    "3. Listening to children: their views shape…",
    "4. Safeguarding training and supervision",
    "5. Safer recruitment and managing…",
    "6. Effective inter-agency working",
    "7. Information sharing",
    "8. Policies, procedures and learning…",
]
NOT_RATED = Rated("not rated", "grey")
NOT_MODERATED = Rated("not moderated", "grey")
NONE = Rated("—", "none")


def at(y: int, m: int, d: int, h: int = 12, mi: int = 0, s: int = 0) -> datetime:
    """A moment in UTC."""
    return datetime(y, m, d, h, mi, s, tzinfo=UTC)


@pytest.fixture
def forms() -> FormRegistry:
    return FormRegistry(FORMS)


# ---------------------------------------------------------------------------------------
# writing the dataset


@dataclass
class Seeder:
    db: Database
    registry: Registry
    forms: FormRegistry
    definitions: dict[str, int] = field(default_factory=dict)
    form_definitions: dict[str, int] = field(default_factory=dict)
    agencies: dict[str, int] = field(default_factory=dict)

    def add(self, row: Any) -> int:
        with self.db.write() as session:
            session.add(row)
            session.flush()
            assert row.id is not None
            ident: int = row.id
        return ident

    def definition(self, name: str) -> int:
        if name not in self.definitions:
            try:
                wf = self.registry.get(name)
                row = WorkflowDefinition(
                    name=wf.name,
                    version=wf.version,
                    source=wf.source,
                    parameters=dict(wf.parameters),
                    created_at=at(2024, 1, 1),
                )
            except NotFound:  # a workflow file that no longer exists
                row = WorkflowDefinition(
                    name=name,
                    version="retired",
                    source="",
                    parameters={},
                    created_at=at(2024, 1, 1),
                )
            self.definitions[name] = self.add(row)
        return self.definitions[name]

    def form_definition(self, name: str) -> int:
        if name not in self.form_definitions:
            form = self.forms.get(name)
            self.form_definitions[name] = self.add(
                FormDefinition(
                    name=form.name,
                    version=form.version,
                    source=form.source,
                    created_at=at(2024, 1, 1),
                )
            )
        return self.form_definitions[name]

    def agency(self, code: str, name: str, sector: str, active: bool = True) -> int:
        self.agencies[code] = self.add(
            Agency(
                code=code,
                name=name,
                sector=sector,
                lead_name=f"Lead {code}",
                lead_email=f"lead@{code.lower()}.northshire.example",
                active=active,
            )
        )
        return self.agencies[code]

    def activity(
        self,
        ref: str,
        workflow: str,
        opened_at: datetime,
        *,
        closed_at: datetime | None = None,
        state: str = "open",
        parent_id: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> int:
        return self.add(
            Activity(
                ref=ref,
                workflow=workflow,
                definition_id=self.definition(workflow),
                state=state,
                title=f"Fictional {workflow} {ref}",
                data=data or {},
                opened_by=BU,
                opened_at=opened_at,
                updated_at=closed_at or opened_at,
                closed_at=closed_at,
                parent_id=parent_id,
            )
        )

    def task(
        self,
        activity_id: int,
        kind: str,
        category: str,
        created_at: datetime,
        *,
        agency: str | None = None,
        is_open: bool = True,
        answered_at: datetime | None = None,
        late: int | None = None,
        status: str = "running",
        due_on: date | None = None,
        reminders: int = 0,
        escalations: int = 0,
        data: dict[str, Any] | None = None,
        finding_id: int | None = None,
    ) -> int:
        return self.add(
            Task(
                activity_id=activity_id,
                kind=kind,
                agency_id=self.agencies[agency] if agency else None,
                state="open" if is_open else "closed",
                is_open=is_open,
                title=f"Fictional {kind}",
                data=data or {},
                created_at=created_at,
                updated_at=answered_at or created_at,
                deadline_status=status,
                due_on=due_on,
                original_due_on=due_on,
                category=category,
                answered_at=answered_at,
                late_working_days=late,
                reminders_sent=reminders,
                escalations_sent=escalations,
                finding_id=finding_id,
            )
        )

    def event(self, activity_id: int, task_id: int, moment: datetime, kind: str) -> None:
        self.add(
            Event(
                activity_id=activity_id,
                task_id=task_id,
                at=moment,
                actor="manager@northshire-scp.example",
                actor_role="manager",
                kind=kind,
            )
        )

    def finding(self, activity_id: int, kind: str, created_at: datetime) -> int:
        return self.add(
            Finding(
                activity_id=activity_id,
                kind=kind,
                text=f"Fictional {kind}",
                created_at=created_at,
                created_by=BU,
            )
        )

    def assessment(
        self,
        activity_id: int,
        form_name: str,
        scale: str,
        stage: str,
        submitted_at: datetime | None,
        answers: dict[str, tuple[str | None, int | None, int | None]],
        *,
        agency: str | None = None,
        task_id: int | None = None,
    ) -> int:
        """``answers``: question -> (rating, score, moderated score)."""
        form = self.forms.get(form_name)
        assessment_id = self.add(
            Assessment(
                activity_id=activity_id,
                task_id=task_id,
                agency_id=self.agencies[agency] if agency else None,
                form_definition_id=self.form_definition(form_name),
                form_name=form_name,
                scale=scale,
                stage=stage,
                status="submitted" if submitted_at is not None else "draft",
                created_at=submitted_at or at(2026, 5, 1),
                updated_at=submitted_at or at(2026, 5, 1),
                submitted_at=submitted_at,
            )
        )
        with self.db.write() as session:
            for number, (rating, score, moderated) in answers.items():
                session.add(
                    AssessmentAnswer(
                        assessment_id=assessment_id,
                        question=number,
                        standard=form.question(number).standard,
                        rating=rating,
                        score=score,
                        updated_at=at(2026, 5, 1),
                        updated_by=BU,
                        moderated_rating=None if moderated is None else str(moderated),
                        moderated_score=moderated,
                    )
                )
        return assessment_id


def s11(
    *scores: tuple[str, int, int | None],
) -> dict[str, tuple[str | None, int | None, int | None]]:
    """Section 11 answers on the 0–3 scale: (question, self score, moderated score)."""
    return {q: (str(score), score, moderated) for q, score, moderated in scores}


def judgements(
    *levels: tuple[str, str, int],
) -> dict[str, tuple[str | None, int | None, int | None]]:
    return {q: (key, score, None) for q, key, score in levels}


def seed(db: Database, registry: Registry, forms: FormRegistry) -> Seeder:
    s = Seeder(db, registry, forms)
    s.agency("ALD", ALDER, "police")
    s.agency("BIR", BIRCH, "health")
    s.agency("CED", CEDAR, "local_authority")
    s.agency("DUN", "Dunmore Academy Trust (fictional)", "education", active=False)
    s.agency("ELM", "Elmstead Housing (fictional)", "housing")  # no figure anywhere

    # activities --------------------------------------------------------------------
    audit = s.activity("MAA-2026-001", "themed_audit", at(2026, 4, 10))
    old_audit = s.activity(
        "MAA-2026-002", "themed_audit", at(2026, 2, 1), closed_at=at(2026, 6, 1), state="closed"
    )
    review = s.activity("CSPR-2026-001", "practice_review", at(2026, 5, 1))
    s11_old = s.activity(
        "S11-2024-001", "section11", at(2024, 9, 1), closed_at=at(2025, 9, 1), state="closed"
    )
    s11_now = s.activity(
        "S11-2026-001", "section11", at(2026, 4, 15), data={"previous_cycle": "S11-2024-001"}
    )
    s11_next = s.activity("S11-2027-001", "section11", at(2027, 3, 1))
    plan_audit = s.activity("AP-2026-001", "action_plan", at(2026, 6, 1), parent_id=audit)
    plan_inspection = s.activity(
        "AP-2026-002", "action_plan", at(2026, 3, 1), data={"origin": "inspection"}
    )
    plan_other = s.activity(
        "AP-2026-003",
        "action_plan",
        at(2026, 7, 1),
        closed_at=at(2026, 8, 1),
        state="cancelled",
        data={"origin": "other"},
    )
    request = s.activity(
        "REQ-2026-001", "agency_request", at(2026, 4, 20), closed_at=at(2027, 2, 1), state="closed"
    )
    # 00:00 on 1 April 2027 in London (BST): after the period
    s.activity("REQ-2027-001", "agency_request", at(2027, 3, 31, 23, 0))
    # 23:59 on 31 March 2026 in London (BST): before the period, still open
    s.activity("REQ-2026-000", "agency_request", at(2026, 3, 31, 22, 59))
    s.activity("FV-2026-001", "frontline_visit", at(2026, 9, 1))

    # requests: audit returns, Section 11 returns, a data request ------------------------
    s.task(
        audit,
        "audit_return",
        "request",
        at(2026, 4, 12),
        agency="ALD",
        is_open=False,
        answered_at=at(2026, 5, 1),
        late=0,
        status="met",
        reminders=1,
    )
    s.task(
        audit,
        "audit_return",
        "request",
        at(2026, 4, 12),
        agency="BIR",
        is_open=False,
        answered_at=at(2026, 5, 8),
        late=3,
        status="met",
        reminders=3,
        escalations=1,
    )
    s.task(
        audit, "audit_return", "request", at(2026, 4, 12), agency="CED", reminders=2, escalations=1
    )
    r_ald = s.task(
        s11_now,
        "s11_return",
        "request",
        at(2026, 4, 16),
        agency="ALD",
        is_open=False,
        answered_at=at(2026, 6, 10),
        late=0,
        status="met",
    )
    r_bir = s.task(
        s11_now,
        "s11_return",
        "request",
        at(2026, 4, 16),
        agency="BIR",
        is_open=False,
        answered_at=at(2026, 6, 20),
        late=5,
        status="met",
        reminders=2,
        escalations=1,
    )
    r_ced = s.task(
        s11_now,
        "s11_return",
        "request",
        at(2026, 4, 16),
        agency="CED",
        is_open=False,
        answered_at=at(2026, 6, 12),
        late=1,
        status="met",
        reminders=1,
    )
    # deadline waived: received, but not counted on time or late
    s.task(
        request,
        "agency_return",
        "request",
        at(2026, 4, 21),
        agency="BIR",
        is_open=False,
        answered_at=at(2026, 5, 5),
        status="waived",
    )
    # created a minute before the period (23:59 BST), answered at its first instant
    s.task(
        request,
        "agency_return",
        "request",
        at(2026, 3, 31, 22, 59),
        agency="ALD",
        is_open=False,
        answered_at=at(2026, 3, 31, 23, 0),
        late=0,
        status="met",
    )
    # created in the last minute of the period, answered at the first instant after it
    s.task(
        request,
        "agency_return",
        "request",
        at(2027, 3, 31, 22, 59),
        agency="CED",
        is_open=False,
        answered_at=at(2027, 3, 31, 23, 0),
        late=2,
        status="met",
        reminders=4,
        escalations=2,
    )

    # statutory steps of the practice review ---------------------------------------------
    s.task(
        review,
        "panel_notification",
        "statutory",
        at(2026, 5, 1),
        is_open=False,
        answered_at=at(2026, 5, 12),
        late=2,
        status="met",
        due_on=date(2026, 5, 8),
    )
    s.task(
        review,
        "rapid_review",
        "statutory",
        at(2026, 5, 1),
        is_open=False,
        answered_at=at(2026, 5, 20),
        late=0,
        status="met",
        due_on=date(2026, 5, 22),
    )
    s.task(review, "publication", "statutory", at(2026, 9, 1), due_on=date(2027, 3, 20))
    s.task(review, "panel_report", "statutory", at(2027, 3, 1), due_on=date(2027, 3, 31))
    s.task(
        review,
        "rapid_review",
        "statutory",
        at(2026, 8, 1),
        is_open=False,
        status="waived",
        due_on=date(2026, 9, 1),
    )
    s.task(
        review,
        "panel_notification",
        "statutory",
        at(2026, 3, 20),
        is_open=False,
        answered_at=at(2026, 3, 25),
        late=0,
        status="met",
        due_on=date(2026, 3, 31),
    )

    # findings --------------------------------------------------------------------------
    f1 = s.finding(audit, "finding", at(2026, 5, 20))
    f2 = s.finding(audit, "recommendation", at(2026, 5, 20))
    s.finding(review, "recommendation", at(2026, 6, 15))
    f4 = s.finding(s11_now, "finding", at(2026, 3, 31, 22, 30))  # 23:30 BST: before
    f5 = s.finding(audit, "finding", at(2026, 9, 1))

    # actions -----------------------------------------------------------------------------
    impact = {"evidence_of_completion": "Fictional minutes", "evidence_of_impact": "Fictional"}
    s.task(
        plan_audit,
        "action",
        "action",
        at(2026, 6, 2),
        agency="ALD",
        is_open=False,
        answered_at=at(2026, 7, 1),
        late=0,
        status="met",
        due_on=date(2026, 7, 1),
        data=impact,
        finding_id=f1,
    )
    s.task(
        plan_audit,
        "action",
        "action",
        at(2026, 6, 2),
        agency="ALD",
        answered_at=at(2026, 9, 15),
        late=4,
        status="met",
        due_on=date(2026, 9, 9),
        data=impact,
        finding_id=f2,
    )
    reprogrammed = s.task(
        plan_inspection,
        "action",
        "action",
        at(2026, 3, 2),
        agency="BIR",
        is_open=False,
        answered_at=at(2026, 10, 1),
        late=0,
        status="met",
        due_on=date(2026, 10, 1),
        data={"evidence_of_completion": "Fictional", "evidence_of_impact": "   "},
    )
    overdue = s.task(
        plan_inspection, "action", "action", at(2026, 3, 2), agency="BIR", due_on=date(2026, 12, 1)
    )
    s.task(
        plan_audit,
        "action",
        "action",
        at(2026, 6, 2),
        agency="CED",
        due_on=date(2027, 6, 1),
        finding_id=f4,
    )
    s.task(
        plan_audit,
        "action",
        "action",
        at(2026, 6, 2),
        agency="CED",
        answered_at=at(2027, 3, 31, 23, 0),
        late=0,
        status="met",
        due_on=date(2027, 4, 1),
        data=impact,
        finding_id=f5,
    )
    s.task(
        plan_other,
        "action",
        "action",
        at(2026, 7, 2),
        agency="CED",
        is_open=False,
        answered_at=at(2026, 7, 20),
        status="waived",
        data=impact,
    )
    s.task(
        plan_audit,
        "action",
        "action",
        at(2025, 12, 1),
        agency="ALD",
        is_open=False,
        answered_at=at(2026, 2, 1),
        late=0,
        status="met",
        due_on=date(2026, 2, 1),
    )
    s.event(plan_inspection, reprogrammed, at(2026, 6, 1), "deadline_reprogrammed")
    s.event(plan_inspection, reprogrammed, at(2026, 8, 1), "deadline_reprogrammed")
    s.event(plan_inspection, overdue, at(2026, 11, 1), "deadline_reprogrammed")
    s.event(plan_inspection, overdue, at(2026, 3, 31, 22, 0), "deadline_reprogrammed")
    s.event(plan_inspection, overdue, at(2026, 11, 2), "deadline_extended")

    # Section 11: the cycle in the period and the one before ---------------------------
    s.assessment(
        s11_now,
        "section11",
        "zero_to_three",
        "return",
        at(2026, 6, 10),
        s11(("1.1", 2, 2), ("1.2", 3, 2), ("1.3", 2, 3), ("2.1", 1, 1), ("2.2", 2, 1)),
        agency="ALD",
        task_id=r_ald,
    )
    s.assessment(
        s11_now,
        "section11",
        "zero_to_three",
        "return",
        at(2026, 6, 20),
        s11(("1.1", 3, 1), ("1.2", 2, 1), ("1.3", 2, None), ("2.1", 3, 3), ("2.2", 3, 3)),
        agency="BIR",
        task_id=r_bir,
    )
    s.assessment(
        s11_now,
        "section11",
        "zero_to_three",
        "return",
        at(2026, 6, 12),
        s11(("1.1", 1, None), ("1.2", 1, None), ("1.3", 0, None), ("2.1", 2, 2), ("2.2", 2, 2)),
        agency="CED",
        task_id=r_ced,
    )
    s.assessment(
        s11_now,
        "section11",
        "zero_to_three",
        "return",
        None,  # a draft
        s11(("1.1", 3, 3)),
        agency="ELM",
    )
    s.assessment(
        s11_old,
        "section11",
        "zero_to_three",
        "return",
        at(2024, 11, 1),
        s11(("1.1", 1, 1), ("1.2", 1, 1), ("1.3", 1, 1), ("2.1", 1, 1), ("2.2", 1, 1)),
        agency="ALD",
    )
    s.assessment(
        s11_old,
        "section11",
        "zero_to_three",
        "return",
        at(2024, 11, 1),
        s11(("1.1", 2, 2), ("1.2", 2, 2), ("1.3", 2, 2), ("2.1", 3, 3), ("2.2", 3, 3)),
        agency="BIR",
    )
    s.assessment(
        s11_old,
        "section11",
        "zero_to_three",
        "return",
        at(2024, 11, 1),
        s11(("1.1", 1, 1), ("1.2", 1, 1), ("1.3", 1, 1)),
        agency="CED",
    )
    s.assessment(
        s11_old,
        "section11",
        "zero_to_three",
        "return",
        at(2024, 11, 1),
        s11(("1.1", 2, 2)),
        agency="DUN",
    )
    # the next cycle's first return came in after the period: not this period's cycle
    s.assessment(
        s11_next,
        "section11",
        "zero_to_three",
        "return",
        at(2027, 4, 10),
        s11(("1.1", 0, None)),
        agency="ALD",
    )

    # audit meeting judgements ----------------------------------------------------------
    s.assessment(
        audit,
        "maa_judgements",
        "ofsted",
        "first",
        at(2026, 6, 1),
        judgements(
            ("recognition", "requires_improvement", 1),
            ("assessment", "good", 2),
            ("planning_intervention", "inadequate", 0),
            ("joint_working", "good", 2),
            ("impact", "requires_improvement", 1),
            ("overall_quality", "requires_improvement", 1),
        ),
    )
    s.assessment(
        audit,
        "maa_judgements",
        "ofsted",
        "reaudit",
        at(2027, 1, 15),
        judgements(
            ("recognition", "good", 2),
            ("assessment", "good", 2),
            ("planning_intervention", "requires_improvement", 1),
            ("joint_working", "requires_improvement", 1),
            ("impact", "good", 2),
            ("overall_quality", "good", 2),
        ),
    )
    # re-audited before the period: not shown
    s.assessment(
        old_audit,
        "maa_judgements",
        "ofsted",
        "reaudit",
        at(2026, 3, 1),
        judgements(("recognition", "good", 2)),
    )
    return s


def report_for(
    db: Database,
    registry: Registry,
    forms: FormRegistry,
    start: date = START,
    end: date = END,
    cycle: str | None = None,
) -> Report:
    return build_report(
        db,
        forms=forms,
        registry=registry,
        calendar=WorkingCalendar(),
        start=start,
        end=end,
        partnership="Northshire Safeguarding Children Partnership (fictional)",
        now=NOW,
        cycle=cycle,
    )


@pytest.fixture
def report(database: Database, registry: Registry, forms: FormRegistry) -> Report:
    seed(database, registry, forms)
    return report_for(database, registry, forms)


# ---------------------------------------------------------------------------------------
# the report as a whole


def test_report_has_the_five_sections_and_every_table_says_how_it_is_counted(
    report: Report,
) -> None:
    assert report.title == "The four questions: 1 April 2026 to 31 March 2027"
    assert report.partnership == "Northshire Safeguarding Children Partnership (fictional)"
    assert (report.period_start, report.period_end) == (START, END)
    assert report.generated_at == NOW
    assert [s.key for s in report.sections] == [
        "how_much",
        "how_well",
        "learn",
        "better_off",
        "section11",
    ]
    assert [s.title for s in report.sections[:4]] == [
        "How much did we do?",
        "How well did we do it?",
        "Are there opportunities to learn and improve?",
        "Is anyone better off?",
    ]
    assert {s.key: [t.key for t in s.tables] for s in report.sections} == {
        "how_much": ["activities_by_type", "requests_by_agency"],
        "how_well": [
            "returns_on_time",
            "chasing",
            "statutory",
            "actions_completed",
            "actions_reprogrammed",
        ],
        "learn": ["findings", "actions_by_source"],
        "better_off": ["impact", "ratings_moved", "ratings_moved_summary", "reaudit"],
        "section11": ["s11_self", "s11_moderated", "s11_green", "s11_sector", "s11_change"],
    }
    for table in report.tables():
        assert table.note, table.key
        for row in table.rows:
            assert len(row) == len(table.columns), table.key


# ---------------------------------------------------------------------------------------
# 1. How much did we do?


def test_activities_by_type(report: Report) -> None:
    table = report.table("activities_by_type")
    assert table.columns == ["Type", "Opened", "Closed", "Cancelled", "Open at end"]
    assert table.rows == [
        ["Action plan", 2, 0, 1, 2],
        ["Agency report or data request", 1, 1, 0, 1],
        ["Child safeguarding practice review", 1, 0, 0, 1],
        ["frontline_visit", 1, 0, 0, 1],  # its workflow file is gone: shown by name
        ["Multi-agency themed audit", 1, 1, 0, 1],
        ["Section 11 cycle", 2, 0, 0, 2],
        ["Total", 8, 2, 1, 8],
    ]
    assert table.chart == Chart(
        kind="bar",
        title="Activities opened and closed",
        categories=(
            "Action plan",
            "Agency report or data request",
            "Child safeguarding practice review",
            "frontline_visit",
            "Multi-agency themed audit",
            "Section 11 cycle",
        ),
        series=(
            Series("Opened", (2.0, 1.0, 1.0, 1.0, 1.0, 2.0)),
            Series("Closed", (0.0, 1.0, 0.0, 0.0, 1.0, 0.0)),
        ),
    )


def test_requests_by_agency(report: Report) -> None:
    table = report.table("requests_by_agency")
    assert table.columns == ["Agency", "Requests issued", "Returns received"]
    assert table.rows == [
        [ALDER, 2, 3],
        [BIRCH, 3, 3],
        [CEDAR, 3, 1],
        ["Total", 8, 7],
    ]
    assert table.chart is not None
    assert table.chart.categories == (ALDER, BIRCH, CEDAR)
    assert table.chart.series == (
        Series("Requests issued", (2.0, 3.0, 3.0)),
        Series("Returns received", (3.0, 3.0, 1.0)),
    )


# ---------------------------------------------------------------------------------------
# 2. How well did we do it?


def test_returns_on_time(report: Report) -> None:
    table = report.table("returns_on_time")
    assert table.columns == [
        "Agency",
        "Returns",
        "On time",
        "On time %",
        "Median working days late",
    ]
    assert table.rows == [
        [ALDER, 3, 3, 100.0, None],
        [BIRCH, 2, 0, 0.0, 4.0],  # late 3 and 5 days; the waived one is not counted
        [CEDAR, 1, 0, 0.0, 1.0],
        ["Total", 6, 3, 50.0, 3.0],
    ]
    assert table.chart is not None
    assert table.chart.unit == "%"
    assert table.chart.series == (Series("On time %", (100.0, 0.0, 0.0)),)


def test_chasing(report: Report) -> None:
    table = report.table("chasing")
    assert table.columns == [
        "Agency",
        "Returns",
        "Reminders",
        "Escalations",
        "Reminders per return",
        "Escalations per return",
    ]
    assert table.rows == [
        [ALDER, 3, 1, 0, 0.33, 0.0],
        [BIRCH, 3, 5, 2, 1.67, 0.67],
        [CEDAR, 1, 1, 0, 1.0, 0.0],
        ["Total", 7, 7, 2, 1.0, 0.29],
    ]


def test_statutory_steps(report: Report, registry: Registry) -> None:
    kinds = registry.get("practice_review").tasks
    table = report.table("statutory")
    assert table.columns == [
        "Step",
        "Due in period",
        "Met on time",
        "Met late",
        "Open and overdue",
        "Waived",
    ]
    assert table.rows == [
        [kinds["panel_notification"].title, 1, 0, 1, 0, 0],
        [kinds["rapid_review"].title, 2, 1, 0, 0, 1],
        [kinds["publication"].title, 1, 0, 0, 1, 0],
        [kinds["panel_report"].title, 1, 0, 0, 0, 0],  # due on the last day: not overdue
        ["Total", 5, 1, 1, 1, 1],
    ]
    assert kinds["panel_notification"].title.startswith("Notify the national Panel")


def test_actions_completed(report: Report) -> None:
    table = report.table("actions_completed")
    assert table.columns == ["Agency", "Completed", "By target date", "By target date %"]
    assert table.rows == [
        [ALDER, 2, 1, 50.0],
        [BIRCH, 1, 1, 100.0],
        [CEDAR, 1, 0, 0.0],  # the target date was waived
        ["Total", 4, 2, 50.0],
    ]


def test_actions_reprogrammed(report: Report) -> None:
    table = report.table("actions_reprogrammed")
    assert table.columns == ["Agency", "Actions reprogrammed", "Reprogrammings"]
    assert table.rows == [[BIRCH, 2, 3], ["Total", 2, 3]]


# ---------------------------------------------------------------------------------------
# 3. Are there opportunities to learn and improve?


def test_findings(report: Report) -> None:
    table = report.table("findings")
    assert table.columns == ["Source", "Findings", "Recommendations", "Actions created from them"]
    assert table.rows == [
        ["Child safeguarding practice review", 0, 1, 0],
        ["Multi-agency themed audit", 2, 1, 3],
        ["Total", 2, 2, 3],
    ]


def test_actions_by_source(report: Report) -> None:
    table = report.table("actions_by_source")
    assert table.columns == ["Source", "Open", "Open and overdue", "Completed in period"]
    assert table.rows == [
        ["Inspection", 1, 1, 1],
        ["Multi-agency themed audit", 3, 0, 2],
        ["Other", 0, 0, 1],
        ["Total", 4, 1, 4],
    ]


# ---------------------------------------------------------------------------------------
# 4. Is anyone better off?


def test_impact(report: Report) -> None:
    table = report.table("impact")
    assert table.columns == [
        "Agency",
        "Actions completed",
        "With evidence of impact",
        "% with evidence",
    ]
    assert table.rows == [
        [ALDER, 2, 2, 100.0],
        [BIRCH, 1, 0, 0.0],  # blank evidence of impact does not count
        [CEDAR, 1, 1, 100.0],
        ["Total", 4, 3, 75.0],
    ]


def test_ratings_moved(report: Report) -> None:
    table = report.table("ratings_moved")
    assert table.columns == [
        "Agency",
        "Standard",
        "Previous moderated",
        "Current moderated",
        "Change",
        "Direction",
    ]
    assert table.rows == [
        [ALDER, STANDARDS[0], 1.0, 2.33, 1.33, "improved"],
        [ALDER, STANDARDS[1], 1.0, 1.0, 0.0, "same"],
        [BIRCH, STANDARDS[0], 2.0, 1.0, -1.0, "fell back"],
        [BIRCH, STANDARDS[1], 3.0, 3.0, 0.0, "same"],
    ]
    assert "S11-2026-001" in table.note
    assert "S11-2024-001" in table.note
    summary = report.table("ratings_moved_summary")
    assert summary.columns == ["Agency", "Improved", "Same", "Fell back"]
    assert summary.rows == [[ALDER, 1, 1, 0], [BIRCH, 0, 1, 1]]
    assert summary.chart == Chart(
        kind="stacked_bar",
        title="Section 11 standards improved, the same or fallen back",
        categories=(ALDER, BIRCH),
        series=(
            Series("Improved", (1.0, 0.0), "green"),
            Series("Same", (1.0, 1.0), "grey"),
            Series("Fell back", (0.0, 1.0), "red"),
        ),
    )


def test_reaudit(report: Report) -> None:
    table = report.table("reaudit")
    assert table.columns == ["Audit", "Judgement", "First audit", "Re-audit", "Change"]
    assert table.rows == [
        ["MAA-2026-001", "Recognition of need and risk", "Requires improvement", "Good", "better"],
        ["MAA-2026-001", "Assessment", "Good", "Good", "same"],
        [
            "MAA-2026-001",
            "Planning and intervention",
            "Inadequate",
            "Requires improvement",
            "better",
        ],
        ["MAA-2026-001", "Joint working", "Good", "Requires improvement", "worse"],
        [
            "MAA-2026-001",
            "Impact on the child's outcomes",
            "Requires improvement",
            "Good",
            "better",
        ],
        ["MAA-2026-001", "Overall quality of practice", "Requires improvement", "Good", "better"],
    ]


# ---------------------------------------------------------------------------------------
# 5. Section 11


def _rated(label: str, colour: Colour, value: float) -> Rated:
    return Rated(label, colour, value)


def _approx_rows(rows: list[list[Any]]) -> list[list[Any]]:
    """Rated values rounded, so the comparison does not depend on the last binary digit."""
    return [
        [
            Rated(c.label, c.colour, None if c.value is None else round(c.value, 2))
            if isinstance(c, Rated)
            else c
            for c in row
        ]
        for row in rows
    ]


def test_section11_chooses_the_cycle_in_the_period_and_the_previous_one(report: Report) -> None:
    section = report.sections[-1]
    assert section.key == "section11"
    assert "S11-2026-001" in section.intro
    assert "3 agencies" in section.intro
    assert "S11-2024-001" in section.intro


def test_s11_self_and_moderated_heat_maps(report: Report) -> None:
    self_table = report.table("s11_self")
    assert self_table.columns == ["Agency", *STANDARDS]
    rest = [NOT_RATED] * 6
    assert _approx_rows(self_table.rows) == [
        [ALDER, _rated("2.33", "green", 2.33), _rated("1.50", "amber", 1.5), *rest],
        [BIRCH, _rated("2.33", "green", 2.33), _rated("3.00", "blue", 3.0), *rest],
        [CEDAR, _rated("0.67", "red", 0.67), _rated("2.00", "green", 2.0), *rest],
    ]
    assert self_table.chart is not None
    assert self_table.chart.kind == "heatmap"
    moderated = report.table("s11_moderated")
    assert moderated.columns == ["Agency", *STANDARDS]
    rest = [NOT_MODERATED] * 6
    assert _approx_rows(moderated.rows) == [
        [ALDER, _rated("2.33", "green", 2.33), _rated("1.00", "amber", 1.0), *rest],
        [BIRCH, _rated("1.00", "amber", 1.0), _rated("3.00", "blue", 3.0), *rest],
        [CEDAR, NOT_MODERATED, _rated("2.00", "green", 2.0), *rest],
    ]
    assert moderated.chart is not None
    assert moderated.chart.kind == "heatmap"


def test_s11_green(report: Report) -> None:
    table = report.table("s11_green")
    assert table.columns == [
        "Standard",
        "Self % green",
        "Moderated % green",
        "Previous moderated % green",
        "Change (points)",
    ]
    assert table.rows == [
        # previous cycle: 2 of its 4 agencies green (one has since left)
        [STANDARDS[0], 66.7, 33.3, 50.0, -16.7],
        [STANDARDS[1], 66.7, 66.7, 25.0, 41.7],
        *([s, None, None, None, None] for s in STANDARDS[2:]),
    ]
    assert table.chart is not None
    assert table.chart.unit == "%"
    assert [s.name for s in table.chart.series] == [
        "Self % green",
        "Moderated % green",
        "Previous moderated % green",
    ]
    assert table.chart.categories == tuple(STANDARDS[:2])  # no figure: not drawn as 0%
    assert table.chart.series == (
        Series("Self % green", (66.7, 66.7)),
        Series("Moderated % green", (33.3, 66.7)),
        Series("Previous moderated % green", (50.0, 25.0)),
    )


def test_s11_sector(report: Report) -> None:
    table = report.table("s11_sector")
    assert table.columns == ["Sector", *STANDARDS]
    rest = [NOT_MODERATED] * 6
    assert table.rows == [
        ["Police", _rated("100%", "green", 100.0), _rated("0%", "red", 0.0), *rest],
        ["Health", _rated("0%", "red", 0.0), _rated("100%", "green", 100.0), *rest],
        ["Local authority", NOT_MODERATED, _rated("100%", "green", 100.0), *rest],
    ]


def test_s11_change(report: Report) -> None:
    table = report.table("s11_change")
    assert table.columns == ["Agency", *STANDARDS]
    rest = [NONE] * 6
    assert table.rows == [
        [ALDER, _rated("+1.33", "green", 1.33), _rated("0.00", "grey", 0.0), *rest],
        [BIRCH, _rated("-1.00", "red", -1.0), _rated("0.00", "grey", 0.0), *rest],
        [CEDAR, NONE, NONE, *rest],
    ]


def test_a_cycle_chosen_by_reference(
    database: Database, registry: Registry, forms: FormRegistry
) -> None:
    seed(database, registry, forms)
    report = report_for(database, registry, forms, cycle="S11-2024-001")
    section = report.sections[-1]
    assert "S11-2024-001" in section.intro
    assert "no earlier cycle" in section.intro
    assert [row[0] for row in report.table("s11_moderated").rows] == [
        ALDER,
        BIRCH,
        CEDAR,
        "Dunmore Academy Trust (fictional)",
    ]
    assert all(cell == NONE for row in report.table("s11_change").rows for cell in row[1:])
    assert report.table("ratings_moved").rows == []
    assert report.table("ratings_moved_summary").rows == []
    assert [r[3] for r in report.table("s11_green").rows[:2]] == [None, None]
    with pytest.raises(InvalidInput, match="S11-2099-001"):
        report_for(database, registry, forms, cycle="S11-2099-001")
    with pytest.raises(InvalidInput, match="MAA-2026-001"):  # not a Section 11 cycle
        report_for(database, registry, forms, cycle="MAA-2026-001")


def test_without_a_previous_cycle_reference_the_latest_earlier_cycle_is_used(
    database: Database, registry: Registry, forms: FormRegistry
) -> None:
    seed(database, registry, forms)
    with database.write() as session:
        activity = session.exec(select(Activity).where(col(Activity.ref) == "S11-2026-001")).one()
        activity.data = {}
        session.add(activity)
    report = report_for(database, registry, forms)
    assert "S11-2024-001" in report.sections[-1].intro
    assert report.table("ratings_moved_summary").rows == [[ALDER, 1, 1, 0], [BIRCH, 0, 1, 1]]


# ---------------------------------------------------------------------------------------
# periods


def test_an_empty_period(database: Database, registry: Registry, forms: FormRegistry) -> None:
    seed(database, registry, forms)
    report = report_for(database, registry, forms, date(2030, 1, 1), date(2030, 1, 31))
    assert report.table("activities_by_type").rows == [
        ["Action plan", 0, 0, 0, 2],
        ["Agency report or data request", 0, 0, 0, 2],
        ["Child safeguarding practice review", 0, 0, 0, 1],
        ["frontline_visit", 0, 0, 0, 1],
        ["Multi-agency themed audit", 0, 0, 0, 1],
        ["Section 11 cycle", 0, 0, 0, 2],
        ["Total", 0, 0, 0, 9],
    ]
    assert report.table("requests_by_agency").rows == [["Total", 0, 0]]
    assert report.table("returns_on_time").rows == [["Total", 0, 0, None, None]]
    assert report.table("chasing").rows == [["Total", 0, 0, 0, None, None]]
    assert report.table("statutory").rows == [["Total", 0, 0, 0, 0, 0]]
    assert report.table("actions_completed").rows == [["Total", 0, 0, None]]
    assert report.table("actions_reprogrammed").rows == [["Total", 0, 0]]
    assert report.table("findings").rows == [["Total", 0, 0, 0]]
    # open actions are counted as they are now, whatever the period; a period not yet over
    # counts as overdue only what was due before today (NOW), not before its last day
    assert report.table("actions_by_source").rows == [
        ["Inspection", 1, 1, 0],
        ["Multi-agency themed audit", 3, 0, 0],
        ["Total", 4, 1, 0],
    ]
    assert report.table("impact").rows == [["Total", 0, 0, None]]
    assert report.table("reaudit").rows == []
    section = report.sections[-1]
    assert "no cycle" in section.intro.lower() or "No Section 11" in section.intro
    for key in (
        "s11_self",
        "s11_moderated",
        "s11_green",
        "s11_sector",
        "s11_change",
        "ratings_moved",
        "ratings_moved_summary",
    ):
        assert report.table(key).rows == [], key


@pytest.mark.parametrize(
    ("start", "end", "inside", "outside"),
    [
        # Greenwich Mean Time: local midnight is midnight UTC
        (
            date(2026, 1, 1),
            date(2026, 1, 31),
            [at(2026, 1, 1, 0, 0), at(2026, 1, 31, 23, 59, 59)],
            [at(2025, 12, 31, 23, 59, 59), at(2026, 2, 1, 0, 0)],
        ),
        # British Summer Time: local midnight is 23:00 UTC the day before
        (
            date(2026, 6, 1),
            date(2026, 6, 30),
            [at(2026, 5, 31, 23, 0), at(2026, 6, 30, 22, 59, 59)],
            [at(2026, 5, 31, 22, 59, 59), at(2026, 6, 30, 23, 0)],
        ),
    ],
)
def test_the_period_runs_from_local_midnight_to_local_midnight(
    database: Database,
    registry: Registry,
    forms: FormRegistry,
    start: date,
    end: date,
    inside: list[datetime],
    outside: list[datetime],
) -> None:
    s = Seeder(database, registry, forms)
    s.agency("ALD", ALDER, "police")
    request = s.activity("REQ-2025-001", "agency_request", at(2025, 11, 1))
    for moment in [*inside, *outside]:
        s.task(
            request,
            "agency_return",
            "request",
            moment,
            agency="ALD",
            is_open=False,
            answered_at=moment,
            late=0,
            status="met",
        )
    report = report_for(database, registry, forms, start, end)
    assert report.table("requests_by_agency").rows == [[ALDER, 2, 2], ["Total", 2, 2]]
    assert report.table("returns_on_time").rows == [
        [ALDER, 2, 2, 100.0, None],
        ["Total", 2, 2, 100.0, None],
    ]


def test_a_bad_period_is_refused(
    database: Database, registry: Registry, forms: FormRegistry
) -> None:
    with pytest.raises(InvalidInput, match="before it starts"):
        report_for(database, registry, forms, date(2026, 4, 1), date(2026, 3, 31))
    with pytest.raises(InvalidInput, match="longer than 5 years"):
        report_for(database, registry, forms, date(2020, 4, 1), date(2025, 4, 1))
    # exactly five years, and a single day, are fine
    report_for(database, registry, forms, date(2020, 4, 1), date(2025, 3, 31))
    report_for(database, registry, forms, date(2026, 4, 1), date(2026, 4, 1))


@pytest.mark.parametrize(
    ("today", "start_month", "expected"),
    [
        (date(2026, 12, 1), 4, (date(2026, 4, 1), date(2027, 3, 31))),
        (date(2027, 2, 15), 4, (date(2026, 4, 1), date(2027, 3, 31))),
        (date(2026, 4, 1), 4, (date(2026, 4, 1), date(2027, 3, 31))),
        (date(2026, 3, 31), 4, (date(2025, 4, 1), date(2026, 3, 31))),
        (date(2026, 7, 1), 1, (date(2026, 1, 1), date(2026, 12, 31))),
        (date(2024, 3, 1), 9, (date(2023, 9, 1), date(2024, 8, 31))),
        (date(2024, 2, 29), 3, (date(2023, 3, 1), date(2024, 2, 29))),
    ],
)
def test_reporting_year(today: date, start_month: int, expected: tuple[date, date]) -> None:
    assert reporting_year(today, start_month) == expected


@pytest.mark.parametrize("start_month", [0, 13])
def test_reporting_year_refuses_a_month_that_does_not_exist(start_month: int) -> None:
    with pytest.raises(InvalidInput, match="from 1 to 12"):
        reporting_year(date(2026, 1, 1), start_month)
