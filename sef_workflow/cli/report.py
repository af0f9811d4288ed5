"""``sef report``: the four-questions report for a period, as text, CSV, XLSX or the annual
HTML data pack."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .context import Context, pass_ctx, wrapped

if TYPE_CHECKING:
    from ..reports.model import Report, Table


REPORT_FORMATS = ("text", "csv", "xlsx", "html")
_SUFFIX_FORMATS = {".txt": "text", ".csv": "csv", ".xlsx": "xlsx", ".html": "html", ".htm": "html"}


def _day(value: str, option: str) -> date:
    from ..errors import InvalidInput

    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"{option} {value!r}: not a date; expected YYYY-MM-DD") from None


def _aligned(table: Table) -> list[str]:
    """A report table as aligned text: figures right-aligned, as shown on the page."""
    from ..reports.export import cell_text

    width = max(len(table.columns), *(len(r) for r in table.rows))
    header = [*table.columns, *[""] * (width - len(table.columns))]
    rows = [[cell_text(x) for x in r] + [""] * (width - len(r)) for r in table.rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    numeric = [table.numeric_column(i) for i in range(width)]

    def line(cells: Sequence[str], right: Sequence[bool]) -> str:
        return "  ".join(
            f"{x:>{w}}" if r else f"{x:<{w}}" for x, w, r in zip(cells, widths, right, strict=True)
        ).rstrip()

    return [line(header, [False] * width), *(line(r, numeric) for r in rows)]


def _report_text(report: Report, tz: tzinfo) -> list[str]:
    from ..calendar import format_moment, format_period

    lines = [
        report.title,
        report.partnership,
        f"Period: {format_period(report.period_start, report.period_end)}; "
        f"generated {format_moment(report.generated_at, tz)}",
    ]
    for section in report.sections:
        lines += ["", "=" * len(section.title), section.title, "=" * len(section.title)]
        lines += wrapped(section.intro, "") if section.intro else []
        for table in section.tables:
            lines += ["", table.title, "-" * len(table.title)]
            if not table.rows:
                lines.append("(none)")
            else:
                lines += _aligned(table)
            if table.note:
                lines += wrapped(table.note, "  ", "  Note: ")
    return lines


@click.command()
@click.option("--from", "from_day", metavar="YYYY-MM-DD", help="First day of the period.")
@click.option("--to", "to_day", metavar="YYYY-MM-DD", help="Last day of the period (included).")
@click.option(
    "--year",
    metavar="YYYY",
    help="The reporting year that starts in YYYY (its first month: reports.year_start_month).",
)
@click.option("--cycle", metavar="REF", help="The Section 11 cycle to summarise.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(REPORT_FORMATS),
    help="text (default), csv, xlsx or html (the annual data pack); default from --output's "
    "file name.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write it (text and csv default to standard output; xlsx and html to "
    "four-questions-START-to-END.xlsx/.html in the current folder).",
)
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@pass_ctx
def report(
    c: Context,
    from_day: str | None,
    to_day: str | None,
    year: str | None,
    cycle: str | None,
    fmt: str | None,
    output: Path | None,
    force: bool,
) -> None:
    """The four-questions report for a period: how much did we do, how well, what can we
    learn, is anyone better off; and the Section 11 summary.

    The period is --from and --to, or the reporting --year, or by default the current
    reporting year.
    """
    from ..errors import InvalidInput
    from ..reports.figures import build_report, reporting_year

    if fmt is None:
        fmt = _SUFFIX_FORMATS.get(output.suffix.lower(), "text") if output else "text"
    s = c.app.settings.settings
    start_month = s.reports.year_start_month
    if year is not None and (from_day is not None or to_day is not None):
        raise InvalidInput("give either --from and --to, or --year, not both")
    if (from_day is None) != (to_day is None):
        raise InvalidInput("give both --from and --to (or --year for a reporting year)")
    service = c.service
    now = service.clock.now()
    if from_day is not None and to_day is not None:
        start, end = _day(from_day, "--from"), _day(to_day, "--to")
    elif year is not None:
        if not year.strip().isdigit() or not 1900 <= int(year) <= 9998:
            raise InvalidInput(f"--year {year!r}: expected a year such as 2026")
        start, end = reporting_year(date(int(year), start_month, 1), start_month)
    else:
        start, end = reporting_year(c.app.calendar.local_date(now), start_month)
    target = output
    if target is None and fmt in ("xlsx", "html"):
        target = Path(f"four-questions-{start.isoformat()}-to-{end.isoformat()}.{fmt}")
    if target is not None and target.exists() and not force:
        raise InvalidInput(f"{target} already exists: use --force to replace it")
    if target is not None and not target.parent.is_dir():
        raise InvalidInput(f"{target}: folder {target.parent} does not exist")
    if cycle is not None:
        cycle = cycle.strip().upper()
    built = build_report(
        c.app.db,
        forms=c.app.forms,
        registry=c.app.registry,
        calendar=c.app.calendar,
        start=start,
        end=end,
        partnership=s.partnership.name,
        now=now,
        cycle=cycle,
    )
    if target is None:
        if fmt == "csv":
            from ..reports.export import report_csv

            click.echo(report_csv(built), nl=False)
        else:
            for line in _report_text(built, c.app.calendar.tz):
                click.echo(line)
        return
    from ..calendar import format_period

    click.echo(
        f"report {format_period(start, end)} for {built.partnership}"
        + (f", Section 11 cycle {cycle}" if cycle else "")
    )
    for section in built.sections:
        n = len(section.tables)
        click.echo(f"  {section.title} ({n} {'table' if n == 1 else 'tables'})")
    data: bytes
    if fmt == "xlsx":
        from ..reports.export import report_xlsx

        data = report_xlsx(built)
    elif fmt == "html":
        from ..reports.export import annual_html

        data = annual_html(built).encode("utf-8")
    elif fmt == "csv":
        from ..reports.export import report_csv

        data = report_csv(built).encode("utf-8")
    else:
        text = _report_text(built, c.app.calendar.tz)
        data = "".join(line + "\n" for line in text).encode("utf-8")
    partial = target.with_name(target.name + ".part")
    try:
        partial.write_bytes(data)
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise InvalidInput(f"{target}: cannot write: {exc.strerror}") from None
    tables = len(built.tables())
    click.echo(f"{target}: {fmt}, {tables} tables, {len(data):,} bytes")
