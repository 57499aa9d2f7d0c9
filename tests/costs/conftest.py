from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.orm import Session

from seatflow.simulator import SimulatorServer
from tests.factories import DemoCatalog, load_demo_catalog


@pytest.fixture
def catalog(session: Session) -> DemoCatalog:
    """The demo catalog: its Partner Center account's products are in USD, so its costs must be."""
    return load_demo_catalog(session)


@pytest.fixture
def pc(simulator: SimulatorServer) -> Iterator[httpx.Client]:
    """A plain HTTP client on the simulator (tests/simulator_fixtures.py), as Partner Center's own callers are."""
    with httpx.Client(base_url=simulator.url, headers={"Authorization": "Bearer test"}, timeout=5) as client:
        yield client
