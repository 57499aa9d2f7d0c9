"""Create or drop a scratch PostgreSQL database for a test run: ``pg_test_db.py create|drop NAME``.

Connects to the server's ``postgres`` database as SEATFLOW_PG_ADMIN_URL says (default: the local server
with trust auth), so the test command needs nothing but Python and the project's own dependencies.
"""

from __future__ import annotations

import os
import re
import sys

import psycopg

ADMIN_URL = os.environ.get("SEATFLOW_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in ("create", "drop") or not re.fullmatch(r"[a-z0-9_]+", sys.argv[2]):
        print("usage: pg_test_db.py create|drop NAME (lowercase letters, digits, _)", file=sys.stderr)
        return 2
    action, name = sys.argv[1], sys.argv[2]
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if action == "create":
            conn.execute(f'CREATE DATABASE "{name}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
