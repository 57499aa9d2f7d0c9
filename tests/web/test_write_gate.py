"""The SQLite write gate (``db.engine.WriteGate``): a process's writers get SQLite's write lock in the order they
asked for it, a writer that waited too long gets "database is locked" (the API's 503 ``database_busy``), and a
transaction that ends any way (commit, rollback, an exception, a connection closed mid-transaction) lets the next
one in. Real threads on a real SQLite file: what the gate is for cannot be shown inside one transaction."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from seatflow.db.engine import WRITE_LOCK_SUFFIX, WriteGate, make_engine, read_only, write_first, write_gate
from seatflow.web.capacity import is_lock_timeout
from tests.processes import runs_tested_source


def _engine(tmp_path: Path, busy_seconds: float = 30) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'gate.db'}", busy_timeout_seconds=busy_seconds)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE arrivals (n INTEGER)"))
    return engine


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_writers_of_one_process_get_the_lock_in_the_order_they_asked(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    release_first = threading.Event()
    order: list[int] = []

    def holder() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO arrivals VALUES (0)"))
            release_first.wait(10)

    def writer(n: int) -> None:
        with engine.begin() as conn:
            order.append(n)
            conn.execute(text("INSERT INTO arrivals VALUES (:n)"), {"n": n})

    first = threading.Thread(target=holder)
    first.start()
    _wait_until(lambda: _waiting(engine) == 0 and _held(engine))
    threads = []
    for n in range(1, 9):
        thread = threading.Thread(target=writer, args=(n,))
        thread.start()
        threads.append(thread)
        _wait_until(partial(_queued, engine, n))  # n writers queue, in the order they came
    release_first.set()
    for thread in [first, *threads]:
        thread.join(10)
    assert order == list(range(1, 9))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM arrivals")).scalar_one() == 9


def test_a_writer_that_waited_too_long_is_told_the_database_is_locked_and_the_queue_goes_on(tmp_path: Path) -> None:
    engine = _engine(tmp_path, busy_seconds=0.3)
    release = threading.Event()

    def holder() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO arrivals VALUES (0)"))
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    _wait_until(lambda: _held(engine))
    started = time.monotonic()
    with pytest.raises(OperationalError) as refused, engine.begin() as conn:
        conn.execute(text("INSERT INTO arrivals VALUES (1)"))
    waited = time.monotonic() - started
    assert is_lock_timeout(refused.value), str(refused.value)  # the API answers it with 503 database_busy
    assert 0.25 < waited < 5, waited
    assert _waiting(engine) == 0  # the writer that gave up left the queue
    release.set()
    thread.join(10)
    with engine.begin() as conn:  # and the next writer is not held up by it
        conn.execute(text("INSERT INTO arrivals VALUES (2)"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM arrivals ORDER BY n")).scalars().all() == [0, 2]


@pytest.mark.parametrize("ending", ["exception", "rollback", "closed", "invalidated"])
def test_a_transaction_that_ends_without_a_commit_lets_the_next_writer_in(tmp_path: Path, ending: str) -> None:
    engine = _engine(tmp_path, busy_seconds=2)
    if ending == "exception":

        def fails() -> None:
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO arrivals VALUES (1)"))
                raise LookupError("the work failed")

        with pytest.raises(LookupError, match="the work failed"):
            fails()
    elif ending == "rollback":
        with engine.connect() as conn:
            conn.begin()
            conn.execute(text("INSERT INTO arrivals VALUES (1)"))
            conn.rollback()
    elif ending == "closed":
        conn = engine.connect()
        conn.begin()
        conn.execute(text("INSERT INTO arrivals VALUES (1)"))
        conn.close()  # back to the pool mid-transaction
    else:
        conn = engine.connect()
        conn.begin()
        conn.execute(text("INSERT INTO arrivals VALUES (1)"))
        conn.invalidate()  # as after an error SQLAlchemy takes for a lost connection
        conn.close()
    assert not _held(engine)
    started = time.monotonic()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO arrivals VALUES (2)"))
    assert time.monotonic() - started < 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM arrivals")).scalars().all() == [2]


def test_readers_never_queue_behind_a_writer(tmp_path: Path) -> None:
    engine = _engine(tmp_path, busy_seconds=5)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO arrivals VALUES (1)"))
    release = threading.Event()

    def holder() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO arrivals VALUES (2)"))
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    _wait_until(lambda: _held(engine))
    started = time.monotonic()
    with read_only(engine).begin() as conn:
        seen = conn.execute(text("SELECT n FROM arrivals")).scalars().all()
    assert time.monotonic() - started < 1
    assert seen == [1]  # the snapshot before the writer's uncommitted row
    release.set()
    thread.join(10)


def _gate(engine: Engine) -> WriteGate:
    gate = write_gate(engine)
    assert gate is not None
    return gate


def _queued(engine: Engine, writers: int) -> bool:
    return _waiting(engine) == writers


def _waiting(engine: Engine) -> int:
    return _gate(engine).waiting


def _held(engine: Engine) -> bool:
    return _gate(engine).held


def test_the_workers_bookkeeping_goes_ahead_of_the_writers_waiting(tmp_path: Path) -> None:
    """``write_first``: the provisioning worker's short transactions are served before the requests queued, in
    their own arrival order, and the requests then keep theirs."""
    engine = _engine(tmp_path)
    first = write_first(engine)
    release = threading.Event()
    order: list[str] = []

    def holder() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO arrivals VALUES (0)"))
            release.wait(10)

    def writer(which: Engine, name: str) -> None:
        with which.begin() as conn:
            order.append(name)
            conn.execute(text("INSERT INTO arrivals VALUES (1)"))

    thread = threading.Thread(target=holder)
    thread.start()
    _wait_until(lambda: _held(engine))
    threads = []
    for n, (which, name) in enumerate(
        [(engine, "request 1"), (engine, "request 2"), (first, "worker 1"), (engine, "request 3"), (first, "worker 2")],
        start=1,
    ):
        threads.append(threading.Thread(target=writer, args=(which, name)))
        threads[-1].start()
        _wait_until(partial(_queued, engine, n))
    release.set()
    for t in [thread, *threads]:
        t.join(10)
    assert order == ["worker 1", "worker 2", "request 1", "request 2", "request 3"]


def test_a_connection_used_in_autocommit_goes_back_to_the_pool_with_sqlalchemy_deciding_where_transactions_begin(
    tmp_path: Path,
) -> None:
    """The API-key check reads in AUTOCOMMIT; SQLAlchemy's reset of that option hands pysqlite its own implicit
    BEGIN back (``isolation_level = ""``). The pool's connections must keep it off, as ``make_engine`` sets them up,
    so that the write gate's BEGIN IMMEDIATE (and SAVEPOINTs) are the only transaction control."""
    engine = _engine(tmp_path)
    with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM arrivals")).scalar_one() == 0
    with engine.connect() as conn:
        assert conn.connection.dbapi_connection.isolation_level is None  # type: ignore[union-attr]
        conn.execute(text("INSERT INTO arrivals VALUES (1)"))
        conn.commit()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM arrivals")).scalar_one() == 1
    engine.dispose()


