"""An httpx client on the simulator fixture (tests/simulator_fixtures.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from seatflow.simulator import SimulatorServer


@pytest.fixture
def pc(simulator: SimulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=simulator.url, headers={"Authorization": "Bearer test"}, timeout=5) as client:
        yield client
