"""A fictional two-cycle Section 11 history, told through the service, with known figures.

:func:`build_history` writes about two and a half years of a partnership's quality
assurance, one call at a time through :class:`~sef_workflow.service.Service` on a
:class:`~sef_workflow.clock.FakeClock` that walks forward day by day. The reminder sweep
runs at 09:30 on each day a reminder, chaser or escalation falls due, as the scheduler
would, so reminders and escalations are really sent and counted; everything else happens
from 10:00.

Every step falls a fixed number of *working days* from the day a cycle opens, so lateness,
reminders and escalations come out the same whatever the dates; only the calendar dates
move with ``second_cycle_opens``. The story, for agencies given in this order:

* ``agencies[0]``, steady: on time; the panel moderates one question down in both cycles.
* ``agencies[1]``, improving: 11 working days late in the first cycle, after every reminder
  and both escalations; three standards moderated down. In the second cycle it is on time
  and the panel's ratings rise on those three standards.
* ``agencies[2]``, falling back: rates itself highly; the first cycle's panel agrees, the
  second moderates two standards down, and the agency lowers one answer itself. It is 3
  working days late in the second cycle.
* ``agencies[3]``, mixed: leaves an optional question unanswered in the first cycle (the
  panel moderates it), answers it in the second (better), and is moderated down on safer
  recruitment (worse). Its first action plan is 2 working days late.
* any further agencies: on time; the first panel moderates one standard down, the second
  agrees, so each improves on one standard.

Around the second cycle: a multi-agency themed audit of the first three agencies (findings,
an action plan, re-audit judgements better on three areas and worse on one) and a practice
review whose Panel notification is recorded 2 working days late.

Everything is fictional: agencies come from the caller's directory, texts name no child,
family or real organisation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from ..assessments import fill
from ..service import Actor, Service
from .history_roles import FIRST_JUDGEMENTS, REAUDIT_JUDGEMENTS
from .history_teller import CYCLE_GAP_MONTHS, Teller

__all__ = [
    "AUDIT_START",
    "CYCLE_GAP_MONTHS",
    "FIRST_JUDGEMENTS",
    "HISTORY_END",
    "REAUDIT_JUDGEMENTS",
    "History",
    "build_history",
    "cycle_label",
]

#: the themed audit opens this many working days before the second cycle
AUDIT_START = -60
#: the history's last day, in working days after the second cycle opens
HISTORY_END = 60


@dataclass(frozen=True)
class History:
    """References and days of the history :func:`build_history` wrote."""

    first_cycle: str
    second_cycle: str
    first_cycle_plan: str
    second_cycle_plan: str
    audit: str
    audit_plan: str
    review: str
    review_plan: str
    first_cycle_day: date  #: the day the first cycle opened
    second_cycle_day: date  #: the day the second cycle opened
    last_day: date  #: the last day anything happened


def cycle_label(day: date) -> str:
    """A cycle's name from the day it opens: the April-to-March year, e.g. ``2026-27``."""
    year = day.year if day.month >= 4 else day.year - 1
    return f"{year}-{(year + 1) % 100:02d}"


def build_history(
    svc: Service,
    agencies: Sequence[str],
    *,
    second_cycle_opens: date,
    coordinator: Actor,
    manager: Actor,
    drafts_issued: Callable[[str, str], None] | None = None,
) -> History:
    """Write the history for ``agencies`` (codes, at least four; see the module's story).

    The second cycle opens on ``second_cycle_opens`` (the next working day if it is not
    one), the first :data:`CYCLE_GAP_MONTHS` months before; the history ends
    :data:`HISTORY_END` working days after the second cycle opens. ``svc`` must run on a
    :class:`FakeClock`: the history sets it to the first cycle's day, moves it forward
    and leaves it on the last day (the sweeps on the way also chase any other task already
    due). ``drafts_issued(first_cycle_ref, second_cycle_ref)`` is called once the second
    cycle's drafts (carried forward from the first) exist and before any agency has
    reviewed them.
    """
    return _Story(svc, agencies, second_cycle_opens, coordinator, manager).tell(drafts_issued)