# --- between processes: the lock file beside the database -------------------------------------------------


def _lock_file(tmp_path: Path) -> int:
    """An open file description of the database's lock file of its own: its flock conflicts with the engine's as
    another process's would."""
    return os.open(f"{tmp_path / 'gate.db'}{WRITE_LOCK_SUFFIX}", os.O_RDWR | os.O_CREAT)


def test_a_writer_waits_while_another_process_holds_the_lock_file_and_writes_once_it_is_let_go(
    tmp_path: Path,
) -> None:
    engine = _engine(tmp_path)
    other = _lock_file(tmp_path)
    fcntl.flock(other, fcntl.LOCK_EX)  # another process's writer, between its BEGIN IMMEDIATE and its COMMIT
    wrote = threading.Event()

    def writer() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO arrivals VALUES (1)"))
        wrote.set()

    thread = threading.Thread(target=writer)
    thread.start()
    # The writer holds this process's gate and waits for the file: SQLite's own lock is free all along, so
    # without the file lock it would have written at once.
    _wait_until(lambda: _held(engine))
    assert not wrote.wait(0.5)
    with read_only(engine).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM arrivals")).scalar_one() == 0
    fcntl.flock(other, fcntl.LOCK_UN)
    assert wrote.wait(10)
    thread.join(10)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM arrivals")).scalars().all() == [1]
    # And the writer let the file go when it committed.
    fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(other)
    engine.dispose()


def test_a_writer_that_gave_up_on_the_lock_file_leaves_it_free_for_the_other_processes(tmp_path: Path) -> None:
    engine = _engine(tmp_path, busy_seconds=0.3)
    other = _lock_file(tmp_path)
    fcntl.flock(other, fcntl.LOCK_EX)
    with pytest.raises(OperationalError) as refused, engine.begin() as conn:
        conn.execute(text("INSERT INTO arrivals VALUES (1)"))
    assert is_lock_timeout(refused.value), str(refused.value)  # the API's 503 database_busy
    assert not _held(engine)
    fcntl.flock(other, fcntl.LOCK_UN)
    # The engine's keeper was still waiting for the file when the writer gave up; it gets it now and, with no
    # writer waiting any more, lets it go: the other process can take it again.
    _wait_until(lambda: _try_lock(other))

    # Again, and this time the next writer of this process asks while the keeper still waits: it is served.
    with pytest.raises(OperationalError), engine.begin() as conn:
        conn.execute(text("INSERT INTO arrivals VALUES (2)"))
    _gate(engine).timeout = 30
    thread = threading.Thread(target=_insert, args=(engine, 3))
    thread.start()
    _wait_until(lambda: _held(engine))
    fcntl.flock(other, fcntl.LOCK_UN)
    thread.join(10)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM arrivals")).scalars().all() == [3]
    _wait_until(lambda: _try_lock(other))  # let go at its COMMIT
    os.close(other)
    engine.dispose()


def _insert(engine: Engine, n: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO arrivals VALUES (:n)"), {"n": n})


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


_OTHER_PROCESS = """
import sys
from sqlalchemy import text
from seatflow.db.engine import make_engine

engine = make_engine(sys.argv[1], busy_timeout_seconds=2)
for n in range(int(sys.argv[2]), int(sys.argv[2]) + int(sys.argv[3])):
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO arrivals VALUES (:n)"), {"n": n})
"""


def test_two_seatflow_processes_writing_at_once_both_get_through_and_lose_nothing(tmp_path: Path) -> None:
    """Two processes of 300 writes each, with a busy timeout of 2 s: taking turns on the lock file, neither waits
    out the timeout, nothing hangs, and every write is there. (That the turns are quicker than SQLite's polling is
    a speed figure: ``bench/sqlite_writers.py``, ``bench/api_load.py --workers 2``.)"""
    _engine(tmp_path).dispose()
    url = f"sqlite:///{tmp_path / 'gate.db'}"
    env = runs_tested_source(os.environ)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _OTHER_PROCESS, url, str(start), "300"],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for start in (0, 1000)
    ]
    for writer in writers:
        _, errors = writer.communicate(timeout=120)
        assert writer.returncode == 0, errors
    engine = make_engine(url)
    with engine.connect() as conn:
        written = conn.execute(text("SELECT n FROM arrivals ORDER BY n")).scalars().all()
    assert written == [*range(300), *range(1000, 1300)]
    engine.dispose()
