"""What happens to requests rather than to resources: fault settings and draws, MS-RequestId replays, counters.

It shares the state's lock, so a replay check, the handling it guards and the storing of the answer are one step.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any, NamedTuple

from seatflow.simulator.faults import FaultDraw, FaultSettings, check_routes

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT"})
ReplayKey = tuple[str, str, str]
"""(method, path, MS-RequestId)"""


class Reply(NamedTuple):
    status: int
    body: Any
    headers: dict[str, str]


def ok(body: Any, status: int = 200) -> Reply:
    return Reply(status, body, {})


class Traffic:
    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self.faults = FaultSettings()
        self.routes: frozenset[str] | None = None
        """The names a ``/v1`` route can have, as ``stats`` counts them: ``route_latency_ms`` may name only these
        (the server sets them; None: any name)."""
        self._random = random.Random()
        self._replies: dict[ReplayKey, Reply] = {}
        self._requests: Counter[str] = Counter()
        self._fault_counts: Counter[str] = Counter()
        self._replays = 0
        self._accepted = 0

    def reset(self) -> None:
        """Default fault settings, a fresh random stream, no stored answers, zero counters."""
        with self._lock:
            self.faults = FaultSettings()
            self._random.seed()
            self._replies.clear()
            self.reset_stats()

    def limit_routes(self, routes: frozenset[str]) -> None:
        """From now on ``route_latency_ms`` may name only ``routes`` (the server's); ``ControlError`` when the
        settings already name another (those of a seed file, loaded before the server existed)."""
        with self._lock:
            check_routes(self.faults.route_latency_ms, routes)
            self.routes = routes

    def update_faults(self, changes: Any) -> FaultSettings:
        """Merge fault settings; a new ``seed`` restarts the random stream the faults are drawn from."""
        with self._lock:
            self.faults = self.faults.merged(changes, routes=self.routes)
            if isinstance(changes, dict) and "seed" in changes:
                self._random.seed(self.faults.seed)
            return self.faults

    def stats(self) -> dict[str, Any]:
        with self._lock:
            faults = {kind: self._fault_counts[kind] for kind in ("error", "throttle", "lost")}
            return {
                "requests": dict(self._requests),
                "faults": faults,
                "replays": self._replays,
                "accepted": self._accepted,
            }

    def reset_stats(self) -> None:
        with self._lock:
            self._requests.clear()
            self._fault_counts.clear()
            self._replays = 0
            self._accepted = 0

    def record_request(self, route: str) -> None:
        with self._lock:
            self._requests[route] += 1

    def draw_faults(self, method: str, route: str = "") -> FaultDraw:
        """Draw this request's faults from the one seeded random stream: a 429 first, else a 5xx, else (for a
        POST or PATCH) a lost response. ``route`` (as ``stats`` counts it) picks its own latency, if it has one."""
        with self._lock:
            faults = self.faults
            latency = faults.route_latency_ms.get(route, faults.latency_ms) / 1000
            if self._hit(faults.throttle_rate):
                self._fault_counts["throttle"] += 1
                return FaultDraw(latency, throttle_after_s=faults.retry_after_s)
            if self._hit(faults.error_rate):
                self._fault_counts["error"] += 1
                return FaultDraw(latency, error_status=self._random.choice((500, 503)))
            lose = method in WRITE_METHODS and self._hit(faults.lost_response_rate)
            if lose:
                self._fault_counts["lost"] += 1
            return FaultDraw(latency, lose_response=lose)

    def draw_accepted(self) -> bool:
        """Whether this subscription change is answered 202 and applied later (``accepted_rate``)."""
        with self._lock:
            accepted = self._hit(self.faults.accepted_rate)
            if accepted:
                self._accepted += 1
            return accepted

    def _hit(self, rate: float) -> bool:
        return rate > 0 and self._random.random() < rate

    def once(self, key: ReplayKey, handle: Callable[[], Reply]) -> Reply:
        """MS-RequestId idempotency: the first answer to ``(method, path, MS-RequestId)`` is kept and returned
        again for a repeat, which changes nothing (research §1.2, §8.5). The lock is held throughout, so two
        concurrent repeats cannot both apply."""
        with self._lock:
            stored = self._replies.get(key)
            if stored is not None:
                self._replays += 1
                return stored
            reply = handle()
            self._replies[key] = reply
            return reply
