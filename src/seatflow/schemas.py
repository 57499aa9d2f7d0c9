"""Schema pieces shared by every domain: ids as strings, money as decimal strings, pages."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, Field, PlainSerializer

from seatflow.money import format_money

T = TypeVar("T")


def _id_to_str(value: object) -> object:
    return str(value) if isinstance(value, uuid.UUID) else value


IdStr = Annotated[str, BeforeValidator(_id_to_str)]
"""An id as the API shows it (a UUID string)."""

MoneyOut = Annotated[Decimal, PlainSerializer(format_money, return_type=str)]
OptionalMoneyOut = Annotated[Decimal | None, PlainSerializer(format_money, return_type=str | None)]

PriceIn = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=4)]
"""A price per unit per month as a client sends it: a decimal string or number, at most 4 decimals."""

DayIn = Annotated[date, Field(ge=date(2000, 1, 1), le=date(9000, 12, 31))]
"""A business date as a client sends it: far enough from the calendar's end (9999-12-31) that the terms,
renewals and periods computed from it are still dates, and no earlier than 2000 (a start in year 1 would
make the renewal run renew it two thousand times)."""


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None
