"""Quantities everywhere (SPEC §6, §18): plain ASCII whole numbers within the product's limits, parsed once
for the portal and the CLI; and a reduction dated on the renewal day is "at renewal"."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from seatflow.db import migrate
from seatflow.db.engine import make_engine
from seatflow.subscriptions.errors import QuantityInvalid, QuantityOutOfRange
from seatflow.subscriptions.models import Subscription
from seatflow.subscriptions.renewals import run_renewals
from seatflow.subscriptions.rules import QUANTITY_CAP, check_quantity, parse_quantity
from tests.factories import (
    create_contract,
    create_customer,
    create_subscription,
    load_demo_catalog,
    noon,
)
from tests.processes import runs_tested_source
from tests.provisioning.conftest import ManualClock
from tests.subscriptions.helpers import PineConeVet, fresh, pine_cone_vet

RENEWAL = date(2027, 12, 1)  # a P1Y term from 1 December 2026 ends on 30 November 2027


# --- the parser ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "quantity"), [("1", 1), ("300", 300), (" 25 ", 25), ("007", 7), ("25\n", 25)])
def test_plain_digits_are_a_quantity(typed: str, quantity: int) -> None:
    assert parse_quantity(typed, minimum=1, maximum=300) == quantity


@pytest.mark.parametrize(
    "typed",
    [
        "²",  # int() refuses it, str.isdigit() accepts it
        "①",
        "٣٠",  # int() and str.isdigit() accept Arabic-Indic digits
        "\uff13\uff10",  # fullwidth digits
        "३०",
        "1_0",
        "+5",
        "-5",
        "5.0",
        "5e1",
        "0x1f",
        "five",
        "",
        "   ",
        "3 0",
        "5\x00",
    ],
)
def test_anything_but_plain_digits_is_not_a_quantity(typed: str) -> None:
    with pytest.raises(QuantityInvalid) as refused:
        parse_quantity(typed, minimum=1, maximum=300)
    assert refused.value.message == "Enter a whole number from 1 to 300."
    assert refused.value.code == "quantity_invalid"
    assert (refused.value.extra["minimum"], refused.value.extra["maximum"]) == (1, 300)


@pytest.mark.parametrize(
    ("typed", "minimum", "maximum", "message"),
    [
        ("0", 1, 300, "Enter a whole number from 1 to 300."),
        ("301", 1, 300, "Enter a whole number from 1 to 300."),
        ("4", 5, None, f"Enter a whole number from 5 to {QUANTITY_CAP}."),
        ("999999999999", 1, None, f"Enter a whole number from 1 to {QUANTITY_CAP}."),
        ("9" * 5000, 1, None, f"Enter a whole number from 1 to {QUANTITY_CAP}."),  # never built as an int
        ("2", 1, 1, "Enter 1: it is the only quantity allowed."),
    ],
)
def test_a_number_outside_the_limits_says_the_range(
    typed: str, minimum: int, maximum: int | None, message: str
) -> None:
    with pytest.raises(QuantityOutOfRange) as refused:
        parse_quantity(typed, minimum=minimum, maximum=maximum)
    assert refused.value.message == message


def test_no_product_allows_more_than_the_cap() -> None:
    check_quantity(QUANTITY_CAP, minimum=1, maximum=None, product="Extra File Storage")
    with pytest.raises(QuantityOutOfRange) as refused:
        check_quantity(QUANTITY_CAP + 1, minimum=1, maximum=None, product="Extra File Storage")
    assert refused.value.extra == {"minimum": 1, "maximum": QUANTITY_CAP}


# --- the renewal day is "at renewal" (SPEC §6) --------------------------------------------------------------


@pytest.fixture
def vet(session: Session) -> PineConeVet:
    return pine_cone_vet(session, load_demo_catalog(session))


def _after_the_window(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    app.state.clock = ManualClock(noon(date(2026, 12, 10)), datetime.now(UTC))  # the 7-day windows have closed


def test_a_reduction_dated_on_the_renewal_day_is_accepted_as_at_renewal(
    session: Session, client: TestClient, vet: PineConeVet
) -> None:
    _after_the_window(client)
    new_york = vet.locations["New York City"].e3
    path = f"/api/v1/subscriptions/{new_york.id}/quantity"

    the_day_before = client.post(path, json={"quantity": 20, "effective": "2027-11-30"})
    on_the_day = client.post(path, json={"quantity": 20, "effective": RENEWAL.isoformat()})

    assert the_day_before.status_code == 409, the_day_before.text
    assert the_day_before.json()["code"] == "reduction_outside_window"
    assert on_the_day.status_code == 202, on_the_day.text
    scheduled = on_the_day.json()
    assert (scheduled["quantity"], scheduled["at_renewal"], scheduled["effective_date"]) == (20, True, "2027-12-01")
    assert fresh(session, new_york).quantity == 25

    run_renewals(session, today=RENEWAL, now=noon(RENEWAL))
    assert fresh(session, new_york).quantity == 20
    assert fresh(session, vet.parent_e3).quantity == 45


# --- the CLI ---------------------------------------------------------------------------------------------


@pytest.fixture
def cli_subscription(tmp_path: Path) -> tuple[str, str]:
    """A SQLite database of the test's own with Microsoft 365 E3 x 25; its URL and the subscription's id."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        with Session(engine) as db:
            catalog = load_demo_catalog(db)
            contract = create_contract(db, customer=create_customer(db, name="Birch Dental"))
            subscription = create_subscription(
                db, contract=contract, product=catalog.e3, quantity=25, provider_account=catalog.do_nothing
            )
            db.commit()
            return url, str(subscription.id)
    finally:
        engine.dispose()


def _seatflow(url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = runs_tested_source({"SEATFLOW_DATABASE_URL": url, "PATH": "/usr/bin:/bin"})
    return subprocess.run(
        [sys.executable, "-m", "seatflow", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def _quantity(url: str, subscription_id: str) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as db:
            found = db.get(Subscription, uuid.UUID(subscription_id))
            assert found is not None
            return found.quantity
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("typed", "code"), [("٣٠", "quantity_invalid"), ("²", "quantity_invalid"), ("301", "quantity_out_of_range")]
)
def test_the_cli_takes_plain_digits_within_the_products_limits_only(
    cli_subscription: tuple[str, str], tmp_path: Path, typed: str, code: str
) -> None:
    url, subscription_id = cli_subscription

    result = _seatflow(url, tmp_path, "subscriptions", "quantity", subscription_id, typed)

    assert result.returncode == 5, result.stdout + result.stderr
    assert result.stderr.strip() == f"error [{code}]: Enter a whole number from 1 to 300."
    assert _quantity(url, subscription_id) == 25


def test_the_cli_still_changes_a_quantity(cli_subscription: tuple[str, str], tmp_path: Path) -> None:
    url, subscription_id = cli_subscription

    result = _seatflow(url, tmp_path, "subscriptions", "quantity", subscription_id, "30")

    assert result.returncode == 0, result.stderr
    assert _quantity(url, subscription_id) == 30
