"""The real ``seatflow`` command in subprocesses, on a SQLite file of the test's own."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.processes import runs_tested_source

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli_database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def _runner(tmp_path: Path, env: dict[str, str]) -> Run:
    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "seatflow", *map(str, args)],
            env=runs_tested_source(env),
            cwd=tmp_path,  # no stray .env file is read
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=120,
            check=False,
        )

    return run


@pytest.fixture
def cli_env(cli_database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEATFLOW_")}
    env["SEATFLOW_DATABASE_URL"] = cli_database_url
    return env


@pytest.fixture
def run(tmp_path: Path, cli_env: dict[str, str]) -> Run:
    return _runner(tmp_path, cli_env)


@pytest.fixture
def run_on_test_clock(tmp_path: Path, cli_env: dict[str, str]) -> Run:
    """The command with SEATFLOW_TEST_CLOCK=1: "now" is the database's test clock, which the test sets, so the
    command works on the test data's dates whatever the real date is."""
    return _runner(tmp_path, {**cli_env, "SEATFLOW_TEST_CLOCK": "1"})
