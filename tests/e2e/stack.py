"""The pieces of the end-to-end lane: ``seatflow`` processes started as a user starts them, and HTTP clients that
keep every status they saw.

Nothing here reaches into seatflow's modules: processes are driven by their command lines, signals and HTTP.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

STOP_WITHIN_S = 10.0
"""SIGTERM must stop every process within this (SPEC §11 asks "a few seconds")."""

RETRY_503_WITHIN_S = 30.0
"""How long a client keeps retrying a 503 with Retry-After before the test fails."""

FAST_WORKER = {
    "SEATFLOW_WORKER_BACKOFF_BASE_SECONDS": "0.05",
    "SEATFLOW_WORKER_BACKOFF_MAX_SECONDS": "0.5",
    "SEATFLOW_WORKER_MAX_ATTEMPTS": "30",
    "SEATFLOW_WORKER_ORDER_POLL_SECONDS": "0.2",
    "SEATFLOW_WORKER_IDLE_SECONDS": "0.3",
}
"""Small backoffs and polls, so that a change is provisioned within a second of being queued."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], bool], *, timeout: float, what: str, logs: Callable[[], str] = str, every: float = 0.1
) -> None:
    """Polls ``condition`` every ``every`` s; fails naming ``what`` (and the processes' logs) after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}\n{logs()}")
        time.sleep(every)


# --- processes -------------------------------------------------------------------------------------------


@dataclass
class Process:
    """One ``seatflow`` command, in a process group of its own (so that its children can be found)."""

    name: str
    popen: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def logs(self, tail: int = 2500) -> str:
        out = self.stdout.read_text(errors="replace")[-tail:]
        err = self.stderr.read_text(errors="replace")[-tail:]
        return f"--- {self.name} (exit {self.popen.poll()}) stdout:\n{out}\n--- {self.name} stderr:\n{err}"

    def tracebacks(self) -> list[str]:
        """The tracebacks the process logged: a crash, or an error nobody answered for."""
        text = self.stderr.read_text(errors="replace") + self.stdout.read_text(errors="replace")
        return [chunk[:1500] for chunk in text.split("Traceback (most recent call last):")[1:]]

    def group(self) -> list[int]:
        """Live processes of this process group (the command and whatever it started), zombies left out."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # gone meanwhile
            state, pgrp = fields[0], int(fields[2])
            if pgrp == self.popen.pid and state != "Z":
                found.append(int(stat.parent.name))
        return found

    def stop(self) -> float:
        """SIGTERM; the seconds it took the process and every process it started to be gone. Fails (after
        SIGKILLing the group) when that takes more than STOP_WITHIN_S."""
        if not self.running:
            return 0.0
        started = time.monotonic()
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=STOP_WITHIN_S)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.name} did not stop within {STOP_WITHIN_S} s of SIGTERM\n{self.logs()}")
        while self.group() and time.monotonic() - started < STOP_WITHIN_S:
            time.sleep(0.05)
        left = self.group()
        if left:
            self.kill()
            pytest.fail(f"{self.name} exited on SIGTERM but left processes {left} running\n{self.logs()}")
        return time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL to the whole group: no process it started survives."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=STOP_WITHIN_S)


@dataclass
class Launcher:
    """Starts ``python -m seatflow ...`` with a clean SEATFLOW_* environment, logs in files of the test's."""

    workdir: Path
    env: dict[str, str]
    started: list[Process] = field(default_factory=list)

    def start(self, name: str, *args: str, **env: str) -> Process:
        n = sum(1 for p in self.started if p.name == name)
        label = name if n == 0 else f"{name}-{n}"
        stdout, stderr = self.workdir / f"{label}.out", self.workdir / f"{label}.err"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            popen = subprocess.Popen(
                [sys.executable, "-m", "seatflow", *args],
                stdout=out,  # files, not pipes: a chatty process never blocks on a full pipe
                stderr=err,
                env={**self.env, **env},
                cwd=self.workdir,  # no stray .env file is read
                start_new_session=True,
            )
        process = Process(label, popen, stdout, stderr)
        self.started.append(process)
        return process

    def run(self, *args: str, timeout: float = 60) -> str:
        """A command that finishes (``db upgrade``, ``demo-load``); its stdout. Fails on a non-zero exit."""
        process = self.start(args[0], *args)
        try:
            code = process.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail(f"`seatflow {' '.join(args)}` did not finish within {timeout} s\n{process.logs()}")
        assert code == 0, f"`seatflow {' '.join(args)}` exited with {code}\n{process.logs()}"
        return process.stdout.read_text()

    def logs(self) -> str:
        return "\n".join(p.logs() for p in self.started if p.name in ("serve", "worker", "simulator") or p.running)

    def kill_all(self) -> None:
        for process in self.started:
            if process.running or process.group():
                process.kill()


