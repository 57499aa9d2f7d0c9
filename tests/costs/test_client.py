"""The Partner Center client reads invoices and their line items as Microsoft documents them, page by page
(get-a-collection-of-invoices.md, get-invoiceline-items.md, get-invoice-unbilled-recon-lineitems.md)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx
import pytest

from seatflow.catalog.providers import PartnerCenterSettings
from seatflow.costs.fetch import CostFetchPlan, fetch_costs
from seatflow.costs.models import CostKind
from seatflow.costs.reconfile import read_items
from seatflow.partner_center.client import PartnerCenterError
from tests.partner_center.helpers import BASE_URL, Script, answer, assert_partner_center_headers, documented

TOKEN = documented("client_invoice_lineitems")["continuationToken"]


def plan(*, imported: frozenset[str] = frozenset()) -> CostFetchPlan:
    return CostFetchPlan(
        account_id=uuid.uuid4(),
        settings=PartnerCenterSettings(base_url=BASE_URL),
        currencies=("USD",),
        imported=imported,
    )


def test_invoices_are_one_documented_collection() -> None:
    script = Script(answer("client_invoices"))

    invoices = script.client().list_invoices()

    assert [(i["id"], i["currencyCode"], i["invoiceType"]) for i in invoices] == [("G000024130", "CHF", "OneTime")]
    (request,) = script.requests
    assert (request.method, request.url.path, dict(request.url.params)) == ("GET", "/v1/invoices", {})
    assert_partner_center_headers(request)


def test_an_invoices_line_items_are_read_to_the_last_page() -> None:
    script = Script(answer("client_invoice_lineitems"), answer("client_invoice_lineitems_next"))

    items = script.client().list_invoice_line_items("G000773581", size=4)

    assert len(items) == 4 + 2
    first, second = script.requests
    assert first.url.path == "/v1/invoices/G000773581/lineitems"
    assert dict(first.url.params) == {"provider": "onetime", "invoicelineitemtype": "billinglineitems", "size": "4"}
    assert "MS-ContinuationToken" not in first.headers
    # example 5: the next page is asked on the OneTime/BillingLineItems path with the token in a header
    assert second.url.path == "/v1/invoices/G000773581/lineitems/OneTime/BillingLineItems"
    assert dict(second.url.params) == {"seekOperation": "Next"}
    assert second.headers["MS-ContinuationToken"] == TOKEN
    for request in script.requests:
        assert_partner_center_headers(request)
    rows = read_items(items)
    assert [(r.product_key, r.charge_type, r.subtotal) for r in rows[:2]] == [
        ("CFQ7TTC0LH0R:0002", "new", Decimal(0)),
        ("CFQ7TTC0HL8W:0001", "new", Decimal(720)),  # 50 * 14.4
    ]


def test_unbilled_line_items_are_asked_per_currency_and_period_and_paged() -> None:
    script = Script(answer("client_unbilled_lineitems"), answer("client_unbilled_lineitems_next"))

    items = script.client().list_unbilled_line_items("USD", "previous")

    assert [item["invoiceNumber"] for item in items] == [""] * 6
    first, second = script.requests
    wanted = {
        "provider": "onetime",
        "invoicelineitemtype": "billinglineitems",
        "currencycode": "usd",
        "period": "previous",
        "size": "2000",
    }
    assert (first.url.path, dict(first.url.params)) == ("/v1/invoices/unbilled/lineitems", wanted)
    assert (second.url.path, dict(second.url.params)) == (
        "/v1/invoices/unbilled/lineitems",
        wanted | {"seekOperation": "Next"},
    )
    assert second.headers["MS-ContinuationToken"] == "AQAAAA=="  # the token of the first page's next link


def test_a_continuation_token_seen_twice_stops_the_reading() -> None:
    page = documented("client_invoice_lineitems")
    script = Script(httpx.Response(200, json=page), httpx.Response(200, json=page))

    with pytest.raises(PartnerCenterError, match="line items of invoice G000773581 with a continuation token"):
        script.client().list_invoice_line_items("G000773581")


def test_an_unknown_period_is_never_sent() -> None:
    with pytest.raises(PartnerCenterError):
        Script().client().list_unbilled_line_items("USD", "next-month")


def test_a_fetch_reads_the_invoices_not_imported_then_both_unbilled_periods() -> None:
    unbilled = documented("client_unbilled_lineitems_next")
    script = Script(
        answer("client_invoices"),
        answer("client_invoice_lineitems_next"),
        httpx.Response(200, json=unbilled),
        httpx.Response(200, json={**unbilled, "items": [], "totalCount": 0}),
    )

    fetched = fetch_costs(plan(), client=script.client())

    assert [(b.kind, b.name, b.invoice_number, len(b.rows)) for b in fetched.batches] == [
        (CostKind.BILLED, "invoice G000024130", "G000024130", 2),
        (CostKind.UNBILLED, "unbilled previous USD", "", 2),
        (CostKind.UNBILLED, "unbilled current USD", "", 0),
    ]
    assert [r.url.path for r in script.requests[:2]] == ["/v1/invoices", "/v1/invoices/G000024130/lineitems"]
    assert [dict(r.url.params).get("period") for r in script.requests[2:]] == ["previous", "current"]


def test_an_invoice_imported_before_is_not_read_again() -> None:
    script = Script(
        answer("client_invoices"),
        answer("client_unbilled_lineitems_next"),
        answer("client_unbilled_lineitems_next"),
    )

    fetched = fetch_costs(plan(imported=frozenset({"G000024130"})), client=script.client())

    assert (fetched.invoices_listed, fetched.invoices_skipped) == (1, ["G000024130"])
    assert [b.name for b in fetched.batches] == ["unbilled previous USD", "unbilled current USD"]
    alone = Script(answer("client_unbilled_lineitems_next"))
    previous = fetch_costs(plan(), unbilled="previous", client=alone.client())
    assert ([b.name for b in previous.batches], previous.invoices_listed) == (["unbilled previous USD"], 0)


def test_a_line_item_seatflow_cannot_read_is_a_provider_error() -> None:
    page = documented("client_invoice_lineitems_next")
    page["items"][1]["effectiveUnitPrice"] = "fourteen"
    script = Script(httpx.Response(200, json=page))

    with pytest.raises(PartnerCenterError, match="item 2, column EffectiveUnitPrice"):
        fetch_costs(plan(), invoice="G000773581", client=script.client())
