"""What an email template may see: the allow-listed names, the keys of each entry of a
digest's ``items``, the names a subject may show, and obviously fictional sample values
for checking templates.

Nothing outside these lists ever reaches a template: emails carry a reference and a link,
never a child's details.
"""

from __future__ import annotations

from collections.abc import Iterable

#: every name a template may use; nothing else ever reaches a template
ALLOWED_NAMES = frozenset(
    {
        "partnership_name",
        "reference",
        "activity_type",
        "activity_title",
        "task_title",
        "agency_name",
        "recipient_name",
        "deadline",
        "working_days_left",
        "deadline_text",
        "link",
        "link_hours",
        "items",
    }
)
#: the keys of each entry of ``items`` (digests); nothing else reaches a template
ITEM_NAMES = frozenset(
    {
        "reference",
        "activity_type",
        "task_title",
        "agency_name",
        "deadline",
        "deadline_text",
        "days_overdue",
        "link",
    }
)
#: messages whose names start with this may use ``items``
DIGEST_PREFIX = "digest_"
#: subjects travel in clear: only these
SUBJECT_NAMES = frozenset({"reference", "activity_type"})
#: the names a caller passes; ``partnership_name`` is added by :class:`Templates`
CONTEXT_NAMES = ALLOWED_NAMES - {"partnership_name"}

#: obviously fictional values for every name a caller passes, used by :meth:`Templates.check`
SAMPLE_CONTEXT: dict[str, object] = {
    "reference": "MAA-2026-001",
    "activity_type": "Multi-agency themed audit",
    "activity_title": "Themed audit: neglect (fictional)",
    "task_title": "Single-agency audit return",
    "agency_name": "Northshire Constabulary (fictional)",
    "recipient_name": "Sam Sample (fictional)",
    "deadline": "Mon 29 Dec 2025",
    "working_days_left": 3,
    "deadline_text": "3 working days left",
    "link": "http://127.0.0.1:8000/activities/MAA-2026-001",
    "link_hours": 72,
    "items": [
        {
            "reference": "MAA-2026-001",
            "activity_type": "Multi-agency themed audit",
            "task_title": "Single-agency audit return: Northshire Constabulary (fictional)",
            "agency_name": "Northshire Constabulary (fictional)",
            "deadline": "Mon 22 Dec 2025",
            "deadline_text": "3 working days overdue",
            "days_overdue": 3,
            "link": "http://127.0.0.1:8000/activities/MAA-2026-001",
        },
        {
            "reference": "MAA-2026-002",
            "activity_type": "Multi-agency themed audit",
            "task_title": "Single-agency audit return: Northshire Health Board (fictional)",
            "agency_name": "Northshire Health Board (fictional)",
            "deadline": "Fri 2 Jan 2026",
            "deadline_text": "4 working days left",
            "days_overdue": None,
            "link": "http://127.0.0.1:8000/activities/MAA-2026-002",
        },
    ],
}
#: what changes in the context of a message about something without a (running) deadline
NO_DEADLINE: dict[str, object] = {"deadline": "", "working_days_left": None, "deadline_text": ""}


def names_text(names: Iterable[str]) -> str:
    """Names sorted and joined with commas, as problem lines show them."""
    return ", ".join(sorted(names))
