"""The real ``seatflow`` command in subprocesses, on a SQLite file of the test's own."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli_database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def run(tmp_path: Path, cli_database_url: str) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEATFLOW_")}
    env["SEATFLOW_DATABASE_URL"] = cli_database_url

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "seatflow", *map(str, args)],
            env=env,
            cwd=tmp_path,  # no stray .env file is read
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=120,
            check=False,
        )

    return run
