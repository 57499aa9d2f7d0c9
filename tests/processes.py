"""The environment of a ``python -m seatflow`` process the tests start: it must run the seatflow under test."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import seatflow

SOURCE = str(Path(seatflow.__file__).resolve().parent.parent)
"""The directory the tests imported seatflow from (a worktree's ``src`` on PYTHONPATH, else the installed one)."""


def runs_tested_source(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with ``SOURCE`` first on PYTHONPATH, then the entries ``env`` had there, made absolute.

    The child runs in a directory of its own (``cwd``), where a relative entry (``PYTHONPATH=src``) would name
    nothing; and without ``SOURCE`` first it would import the installed seatflow (a worktree's tests would run the
    main checkout's code). The other entries are kept: ``make test-later`` puts tests/faketime there."""
    entries = [SOURCE]
    for entry in env.get("PYTHONPATH", "").split(os.pathsep):
        if entry and (path := os.path.abspath(entry)) not in entries:
            entries.append(path)
    return {**env, "PYTHONPATH": os.pathsep.join(entries)}
