"""executemany for large, uniform batches of rows, without SQLAlchemy's per-row parameter handling."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Insert, Update
from sqlalchemy.orm import Session


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
