"""Profile: the SQL statements one API request of each kind issues, on SQLite or PostgreSQL.

Where a request's time goes, in round trips: on PostgreSQL each statement costs about 0.1 ms of the server
process's CPU through SQLAlchemy and psycopg (docs/benchmarks.md, "Issue 16, fourth pass"), so the count is a
large part of a request's cost. Not timed.

Sets up what ``bench/api_load.py`` sets up (its ``build``: --subscriptions subscriptions, a tenth of them linked
children whose parents are on a do-nothing account), on a fresh SQLite file in a temporary directory or with
--postgres a scratch database ``seatflow_bench_api_statements`` (dropped at the end), an API key, and the app as
``seatflow serve`` builds it (``create_app``) on the same engine, driven in this process by Starlette's test
client. Each request kind is sent three times untimed (so the caches are warm), then once with a
``before_cursor_execute`` listener and the engine's transaction events recorded: the changes request
(``POST /api/v1/subscriptions/{id}/quantity``) on a standalone subscription and on a linked child, and the three
reads of api_load's mix. Prints, for each, the number of statements (what the driver is asked to execute, BEGIN
IMMEDIATE included on SQLite) and of SQLAlchemy's transaction events, shown in brackets: ``(begin)``,
``(commit)``, ``(rollback)``; on PostgreSQL psycopg sends BEGIN as a round trip of its own before the transaction's
first statement, and a commit or rollback is one unless the connection is in autocommit (the API-key check's) or
has no transaction. On PostgreSQL it
also prints the request's round trips, counted, not inferred: the data segments the server sent on the pool's
connections (``TCP_INFO``'s ``tcpi_data_segs_in``, read on a duplicate of each connection's socket). The server
answers once for each message that asks it to (a query, a Sync, a flush request), so one answer is one time the
server process waited for it; writes sent ``deferred`` in pipeline mode are answered with the statement that
collects them.

With ``--repeat N`` it then times N changes of each kind (standalone subscriptions and linked children in turn,
each a real change; the listeners removed): the CPU a change costs this process (the app, SQLAlchemy, the driver,
and the test client's share, the same for any version), and on PostgreSQL the CPU of the pool's server processes
(``/proc/<pid>/stat``, same machine). For A/B pairs: run two versions' ``src`` alternately with ``PYTHONPATH``.

Checks (exit 1): every request answered 2xx.

    .venv/bin/python bench/api_statements.py [--postgres] [--repeat 2000]
"""

from __future__ import annotations

import argparse
import os
import socket
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from api_load import POSTGRES_ADMIN, build, postgres_database
from fastapi.testclient import TestClient
from sqlalchemy import event

from seatflow.auth.service import create_api_key
from seatflow.config import Settings
from seatflow.db import migrate
from seatflow.db.engine import make_engine
from seatflow.db.session import make_sessionmaker, unit_of_work
from seatflow.web.app import create_app

DATABASE = "seatflow_bench_api_statements"


def _head(statement: str, width: int = 96) -> str:
    flat = " ".join(statement.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true", help=f"a scratch PostgreSQL database {DATABASE}")
    parser.add_argument("--subscriptions", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=0, help="then time this many changes of each kind")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="seatflow-statements-") as directory:
        if args.postgres:
            postgres_database("create", DATABASE)
            url = f"{POSTGRES_ADMIN}/{DATABASE}"
        else:
            url = f"sqlite:///{Path(directory) / 'bench.db'}"
        try:
            return _profile(url, args.subscriptions, args.repeat)
        finally:
            if args.postgres:
                postgres_database("drop", DATABASE)


_DATA_SEGS_IN = 152
"""Offset of ``tcpi_data_segs_in`` (a u32) in Linux's ``struct tcp_info`` (since Linux 4.6)."""


