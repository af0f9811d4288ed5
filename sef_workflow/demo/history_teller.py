"""Telling the demo history: the two cycles' opening days, a fake clock walked forward day
by day with the reminder sweep run on the way, and the steps each party takes (an agency
answers, reviews or completes an action; the panel moderates; the coordinator accepts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from ..assessments import AnswerInput, Moderation
from ..calendar import add_months
from ..clock import FakeClock
from ..models import Agency, Task
from ..service import Actor, Outcome, Service
from .history_roles import (
    EVIDENCE,
    FALLING_BACK,
    IMPROVING,
    MIXED,
    NEW_EVIDENCE,
    STEADY,
    Role,
    other_role,
)

#: months between the two cycles opening (a two-yearly cycle)
CYCLE_GAP_MONTHS = 24


class Teller:
    """One telling: its service and fake clock, its agencies and their roles, the two
    cycles' opening days, and the steps every chapter of the history is made of."""

    def __init__(
        self,
        svc: Service,
        agencies: Sequence[str],
        second_cycle_opens: date,
        coordinator: Actor,
        manager: Actor,
    ) -> None:
        if not isinstance(svc.clock, FakeClock):
            raise TypeError("the history is told on a FakeClock")
        codes = [c.strip().upper() for c in agencies]
        if len(codes) < 4 or len(set(codes)) != len(codes):
            raise ValueError("the history needs at least four different agencies")
        self.svc = svc
        self.clock: FakeClock = svc.clock
        self.cal = svc.calendar
        self.coord = coordinator
        self.manager = manager
        self.codes = codes
        rows = {a.code: a for a in svc.list_agencies()}
        missing = [c for c in codes if c not in rows]
        if missing:
            raise ValueError(f"no agency with code {', '.join(missing)}")
        self.rows: dict[str, Agency] = {c: rows[c] for c in codes}
        self.roles: dict[str, Role] = {
            code: (STEADY, IMPROVING, FALLING_BACK, MIXED)[i] if i < 4 else other_role(i - 4)
            for i, code in enumerate(codes)
        }
        self.o2 = self.cal.add_working_days(second_cycle_opens, 0)
        self.o1 = self.cal.add_working_days(add_months(self.o2, -CYCLE_GAP_MONTHS), 0)
        self.today: date | None = None
        self.form = svc.forms.get("section11")
        self.ids: dict[tuple[str, str, str], int] = {}

    # ------------------------------------------------------------------ time
    def c1(self, n: int) -> date:
        """``n`` working days after the first cycle opens."""
        return self.cal.add_working_days(self.o1, n) if n else self.o1

    def c2(self, n: int) -> date:
        """``n`` working days after (or before, for ``n < 0``) the second cycle opens."""
        return self.cal.add_working_days(self.o2, n) if n else self.o2

    def go(self, day: date) -> None:
        """Move to 10:00 on ``day``; on the way, at 09:30 on each day a reminder, chaser or
        escalation falls due, run the sweep as the scheduler would. A later step on the same
        day happens five minutes after the one before."""
        if self.today is not None and day < self.today:
            raise ValueError(f"the story moves forward only ({day} is before {self.today})")
        if self.today == day:
            self.clock.advance(timedelta(minutes=5))
            return
        target = datetime.combine(day, time(10), tzinfo=self.cal.tz)
        if self.today is None:
            self.clock.set(datetime.combine(day, time(0), tzinfo=self.cal.tz))
        while (due := self._next_rung()) is not None:
            at = max(
                due,
                self.clock.now(),
                datetime.combine(self.cal.local_date(due), time(9, 30), tzinfo=self.cal.tz),
            )
            if at >= target:
                break
            self.clock.set(at)
            report = self.svc.sweep()
            if report.errors or report.outside_hours:
                raise RuntimeError(f"the reminder sweep at {at} did not run: {report}")
            if self._next_rung() == due:
                raise RuntimeError(f"the reminder sweep at {at} left a rung due at {due}")
        self.today = day
        self.clock.set(target)

    def _next_rung(self) -> datetime | None:
        """When the sweep next has something to send (the indexed column it reads)."""
        with self.svc.db.read() as session:
            found: datetime | None = session.execute(
                sa.select(sa.func.min(col(Task.next_reminder_at)))
            ).scalar_one()
        if found is not None and found.tzinfo is None:  # SQLite keeps UTC without a zone
            found = found.replace(tzinfo=UTC)
        return found

    # ------------------------------------------------------------------ helpers
    def agency(self, code: str) -> Actor:
        row = self.rows[code]
        return Actor(id=row.lead_email, role="agency", agency_id=row.id, name=row.name)

    def task(self, ref: str, kind: str, code: str) -> int:
        """The id of the agency's task of ``kind`` in ``ref`` (looked up once)."""
        key = (ref, kind, code)
        if key not in self.ids:
            for t in self.svc.get_activity(ref)[3]:
                for c, row in self.rows.items():
                    if t.id is not None and t.agency_id == row.id:
                        self.ids.setdefault((ref, t.kind, c), t.id)
        if key not in self.ids:
            raise LookupError(f"{ref} has no {kind} task for {code}")
        return self.ids[key]

    def fire_task(
        self, actor: Actor, task_id: int, trigger: str, reason: str | None = None, **inputs: Any
    ) -> None:
        self.svc.fire_task(actor, task_id, trigger, inputs, reason)

    def answers1(self, code: str) -> dict[str, AnswerInput]:
        """The first cycle's answers (an unanswered optional question is left out)."""
        out: dict[str, AnswerInput] = {}
        for q in self.form.questions():
            rating = self.roles[code].rating1(q)
            if rating is not None:
                out[q.number] = AnswerInput(rating, EVIDENCE, reviewed=True)
        return out

    def review2(self, code: str, ref: str, standards: Sequence[str] | None = None) -> None:
        """The agency reviews the answers carried into the second cycle: it confirms each
        one, or changes it, and answers what was not carried; saved part-way when
        ``standards`` names only some standards, else submitted."""
        actor = self.agency(code)
        task = self.task(ref, "s11_return", code)
        view = self.svc.assessment_for_task(actor, task)
        changes = self.roles[code].changes2
        out: dict[str, AnswerInput] = {}
        for q in view.form.questions():
            if standards is not None and q.standard not in standards:
                continue
            old = view.answers.get(q.number)
            changed = Role.pick(changes, q)
            if changed is not None:
                out[q.number] = AnswerInput(changed, NEW_EVIDENCE, reviewed=True)
            elif old is not None and old.rating is not None:
                out[q.number] = AnswerInput(old.rating, old.evidence, reviewed=True)
        if standards is None:
            self.svc.submit_assessment(actor, task, out)
        else:
            self.svc.save_answers(actor, task, out)

    def moderate(self, ref: str, code: str, overrides: Mapping[str, tuple[str, str]]) -> None:
        """The panel's rating for every question: the agency's own unless overridden."""
        view = self.svc.assessment_for_task(self.coord, self.task(ref, "s11_return", code))
        ratings: dict[str, Moderation] = {}
        for q in view.form.questions():
            answer = view.answers.get(q.number)
            override = Role.pick(overrides, q)
            if override is not None:
                ratings[q.number] = Moderation(*override)
            elif answer is not None and answer.rating is not None:
                ratings[q.number] = Moderation(answer.rating)
            else:
                raise ValueError(f"{code}: question {q.number} has no rating to moderate")
        self.svc.moderate(self.coord, view.assessment.id or 0, ratings)
        self.fire_task(
            self.manager,
            self.task(ref, "moderation", code),
            "finish_moderation",
            moderation_summary="Moderated ratings and reasons agreed by the panel (fictional).",
        )

    def submit_return(self, ref: str, code: str, answers: Mapping[str, AnswerInput]) -> None:
        task = self.task(ref, "s11_return", code)
        self.svc.submit_assessment(self.agency(code), task, answers)
        self.fire_task(self.coord, task, "accept")

    def submit_plan(self, ref: str, code: str) -> None:
        self.fire_task(
            self.agency(code),
            self.task(ref, "agency_action_plan", code),
            "submit",
            summary="SMART actions with named leads and dates (fictional).",
        )
        self.fire_task(self.coord, self.task(ref, "agency_action_plan", code), "agree")

    def action_inputs(self, text: str, code: str, target: date) -> dict[str, Any]:
        return {
            "description": text,
            "lead_name": f"{self.rows[code].name} safeguarding lead",
            "target_date": target.isoformat(),
            "success_measure": "Measured at the next audit (fictional).",
        }

    def assessment_id(self, ref: str, code: str) -> int:
        task = self.task(ref, "s11_return", code)
        return self.svc.assessment_for_task(self.coord, task).assessment.id or 0

    def complete(self, task: int, code: str, *, impact: bool, sign_off: bool = True) -> None:
        inputs = {"evidence_of_completion": "Completed; dip sample attached (fictional)."}
        if impact:
            inputs["evidence_of_impact"] = "Children's plans now show the change (fictional)."
        self.fire_task(self.agency(code), task, "submit_completion", **inputs)
        if sign_off:
            self.fire_task(self.manager, task, "sign_off")

    @staticmethod
    def created(outcome: Outcome) -> int:
        """The id of the task a call created."""
        assert outcome.task is not None
        assert outcome.task.id is not None
        return outcome.task.id
