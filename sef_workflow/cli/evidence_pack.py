"""``sef evidence-pack``: write one activity's evidence pack as a zip."""

from __future__ import annotations

from pathlib import Path

import click

from .context import Context, pass_ctx


@click.command("evidence-pack")
@click.argument("ref")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the zip (default: REF-evidence.zip in the current folder).",
)
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@pass_ctx
def evidence_pack_command(c: Context, ref: str, output: Path | None, force: bool) -> None:
    """Write one activity's evidence pack: a zip with its timeline, every email with its
    delivery record, returns and their files, ratings, decisions and sign-offs."""
    from ..errors import InvalidInput
    from ..evidence import build_evidence_pack, pack_filename

    service = c.service
    s = c.app.settings.settings
    target = output or Path(pack_filename(ref))
    if target.exists() and not force:
        raise InvalidInput(f"{target} already exists: use --force to replace it")
    pack = build_evidence_pack(
        c.app.db,
        ref,
        upload_dir=c.app.settings.upload_dir(),
        calendar=c.app.calendar,
        partnership=s.partnership.name,
        now=service.clock.now(),
        from_addr=s.smtp.from_address or s.partnership.business_unit_email,
    )
    partial = target.with_name(target.name + ".part")
    partial.write_bytes(pack.data)
    partial.replace(target)
    click.echo(
        f"{target}: {pack.events} events, {pack.emails} emails, {pack.files} files "
        f"({pack.missing_files} missing)"
        if pack.missing_files
        else f"{target}: {pack.events} events, {pack.emails} emails, {pack.files} files"
    )
