"""The evidence pack of one activity: read it, write every member, sign it with a manifest.

This module owns the pack as a whole: the download's name, the one read transaction the
pack is read in, the order the members are written in (so that the same data and the same
``now`` give the same bytes) and ``manifest.json``, the size and SHA-256 of every other
member.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..calendar import WorkingCalendar
from ..db import Database
from .archive import Zip, copy_files, email_names, eml
from .index import Index
from .snapshot import Snapshot, load
from .tables import (
    delivery_csv,
    directory_csv,
    events_csv,
    files_csv,
    findings_csv,
    ratings_csv,
    tasks_csv,
)
from .values import iso, safe


@dataclass(frozen=True)
class EvidencePack:
    """The zip and what went into it."""

    data: bytes
    events: int
    emails: int
    #: uploaded files copied into the zip
    files: int
    #: uploaded files listed but no longer on disk
    missing_files: int


def pack_filename(ref: str) -> str:
    """``MAA-2026-004-evidence.zip``: the download's name (only letters, digits, - and _)."""
    return f"{safe(ref.strip().upper()) or 'activity'}-evidence.zip"


def evidence_pack(
    db: Database,
    ref: str,
    *,
    upload_dir: Path,
    calendar: WorkingCalendar,
    partnership: str,
    now: datetime,
    from_addr: str | None = None,
) -> bytes:
    """The evidence pack of activity ``ref`` as zip bytes; NotFound for an unknown reference.

    ``from_addr`` is the sender the delivery worker uses (it is not stored with each
    email); without it the emails in the pack carry no From header.
    """
    return build_evidence_pack(
        db,
        ref,
        upload_dir=upload_dir,
        calendar=calendar,
        partnership=partnership,
        now=now,
        from_addr=from_addr,
    ).data


def build_evidence_pack(
    db: Database,
    ref: str,
    *,
    upload_dir: Path,
    calendar: WorkingCalendar,
    partnership: str,
    now: datetime,
    from_addr: str | None = None,
) -> EvidencePack:
    """:func:`evidence_pack`, with the counts of what went in."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"naive datetime {now!r}: pass a timezone-aware time")
    with db.read() as session:
        if not db.is_sqlite:
            # one snapshot for every query below, as SQLite's read transaction gives anyway
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        snap = load(session, ref)
    return _write(snap, upload_dir, calendar, partnership, now, from_addr)


def _write(
    snap: Snapshot,
    upload_dir: Path,
    calendar: WorkingCalendar,
    partnership: str,
    now: datetime,
    from_addr: str | None,
) -> EvidencePack:
    """The zip of ``snap``, member by member in a fixed order, the manifest last."""
    out = Zip(now.astimezone(calendar.tz))
    emails = email_names(snap.notifications)
    # files first: their sums go into returns/files.csv and index.html
    files = copy_files(snap, upload_dir, out)
    out.add("timeline.csv", events_csv(snap, snap.events))
    out.add("decisions.csv", events_csv(snap, snap.decisions()))
    out.add("tasks.csv", tasks_csv(snap))
    for n, name in zip(snap.notifications, emails, strict=True):
        out.add(name, eml(n, from_addr))
    out.add("emails/delivery.csv", delivery_csv(snap))
    out.add("returns/files.csv", files_csv(files))
    out.add("ratings.csv", ratings_csv(snap))
    out.add("findings.csv", findings_csv(snap))
    out.add("directory.csv", directory_csv(snap))
    out.add("index.html", Index(snap, calendar, partnership, now).page(emails, files))
    manifest = {
        "reference": snap.activity.ref,
        "generated_at": iso(now),
        "partnership": partnership,
        "files": [{"path": m.path, "size": m.size, "sha256": m.sha256} for m in out.members],
    }
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    out.add("manifest.json", text.encode("utf-8"))
    included = sum(1 for f in files if f.path is not None)
    return EvidencePack(
        data=out.close(),
        events=len(snap.events),
        emails=len(snap.notifications),
        files=included,
        missing_files=len(files) - included,
    )
