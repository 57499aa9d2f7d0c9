"""Writing large, uniform batches of rows without SQLAlchemy's per-row parameter handling: ``execute_many``
(inserts and updates) and ``insert_rows`` (inserts, by COPY on PostgreSQL)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Connection, Dialect, Insert, Table, Update, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from seatflow.db.engine import settle


def execute_many(session: Session, stmt: Insert | Update, rows: Sequence[Mapping[str, Any]]) -> None:
    """Execute ``stmt`` once per row of ``rows`` (dicts with the same keys: column keys for an insert, bind
    parameter names for an update), in one DB-API ``executemany`` on the session's connection.

    It compiles the statement once, then converts each row's values with the bind processors SQLAlchemy would
    apply (UUIDs, enums, scaled decimals, JSON, dates) in one tight loop. SQLAlchemy's own executemany builds
    and processes a parameter dictionary per row (``construct_params``), which for 100,000 wide rows costs
    more than the database's own work. Python-side column defaults are not applied: give every value.
    """
    if not rows:
        return
    conn = session.connection()
    keys = rows[0].keys()
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(keys))
    # The processors SQLAlchemy itself applies (one callable per parameter: no tuple-valued parameters here).
    processors = cast(Mapping[str, Callable[[Any], Any]], compiled._bind_processors)
    if compiled.positional:
        names = list(compiled.positiontup or ())
    else:
        names = list(dict.fromkeys(compiled.bind_names.values()))
    from_row = [name for name in names if name in keys]
    fixed = []  # (position, value) of parameters given in the statement itself, e.g. .values(status=X)
    for position, name in enumerate(names):
        if name not in keys:
            value, processor = compiled.binds[name].effective_value, processors.get(name)
            fixed.append((position, processor(value) if processor else value))
    get = itemgetter(*from_row)
    convert = [(i, processors[name]) for i, name in enumerate(from_row) if name in processors]
    params: list[Any] = []
    for row in rows:
        values = list(get(row)) if len(from_row) > 1 else [get(row)]
        for i, processor in convert:
            values[i] = processor(values[i])
        for position, value in fixed:
            values.insert(position, value)
        params.append(tuple(values) if compiled.positional else dict(zip(names, values, strict=True)))
    conn.exec_driver_sql(compiled.string, params)


def insert_rows(session: Session, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Insert ``rows`` (each a sequence of values in the order of ``columns``) into ``table`` on the session's
    connection, inside its transaction, the fastest way the database has; returns the number of rows.

    - PostgreSQL (psycopg 3): one ``COPY table (columns) FROM STDIN``, rows written as they come.
    - SQLite: ``INSERT ... VALUES (...), (...), ...`` statements of about 4,000 bound variables each (235 rows
      of 17 columns; never over SQLite's own limit), one statement step for all their rows.
    - any other driver: ``execute_many``.

    Values are converted by the columns' types as SQLAlchemy converts bound parameters (UUIDs, enums, scaled
    decimals, JSON, dates); a value that is the same object as the one above it in its column is converted once
    (an account id, an import id, a date). Python-side column defaults are not applied: give every value the
    table has no server default for. The session is not flushed: flush first when the rows refer to pending
    objects. Nothing is committed, and a failure (a constraint, a bad value) raises SQLAlchemy's exception for
    it (``IntegrityError``, ...) and leaves the transaction for the caller to roll back, as ``execute`` would.
    """
    conn = session.connection()
    dialect = conn.dialect
    copy = dialect.driver == "psycopg"
    if not copy and not (dialect.name == "sqlite" and dialect.paramstyle == "qmark"):
        batch = [dict(zip(columns, row, strict=True)) for row in rows]
        execute_many(session, insert(table), batch)
        return len(batch)
    convert = []
    for position, name in enumerate(columns):
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            convert.append((position, processor))
    values = _converted(rows, convert) if convert else (list(row) for row in rows)
    preparer = dialect.identifier_preparer  # names of the table's own columns, quoted by the dialect
    target = f"{preparer.format_table(table)} ({', '.join(preparer.quote(table.c[name].name) for name in columns)})"
    if copy:
        return _copy(conn, dialect, f"COPY {target} FROM STDIN", values)
    return _insert_values(conn, f"INSERT INTO {target} VALUES ", len(columns), values)  # noqa: S608


def _converted(
    rows: Iterable[Sequence[Any]], convert: Sequence[tuple[int, Callable[[Any], Any]]]
) -> Iterator[list[Any]]:
    last_in: list[Any] = [_UNSET] * len(convert)
    last_out: list[Any] = [None] * len(convert)
    for row in rows:
        values = list(row)
        for i, (position, processor) in enumerate(convert):
            value = values[position]
            if value is not last_in[i]:
                last_in[i], last_out[i] = value, processor(value)
            values[position] = last_out[i]
        yield values


_UNSET = object()


def _copy(conn: Connection, dialect: Dialect, statement: str, rows: Iterable[Sequence[Any]]) -> int:
    count = 0
    settle(conn)  # COPY cannot run in pipeline mode: the deferred writes before it are collected first
    driver = conn.connection.driver_connection
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
            write = copy.write_row
            for row in rows:
                write(row)
                count += 1
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(statement, None, exc, dialect.loaded_dbapi.Error, dialect=dialect) from exc
    return count


_SQLITE_VARIABLES = 4_000
"""Bound variables in one of ``insert_rows``'s statements on SQLite (235 rows of 17 columns). Measured on 100,000
rows: statements of 1,000 to 16,000 variables take the same time, half that of ``executemany``; one at SQLite's
limit (32,766) is no faster, and SQLite keeps each prepared statement's memory, tens of MB for that size."""


def _insert_values(conn: Connection, head: str, width: int, rows: Iterable[list[Any]]) -> int:
    limit = _SQLITE_VARIABLES
    with contextlib.suppress(AttributeError):  # an SQLite driver without Python 3.11's Connection.getlimit
        sqlite_limit = conn.connection.driver_connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)  # type: ignore[union-attr]
        limit = min(limit, sqlite_limit)
    per_statement = max(1, limit // width)
    group = "(" + ", ".join(["?"] * width) + ")"
    full = head + ", ".join([group] * per_statement)
    count = 0
    params: list[Any] = []
    for row in rows:
        params += row
        count += 1
        if count % per_statement == 0:
            conn.exec_driver_sql(full, tuple(params))
            params.clear()
    if params:
        conn.exec_driver_sql(head + ", ".join([group] * (len(params) // width)), tuple(params))
    return count