# --- what the clients saw --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    client: str
    method: str
    url: str
    status: int
    retry_after: str | None


class Traffic:
    """Every answer any client of the test got (API clients, the simulator's control paths, the browser)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seen: list[Seen] = []

    def record(self, client: str, method: str, url: str, status: int, retry_after: str | None) -> None:
        with self._lock:
            self.seen.append(Seen(client, method, url, status, retry_after))

    def statuses(self) -> Counter[int]:
        with self._lock:
            return Counter(s.status for s in self.seen)

    def shed(self) -> list[Seen]:
        """503s with Retry-After: the server shedding load as SPEC §11 allows (the clients retried them)."""
        with self._lock:
            return [s for s in self.seen if s.status == 503 and s.retry_after]

    def server_errors(self) -> list[Seen]:
        """Every 5xx but a 503 with Retry-After: a bug, whatever the load."""
        with self._lock:
            return [s for s in self.seen if s.status >= 500 and not (s.status == 503 and s.retry_after)]

    def assert_no_server_errors(self) -> None:
        errors = self.server_errors()
        assert not errors, f"{len(errors)} answers were 5xx: " + "; ".join(
            f"{s.client} {s.method} {s.url} -> {s.status}" for s in errors[:10]
        )


class Client:
    """An HTTP client of one base URL whose every answer goes into ``traffic``. A 503 with Retry-After is
    retried after that many seconds (at most 2, for RETRY_503_WITHIN_S in all), as a well-behaved client does."""

    def __init__(self, name: str, base_url: str, traffic: Traffic, *, api_key: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.name = name
        self.traffic = traffic
        self.http = httpx.Client(
            base_url=base_url,
            headers=headers,
            timeout=httpx.Timeout(60, connect=5),
            event_hooks={"response": [self._record]},
        )

    def _record(self, response: httpx.Response) -> None:
        request = response.request
        retry_after = response.headers.get("Retry-After")
        self.traffic.record(self.name, request.method, str(request.url), response.status_code, retry_after)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        deadline = time.monotonic() + RETRY_503_WITHIN_S
        while True:
            response = self.http.request(method, path, **kwargs)
            retry_after = response.headers.get("Retry-After")
            if response.status_code != 503 or not retry_after or time.monotonic() > deadline:
                return response
            time.sleep(min(float(retry_after), 2.0))

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON of a 2xx answer; fails naming the answer otherwise."""
        response = self.request(method, path, **kwargs)
        assert response.is_success, f"{method} {path} -> {response.status_code}: {response.text[:500]}"
        return response.json()

    def close(self) -> None:
        self.http.close()


@dataclass
class Clients:
    """Clients made during a test, closed at its end."""

    traffic: Traffic
    made: list[Client] = field(default_factory=list)

    def new(self, name: str, base_url: str, *, api_key: str | None = None) -> Client:
        client = Client(name, base_url, self.traffic, api_key=api_key)
        self.made.append(client)
        return client

    def close(self) -> None:
        for client in self.made:
            client.close()


def until_stopped(stop: threading.Event, deadline: float) -> Iterator[int]:
    """0, 1, 2, ... until ``stop`` is set or the monotonic ``deadline`` passes: a bounded client loop."""
    n = 0
    while not stop.is_set() and time.monotonic() < deadline:
        yield n
        n += 1
