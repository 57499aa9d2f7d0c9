"""Pine Cone Vet bought at a real simulator by the real worker, for the reconciliation tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from seatflow.provisioning.worker import Worker
from seatflow.simulator import SimulatorServer
from tests.factories import DemoCatalog, load_demo_catalog
from tests.provisioning.conftest import ManualClock
from tests.subscriptions.helpers import PineConeVet, pine_cone_vet


@pytest.fixture
def vet(
    session: Session,
    simulator: SimulatorServer,
    make_worker: Callable[..., Worker],
    app_client: TestClient,
    clock: ManualClock,
) -> PineConeVet:
    """Pine Cone Vet bought at the simulator: parents 50 E3 and 20 EMS, provisioned; the API's clock is the
    worker's, so a change made through the API is due for the worker whatever today's date is."""
    app = app_client.app
    assert isinstance(app, FastAPI)
    app.state.clock = clock
    catalog: DemoCatalog = load_demo_catalog(session)
    catalog.partner_center.settings = {"base_url": simulator.url}
    setup = pine_cone_vet(session, catalog)
    make_worker().drain(max_wait_seconds=30)
    session.expire_all()
    return setup
