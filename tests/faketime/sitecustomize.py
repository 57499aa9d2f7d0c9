"""Imported by every Python process of ``make test-later`` (it puts this directory on PYTHONPATH), not by the tests.

The run moves only the wall clock (FAKETIME_DONT_FAKE_MONOTONIC=1): libfaketime 0.9.10 would otherwise shift the
monotonic clock too, and Python's timed lock waits (``sem_clockwait``, which it does not intercept) would wait a
year. But with the monotonic clock left alone, 0.9.10 still shifts the absolute monotonic deadline that Python 3.11's
``time.sleep`` hands to ``clock_nanosleep``, and every sleep fails with EINVAL (wolfcw/libfaketime#426). Where that
is so, sleeps wait on ``select`` with a relative timeout instead; with a libfaketime that sleeps well, nothing is
replaced.
"""

from __future__ import annotations

import select
import time


def _sleep_fails() -> bool:
    try:
        time.sleep(1e-6)
    except OSError:
        return True
    return False


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        select.select([], [], [], left)


if _sleep_fails():
    time.sleep = _sleep
