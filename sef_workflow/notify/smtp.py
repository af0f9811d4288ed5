"""Sending email: one :class:`Outgoing` per outbox row, serialised by :func:`build_message`
and handed to a :class:`MailSender`.

:class:`SmtpSender` talks SMTP through aiosmtplib over a few reused connections and says,
for every message, whether it was sent, failed for now (``transient``: retry later) or
failed for good (``permanent``: a coordinator must look). :class:`RecordingSender` is the
fake shipped for tests and simulation.

Classification (aiosmtplib's error tree)::

    5xx reply (recipient, sender or data refused)      permanent, code and reply kept
    4xx reply, 421 closing, disconnect, timeout,       transient
    connection refused, TLS or login failure
    an address the client cannot send (ValueError)     permanent

When only some recipients are refused the message went to the others: it is ``sent`` when
the To address was accepted, otherwise it takes the To refusal's outcome and its detail
names the addresses the server took (the deputy on Cc, say). Refusals are in ``refused``.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from email._policybase import Compat32
from email.charset import QP, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr, parseaddr
from typing import Literal, Protocol

import aiosmtplib

Outcome = Literal["sent", "transient", "permanent"]
TlsMode = Literal["none", "starttls", "implicit"]

#: Quoted-printable UTF-8: readable in a mail catcher's files, safe on any server.
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP


class _SmtpPolicy(Compat32):
    """compat32 with CRLF, writing short one-line ASCII headers as they are.

    compat32 refolds every header through ``Header``, which costs more than the rest of
    the message together; the modern policy re-parses every structured header instead.
    """

    def fold_binary(self, name: str, value: str) -> bytes:
        if (
            isinstance(value, str)
            and value.isascii()
            and len(name) + len(value) + 2 <= 78
            and "\n" not in value
            and "\r" not in value
        ):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


_SMTP_POLICY = _SmtpPolicy(linesep="\r\n")
_METHOD = re.compile(rb"^METHOD:([A-Za-z-]+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Outgoing:
    """One email, built from a notification row."""

    notification_id: int
    message_id: str
    from_addr: str
    to: str
    cc: tuple[str, ...]
    subject: str
    text: str
    html: str
    ics: str | None
    date: datetime

    @property
    def recipients(self) -> list[str]:
        """The envelope recipients: To, then each Cc."""
        return [self.to, *self.cc]


@dataclass(frozen=True)
class Result:
    """What became of one message."""

    notification_id: int
    outcome: Outcome
    code: int | None
    detail: str
    #: recipients the server refused while taking the message for others: address -> reply
    refused: dict[str, str] = field(default_factory=dict)


class MailSender(Protocol):
    """Something that sends a batch of messages and reports on each, in order."""

    async def send(self, messages: Sequence[Outgoing]) -> list[Result]: ...


# ---------------------------------------------------------------------------- messages
def build_message(m: Outgoing) -> bytes:
    """The RFC 5322 message: text and HTML alternatives, plus the calendar entry if any.

    Built with the ``email.mime`` classes, which serialise about three times faster than
    ``EmailMessage``. Every leaf part is quoted-printable, so a boundary containing ``=_``
    can never occur in the content: boundaries are derived from the Message-ID (the same
    message serialises to the same bytes on every attempt) and the generator need not
    search the content for one. Header values never carry a line break.
    """
    token = hashlib.sha256(m.message_id.encode("utf-8")).hexdigest()[:24]
    body = MIMEMultipart("alternative", boundary=f"=_alt_{token}")
    body.attach(_text_part(m.text, "plain"))
    body.attach(_text_part(m.html, "html"))
    msg: MIMEMultipart
    if m.ics is None:
        msg = body
    else:
        del body["MIME-Version"]
        msg = MIMEMultipart("mixed", boundary=f"=_mix_{token}")
        msg.attach(body)
        msg.attach(_calendar_part(m.ics))
    msg["From"] = _address(m.from_addr)
    msg["To"] = _address(m.to)
    if m.cc:
        msg["Cc"] = ", ".join(_address(a) for a in m.cc)
    msg["Subject"] = _text_header(m.subject)  # type: ignore[assignment]  # compat32 takes a Header
    msg["Date"] = format_datetime(m.date)
    msg["Message-ID"] = _one_line(m.message_id)
    msg["Auto-Submitted"] = "auto-generated"
    return msg.as_bytes(policy=_SMTP_POLICY)


def ics_method(ics: str) -> str:
    """The iTIP method of a calendar (REQUEST or CANCEL); REQUEST when it names none."""
    found = _METHOD.search(ics.encode("utf-8"))
    return found.group(1).decode("ascii").upper() if found else "REQUEST"


def _text_part(text: str, subtype: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part.set_payload(text, _UTF8)  # what MIMEText does, with quoted-printable
    del part["MIME-Version"]  # only the message itself carries it
    return part


def _calendar_part(ics: str) -> MIMENonMultipart:
    part = _text_part(ics, "calendar")
    part.replace_header("Content-Type", f'text/calendar; charset="utf-8"; method={ics_method(ics)}')
    part.add_header("Content-Disposition", "attachment", filename="deadline.ics")
    return part


def _one_line(value: str) -> str:
    return " ".join(value.splitlines()).strip()


def _text_header(value: str) -> str | Header:
    """ASCII as it is, anything else as RFC 2047 encoded words (compat32 folds a Header)."""
    value = _one_line(value)
    return value if value.isascii() else Header(value, "utf-8")


def _bare(value: str) -> bool:
    """A plain ``local@domain`` address, as the outbox stores them (no display name)."""
    return "@" in value and value.isascii() and not any(c in value for c in ' <>"(),;:\r\n')


def _address(value: str) -> str:
    if _bare(value):
        return value
    name, addr = parseaddr(_one_line(value))
    return formataddr((name, addr), charset="utf-8") if addr else _one_line(value)


def envelope_address(value: str) -> str:
    """The bare address for the SMTP envelope, from ``addr`` or ``Name <addr>``."""
    if _bare(value):
        return value
    return parseaddr(value)[1] or value


# ---------------------------------------------------------------------------- outcomes
def _reply(code: int, text: str) -> str:
    return f"{code} {_one_line(text)}".strip()


def _outcome_for(code: int) -> Outcome:
    return "permanent" if 500 <= code < 600 else "transient"


def refusal_result(m: Outgoing, refusals: Mapping[str, tuple[int, str]], reply: str = "") -> Result:
    """The result for a message some (or all) of whose recipients were refused.

    Sent when the To address was accepted; otherwise the To refusal decides, and the
    detail says who did get it.
    """
    refused = {addr: _reply(code, text) for addr, (code, text) in refusals.items()}
    to_refusal = refusals.get(m.to)
    if to_refusal is None:
        detail = reply or "accepted"
        if refused:
            detail += " (refused " + "; ".join(f"{a}: {r}" for a, r in refused.items()) + ")"
        return Result(m.notification_id, "sent", 250, detail, refused)
    code, text = to_refusal
    detail = _reply(code, text)
    accepted = [a for a in m.recipients if a not in refusals]
    if accepted:
        detail += f" (refused {m.to}; the server took {', '.join(accepted)})"
    return Result(m.notification_id, _outcome_for(code), code, detail, refused)


def _transient(m: Outgoing, detail: str, code: int | None = None) -> Result:
    return Result(m.notification_id, "transient", code, detail)


def _describe(exc: BaseException) -> str:
    text = str(exc) or repr(exc)
    return f"{type(exc).__name__}: {_one_line(text)}"


# ---------------------------------------------------------------------------- SMTP
class _Dropped(Exception):
    """The connection is gone while a message was in hand."""

    def __init__(self, detail: str, code: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code


class SmtpSender:
    """Sends over up to ``connections`` SMTP connections, each reused for many messages.

    The connections take messages from one queue, so a slow or broken connection does not
    hold back the rest: a connection that cannot be opened leaves its messages to the
    others, and only when none can be opened are the remaining messages marked transient.
    A connection dropped mid-message marks that message transient (the server may have
    taken it: it is resent later with the same Message-ID) and is reopened once; dropped
    again, that connection stops.
    """

    def __init__(
        self,
        host: str,
        port: int,
        tls: TlsMode,
        username: str,
        password: str,
        timeout: float,
        connections: int = 4,
        *,
        local_hostname: str | None = None,
        validate_certs: bool = True,
    ) -> None:
        if connections < 1:
            raise ValueError("connections must be at least 1")
        if tls not in ("none", "starttls", "implicit"):
            raise ValueError(f"tls must be none, starttls or implicit, not {tls!r}")
        self.host = host
        self.port = port
        self.tls: TlsMode = tls
        self.username = username
        self.password = password
        self.timeout = timeout
        self.connections = connections
        self.local_hostname = local_hostname
        self.validate_certs = validate_certs

    async def send(self, messages: Sequence[Outgoing]) -> list[Result]:
        results: list[Result | None] = [None] * len(messages)
        queue = collections.deque(enumerate(messages))
        workers = min(self.connections, len(messages))
        active = [workers]
        await asyncio.gather(*(self._work(queue, results, active) for _ in range(workers)))
        return [
            r if r is not None else _transient(m, "not attempted")
            for r, m in zip(results, messages, strict=True)
        ]

    def _client(self) -> aiosmtplib.SMTP:
        login = bool(self.username)
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username if login else None,
            password=self.password if login else None,
            local_hostname=self.local_hostname,
            timeout=self.timeout,
            use_tls=self.tls == "implicit",
            start_tls=self.tls == "starttls",
            validate_certs=self.validate_certs,
        )

    async def _work(
        self,
        queue: collections.deque[tuple[int, Outgoing]],
        results: list[Result | None],
        active: list[int],
    ) -> None:
        """One connection: take messages from the queue until it is empty."""
        client: aiosmtplib.SMTP | None = None
        reconnects = 1
        try:
            while queue:
                index, m = queue.popleft()
                if client is not None and not client.is_connected:  # closed between messages
                    client.close()
                    client = None
                    if reconnects == 0:
                        self._give_up(index, m, queue, results, active, "connection lost again")
                        return
                    reconnects -= 1
                if client is None:
                    try:
                        client = await self._connect()
                    except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
                        detail = f"cannot connect to {self.host}:{self.port}: {_describe(exc)}"
                        self._give_up(index, m, queue, results, active, detail)
                        return
                try:
                    results[index] = await self._send_one(client, m)
                except _Dropped as dropped:
                    results[index] = _transient(m, dropped.detail, dropped.code)
                    client.close()
                    client = None
                    if reconnects == 0:
                        self._give_up(None, m, queue, results, active, "connection lost again")
                        return
                    reconnects -= 1
        finally:
            # Count this connection out before any await, so that another one giving up
            # never leaves work in the queue for a connection that has stopped taking it.
            active[0] -= 1
            if client is not None:
                await _quit(client)

    def _give_up(
        self,
        index: int | None,
        m: Outgoing,
        queue: collections.deque[tuple[int, Outgoing]],
        results: list[Result | None],
        active: list[int],
        detail: str,
    ) -> None:
        """This connection stops: leave the work to the others, or fail it if none is left."""
        if active[0] > 1:  # another connection is still taking messages
            if index is not None:
                queue.appendleft((index, m))
            return
        if index is not None:
            results[index] = _transient(m, detail)
        while queue:
            i, rest = queue.popleft()
            results[i] = _transient(rest, f"not attempted: {detail}")

    async def _connect(self) -> aiosmtplib.SMTP:
        client = self._client()
        try:
            await client.connect()
        except BaseException:
            client.close()
            raise
        return client

    async def _send_one(self, client: aiosmtplib.SMTP, m: Outgoing) -> Result:
        env = _enveloped(m)
        try:
            data = build_message(m)
            refusals, reply = await client.sendmail(
                envelope_address(m.from_addr), env.recipients, data
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            return refusal_result(env, {r.recipient: (r.code, r.message) for r in exc.recipients})
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code == 421:  # the server is closing the connection
                raise _Dropped(_reply(exc.code, exc.message), exc.code) from exc
            return Result(
                m.notification_id, _outcome_for(exc.code), exc.code, _reply(exc.code, exc.message)
            )
        except (aiosmtplib.SMTPException, OSError) as exc:  # disconnects, timeouts
            raise _Dropped(_describe(exc)) from exc
        except ValueError as exc:  # an address the client will not send to
            return Result(m.notification_id, "permanent", None, _describe(exc))
        except Exception as exc:  # isolate the message; the connection's state is unknown
            raise _Dropped(_describe(exc)) from exc
        mapped = {addr: (r.code, r.message) for addr, r in refusals.items()}
        return refusal_result(env, mapped, _one_line(reply))


def _enveloped(m: Outgoing) -> Outgoing:
    """``m`` with bare envelope addresses, as the server's refusals name them."""
    to = envelope_address(m.to)
    cc = tuple(envelope_address(a) for a in m.cc)
    return m if (to, cc) == (m.to, m.cc) else replace(m, to=to, cc=cc)


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        pass
    finally:
        client.close()


