from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import MetaData, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from seatflow.db.types import UTCDateTime
from seatflow.ids import new_id

# Alembic's batch mode on SQLite needs every constraint named.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)


class TimestampMixin:
    """Audit timestamps in real UTC time (business dates come from the clock and are stored apart)."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_utc_now, onupdate=_utc_now)
