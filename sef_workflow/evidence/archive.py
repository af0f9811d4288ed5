"""The evidence pack's zip, the files agencies returned and the emails, as members of it.

This module owns the zip itself (members written one by one with one fixed timestamp, each
one's size and SHA-256 kept for the manifest), copying the uploaded files in under names
that carry only task, agency and upload ids, and each email as the delivery worker gives
it to the mail server.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..models import Notification, Upload
from ..notify.delivery import outgoing
from ..notify.smtp import build_message
from .snapshot import Snapshot
from .values import extension, safe

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Member:
    path: str
    size: int
    sha256: str


class Zip:
    """A zip written member by member, each with the same fixed timestamp; remembers sums."""

    def __init__(self, moment: datetime) -> None:
        self.buffer = io.BytesIO()
        self.zf = zipfile.ZipFile(self.buffer, "w", zipfile.ZIP_DEFLATED)
        stamp = max(moment, datetime(1980, 1, 1, tzinfo=moment.tzinfo))
        self.date_time = (
            stamp.year,
            stamp.month,
            stamp.day,
            stamp.hour,
            stamp.minute,
            stamp.second,
        )
        self.members: list[Member] = []

    def _info(self, path: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(path, self.date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.create_system = 3
        info.external_attr = 0o644 << 16
        return info

    def add(self, path: str, data: bytes) -> None:
        self.zf.writestr(self._info(path), data)
        self.members.append(Member(path, len(data), hashlib.sha256(data).hexdigest()))

    def add_file(self, path: str, source: Path) -> Member:
        """Copy ``source`` in, in chunks; its size and SHA-256 as copied."""
        digest = hashlib.sha256()
        size = 0
        with source.open("rb") as src, self.zf.open(self._info(path), "w") as dst:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                dst.write(chunk)
        member = Member(path, size, digest.hexdigest())
        self.members.append(member)
        return member

    def close(self) -> bytes:
        self.zf.close()
        return self.buffer.getvalue()


# ---------------------------------------------------------------------------- files
@dataclass(frozen=True)
class FileRow:
    """An uploaded file and where it went in the pack (``path`` None: not on disk)."""

    upload: Upload
    task_id: int
    agency: str
    path: str | None
    sha256: str
    status: str


def copy_files(snap: Snapshot, upload_dir: Path, out: Zip) -> list[FileRow]:
    """Copy every uploaded file still in ``upload_dir`` into ``out``; a row for each."""
    rows: list[FileRow] = []
    for u in snap.uploads:
        assert u.id is not None
        agency = snap.task_agency.get(u.task_id, "")
        folder = f"returns/task-{u.task_id}-{safe(agency) or 'none'}"
        path = f"{folder}/upload-{u.id}{extension(u.original_name)}"
        source = upload_dir / u.stored_name
        # stored names are random hex; anything else never leaves the upload folder
        if Path(u.stored_name).name != u.stored_name or not source.is_file():
            rows.append(FileRow(u, u.task_id, agency, None, "", "missing"))
            continue
        member = out.add_file(path, source)
        status = "included"
        if member.size != u.size:
            status = f"included; {member.size} bytes on disk, {u.size} recorded"
        rows.append(FileRow(u, u.task_id, agency, path, member.sha256, status))
    return rows


# ---------------------------------------------------------------------------- emails
def email_names(notifications: list[Notification]) -> list[str]:
    """``emails/NNNN-TEMPLATE-ROLE.eml`` for each email, numbered by its id."""
    width = max(4, len(str(max((n.id or 0 for n in notifications), default=0))))
    return [
        f"emails/{n.id:0{width}d}-{safe(n.template) or 'email'}-"
        f"{safe(n.recipient_role) or 'recipient'}.eml"
        for n in notifications
    ]


def eml(n: Notification, from_addr: str | None) -> bytes:
    """The message as the delivery worker builds it: same Message-ID, Date and bytes."""
    raw = build_message(outgoing(n, from_addr or ""))
    if from_addr:
        return raw
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if line != b"From: "]
    return b"\r\n".join(lines) + sep + body
