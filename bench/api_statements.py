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
``(commit)``, ``(rollback)``; on PostgreSQL a begin is sent with the next statement, and a commit or rollback is a
round trip unless the connection is in autocommit (the API-key check's) or has no transaction.

Checks (exit 1): every request answered 2xx.

    .venv/bin/python bench/api_statements.py [--postgres]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="seatflow-statements-") as directory:
        if args.postgres:
            postgres_database("create", DATABASE)
            url = f"{POSTGRES_ADMIN}/{DATABASE}"
        else:
            url = f"sqlite:///{Path(directory) / 'bench.db'}"
        try:
            return _profile(url, args.subscriptions)
        finally:
            if args.postgres:
                postgres_database("drop", DATABASE)


def _profile(url: str, subscriptions: int) -> int:
    migrate.upgrade(url)
    engine = make_engine(url)
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

    for name in ("begin", "commit", "rollback"):
        event.listen(engine, name, lambda _conn, name=name: seen.append(f"({name})"))

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
                body = {"quantity": quantity, "effective": "now"} if method == "POST" else None
                answer = client.request(method, path, json=body, headers=headers)
                if not 200 <= answer.status_code < 300:
                    failed += 1
                    print(f"{label}: {answer.status_code} {answer.text[:200]}")
            control = sum(1 for s in seen if s.startswith("("))
            print(f"== {label} ({method}): {len(seen) - control} statements, {control} transaction events")
            for statement in seen:
                print(f"     {statement}")
    engine.dispose()
    print(f"database: {url.split('@')[-1]}")
    print("checks: " + ("all passed" if not failed else f"{failed} requests failed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