class _Story(Teller):
    """The history itself, chapter by chapter."""

    def tell(self, drafts_issued: Callable[[str, str], None] | None) -> History:
        first, first_plan = self.first_cycle()
        audit, audit_plan = self.audit_opens()
        second = self.second_cycle_opens(first)
        if drafts_issued is not None:
            drafts_issued(first, second)
        review, review_plan, second_plan = self.second_cycle_and_review(second, audit, audit_plan)
        return History(
            first_cycle=first,
            second_cycle=second,
            first_cycle_plan=first_plan,
            second_cycle_plan=second_plan,
            audit=audit,
            audit_plan=audit_plan,
            review=review,
            review_plan=review_plan,
            first_cycle_day=self.o1,
            second_cycle_day=self.o2,
            last_day=self.c2(HISTORY_END),
        )

    def first_cycle(self) -> tuple[str, str]:
        svc, c, m = self.svc, self.coord, self.manager
        steady, improving, falling, mixed, *others = self.codes
        self.go(self.c1(0))
        ref = svc.open_activity(
            c,
            "section11",
            f"Section 11 self-assessment {cycle_label(self.o1)}",
            self.codes,
            {"cycle": cycle_label(self.o1)},
        ).activity.ref
        # the return date is 25 working days away: reminders 10, 5 and 1 working days before
        svc.fire(c, ref, "issue_tool", {"return_date": self.c1(25).isoformat()})
        self.go(self.c1(5))
        self.submit_return(ref, steady, self.answers1(steady))  # before any reminder
        self.go(self.c1(8))
        for code in others:
            self.submit_return(ref, code, self.answers1(code))
        self.go(self.c1(22))  # after the reminders 10 and 5 working days before
        self.submit_return(ref, falling, self.answers1(falling))
        self.go(self.c1(25))  # on the return date, after its reminder
        self.submit_return(ref, mixed, self.answers1(mixed))
        # 11 working days late: three reminders before, one on the day, three chasers (3, 6
        # and 9 working days late) and both escalations (5 and 10 working days late)
        self.go(self.c1(36))
        self.submit_return(ref, improving, self.answers1(improving))

        self.go(self.c1(37))
        svc.fire(c, ref, "start_moderation", {"moderation_panel": "Section 11 moderation panel"})
        for code in self.codes:
            self.moderate(ref, code, self.roles[code].moderated1)
        self.go(self.c1(38))
        svc.fire(
            c, ref, "schedule_challenge_event", {"challenge_event_date": self.c1(45).isoformat()}
        )
        self.go(self.c1(45))
        svc.fire(
            c,
            ref,
            "record_challenge_event",
            {"challenge_summary": "Supervision and information sharing were the main themes."},
        )
        # action plans are due 20 working days after the feedback: reminders 5 and 1
        # working days before and on the day
        self.go(self.c1(47))
        svc.fire(c, ref, "issue_feedback")
        self.go(self.c1(52))
        for code in (steady, improving, *others):
            self.submit_plan(ref, code)
        self.go(self.c1(63))  # after the reminder 5 working days before
        self.submit_plan(ref, falling)
        self.go(self.c1(69))  # 2 working days late, after three reminders
        self.submit_plan(ref, mixed)

        self.go(self.c1(70))
        plan = svc.fire(c, ref, "start_monitoring").spawned[0].ref
        finding = svc.record_finding(
            c,
            ref,
            "finding",
            "Safeguarding supervision is not recorded consistently across agencies.",
        )
        from_training = self.created(
            svc.raise_action_from_question(
                c,
                self.assessment_id(ref, improving),
                "4.1",
                self.action_inputs(
                    "Training needs analysis by role, with completion reported quarterly",
                    improving,
                    self.c1(100),
                ),
            )
        )
        from_capacity = self.created(
            svc.raise_action_from_question(
                c,
                self.assessment_id(ref, steady),
                "1.3",
                self.action_inputs(
                    "Review safeguarding team capacity against demand twice a year",
                    steady,
                    self.c1(90),
                ),
            )
        )
        from_finding = self.created(
            svc.raise_action(
                c,
                ref,
                falling,
                self.action_inputs(
                    "Record supervision on the case file using the partnership template",
                    falling,
                    self.c1(95),
                ),
                finding_id=finding.id,
            )
        )
        svc.fire(c, plan, "start_monitoring", {"owning_subgroup": "Section 11 subgroup"})
        self.go(self.c1(85))  # moved from 90 to 110 working days, with approval
        self.fire_task(
            self.agency(steady),
            from_capacity,
            "request_reprogramme",
            reason="The review waits for the new demand figures",
            new_target_date=self.c1(110).isoformat(),
        )
        self.fire_task(m, from_capacity, "approve_reprogramme", reason="Agreed at subgroup")
        self.go(self.c1(95))  # 5 working days early
        self.complete(from_training, improving, impact=True)
        self.go(self.c1(98))  # 3 working days late, impact not yet known
        self.complete(from_finding, falling, impact=False, sign_off=False)
        self.go(self.c1(100))  # after the original date, before the reprogrammed one
        self.complete(from_capacity, steady, impact=True)
        self.go(self.c1(105))
        self.fire_task(
            self.agency(falling),
            from_finding,
            "record_impact",
            evidence_of_impact="Supervision is recorded on nine in ten sampled files (fictional).",
        )
        self.fire_task(m, from_finding, "sign_off")
        self.go(self.c1(106))
        svc.fire(c, plan, "submit_for_signoff")
        svc.fire(
            m,
            plan,
            "sign_off_plan",
            {"impact_summary": "Training, capacity and supervision records improved."},
        )
        self.go(self.c1(107))
        svc.fire(
            c,
            ref,
            "close",
            {"closure_summary": "Every action signed off with evidence of impact."},
        )
        return ref, plan

    def audit_opens(self) -> tuple[str, str]:
        svc, c, m = self.svc, self.coord, self.manager
        steady, improving, falling = self.codes[:3]
        self.go(self.c2(AUDIT_START))
        ref = svc.open_activity(
            c,
            "themed_audit",
            "Children missing education (fictional theme)",
            [steady, improving, falling],
            {"theme": "Children missing education"},
        ).activity.ref
        svc.fire(c, ref, "sample_cases", {"sample_size": 5})
        self.go(self.c2(AUDIT_START + 2))  # returns due 20 working days later
        svc.fire(c, ref, "issue_audit_tools")
        for offset, code in ((10, steady), (12, improving), (15, falling)):
            self.go(self.c2(AUDIT_START + offset))  # before the first reminder
            task = self.task(ref, "audit_return", code)
            view = self.svc.assessment_for_task(self.agency(code), task)
            svc.submit_assessment(self.agency(code), task, fill(view.form, view.scale, "good"))
            self.fire_task(c, task, "accept")
        self.go(self.c2(-40))
        svc.fire(c, ref, "convene_meeting", {"meeting_date": self.c2(-35).isoformat()})
        self.go(self.c2(-35))
        form, scale = svc.forms.get("maa_judgements"), svc.forms.scale("ofsted")
        svc.fire(
            c,
            ref,
            "record_judgements",
            answers=fill(
                form, scale, lambda q: FIRST_JUDGEMENTS[q.number], "Agreed at the meeting."
            ),
        )
        attendance = svc.record_finding(
            c, ref, "finding", "Schools were not invited to every strategy discussion."
        )
        svc.record_finding(c, ref, "finding", "Return interviews were offered but rarely recorded.")
        self.go(self.c2(-33))
        svc.fire(
            c,
            ref,
            "submit_findings",
            {"findings_summary": "Recognition is good; assessment and planning need work."},
        )
        plan = svc.fire(m, ref, "approve_findings").spawned[0].ref
        svc.raise_action(
            c,
            ref,
            falling,
            self.action_inputs(
                "Invite the school to every strategy discussion", falling, self.c2(-10)
            ),
            finding_id=attendance.id,
        )
        judgements = next(v for v in svc.assessments_of(ref) if v.assessment.stage == "first")
        svc.raise_action_from_question(
            c,
            judgements.assessment.id or 0,
            "assessment",
            self.action_inputs(
                "Health assessments to include the child's education history",
                improving,
                self.c2(10),
            ),
            agency=improving,
        )
        svc.fire(c, plan, "start_monitoring", {"owning_subgroup": "Quality and performance"})
        self.go(self.c2(-30))
        svc.fire(
            c,
            ref,
            "disseminate_learning",
            {"dissemination_note": "Seven-minute briefing and practitioner forum."},
        )
        self.go(self.c2(-29))
        svc.fire(c, ref, "schedule_reaudit", {"reaudit_date": self.c2(30).isoformat()})
        self.go(self.c2(-12))  # 2 working days early; its impact is not yet known
        self.complete(self.task(plan, "action", falling), falling, impact=False, sign_off=False)
        return ref, plan

    def second_cycle_opens(self, first: str) -> str:
        svc, c = self.svc, self.coord
        self.go(self.c2(0))
        ref = svc.open_activity(
            c,
            "section11",
            f"Section 11 self-assessment {cycle_label(self.o2)}",
            self.codes,
            {"cycle": cycle_label(self.o2), "previous_cycle": first},
        ).activity.ref
        svc.fire(c, ref, "issue_tool", {"return_date": self.c2(25).isoformat()})
        return ref

    def second_cycle_and_review(
        self, ref: str, audit: str, audit_plan: str
    ) -> tuple[str, str, str]:
        svc, c, m = self.svc, self.coord, self.manager
        steady, improving, falling, mixed, *others = self.codes
        self.go(self.c2(3))  # part-way: the first four standards confirmed
        self.review2(steady, ref, ["1", "2", "3", "4"])
        self.go(self.c2(4))
        self.review2(steady, ref)
        self.fire_task(c, self.task(ref, "s11_return", steady), "accept")
        self.go(self.c2(12))  # the audit action, 2 working days late
        self.complete(self.task(audit_plan, "action", improving), improving, impact=True)
        self.go(self.c2(17))  # after the reminder 10 working days before
        for code in (mixed, *others):
            self.review2(code, ref)
            self.fire_task(c, self.task(ref, "s11_return", code), "accept")
        self.go(self.c2(24))  # after the reminder 1 working day before
        self.review2(improving, ref)
        self.fire_task(c, self.task(ref, "s11_return", improving), "accept")
        self.go(self.c2(28))  # 3 working days late, after the first chaser
        self.review2(falling, ref)
        self.fire_task(c, self.task(ref, "s11_return", falling), "accept")

        self.go(self.c2(29))
        svc.fire(c, ref, "start_moderation")
        for code in self.codes:
            self.moderate(ref, code, self.roles[code].moderated2)
        self.go(self.c2(30))
        svc.fire(
            c, ref, "schedule_challenge_event", {"challenge_event_date": self.c2(35).isoformat()}
        )
        form, scale = svc.forms.get("maa_judgements"), svc.forms.scale("ofsted")
        svc.fire(
            c,
            audit,
            "record_reaudit_judgements",
            answers=fill(
                form, scale, lambda q: REAUDIT_JUDGEMENTS[q.number], "Agreed at the re-audit."
            ),
        )
        self.go(self.c2(31))
        svc.fire(c, audit, "close")
        self.go(self.c2(35))
        svc.fire(
            c,
            ref,
            "record_challenge_event",
            {"challenge_summary": "Named leads' cover and procedure reviews were challenged."},
        )
        self.go(self.c2(36))
        svc.fire(c, ref, "issue_feedback")
        self.go(self.c2(40))
        for code in self.codes:
            self.submit_plan(ref, code)

        # a practice review: the local authority became aware on day 40
        aware = self.c2(40)
        self.go(self.c2(41))
        review = svc.open_activity(
            c,
            "practice_review",
            "Practice review: Case Hawthorn (fictional)",
            [steady, improving, falling],
            {"awareness_date": aware.isoformat()},
        ).activity.ref

        self.go(self.c2(45))
        plan = svc.fire(c, ref, "start_monitoring").spawned[0].ref
        svc.raise_action_from_question(
            c,
            self.assessment_id(ref, falling),
            "2.1",
            self.action_inputs("Appoint a deputy safeguarding lead", falling, self.c2(90)),
        )
        recruitment = self.created(
            svc.raise_action_from_question(
                c,
                self.assessment_id(ref, mixed),
                "5.1",
                self.action_inputs("Audit every personnel file for DBS checks", mixed, self.c2(60)),
            )
        )
        svc.fire(c, plan, "start_monitoring", {"owning_subgroup": "Section 11 subgroup"})

        # the Panel is told 7 working days after awareness: 2 working days late
        self.go(self.c2(47))
        svc.fire(
            c, review, "record_panel_notification", {"notification_date": self.c2(47).isoformat()}
        )
        svc.fire(c, review, "request_agency_summaries")  # due in 5 working days
        self.go(self.c2(49))
        for code in (steady, improving, falling):
            task = self.task(review, "agency_summary", code)
            self.fire_task(self.agency(code), task, "submit", summary="Agency involvement summary.")
            self.fire_task(c, task, "accept")
        self.go(self.c2(50))
        svc.fire(
            c,
            review,
            "convene_rapid_review_meeting",
            {"rapid_review_meeting_date": self.c2(51).isoformat()},
        )
        self.go(self.c2(51))
        svc.fire(
            c,
            review,
            "record_rapid_review_meeting",
            {
                "recommendation": "no_further_review",
                "meeting_summary": "Learning identified for single agencies; no local review.",
            },
        )
        self.go(self.c2(53))  # the rapid review is sent 2 working days before its deadline
        svc.fire(
            m,
            review,
            "decide_no_further_review",
            {
                "rapid_review_sent_date": self.c2(53).isoformat(),
                "decision_date": self.c2(53).isoformat(),
            },
        )
        self.go(self.c2(54))
        review_plan = (
            svc.fire(
                c,
                review,
                "agree_learning_actions",
                {"learning_summary": "Escalation between agencies was slow."},
            )
            .spawned[0]
            .ref
        )
        recommendation = svc.record_finding(
            c,
            review,
            "recommendation",
            "Children's services to confirm strategy decisions to partners in writing.",
            agency=falling,
        )
        svc.raise_action(
            c,
            review,
            falling,
            self.action_inputs(
                "Send written strategy outcomes to every partner", falling, self.c2(55)
            ),
            finding_id=recommendation.id,
        )
        svc.fire(c, review_plan, "start_monitoring", {"owning_subgroup": "Case review subgroup"})
        self.go(self.c2(55))
        self.complete(recruitment, mixed, impact=True)
        self.go(self.c2(HISTORY_END))
        svc.fire(
            c,
            ref,
            "record_monitoring",
            {"monitoring_note": "One action done; the deputy lead post is being recruited."},
        )
        return review, review_plan, plan
