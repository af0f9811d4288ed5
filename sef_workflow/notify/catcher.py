"""The embedded mail catcher: an SMTP server on 127.0.0.1 that keeps every message as a file.

With no ``smtp.host`` configured, delivery hands mail to the catcher instead of the world.
Each message is written to ``<dir>/<UTC time>-<seq>.eml`` (the envelope in two
``X-Sef-Envelope-*`` headers, then the message exactly as received) through a temporary
file, synced, then linked into place under a name no other message has; only then does the
server answer 250, so a message the client was told is taken is on disk. When the file
cannot be written the server answers 451 and the sender keeps the message to retry.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aiosmtpd.controller import Controller

from ..clock import Clock, SystemClock
from ..errors import NotFound

if TYPE_CHECKING:
    from ..config import LoadedSettings

ENVELOPE_FROM = "X-Sef-Envelope-From"
ENVELOPE_TO = "X-Sef-Envelope-To"
SUFFIX = ".eml"


@dataclass(frozen=True)
class CaughtMessage:
    """One kept message, as listed."""

    file: Path
    date: datetime | None
    from_: str
    to: str
    cc: str
    subject: str
    message_id: str
    envelope_from: str
    envelope_to: tuple[str, ...]


class MailCatcher:
    """An SMTP server on ``host:port`` writing what it receives under ``directory``.

    ``port=0`` picks a free port; :attr:`port` is the one in use once started. Use as a
    context manager, or :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        clock: Clock | None = None,
        server_hostname: str = "sef-mail-catcher.localhost",
        ready_timeout: float = 10.0,
    ) -> None:
        self.directory = Path(directory)
        self.host = host
        self.handler = _StoreHandler(self.directory, clock or SystemClock())
        self._controller = LocalController(
            self.handler,
            hostname=host,
            port=port,
            server_hostname=server_hostname,
            ready_timeout=ready_timeout,
        )
        self._running = False

    @classmethod
    def from_settings(cls, loaded: LoadedSettings, *, port: int | None = None) -> MailCatcher:
        """The catcher configured by ``[mail] catcher_dir`` and ``catcher_port``."""
        mail = loaded.settings.mail
        directory = loaded.root / mail.catcher_dir
        return cls(directory, mail.catcher_port if port is None else port)

    @property
    def port(self) -> int:
        return self._controller.port

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        """Listen; a no-op when already listening."""
        if self._running:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        self._controller.start()
        self._running = True

    def stop(self) -> None:
        """Stop listening; a no-op when not listening. The port is kept for a restart."""
        if not self._running:
            return
        self._controller.stop()
        self._running = False

    def __enter__(self) -> MailCatcher:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class LocalController(Controller):
    """aiosmtpd's threaded ``Controller`` that reports the port it really listens on.

    With ``port=0`` the operating system picks a free port when the server starts; the
    controller's own start-up check would connect to port 0, so the real port is read
    from the listening socket first. A restarted controller keeps its port.
    """

    port: int

    def _trigger_server(self) -> None:
        if self.port == 0 and isinstance(self.server, asyncio.Server):
            self.port = int(self.server.sockets[0].getsockname()[1])
        super()._trigger_server()  # type: ignore[no-untyped-call]


