"""Giving a task to a person of its agency: a lead (or deputy) delegates it to a colleague,
who becomes one of the agency's contacts; a senior manager or the business unit reassigns
it to another of the agency's people. The task's emails then go to that person alone, and
the timeline says who gave it to whom."""

from __future__ import annotations

from sqlmodel import Session, col, select

from ..definitions import Notify
from ..directory import NamedContact, check_contact, normalise_email
from ..errors import InvalidInput, NotFound, PermissionDenied, TransitionNotAllowed
from ..models import COLLEAGUE, CONTACT_PURPOSES, STAFF_ROLES, Agency, AgencyContact, Task
from .core import Core
from .directory import add_contact
from .lookups import task_with_activity
from .values import Actor, Outcome


def may_give_tasks(actor: Actor) -> bool:
    """Staff, and an agency's lead, deputy and senior manager, give tasks to people."""
    return actor.role in STAFF_ROLES or actor.runs_agency


def may_give(actor: Actor, task: Task) -> bool:
    """Whether ``actor`` may give ``task`` to someone: an open task of an agency, and staff or
    the lead, deputy or senior manager of that agency."""
    if not task.is_open or task.agency_id is None or not may_give_tasks(actor):
        return False
    return actor.role in STAFF_ROLES or actor.agency_id == task.agency_id


class Assignment:
    """Who of an agency a task is given to."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def give(
        self,
        actor: Actor,
        task_id: int,
        email: str,
        name: str | None = None,
        note: str | None = None,
    ) -> Outcome:
        """Give the task to ``email``, one of its agency's people, or a colleague (``name``
        needed) who is added as one. Giving it to the lead gives it back to the agency as
        a whole (lead and deputy), unless it is addressed to a purpose's contact."""
        if not may_give_tasks(actor):
            raise PermissionDenied(
                f"{actor.role} {actor.id} may not give tasks to someone else (the agency's "
                "lead, deputy or senior manager may, and the business unit)"
            )
        try:
            address = normalise_email(email)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        note = (note or "").strip() or None
        core = self.core
        with core.unit(actor) as uow:
            session = uow.session
            task, activity = task_with_activity(session, task_id)
            where = f"task {task.id} ({task.kind}) of {activity.ref}"
            if task.agency_id is None:
                raise TransitionNotAllowed(f"{where} is the business unit's, not an agency's")
            if actor.role == "agency" and actor.agency_id != task.agency_id:
                raise PermissionDenied(f"{where} belongs to another agency")
            if not task.is_open:
                raise TransitionNotAllowed(f"{where} is {task.state}: it is closed")
            agency = session.get(Agency, task.agency_id)
            assert agency is not None
            person = _person_named(session, agency, address)
            if person is None:
                if not (name or "").strip():
                    raise InvalidInput(
                        f"{address} is not one of {agency.name}'s people: give their name to "
                        "add them as a colleague"
                    )
                try:
                    contact = check_contact(NamedContact(COLLEAGUE, name or "", address))
                except ValueError as exc:
                    raise InvalidInput(str(exc)) from None
                person = add_contact(uow, agency, contact, replace=False).name
            before = task.assignee_email or _default_holder(session, agency, task)
            # a task addressed to the lead and deputy goes back to them when given to the lead;
            # one addressed to a purpose's contact is then given to the lead by name
            back_to_agency = address == agency.lead_email and task.purpose is None
            if before == address:
                raise InvalidInput(f"the task is already with {person} ({address})")
            uow.cas_task(
                task,
                {
                    "assignee_email": None if back_to_agency else address,
                    "assignee_name": None if back_to_agency else person,
                },
            )
            event_id = uow.task_event(
                task,
                "task_given",
                {"to": address, "name": person, "from": before},
                note,
            )
            outcome = Outcome(
                activity=activity, task=task, from_state=task.state, to_state=task.state
            )
            wf = core.workflow_for(session, activity)
            notice = (Notify(template="task_given_to_you", to="agency"),)
            uow.notify(wf, notice, activity, outcome, key=f"ev{event_id}", task=task)
            return outcome

    def people_of(self, agency_id: int) -> list[tuple[str, str, str]]:
        """``(email, name, what they are)`` of every person of the agency a task can be
        given to: lead, deputy, senior manager, named contacts and colleagues."""
        with self.core.db.read() as session:
            agency = session.get(Agency, agency_id)
            if agency is None:
                raise NotFound(f"no agency {agency_id}")
            return _people(session, agency)


def _people(session: Session, agency: Agency) -> list[tuple[str, str, str]]:
    out = [(agency.lead_email, agency.lead_name, "lead")]
    if agency.deputy_email:
        out.append((agency.deputy_email, agency.deputy_name or "", "deputy"))
    if agency.manager_email:
        out.append((agency.manager_email, agency.manager_name or "", "senior manager"))
    seen = {e for e, _, _ in out}
    rows = session.exec(
        select(AgencyContact)
        .where(AgencyContact.agency_id == agency.id)
        .order_by(col(AgencyContact.purpose), col(AgencyContact.email))
    ).all()
    for row in rows:
        what = CONTACT_PURPOSES.get(row.purpose, "colleague")
        if row.email in seen:
            continue
        seen.add(row.email)
        out.append((row.email, row.name, what))
    return out


def _default_holder(session: Session, agency: Agency, task: Task) -> str:
    """Whom of the agency a task given to nobody is with: its contact for the task's
    purpose, else its lead."""
    if task.purpose is not None:
        contact = session.exec(
            select(AgencyContact)
            .where(AgencyContact.agency_id == agency.id, AgencyContact.purpose == task.purpose)
            .order_by(col(AgencyContact.email))
        ).first()
        if contact is not None:
            return contact.email
    return agency.lead_email


def _person_named(session: Session, agency: Agency, address: str) -> str | None:
    """The name of ``agency``'s person with ``address``, or None when there is none."""
    for email, name, _ in _people(session, agency):
        if email == address:
            return name or email
    return None
