from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import weakref
from collections import deque
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.sql.base import Executable

try:
    import fcntl
except ImportError:  # Windows has no fcntl: there the processes wait for SQLite's own lock
    fcntl = None  # type: ignore[assignment]

READ_ONLY = "seatflow_read_only"
"""Execution option of an engine whose transactions only read (see ``read_only``)."""
WRITE_FIRST = "seatflow_write_first"
"""Execution option of an engine whose writing transactions go ahead of the others waiting (see ``write_first``)."""


def read_only(engine: Engine) -> Engine:
    """The same engine and pool, for transactions that only read: on SQLite they begin DEFERRED and so never
    take the write lock; on PostgreSQL they are READ ONLY, so a write by mistake fails loudly."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{READ_ONLY: True})
    return engine.execution_options(**{READ_ONLY: True}, postgresql_readonly=True)


def write_first(engine: Engine) -> Engine:
    """The same engine and pool, whose writing transactions are served before the ordinary writers waiting for
    SQLite's write lock in this process (``WriteGate``). For short bookkeeping that everyone's work waits on: the
    provisioning worker's claims and outcomes, which hold the lock for milliseconds, must not queue behind every
    request of the moment. No effect on PostgreSQL, where writers of different rows do not wait for each other."""
    return engine.execution_options(**{WRITE_FIRST: True})


_S = TypeVar("_S", bound=Executable)

DEFERRED = "seatflow_deferred"
"""Execution option of a write whose answer nobody reads (see ``deferred``)."""


def deferred(statement: _S) -> _S:
    """The statement, marked as a write whose answer nobody reads: an INSERT or an UPDATE with no RETURNING,
    whose row count is not looked at. On PostgreSQL such a write is sent at once but its answer is collected
    with the transaction's next statement or at its commit, in one round trip (``_defer_writes``); an error in it
    surfaces there, and fails the transaction as it would have. No effect on SQLite (in-process: no round
    trip to save) or outside a transaction."""
    return statement.execution_options(**{DEFERRED: True})


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
        _configure_sqlite(engine, memory=memory, busy_seconds=busy_timeout_seconds)
        return engine
    engine = create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=busy_timeout_seconds,
    )
    _ping_when_idle(engine)
    _defer_writes(engine)
    return engine


_PIPELINE = "seatflow_pipeline"
"""Key, in a DBAPI connection's ``info``, of the psycopg pipeline its deferred writes were sent in."""


def _defer_writes(engine: Engine) -> None:
    """Writes marked ``deferred`` are sent in psycopg's pipeline mode: the first one of a run puts the connection
    into it, and the statements go out without waiting for their answers. The next statement that is not
    deferred (a read, a flush's UPDATE whose row count the ORM checks, a SAVEPOINT) goes out after them, and its
    answer and theirs come back in one round trip, after which the connection leaves pipeline mode; a commit
    collects them first. A request's change writes four rows (the change, the quantity, its audit entry, its
    event): they cost one round trip instead of four (``bench/api_statements.py``).

    Order is kept (PostgreSQL runs a pipeline's statements in the order sent), and so is failure: an error in a
    deferred write aborts what follows it, and is raised by the statement or commit that collects it, so the
    transaction fails as it would have, one statement later. Code that uses the DBAPI connection directly calls
    ``settle`` first (``db.bulk``'s COPY cannot run in pipeline mode)."""

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, _cursor: Any, _statement: Any, _params: Any, context: Any, _many: bool) -> None:
        if context is None or not context.execution_options.get(DEFERRED):
            if context is not None and context._is_server_side:  # a named cursor: psycopg has none in pipeline mode
                _leave_pipeline(conn.connection.info)
            return
        proxied = conn.connection
        info, driver = proxied.info, proxied.driver_connection
        if _PIPELINE in info or driver.autocommit:
            return  # already in pipeline mode; or no transaction to collect the answer in
        pipeline = driver.pipeline()
        pipeline.__enter__()
        info[_PIPELINE] = pipeline

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, _cursor: Any, _statement: Any, _params: Any, context: Any, _many: bool) -> None:
        if context is not None and context.execution_options.get(DEFERRED):
            return
        # Inside SQLAlchemy's execute: an error here is wrapped and handled as this statement's.
        _leave_pipeline(conn.connection.info)

    @event.listens_for(engine, "commit")
    def _commit(conn: Any) -> None:
        # Outside SQLAlchemy's handling of the commit: the error is wrapped here as the commit's would be.
        if conn.invalidated:
            return  # the commit raises that
        dialect = engine.dialect
        try:
            _leave_pipeline(conn.connection.info)
        except dialect.loaded_dbapi.Error as error:
            lost = dialect.is_disconnect(error, conn.connection.dbapi_connection, None)
            wrapped = DBAPIError.instance(
                "COMMIT", None, error, dialect.loaded_dbapi.Error, connection_invalidated=lost, dialect=dialect
            )
            if lost:  # as SQLAlchemy does for a statement's: the connection is dropped, the pool starts afresh
                conn.invalidate(wrapped)
            raise wrapped from error

    @event.listens_for(engine, "rollback")
    def _rollback(conn: Any) -> None:
        if not conn.invalidated:  # a lost connection has nothing to collect (and asking for it raises)
            _leave_pipeline(conn.connection.info, quietly=True)

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        _leave_pipeline(record.info, quietly=True)  # a connection given back without commit or rollback


