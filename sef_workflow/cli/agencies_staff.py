"""``sef agencies`` and ``sef staff``: the partner agencies with their people (lead, deputy,
senior manager, named contacts by purpose, colleagues) and sign-in links, and the business
unit's staff with their roles and passwords."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .context import Context, pass_ctx, print_table

if TYPE_CHECKING:
    from ..models import Agency, AgencyContact

#: the purposes an agency names a contact for, with their labels
#: (``models.CONTACT_PURPOSES``, written out so that ``sef --help`` imports no models; a test
#: keeps the two the same)
PURPOSES_HELP = (
    "lado = LADO (allegations against staff), child_deaths = Child death reviews, "
    "private_fostering = Private fostering, performance_data = Performance data, "
    "training = Training; or colleague = anyone a task was given to (as many as needed)"
)


@click.group()
def agencies() -> None:
    """The partner agencies and their people."""


@agencies.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_ctx
def agencies_import(c: Context, file: Path) -> None:
    """Import agencies from a CSV file; all rows or none.

    Columns: code, name, sector, lead_name, lead_email, deputy_name, deputy_email,
    manager_name, manager_email, and for each purpose PURPOSE_name and PURPOSE_email (lado,
    child_deaths, private_fostering, performance_data, training). An existing code is
    updated; a file without a purpose's columns leaves that purpose's contact as it is.
    Every agency needs a senior manager while a workflow escalates overdue work to one.
    """
    from ..directory import parse_agencies_csv
    from ..service import Actor

    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        from ..errors import InvalidInput

        raise InvalidInput(f"{file}: not UTF-8 text; save the CSV as UTF-8") from None
    records = parse_agencies_csv(text, str(file), c.service.workflows_needing_manager())
    actor = c.actor() if c.actor_email else Actor.system()
    result = c.service.import_agencies(actor, records)
    click.echo(f"{file}: {result.created} agencies added, {result.updated} updated")


@agencies.command("link")
@click.argument("email")
@pass_ctx
def agencies_link(c: Context, email: str) -> None:
    """Make a single-use sign-in link for one of an agency's people (lead, deputy, senior
    manager, named contact or colleague) and print it."""
    from datetime import timedelta

    from ..access import login_url
    from ..web.auth import create_login_link

    service = c.service
    hours = c.app.settings.settings.web.link_hours
    token = create_login_link(
        c.app.db, email, service.clock.now(), timedelta(hours=hours), service=service
    )
    click.echo(login_url(c.app.settings.settings.partnership.base_url, token))


@agencies.command("list")
@pass_ctx
def agencies_list(c: Context) -> None:
    """List agencies with their lead, deputy and senior manager, and how many named contacts
    and colleagues each has (see: sef agencies contacts)."""
    service = c.service
    counts: dict[int, int] = {}
    for named in service.contacts_of():
        counts[named.agency_id] = counts.get(named.agency_id, 0) + 1
    rows = [
        (
            a.code,
            a.name,
            a.sector.replace("_", " "),
            a.lead_email,
            a.deputy_email or "No deputy",
            a.manager_email or "No senior manager",
            str(counts.get(a.id, 0)) if a.id is not None else "0",
            "" if a.active else "inactive",
        )
        for a in service.list_agencies()
    ]
    print_table(
        rows, ("CODE", "NAME", "SECTOR", "LEAD", "DEPUTY", "SENIOR MANAGER", "CONTACTS", "")
    )


@agencies.command("contacts")
@click.argument("code", required=False)
@pass_ctx
def agencies_contacts(c: Context, code: str | None) -> None:
    """List each agency's people (or CODE's): its lead, deputy and senior manager, its named
    contact for each purpose, and the colleagues tasks were given to."""
    service = c.service
    chosen = [_agency(c, code)] if code else service.list_agencies()
    ids = [a.id for a in chosen if a.id is not None]
    named = service.contacts_of(ids)
    print_table(
        [row for a in chosen for row in _people_rows(a, named)],
        ("AGENCY", "WHO", "NAME", "EMAIL"),
    )


def _what(purpose: str) -> str:
    """What a named contact is, in words."""
    from ..models import CONTACT_PURPOSES

    return CONTACT_PURPOSES.get(purpose, "Colleague")


def _in_sentence(purpose: str) -> str:
    """What a named contact is, inside a sentence: "the LADO (allegations against staff)
    contact", "the performance data contact", "a colleague"."""
    from ..models import COLLEAGUE

    if purpose == COLLEAGUE:
        return "a colleague"
    label = _what(purpose)
    first, _, rest = label.partition(" ")
    if not first.isupper():
        label = " ".join(filter(None, (first.lower(), rest)))
    return f"the {label} contact"