class _StoreHandler:
    """aiosmtpd handler: one file per message, or 451 when it cannot be kept."""

    def __init__(self, directory: Path, clock: Clock) -> None:
        self.directory = directory
        self.clock = clock
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        try:
            path = self.store(envelope.mail_from or "", list(envelope.rcpt_tos), envelope.content)
        except OSError as exc:
            return f"451 4.3.0 could not keep the message: {exc.strerror or exc}"
        return f"250 2.0.0 kept as {path.name}"

    def store(self, mail_from: str, rcpt_tos: list[str], content: bytes) -> Path:
        """Write one message atomically; returns its file."""
        head = (
            f"{ENVELOPE_FROM}: <{mail_from}>\r\n{ENVELOPE_TO}: {', '.join(rcpt_tos)}\r\n"
        ).encode()
        stamp = self.clock.now().astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        with self._lock:
            seq = next(self._seq)
        tmp = self.directory / f".{stamp}-{os.getpid()}-{seq}.tmp"
        try:
            with open(tmp, "wb") as fh:
                fh.write(head)
                fh.write(content)
                fh.flush()
                os.fsync(fh.fileno())
            path = self._publish(tmp, stamp, seq)
        finally:
            tmp.unlink(missing_ok=True)
        _sync_dir(self.directory)
        return path

    def _publish(self, tmp: Path, stamp: str, seq: int) -> Path:
        """Link ``tmp`` to a final name that no other file has (never overwrite one)."""
        while True:
            path = self.directory / f"{stamp}-{seq:06d}{SUFFIX}"
            try:
                os.link(tmp, path)
                return path
            except FileExistsError:
                with self._lock:
                    seq = next(self._seq)


def _sync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------- reading
def _files(directory: str | os.PathLike[str]) -> list[Path]:
    folder = Path(directory)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == SUFFIX and not p.name.startswith("."))


def list_messages(directory: str | os.PathLike[str]) -> list[CaughtMessage]:
    """Every kept message, oldest first."""
    return [_read_summary(path) for path in _files(directory)]


def count_messages(directory: str | os.PathLike[str]) -> int:
    """How many messages are kept."""
    return len(_files(directory))


def list_newest(
    directory: str | os.PathLike[str], offset: int, limit: int
) -> list[tuple[int, CaughtMessage]]:
    """A page of the kept messages, newest first: ``limit`` of them after the newest
    ``offset``, each with its number (1 is the oldest, as in :func:`read_message`). Only the
    page's messages are read."""
    files = _files(directory)
    first = max(len(files) - max(offset, 0), 0)  # the newest message's number on the page
    last = max(first - max(limit, 0), 0)
    return [(n, _read_summary(files[n - 1])) for n in range(first, last, -1)]


def _read_summary(path: Path) -> CaughtMessage:
    with open(path, "rb") as fh:
        msg = BytesParser(policy=default).parse(fh, headersonly=True)
    return _summary(path, msg)


def read_message(directory: str | os.PathLike[str], which: int | str) -> EmailMessage:
    """One kept message, parsed: by number in :func:`list_messages` order (1 is the oldest,
    -1 the newest) or by file name (with or without ``.eml``)."""
    files = _files(directory)
    path = _pick(files, which, directory)
    with open(path, "rb") as fh:
        msg = BytesParser(policy=default).parse(fh)
    assert isinstance(msg, EmailMessage)
    return msg


def _pick(files: list[Path], which: int | str, directory: str | os.PathLike[str]) -> Path:
    if isinstance(which, str) and which.lstrip("-").isdigit():
        which = int(which)
    if isinstance(which, int):
        count = len(files)
        index = which - 1 if which > 0 else count + which if which < 0 else -1
        if not 0 <= index < count:
            raise NotFound(
                f"no message {which} in {directory}: there are {count} (1..{count}, or -1 "
                "for the newest)"
            )
        return files[index]
    name = which if which.endswith(SUFFIX) else which + SUFFIX
    for path in files:
        if path.name == name:
            return path
    raise NotFound(f"no message named {name!r} in {directory}")


def _summary(path: Path, msg: Any) -> CaughtMessage:
    date_header = msg["Date"]
    when: datetime | None = getattr(date_header, "datetime", None)
    return CaughtMessage(
        file=path,
        date=when,
        from_=str(msg["From"] or ""),
        to=str(msg["To"] or ""),
        cc=str(msg["Cc"] or ""),
        subject=str(msg["Subject"] or ""),
        message_id=str(msg["Message-ID"] or ""),
        envelope_from=str(msg[ENVELOPE_FROM] or "").strip("<>"),
        envelope_to=tuple(_split(str(msg[ENVELOPE_TO] or ""))),
    )


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]
