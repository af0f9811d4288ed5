"""The four-questions report of a history told through the service, every cell by hand.

:func:`sef_workflow.demo.history.build_history` tells two Section 11 cycles two years
apart, a themed audit and a practice review for four fictional agencies, through the
service only, with the reminder sweep run on the days reminders fall due. The expected
figures below are worked out by hand from that story (each with the reasoning beside it),
never by the code under test. The history runs on SQLite and PostgreSQL; the demo on SQLite.

The story's days, in working days (English bank holidays skipped) after each cycle opens:
the first cycle opens Monday 22 April 2024 ("c1+n"), the second Wednesday 22 April 2026
("c2+n"); the history ends at c2+60, Friday 17 July 2026.

Agencies (tables list them by name): CSC Northshire Children's Services (falls back), POL
Northshire Constabulary (steady), HOSP Northshire Hospitals NHS Trust (mixed), ICB
Northshire Integrated Care Board (late in cycle 1, then improves).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from sef_workflow.app import build
from sef_workflow.assessments import AnswerInput
from sef_workflow.calendar import LONDON
from sef_workflow.clock import FakeClock, SystemClock
from sef_workflow.config import load_settings
from sef_workflow.demo import load_demo
from sef_workflow.demo.history import History, build_history
from sef_workflow.directory import AgencyRecord
from sef_workflow.errors import InvalidInput
from sef_workflow.reports.figures import build_report
from sef_workflow.reports.model import Cell, Rated, Report
from sef_workflow.service import Actor, Service
from tests.conftest import COORDINATOR, MANAGER, ROOT

CSC = "Northshire Children's Services (fictional)"
POL = "Northshire Constabulary (fictional)"
HOSP = "Northshire Hospitals NHS Trust (fictional)"
ICB = "Northshire Integrated Care Board (fictional)"
TOTAL = "Total"

HOSPITAL = AgencyRecord(
    code="HOSP",
    name=HOSP,
    sector="health",
    lead_name="Lead Hospital",
    lead_email="lead@hosp.northshire.example",
    deputy_name=None,
    deputy_email=None,
    manager_name="Chief Hospital",
    manager_email="chief@hosp.northshire.example",
)

S1 = "1. Senior management commitment…"
S2 = "2. Clear statement of responsibilities…"
S3 = "3. Listening to children: their views shape…"
S4 = "4. Safeguarding training and supervision"
S5 = "5. Safer recruitment and managing…"
S6 = "6. Effective inter-agency working"
S7 = "7. Information sharing"
S8 = "8. Policies, procedures and learning…"
STANDARDS = [S1, S2, S3, S4, S5, S6, S7, S8]

PANEL_STEP = "Notify the national Panel and tell partners (5 working days)"
RAPID_STEP = "Send the rapid review with the decision (15 working days)"
S11_SOURCE = "Section 11 cycle"
AUDIT_SOURCE = "Multi-agency themed audit"
REVIEW_SOURCE = "Child safeguarding practice review"

#: every question of forms/section11.toml, in order (3.3 is the optional one)
QUESTIONS = [
    *("1.1", "1.2", "1.3", "2.1", "2.2", "3.1", "3.2", "3.3", "4.1", "4.2"),
    *("5.1", "5.2", "6.1", "6.2", "6.3", "7.1", "7.2", "8.1", "8.2"),
]


# 0-3 scale colours: a mean takes the colour of the highest level it reaches
# (0 red, 1 amber, 2 green, 3 blue); 5/3 is shown as 1.67 and kept as 1.6667
def blue(label: str = "3.00", value: float = 3.0) -> Rated:
    return Rated(label, "blue", value)


def green(label: str = "2.00", value: float = 2.0) -> Rated:
    return Rated(label, "green", value)


def amber(label: str, value: float) -> Rated:
    return Rated(label, "amber", value)


G = green()
B = blue()
TWO_THIRDS = amber("1.67", 1.6667)  # (2 + 2 + 1) / 3
SAME = Rated("0.00", "grey", 0.0)
NO_CHANGE = Rated("—", "none")
PCT100 = Rated("100%", "green", 100.0)
PCT0 = Rated("0%", "red", 0.0)
PCT50 = Rated("50%", "amber", 50.0)


def report(service: Service, start: date, end: date) -> Report:
    return build_report(
        service.db,
        forms=service.forms,
        registry=service.registry,
        calendar=service.calendar,
        start=start,
        end=end,
        partnership="Northshire Safeguarding Children Partnership (fictional)",
        now=service.clock.now(),
    )


def assert_tables(got: Report, expected: dict[str, list[list[Cell]]]) -> None:
    """Every table of the report, and only those, has exactly the expected rows."""
    tables = {t.key: t for s in got.sections for t in s.tables}
    assert sorted(tables) == sorted(expected)
    for key, rows in expected.items():
        assert tables[key].rows == rows, key


def agency_actor(service: Service, code: str) -> Actor:
    row = next(a for a in service.list_agencies() if a.code == code)
    return Actor(id=row.lead_email, role="agency", agency_id=row.id, name=row.name)


def return_task(service: Service, ref: str, code: str) -> int:
    agency = next(a for a in service.list_agencies() if a.code == code)
    task = next(
        t
        for t in service.get_activity(ref)[3]
        if t.kind == "s11_return" and t.agency_id == agency.id
    )
    assert task.id is not None
    return task.id


# ---------------------------------------------------------------------------------------
# carried forward: the second cycle's drafts, before any agency looks at them

#: the first cycle's self ratings, as the story gives them
FIRST_SELF = {
    "POL": dict.fromkeys(QUESTIONS, "2"),
    "ICB": dict.fromkeys(QUESTIONS, "2"),
    # 3 on standards 1, 2, 5 and 8, 2 elsewhere
    "CSC": {q: "3" if q[0] in "1258" else "2" for q in QUESTIONS},
    # the optional 3.3 left unanswered (the panel moderated it, but no self answer)
    "HOSP": {q: "2" for q in QUESTIONS if q != "3.3"},
}


def check_drafts(service: Service, first: str, second: str) -> None:
    for code, ratings in FIRST_SELF.items():
        task_id = return_task(service, second, code)
        view = service.assessment_for_task(COORDINATOR, task_id)
        assert view.carried_from_ref == first
        assert view.assessment.status == "draft"
        assert view.editable
        # every answered question came across, with its rating, not yet reviewed
        assert {n: a.rating for n, a in view.answers.items()} == ratings
        assert all(a.carried_forward and not a.reviewed for a in view.answers.values())
        assert view.unreviewed() == list(ratings)
        assert len(view.problems) == len(ratings)
        assert all("carried forward from the last cycle" in p for p in view.problems)
        # submitting as it stands is refused, naming every answer; nothing changes
        actor = agency_actor(service, code)
        with pytest.raises(InvalidInput, match=f"{len(ratings)} answers need attention"):
            service.submit_assessment(actor, task_id)
        # confirming one answer is not enough either
        confirmed = {"1.1": AnswerInput("2", view.answers["1.1"].evidence, reviewed=True)}
        with pytest.raises(InvalidInput, match=f"{len(ratings) - 1} answers need attention"):
            service.submit_assessment(actor, task_id, confirmed)
        after = service.assessment_for_task(COORDINATOR, task_id)
        assert after.assessment.version == view.assessment.version
        assert after.unreviewed() == list(ratings)
        assert service.get_task(task_id)[0].state == "requested"
    started = [e for e in service.timeline(second) if e.kind == "assessment_started"]
    # one per agency: 19 answers carried for three of them, 18 for the hospital
    assert sorted(e.inputs["carried_forward"] for e in started) == [18, 19, 19, 19]


def check_second_cycle_answers(service: Service, history: History) -> None:
    """After the history: every carried answer was reviewed; what changed is marked so."""
    views = {v.agency.code: v for v in service.assessments_of(history.second_cycle) if v.agency}
    assert sorted(views) == ["CSC", "HOSP", "ICB", "POL"]
    for code, view in views.items():
        assert view.assessment.status == "submitted"
        assert view.carried_from_ref == history.first_cycle
        assert view.unreviewed() == []
        assert view.moderation_released
        assert all(a.reviewed for a in view.answers.values())
        carried = {n for n, a in view.answers.items() if a.carried_forward}
        assert carried == set(FIRST_SELF[code]), code
    # the agencies' own changes: ICB raised 7.1 and 7.2 to 3, CSC lowered 3.1 to 1, and the
    # hospital answered 3.3 for the first time (a new answer, not carried)
    assert views["ICB"].answers["7.1"].rating == "3"
    assert views["ICB"].answers["7.2"].rating == "3"
    assert views["CSC"].answers["3.1"].rating == "1"
    assert views["HOSP"].answers["3.3"].rating == "2"
    assert not views["HOSP"].answers["3.3"].carried_forward
    # the challenge list: every moderated rating that differs from the self rating, with
    # its reason, agencies by name and questions in order; each one level lower
    challenged = [
        (d.agency_code, d.question, d.self_rating, d.moderated_rating, d.difference)
        for d in service.disagreements(history.second_cycle)
    ]
    assert challenged == [
        ("CSC", "2.1", "3 – Exceeded", "2 – Met", -1),
        ("CSC", "2.2", "3 – Exceeded", "2 – Met", -1),
        ("CSC", "8.1", "3 – Exceeded", "2 – Met", -1),
        ("POL", "1.3", "2 – Met", "1 – Partially met", -1),
        ("HOSP", "5.1", "2 – Met", "1 – Partially met", -1),
        ("ICB", "7.2", "3 – Exceeded", "2 – Met", -1),
    ]
    assert all(d.reason for d in service.disagreements(history.second_cycle))


# ---------------------------------------------------------------------------------------
# the whole history: 1 April 2024 to 17 July 2026

WHOLE: dict[str, list[list[Cell]]] = {
    # Opened, closed, cancelled, open at the end. Action plans: cycle 1's (closed at c1+106),
    # the audit's, the review's and cycle 2's (all still monitoring). The review stays in
    # learning actions; the audit closed at c2+31; cycle 1 closed at c1+107, cycle 2 is
    # monitoring.
    "activities_by_type": [
        ["Action plan", 4, 1, 0, 3],
        [REVIEW_SOURCE, 1, 0, 0, 1],
        [AUDIT_SOURCE, 1, 1, 0, 0],
        [S11_SOURCE, 2, 1, 0, 1],
        [TOTAL, 8, 3, 0, 5],
    ],
    # Requests: a self-assessment and an action plan in each cycle for every agency (4);
    # CSC, POL and ICB also had an audit return and a rapid review summary (6). All in.
    "requests_by_agency": [
        [CSC, 6, 6],
        [POL, 6, 6],
        [HOSP, 4, 4],
        [ICB, 6, 6],
        [TOTAL, 22, 22],
    ],
    # Late returns: CSC's cycle 2 self-assessment (due c2+25, in c2+28: 3 days), the
    # hospital's cycle 1 action plan (due c1+67, in c1+69: 2 days), ICB's cycle 1
    # self-assessment (due c1+25, in c1+36: 11 days). Everything else on time.
    # 19 of 22 = 86.4%; the median of 2, 3 and 11 is 3.
    "returns_on_time": [
        [CSC, 6, 5, 83.3, 3.0],
        [POL, 6, 6, 100.0, None],
        [HOSP, 4, 3, 75.0, 2.0],
        [ICB, 6, 5, 83.3, 11.0],
        [TOTAL, 22, 19, 86.4, 3.0],
    ],
    # Reminders sent before each return came in (self-assessment ladder: 10, 5 and 1
    # working days before, on the day, chasers 3, 6 and 9 days late, escalations 5 and 10
    # days late; action plan ladder: 5 and 1 before, on the day, chasers from 3 days late).
    # CSC: cycle 1 return at c1+22 (10 and 5 before: 2), plan at c1+63 (5 before: 1),
    #      cycle 2 return 3 days late (3 before, the day, chaser 1: 5) = 8.
    # POL: every return before its first reminder = 0.
    # HOSP: cycle 1 return on the day (3 before and the day: 4), plan 2 days late (5 and 1
    #      before and the day: 3), cycle 2 return at c2+17 (10 before: 1) = 8.
    # ICB: cycle 1 return 11 days late (3 before, the day, 3 chasers: 7, and both
    #      escalations: 2), cycle 2 return at c2+24 (10, 5 and 1 before: 3) = 10 and 2.
    # Per return: 8/6 = 1.33, 8/4 = 2.0, 10/6 = 1.67, 2/6 = 0.33; total 26/22 = 1.18 and
    # 2/22 = 0.09.
    "chasing": [
        [CSC, 6, 8, 0, 1.33, 0.0],
        [POL, 6, 0, 0, 0.0, 0.0],
        [HOSP, 4, 8, 0, 2.0, 0.0],
        [ICB, 6, 10, 2, 1.67, 0.33],
        [TOTAL, 22, 26, 2, 1.18, 0.09],
    ],
    # The review: awareness at c2+40, so the Panel notification was due at c2+45 and was
    # recorded at c2+47 (met, 2 days late); the rapid review was due at c2+55 (15 working
    # days from awareness) and sent at c2+53 (on time).
    "statutory": [
        [PANEL_STEP, 1, 0, 1, 0, 0],
        [RAPID_STEP, 1, 1, 0, 0, 0],
        [TOTAL, 2, 1, 1, 0, 0],
    ],
    # Completions submitted: CSC's cycle 1 action (target c1+95, done c1+98: late) and its
    # audit action (target c2-10, done c2-12: on time); POL's cycle 1 action (target moved
    # from c1+90 to c1+110, done c1+100: on time by the reprogrammed date); the hospital's
    # cycle 2 action (target c2+60, done c2+55); ICB's cycle 1 action (target c1+100, done
    # c1+95) and its audit action (target c2+10, done c2+12: late). 4 of 6 = 66.7%.
    "actions_completed": [
        [CSC, 2, 1, 50.0],
        [POL, 1, 1, 100.0],
        [HOSP, 1, 1, 100.0],
        [ICB, 2, 1, 50.0],
        [TOTAL, 6, 4, 66.7],
    ],
    # POL's cycle 1 action, moved once with a manager's approval at c1+85.
    "actions_reprogrammed": [
        [POL, 1, 1],
        [TOTAL, 1, 1],
    ],
    # Cycle 1: a finding (supervision records) answered by CSC's action, and two questions
    # raised as recommendations with an action each (ICB 4.1, POL 1.3); cycle 2: two more
    # questions (CSC 2.1, hospital 5.1) with an action each. Audit: two findings, one
    # answered by CSC's action, and one judgement raised with ICB's action. Review: one
    # recommendation with CSC's action.
    "findings": [
        [REVIEW_SOURCE, 0, 1, 1],
        [AUDIT_SOURCE, 2, 1, 2],
        [S11_SOURCE, 1, 4, 5],
        [TOTAL, 3, 6, 8],
    ],
    # Open now: the review's action (target c2+55, before 17 July: overdue), CSC's audit
    # action (completion submitted, awaiting sign-off: its deadline is met, not overdue),
    # CSC's cycle 2 action (target c2+90, after the period: not overdue). Completed in the
    # period: the audit's two, cycle 1's three and the hospital's cycle 2 action.
    "actions_by_source": [
        [REVIEW_SOURCE, 1, 1, 0],
        [AUDIT_SOURCE, 1, 0, 2],
        [S11_SOURCE, 1, 0, 4],
        [TOTAL, 3, 1, 6],
    ],
    # Of the six completions, only CSC's audit action has no evidence of impact (CSC's
    # cycle 1 action had its impact recorded after completion, before sign-off).
    "impact": [
        [CSC, 2, 1, 50.0],
        [POL, 1, 1, 100.0],
        [HOSP, 1, 1, 100.0],
        [ICB, 2, 2, 100.0],
        [TOTAL, 6, 5, 83.3],
    ],
    # Moderated means, cycle 1 then cycle 2, for every agency and standard:
    # CSC: cycle 1 agreed its own 3s (standards 1, 2, 5, 8) and 2s; cycle 2 moderated 2.1
    #   and 2.2 to 2 (standard 2: 3 -> 2), 8.1 to 2 (8: 3 -> 2.5), and CSC itself lowered
    #   3.1 to 1 (3: 2 -> 5/3).
    # POL: 1.3 moderated to 1 in both cycles (standard 1: 5/3 both times).
    # HOSP: cycle 1 moderated the unanswered 3.3 at 1 (3: 5/3), cycle 2 agreed its new 2
    #   (3: 2); cycle 2 moderated 5.1 to 1 (5: 2 -> 1.5).
    # ICB: cycle 1 moderated 4.1, 4.2, 7.1, 7.2 and 6.3 to 1 (4: 1, 6: 5/3, 7: 1); cycle 2
    #   agreed its 2s and its new 3 on 7.1, moderating 7.2 to 2 (4: 2, 6: 2, 7: 2.5).
    "ratings_moved": [
        [CSC, S1, 3.0, 3.0, 0.0, "same"],
        [CSC, S2, 3.0, 2.0, -1.0, "fell back"],
        [CSC, S3, 2.0, 1.67, -0.33, "fell back"],
        [CSC, S4, 2.0, 2.0, 0.0, "same"],
        [CSC, S5, 3.0, 3.0, 0.0, "same"],
        [CSC, S6, 2.0, 2.0, 0.0, "same"],
        [CSC, S7, 2.0, 2.0, 0.0, "same"],
        [CSC, S8, 3.0, 2.5, -0.5, "fell back"],
        [POL, S1, 1.67, 1.67, 0.0, "same"],
        [POL, S2, 2.0, 2.0, 0.0, "same"],
        [POL, S3, 2.0, 2.0, 0.0, "same"],
        [POL, S4, 2.0, 2.0, 0.0, "same"],
        [POL, S5, 2.0, 2.0, 0.0, "same"],
        [POL, S6, 2.0, 2.0, 0.0, "same"],
        [POL, S7, 2.0, 2.0, 0.0, "same"],
        [POL, S8, 2.0, 2.0, 0.0, "same"],
        [HOSP, S1, 2.0, 2.0, 0.0, "same"],
        [HOSP, S2, 2.0, 2.0, 0.0, "same"],
        [HOSP, S3, 1.67, 2.0, 0.33, "improved"],
        [HOSP, S4, 2.0, 2.0, 0.0, "same"],
        [HOSP, S5, 2.0, 1.5, -0.5, "fell back"],
        [HOSP, S6, 2.0, 2.0, 0.0, "same"],
        [HOSP, S7, 2.0, 2.0, 0.0, "same"],
        [HOSP, S8, 2.0, 2.0, 0.0, "same"],
        [ICB, S1, 2.0, 2.0, 0.0, "same"],
        [ICB, S2, 2.0, 2.0, 0.0, "same"],
        [ICB, S3, 2.0, 2.0, 0.0, "same"],
        [ICB, S4, 1.0, 2.0, 1.0, "improved"],
        [ICB, S5, 2.0, 2.0, 0.0, "same"],
        [ICB, S6, 1.67, 2.0, 0.33, "improved"],
        [ICB, S7, 1.0, 2.5, 1.5, "improved"],
        [ICB, S8, 2.0, 2.0, 0.0, "same"],
    ],
    # The same, counted: ICB improved on three standards, CSC fell back on three.
    "ratings_moved_summary": [
        [CSC, 0, 5, 3],
        [POL, 0, 8, 0],
        [HOSP, 1, 6, 1],
        [ICB, 3, 5, 0],
    ],
    # The audit meeting's judgements, then the re-audit's (Ofsted scale).
    "reaudit": [
        ["MAA-2026-001", "Recognition of need and risk", "Good", "Good", "same"],
        ["MAA-2026-001", "Assessment", "Requires improvement", "Good", "better"],
        ["MAA-2026-001", "Planning and intervention", "Requires improvement", "Good", "better"],
        ["MAA-2026-001", "Joint working", "Good", "Requires improvement", "worse"],
        [
            "MAA-2026-001",
            "Impact on the child's outcomes",
            "Requires improvement",
            "Requires improvement",
            "same",
        ],
        ["MAA-2026-001", "Overall quality of practice", "Requires improvement", "Good", "better"],
    ],
    # Cycle 2's self ratings: CSC's carried 3s, and 3.1 now 1 (standard 3: (1+2+2)/3);
    # POL and the hospital all 2 (the hospital's 3.3 now answered 2); ICB 3 on 7.1 and 7.2.
    "s11_self": [
        [CSC, B, B, TWO_THIRDS, G, B, G, G, B],
        [POL, G, G, G, G, G, G, G, G],
        [HOSP, G, G, G, G, G, G, G, G],
        [ICB, G, G, G, G, G, G, B, G],
    ],
    # Cycle 2 moderated (see ratings_moved): 2.5 is green, 1.5 and 5/3 amber.
    "s11_moderated": [
        [CSC, B, G, TWO_THIRDS, G, B, G, G, green("2.50", 2.5)],
        [POL, TWO_THIRDS, G, G, G, G, G, G, G],
        [HOSP, G, G, G, G, amber("1.50", 1.5), G, G, G],
        [ICB, G, G, G, G, G, G, green("2.50", 2.5), G],
    ],
    # Share of the four agencies at green or blue: self (cycle 2), moderated (cycle 2),
    # moderated in cycle 1, and the change in points. Cycle 1's amber means: POL on 1,
    # the hospital on 3, ICB on 4, 6 and 7. Cycle 2's: CSC on 3 (self and moderated), POL
    # on 1 and the hospital on 5 (moderated).
    "s11_green": [
        [S1, 100.0, 75.0, 75.0, 0.0],
        [S2, 100.0, 100.0, 100.0, 0.0],
        [S3, 75.0, 75.0, 75.0, 0.0],
        [S4, 100.0, 100.0, 75.0, 25.0],
        [S5, 100.0, 75.0, 100.0, -25.0],
        [S6, 100.0, 100.0, 75.0, 25.0],
        [S7, 100.0, 100.0, 75.0, 25.0],
        [S8, 100.0, 100.0, 100.0, 0.0],
    ],
    # Cycle 2 moderated, green share by sector: police is POL alone (amber on 1: 0%), health
    # the hospital and ICB (the hospital amber on 5: 50%), local authority CSC alone (amber
    # on 3: 0%).
    "s11_sector": [
        ["Police", PCT0, PCT100, PCT100, PCT100, PCT100, PCT100, PCT100, PCT100],
        ["Health", PCT100, PCT100, PCT100, PCT100, PCT50, PCT100, PCT100, PCT100],
        ["Local authority", PCT100, PCT100, PCT0, PCT100, PCT100, PCT100, PCT100, PCT100],
    ],
    # Cycle 2 moderated minus cycle 1 moderated (see ratings_moved): rises green, falls red.
    "s11_change": [
        [
            CSC,
            SAME,
            Rated("-1.00", "red", -1.0),
            Rated("-0.33", "red", -0.33),
            SAME,
            SAME,
            SAME,
            SAME,
            Rated("-0.50", "red", -0.5),
        ],
        [POL, SAME, SAME, SAME, SAME, SAME, SAME, SAME, SAME],
        [
            HOSP,
            SAME,
            SAME,
            Rated("+0.33", "green", 0.33),
            SAME,
            Rated("-0.50", "red", -0.5),
            SAME,
            SAME,
            SAME,
        ],
        [
            ICB,
            SAME,
            SAME,
            SAME,
            Rated("+1.00", "green", 1.0),
            SAME,
            Rated("+0.33", "green", 0.33),
            Rated("+1.50", "green", 1.5),
            SAME,
        ],
    ],
}


# ---------------------------------------------------------------------------------------
# the first cycle's reporting year: 1 April 2024 to 31 March 2025 (the first cycle ran from
# 22 April to 23 September 2024; the audit and the review came in 2026)

FIRST_YEAR: dict[str, list[list[Cell]]] = {
    # Cycle 1 and its action plan, both opened and closed in the year.
    "activities_by_type": [
        ["Action plan", 1, 1, 0, 0],
        [S11_SOURCE, 1, 1, 0, 0],
        [TOTAL, 2, 2, 0, 0],
    ],
    # A self-assessment and an action plan for each agency.
    "requests_by_agency": [
        [CSC, 2, 2],
        [POL, 2, 2],
        [HOSP, 2, 2],
        [ICB, 2, 2],
        [TOTAL, 8, 8],
    ],
    # Late: ICB's self-assessment (11 days) and the hospital's plan (2 days); 6 of 8 on
    # time; the median of 2 and 11 is 6.5.
    "returns_on_time": [
        [CSC, 2, 2, 100.0, None],
        [POL, 2, 2, 100.0, None],
        [HOSP, 2, 1, 50.0, 2.0],
        [ICB, 2, 1, 50.0, 11.0],
        [TOTAL, 8, 6, 75.0, 6.5],
    ],
    # CSC 2 + 1, the hospital 4 + 3, ICB 7 (and 2 escalations) + 0: 17 reminders for 8
    # returns is 2.125, which rounds (half to even) to 2.12; 2 escalations / 8 = 0.25.
    "chasing": [
        [CSC, 2, 3, 0, 1.5, 0.0],
        [POL, 2, 0, 0, 0.0, 0.0],
        [HOSP, 2, 7, 0, 3.5, 0.0],
        [ICB, 2, 7, 2, 3.5, 1.0],
        [TOTAL, 8, 17, 2, 2.12, 0.25],
    ],
    # No statutory step was due in the year.
    "statutory": [[TOTAL, 0, 0, 0, 0, 0]],
    # Cycle 1's three actions: CSC's late, POL's by its reprogrammed date, ICB's early.
    "actions_completed": [
        [CSC, 1, 0, 0.0],
        [POL, 1, 1, 100.0],
        [ICB, 1, 1, 100.0],
        [TOTAL, 3, 2, 66.7],
    ],
    "actions_reprogrammed": [
        [POL, 1, 1],
        [TOTAL, 1, 1],
    ],
    "findings": [
        [S11_SOURCE, 1, 2, 3],
        [TOTAL, 1, 2, 3],
    ],
    # Open counts actions open when the report is produced, whatever the period: the
    # review's, CSC's audit action and CSC's cycle 2 action, none due before 31 March 2025
    # (the audit action's deadline is met anyway). Completed in the year: cycle 1's three.
    "actions_by_source": [
        [REVIEW_SOURCE, 1, 0, 0],
        [AUDIT_SOURCE, 1, 0, 0],
        [S11_SOURCE, 1, 0, 3],
        [TOTAL, 3, 0, 3],
    ],
    # All three with evidence of impact (CSC's recorded after its completion).
    "impact": [
        [CSC, 1, 1, 100.0],
        [POL, 1, 1, 100.0],
        [ICB, 1, 1, 100.0],
        [TOTAL, 3, 3, 100.0],
    ],
    # Cycle 1 has no earlier cycle, and no re-audit happened in the year.
    "ratings_moved": [],
    "ratings_moved_summary": [],
    "reaudit": [],
    # Cycle 1's self ratings: CSC's 3s on 1, 2, 5 and 8; the hospital's standard 3 is the
    # mean of its two answers (3.3 unanswered): 2.
    "s11_self": [
        [CSC, B, B, G, G, B, G, G, B],
        [POL, G, G, G, G, G, G, G, G],
        [HOSP, G, G, G, G, G, G, G, G],
        [ICB, G, G, G, G, G, G, G, G],
    ],
    # Cycle 1 moderated: POL 1.3 to 1; the hospital's 3.3 moderated at 1, so standard 3
    # counts three moderated answers: 5/3; ICB 4.x and 7.x to 1, 6.3 to 1.
    "s11_moderated": [
        [CSC, B, B, G, G, B, G, G, B],
        [POL, TWO_THIRDS, G, G, G, G, G, G, G],
        [HOSP, G, G, TWO_THIRDS, G, G, G, G, G],
        [
            ICB,
            G,
            G,
            G,
            amber("1.00", 1.0),
            G,
            TWO_THIRDS,
            amber("1.00", 1.0),
            G,
        ],
    ],
    # No previous cycle: the last two columns are blank.
    "s11_green": [
        [S1, 100.0, 75.0, None, None],
        [S2, 100.0, 100.0, None, None],
        [S3, 100.0, 75.0, None, None],
        [S4, 100.0, 75.0, None, None],
        [S5, 100.0, 100.0, None, None],
        [S6, 100.0, 75.0, None, None],
        [S7, 100.0, 75.0, None, None],
        [S8, 100.0, 100.0, None, None],
    ],
    # Health: the hospital amber on 3, ICB amber on 4, 6 and 7: 50% each.
    "s11_sector": [
        ["Police", PCT0, PCT100, PCT100, PCT100, PCT100, PCT100, PCT100, PCT100],
        ["Health", PCT100, PCT100, PCT50, PCT50, PCT100, PCT50, PCT50, PCT100],
        ["Local authority", *[PCT100] * 8],
    ],
    "s11_change": [[name, *[NO_CHANGE] * 8] for name in (CSC, POL, HOSP, ICB)],
}


# ---------------------------------------------------------------------------------------


def test_history_report_figures_by_hand(partnership: Service) -> None:
    service = partnership
    service.import_agencies(Actor.system(), [HOSPITAL])
    checked: list[str] = []

    def drafts_issued(first: str, second: str) -> None:
        check_drafts(service, first, second)
        checked.append(second)

    history = build_history(
        service,
        ["POL", "ICB", "CSC", "HOSP"],
        second_cycle_opens=date(2026, 4, 22),
        coordinator=COORDINATOR,
        manager=MANAGER,
        drafts_issued=drafts_issued,
    )
    assert history == History(
        first_cycle="S11-2024-001",
        second_cycle="S11-2026-001",
        first_cycle_plan="AP-2024-001",
        second_cycle_plan="AP-2026-002",
        audit="MAA-2026-001",
        audit_plan="AP-2026-001",
        review="CSPR-2026-001",
        review_plan="AP-2026-003",
        first_cycle_day=date(2024, 4, 22),
        second_cycle_day=date(2026, 4, 22),
        last_day=date(2026, 7, 17),
    )
    assert checked == ["S11-2026-001"]
    assert service.calendar.local_date(service.clock.now()) == date(2026, 7, 17)
    check_second_cycle_answers(service, history)
    states = {a.ref: a.state for a in service.list_activities()}
    assert states == {
        "S11-2024-001": "closed",
        "AP-2024-001": "closed",
        "MAA-2026-001": "closed",
        "AP-2026-001": "monitoring",
        "S11-2026-001": "monitoring",
        "CSPR-2026-001": "learning_actions",
        "AP-2026-002": "monitoring",
        "AP-2026-003": "monitoring",
    }

    whole = report(service, date(2024, 4, 1), date(2026, 7, 17))
    assert_tables(whole, WHOLE)
    section11 = whole.sections[-1]
    assert section11.intro == (
        "Section 11 cycle S11-2026-001 (Section 11 self-assessment 2026-27): 4 agencies "
        "submitted a self-assessment. It is compared with the previous cycle, S11-2024-001."
    )
    assert [t.columns[1:] for t in section11.tables if t.key != "s11_green"] == [STANDARDS] * 4

    first_year = report(service, date(2024, 4, 1), date(2025, 3, 31))
    assert_tables(first_year, FIRST_YEAR)
    assert first_year.sections[-1].intro == (
        "Section 11 cycle S11-2024-001 (Section 11 self-assessment 2024-25): 4 agencies "
        "submitted a self-assessment. There is no earlier cycle to compare it with."
    )


def test_history_needs_four_agencies_and_a_fake_clock(partnership: Service) -> None:
    with pytest.raises(ValueError, match="at least four different agencies"):
        build_history(
            partnership,
            ["POL", "ICB", "CSC"],
            second_cycle_opens=date(2026, 4, 22),
            coordinator=COORDINATOR,
            manager=MANAGER,
        )
    real_time = Service(partnership.db, partnership.registry, partnership.calendar, SystemClock())
    with pytest.raises(TypeError, match="FakeClock"):
        build_history(
            real_time,
            ["POL", "ICB", "CSC", "HOSP"],
            second_cycle_opens=date(2026, 4, 22),
            coordinator=COORDINATOR,
            manager=MANAGER,
        )
    assert partnership.list_activities() == []


def test_demo_report_for_this_year_shows_the_second_cycle(tmp_path: Path) -> None:
    """``sef demo`` on Tuesday 1 December 2026: the reporting year is April 2026 to March
    2027; the second cycle's returns fall in it and the report compares it with the first."""
    config = tmp_path / "sef.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "demo.db"}"\n'
        f'[workflows]\ndirectory = "{ROOT / "workflows"}"\n'
        f'templates = "{ROOT / "notifications"}"\nforms = "{ROOT / "forms"}"\n'
        f'[mail]\ncatcher_dir = "{tmp_path / "mail"}"\ncatcher_port = 0\n',
        encoding="utf-8",
    )
    clock = FakeClock(datetime(2026, 12, 1, 14, 0, tzinfo=LONDON))
    app = build(load_settings(config, environ={}), clock=clock)
    try:
        load_demo(app, echo=lambda _line: None)
        got = build_report(
            app.db,
            forms=app.forms,
            registry=app.registry,
            calendar=app.calendar,
            start=date(2026, 4, 1),
            end=date(2027, 3, 31),
            partnership="Northshire Safeguarding Children Partnership (fictional)",
            now=clock.now(),
        )
    finally:
        app.db.dispose()
    assert got.sections[-1].intro == (
        "Section 11 cycle S11-2026-001 (Section 11 self-assessment 2026-27): 6 agencies "
        "submitted a self-assessment. It is compared with the previous cycle, S11-2024-001."
    )
    summary = next(t for s in got.sections for t in s.tables if t.key == "ratings_moved_summary")
    # the four roles as in the story above, then education (first standard moderated down in
    # cycle 1 only) and probation (second standard): each improved on one standard
    assert summary.rows == [
        [CSC, 0, 5, 3],
        [POL, 0, 8, 0],
        [HOSP, 1, 6, 1],
        [ICB, 3, 5, 0],
        ["Northshire Probation Service (fictional)", 1, 7, 0],
        ["Northshire Schools and Learning (fictional)", 1, 7, 0],
    ]
    reaudit = next(t for s in got.sections for t in s.tables if t.key == "reaudit")
    assert [row[4] for row in reaudit.rows] == [
        "same",
        "better",
        "better",
        "worse",
        "same",
        "better",
    ]