class Answers:
    """The data segments each PostgreSQL connection of an engine has received from the server."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []
        self.backends: list[int] = []

    def connected(self, dbapi_connection: Any, _record: Any) -> None:
        self.sockets.append(socket.socket(fileno=os.dup(dbapi_connection.pgconn.socket)))
        self.backends.append(dbapi_connection.info.backend_pid)

    def server_cpu(self) -> float:
        """CPU seconds of the connections' server processes so far."""
        total = 0
        for pid in self.backends:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue  # a connection closed since
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / os.sysconf("SC_CLK_TCK")

    def count(self) -> int:
        total = 0
        for sock in self.sockets:
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
            total += struct.unpack_from("I", info, _DATA_SEGS_IN)[0]
        return total

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


def _profile(url: str, subscriptions: int, repeat: int) -> int:
    migrate.upgrade(url)
    engine = make_engine(url)
    answers = Answers()
    if engine.dialect.name == "postgresql":
        event.listen(engine, "connect", answers.connected)
    factory = make_sessionmaker(engine)
    data = build(factory, subscriptions)
    with unit_of_work(factory) as session:
        _, key = create_api_key(session, name="statements")
    children = {child for kids in data.parents.values() for child in kids}
    standalone = [t for t in data.targets if t not in children]
    child = sorted(children)[0]
    seen: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(_head(statement))

    recorders = {name: lambda _conn, name=name: seen.append(f"({name})") for name in ("begin", "commit", "rollback")}
    for name, recorder in recorders.items():
        event.listen(engine, name, recorder)

    app = create_app(Settings(database_url=url), engine=engine)
    failed = 0
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {key}"}
        kinds = [
            ("change, standalone", "POST", f"/api/v1/subscriptions/{standalone[0]}/quantity"),
            ("change, linked child", "POST", f"/api/v1/subscriptions/{child}/quantity"),
            ("read one subscription", "GET", f"/api/v1/subscriptions/{standalone[1]}"),
            ("read its changes", "GET", f"/api/v1/subscriptions/{standalone[1]}/changes"),
            ("read a contract's subscriptions", "GET", f"/api/v1/subscriptions?contract_id={data.contracts[0]}"),
        ]
        for label, method, path in kinds:
            for quantity in (101, 102, 103, 104):
                seen.clear()
                before = answers.count()
                body = {"quantity": quantity, "effective": "now"} if method == "POST" else None
                answer = client.request(method, path, json=body, headers=headers)
                if not 200 <= answer.status_code < 300:
                    failed += 1
                    print(f"{label}: {answer.status_code} {answer.text[:200]}")
                trips = answers.count() - before
            control = sum(1 for s in seen if s.startswith("("))
            counted = f", {trips} round trips" if answers.sockets else ""
            print(f"== {label} ({method}): {len(seen) - control} statements, {control} transaction events{counted}")
            for statement in seen:
                print(f"     {statement}")
        event.remove(engine, "before_cursor_execute", _statement)
        for name, recorder in recorders.items():
            event.remove(engine, name, recorder)
        if repeat:
            failed += _timed(client, headers, answers, standalone, sorted(children), repeat)
    engine.dispose()
    answers.close()
    print(f"database: {url.split('@')[-1]}")
    print("checks: " + ("all passed" if not failed else f"{failed} requests failed"))
    return 1 if failed else 0


def _timed(
    client: TestClient, headers: dict[str, str], answers: Answers, standalone: list[Any], children: list[Any], n: int
) -> int:
    failed = 0
    for label, targets in (("standalone", standalone), ("linked child", children)):
        cpu, server = time.process_time(), answers.server_cpu()
        for i in range(n):
            target = targets[i % len(targets)]
            quantity = 110 + (i // len(targets)) % 2  # each a real change: every pass over the targets flips it
            answer = client.post(
                f"/api/v1/subscriptions/{target}/quantity",
                json={"quantity": quantity, "effective": "now"},
                headers=headers,
            )
            failed += not 200 <= answer.status_code < 300
        cpu, server = time.process_time() - cpu, answers.server_cpu() - server
        shown = f", server processes {server / n * 1000:.2f} ms" if answers.backends else ""
        print(f"timed: change, {label}: {n} in {cpu:.2f} s CPU, {cpu / n * 1000:.2f} ms a change{shown}")
    return failed


if __name__ == "__main__":
    sys.exit(main())