def _still(agency: Agency, named: Sequence[AgencyContact], email: str) -> str | None:
    """What ``email`` still is of ``agency`` ("the lead", "the training contact"), if anything."""
    positions = (
        (agency.lead_email, "the lead"),
        (agency.deputy_email, "the deputy"),
        (agency.manager_email, "the senior manager"),
    )
    for address, what in positions:
        if address == email:
            return what
    for n in named:
        if n.email == email:
            return _in_sentence(n.purpose)
    return None


def _people_rows(agency: Agency, named: Sequence[AgencyContact]) -> list[tuple[str, ...]]:
    """The agency's people, in the order lead, deputy, senior manager, named contacts in the
    order of the purposes, colleagues."""
    from ..models import COLLEAGUE, CONTACT_PURPOSES

    rows: list[tuple[str, ...]] = [(agency.code, "Lead", agency.lead_name, agency.lead_email)]
    if agency.deputy_email:
        rows.append((agency.code, "Deputy", agency.deputy_name or "-", agency.deputy_email))
    if agency.manager_email:
        rows.append(
            (agency.code, "Senior manager", agency.manager_name or "-", agency.manager_email)
        )
    order = {p: i for i, p in enumerate((*CONTACT_PURPOSES, COLLEAGUE))}
    own = sorted(
        (n for n in named if n.agency_id == agency.id),
        key=lambda n: (order.get(n.purpose, len(order)), n.email),
    )
    rows += [(agency.code, _what(n.purpose), n.name, n.email) for n in own]
    return rows


def _agency(c: Context, code: str) -> Agency:
    """The agency with ``code`` (any case), or NotFound."""
    from ..errors import NotFound

    wanted = code.strip().upper()
    for agency in c.service.list_agencies():
        if agency.code == wanted:
            return agency
    raise NotFound(f"no agency with code {wanted} (see: sef agencies list)")


@agencies.group(
    "contact",
    help="Set or remove an agency's named contact for a purpose, or a colleague. "
    "Coordinators and admins (--as); every change is in the directory log.\n\n"
    f"PURPOSE is one of: {PURPOSES_HELP}.",
)
def contact() -> None:
    pass


@contact.command(
    "set",
    help="Make NAME <EMAIL> agency CODE's contact for PURPOSE, replacing the one before, "
    "or add a colleague (PURPOSE colleague). Coordinators and admins (--as). Tasks "
    "addressed to that purpose and their emails go to them; they sign in by link and see "
    "only those tasks and the tasks given to them.\n\n"
    f"PURPOSE is one of: {PURPOSES_HELP}.",
)
@click.argument("code")
@click.argument("purpose")
@click.option("--name", required=True, help="Their full name.")
@click.option("--email", required=True, help="Their email address (their sign-in).")
@pass_ctx
def contact_set(c: Context, code: str, purpose: str, name: str, email: str) -> None:
    from ..models import COLLEAGUE

    actor = c.actor()
    agency = _agency(c, code)
    wanted = purpose.strip().lower()
    assert agency.id is not None
    before = [
        n for n in c.service.contacts_of([agency.id]) if n.purpose == wanted and wanted != COLLEAGUE
    ]
    row = c.service.set_contact(actor, agency.code, wanted, name, email)
    what = _in_sentence(row.purpose)
    replaced = [n for n in before if n.email != row.email]
    instead = "".join(f" (instead of {n.name} <{n.email}>)" for n in replaced)
    click.echo(f"{agency.code}: {row.name} <{row.email}> is now {what}{instead}")