# ---------------------------------------------------------------------------- the fake
@dataclass(frozen=True)
class Scripted:
    """How :class:`RecordingSender` answers for one address."""

    outcome: Outcome
    code: int | None = None
    detail: str = ""


class RecordingSender:
    """A :class:`MailSender` that keeps every message instead of sending it.

    Every address is accepted unless scripted otherwise with :meth:`script`; a refused To
    with an accepted Cc behaves as :class:`SmtpSender` does. ``messages`` holds every
    message handed over, ``delivered`` those that came out sent.
    """

    def __init__(self, outcomes: Mapping[str, Scripted] | None = None) -> None:
        self.outcomes: dict[str, Scripted] = dict(outcomes or {})
        self.messages: list[Outgoing] = []
        self.delivered: list[Outgoing] = []
        self.batches = 0

    def script(
        self, address: str, outcome: Outcome, code: int | None = None, detail: str = ""
    ) -> None:
        """Answer ``outcome`` for ``address`` from now on (``sent`` to accept it again)."""
        self.outcomes[address] = Scripted(outcome, code, detail)

    async def send(self, messages: Sequence[Outgoing]) -> list[Result]:
        self.batches += 1
        results: list[Result] = []
        for m in messages:
            self.messages.append(m)
            refusals: dict[str, tuple[int, str]] = {}
            for address in m.recipients:
                scripted = self.outcomes.get(address)
                if scripted is None or scripted.outcome == "sent":
                    continue
                code = scripted.code or (550 if scripted.outcome == "permanent" else 451)
                refusals[address] = (code, scripted.detail or f"{address} {scripted.outcome}")
            result = refusal_result(m, refusals, "recorded")
            if result.outcome == "sent":
                self.delivered.append(m)
            results.append(result)
        return results
