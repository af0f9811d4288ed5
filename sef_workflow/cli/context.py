"""What every command group shares: the context object with the application and the acting
person, the mapping of errors to one line on stderr and an exit code, and the parsing of
``NAME=VALUE`` options and the printing of tables and wrapped text.

Heavy modules are imported inside the functions so that ``sef --help`` stays quick.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from ..app import App
    from ..definitions import Workflow
    from ..models import Task
    from ..service import Actor, Service
    from ..views import Timeline

F = TypeVar("F", bound=Callable[..., Any])

EXIT_CODES_HELP = (
    "Exit codes: 0 done, 1 unexpected error, 2 bad usage, 3 configuration error, 4 not found, "
    "5 not allowed in this state, 6 changed by someone else, 7 permission denied, "
    "8 invalid input, 9 invalid workflow definition or template, 10 mail not accepted."
)


class Context:
    def __init__(self, config: str | None, actor: str | None) -> None:
        self.config = config
        self.actor_email = actor
        self._app: App | None = None
        self._checked = False

    @property
    def app(self) -> App:
        if self._app is None:
            from ..app import build
            from ..config import load_settings

            self._app = build(load_settings(self.config))
        return self._app

    @property
    def service(self) -> Service:
        """The service, once the database schema is known to be current."""
        app = self.app
        if not self._checked:
            from ..errors import ConfigError

            current, head = app.db.current_revision(), app.db.head_revision()
            if current != head:
                where = app.db.url.split("@")[-1]
                raise ConfigError(
                    f"database {where} is at schema {current or '(empty)'}, the code needs "
                    f"{head}: run 'sef db upgrade' (or 'sef demo' for the demo partnership)"
                )
            self._checked = True
        return app.service

    def actor(self) -> Actor:
        if not self.actor_email:
            raise click.UsageError(
                "say who is acting: --as EMAIL (a staff member or agency contact), or set SEF_ACTOR"
            )
        return self.app.service.resolve_actor(self.actor_email)


pass_ctx = click.make_pass_decorator(Context)


@contextmanager
def exit_on_error() -> Iterator[None]:
    """Turns a SefError into one line on stderr and its exit code."""
    from ..errors import SefError

    try:
        yield
    except SefError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)


class SefGroup(click.Group):
    """Turns every SefError into one line on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        with exit_on_error():
            return super().invoke(ctx)


def parse_inputs(pairs: Sequence[str]) -> dict[str, str]:
    """``--input NAME=VALUE`` pairs as a dict; the last of a name given twice wins."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r}: expected NAME=VALUE", param_hint="--input")
        out[key.strip()] = value
    return out


def parse_answers(pairs: Sequence[str], option: str, what: str) -> dict[str, str]:
    """``QUESTION=VALUE`` pairs, in the order given; a question given twice is refused."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(f"{pair!r}: expected QUESTION={what}", param_hint=option)
        if key in out:
            raise click.BadParameter(f"question {key!r} is given twice", param_hint=option)
        out[key] = value
    return out


def per_question_option(flag: str, dest: str, metavar: str, help_text: str) -> Callable[[F], F]:
    """An option given once per question (``--rating 1.1=good --rating 1.2=poor``)."""
    return click.option(flag, dest, multiple=True, metavar=metavar, help=help_text)


def print_table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> None:
    """Rows under a header in aligned columns, or ``(none)``."""
    if not rows:
        click.echo("(none)")
        return
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    click.echo(fmt.format(*header).rstrip())
    for row in rows:
        click.echo(fmt.format(*[str(x) for x in row]).rstrip())


def print_created(tasks: Sequence[Any]) -> None:
    """One line per task a change created, with its due date."""
    from ..calendar import format_deadline_date

    for t in tasks:
        due = f", due {format_deadline_date(t.due_on)}" if t.due_on else ""
        click.echo(f"  task {t.id}: {t.title}{due}")


def timeline_words(c: Context, wf: Workflow, tasks: Sequence[Task]) -> Timeline:
    """What a timeline printed here knows: the definition, the tasks and who is who."""
    from ..views import Timeline

    return Timeline.read(c.service, wf, tasks)


def wrapped(text: str, indent: str, first: str | None = None) -> list[str]:
    """Text wrapped at 92 columns, paragraph by paragraph, the first line led by ``first``."""
    import textwrap

    lines: list[str] = []
    for i, paragraph in enumerate(text.strip().splitlines() or [""]):
        lead = first if first is not None and i == 0 else indent
        lines.extend(
            textwrap.wrap(
                paragraph.strip(),
                width=92,
                initial_indent=lead,
                subsequent_indent=indent,
                break_on_hyphens=False,
            )
            or [lead.rstrip()]
        )
    return lines
