"""The evidence pack: one activity, one zip an inspector can read.

::

    index.html                      the activity, and every section below as tables with links
    timeline.csv                    every event, in the order it happened
    decisions.csv                   the events people caused (not the system, not reminders)
    tasks.csv                       every task with its deadline record
    emails/NNNN-TEMPLATE-ROLE.eml   each email as the mail server was given it (RFC 5322)
    emails/delivery.csv             each delivery attempt, and each email never attempted
    returns/task-ID-AGENCY/upload-ID.EXT   the files agencies uploaded with their returns
    returns/files.csv               what each file is: original name, size, who, when, SHA-256
    ratings.csv                     every answer of every assessment, with its moderation
    findings.csv                    findings and recommendations, with the actions answering them
    directory.csv                   changes to the agencies' contacts, and their sign-in links,
                                    while the activity was open (the directory log)
    manifest.json                   size and SHA-256 of every other member

Names inside the zip carry only the reference, task and upload ids, agency codes, template
names and recipient roles, never a child's or a family's details: an uploaded file keeps its
original name only in ``returns/files.csv`` and ``index.html``, inside the zip.

The pack only reads, in one read transaction (a repeatable-read snapshot on PostgreSQL), and
the same data with the same ``now`` gives the same bytes: members are written in a fixed
order with a timestamp derived from ``now``.

The package reads the activity in ``snapshot``, writes the CSV files in ``tables``, the
page in ``index``, the zip, the returned files and the emails in ``archive``, and puts the
pack together in ``pack``; ``values`` writes the values they share.
"""

from .pack import EvidencePack, build_evidence_pack, evidence_pack, pack_filename
from .tables import (
    DELIVERY_COLUMNS,
    DIRECTORY_COLUMNS,
    FILE_COLUMNS,
    FINDING_COLUMNS,
    RATING_COLUMNS,
    TASK_COLUMNS,
    TIMELINE_COLUMNS,
)

__all__ = [
    "DELIVERY_COLUMNS",
    "DIRECTORY_COLUMNS",
    "FILE_COLUMNS",
    "FINDING_COLUMNS",
    "RATING_COLUMNS",
    "TASK_COLUMNS",
    "TIMELINE_COLUMNS",
    "EvidencePack",
    "build_evidence_pack",
    "evidence_pack",
    "pack_filename",
]
