"""What is waiting on a person ("Waiting on you"), and who of the business unit handles a
task.

:meth:`Inbox.waiting_on` reads, for the person asking, every item that needs them, each
with the one action it needs, most urgent first: overdue (most overdue first), then the
fewest working days left, then the items without a deadline (longest waiting first).

- A coordinator (or an admin): returns to review (a task in an answered state from which
  they may move it to a final state), requests for more time they may decide, the business
  unit's statutory steps within :data:`STATUTORY_WARNING_DAYS` working days of their
  deadline or past it, and overdue work escalated to the business unit.
- A manager: decisions only a manager may take (an open task or activity whose state
  offers a transition for managers and not for coordinators or agencies, such as signing
  off an action or approving a new target date), requests for more time, and overdue work
  escalated to them.
- One of an agency's people: the tasks they see that wait for their answer (requested, or
  sent back to them); the agency's senior manager also the escalations sent to them and the
  requests for more time they may decide.

Every rule is read from the workflow definitions the activities are pinned to, never from
state names. ``show`` filters as a task inbox does: ``mine`` (staff: the items handled by
me, plus the unassigned ones on activities I opened and, for a manager, those only a
manager may decide; an agency's people: the tasks given to them by name, or addressed to
them and given to nobody), ``unassigned`` (handled by nobody) or ``all``.

:meth:`Inbox.take` records who of the business unit handles a task (``Task.handled_by``),
on the task's timeline. It is the business unit's bookkeeping, not the task's state: it
does not move the task's version, so an agency filling in a form is never told that
someone else changed its task.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, cast

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from ..calendar import Due, WorkingCalendar, format_date, is_overdue, remaining
from ..definitions import STAY, TaskKind, TransitionDef, Workflow
from ..directory import normalise_email
from ..errors import (
    ConcurrentUpdate,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TransitionNotAllowed,
)
from ..models import STAFF_ROLES, Activity, Agency, Notification, Staff, Task
from ..views import task_due
from .core import Core
from .deadlines import more_time_choices
from .lookups import task_with_activity
from .values import Actor, Outcome

#: what ``show`` may be
Show = Literal["mine", "unassigned", "all"]
SHOWS: tuple[str, ...] = ("mine", "unassigned", "all")
#: a statutory step of the business unit joins the list this many working days before its
#: deadline (and stays while it is overdue)
STATUTORY_WARNING_DAYS = 5
#: the roles an agency's people act with, in a transition's ``roles``
AGENCY_ROLES = frozenset({"agency", "agency_manager"})
#: what each kind of item is called, in words
KIND_WORDS: dict[str, str] = {
    "review": "Return to review",
    "more_time": "Request for more time",
    "decision": "Decision",
    "statutory": "Statutory deadline",
    "escalation": "Escalation",
    "answer": "Request to answer",
    "sent_back": "Sent back to you",
}


@dataclass(frozen=True)
class WaitingItem:
    """One thing waiting on a person, with the one action it needs."""

    #: review, more_time, decision, statutory, escalation, answer or sent_back
    kind: str
    #: the kind in words ("Return to review")
    kind_text: str
    #: the task it is about (None: a decision on the activity itself)
    task_id: int | None
    reference: str
    activity_title: str
    #: the task's title, or the activity's for a decision on the activity
    title: str
    #: the agency it concerns ("" for the business unit's own work)
    agency_code: str
    agency_name: str
    #: what it needs, in words ("Review the return", "Decide on more time until ...")
    needs: str
    #: the one action it needs: its words and where it is done
    action: str
    url: str
    due_on: date | None
    #: working days to the deadline, negative once past it; None without a running deadline
    working_days_left: int | None
    overdue: bool
    #: the deadline in words ("3 working days left", "2 working days overdue", "")
    deadline_text: str
    #: the member of staff handling it (``Task.handled_by``), or None
    handled_by: str | None
    #: who it is with, in words
    assigned_to: str
    #: who opened the activity (an unassigned item on it is theirs)
    opened_by: str = ""
    #: the person of the agency the task was given to by name, if any
    given_to: str | None = None
    #: only a manager may do what it needs (an unassigned one is every manager's)
    for_managers: bool = False
    #: a request for more time: the date asked for, and what the viewer may do with it
    asked_until: date | None = None
    may_agree: bool = False
    may_decline: bool = False
    #: whether the viewer may take it or give it to a colleague (staff, task items)
    may_take: bool = False
    #: anything else worth saying ("You asked for more time until ...")
    note: str = ""
    #: since when it has waited, for ordering items without a deadline
    since: datetime | None = None

    def sort_key(self) -> tuple[int, int, float, int, int]:
        """Overdue first (most overdue first), then fewest working days left, then no
        deadline (the longest waiting first); ties by task, then by kind."""
        if self.working_days_left is None:
            bucket, left = 2, 0
        else:
            bucket, left = (0 if self.overdue else 1), self.working_days_left
        waited = 0.0
        if bucket == 2:  # no deadline: the longest waiting first
            waited = self.since.timestamp() if self.since is not None else float("inf")
        rank = list(KIND_WORDS).index(self.kind) if self.kind in KIND_WORDS else len(KIND_WORDS)
        return bucket, left, waited, self.task_id or 0, rank


@dataclass(frozen=True)
class _Row:
    task: Task
    activity: Activity
    agency: Agency | None
    wf: Workflow

    @property
    def kind(self) -> TaskKind:
        return self.wf.tasks[self.task.kind]


class Inbox:
    """What waits on each person, and who of the business unit handles a task."""

    def __init__(self, core: Core) -> None:
        self.core = core

    # ------------------------------------------------------------------ the read model
    def waiting_on(self, actor: Actor, show: str = "mine") -> list[WaitingItem]:
        if show not in SHOWS:
            raise InvalidInput(f"show must be one of {', '.join(SHOWS)}, not {show!r}")
        now = self.core.clock.now()
        with self.core.db.read() as session:
            if actor.role in STAFF_ROLES:
                items = self._staff(session, actor, now)
            elif actor.role == "agency" and actor.agency_id is not None:
                items = self._agency(session, actor, now)
            else:
                raise PermissionDenied(f"{actor.role} {actor.id} has no list of work")
        chosen = [i for i in items if _shown(i, actor, cast(Show, show))]
        return sorted(chosen, key=WaitingItem.sort_key)

    def _staff(self, session: Session, actor: Actor, now: datetime) -> list[WaitingItem]:
        core = self.core
        manager = actor.role == "manager"
        definitions = self._definitions(session)
        combos = [
            (definition_id, kind.name, state)
            for definition_id, wf in definitions.items()
            for kind in wf.tasks.values()
            for state in kind.states
            if _decision(kind, state, actor) is not None
        ]
        today = core.calendar.local_date(now)
        horizon = core.calendar.add_working_days(today, STATUTORY_WARNING_DAYS)
        wanted = [
            col(Task.requested_due_on).is_not(None),
            sa.and_(col(Task.deadline_status) == "running", col(Task.due_at) <= now),
        ]
        if not manager:
            wanted.append(
                sa.and_(
                    col(Task.category) == "statutory",
                    col(Task.agency_id).is_(None),
                    col(Task.deadline_status) == "running",
                    col(Task.due_on) <= horizon,
                )
            )
        wanted += [
            sa.and_(col(Activity.definition_id) == d, col(Task.kind) == k, col(Task.state) == s)
            for d, k, s in combos
        ]
        rows = self._tasks(session, definitions, col(Task.is_open).is_(True), sa.or_(*wanted))
        escalated = self._escalated(
            session,
            [r for r in rows if _overdue_running(r.task, now)],
            ("business_unit",) if not manager else (),
            actor.id if manager else None,
        )
        names = _staff_names(session)
        items: list[WaitingItem] = []
        for r in rows:
            task = r.task
            decision = _decision(r.kind, task.state, actor)
            if decision is not None:
                items.append(self._decision_item(r, decision, actor, now, names))
            if task.requested_due_on is not None:
                agree, decline = more_time_choices(actor, r.kind, task)
                if decline:
                    items.append(self._more_time_item(r, agree, actor, now, names))
            if (
                not manager
                and task.category == "statutory"
                and task.agency_id is None
                and task.deadline_status == "running"
            ):
                item = self._statutory_item(r, actor, now, names)
                if item is not None:
                    items.append(item)
            if task.id in escalated and _overdue_running(task, now):
                items.append(self._escalation_item(r, escalated[task.id], actor, now, names))
        if manager:
            items += self._activity_decisions(session, definitions, actor)
        return items

    def _agency(self, session: Session, actor: Actor, now: datetime) -> list[WaitingItem]:
        definitions = self._definitions(session)
        rows = [
            r
            for r in self._tasks(
                session,
                definitions,
                col(Task.is_open).is_(True),
                col(Task.agency_id) == actor.agency_id,
            )
            if actor.sees(r.task)
        ]
        escalated = (
            self._escalated(
                session, [r for r in rows if _overdue_running(r.task, now)], (), actor.id
            )
            if actor.is_agency_manager
            else {}
        )
        items: list[WaitingItem] = []
        for r in rows:
            task, kind = r.task, r.kind
            answering = _answering(kind, task.state)
            if answering is not None:
                items.append(self._answer_item(r, answering, now))
            if task.requested_due_on is not None:
                agree, decline = more_time_choices(actor, kind, task)
                if decline:
                    items.append(self._more_time_item(r, agree, actor, now, {}))
            if task.id in escalated and _overdue_running(task, now):
                items.append(self._escalation_item(r, escalated[task.id], actor, now, {}))
        return items

    # ------------------------------------------------------------------ reading rows
    def _definitions(self, session: Session) -> dict[int, Workflow]:
        """Every pinned definition, compiled once, by its id."""
        firsts = select(func.min(col(Activity.id))).group_by(col(Activity.definition_id))
        activities = session.exec(select(Activity).where(col(Activity.id).in_(firsts))).all()
        return {a.definition_id: self.core.workflow_for(session, a) for a in activities}

    def _tasks(
        self, session: Session, definitions: dict[int, Workflow], *where: sa.ColumnElement[bool]
    ) -> list[_Row]:
        q = (
            select(Task, Activity, Agency)
            .join(Activity, col(Activity.id) == col(Task.activity_id))
            .join(Agency, col(Agency.id) == col(Task.agency_id), isouter=True)
            .where(*where)
            .order_by(col(Task.id))
        )
        out = []
        for task, activity, agency in session.exec(q).all():
            wf = definitions.get(activity.definition_id) or self.core.workflow_for(
                session, activity
            )
            if task.kind in wf.tasks:
                out.append(_Row(task, activity, agency, wf))
        return out

    def _escalated(
        self,
        session: Session,
        rows: Sequence[_Row],
        shared_roles: Iterable[str],
        address: str | None,
    ) -> dict[int, datetime]:
        """When each of these tasks was last escalated by its ladder to a shared mailbox role
        (``business_unit``) or to ``address`` itself."""
        templates = {e.template for r in rows for e in r.kind.ladder.escalations}
        ids = [r.task.id for r in rows if r.task.id is not None]
        if not ids or not templates:
            return {}
        to: list[sa.ColumnElement[bool]] = [
            col(Notification.recipient_role).in_(list(shared_roles))
        ]
        if address is not None:
            to.append(col(Notification.to_addr) == address)
        q = (
            select(col(Notification.task_id), func.max(col(Notification.created_at)))
            .where(
                col(Notification.activity_id).in_(sorted({r.activity.id for r in rows})),
                col(Notification.task_id).in_(ids),
                col(Notification.template).in_(sorted(templates)),
                sa.or_(*to),
            )
            .group_by(col(Notification.task_id))
        )
        return {task_id: at for task_id, at in session.exec(q).all() if task_id is not None}

    def _activity_decisions(
        self, session: Session, definitions: dict[int, Workflow], actor: Actor
    ) -> list[WaitingItem]:
        """Open activities in a state only a manager moves on (findings to approve, a plan
        to sign off, the partners' decision on a rapid review)."""
        combos = [
            (d, s)
            for d, wf in definitions.items()
            for s in wf.states
            if _activity_waits_on(wf, s, actor)
        ]
        if not combos:
            return []
        q = (
            select(Activity)
            .where(
                col(Activity.closed_at).is_(None),
                sa.or_(
                    *(
                        sa.and_(col(Activity.definition_id) == d, col(Activity.state) == s)
                        for d, s in combos
                    )
                ),
            )
            .order_by(col(Activity.updated_at))
        )
        items = []
        for a in session.exec(q).all():
            wf = definitions[a.definition_id]
            items.append(
                WaitingItem(
                    kind="decision",
                    kind_text=wf.title,
                    task_id=None,
                    reference=a.ref,
                    activity_title=a.title,
                    title=a.title,
                    agency_code="",
                    agency_name="",
                    needs=wf.states[a.state].title,
                    action=f"Open {a.ref}",
                    url=f"/activities/{a.ref}",
                    due_on=None,
                    working_days_left=None,
                    overdue=False,
                    deadline_text="",
                    handled_by=None,
                    assigned_to="the managers",
                    opened_by=a.opened_by,
                    for_managers=True,
                    since=a.updated_at,
                )
            )
        return items

    # ------------------------------------------------------------------ items
    def _base(
        self,
        r: _Row,
        kind: str,
        needs: str,
        action: str,
        url: str,
        now: datetime,
        *,
        assigned_to: str,
        kind_text: str | None = None,
        deadline: bool = True,
        may_take: bool = False,
        since: datetime | None = None,
        for_managers: bool = False,
        asked_until: date | None = None,
        may_agree: bool = False,
        may_decline: bool = False,
        note: str = "",
    ) -> WaitingItem:
        task, activity, agency = r.task, r.activity, r.agency
        due_on, left, overdue, text = (
            _deadline(task, now, self.core.calendar) if deadline else (None, None, False, "")
        )
        return WaitingItem(
            kind=kind,
            kind_text=kind_text or KIND_WORDS[kind],
            task_id=task.id,
            reference=activity.ref,
            activity_title=activity.title,
            title=task.title,
            agency_code=agency.code if agency is not None else "",
            agency_name=agency.name if agency is not None else "The business unit",
            needs=needs,
            action=action,
            url=url,
            due_on=due_on,
            working_days_left=left,
            overdue=overdue,
            deadline_text=text,
            handled_by=task.handled_by,
            assigned_to=assigned_to,
            opened_by=activity.opened_by,
            given_to=task.assignee_email,
            for_managers=for_managers,
            asked_until=asked_until,
            may_agree=may_agree,
            may_decline=may_decline,
            may_take=may_take,
            note=note,
            since=since or task.updated_at,
        )

    def _decision_item(
        self, r: _Row, t: TransitionDef, actor: Actor, now: datetime, names: dict[str, str]
    ) -> WaitingItem:
        task, kind = r.task, r.kind
        state = kind.states[task.state]
        if state.answered:  # the owner has answered: their deadline is met
            needs = "Review the return" if actor.role != "manager" else _short(t.title)
            return self._base(
                r,
                "review" if actor.role != "manager" else "decision",
                needs,
                needs,
                f"/tasks/{task.id}",
                now,
                kind_text=None if actor.role != "manager" else state.title,
                assigned_to=_handler(task, names),
                deadline=False,
                may_take=True,
                since=task.answered_at,
                for_managers=actor.role == "manager",
            )
        if "reprogramme" in _effects(kind, task.state):
            asked = _iso_date(task.data.get("new_target_date"))
            needs = (
                f"Decide on a new target date: {format_date(asked)}"
                if asked is not None
                else "Decide on a new target date"
            )
        else:
            needs = _short(t.title)
        return self._base(
            r,
            "decision",
            needs,
            needs,
            f"/tasks/{task.id}",
            now,
            kind_text=state.title,
            assigned_to=_handler(task, names),
            may_take=True,
            for_managers=actor.role == "manager",
        )

    def _more_time_item(
        self, r: _Row, may_agree: bool, actor: Actor, now: datetime, names: dict[str, str]
    ) -> WaitingItem:
        task = r.task
        asked = task.requested_due_on
        assert asked is not None
        staff = actor.role in STAFF_ROLES
        return self._base(
            r,
            "more_time",
            f"Decide on more time until {format_date(asked)}",
            "Decide on more time",
            f"/tasks/{task.id}#more-time-title",
            now,
            assigned_to=_handler(task, names) if staff else _holder(r),
            may_take=staff,
            asked_until=asked,
            may_agree=may_agree,
            may_decline=True,
            note="" if may_agree else "Agreeing needs a manager: you can decline.",
            for_managers=_needs_manager(r.kind),
        )

    def _statutory_item(
        self, r: _Row, actor: Actor, now: datetime, names: dict[str, str]
    ) -> WaitingItem | None:
        due_on, left, overdue, _text = _deadline(r.task, now, self.core.calendar)
        if left is None or (left > STATUTORY_WARNING_DAYS and not overdue):
            return None
        if overdue:
            clock = f"overdue {_days(-left)}" if left < 0 else f"overdue since {_on(due_on)}"
        elif left == 0:
            clock = "due today" if due_on == self.core.calendar.local_date(now) else "due now"
        else:
            clock = f"{_days(left)} left"
        return self._base(
            r,
            "statutory",
            f"Statutory clock: {clock}",
            f"Open {r.activity.ref}",
            f"/activities/{r.activity.ref}",
            now,
            assigned_to=_handler(r.task, names),
            may_take=True,
        )

    def _escalation_item(
        self, r: _Row, at: datetime, actor: Actor, now: datetime, names: dict[str, str]
    ) -> WaitingItem:
        _due_on, left, _overdue, _text = _deadline(r.task, now, self.core.calendar)
        late = f"overdue {_days(-left)}" if left is not None and left < 0 else "overdue"
        staff = actor.role in STAFF_ROLES
        return self._base(
            r,
            "escalation",
            f"Escalated to you: {late}",
            "Chase it",
            f"/tasks/{r.task.id}",
            now,
            assigned_to=_handler(r.task, names) if staff else _holder(r),
            may_take=staff,
            since=at,
            for_managers=actor.role == "manager",  # escalated to them by name
        )

    def _answer_item(self, r: _Row, t: TransitionDef, now: datetime) -> WaitingItem:
        task = r.task
        sent_back = task.answered_at is not None
        needs = "Sent back to you: answer again" if sent_back else _short(t.title)
        note = ""
        if task.requested_due_on is not None:
            note = (
                f"More time asked for until {format_date(task.requested_due_on)}: "
                "waiting for a decision."
            )
        return self._base(
            r,
            "sent_back" if sent_back else "answer",
            needs,
            _short(t.title),
            f"/tasks/{task.id}",
            now,
            kind_text="Action to complete"
            if r.kind.report_as == "action" and not sent_back
            else None,
            assigned_to=_holder(r),
            note=note,
        )

    # ------------------------------------------------------------------ taking a task
    def take(self, actor: Actor, task_id: int, to_email: str | None) -> Outcome:
        """Record that ``to_email`` (the actor when None) of the business unit handles the
        task, on its timeline. Staff only; the person must be active staff."""
        if actor.role not in STAFF_ROLES:
            raise PermissionDenied(
                f"{actor.role} {actor.id} may not take tasks (the business unit's staff may)"
            )
        try:
            to = normalise_email(to_email) if to_email is not None else actor.id
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        with self.core.unit(actor) as uow:
            session = uow.session
            task, activity = task_with_activity(session, task_id)
            where = f"task {task.id} ({task.title}) of {activity.ref}"
            if not task.is_open:
                raise TransitionNotAllowed(f"{where} is closed: nobody needs to handle it")
            staff = session.exec(select(Staff).where(Staff.email == to)).first()
            if staff is None or not staff.active:
                raise NotFound(f"{to} is not an active member of staff")
            before = task.handled_by
            if before == to:
                raise InvalidInput(f"{where} is already handled by {staff.name} ({to})")
            table = Task.__table__  # type: ignore[attr-defined]
            same = table.c.handled_by.is_(None) if before is None else table.c.handled_by == before
            result = session.execute(
                sa.update(table).where(table.c.id == task.id, same).values(handled_by=to)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise ConcurrentUpdate(
                    f"{where} was taken by someone else meanwhile; nothing was written, "
                    "reload and try again"
                )
            if task in session:
                session.expunge(task)
            task.handled_by = to
            uow.task_event(task, "task_handled", {"to": to, "name": staff.name, "from": before})
            return Outcome(activity=activity, task=task, from_state=task.state, to_state=task.state)


# ---------------------------------------------------------------------- rules on definitions
def _forward(machine: Workflow | TaskKind, state: str) -> list[TransitionDef]:
    """The transitions that move ``state`` on: not those that keep it, withdraw the task or
    cancel the activity."""
    withdrawn = getattr(machine, "withdrawn_state", None)
    return [
        t
        for t in machine.transitions
        if state in t.sources
        and t.dest not in (STAY, withdrawn)
        and "withdraw_open_tasks" not in t.effects
    ]


def _decision(kind: TaskKind, state: str, actor: Actor) -> TransitionDef | None:
    """The transition of a task in ``state`` that waits on this member of staff, if any.

    A coordinator (or admin) reviews what an agency answered: an answered, open state from
    which they may move the task to a final state (accept, agree). A manager takes the
    decisions only a manager may: a transition for managers, not for coordinators and not
    for an agency (sign off an action, approve or decline a new target date)."""
    if state not in kind.states or kind.states[state].final:
        return None
    moves = _forward(kind, state)
    if actor.role == "manager":
        for t in moves:
            roles = set(t.roles)
            if "manager" in roles and "coordinator" not in roles and not roles & AGENCY_ROLES:
                return t
        return None
    if actor.role not in ("coordinator", "admin") or not kind.states[state].answered:
        return None
    for t in moves:
        if actor.may(t.roles) and kind.states[t.dest].final:
            return t
    return None


def _activity_waits_on(wf: Workflow, state: str, actor: Actor) -> bool:
    """An activity's state waits on a manager when every way on is open to managers and at
    least one to managers alone."""
    if actor.role != "manager" or wf.states[state].final:
        return False
    moves = _forward(wf, state)
    return (
        bool(moves)
        and all("manager" in t.roles for t in moves)
        and any("coordinator" not in t.roles for t in moves)
    )


def _answering(kind: TaskKind, state: str) -> TransitionDef | None:
    """The transition by which an agency answers a task in ``state`` (submit, respond, mark
    complete), when the task waits for its answer."""
    s = kind.states.get(state)
    if s is None or s.final or s.answered:
        return None
    for t in _forward(kind, state):
        if "agency" in t.roles and kind.states[t.dest].answered:
            return t
    return None


def _effects(kind: TaskKind, state: str) -> set[str]:
    return {e for t in kind.transitions if state in t.sources for e in t.effects}


# ---------------------------------------------------------------------- words and dates
def _shown(item: WaitingItem, actor: Actor, show: Show) -> bool:
    """Whether ``show`` lists the item for ``actor``."""
    if show == "all":
        return True
    if actor.role == "agency":
        if item.kind in ("more_time", "escalation"):  # the senior manager's own to decide
            return show == "mine"
        if show == "unassigned":
            return item.given_to is None
        return item.given_to in (None, actor.id)
    if show == "unassigned":
        return item.handled_by is None
    if item.handled_by is not None:
        return item.handled_by == actor.id
    return item.opened_by == actor.id or (actor.role == "manager" and item.for_managers)


def _needs_manager(kind: TaskKind) -> bool:
    """Whether only a manager may agree to more time on a task of this kind (a statutory
    deadline, or one whose workflow leaves coordinators out)."""
    deadline = kind.deadline
    return deadline is not None and (
        not deadline.waivable or "coordinator" not in deadline.more_time_decided_by
    )


_NOBODY = "nobody yet"


def _handler(task: Task, names: dict[str, str]) -> str:
    if task.handled_by is None:
        return _NOBODY
    name = names.get(task.handled_by)
    return f"{name} <{task.handled_by}>" if name else task.handled_by


def _holder(r: _Row) -> str:
    """Who of the agency a task is with, in words."""
    task, agency = r.task, r.agency
    if task.assignee_email:
        return f"{task.assignee_name or task.assignee_email} <{task.assignee_email}>"
    if task.purpose:
        return "the agency's named contact"
    if agency is not None and agency.deputy_email:
        return "the agency's lead and deputy"
    return "the agency's lead"


def _staff_names(session: Session) -> dict[str, str]:
    return {s.email: s.name for s in session.exec(select(Staff)).all()}


def _overdue_running(task: Task, now: datetime) -> bool:
    return task.deadline_status == "running" and task.due_at is not None and task.due_at <= now


def _deadline(
    task: Task, now: datetime, cal: WorkingCalendar
) -> tuple[date | None, int | None, bool, str]:
    """(due date, working days left or None, overdue, in words) of a running deadline."""
    due = task_due(task)
    if due is None or task.deadline_status not in ("running", "paused"):
        return None, None, False, ""
    if task.deadline_status == "paused":
        return due.on, None, False, f"due {_on(due.on)}, clock paused"
    left = _working_days_left(due, now, cal)
    overdue = is_overdue(due, now)
    if overdue:
        text = f"{_days(-left)} overdue" if left < 0 else f"overdue (due {_on(due.on)})"
    elif left == 0:
        text = "due today" if cal.local_date(now) == due.on else f"due {_on(due.on)}"
    else:
        text = f"{_days(left)} left"
    return due.on, left, overdue, text


def _working_days_left(due: Due, now: datetime, cal: WorkingCalendar) -> int:
    """Working days to the due date (negative past it), for dues by the day or the hour."""
    if due.all_day:
        return remaining(due, now, cal)
    return remaining(Due(at=cal.end_of_day(due.on), on=due.on, all_day=True), now, cal)


def _days(n: int) -> str:
    return f"{n} working day" if n == 1 else f"{n} working days"


def _on(d: date | None) -> str:
    return format_date(d) if d is not None else ""


def _short(title: str) -> str:
    """A transition's title without its parenthesis: "Sign off the action"."""
    return title.split(" (", 1)[0].strip()


def _iso_date(raw: object) -> date | None:
    try:
        return date.fromisoformat(str(raw)[:10]) if raw else None
    except ValueError:
        return None