def settle(connection: Any) -> None:
    """Collect the answers of the deferred writes sent on this SQLAlchemy ``Connection`` (raising the first
    error among them): call before using its DBAPI connection directly. Nothing to do on SQLite."""
    _leave_pipeline(connection.connection.info)


def _leave_pipeline(info: dict[Any, Any], *, quietly: bool = False) -> None:
    pipeline = info.pop(_PIPELINE, None)
    if pipeline is None:
        return
    if not quietly:
        pipeline.__exit__(None, None, None)  # one round trip: the queued statements' answers, then a Sync
        return
    # A rollback follows: the writes are undone, and an error among them was raised already or is moot; the
    # rollback (or the pool's reset) reports a broken connection.
    with contextlib.suppress(Exception):
        pipeline.__exit__(None, None, None)


PING_AFTER_IDLE_SECONDS = 1.0
"""A pooled connection idle in the pool longer than this is pinged before it is handed out (see
``_ping_when_idle``)."""
_IDLE_SINCE = "seatflow_idle_since"


def _ping_when_idle(engine: Engine) -> None:
    """Pessimistic disconnect handling (SQLAlchemy's ``pool_pre_ping``), for connections that sat in the pool:
    one checked out again within ``PING_AFTER_IDLE_SECONDS`` of its return is handed out without a ping. Under load
    that is nearly every checkout, and the ping was a round trip to the server before every request's first
    statement (and the API-key check's); a connection that was just used is alive unless the server went away
    in that second. If it did, the statement fails, SQLAlchemy invalidates the pool, and the request is answered
    ``503 database_unavailable`` (``web.capacity``); the next checkout connects afresh.

    A fresh connection is not pinged (it has just connected); a ping that finds the connection dead makes the
    pool replace it (``DisconnectionError``), as ``pool_pre_ping`` does."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # ``info`` belongs to the DBAPI connection: a reconnected record starts without the mark (fresh).
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        dialect = engine.dialect
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise DisconnectionError(f"the pooled connection was lost: {error}") from error
            raise


WRITE_LOCK_SUFFIX = "-writelock"
"""The file beside a SQLite database whose lock the writers of every seatflow process take in turn (``FileLock``)."""


class FileLock:
    """An exclusive ``flock`` on a file, shared by the seatflow processes writing to one SQLite database, taken with
    a timeout.

    Between processes, SQLite's own wait for its write lock (busy_timeout) polls, sleeping 1, 2, 5 … up to 100 ms
    between tries: with two ``serve`` processes, a writer of one process could sleep 100 ms while the other took the
    lock again and again. A writer blocked in ``flock`` is woken by the kernel when the lock is let go, so the
    processes take turns instead. The kernel's wait has no timeout, so the wait is done by a keeper thread and the
    writer waits on the keeper with one: a writer that gives up leaves the keeper waiting, and the lock the keeper
    then gets goes to the next writer of this process, or is let go at once if there is none.

    One lock a gate (a ``WriteGate``, so one writer of this process at a time asks for it); the lock belongs to the
    open file, which a process made by ``fork`` would share, so a forked process opens the file afresh."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = -1
        self._pid = 0
        self._cond = threading.Condition()
        self._pending = False
        """The keeper is asking the kernel for the lock (or has it, for a writer that has not taken it over yet).
        Meanwhile nobody else asks on the same file: the kernel would grant the keeper's request at once to the
        open file that already holds the lock, and the keeper would let it go under its holder."""
        self._wanted = False
        """A writer of this process waits for the keeper's lock."""
        self._granted = False
        """The keeper took the lock for the writer waiting."""
        self._keeper: threading.Thread | None = None
        """Started when a writer first waits; it ends after ``KEEPER_IDLE_SECONDS`` without one, so that an engine
        dropped (many in the tests) takes its lock file and thread with it."""
        self._closer: weakref.finalize[Any, Any] | None = None

    KEEPER_IDLE_SECONDS = 5.0

    def _file(self) -> int:
        if self._pid != os.getpid():
            if self._closer is not None:  # the file this process was forked with: its lock is the parent's
                self._closer()
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            self._closer = weakref.finalize(self, os.close, self._fd)
            self._pid = os.getpid()
            self._keeper = None
            self._pending = self._wanted = self._granted = False
        return self._fd

    def acquire(self, timeout: float) -> bool:
        """Takes the lock, waiting at most ``timeout`` seconds; False if it could not."""
        assert fcntl is not None  # noqa: S101 - only made where fcntl exists
        with self._cond:
            fd = self._file()
            if not self._pending:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    self._pending = True
            self._wanted = True
            if self._keeper is None:
                self._keeper = threading.Thread(target=self._keep, args=(fd,), name="seatflow-writelock", daemon=True)
                self._keeper.start()
            self._cond.notify_all()
            if self._cond.wait_for(lambda: self._granted, timeout):
                self._pending = self._wanted = self._granted = False
                return True
            self._wanted = False  # the keeper lets the lock go when it gets it, unless a writer asks again by then
            return False

    def release(self) -> None:
        assert fcntl is not None  # noqa: S101 - only made where fcntl exists
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _keep(self, fd: int) -> None:
        assert fcntl is not None  # noqa: S101 - only made where fcntl exists
        while True:
            with self._cond:
                if not self._cond.wait_for(lambda: self._pending and not self._granted, self.KEEPER_IDLE_SECONDS):
                    self._keeper = None
                    return
            fcntl.flock(fd, fcntl.LOCK_EX)  # the kernel wakes this thread when the lock is let go
            with self._cond:
                if self._wanted:
                    self._granted = True
                    self._cond.notify_all()
                else:
                    fcntl.flock(fd, fcntl.LOCK_UN)  # the writer gave up, and no other asked since
                    self._pending = False


