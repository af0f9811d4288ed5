"""Running the programme: opening what is due today once per period, firing each
entry's ``then`` triggers, and finishing those a worker stopped before."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from ..definitions import Workflow
from ..errors import (
    ConcurrentUpdate,
    GuardFailed,
    InvalidInput,
    SefError,
    TransitionNotAllowed,
)
from ..models import SECTORS, Activity, Agency, ProgrammeRun
from ..service import Actor, Service
from .entries import ALL_AGENCIES, PROGRAMME_ROLE, Entry, Period, Programme
from .periods import due_date, period_of, render, render_inputs, run_key

#: the programme's own log (its package's name)
log = logging.getLogger(__package__)


def programme_actor(service: Service) -> Actor:
    """Who the programme acts as: a coordinator with the business unit's address."""
    notifier = service.notifier
    address = notifier.business_unit_email if notifier is not None else "programme"
    return Actor(id=address, role=PROGRAMME_ROLE, name="Programme")


@dataclass(frozen=True)
class ProgrammeReport:
    """What one pass over the programme did."""

    #: ``"REQ-2026-004 (quarterly-indicators 2026-27 Q1)"`` for each activity opened
    opened: list[str]
    #: entries already opened this period (by this worker earlier or another)
    already: int
    #: entries whose opening day in the current period has not come yet
    not_due: int
    #: ``"<entry key> (<period>): <what went wrong>"``
    errors: list[str]


def resolve_agencies(entry: Entry, agencies: Sequence[Agency]) -> list[str]:
    """The codes of the active agencies ``entry`` goes to, in directory order.

    Sectors select their active agencies (a sector with none adds none); a code must be an
    active agency. :class:`InvalidInput` when a code is unknown or nothing matches.
    """
    active = [a for a in agencies if a.active]
    if entry.agencies == ALL_AGENCIES:
        return [a.code for a in active]
    if not entry.agencies:
        return []
    codes = {a.code for a in active}
    wanted: set[str] = set()
    for selector in entry.agencies:
        if selector in SECTORS:
            wanted.update(a.code for a in active if a.sector == selector)
        elif selector in codes:
            wanted.add(selector)
        else:
            raise InvalidInput(
                f"agency {selector} is not an active agency in the directory "
                f"(active: {', '.join(sorted(codes)) or 'none'})"
            )
    if not wanted:
        raise InvalidInput(f"no active agency in {', '.join(entry.agencies)}")
    return [a.code for a in active if a.code in wanted]


def run_programme(
    service: Service, programme: Programme, actor: Actor | None = None
) -> ProgrammeReport:
    """Open what is due today (the service's clock, the calendar's time zone), once per period.

    Each entry whose opening day in the current period has come is opened with
    :meth:`Service.open_once` under :func:`run_key`, as a coordinator with the business
    unit's address (:func:`programme_actor`), then its ``then`` triggers fire with the due
    date counted from the day it opens. Errors are collected per entry, never raised.
    """
    actor = actor or programme_actor(service)
    cal = service.calendar
    today = cal.local_date(service.clock.now())
    opened: list[str] = []
    errors: list[str] = []
    already = not_due = 0
    due_now: list[tuple[Entry, Period]] = []
    for entry in programme.entries:
        period = period_of(entry, today, cal)
        if period is None:
            not_due += 1
        else:
            due_now.append((entry, period))
    if not due_now:
        return ProgrammeReport(opened=opened, already=already, not_due=not_due, errors=errors)

    existing = _existing(service, [run_key(e, p) for e, p in due_now])
    directory: list[Agency] | None = None
    for entry, period in due_now:
        key = run_key(entry, period)
        try:
            found = existing.get(key)
            if found is not None:
                already += 1
                activity, wf = found
                _finish_then(service, actor, entry, activity, wf)
                continue
            if directory is None:
                directory = service.list_agencies()
            outcome = _open(service, actor, entry, period, today, directory)
            if outcome is None:
                already += 1
                continue
            ref = outcome.ref
            opened.append(f"{ref} ({entry.key} {period.label})")
            log.info("programme: opened %s for %s %s", ref, entry.key, period.label)
            _fire_then(service, actor, entry, ref, 0, today)
        except Exception as exc:
            if not isinstance(exc, SefError):
                log.exception("programme: %s (%s) failed", entry.key, period.label)
            errors.append(f"{entry.key} ({period.label}): {exc}")
    return ProgrammeReport(opened=opened, already=already, not_due=not_due, errors=errors)


@dataclass(frozen=True)
class _Opened:
    ref: str


def _open(
    service: Service,
    actor: Actor,
    entry: Entry,
    period: Period,
    today: date,
    directory: Sequence[Agency],
) -> _Opened | None:
    codes = resolve_agencies(entry, directory)
    inputs = render_inputs(entry, period)
    wf = service.registry.get(entry.workflow)
    due = due_date(entry, today, service.calendar)
    if entry.due_input is not None and any(s.name == entry.due_input for s in wf.open_inputs):
        inputs[entry.due_input] = due
    title = render(entry.title, period)
    key = run_key(entry, period)
    for attempt in (1, 2):
        try:
            outcome = service.open_once(actor, key, entry.workflow, title, codes, inputs)
        except sa.exc.IntegrityError:
            # Another worker opening at the same moment can win a race on a shared row (a
            # reference counter); once it has committed, a second try sees its run and stops.
            if attempt == 2:
                raise
            continue
        return None if outcome is None else _Opened(outcome.activity.ref)
    raise AssertionError("unreachable")  # pragma: no cover


def _existing(service: Service, keys: Sequence[str]) -> dict[str, tuple[Activity, Workflow]]:
    """The activities already opened under ``keys``, with their pinned workflows."""
    found: dict[str, tuple[Activity, Workflow]] = {}
    with service.db.read() as session:
        rows = session.exec(
            select(ProgrammeRun, Activity)
            .join(Activity, col(Activity.id) == col(ProgrammeRun.activity_id))
            .where(col(ProgrammeRun.key).in_(list(keys)))
        ).all()
        for run, activity in rows:
            found[run.key] = (activity, service.workflow_for(session, activity))
    return found


def _finish_then(
    service: Service, actor: Actor, entry: Entry, activity: Activity, wf: Workflow
) -> None:
    """Fire the ``then`` triggers a worker did not get to (it stopped right after opening)."""
    if not entry.then:
        return
    state = wf.initial
    for index, trigger in enumerate(entry.then):
        if activity.state == state:
            opened_on = service.calendar.local_date(activity.opened_at)
            _fire_then(service, actor, entry, activity.ref, index, opened_on)
            return
        if wf.transition_for(trigger, state) is None:
            return  # the workflow changed since: leave it to the coordinator
        state = wf.next_state(trigger, state)


def _fire_then(
    service: Service, actor: Actor, entry: Entry, ref: str, first: int, opened_on: date
) -> None:
    due = due_date(entry, opened_on, service.calendar)
    for trigger in entry.then[first:]:
        activity, wf, _, _ = service.get_activity(ref)
        t = wf.transition_for(trigger, activity.state)
        inputs: dict[str, Any] = {}
        if t is not None and entry.due_input and any(s.name == entry.due_input for s in t.inputs):
            inputs[entry.due_input] = due
        try:
            service.fire(actor, ref, trigger, inputs, expected_version=activity.version)
        except GuardFailed as exc:
            raise SefError(f"opened {ref}, but '{trigger}' was refused: {exc}") from None
        except (ConcurrentUpdate, TransitionNotAllowed):
            return  # another worker fired it first
        except SefError as exc:
            raise SefError(f"opened {ref}, but '{trigger}' failed: {exc}") from None
