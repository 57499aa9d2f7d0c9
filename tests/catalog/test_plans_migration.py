"""Migration ad0deade4292 carries every existing product into one plan: its term, billed as it was (a license or
add-on billed quarterly, which new commerce does not sell, becomes monthly), at its list and cost price."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from seatflow.db import migrate
from seatflow.db.engine import make_engine
from seatflow.db.types import ScaledDecimal
from seatflow.money import PRICE_SCALE

BEFORE = "7c2d9e41a0b5"
"""The revision before products listed their plans."""
PLANS = "ad0deade4292"

ACCOUNTS = sa.table(
    "provider_accounts",
    sa.column("id", sa.Uuid),
    sa.column("name", sa.String),
    sa.column("kind", sa.String),
    sa.column("settings", sa.JSON),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
PRODUCTS = sa.table(
    "products",
    sa.column("id", sa.Uuid),
    sa.column("product_code", sa.String),
    sa.column("provider_account_id", sa.Uuid),
    sa.column("kind", sa.String),
    sa.column("name", sa.String),
    sa.column("description", sa.Text),
    sa.column("assignable_to_users", sa.Boolean),
    sa.column("unit", sa.String),
    sa.column("min_quantity", sa.Integer),
    sa.column("term", sa.String),
    sa.column("billing_frequency", sa.String),
    sa.column("currency", sa.String),
    sa.column("list_price", ScaledDecimal(PRICE_SCALE)),
    sa.column("cost_price", ScaledDecimal(PRICE_SCALE)),
    sa.column("reduction_behavior", sa.String),
    sa.column("portal_enabled", sa.Boolean),
    sa.column("status", sa.String),
    sa.column("service_plans", sa.JSON),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
PRODUCT_PLANS = sa.table(
    "product_plans",
    sa.column("product_id", sa.Uuid),
    sa.column("term", sa.String),
    sa.column("billing_plan", sa.String),
    sa.column("list_price", ScaledDecimal(PRICE_SCALE)),
    sa.column("cost_price", ScaledDecimal(PRICE_SCALE)),
)


@pytest.fixture
def old_database(empty_database_url: str) -> Iterator[tuple[str, sa.Engine]]:
    migrate.upgrade(empty_database_url, BEFORE)
    engine = make_engine(empty_database_url)
    yield empty_database_url, engine
    engine.dispose()


def add_products(engine: sa.Engine, *rows: tuple[str, str, str, str, str | None, str | None]) -> None:
    """(name, kind, term, billing_frequency, list_price, cost_price) in one provider account."""
    now = datetime(2026, 12, 1, tzinfo=UTC)
    account = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(
            ACCOUNTS.insert().values(
                id=account, name="Distributor", kind="manual", settings={}, created_at=now, updated_at=now
            )
        )
        for n, (name, kind, term, billing, list_price, cost_price) in enumerate(rows, start=1):
            conn.execute(
                PRODUCTS.insert().values(
                    id=uuid.uuid4(),
                    product_code=f"P-{n:05d}",
                    provider_account_id=account,
                    kind=kind,
                    name=name,
                    description="",
                    assignable_to_users=True,
                    unit="license",
                    min_quantity=1,
                    term=term,
                    billing_frequency=billing,
                    currency="USD",
                    list_price=Decimal(list_price) if list_price else None,
                    cost_price=Decimal(cost_price) if cost_price else None,
                    reduction_behavior="allowed",
                    portal_enabled=True,
                    status="active",
                    service_plans=[],
                    created_at=now,
                    updated_at=now,
                )
            )


def plans(engine: sa.Engine) -> dict[str, list[tuple[str, str, Decimal | None, Decimal | None]]]:
    stmt = sa.select(
        PRODUCTS.c.name, PRODUCT_PLANS.c.term, PRODUCT_PLANS.c.billing_plan, PRODUCT_PLANS.c.list_price,
        PRODUCT_PLANS.c.cost_price,
    ).join(PRODUCT_PLANS, PRODUCT_PLANS.c.product_id == PRODUCTS.c.id)  # fmt: skip
    found: dict[str, list[tuple[str, str, Decimal | None, Decimal | None]]] = {}
    with engine.connect() as conn:
        for row in conn.execute(stmt):
            found.setdefault(row.name, []).append((row.term, row.billing_plan, row.list_price, row.cost_price))
    return found


def defaults(engine: sa.Engine) -> dict[str, tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(PRODUCTS.c.name, PRODUCTS.c.term, PRODUCTS.c.billing_frequency))
        return {row.name: (row.term, row.billing_frequency) for row in rows}


def test_every_product_is_sold_in_its_term_and_billing_at_its_prices(old_database: tuple[str, sa.Engine]) -> None:
    url, engine = old_database
    add_products(
        engine,
        ("Microsoft 365 E3", "license", "P1Y", "monthly", "36.00", "28.80"),
        ("Office 365 E5", "license", "P1Y", "annual", "456.00", "364.80"),
        ("Extra File Storage", "addon", "P1M", "monthly", "0.1875", None),
        ("Archiving", "addon", "P1Y", "quarterly", "3.00", "2.40"),
        ("Managed backup", "service", "P1Y", "quarterly", "5.00", None),
        ("Unpriced", "license", "P3Y", "monthly", None, None),
    )

    migrate.upgrade(url, PLANS)

    assert plans(engine) == {
        "Microsoft 365 E3": [("P1Y", "monthly", Decimal("36.00"), Decimal("28.80"))],
        "Office 365 E5": [("P1Y", "annual", Decimal("456.00"), Decimal("364.80"))],
        "Extra File Storage": [("P1M", "monthly", Decimal("0.1875"), None)],
        "Archiving": [("P1Y", "monthly", Decimal("3.00"), Decimal("2.40"))],  # new commerce bills no quarters
        "Managed backup": [("P1Y", "quarterly", Decimal("5.00"), None)],  # the reseller's own service may
        "Unpriced": [("P3Y", "monthly", None, None)],
    }
    # The product's own term and billing stay its default combination, one of its plans.
    assert defaults(engine)["Archiving"] == ("P1Y", "monthly")
    assert defaults(engine)["Managed backup"] == ("P1Y", "quarterly")


def test_downgrading_drops_the_plans_and_keeps_the_products(old_database: tuple[str, sa.Engine]) -> None:
    url, engine = old_database
    add_products(engine, ("Microsoft 365 E3", "license", "P1Y", "monthly", "36.00", "28.80"))
    migrate.upgrade(url, PLANS)

    migrate.downgrade(url, BEFORE)

    assert "product_plans" not in sa.inspect(engine).get_table_names()
    assert defaults(engine) == {"Microsoft 365 E3": ("P1Y", "monthly")}