class WriteGate:
    """The writers to one SQLite file, served in the order they asked: those of this process first come first
    served, and the processes in turn (``FileLock``).

    SQLite's own wait for the write lock (busy_timeout) polls with sleeps of up to 100 ms: a writer that has
    waited may lose the lock again and again to writers that just arrived, so under load a few requests (or the
    worker's run) wait seconds while the median waits milliseconds. The writers of one process queue here first,
    first come first served, so at most one of them waits for the lock at a time; that one then takes the file lock
    shared with the other seatflow processes on the same file, if any, before BEGIN IMMEDIATE. A writer that has
    waited ``timeout`` seconds in all gives up with SQLite's own "database is locked", which the API answers with
    503 ``database_busy``.

    A transaction of an engine with the ``WRITE_FIRST`` option (``write_first(engine)``: the provisioning worker's
    bookkeeping) is served before the ordinary writers waiting, after the others of its kind."""

    def __init__(self, timeout: float, *, lock_path: str | None = None) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._queue: deque[tuple[threading.Event, bool]] = deque()
        """The writers waiting, each with its own event (woken alone: no herd) and whether it is WRITE_FIRST."""
        self._first = 0
        """How many of the queue's head are WRITE_FIRST writers."""
        self._held = False
        self._file = FileLock(lock_path) if lock_path is not None and fcntl is not None else None
        self._file_held = False

    def acquire(self, *, first: bool = False) -> None:
        deadline = time.monotonic() + self.timeout
        self._acquire_here(first=first)
        if self._file is None:
            return
        if not self._file.acquire(max(0.0, deadline - time.monotonic())):
            self.release()
            raise _locked()
        self._file_held = True

    def _acquire_here(self, *, first: bool) -> None:
        with self._lock:
            if not self._held:
                self._held = True
                return
            turn = threading.Event()
            if first:
                self._queue.insert(self._first, (turn, True))
                self._first += 1
            else:
                self._queue.append((turn, False))
        if turn.wait(self.timeout):
            return  # handed over by release(): the gate is ours
        with self._lock:
            if turn.is_set():
                return  # handed over just as the wait ended
            self._queue.remove((turn, first))
            if first:
                self._first -= 1
        raise _locked()

    def release(self) -> None:
        """Lets the other processes' writers in, then hands the gate to the next writer of this process waiting, if
        any; it stays held meanwhile."""
        if self._file_held:
            assert self._file is not None  # noqa: S101 - only held where there is one
            self._file_held = False
            self._file.release()
        with self._lock:
            if not self._queue:
                self._held = False
                return
            turn, first = self._queue.popleft()
            if first:
                self._first -= 1
            turn.set()

    @property
    def waiting(self) -> int:
        """Writers queued behind the one holding the gate."""
        with self._lock:
            return len(self._queue)

    @property
    def held(self) -> bool:
        with self._lock:
            return self._held


