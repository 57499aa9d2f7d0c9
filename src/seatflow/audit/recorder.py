"""Writing the audit log: a flush hook for every audited record, and ``record`` for a named action.

**Where rows come from.** After each flush of a session that carries an ``AuditScope`` (``scope.attach``), the
hook writes one row per record inserted, updated or deleted through the ORM, on the session's own connection:
the row is in the action's transaction and commits or rolls back with it. Adapters attach the scope (the API's
and the console's and portal's session dependencies, the CLI's ``transaction()``); services know nothing of it.

**What is audited.** Every mapped table except ``NOT_AUDITED`` (the log itself, the outbox, login sessions and
throttles, the test clock, counters): a domain table added later is audited without anyone doing anything. The
columns are the record's own, less ``IGNORED_COLUMNS`` (``updated_at`` and the worker's leases); a column or JSON
key whose name holds password, secret, token or hash is shown as ``[redacted]``; long text is cut at 2,000
characters.

**Actions.** ``<kind>.created`` (every column after), ``<kind>.deleted`` (every column before), and for an update
``<kind>.<column>_changed`` when one of ``HEADLINE_COLUMNS`` changed (``subscription.quantity_changed``), else
``<kind>.updated``; before and after hold the changed columns only (a column set without having been read first in
the session has no before). ``<kind>`` is the model's name in snake case.
A service may name an action itself with ``record`` (``webhook_delivery.replayed``): the hook's changes of the
same record in that transaction go into that row.

**Records written with Core on the ORM's behalf.** The quantity path writes a subscription's new quantity and its
license change with two Core statements (a flush of them cost 40 % of a change) and calls
``written_without_flush``, which writes the rows the hook would have, ordered and merged the same way.

**Bulk statements and cascades.** An ORM ``UPDATE``/``DELETE`` by criteria run through a scoped session
(``update(LicenseChange).where(…).values(…)``) is read before and after (``_bulk_statement``), and the rows the
database deletes with a deleted record (``ON DELETE CASCADE``) are read before the flush (``_cascading``): each
record they change is a row as the flush's are.

**One row per record per transaction.** A record created and then changed before the commit is one ``created``
row with its final values; one changed twice is one row with the first before and the last after. After a
rollback to a savepoint merging starts afresh (what the savepoint undid is gone from the log with it).

**What is not seen, on purpose.**
- Sessions without a scope: the provisioning worker (its outcomes are the license change log's provisioning
  status, its deliveries are ``webhook_deliveries``), renewals and announcements it runs, the demo loader, and
  tests' own sessions. They act as seatflow itself and would flood the log with what other tables already hold.
- Set-based SQL that bypasses the ORM hooks: Core statements on a ``Table`` (a billing run's invoices and lines and
  the changes it marks invoiced), bulk INSERTs and executemany UPDATEs by primary key (a void's credit-note lines,
  a price sheet's rows), the worker's claims: each such use case also writes an ORM row that is audited (the
  billing run, the credit note, the import).
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any, cast

from sqlalchemy import Connection, Delete, Table, Update, and_, event, insert, select, tuple_, update
from sqlalchemy.orm import InstanceState, Mapper, ORMExecuteState, Session, UOWTransaction, object_mapper
from sqlalchemy.orm import attributes as orm_attributes

from seatflow.audit.models import AuditEntry
from seatflow.audit.scope import SYSTEM, AuditActor, AuditScope, Origin, scope_of
from seatflow.db.engine import deferred
from seatflow.ids import new_id

NOT_AUDITED = frozenset(
    {
        "audit_log",
        "outbox_events",
        "console_sessions",
        "portal_sessions",
        "login_attempts",
        "instance_keys",
        "test_clock",
        "counters",
    }
)
IGNORED_COLUMNS = frozenset({"updated_at", "claimed_by", "claimed_until"})
HEADLINE_COLUMNS = (
    "quantity",
    "status",
    "provisioning_status",
    "billing_status",
    "unit_price",
    "auto_renew",
    "active",
    "role",
    "revoked_at",
)
"""The columns that name an update's action, first changed first."""
REDACTED = "[redacted]"
SECRET_NAME = re.compile(r"password|secret|token|hash", re.IGNORECASE)
MAX_TEXT = 2000
WRITTEN_KEY = "seatflow.audit.written"
CASCADE_KEY = "seatflow.audit.cascading"

Values = dict[str, Any]


@dataclass
class _Change:
    kind: str
    target_id: str
    verb: str
    """created, updated or deleted"""
    before: Values | None
    after: Values | None


