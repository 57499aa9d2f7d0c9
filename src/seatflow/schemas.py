"""Schema pieces shared by every domain: ids as strings, money as decimal strings, pages."""

from __future__ import annotations

import re
import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, PlainSerializer, Strict
from pydantic_core import PydanticCustomError

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


# --- what clients send -------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def control_character(text: str, *, multiline: bool = False) -> str | None:
    """The first control character in ``text`` as ``U+0000``, or None. C0 controls and DEL are refused in every
    text a client sends (PostgreSQL cannot even store NUL, SQLite would); multi-line text keeps tab, line feed
    and carriage return."""
    found = (_CONTROL_BUT_LINES if multiline else _CONTROL).search(text)
    return f"U+{ord(found.group()):04X}" if found else None


def _refuse(text: str, *, multiline: bool) -> str:
    found = control_character(text, multiline=multiline)
    if found is not None:
        raise PydanticCustomError(
            "control_character", "must not contain control characters (found {character})", {"character": found}
        )
    return text


def _one_line(text: str) -> str:
    return _refuse(text, multiline=False)


def _multiline(text: str) -> str:
    return _refuse(text, multiline=True)


def _json_value(value: Any) -> Any:
    if isinstance(value, str):
        return _multiline(value)
    if isinstance(value, dict):
        for key, item in value.items():
            _one_line(str(key))
            _json_value(item)
    elif isinstance(value, list):
        for item in value:
            _json_value(item)
    return value


OneLine = AfterValidator(_one_line)
"""The last annotation of every one-line text input (after ``StringConstraints``, so that surrounding whitespace
is stripped first): refuses control characters with a ``control_character`` error naming the field."""
MultiLine = AfterValidator(_multiline)
"""As ``OneLine`` for text that may span lines (descriptions, reasons): tab, LF and CR are allowed."""

TextIn = Annotated[str, OneLine]
"""One line of text a client sends with no other rule: an id, a code or a name something is referred to by."""
JsonObjectIn = Annotated[dict[str, Any], AfterValidator(_json_value)]
"""Free-form settings: no control character in any key, nor in any string value (multi-line allowed)."""
IntIn = Annotated[int, Strict()]
"""An integer a client sends: a JSON integer, never ``true``, ``1.5`` or ``"3"`` (lax parsing read ``true`` as 1)."""


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None
