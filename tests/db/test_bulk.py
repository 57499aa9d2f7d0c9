"""``db.bulk.insert_rows``: COPY on PostgreSQL, multi-row VALUES on SQLite; the same rows either way, inside the
caller's transaction. Runs on the suite's database (SQLite, or PostgreSQL with SEATFLOW_TEST_DATABASE_URL)."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Boolean, Column, Date, Integer, MetaData, String, Table, UniqueConstraint, Uuid, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seatflow.db import bulk
from seatflow.db.bulk import insert_rows
from seatflow.db.types import ScaledDecimal, UTCDateTime, enum_column


class Size(enum.StrEnum):
    SMALL = "small"
    LARGE = "large"


THINGS = Table(
    "bulk_test_things",
    MetaData(),
    Column("id", Uuid, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("size", enum_column(Size, 16)),
    Column("price", ScaledDecimal(4)),
    Column("day", Date),
    Column("at", UTCDateTime),
    Column("count", Integer),
    Column("flag", Boolean),
    Column("note", String(20), server_default="none given"),
    UniqueConstraint("name"),
)
COLUMNS = ("id", "name", "size", "price", "day", "at", "count", "flag")
SEEN = ("id", "name", "size", "price", "day", "at", "count", "flag", "note")


@pytest.fixture
def things(session: Session) -> Table:
    """The table, created in the test's transaction (rolled back with it)."""
    THINGS.create(session.connection())
    return THINGS


def stored(session: Session) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in session.execute(select(*(THINGS.c[c] for c in SEEN)).order_by(THINGS.c.name))]


def test_rows_read_back_as_given_through_the_column_types(session: Session, things: Table) -> None:
    day = date(2026, 12, 1)
    rows = [
        (uuid.uuid4(), "plain", Size.SMALL, Decimal("9.6"), day, datetime(2026, 12, 1, 12, tzinfo=UTC), 3, True),
        # what COPY's text format escapes, and what multi-row VALUES must not mangle
        (
            uuid.uuid4(),
            "tab\there, new\nline, back\\slash, \\N, 'quote\", für 日本",
            Size.LARGE,
            Decimal("0.0001"),
            day,
            datetime(2027, 1, 1, tzinfo=UTC),
            -7,
            False,
        ),
        (uuid.uuid4(), "nulls", None, None, None, None, None, None),
    ]

    assert insert_rows(session, things, COLUMNS, rows) == 3

    assert stored(session) == sorted(((*r, "none given") for r in rows), key=lambda r: r[1])


def test_many_rows_more_than_one_statement_holds(session: Session, things: Table) -> None:
    day = date(2026, 12, 1)
    sizes = (Size.SMALL, Size.LARGE, Size.LARGE)  # the same object in a row, then another: each converted right
    rows = [
        (uuid.uuid4(), f"thing {i:05d}", sizes[i % 3], Decimal(i) / 4, day, None, i, i % 2 == 0) for i in range(1_234)
    ]
    assert 1_234 * len(COLUMNS) > bulk._SQLITE_VARIABLES  # several statements on SQLite, the last one partial

    assert insert_rows(session, things, COLUMNS, iter(rows)) == 1_234

    assert stored(session) == [(*r, "none given") for r in rows]


def test_nothing_to_insert(session: Session, things: Table) -> None:
    assert insert_rows(session, things, COLUMNS, []) == 0
    assert session.scalar(select(func.count()).select_from(things)) == 0


def test_a_violated_constraint_is_sqlalchemys_error_and_the_transaction_keeps_nothing_of_it(
    session: Session, things: Table
) -> None:
    first = (uuid.uuid4(), "first", Size.SMALL, Decimal(1), None, None, None, None)
    insert_rows(session, things, COLUMNS, [first])
    many = [(uuid.uuid4(), f"new {i}", Size.SMALL, None, None, None, None, None) for i in range(600)]

    with pytest.raises(IntegrityError), session.begin_nested():
        insert_rows(session, things, COLUMNS, [*many, (uuid.uuid4(), "first", None, None, None, None, None, None)])

    assert stored(session) == [(*first, "none given")]


def test_in_the_callers_transaction(session: Session, things: Table) -> None:
    with session.begin_nested() as savepoint:
        insert_rows(session, things, COLUMNS, [(uuid.uuid4(), "gone", None, None, None, None, None, None)])
        assert session.scalar(select(func.count()).select_from(things)) == 1
        savepoint.rollback()

    assert session.scalar(select(func.count()).select_from(things)) == 0


def test_a_value_its_type_refuses_raises_and_the_transaction_goes_on(session: Session, things: Table) -> None:
    rows = [(uuid.uuid4(), f"thing {i}", None, Decimal(i), None, None, None, None) for i in range(300)]
    rows.append((uuid.uuid4(), "too precise", None, Decimal("0.00001"), None, None, None, None))  # 4 decimals kept

    with pytest.raises(ValueError, match="more than 4 decimal places"), session.begin_nested():
        insert_rows(session, things, COLUMNS, rows)

    assert session.scalar(select(func.count()).select_from(things)) == 0
    assert insert_rows(session, things, COLUMNS, rows[:2]) == 2
