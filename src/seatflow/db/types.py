"""Column types that keep their meaning on SQLite and PostgreSQL alike."""

from __future__ import annotations

import enum
import functools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

from sqlalchemy import BigInteger, DateTime, Dialect, Enum, String, Uuid
from sqlalchemy.types import TypeDecorator

from seatflow.ids import uuid_from_hex

E = TypeVar("E", bound=enum.Enum)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out; SQLite would otherwise hand back naive datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class ScaledDecimal(TypeDecorator[Decimal]):
    """A Decimal stored as an integer count of 10^-scale units.

    SQLite has no decimal type and SQLAlchemy would pass Numeric through float there; an integer is exact
    on both databases and lets set-based SQL (billing) sum amounts without rounding.
    """

    impl = BigInteger
    cache_ok = True

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale
        self._factor = Decimal(10) ** scale

    def process_bind_param(self, value: Decimal | int | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        scaled = Decimal(value) * self._factor
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{value} has more than {self.scale} decimal places")
        return int(scaled)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(int(value)) / self._factor


def enum_column(enum_cls: type[E], length: int = 32) -> Enum:
    """A StrEnum stored as its value in a plain string column (no native enum types to migrate)."""
    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


__all__ = ["ScaledDecimal", "String", "UTCDateTime", "enum_column"]


_cached_uuid_from_hex = functools.lru_cache(maxsize=16_384)(uuid_from_hex)


class HexUuid(Uuid[uuid.UUID]):
    """``Uuid`` for reading many rows that repeat ids (a subscription's contract, a change's subscription, the
    few products): where ids are stored as text (SQLite), each is parsed once while it stays among the last
    16,384 read, and faster (``uuid_from_hex``) than by ``uuid.UUID``. Elsewhere (PostgreSQL's native uuid) it is
    ``Uuid``. Used through ``type_coerce`` in queries, not as a column type: the schema is unchanged."""

    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        if self.as_uuid and (not dialect.supports_native_uuid or not self.native_uuid):
            parse = _cached_uuid_from_hex

            def process(value: Any) -> Any:
                return None if value is None else parse(value)

            return process
        return cast(Callable[[Any], Any] | None, super().result_processor(dialect, coltype))  # type: ignore[no-untyped-call]
