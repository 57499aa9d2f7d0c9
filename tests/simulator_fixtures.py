"""The Partner Center simulator as a fixture: a real HTTP server on a free port, seeded with the demo seed.

Registered for every test by ``pytest_plugins`` in ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from seatflow.simulator import SimulatorServer, SimulatorState
from seatflow.simulator.state import demo_seed


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    """A fresh simulator per test (the demo's offers and the Pine Cone Vet tenant); ``.url`` is its address."""
    server = SimulatorServer(SimulatorState.from_seed(demo_seed())).start()
    try:
        yield server
    finally:
        server.stop()
