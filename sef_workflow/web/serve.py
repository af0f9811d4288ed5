"""Run the web app, the scheduler's jobs and (embedded default) the mail catcher in one process."""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import threading
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from ..app import App

log = logging.getLogger(__name__)


def serve(
    app: App,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    with_worker: bool = True,
    secret_key: str | None = None,
    session_lifetime: timedelta = timedelta(hours=8),
    link_lifetime: timedelta | None = None,
    upload_limit: int = 10 * 1024 * 1024,
    upload_dir: Path | None = None,
    cookie_secure: bool = False,
    log_level: str = "info",
) -> None:
    """Serve until SIGTERM or SIGINT, then stop uvicorn and the worker cleanly.

    ``secret_key`` defaults to ``SEF_WEB_SECRET_KEY`` or a random key per process (it only
    protects the sign-in form; sessions are stored server-side).
    """
    import uvicorn

    from ..scheduler import Worker
    from .app import create_app

    key = secret_key or os.environ.get("SEF_WEB_SECRET_KEY") or secrets.token_urlsafe(32)
    web = create_app(
        app,
        secret_key=key,
        session_lifetime=session_lifetime,
        link_lifetime=link_lifetime,
        upload_limit=upload_limit,
        upload_dir=upload_dir,
        cookie_secure=cookie_secure,
    )
    config = uvicorn.Config(
        web, host=host, port=port, log_level=log_level, proxy_headers=False, lifespan="off"
    )
    server = uvicorn.Server(config)

    # uvicorn catches SIGINT/SIGTERM itself, drains, then re-raises the signal to the handler
    # that was there before it: ours, so the process is not killed before the worker stops.
    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if not server.should_exit:
            log.info("received %s: stopping", signal.Signals(signum).name)
        server.should_exit = True

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    worker: Worker | None = None
    try:
        if with_worker:
            worker = Worker(app, f"web-{socket.gethostname()}-{os.getpid()}")
            worker.start()
        server.run()
    finally:
        if worker is not None:
            worker.stop()
            log.info("worker stopped")
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        app.db.dispose()
