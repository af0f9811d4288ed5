"""A real SMTP server for tests (aiosmtpd on 127.0.0.1, a free port) whose behaviour is scripted.

::

    with ScriptedSmtpServer() as server:        # or server.start() / server.stop()
        server.fail_next(2)                      # 451 at the end of DATA for the next 2
        server.refuse("lead@police.example")     # 550 at RCPT for this address
        server.drop_next(1)                      # close the connection during DATA
        ...
        server.received                          # what it accepted, in order

A server that was never started (or was stopped) is "down": its port is reserved at
construction and nothing listens there until :meth:`start`, so a client gets connection
refused; a later ``start()`` brings it up on the same port.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from types import TracebackType
from typing import Any

from sef_workflow.notify.catcher import LocalController


@dataclass(frozen=True)
class Received:
    """One message as the server got it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage
    #: the client's (host, port): one per connection
    peer: tuple[str, int]

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


def free_port() -> int:
    """A port nothing listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ScriptedSmtpServer:
    """An aiosmtpd server on 127.0.0.1 that accepts, defers, refuses or drops as told."""

    host = "127.0.0.1"

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[Received] = []
        #: messages whose connection was closed during DATA (never answered)
        self.dropped: list[Received] = []
        #: messages answered with a failure at the end of DATA (see :meth:`fail_next`)
        self.deferred: list[Received] = []
        self._lock = threading.Lock()
        self._fail_next = 0
        self._fail_reply = ""
        self._drop_next = 0
        self._refuse: dict[str, str] = {}
        self._controller: LocalController | None = None

    # -------------------------------------------------------------- scripting
    def accept_all(self) -> None:
        """Forget every scripted failure."""
        with self._lock:
            self._fail_next = 0
            self._drop_next = 0
            self._refuse.clear()

    def fail_next(self, count: int, reply: str = "451 4.3.0 Mailbox busy, try again later") -> None:
        """Answer ``reply`` (451 unless told otherwise) at the end of DATA for the next
        ``count`` messages."""
        with self._lock:
            self._fail_next = count
            self._fail_reply = reply

    def refuse(self, address: str, reply: str | None = None) -> None:
        """Refuse ``address`` at RCPT, with a 550 unless told otherwise."""
        with self._lock:
            self._refuse[address.lower()] = reply or f"550 5.1.1 <{address}>: mailbox unavailable"

    def drop_next(self, count: int = 1) -> None:
        """Close the connection during DATA, without an answer, for the next ``count``."""
        with self._lock:
            self._drop_next = count

    # -------------------------------------------------------------- reading
    def message_ids(self) -> Counter[str]:
        """How many times each Message-ID was accepted."""
        with self._lock:
            return Counter(r.message_id for r in self.received)

    def by_message_id(self, message_id: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.message_id == message_id]

    # -------------------------------------------------------------- running
    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        if self._controller is not None:
            return
        controller = LocalController(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            server_hostname="smtp.test.localhost",
            ready_timeout=10.0,
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> ScriptedSmtpServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -------------------------------------------------------------- the handler's side
    def _rcpt_reply(self, address: str) -> str | None:
        with self._lock:
            return self._refuse.get(address.lower())

    def _take(self, received: Received) -> str:
        """File the message; returns ``"drop"``, a 4xx reply, or ``""`` to accept it."""
        with self._lock:
            if self._drop_next > 0:
                self._drop_next -= 1
                self.dropped.append(received)
                return "drop"
            if self._fail_next > 0:
                self._fail_next -= 1
                self.deferred.append(received)
                return self._fail_reply
            self.received.append(received)
            return ""


class _Handler:
    def __init__(self, owner: ScriptedSmtpServer) -> None:
        self.owner = owner

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self.owner._rcpt_reply(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.content)
        message = BytesParser(policy=default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        received = Received(
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            raw=raw,
            message=message,
            peer=tuple(session.peer[:2]),
        )
        verdict = self.owner._take(received)
        if verdict == "drop":
            server.transport.abort()  # gone mid-transaction: the client never hears back
            return "421 4.4.2 connection dropped"
        return verdict or "250 2.0.0 OK: queued"
