"""Billing runs are bounded (SPEC §11): never dated after today, and a long catch-up is billed over several runs
of at most MAX_CYCLES_PER_RUN cycles per contract, each run going on where the last one stopped."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import pairwise

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from seatflow.billing.runs import run_billing
from seatflow.errors import ValidationFailed
from tests.billing.support import contract, invoices, open_shop, subscribe
from tests.factories import FACTORY_TODAY, noon
from tests.provisioning.conftest import ManualClock


def test_a_run_dated_after_today_is_refused_and_writes_nothing(session: Session) -> None:
    shop = open_shop(session)
    on = contract(session, shop, start_date=FACTORY_TODAY)
    subscribe(session, shop, on, quantity=1, price="10.00", start=FACTORY_TODAY)
    tomorrow = date(2026, 12, 2)

    with pytest.raises(ValidationFailed) as refused:
        run_billing(session, run_date=tomorrow, now=noon(FACTORY_TODAY), requested_by="tests")

    assert refused.value.code == "billing_date_in_future"
    assert "2026-12-01" in refused.value.message
    assert invoices(session, on) == []


def test_the_api_refuses_a_run_after_the_clocks_today(client: TestClient, session: Session) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    app.state.clock = ManualClock(noon(FACTORY_TODAY), datetime.now(UTC))
    shop = open_shop(session)
    on = contract(session, shop, start_date=FACTORY_TODAY)
    subscribe(session, shop, on, quantity=1, price="10.00", start=FACTORY_TODAY)

    late = client.post("/api/v1/billing-runs", json={"date": "2026-12-02"})
    preview = client.post("/api/v1/billing-runs", json={"date": "2027-01-01", "dry_run": True})

    assert late.status_code == 422, late.text
    assert late.json()["code"] == "billing_date_in_future"
    assert preview.status_code == 422
    assert preview.json()["code"] == "billing_date_in_future"
    assert client.get("/api/v1/invoices").json()["items"] == []
    today = client.post("/api/v1/billing-runs", json={"date": "2026-12-01"})
    assert today.status_code == 201, today.text
    assert today.json()["invoices_created"] == 1


def test_a_contract_started_years_ago_is_caught_up_over_several_runs(session: Session) -> None:
    shop = open_shop(session)
    # Monthly in advance from 2020-01-01: on 2026-12-01 the cycles 2020-01 .. 2026-12 are due, 7 x 12 = 84.
    on = contract(session, shop, start_date=date(2020, 1, 1))
    subscribe(session, shop, on, quantity=2, price="5.00", start=date(2020, 1, 1), today=date(2020, 1, 1))
    day = FACTORY_TODAY

    first = run_billing(session, run_date=day, now=noon(day), requested_by="tests", max_cycles=36)
    second = run_billing(session, run_date=day, now=noon(day), requested_by="tests", max_cycles=36)
    third = run_billing(session, run_date=day, now=noon(day), requested_by="tests", max_cycles=36)
    fourth = run_billing(session, run_date=day, now=noon(day), requested_by="tests", max_cycles=36)

    # 84 cycles at 36 a run: 36 + 36 + 12, then nothing.
    assert [r.invoices_created for r in (first, second, third, fourth)] == [36, 36, 12, 0]
    assert [r.more for r in (first, second, third, fourth)] == [True, True, False, False]
    issued = invoices(session, on)
    periods = sorted((i.period_start, i.period_end) for i in issued)
    assert len(periods) == 84
    assert periods[0] == (date(2020, 1, 1), date(2020, 1, 31))
    assert periods[-1] == (date(2026, 12, 1), date(2026, 12, 31))
    # No month twice, none skipped: each period starts the day after the last one ended.
    assert all((b[0] - a[1]).days == 1 for a, b in pairwise(periods))
    # Each month: 2 seats x 5.00 = 10.00.
    assert {i.subtotal for i in issued} == {Decimal("10.00")}
