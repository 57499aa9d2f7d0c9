"""The billing run's shortcuts must not change what is read or made: ``uuid_from_int``/``uuid_from_hex`` build the
UUIDs the constructor builds, ``HexUuid`` reads the ids ``Uuid`` reads (on the suite's database), and the run
leaves the garbage collector's thresholds as it found them."""

from __future__ import annotations

import gc
import pickle
import uuid

import pytest
from sqlalchemy import Column, MetaData, Table, Uuid, select, type_coerce
from sqlalchemy.orm import Session

from seatflow.billing.runs import GC_YOUNG_THRESHOLD, _fewer_collections
from seatflow.db.types import HexUuid
from seatflow.ids import new_id, uuid_from_hex, uuid_from_int

IDS = Table("fast_ids_test", MetaData(), Column("id", Uuid, primary_key=True), Column("other", Uuid))


@pytest.mark.parametrize("value", [uuid.uuid4(), uuid.UUID(int=0), uuid.UUID(int=(1 << 128) - 1), new_id()])
def test_the_same_uuid_as_the_constructor(value: uuid.UUID) -> None:
    for made in (uuid_from_int(value.int), uuid_from_hex(value.hex), uuid_from_hex(str(value))):
        assert type(made) is uuid.UUID
        assert made == value
        assert hash(made) == hash(value)
        assert str(made) == str(value)
        assert made.version == value.version
        assert made.is_safe == value.is_safe
        assert pickle.loads(pickle.dumps(made)) == value  # noqa: S301 (our own bytes)
    with pytest.raises(ValueError, match="invalid literal"):
        uuid_from_hex("not a uuid at all, but 32 chars!")


def test_new_ids_are_version_7_and_ordered() -> None:
    ids = [new_id() for _ in range(1000)]
    assert all(i.version == 7 for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_hex_uuid_reads_what_uuid_reads(session: Session) -> None:
    IDS.create(session.connection())
    rows = [{"id": uuid.uuid4(), "other": other} for other in (uuid.uuid4(), None, None)]
    rows[2]["other"] = rows[0]["other"]  # a repeated id
    session.connection().execute(IDS.insert(), rows)
    plain = session.connection().execute(select(IDS.c.id, IDS.c.other).order_by(IDS.c.id)).all()
    fast = (
        session.connection()
        .execute(
            select(
                type_coerce(IDS.c.id, HexUuid()).label("id"), type_coerce(IDS.c.other, HexUuid()).label("other")
            ).order_by(IDS.c.id)
        )
        .all()
    )
    assert [tuple(row) for row in fast] == [tuple(row) for row in plain]
    assert all(isinstance(value, uuid.UUID) for row in fast for value in row if value is not None)
    assert sorted(row.id for row in fast) == sorted(row["id"] for row in rows)


def test_the_collector_threshold_is_raised_during_a_run_and_restored_after() -> None:
    before = gc.get_threshold()
    with _fewer_collections():
        assert gc.get_threshold()[0] == max(before[0], GC_YOUNG_THRESHOLD)
        with _fewer_collections():  # a second run under way at the same time
            pass
        assert gc.get_threshold()[0] == max(before[0], GC_YOUNG_THRESHOLD)
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), _fewer_collections():
        raise RuntimeError
    assert gc.get_threshold() == before