@contact.command(
    "remove",
    help="Remove agency CODE's contact for PURPOSE (a colleague by --email); tasks "
    "addressed to that purpose go to the lead and deputy again. They are signed out "
    "everywhere unless still one of the agency's people. Coordinators and admins (--as).\n\n"
    f"PURPOSE is one of: {PURPOSES_HELP}.",
)
@click.argument("code")
@click.argument("purpose")
@click.option("--email", help="Which colleague (needed for PURPOSE colleague).")
@pass_ctx
def contact_remove(c: Context, code: str, purpose: str, email: str | None) -> None:
    actor = c.actor()
    agency = _agency(c, code)
    wanted = purpose.strip().lower()
    address = (email or "").strip().lower()
    assert agency.id is not None
    gone = [
        n
        for n in c.service.contacts_of([agency.id])
        if n.purpose == wanted and (not address or n.email == address)
    ]
    given = _given_to(c, agency.code, {n.email for n in gone})
    c.service.remove_contact(actor, agency.code, wanted, email)
    remaining = c.service.contacts_of([agency.id])
    now = _given_to(c, agency.code, {n.email for n in gone})
    for n in gone:
        still = _still(agency, remaining, n.email)
        after = f"still {still} of {agency.code}" if still else "signed out everywhere"
        tasks = (
            "" if still else _tasks_text(agency.code, given.get(n.email, []), now.get(n.email, []))
        )
        click.echo(
            f"{agency.code}: {n.name} <{n.email}> removed as {_in_sentence(n.purpose)} "
            f"({after}){tasks}"
        )


def _given_to(c: Context, code: str, emails: set[str]) -> dict[str, list[int]]:
    """The ids of the agency's open tasks given to each of ``emails``."""
    from ..service import TaskFilter

    out: dict[str, list[int]] = {}
    for t, _a, _g in c.service.list_tasks(TaskFilter(agency=code, limit=100_000)):
        if t.assignee_email in emails and t.id is not None:
            out.setdefault(t.assignee_email, []).append(t.id)
    return out


def _tasks_text(code: str, before: list[int], after: list[int]) -> str:
    """What became of the open tasks given to someone who is no longer one of the agency's
    people: back with the agency, or (said so, to be given again) still with them."""

    def tasks(ids: list[int]) -> str:
        return f"task {ids[0]}" if len(ids) == 1 else f"tasks {', '.join(map(str, ids))}"

    back = [i for i in before if i not in after]
    text = f"; {tasks(back)} back with {code}" if back else ""
    if after:
        text += f"; {tasks(after)} still given to them: give to someone else (sef task give)"
    return text


@click.group()
def staff() -> None:
    """Coordinators, managers and admins of the business unit."""


@staff.command("add")
@click.option("--name", required=True, help="Full name.")
@click.option("--email", required=True, help="Email address (their sign-in).")
@click.option(
    "--role", required=True, type=click.Choice(["coordinator", "manager", "admin"]), help="Role."
)
@pass_ctx
def staff_add(c: Context, name: str, email: str, role: str) -> None:
    """Add a member of staff (or change the role of an existing one)."""
    from ..service import Actor

    actor = c.actor() if c.actor_email else Actor.system()
    row = c.service.add_staff(actor, name, email, role)
    click.echo(f"{row.email}: {row.role}")


@staff.command("password")
@click.argument("email")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="The new password (asked for when not given; at least 10 characters).",
)
@pass_ctx
def staff_password(c: Context, email: str, password: str) -> None:
    """Set the web sign-in password of a member of staff (stored as an argon2 hash). Every
    session of theirs ends, and the directory log records who set it."""
    from ..service import Actor
    from ..web.auth import set_password

    c.service  # noqa: B018  (checks the schema)
    actor = c.actor() if c.actor_email else Actor.system()
    ended = set_password(c.app.db, email, password, c.app.service.clock.now(), actor=actor)
    signed_out = f"; signed out of {ended} session{'s' if ended != 1 else ''}" if ended else ""
    click.echo(f"{email}: password set{signed_out}")


@staff.command("remove")
@click.argument("email")
@pass_ctx
def staff_remove(c: Context, email: str) -> None:
    """Take away a member of staff's role (admins): they can no longer sign in or act, every
    session of theirs ends, and the directory log records who did it. Adding them again
    with `sef staff add` gives a role back."""
    row = c.service.deactivate_staff(c.actor(), email)
    click.echo(f"{row.email}: removed (no role; signed out everywhere)")


@staff.command("list")
@pass_ctx
def staff_list(c: Context) -> None:
    """List staff and their roles."""
    rows = [
        (s.email, s.name, s.role, "" if s.active else "inactive") for s in c.service.list_staff()
    ]
    print_table(rows, ("EMAIL", "NAME", "ROLE", ""))
