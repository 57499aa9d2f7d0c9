"""Migrations build the schema from nothing, agree with the models, and come back down cleanly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from seatflow.db import migrate
from seatflow.db.engine import make_engine
from seatflow.models import metadata


def test_upgrade_head_on_an_empty_database_builds_every_table(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(metadata.tables) <= tables
    assert migrate.current(empty_database_url) == migrate.head()


def test_models_and_migrations_agree(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    finally:
        engine.dispose()
    assert diff == [], f"models differ from migrations; write a migration: {diff}"


def test_downgrade_to_base_and_upgrade_again(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url)
    migrate.downgrade(empty_database_url, "base")
    engine = make_engine(empty_database_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    migrate.upgrade(empty_database_url)
    assert migrate.current(empty_database_url) == migrate.head()


def _license_change_indexes(url: str) -> dict[str, list[str | None]]:
    engine = make_engine(url)
    try:
        return {index["name"] or "": index["column_names"] for index in inspect(engine).get_indexes("license_changes")}
    finally:
        engine.dispose()


def test_c17a_adds_the_window_reads_indexes_and_takes_them_back(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url, "c16a00000001")
    before = _license_change_indexes(empty_database_url)
    assert before["ix_license_changes_subscription_created"] == ["subscription_id", "created_at"]
    assert "ix_license_changes_subscription_effective" not in before

    migrate.upgrade(empty_database_url, "c17a00000001")
    after = _license_change_indexes(empty_database_url)
    assert after["ix_license_changes_subscription_created"] == ["subscription_id", "created_at", "id"]
    assert after["ix_license_changes_subscription_effective"] == ["subscription_id", "effective_date"]

    migrate.downgrade(empty_database_url, "c16a00000001")
    assert _license_change_indexes(empty_database_url) == before
