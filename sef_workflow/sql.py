"""Small SQL helpers that differ by dialect: INSERT ... ON CONFLICT on SQLite and PostgreSQL."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def _insert(session: Session, table: sa.Table, values: Mapping[str, Any]) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).values(**values)
    return sqlite.insert(table).values(**values)


@functools.cache
def _insert_ignoring(dialect: str, table: sa.Table, keys: tuple[str, ...]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO NOTHING RETURNING keys, built once per table."""
    module = postgresql if dialect == "postgresql" else sqlite
    return (
        module.insert(table)
        .on_conflict_do_nothing(index_elements=list(keys))
        .returning(*(table.c[k] for k in keys))
    )


def insert_new(
    session: Session, table: sa.Table, values: Mapping[str, Any], keys: Sequence[str]
) -> bool:
    """Insert unless a row with the same ``keys`` exists; True if this call inserted it.

    Concurrent inserts of the same key on PostgreSQL wait for each other, so exactly one
    caller gets True. The statement is built once; the values travel as parameters.
    """
    stmt = _insert_ignoring(session.get_bind().dialect.name, table, tuple(keys))
    return bool(session.connection().execute(stmt, dict(values)).all())


def upsert(
    session: Session,
    table: sa.Table,
    values: Mapping[str, Any],
    keys: Sequence[str],
    set_: Mapping[str, Any],
    returning: sa.ColumnElement[Any] | None = None,
) -> Any:
    """Insert, or update ``set_`` on the row with the same ``keys``; the ``returning`` value."""
    stmt = _insert(session, table, values).on_conflict_do_update(
        index_elements=list(keys), set_=dict(set_)
    )
    if returning is None:
        session.execute(stmt)
        return None
    return session.execute(stmt.returning(returning)).scalar_one()