@dataclass
class _Written:
    """A row already written in this transaction, for the record it is about."""

    entry_id: uuid.UUID
    action: str
    named: bool
    """Named by ``record``: the hook never renames it."""
    verb: str
    before: Values | None
    after: Values | None


# --- values as the log shows them -------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _secret(name: str) -> bool:
    """Whether a column or key of this name holds a secret (asked for every value a flush writes)."""
    return SECRET_NAME.search(name) is not None


def shown(name: str, value: Any) -> Any:
    """``value`` of the column or key ``name`` as JSON, secrets redacted."""
    if value is not None and _secret(name):
        return REDACTED
    return _json(value)


def _json(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "…"
    if isinstance(value, enum.Enum):
        return _json(value.value)
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): shown(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json(v) for v in value]
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


@cache
def kind_of(class_name: str) -> str:
    """``LicenseChange`` -> ``license_change``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", class_name).lower()


def action_for(kind: str, verb: str, changed: Iterable[str]) -> str:
    if verb != "updated":
        return f"{kind}.{verb}"
    names = set(changed)
    headline = next((column for column in HEADLINE_COLUMNS if column in names), None)
    return f"{kind}.{headline}_changed" if headline else f"{kind}.updated"


# --- what a flush changed ---------------------------------------------------------------------------------


def _audited(mapper: Mapper[Any]) -> bool:
    table = mapper.local_table
    return isinstance(table, Table) and table.name not in NOT_AUDITED


def _target_id(mapper: Mapper[Any], obj: object) -> str:
    return "/".join(str(part) for part in mapper.primary_key_from_instance(obj))


@cache
def _columns(mapper: Mapper[Any]) -> tuple[str, ...]:
    """The audited attribute keys of a mapper, in mapping order (mappers are configured once, before use)."""
    return tuple(prop.key for prop in mapper.column_attrs if prop.key not in IGNORED_COLUMNS)


def _every_value(state: InstanceState[Any], mapper: Mapper[Any]) -> Values:
    """The loaded columns (nothing is loaded for this: a column not in the instance's dict is left out)."""
    return {key: shown(key, state.dict[key]) for key in _columns(mapper) if key in state.dict}


_NO_BEFORE: Any = object()
"""The old value of a column set without having been read first."""


def _put_update(before: Values, after: Values, key: str, old: Any, new: Any) -> None:
    """The rule for one column of an updated record (one of ``_columns``: ``IGNORED_COLUMNS`` are left out), which
    the flush hook (``_changed``) and ``written_without_flush`` both apply: its values as the log shows them
    (``shown``) go into the record's ``before`` and ``after``, unless both show the same. A value set without having
    been read first (``old`` is ``_NO_BEFORE``) has no "before": its "after" only."""
    shown_new = shown(key, new)
    if old is _NO_BEFORE:
        after[key] = shown_new
        return
    shown_old = shown(key, old)
    if shown_old != shown_new:
        before[key], after[key] = shown_old, shown_new


def _changed(state: InstanceState[Any], mapper: Mapper[Any]) -> tuple[Values, Values]:
    before: Values = {}
    after: Values = {}
    # Only an attribute set since the last flush has history: its first value is in committed_state (columns
    # changed in place, a mutable JSON value, are flagged there too). The others are skipped unread.
    committed = state.committed_state
    for key in _columns(mapper):
        if key not in committed:
            continue
        history = state.attrs[key].history
        if not history.added and not history.deleted:
            continue
        new = history.added[0] if history.added else None
        old = history.deleted[0] if history.deleted else _NO_BEFORE
        _put_update(before, after, key, old, new)
    return before, after


_TABLE_RANK: dict[int, tuple[int, dict[Table, int]]] = {}
"""Per metadata (by id): how many tables it had and each table's place in dependency order."""


def _table_rank(table: Table) -> int:
    """The table's place in the order a flush writes tables in (a row's parents' tables before it)."""
    metadata = table.metadata
    known = _TABLE_RANK.get(id(metadata))
    if known is None or known[0] != len(metadata.tables):
        known = (len(metadata.tables), {t: n for n, t in enumerate(metadata.sorted_tables)})
        _TABLE_RANK[id(metadata)] = known
    return known[1].get(table, len(known[1]))


def _changes(session: Session) -> list[_Change]:
    """The flush's changes in the order it writes them: new and changed rows table by table, each row's parents'
    tables first (a subscription's new quantity before the license change that records it), then deleted rows,
    children's tables first; within a table in the order the session met them."""
    found: list[tuple[tuple[int, int], _Change]] = []
    for verb, objects in (("created", session.new), ("updated", session.dirty), ("deleted", session.deleted)):
        for obj in objects:
            mapper = object_mapper(obj)
            if not _audited(mapper):
                continue
            state = orm_attributes.instance_state(obj)
            kind = kind_of(mapper.class_.__name__)
            table_rank = _table_rank(cast(Table, mapper.local_table))
            rank = (1, -table_rank) if verb == "deleted" else (0, table_rank)
            if verb == "created":
                found.append((rank, _Change(kind, _target_id(mapper, obj), verb, None, _every_value(state, mapper))))
            elif verb == "deleted":
                found.append((rank, _Change(kind, _target_id(mapper, obj), verb, _every_value(state, mapper), None)))
            else:
                before, after = _changed(state, mapper)
                if after:
                    found.append((rank, _Change(kind, _target_id(mapper, obj), verb, before, after)))
    found.sort(key=lambda ranked: ranked[0])
    return [change for _, change in found]


# --- what the database deletes by itself (ON DELETE CASCADE) -------------------------------------------------


_BY_TABLE: dict[int, tuple[int, dict[str, Mapper[Any]]]] = {}
"""Per registry (by id): how many mappers it had and its audited mappers by table, made once, not a cascade
level."""


def _mappers_by_table(mapper: Mapper[Any]) -> dict[str, Mapper[Any]]:
    registry = mapper.registry
    mappers = registry.mappers
    known = _BY_TABLE.get(id(registry))
    if known is not None and known[0] == len(mappers):
        return known[1]
    found = {
        m.local_table.name: m
        for m in mappers
        if isinstance(m.local_table, Table) and m.inherits is None and _audited(m)
    }
    _BY_TABLE[id(registry)] = (len(mappers), found)
    return found


def _chunks(values: list[Any], size: int = 500) -> Iterable[list[Any]]:
    """Within every database's limit on bound parameters."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _cascading(session: Session) -> list[tuple[Mapper[Any], Values]]:
    """The rows the database will delete with the records this flush deletes (``ON DELETE CASCADE``, level by
    level), read before it does: the flush never sees them, and their rows would be nobody's."""
    found: list[tuple[Mapper[Any], Values]] = []
    frontier: list[tuple[Table, list[Any], Mapper[Any]]] = []
    for obj in session.deleted:
        mapper = object_mapper(obj)
        if _audited(mapper):
            frontier.append((cast(Table, mapper.local_table), [mapper.primary_key_from_instance(obj)], mapper))
    seen: set[tuple[str, tuple[Any, ...]]] = set()
    connection = session.connection()
    while frontier:
        parent, keys, any_mapper = frontier.pop()
        for child_mapper in _mappers_by_table(any_mapper).values():
            child = cast(Table, child_mapper.local_table)
            for fk in child.foreign_keys:
                if (fk.ondelete or "").upper() != "CASCADE" or fk.column.table is not parent:
                    continue
                primary = list(parent.primary_key.columns)
                if fk.column not in primary:
                    continue
                position = primary.index(fk.column)
                values = [key[position] for key in keys]
                child_primary = list(child.primary_key.columns)
                new_keys = []
                for chunk in _chunks(values):
                    for row in connection.execute(select(child).where(fk.parent.in_(chunk))).mappings():
                        key = tuple(row[c.name] for c in child_primary)
                        if (child.name, key) in seen:
                            continue
                        seen.add((child.name, key))
                        found.append((child_mapper, dict(row)))
                        new_keys.append(key)
                if new_keys:
                    frontier.append((child, new_keys, child_mapper))
    return found


def _cascaded(session: Session, cascading: list[tuple[Mapper[Any], Values]]) -> list[_Change]:
    """Of the rows read before the flush, those the database deleted, as deletions."""
    changes: list[_Change] = []
    connection = session.connection()
    for mapper, row in cascading:
        table = cast(Table, mapper.local_table)
        primary = list(table.primary_key.columns)
        where = and_(*(c == row[c.name] for c in primary))
        if connection.execute(select(primary[0]).where(where)).first() is not None:
            continue  # still there (the delete was not one that cascades to it after all)
        keys = {column.name: mapper.get_property_by_column(column).key for column in table.columns}
        values = {keys[n]: shown(keys[n], v) for n, v in row.items() if keys[n] not in IGNORED_COLUMNS}
        target_id = "/".join(str(row[c.name]) for c in primary)
        changes.append(_Change(kind_of(mapper.class_.__name__), target_id, "deleted", values, None))
    return changes


# --- writing ----------------------------------------------------------------------------------------------


def _written(session: Session) -> dict[tuple[str, str], _Written]:
    return cast(dict[tuple[str, str], _Written], session.info.setdefault(WRITTEN_KEY, {}))


def _row(scope: AuditScope, actor: AuditActor, entry_id: uuid.UUID, action: str, change: _Change) -> Values:
    return {
        "id": entry_id,
        "at": datetime.now(UTC),
        "actor_kind": actor.kind,
        "actor_id": actor.id,
        "actor_name": actor.name[:320],
        "origin": scope.origin,
        "ip": scope.ip[:64] if scope.ip else None,
        "operation": scope.operation[:200] if scope.operation else None,
        "request_id": scope.request_id,
        "action": action[:100],
        "target_kind": change.kind[:64],
        "target_id": change.target_id[:64],
        "before": change.before,
        "after": change.after,
    }


def _merged(prior: _Written, change: _Change, action: str | None) -> _Written:
    """``change`` on top of what this transaction already wrote for the record."""
    if change.verb == "deleted":
        before = prior.after if prior.verb == "created" else {**(change.before or {}), **(prior.before or {})}
        verb, after = "deleted", None
    elif prior.verb in ("created", "deleted"):
        verb, before, after = prior.verb, prior.before, {**(prior.after or {}), **(change.after or {})}
    else:
        verb = "updated"
        before = {**(change.before or {}), **(prior.before or {})}  # the first "before" of each column wins
        after = {**(prior.after or {}), **(change.after or {})}
    named = prior.named or action is not None
    if action is None:
        action = prior.action if prior.named else action_for(change.kind, verb, (after or before or {}).keys())
    return _Written(prior.entry_id, action, named, verb, before, after)


_INSERT = deferred(insert(cast(Table, AuditEntry.__table__)))
"""Nothing of its answer is read: collected with the transaction's next statement on PostgreSQL."""


def _write(
    session: Session,
    scope: AuditScope,
    actor: AuditActor,
    changes: list[_Change],
    action: str | None,
    connection: Connection | None = None,
) -> None:
    """``connection``: the session's, when the caller has it already."""
    if connection is None:
        connection = session.connection()
    written = _written(session)
    table = cast(Table, AuditEntry.__table__)
    rows: list[Values] = []
    for change in changes:
        key = (change.kind, change.target_id)
        prior = written.get(key)
        if prior is None:
            name = action or action_for(change.kind, change.verb, (change.after or change.before or {}).keys())
            entry = _Written(new_id(), name, action is not None, change.verb, change.before, change.after)
            rows.append(_row(scope, actor, entry.entry_id, entry.action, change))
            written[key] = entry
            continue
        entry = _merged(prior, change, action)
        written[key] = entry
        done = connection.execute(
            update(table)
            .where(table.c.id == entry.entry_id)
            .values(action=entry.action[:100], before=entry.before, after=entry.after)
        )
        if done.rowcount == 0:  # undone by a rollback to a savepoint meanwhile: written afresh
            merged = _Change(change.kind, change.target_id, entry.verb, entry.before, entry.after)
            rows.append(_row(scope, actor, entry.entry_id, entry.action, merged))
    if rows:
        connection.execute(_INSERT, rows)


def record(
    session: Session,
    *,
    action: str,
    target_kind: str,
    target_id: uuid.UUID | str,
    before: Values | None = None,
    after: Values | None = None,
) -> None:
    """A named action on a record (``webhook_delivery.replayed``), in the session's transaction. Without a scope
    it is recorded as seatflow's own (``system``). The hook's changes of the same record in this transaction are
    merged into this row, which keeps its name."""
    scope = scope_of(session) or AuditScope(Origin.SYSTEM, SYSTEM)
    before = {k: shown(k, v) for k, v in before.items()} if before is not None else None
    after = {k: shown(k, v) for k, v in after.items()} if after is not None else None
    change = _Change(target_kind, str(target_id), "updated", before, after)
    _write(session, scope, scope.who, [change], action)


def written_without_flush(
    session: Session, records: Iterable[tuple[object, str, Values]], *, connection: Connection | None = None
) -> None:
    """The rows the flush hook would have written for records a service wrote with Core statements on the ORM's
    behalf, in the session's transaction (the quantity path writes a subscription's new quantity and its license
    change so: their flush cost 40 % of a change). Each ``(record, verb, values)``: ``created`` with the columns
    written (the hook shows an inserted record's columns set, in mapping order), or ``updated`` with the changed
    columns' values before (their values after are read from the record). Ordered and merged as the hook orders
    and merges a flush's rows; nothing without a scope. ``connection``: the session's, when the caller has it."""
    scope = scope_of(session)
    if scope is None:
        return
    found: list[tuple[int, _Change]] = []
    for obj, verb, values in records:
        mapper = object_mapper(obj)
        if not _audited(mapper):
            continue
        kind = kind_of(mapper.class_.__name__)
        rank = _table_rank(cast(Table, mapper.local_table))
        if verb == "created":
            after = {key: shown(key, values[key]) for key in _columns(mapper) if key in values}
            found.append((rank, _Change(kind, _target_id(mapper, obj), verb, None, after)))
            continue
        state = orm_attributes.instance_state(obj)
        was: Values = {}
        now: Values = {}
        for key in _columns(mapper):  # the hook's columns, in its order
            if key in values:
                _put_update(was, now, key, values[key], state.dict[key])
        if now:
            found.append((rank, _Change(kind, _target_id(mapper, obj), verb, was, now)))
    found.sort(key=lambda ranked: ranked[0])
    if found:
        _write(session, scope, scope.who, [change for _, change in found], None, connection)


# --- the hooks ----------------------------------------------------------------------------------------------


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _flush_context: UOWTransaction, _instances: Any) -> None:
    if scope_of(session) is not None and session.deleted:
        session.info.setdefault(CASCADE_KEY, []).extend(_cascading(session))


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush_context: UOWTransaction) -> None:
    scope = scope_of(session)
    cascading = session.info.pop(CASCADE_KEY, [])
    if scope is None:
        return
    changes = _changes(session)
    seen = {(c.kind, c.target_id) for c in changes}
    changes += [c for c in _cascaded(session, cascading) if (c.kind, c.target_id) not in seen]
    if changes:
        _write(session, scope, scope.who, changes, None)