def _locked() -> OperationalError:
    return OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked"))


_GATES: weakref.WeakKeyDictionary[Engine, WriteGate] = weakref.WeakKeyDictionary()


def write_gate(engine: Engine) -> WriteGate | None:
    """The write gate of an engine made by ``make_engine`` for a SQLite file; None for any other."""
    return _GATES.get(engine)


_GATED = "seatflow_write_gate"
"""Set in a pooled connection's ``info`` while it holds its engine's WriteGate."""


def _configure_sqlite(engine: Engine, *, memory: bool, busy_seconds: float) -> None:
    busy_ms = int(busy_seconds * 1000)
    database = engine.url.database
    gate = (
        None
        if memory or not database
        else WriteGate(busy_seconds, lock_path=os.path.abspath(database) + WRITE_LOCK_SUFFIX)
    )
    if gate is not None:
        _GATES[engine] = gate

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
        if options.get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
            return
        if gate is None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        gate.acquire(first=bool(options.get(WRITE_FIRST)))
        conn.info[_GATED] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(conn.info)
            raise

    def _release(info: dict[Any, Any]) -> None:
        if info.pop(_GATED, False):
            assert gate is not None  # noqa: S101 - only a gated engine marks its connections
            gate.release()

    @event.listens_for(engine, "commit")
    def _on_commit(conn: Any) -> None:
        if not conn.invalidated:
            _release(conn.info)

    @event.listens_for(engine, "rollback")
    def _on_rollback(conn: Any) -> None:
        # An invalidated connection has no info to read (reading it raises): its pool record is checked in, or
        # was released on invalidation, below.
        if not conn.invalidated:
            _release(conn.info)

    @event.listens_for(engine, "invalidate")
    def _on_invalidate(_dbapi_connection: Any, record: Any, _error: Any) -> None:
        _release(record.info)

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, record: Any) -> None:
        # A connection back in the pool holds no transaction, whatever became of it.
        _release(record.info)
        # And pysqlite begins none on its own: SQLAlchemy's end of an AUTOCOMMIT use (the API-key check) resets
        # the connection's isolation_level to "", pysqlite's own implicit BEGIN before DML (this runs after it).
        if dbapi_connection is not None:
            dbapi_connection.isolation_level = None
