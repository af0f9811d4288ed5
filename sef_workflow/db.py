"""Engines, sessions and migrations.

SQLite (the embedded default) runs in WAL mode with foreign keys on; write transactions
start with ``BEGIN IMMEDIATE`` so two writers queue instead of failing half-way.
PostgreSQL runs at READ COMMITTED; the service's compare-and-set on version columns keeps
concurrent writers honest.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class Database:
    """A database by URL, with a session for reads and one for writes."""

    def __init__(self, url: str, *, echo: bool = False, busy_timeout_ms: int = 5000) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            _ensure_sqlite_dir(url)
            self.engine = _sqlite_engine(url, echo, busy_timeout_ms, immediate=False)
            self.write_engine = _sqlite_engine(url, echo, busy_timeout_ms, immediate=True)
        else:
            # no pre-ping: it costs a round trip per transaction; stale connections are
            # recycled instead
            self.engine = sa.create_engine(url, echo=echo, pool_recycle=1800)
            self.write_engine = self.engine

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; rolled back at the end."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction: committed if the block returns, rolled back if it raises."""
        with Session(self.write_engine, expire_on_commit=False) as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
        if self.write_engine is not self.engine:
            self.write_engine.dispose()

    # migrations -------------------------------------------------------------------------
    def upgrade(self, revision: str = "head") -> None:
        """Create or upgrade the schema with the migrations shipped in the package."""
        from alembic import command

        with self.write_engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                # A migration that rebuilds a table (SQLite cannot alter one in place) must
                # not trip the foreign keys pointing at it: off for the upgrade's transaction,
                # every key checked before it commits (the procedure SQLite documents).
                _pragma(conn, "PRAGMA foreign_keys=OFF")
            try:
                cfg = alembic_config(conn)
                command.upgrade(cfg, revision)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"upgrade left broken foreign keys: {broken[:5]}")
                conn.commit()
            finally:
                if sqlite:
                    conn.rollback()
                    _pragma(conn, "PRAGMA foreign_keys=ON")

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            rev: str | None = MigrationContext.configure(conn).get_current_revision()
            return rev

    def head_revision(self) -> str | None:
        from alembic.script import ScriptDirectory

        head: str | None = ScriptDirectory.from_config(alembic_config(None)).get_current_head()
        return head


def _pragma(conn: sa.Connection, statement: str) -> None:
    """Run a PRAGMA outside any transaction (SQLite ignores some inside one)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    raw.execute(statement)


def alembic_config(connection: sa.Connection | None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _ensure_sqlite_dir(url: str) -> None:
    path = sa.engine.make_url(url).database
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_engine(url: str, echo: bool, busy_timeout_ms: int, *, immediate: bool) -> Engine:
    engine = sa.create_engine(url, echo=echo, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
