"""A "bill from" date (SPEC §8, issue 13 item 9): a contract imported with a start in the past bills nothing
before it; and runs dated after today stay refused. Every figure has its arithmetic beside it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.billing.runs import run_billing
from seatflow.catalog.models import BillingFrequency
from seatflow.contracts.schemas import ContractUpdate
from seatflow.contracts.service import update_contract
from seatflow.errors import ValidationFailed
from seatflow.subscriptions.models import BillingStatus, LicenseChange
from tests.billing.support import bill, contract, invoices, open_shop, set_quantity, subscribe
from tests.factories import FACTORY_TODAY, noon
from tests.provisioning.conftest import ManualClock

D = date
STARTED = D(2025, 3, 15)
BILL_FROM = D(2026, 11, 15)


def test_an_imported_contract_bills_nothing_before_its_bill_from_day(session: Session) -> None:
    shop = open_shop(session)
    imported = contract(session, shop, start_date=STARTED, bill_from=BILL_FROM)
    subscription = subscribe(session, shop, imported, quantity=10, price="10.00", start=STARTED, today=STARTED)
    set_quantity(session, subscription, 12, D(2026, 6, 1))  # before billing begins: in the first cycle's quantity

    first = bill(session, FACTORY_TODAY)  # Dec 1, 2026: the cycle from Nov 15 is due (advance)
    session.expire_all()

    assert (first.invoices_created, first.more) == (1, False)
    assert [(i.period_start, i.period_end, i.subtotal) for i in invoices(session, imported)] == [
        (D(2026, 11, 15), D(2026, 12, 14), Decimal("120.00"))  # 12 x 10.00; the 20 cycles before it: nothing
    ]
    changes = session.scalars(select(LicenseChange).where(LicenseChange.subscription_id == subscription.id)).all()
    assert {c.billing_status for c in changes} == {BillingStatus.INVOICED}
    bill(session, D(2026, 12, 15))
    session.expire_all()
    assert [(i.period_start, i.subtotal) for i in invoices(session, imported)][-1] == (
        D(2026, 12, 15),
        Decimal("120.00"),  # 12 x 10.00
    )


def test_bill_from_must_be_a_cycle_start_on_or_after_the_start_and_before_billing(session: Session) -> None:
    shop = open_shop(session)
    for day, code, boundary in (
        (D(2026, 11, 1), "bill_from_mid_cycle", "2026-11-15"),  # inside Oct 15 - Nov 14
        (D(2025, 1, 15), "bill_from_mid_cycle", "2025-03-15"),  # before the start
    ):
        with pytest.raises(ValidationFailed) as refused:
            contract(session, shop, start_date=STARTED, bill_from=day)
        assert (refused.value.code, refused.value.extra["next_boundary"]) == (code, boundary)

    imported = contract(session, shop, start_date=STARTED)
    subscribe(session, shop, imported, quantity=1, price="10.00", start=STARTED, today=STARTED)
    update_contract(session, contract=imported, data=ContractUpdate(bill_from=BILL_FROM), today=FACTORY_TODAY)
    assert imported.bill_from == BILL_FROM
    bill(session, FACTORY_TODAY)
    with pytest.raises(ValidationFailed) as late:
        update_contract(session, contract=imported, data=ContractUpdate(bill_from=D(2026, 12, 15)), today=FACTORY_TODAY)
    assert late.value.code == "bill_from_after_billing"
    assert len(invoices(session, imported)) == 1


def test_the_api_takes_a_bill_from_day_and_refuses_runs_after_today(client: TestClient, session: Session) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    app.state.clock = ManualClock(noon(FACTORY_TODAY), datetime.now(UTC))
    shop = open_shop(session)
    body = {"customer_id": str(shop.customer.id), "name": "Imported", "start_date": "2025-03-15"}

    refused = client.post("/api/v1/contracts", json=body | {"bill_from": "2026-11-01"})
    assert refused.status_code == 422, refused.text
    assert (refused.json()["code"], refused.json()["next_boundary"]) == ("bill_from_mid_cycle", "2026-11-15")
    created = client.post("/api/v1/contracts", json=body | {"bill_from": "2026-11-15"})
    assert created.status_code == 201, created.text
    assert (created.json()["bill_from"], created.json()["schedule_from"]) == ("2026-11-15", "2025-03-15")

    tomorrow = client.post("/api/v1/billing-runs", json={"date": "2026-12-02"})
    assert (tomorrow.status_code, tomorrow.json()["code"]) == (422, "billing_date_in_future")


def test_a_run_dated_after_today_is_refused_even_as_a_preview(session: Session) -> None:
    with pytest.raises(ValidationFailed) as refused:
        run_billing(session, run_date=D(2026, 12, 2), now=noon(FACTORY_TODAY), requested_by="tests", dry_run=True)
    assert refused.value.code == "billing_date_in_future"


def test_a_schedule_change_before_any_billing_applies_from_the_bill_from_day(session: Session) -> None:
    shop = open_shop(session)
    imported = contract(session, shop, start_date=STARTED, bill_from=BILL_FROM)
    subscribe(session, shop, imported, quantity=10, price="10.00", start=STARTED, today=STARTED)

    update_contract(
        session,
        contract=imported,
        data=ContractUpdate(billing_frequency=BillingFrequency.QUARTERLY),
        today=D(2026, 11, 20),
        now=noon(D(2026, 11, 20)),
    )
    bill(session, FACTORY_TODAY)
    session.expire_all()

    assert imported.schedule_from == BILL_FROM
    assert [(i.period_start, i.period_end, i.subtotal) for i in invoices(session, imported)] == [
        (D(2026, 11, 15), D(2027, 2, 14), Decimal("300.00"))  # 3 months x 10 x 10.00, quarterly from Nov 15
    ]
