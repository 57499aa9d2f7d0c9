from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.console.conftest import login, operators  # noqa: F401 - the console's operators and login
from tests.factories import DemoCatalog, load_demo_catalog


@pytest.fixture
def catalog(session: Session) -> DemoCatalog:
    """The demo catalog: its Partner Center account (country US, products in USD) prices E3 and E5."""
    return load_demo_catalog(session)
