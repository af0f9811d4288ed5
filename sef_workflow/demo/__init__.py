"""A fictional partnership to explore: a dozen agencies, staff, and activities in varied states.

Everything is invented: agencies are "Northshire ... (fictional)", addresses end in
``.example``, and titles carry no child or family details. The history is written
through the service on a fake clock: first two Section 11 cycles two years apart, with a
themed audit and a practice review around the second (:mod:`.history`, placed so that the
current reporting year's report shows the second cycle against the first), then the story
of the last nine weeks, so timelines, deadlines, overdue tasks and reports look as they
would in use.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..app import App
from ..assessments import fill
from ..clock import FakeClock
from ..directory import parse_agencies_csv
from ..errors import InvalidInput
from ..models import Activity, Task
from ..reports.figures import reporting_year
from ..service import Actor, Service
from .history import HISTORY_END, build_history

#: the demo staff's web password (fictional accounts on a local demo only)
DEMO_PASSWORD = "northshire-demo"

ADMIN = ("Alex Admin", "admin@northshire-scp.example", "admin")
COORDINATOR = ("Casey Coordinator", "coordinator@northshire-scp.example", "coordinator")
COORDINATOR_2 = ("Drew Coordinator", "coordinator2@northshire-scp.example", "coordinator")
MANAGER = ("Morgan Business Manager", "manager@northshire-scp.example", "manager")
CHAIR = ("Sam Subgroup Chair", "chair@northshire-scp.example", "manager")
STAFF = (ADMIN, COORDINATOR, COORDINATOR_2, MANAGER, CHAIR)
#: Task kinds whose owner completes an assessment form (submitted through the form).
FORM_TASKS = frozenset({"audit_return", "s11_return"})
#: Agencies in the Section 11 history, in the order of their parts in it (see history.py).
HISTORY_AGENCIES = ("POL", "ICB", "CSC", "HOSP", "EDU", "PROB")
#: The audit meeting's judgements in the demo's finished themed audit.
JUDGEMENTS = {
    "recognition": "good",
    "assessment": "requires_improvement",
    "planning_intervention": "requires_improvement",
    "joint_working": "good",
    "impact": "requires_improvement",
    "overall_quality": "requires_improvement",
}


def agencies_csv() -> str:
    return resources.files(__package__).joinpath("agencies.csv").read_text(encoding="utf-8")


def load_demo(app: App, *, reset: bool = False, echo: Callable[[str], Any] = print) -> None:
    """Create the schema and the demo partnership; refuse to mix with existing data."""
    if reset:
        _reset(app)
    app.db.upgrade()
    with app.db.read() as session:
        existing = session.execute(sa.select(sa.func.count()).select_from(Activity)).scalar_one()
    if existing:
        raise InvalidInput(
            f"the database already holds {existing} activities; run 'sef demo --reset' to "
            "start again (SQLite only), or point SEF_DATABASE_URL at an empty database"
        )
    now = app.service.clock.now()
    start = datetime.combine(
        app.calendar.local_date(now) - timedelta(days=63), time(9, 30), tzinfo=app.calendar.tz
    )
    clock = FakeClock(start)
    svc = Service(app.db, app.registry, app.calendar, clock, app.notifier)
    story = _Story(svc, clock, now)
    echo("Loading the fictional Northshire partnership ...")
    story.directory()
    echo("  12 agencies and 5 staff")
    story.history(app.settings.settings.reports.year_start_month)
    story.run()
    for line in story.summary():
        echo("  " + line)
    from ..notify.delivery import deliver_due

    report = deliver_due(app.db, app.settings, app.service.clock, echo=lambda _line: None)
    where = (
        app.settings.settings.smtp.host
        or f"the mail catcher's folder {app.settings.catcher_dir()} (sef mail list)"
    )
    echo(f"  {report.sent} emails delivered to {where}")
    from ..access import login_url
    from ..web.auth import create_login_link, set_password

    for _name, email, _role in STAFF:
        set_password(app.db, email, DEMO_PASSWORD, now)
    base = app.settings.settings.partnership.base_url
    lead = story.lead_emails["POL"]
    hours = timedelta(hours=app.settings.settings.web.link_hours)
    token = create_login_link(app.db, lead, now, hours, service=app.service)
    echo("")
    echo("Try:")
    echo("  sef activity list")
    echo(f"  sef activity show {story.refs['audit_live']}")
    echo("  sef task list --overdue")
    echo("  sef mail list; sef mail show 1")
    echo("  sef task list --agency EDU")
    echo("Demo accounts (use with --as): " + ", ".join(f"{e} ({r})" for _n, e, r in STAFF))
    echo("")
    echo(
        f"Web (sef serve): sign in at {base}/login with any demo account above and the "
        f"password {DEMO_PASSWORD}"
    )
    echo(
        f"  agency view: {login_url(base, token)}  (single use; new ones: sef agencies link {lead})"
    )


def _reset(app: App) -> None:
    if not app.db.is_sqlite:
        raise InvalidInput("--reset only deletes SQLite files; empty a PostgreSQL database by hand")
    path = sa.engine.make_url(app.db.url).database
    app.db.dispose()
    if path:
        for suffix in ("", "-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)
    for kept in app.settings.catcher_dir().glob("*.eml"):
        kept.unlink()


class _Story:
    """The demo's history, told through the service one day at a time."""

    def __init__(self, svc: Service, clock: FakeClock, end: datetime) -> None:
        self.svc = svc
        self.clock = clock
        self.end = end
        self.refs: dict[str, str] = {}
        self.coord = Actor(id=COORDINATOR[1], role="coordinator", name=COORDINATOR[0])
        self.coord2 = Actor(id=COORDINATOR_2[1], role="coordinator", name=COORDINATOR_2[0])
        self.manager = Actor(id=MANAGER[1], role="manager", name=MANAGER[0])
        self.chair = Actor(id=CHAIR[1], role="manager", name=CHAIR[0])
        self.agency_ids: dict[str, int] = {}
        self.lead_emails: dict[str, str] = {}
        self._first = svc.calendar.local_date(clock.now())

    # -- helpers
    def day(self, n: int, hour: int = 10) -> None:
        """Move the clock to day ``n`` of the story (0 = nine weeks ago), at ``hour``."""
        moment = datetime.combine(
            self._first + timedelta(days=n), time(hour), tzinfo=self.svc.calendar.tz
        )
        self.clock.set(min(moment, self.end))

    def agency(self, code: str) -> Actor:
        return Actor(
            id=self.lead_emails[code], role="agency", agency_id=self.agency_ids[code], name=code
        )

    def tasks(self, ref: str, kind: str) -> list[Task]:
        return [t for t in self.svc.get_activity(ref)[3] if t.kind == kind]

    def agency_task(self, ref: str, kind: str, code: str) -> Task:
        for t in self.tasks(ref, kind):
            if t.agency_id == self.agency_ids[code]:
                return t
        raise LookupError(f"{ref} has no {kind} for {code}")

    def task_fire(self, actor: Actor, task: Task, trigger: str, **inputs: Any) -> None:
        assert task.id is not None
        reason = inputs.pop("reason", None)
        rating = inputs.pop("rating", None)
        if trigger == "submit" and task.kind in FORM_TASKS:
            view = self.svc.assessment_for_task(actor, task.id)
            self.svc.submit_assessment(actor, task.id, fill(view.form, view.scale, rating))
            return
        self.svc.fire_task(actor, task.id, trigger, inputs, reason)

    # -- the story
    def directory(self) -> None:
        system = Actor.system()
        self.svc.import_agencies(system, parse_agencies_csv(agencies_csv(), "demo agencies"))
        for name, email, role in STAFF:
            self.svc.add_staff(system, name, email, role)
        rows = self.svc.list_agencies()
        self.agency_ids = {a.code: a.id or 0 for a in rows}
        self.lead_emails = {a.code: a.lead_email for a in rows}

    def history(self, year_start_month: int) -> None:
        """Two Section 11 cycles, a themed audit and a practice review before the story,
        placed so that the second cycle's returns fall in the current reporting year (when
        the year is old enough to hold them) and the history ends before the story begins."""
        cal = self.svc.calendar
        today = cal.local_date(self.end)
        year_start, _ = reporting_year(today, year_start_month)
        ends_before_story = cal.add_working_days(self._first, -(HISTORY_END + 1))
        ends_before_today = cal.add_working_days(today, -(HISTORY_END + 1))
        opens = min(max(ends_before_story, year_start), ends_before_today)
        done = build_history(
            self.svc,
            HISTORY_AGENCIES,
            second_cycle_opens=opens,
            coordinator=self.coord,
            manager=self.chair,
        )
        self.refs.update(
            s11_previous=done.first_cycle,
            s11=done.second_cycle,
            audit_reaudited=done.audit,
            cspr_learning=done.review,
        )

    def run(self) -> None:
        svc, c = self.svc, self.coord
        # A themed audit, nine weeks ago, now awaiting returns with some late.
        self.day(0)
        ref = svc.open_activity(
            c,
            "themed_audit",
            "Neglect in children under five (fictional theme)",
            ["POL", "ICB", "CSC", "EDU", "HOUS"],
            {"theme": "Neglect"},
        ).activity.ref
        self.refs["audit_live"] = ref
        svc.fire(c, ref, "sample_cases", {"sample_size": 6})
        self.day(14)
        svc.fire(c, ref, "issue_audit_tools")
        self.day(30)
        self.task_fire(
            self.agency("POL"),
            self.agency_task(ref, "audit_return", "POL"),
            "submit",
            summary="Single-agency audit tool completed for all sampled cases",
        )
        self.task_fire(c, self.agency_task(ref, "audit_return", "POL"), "accept")
        self.day(33)
        self.task_fire(
            self.agency("ICB"),
            self.agency_task(ref, "audit_return", "ICB"),
            "submit",
            summary="Audit tool returned; two cases need GP records",
        )
        self.task_fire(
            c,
            self.agency_task(ref, "audit_return", "ICB"),
            "send_back",
            reason="Please add the GP records for the two remaining cases",
        )
        self.day(35)
        edu = self.agency_task(ref, "audit_return", "EDU")
        assert edu.id is not None
        svc.extend_deadline(
            c,
            edu.id,
            svc.calendar.add_working_days(edu.due_on or edu.created_at.date(), 5),
            "School holidays delayed the designated teachers' audits",
        )

        # A themed audit run to closure, with its action plan.
        self.day(1)
        done = svc.open_activity(
            self.coord2,
            "themed_audit",
            "Information sharing at the front door (fictional theme)",
            ["POL", "CSC", "ICB"],
            {"theme": "Information sharing"},
        ).activity.ref
        self.refs["audit_closed"] = done
        svc.fire(self.coord2, done, "sample_cases", {"sample_size": 4})
        svc.fire(self.coord2, done, "issue_audit_tools")
        self.day(10)
        for code in ("POL", "CSC", "ICB"):
            t = self.agency_task(done, "audit_return", code)
            self.task_fire(self.agency(code), t, "submit", summary="Audit tool completed")
            self.task_fire(self.coord2, t, "accept")
        self.day(12)
        svc.fire(self.coord2, done, "convene_meeting", {"meeting_date": self._date(15)})
        self.day(15)
        svc.fire(
            self.coord2,
            done,
            "record_judgements",
            answers=fill(
                svc.forms.get("maa_judgements"),
                svc.forms.scale("ofsted"),
                lambda q: JUDGEMENTS[q.number],
                "Discussed at the audit meeting (fictional).",
            ),
        )
        self.day(17)
        svc.fire(
            self.coord2,
            done,
            "submit_findings",
            {"findings_summary": "Strategy discussions did not always include health."},
        )
        self.day(21)
        plan = svc.fire(self.chair, done, "approve_findings").spawned[0].ref
        self.refs["plan"] = plan
        self.day(22)
        actions = [
            (
                "POL",
                "Invite health to every strategy discussion, measured by monthly dip sample",
                20,
            ),
            ("ICB", "Deliver briefing on information sharing to all GP practices", 35),
            ("CSC", "Update the front door threshold guidance and publish it", 50),
        ]
        for code, text, days in actions:
            svc.add_task(
                self.coord2,
                plan,
                "action",
                code,
                {
                    "description": text,
                    "lead_name": f"{code} safeguarding lead",
                    "target_date": self._date(22 + days),
                },
            )
        svc.fire(
            self.coord2,
            plan,
            "start_monitoring",
            {"owning_subgroup": "Quality and Performance subgroup"},
        )
        self.day(30)
        pol = self.agency_task(plan, "action", "POL")
        self.task_fire(
            self.agency("POL"),
            pol,
            "update_progress",
            brag="green",
            progress_note="Process agreed with the MASH health team",
        )
        self.day(40)
        self.task_fire(
            self.agency("POL"),
            pol,
            "submit_completion",
            evidence_of_completion="Dip sample shows health attended 9 of 10 discussions",
            evidence_of_impact="Earlier health information in strategy decisions",
        )
        self.task_fire(self.chair, pol, "sign_off")
        icb = self.agency_task(plan, "action", "ICB")
        self.task_fire(
            self.agency("ICB"),
            icb,
            "update_progress",
            brag="amber",
            progress_note="Briefing written; sessions booked late",
        )
        self.task_fire(
            self.agency("ICB"),
            icb,
            "request_reprogramme",
            new_target_date=self._date(70),
            reason="Practice sessions could only be booked for next month",
        )
        self.task_fire(self.chair, icb, "approve_reprogramme", reason="Agreed at subgroup")
        self.day(44)
        svc.fire(
            self.coord2,
            done,
            "disseminate_learning",
            {"dissemination_note": "Seven-minute briefing and newsletter item"},
        )
        svc.fire(self.coord2, done, "close")

        # A practice review: notification recorded, rapid review under way.
        self.day(49)
        cspr = svc.open_activity(
            c,
            "practice_review",
            "Practice review: Case Juniper (fictional)",
            ["POL", "ICB", "CSC", "EDU"],
            {"awareness_date": self._date(48)},
        ).activity.ref
        self.refs["cspr"] = cspr
        self.day(52)
        svc.fire(c, cspr, "record_panel_notification", {"notification_date": self._date(52)})
        svc.fire(c, cspr, "request_agency_summaries")
        self.day(55)
        for code in ("POL", "CSC"):
            self.task_fire(
                self.agency(code),
                self.agency_task(cspr, "agency_summary", code),
                "submit",
                summary="Agency summary of involvement",
            )

        # Report and data requests.
        self.day(28)
        q = svc.open_activity(
            c,
            "agency_request",
            "Quarterly system indicators Q2 (fictional data)",
            ["POL", "ICB", "CSC", "EDU"],
            {
                "request_type": "quarterly_system_indicators",
                "period": "Q2",
                "contact": "performance_data",
            },
        ).activity.ref
        self.refs["request_quarterly"] = q
        svc.fire(c, q, "issue_request", {"due_date": self._date(49)})
        self.day(47)
        for code in ("POL", "ICB", "CSC", "EDU"):
            if code == "EDU":
                continue
            t = self.agency_task(q, "agency_return", code)
            self.task_fire(self.agency(code), t, "submit", summary="Data return attached")
            self.task_fire(c, t, "accept")
        annual = svc.open_activity(
            self.coord2,
            "agency_request",
            "LADO annual report",
            ["CSC"],
            {"request_type": "annual_report", "contact": "lado"},
        ).activity.ref
        self.refs["request_annual"] = annual
        svc.fire(self.coord2, annual, "issue_request", {"due_date": self._date(80)})
        self.day(63)

    def _date(self, n: int) -> str:
        return (self._first + timedelta(days=n)).isoformat()

    def summary(self) -> list[str]:
        lines = []
        for a in self.svc.list_activities():
            lines.append(f"{a.ref:<14} {a.workflow:<15} {a.state:<22} {a.title}")
        return lines
