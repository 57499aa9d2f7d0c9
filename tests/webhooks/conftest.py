from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from tests.webhooks.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver().start()
    yield found
    found.stop()


@pytest.fixture
def sessions(connection: Connection) -> sessionmaker[Session]:
    """Sessions on the test's transaction, for the dispatcher (as the worker's, they carry no audit scope)."""
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
