"""Files agencies attach to their tasks: which types are accepted, storing one under a random
name within the size limit, and recording it against its task."""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path

from starlette.datastructures import UploadFile

from ..db import Database
from ..errors import InvalidInput
from ..models import Upload
from ..service import Actor
from .forms import clean_name, size_text

#: file types an agency may upload, by extension, with the content type we serve them as
ALLOWED_UPLOADS: dict[str, str] = {
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".csv": "text/csv",
    ".txt": "text/plain",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}

#: a file written under ``directory``, the file as sent, and its size in bytes
Stored = tuple[Path, UploadFile, int]


async def store_upload(file: UploadFile, limit: int, directory: Path) -> Stored:
    """Check type and size, then write under a random name; InvalidInput if refused."""
    name = clean_name(file.filename or "")
    ext = Path(name).suffix.lower()
    if ext not in ALLOWED_UPLOADS:
        allowed = ", ".join(sorted(e.lstrip(".") for e in ALLOWED_UPLOADS))
        raise InvalidInput(
            f"input 'upload': files of type '{ext or 'none'}' are not accepted (allowed: {allowed})"
        )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / secrets.token_hex(16)
    size = 0
    try:
        with path.open("xb") as out:
            while chunk := await file.read(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise InvalidInput(
                        f"input 'upload': the file is larger than the limit of {size_text(limit)}"
                    )
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if size == 0:
        path.unlink(missing_ok=True)
        raise InvalidInput("input 'upload': the file is empty")
    return path, file, size


def discard(stored: Stored | None) -> None:
    if stored is not None:
        stored[0].unlink(missing_ok=True)


def record_upload(db: Database, task_id: int, stored: Stored, actor: Actor, now: datetime) -> None:
    path, file, size = stored
    name = clean_name(file.filename or "")
    with db.write() as session:
        session.add(
            Upload(
                task_id=task_id,
                original_name=name[:255],
                stored_name=path.name,
                size=size,
                content_type=ALLOWED_UPLOADS[Path(name).suffix.lower()],
                uploaded_by=actor.id,
                uploaded_at=now,
            )
        )
