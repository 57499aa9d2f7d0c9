from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

READ_ONLY = "seatflow_read_only"
"""Execution option of an engine whose transactions only read (see ``read_only``)."""


def read_only(engine: Engine) -> Engine:
    """The same engine and pool, for transactions that only read: on SQLite they begin DEFERRED and so never
    take the write lock; on PostgreSQL they are READ ONLY, so a write by mistake fails loudly."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{READ_ONLY: True})
    return engine.execution_options(**{READ_ONLY: True}, postgresql_readonly=True)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(
    url: str,
    *,
    echo: bool = False,
    busy_timeout_seconds: float = 30,
    pool_size: int = 10,
    max_overflow: int = 10,
) -> Engine:
    """An engine for ``url``. SQLite gets foreign keys, WAL and real SAVEPOINT support."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        memory = parsed.database in (None, "", ":memory:")
        # A file database gets a queue pool sized like PostgreSQL's; memory keeps SQLAlchemy's one connection.
        pool = (
            {}
            if memory
            else {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": busy_timeout_seconds}
        )
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_seconds},
            **pool,
        )
        _configure_sqlite(engine, memory=memory, busy_ms=int(busy_timeout_seconds * 1000))
        return engine
    return create_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=busy_timeout_seconds,
    )


def _configure_sqlite(engine: Engine, *, memory: bool, busy_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide where transactions begin, so SAVEPOINTs work
        # (SQLAlchemy's SQLite dialect documentation, "Serializable isolation / Savepoints").
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms:d}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writing transaction begins IMMEDIATE: it takes the write lock at BEGIN, so concurrent writers queue
        # (busy_timeout) instead of failing with SQLITE_BUSY_SNAPSHOT when a transaction that read first tries
        # to write. A reading one (READ_ONLY, see read_only()) begins DEFERRED: in WAL mode it reads a snapshot
        # and never waits for, or holds up, a writer.
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return
        conn.exec_driver_sql("BEGIN" if options.get(READ_ONLY) else "BEGIN IMMEDIATE")
