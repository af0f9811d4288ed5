"""``sef serve``: the web application, with the scheduler's jobs in the same process."""

from __future__ import annotations

import click

from .context import Context, pass_ctx


@click.command()
@click.option("--host", help="Address to listen on (default: web.host).")
@click.option("--port", type=int, help="Port to listen on (default: web.port).")
@click.option("--no-worker", is_flag=True, help="Serve pages only; run `sef worker` elsewhere.")
@pass_ctx
def serve(c: Context, host: str | None, port: int | None, no_worker: bool) -> None:
    """Start the web application, with the scheduler's jobs and (with no smtp.host) the mail
    catcher in the same process. Stops cleanly on SIGTERM or SIGINT."""
    import logging
    from datetime import timedelta

    from ..web.serve import serve as run_server

    c.service  # noqa: B018  (checks the schema)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for noisy in ("apscheduler", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    web = c.app.settings.settings.web
    host, port = host or web.host, port or web.port
    click.echo(
        f"sef-workflow on http://{host}:{port}/  (sign in at http://{host}:{port}/login)", err=True
    )
    run_server(
        c.app,
        host,
        port,
        with_worker=not no_worker,
        secret_key=web.secret_key or None,
        session_lifetime=timedelta(hours=web.session_hours),
        link_lifetime=timedelta(hours=web.link_hours),
        upload_limit=web.upload_limit_mb * 1024 * 1024,
        upload_dir=c.app.settings.upload_dir(),
        cookie_secure=web.cookie_secure,
    )
