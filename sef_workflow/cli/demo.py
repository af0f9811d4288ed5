"""``sef demo``: load a fictional partnership to try the product with."""

from __future__ import annotations

import click

from .context import Context, pass_ctx


@click.command()
@click.option("--reset", is_flag=True, help="Delete the existing data first (SQLite only).")
@pass_ctx
def demo(c: Context, reset: bool) -> None:
    """Load a fictional partnership: a dozen agencies, staff, and activities in varied states."""
    from ..demo import load_demo

    load_demo(c.app, reset=reset, echo=click.echo)
