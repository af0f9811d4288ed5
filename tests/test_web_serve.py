"""`serve` runs the web app and the worker in one process and stops both on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from .conftest import process_config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_serve_starts_web_and_worker_and_stops_on_sigterm(tmp_path: Path) -> None:
    env, sef = process_config(tmp_path)
    port = _free_port()
    code = (
        "from sef_workflow.app import build\n"
        "from sef_workflow.web.serve import serve\n"
        f"serve(build(), port={port}, upload_dir=__import__('pathlib').Path({str(tmp_path / 'up')!r}))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        body = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as r:
                    body = r.read().decode()
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        assert "Sign in" in body
        time.sleep(1.5)  # let the worker run its first jobs
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:  # pragma: no cover
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    status = subprocess.run([*sef, "status"], env=env, capture_output=True, text=True, check=True)
    assert "deliver" in status.stdout
