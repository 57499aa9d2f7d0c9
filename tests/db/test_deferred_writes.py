"""Writes marked ``deferred`` (``db.engine``): on PostgreSQL they are sent in pipeline mode and answered with the
transaction's next statement or at its commit. What must hold: the same rows in the same order as without it,
an error in a deferred write still fails its transaction (and changes nothing), the connection is usable
afterwards, COPY after deferred writes works, and the round trips saved are real (counted on the socket)."""

from __future__ import annotations

import os
import socket
import struct
from typing import Any

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError

from seatflow.db.bulk import insert_rows
from seatflow.db.engine import deferred
from seatflow.db.session import make_sessionmaker, unit_of_work

_METADATA = MetaData()
_NOTES = Table("deferred_notes", _METADATA, Column("id", Integer, primary_key=True), Column("note", String(40)))
_ADD = deferred(insert(_NOTES))
_RENAME = deferred(update(_NOTES).where(_NOTES.c.id == 1).values(note="renamed"))


@pytest.fixture
def notes(committed_engine: Engine) -> Engine:
    _METADATA.create_all(committed_engine)
    return committed_engine


def _stored(engine: Engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(select(_NOTES).order_by(_NOTES.c.id))]  # type: ignore[misc]


def test_deferred_writes_are_stored_in_order_and_read_back_within_the_transaction(notes: Engine) -> None:
    with notes.begin() as conn:
        conn.execute(_ADD, {"id": 1, "note": "first"})
        conn.execute(_ADD, [{"id": 2, "note": "second"}, {"id": 3, "note": "third"}])
        conn.execute(_RENAME)  # runs after the INSERT of row 1, as sent
        # A read in the same transaction sees every write sent before it.
        assert conn.execute(select(_NOTES.c.note).order_by(_NOTES.c.id)).scalars().all() == [
            "renamed",
            "second",
            "third",
        ]
        conn.execute(_ADD, {"id": 4, "note": "last, collected by the commit"})
    assert _stored(notes) == [(1, "renamed"), (2, "second"), (3, "third"), (4, "last, collected by the commit")]


def test_an_error_in_a_deferred_write_fails_the_transaction_and_changes_nothing(notes: Engine) -> None:
    with notes.begin() as conn:
        conn.execute(_ADD, {"id": 1, "note": "kept"})
    factory = make_sessionmaker(notes)

    def then_read() -> None:  # the duplicate key is found by the statement after it (a read), which raises it
        with unit_of_work(factory) as session:
            session.execute(_ADD, {"id": 2, "note": "would be new"})
            session.execute(_ADD, {"id": 1, "note": "a duplicate"})
            session.execute(select(_NOTES.c.id))

    def then_commit() -> None:  # and by the commit, when no statement follows it
        with unit_of_work(factory) as session:
            session.execute(_ADD, {"id": 3, "note": "would be new"})
            session.execute(_ADD, {"id": 1, "note": "a duplicate"})

    with pytest.raises(IntegrityError, match="deferred_notes"):
        then_read()
    with pytest.raises(IntegrityError, match="deferred_notes"):
        then_commit()
    assert _stored(notes) == [(1, "kept")]
    # The pool's connections are usable afterwards.
    with unit_of_work(factory) as session:
        session.execute(_ADD, {"id": 2, "note": "after the failures"})
    assert _stored(notes) == [(1, "kept"), (2, "after the failures")]


def test_a_savepoint_rolled_back_undoes_the_deferred_writes_sent_after_it(notes: Engine) -> None:
    with notes.begin() as conn:
        conn.execute(_ADD, {"id": 1, "note": "before the savepoint"})
        nested = conn.begin_nested()
        conn.execute(_ADD, {"id": 2, "note": "undone"})
        nested.rollback()
        conn.execute(_ADD, {"id": 3, "note": "after it"})
    assert _stored(notes) == [(1, "before the savepoint"), (3, "after it")]


