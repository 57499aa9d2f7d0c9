"""Imports every model so that ``Base.metadata`` is complete (Alembic, tests)."""

from seatflow import clock as _clock  # noqa: F401
from seatflow.auth import models as _auth  # noqa: F401
from seatflow.catalog import models as _catalog  # noqa: F401
from seatflow.db import sequences as _sequences  # noqa: F401
from seatflow.db.base import Base

metadata = Base.metadata
