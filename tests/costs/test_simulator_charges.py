"""The simulator bills what it does: a reconciliation line per charge, priced from its own price sheet, closed into
invoices and served on Partner Center's paths (simulator/charges.py, simulator/invoices.py).

Prices (src/seatflow/simulator/demo_state.json, per license and month): Microsoft 365 E3 28.80, Office 365 Business
Premium 10.00, Office 365 E5 30.40, Enterprise Mobility + Security E3 8.48. The simulator's clock is set; nothing
here depends on today's date.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from seatflow.simulator import SimulatorState
from seatflow.simulator.charges import effective_unit_price, subtotal
from seatflow.simulator.state import demo_seed
from tests.partner_center.helpers import documented
from tests.simulator.helpers import CUSTOMER
from tests.simulator.nce import (
    EMS_E3,
    M365_E3,
    M365_E3_ITEM,
    OFFICE_E5,
    buy,
    cart_line,
    change,
    missing_from,
    set_clock,
)

BUSINESS_PREMIUM = "CFQ7TTC0LCHC:0002"
LINE_ITEMS = {"provider": "onetime", "invoicelineitemtype": "billinglineitems"}


def charges(pc: httpx.Client) -> list[dict[str, Any]]:
    response = pc.get("/_sim/charges")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def summary(line: dict[str, Any]) -> tuple[str, str, str, str, str, str, str]:
    return (
        line["chargeType"],
        line["chargeStartDate"][:10],
        line["chargeEndDate"][:10],
        line["unitPrice"],
        line["effectiveUnitPrice"],
        line["billableQuantity"],
        line["subtotal"],
    )


def of(lines: list[dict[str, Any]], subscription: dict[str, Any]) -> list[tuple[str, ...]]:
    return [summary(line) for line in lines if line["subscriptionId"] == subscription["id"]]


def test_the_amount_rules_on_microsofts_own_examples() -> None:
    """common-billing-scenarios-onetime-recurring.md: 10.08 a month, seats changed on June 20 of a June 18-July 17
    cycle (30 days), 28 days left."""
    eup = effective_unit_price(Decimal("10.08"), days=28, cycle_days=30)
    assert eup == Decimal("9.408")  # 10.08 / 30 * 28
    assert subtotal(Decimal("10.08"), 10) == Decimal("100.80")  # 10 * 10.08
    assert subtotal(-eup, 10) == Decimal("-94.00")  # ROUNDDOWN(-9.408, 2) = -9.40; * 10 (the page: -94.08)
    assert subtotal(eup, 12) == Decimal("112.80")  # 9.40 * 12 (the page rounds 9.408 * 12 = 112.896 to 112.89)
    cancel = effective_unit_price(Decimal("10.08"), days=29, cycle_days=31)  # cancelled July 17, cycle to Aug 14
    assert cancel == Decimal("9.429677")  # 10.08 / 31 * 29 = 9.4296774…
    assert subtotal(-cancel, 10) == Decimal("-94.20")  # ROUNDDOWN(-9.429677, 2) = -9.42; * 10, as the page's -94.2


def test_a_purchase_seat_changes_and_the_next_cycle_are_charged(pc: httpx.Client) -> None:
    set_clock(pc, "2026-01-10T09:00:00Z")
    [e3] = buy(pc, cart_line(pc, M365_E3, 25))  # P1Y billed monthly: cycles from the 10th to the 9th
    set_clock(pc, "2026-01-12T09:00:00Z")
    assert change(pc, e3["id"], quantity=30).status_code == 200
    set_clock(pc, "2026-01-13T10:00:00Z")
    assert change(pc, e3["id"], quantity=28).status_code == 200  # the 5 added seats are still refundable
    set_clock(pc, "2026-02-10T00:30:00Z")

    lines = charges(pc)

    assert of(lines, e3) == [
        # Jan 10 - Feb 9 is 31 days: a whole cycle at the sheet's P1Y monthly price, 28.80
        ("new", "2026-01-10", "2026-02-09", "28.8", "28.8", "25", "720"),  # 25 * 28.80 = 720.00
        # Jan 12 - Feb 9: 29 of 31 days; 28.80 / 31 * 29 = 26.9419354… → 26.941935
        ("addQuantity", "2026-01-12", "2026-02-09", "28.8", "-26.941935", "25", "-673.5"),  # -26.94 * 25 = -673.50
        ("addQuantity", "2026-01-12", "2026-02-09", "28.8", "26.941935", "30", "808.2"),  # 26.94 * 30 = 808.20
        # Jan 13 - Feb 9: 28 of 31 days; 28.80 / 31 * 28 = 26.0129032… → 26.012903
        ("removeQuantity", "2026-01-13", "2026-02-09", "28.8", "-26.012903", "30", "-780.3"),  # -26.01 * 30 = -780.30
        ("removeQuantity", "2026-01-13", "2026-02-09", "28.8", "26.012903", "28", "728.28"),  # 26.01 * 28 = 728.28
        # the second cycle, Feb 10 - Mar 9, charged at 00:00 UTC on its first day
        ("cycleCharge", "2026-02-10", "2026-03-09", "28.8", "28.8", "28", "806.4"),  # 28 * 28.80 = 806.40
    ]
    add_refund, add_charge = (line for line in lines if line["chargeType"] == "addQuantity")
    assert add_refund["referenceId"] == add_charge["referenceId"]  # one change, two lines
    first = lines[0]
    assert (first["customerId"], first["customerName"], first["productId"], first["skuId"]) == (
        CUSTOMER,
        "Pine Cone Vet",
        "CFQ7TTC0LFLX",
        "0001",
    )
    assert (first["subscriptionStartDate"], first["subscriptionEndDate"]) == (
        "2026-01-10T00:00:00Z",
        "2027-01-09T00:00:00Z",
    )
    assert (first["termAndBillingCycle"], first["billingFrequency"], first["currency"]) == (
        "One-Year commitment for monthly/yearly billing",
        "Monthly",
        "USD",
    )
    assert lines[-1]["orderDate"] == "2026-02-10T00:00:00Z"


def test_an_annual_plan_is_one_charge_for_the_term(pc: httpx.Client) -> None:
    set_clock(pc, "2026-01-10T09:00:00Z")
    [ems] = buy(pc, cart_line(pc, EMS_E3, 5, billing="annual"))
    set_clock(pc, "2026-06-01T00:00:00Z")  # no cycle charge in between

    # the sheet's P1Y Annual price: 8.48 * 12 = 101.76 for Jan 10, 2026 - Jan 9, 2027
    assert of(charges(pc), ems) == [("new", "2026-01-10", "2027-01-09", "101.76", "101.76", "5", "508.8")]  # 5 * 101.76
    assert charges(pc)[0]["billingFrequency"] == ""  # one payment for the whole term (PC23)


def test_a_cancellation_refunds_the_rest_of_the_cycle(pc: httpx.Client) -> None:
    set_clock(pc, "2026-01-10T09:00:00Z")
    [monthly, early] = buy(pc, cart_line(pc, BUSINESS_PREMIUM, 10, term="P1M"), cart_line(pc, OFFICE_E5, 2, term="P1M"))
    set_clock(pc, "2026-01-10T20:00:00Z")
    assert change(pc, early["id"], status="deleted").status_code == 200  # within 24 hours: all of it
    set_clock(pc, "2026-01-12T09:00:00Z")
    assert change(pc, monthly["id"], status="deleted").status_code == 200  # 48 hours on: the days left
    set_clock(pc, "2026-03-01T00:00:00Z")  # nothing renews or cycles after a cancellation

    lines = charges(pc)

    assert of(lines, monthly) == [
        ("new", "2026-01-10", "2026-02-09", "10", "10", "10", "100"),  # 10 * 10.00 = 100.00
        # Jan 12 - Feb 9: 29 of 31 days; 10.00 / 31 * 29 = 9.3548387… → 9.354839
        ("cancelImmediate", "2026-01-12", "2026-02-09", "10", "-9.354839", "10", "-93.5"),  # -9.35 * 10 = -93.50
    ]
    assert of(lines, early) == [
        ("new", "2026-01-10", "2026-02-09", "30.4", "30.4", "2", "60.8"),  # 2 * 30.40 = 60.80
        ("cancelImmediate", "2026-01-10", "2026-02-09", "30.4", "-30.4", "2", "-60.8"),  # the whole cycle back
    ]


def test_a_monthly_term_renews_each_month(pc: httpx.Client) -> None:
    set_clock(pc, "2026-01-31T09:00:00Z")
    [e5] = buy(pc, cart_line(pc, OFFICE_E5, 3, term="P1M"))
    set_clock(pc, "2026-03-29T12:00:00Z")

    assert of(charges(pc), e5) == [
        # bought on January 31: the term ends February 27 (PC23's table), 28 days
        ("new", "2026-01-31", "2026-02-27", "30.4", "30.4", "3", "91.2"),  # 3 * 30.40 = 91.20
        ("renew", "2026-02-28", "2026-03-27", "30.4", "30.4", "3", "91.2"),  # renewed after its last day
        ("renew", "2026-03-28", "2026-04-27", "30.4", "30.4", "3", "91.2"),
    ]


def test_cycles_follow_microsofts_month_end_table(pc: httpx.Client) -> None:
    """PC23: an annual term billed monthly bought January 31 has cycles Jan 31-Feb 27, Feb 28-Mar 30, Mar 31-Apr 29."""
    set_clock(pc, "2026-01-31T09:00:00Z")
    [e3] = buy(pc, cart_line(pc, M365_E3, 1))
    set_clock(pc, "2026-04-15T00:00:00Z")

    assert [(c[0], c[1], c[2]) for c in of(charges(pc), e3)] == [
        ("new", "2026-01-31", "2026-02-27"),
        ("cycleCharge", "2026-02-28", "2026-03-30"),
        ("cycleCharge", "2026-03-31", "2026-04-29"),
    ]


def test_closing_a_period_makes_an_invoice_served_page_by_page(pc: httpx.Client) -> None:
    set_clock(pc, "2026-01-10T09:00:00Z")
    buy(pc, cart_line(pc, M365_E3, 25), cart_line(pc, EMS_E3, 5, billing="annual"))
    planted = pc.post(
        "/_sim/charges",
        json={"customerId": CUSTOMER, "productId": "CFQ7TTC0LFLX", "skuId": "0001", "quantity": 3},
    )
    assert planted.status_code == 201, planted.text
    # a subscription bought out of band: 3 * 28.80 = 86.40, its own subscription id
    assert summary(planted.json()) == ("new", "2026-01-10", "2026-02-09", "28.8", "28.8", "3", "86.4")

    closed = pc.post("/_sim/invoices/close", json={})
    assert closed.status_code == 201, closed.text
    (invoice,) = closed.json()["invoices"]
    assert (invoice["id"], invoice["currencyCode"], invoice["totalCharges"]) == ("G000000001", "USD", 1315.2)
    # 720.00 + 508.80 + 86.40 = 1315.20
    assert invoice["billingPeriodStartDate"] == "2026-01-01T00:00:00Z"
    assert invoice["billingPeriodEndDate"] == "2026-01-31T00:00:00Z"
    assert missing_from(invoice, documented("client_invoices")["items"][0]) == []
    listed = pc.get("/v1/invoices").json()
    assert [i["id"] for i in listed["items"]] == ["G000000001"]

    first = pc.get("/v1/invoices/G000000001/lineitems", params={**LINE_ITEMS, "size": 2}).json()
    assert (first["totalCount"], first["links"]["next"]["uri"]) == (
        2,
        "/invoices/G000000001/lineitems/OneTime/BillingLineItems?seekOperation=Next",
    )
    token = first["links"]["next"]["headers"][0]["value"]
    assert token == first["continuationToken"]
    rest = pc.get(
        "/v1/invoices/OneTime-G000000001/lineitems/OneTime/BillingLineItems",
        params={"seekOperation": "Next"},
        headers={"MS-ContinuationToken": token},
    ).json()
    assert rest["totalCount"] == 1
    assert "continuationToken" not in rest
    lines = first["items"] + rest["items"]
    example = documented("client_invoice_lineitems")["items"][1]  # the documented new-commerce item
    assert [gap for gap in missing_from(lines[0], example) if gap != "$.attributes/objectType"] == []
    assert {line["invoiceNumber"] for line in lines} == {"G000000001"}
    assert sum(Decimal(line["subtotal"]) for line in lines) == Decimal("1315.20")


def test_unbilled_lines_are_the_periods_not_yet_invoiced(pc: httpx.Client) -> None:
    set_clock(pc, "2026-01-10T09:00:00Z")
    buy(pc, cart_line(pc, M365_E3, 25))
    set_clock(pc, "2026-02-10T12:00:00Z")  # the second cycle is charged in February

    def unbilled(period: str, **extra: str) -> httpx.Response:
        params = {**LINE_ITEMS, "currencycode": "usd", "period": period, **extra}
        return pc.get("/v1/invoices/unbilled/lineitems", params=params)

    previous, current = unbilled("previous").json(), unbilled("current").json()
    assert [(i["chargeType"], i["subtotal"], i["invoiceNumber"]) for i in previous["items"]] == [("new", "720", "")]
    assert [(i["chargeType"], i["subtotal"]) for i in current["items"]] == [("cycleCharge", "720")]  # 25 * 28.80
    assert previous["links"]["self"]["uri"] == (
        "/invoices/unbilled/lineitems?provider=onetime&invoicelineitemtype=billinglineitems&currencycode=usd"
        "&period=previous&size=2000"
    )
    assert unbilled("current", currencycode="eur").json()["items"] == []

    pc.post("/_sim/invoices/close", json={"period": "2026-01"})
    assert unbilled("previous").json()["items"] == []  # January is billed now
    assert len(unbilled("current").json()["items"]) == 1


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"provider": "office", "invoicelineitemtype": "billinglineitems"}, "800002"),
        ({"provider": "onetime", "invoicelineitemtype": "usagelineitems"}, "800002"),
        ({**LINE_ITEMS, "period": "current"}, "800002"),  # no currency
        ({**LINE_ITEMS, "currencycode": "usd", "period": "next"}, "800002"),
    ],
)
def test_unsupported_requests_are_refused_as_partner_center_does(
    pc: httpx.Client, params: dict[str, str], code: str
) -> None:
    response = pc.get("/v1/invoices/unbilled/lineitems", params=params)

    assert (response.status_code, response.json()["code"]) == (400, code)
    missing = pc.get("/v1/invoices/G999999999/lineitems", params=LINE_ITEMS)
    assert missing.status_code == 404


def test_a_seeded_subscription_is_charged_from_its_next_cycle_on() -> None:
    """A subscription the seed says was bought before the simulator started: no ``new`` line for the past."""
    seed = demo_seed() | {
        "clock": "2026-01-01T00:00:00Z",
        "subscriptions": [
            {
                "customerId": CUSTOMER,
                "offerId": M365_E3_ITEM,
                "quantity": 5,
                "termDuration": "P1Y",
                "billingCycle": "monthly",
                "creationDate": "2025-12-15T00:00:00Z",
            }
        ],
    }
    state = SimulatorState.from_seed(seed)
    state.set_clock(datetime(2026, 2, 20, tzinfo=UTC))

    lines = state.list_charges().body["items"]

    assert [summary(line) for line in lines] == [
        ("cycleCharge", "2026-01-15", "2026-02-14", "28.8", "28.8", "5", "144"),  # 5 * 28.80 = 144.00
        ("cycleCharge", "2026-02-15", "2026-03-14", "28.8", "28.8", "5", "144"),
    ]