def test_copy_after_deferred_writes(notes: Engine) -> None:
    """``insert_rows`` uses COPY on PostgreSQL, which pipeline mode refuses: the deferred writes are collected
    before it."""
    factory = make_sessionmaker(notes)
    with unit_of_work(factory) as session:
        session.execute(_ADD, {"id": 1, "note": "deferred"})
        insert_rows(session, _NOTES, ["id", "note"], [[2, "copied"], [3, "copied"]])
    assert _stored(notes) == [(1, "deferred"), (2, "copied"), (3, "copied")]


def test_outside_a_transaction_a_deferred_write_is_sent_and_kept_at_once(notes: Engine) -> None:
    with notes.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(_ADD, {"id": 1, "note": "autocommit"})
        assert _stored(notes) == [(1, "autocommit")]  # seen from another connection before this one ends


_DATA_SEGS_IN = 152  # tcpi_data_segs_in in Linux's struct tcp_info


def _answers(dbapi_connection: Any) -> int:
    """The data segments the server has sent on this connection: one for each time it answered."""
    with socket.socket(fileno=os.dup(dbapi_connection.pgconn.socket)) as sock:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return int(struct.unpack_from("I", info, _DATA_SEGS_IN)[0])


@pytest.mark.postgres
def test_on_postgresql_deferred_writes_are_answered_together(notes: Engine) -> None:
    """Four writes and a commit: five round trips sent one by one, two deferred (the writes' answers, then
    COMMIT's). And BEGIN's, which psycopg sends with the first statement: one either way."""

    def trips(statement: Any) -> int:
        with notes.connect() as conn:
            driver = conn.connection.dbapi_connection
            before = _answers(driver)
            with conn.begin():
                for n in range(4):
                    conn.execute(statement, {"id": n, "note": "x"})
            trips = _answers(driver) - before
            conn.execute(text("TRUNCATE deferred_notes"))
            conn.commit()
        return trips

    assert trips(insert(_NOTES)) == 1 + 4 + 1  # BEGIN, four INSERTs, COMMIT
    assert trips(_ADD) == 1 + 1 + 1  # BEGIN, the four INSERTs' answers, COMMIT


def test_a_streamed_read_after_deferred_writes(notes: Engine) -> None:
    """A read with ``yield_per`` uses a server-side cursor on PostgreSQL, which pipeline mode refuses: the
    deferred writes are collected before it."""
    with notes.begin() as conn:
        conn.execute(_ADD, [{"id": n, "note": f"row {n}"} for n in range(1, 6)])
        streamed = conn.execute(select(_NOTES.c.id).order_by(_NOTES.c.id).execution_options(yield_per=2))
        assert [row.id for row in streamed] == [1, 2, 3, 4, 5]


@pytest.mark.postgres
def test_a_connection_lost_before_the_commit_collects_the_writes_is_reported_lost(notes: Engine) -> None:
    """The server ends the connection after the writes were sent and before they were collected: the commit
    raises a lost connection (the API answers that ``503 database_unavailable``), nothing is stored, and the
    pool's next connection works."""
    factory = make_sessionmaker(notes)

    def cut_then_commit() -> None:
        with unit_of_work(factory) as session:
            session.execute(_ADD, {"id": 1, "note": "never stored"})
            pid = session.connection().connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
            with notes.connect() as admin:
                # With a timeout it returns once the server process has ended, not when it was only signalled:
                # otherwise, on a loaded machine, the commit could still reach it and succeed.
                ended = admin.execute(text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid}).scalar_one()
            assert ended

    with pytest.raises(OperationalError) as lost:
        cut_then_commit()
    assert lost.value.connection_invalidated
    assert _stored(notes) == []
    with unit_of_work(factory) as session:
        session.execute(_ADD, {"id": 2, "note": "on a new connection"})
    assert _stored(notes) == [(2, "on a new connection")]
