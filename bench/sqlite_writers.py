"""Benchmark: writers in several processes taking turns on one SQLite file (``db.engine.WriteGate`` and
``FileLock``), as ``seatflow serve --workers 2`` and ``seatflow worker`` do.

Set-up, untimed: a SQLite file in a temporary directory with one table. Measured: --processes child processes
(this script again), each with an engine made by ``make_engine`` (so the write gate and the lock file, with
--busy-seconds as the busy timeout) and --threads threads, each thread committing --transactions write
transactions: BEGIN IMMEDIATE, one INSERT, a little Python work while the lock is held (--hold-loops iterations of
a loop, standing for a request's ORM work), COMMIT.

Prints committed transactions a second (wall, all processes), CPU a transaction (the children's
``time.process_time``), the wait for the write lock (from asking to BEGIN done) at p50, p99 and max, how many
transactions gave up (``database is locked`` after the busy timeout), and each process's share of the commits.

Checks afterwards (exit 1 if any fails): every transaction committed is in the table exactly once, no other row
is, and (without --allow-give-up) none gave up.

Compare two versions of ``src`` by running the script of each with its ``PYTHONPATH`` (the children inherit it),
interleaved: this machine's speed moves by up to 1.5x within half an hour.

    PYTHONPATH=<src> .venv/bin/python bench/sqlite_writers.py [--processes 2] [--threads 16] [--transactions 200]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from seatflow.db.engine import make_engine


def _child(url: str, process: int, threads: int, transactions: int, busy: float, hold_loops: int) -> None:
    engine = make_engine(url, busy_timeout_seconds=busy)
    waits: list[float] = []
    gave_up = 0
    done = threading.Lock()

    def run(thread: int) -> None:
        nonlocal gave_up
        for n in range(transactions):
            asked = time.perf_counter()
            try:
                with engine.begin() as conn:
                    waited = time.perf_counter() - asked
                    conn.execute(
                        text("INSERT INTO writes (process, thread, n) VALUES (:p, :t, :n)"),
                        {"p": process, "t": thread, "n": n},
                    )
                    busy_work = 0
                    for k in range(hold_loops):
                        busy_work += k
            except Exception as error:
                if "database is locked" not in str(error):
                    raise
                with done:
                    gave_up += 1
                continue
            with done:
                waits.append(waited)

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    started, cpu = time.perf_counter(), time.process_time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    engine.dispose()
    print(json.dumps({"wall": wall, "cpu": cpu, "waits": waits, "gave_up": gave_up}))


def _quantile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(len(values) * share))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16, help="writing threads a process (16)")
    parser.add_argument("--transactions", type=int, default=200, help="transactions a thread (200)")
    parser.add_argument("--busy-seconds", type=float, default=5.0, help="the busy timeout (5, the server's default)")
    parser.add_argument("--hold-loops", type=int, default=2000, help="Python work while the lock is held (2000)")
    parser.add_argument("--allow-give-up", action="store_true", help="transactions that gave up are no failure")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, process, threads, transactions, busy, hold = args.child
        _child(url, int(process), int(threads), int(transactions), float(busy), int(hold))
        return 0

    with tempfile.TemporaryDirectory(prefix="seatflow-writers-") as directory:
        url = f"sqlite:///{Path(directory) / 'writers.db'}"
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE writes (id INTEGER PRIMARY KEY, process INT, thread INT, n INT)"))
        started = time.perf_counter()
        children = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    url,
                    str(p),
                    str(args.threads),
                    str(args.transactions),
                    str(args.busy_seconds),
                    str(args.hold_loops),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for p in range(args.processes)
        ]
        results: list[dict[str, Any]] = []
        for child in children:
            out, _ = child.communicate()
            if child.returncode != 0:
                print(f"a writer process failed (exit {child.returncode})")
                return 1
            results.append(json.loads(out))
        wall = time.perf_counter() - started
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT count(*), count(DISTINCT process || '.' || thread || '.' || n) FROM writes")
            )
            stored, distinct = rows.one()
        engine.dispose()

    waits = sorted(w for r in results for w in r["waits"])
    committed, gave_up = len(waits), sum(r["gave_up"] for r in results)
    cpu = sum(r["cpu"] for r in results)
    print(
        f"{args.processes} processes x {args.threads} threads: {committed} committed, {gave_up} gave up, "
        f"{committed / wall:,.0f} transactions/s, CPU {cpu / max(committed, 1) * 1000:.2f} ms a transaction"
    )
    if waits:
        print(
            f"wait for the lock: p50 {_quantile(waits, 0.5) * 1000:.1f} ms, p99 {_quantile(waits, 0.99) * 1000:.1f} ms,"
            f" max {waits[-1] * 1000:.1f} ms; each process committed {[len(r['waits']) for r in results]}"
        )
    failures = []
    if stored != committed or distinct != committed:
        failures.append(f"the table holds {stored} rows ({distinct} distinct) for {committed} commits")
    if gave_up and not args.allow_give_up:
        failures.append(f"{gave_up} transactions gave up")
    print("checks: " + ("; ".join(failures) if failures else "all passed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