@event.listens_for(Session, "do_orm_execute")
def _bulk_statement(state: ORMExecuteState) -> Any:
    """An ORM UPDATE or DELETE by criteria (``update(LicenseChange).where(…).values(…)``) changes records the flush
    never sees: they are read before and after it, and each record it changed is a row as the flush hook's are.
    Bulk INSERTs (a run's invoices, a credit note's lines, a price sheet's rows) and executemany UPDATEs by primary
    key are data loads that each use case sums up in an audited record of its own (the run, the credit note, the
    import): they are left out, as are Core statements on a ``Table``."""
    session = state.session
    scope = scope_of(session)
    if scope is None or not state.is_orm_statement or state.is_executemany or not (state.is_update or state.is_delete):
        return None
    mapper = state.bind_mapper
    statement = state.statement
    if mapper is None or not _audited(mapper) or not isinstance(statement, Update | Delete):
        return None
    table = cast(Table, mapper.local_table)
    keys = {column.name: mapper.get_property_by_column(column).key for column in table.columns}
    primary = list(table.primary_key.columns)
    connection = session.connection()
    query = select(table)
    if statement.whereclause is not None:
        query = query.where(statement.whereclause)
    before = {tuple(row[c.name] for c in primary): row for row in connection.execute(query).mappings()}
    result = state.invoke_statement()
    if not before:
        return result
    after: dict[tuple[Any, ...], Any] = {}
    if state.is_update:
        for chunk in _chunks(list(before)):
            where = tuple_(*primary).in_(chunk) if len(primary) > 1 else primary[0].in_([i[0] for i in chunk])
            after.update(
                (tuple(row[c.name] for c in primary), row)
                for row in connection.execute(select(table).where(where)).mappings()
            )
    kind = kind_of(mapper.class_.__name__)
    changes: list[_Change] = []
    for record_id, old in before.items():
        target_id = "/".join(str(part) for part in record_id)
        new = after.get(record_id)
        if new is None:
            values = {keys[n]: shown(keys[n], old[n]) for n in old if keys[n] not in IGNORED_COLUMNS}
            changes.append(_Change(kind, target_id, "deleted", values, None))
            continue
        was: Values = {}
        now: Values = {}
        for name in old:
            key = keys[name]
            if key in IGNORED_COLUMNS or old[name] == new[name]:
                continue
            was[key], now[key] = shown(key, old[name]), shown(key, new[name])
        if now:
            changes.append(_Change(kind, target_id, "updated", was, now))
    if changes:
        _write(session, scope, scope.who, changes, None)
    return result


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous: Any) -> None:
    session.info.pop(WRITTEN_KEY, None)
    session.info.pop(CASCADE_KEY, None)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(WRITTEN_KEY, None)
        session.info.pop(CASCADE_KEY, None)
