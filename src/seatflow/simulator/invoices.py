"""Invoices and reconciliation line items on Partner Center's v1 paths, from the charges the simulator made
(charges.py), and the control paths that close a billing period or plant a charge.

- ``GET /v1/invoices``: the invoices (developer/get-a-collection-of-invoices.md; Microsoft ignores ``size`` and
  ``offset`` for modern invoices, so does the simulator); ``GET /v1/invoices/{id}``.
- ``GET /v1/invoices/{id}/lineitems?provider=onetime&invoicelineitemtype=billinglineitems&size={size}``: the first
  page of an invoice's billed line items; the next pages are ``GET /v1/invoices/{id}/lineitems/OneTime/
  BillingLineItems?seekOperation=Next`` with the page's ``MS-ContinuationToken`` header (developer/get-invoiceline-
  items.md, examples 4 and 5; the path form without ``seekOperation`` also answers a first page, ``offset`` as its
  start). An id may carry Microsoft's ``OneTime-`` prefix, as the invoice's links write it.
- ``GET /v1/invoices/unbilled/lineitems?provider=onetime&invoicelineitemtype=billinglineitems&currencycode={ccy}&
  period={current|previous}&size={size}[&seekOperation=Next]``: the lines of the current or previous calendar month
  (on the simulator's clock) not closed into an invoice yet (developer/get-invoice-unbilled-recon-lineitems.md).

A page holds at most ``size`` items, at most 2,000 (both pages say "Default max size = 2000"). Every item is a
``OneTimeInvoiceLineItem`` with the fields of the documented new-commerce items, amounts written as decimal strings
as those items write them (``"unitPrice": "16"``, ``"effectiveUnitPrice": "14.4"``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from seatflow.simulator.catalog import CYCLE_MONTHS
from seatflow.simulator.charges import (
    DAY,
    NEW,
    SIX_DECIMALS,
    TERM_DESCRIPTIONS,
    ChargeLine,
    Invoice,
    month_start,
)
from seatflow.simulator.faults import ControlError
from seatflow.simulator.paging import PageRequest, page_json, page_request
from seatflow.simulator.pricesheet import plan_price
from seatflow.simulator.resources import (
    COUNTRY,
    CURRENCY_SYMBOLS,
    JSON,
    TERM_MONTHS,
    add_months,
    collection,
    iso,
    link,
    new_guid,
    parse_iso,
    quoted,
)
from seatflow.simulator.rules import SimFault, invalid_input, is_int
from seatflow.simulator.seed import control_fields
from seatflow.simulator.store import Store
from seatflow.simulator.traffic import Reply, ok

MAX_LINE_ITEMS_PAGE = 2_000
PARTNER_ID = "3b33e682-00c3-41ee-9dd2-a548adf56438"
"""The simulator's partner (the tenant id of get-invoiceline-items.md's first example)."""
MPN_ID = "4391507"


def line_json(line: ChargeLine) -> JSON:
    """The documented new-commerce ``OneTimeInvoiceLineItem`` (get-invoiceline-items.md, example 4's second item)."""
    price_date = datetime(line.order_date.year, line.order_date.month, 1, tzinfo=UTC)
    return {
        "partnerId": PARTNER_ID,
        "customerId": line.customer_id,
        "customerName": line.customer_name,
        "customerDomainName": line.customer_domain,
        "customerCountry": COUNTRY,
        "invoiceNumber": line.invoice_number,
        "mpnId": MPN_ID,
        "resellerMpnId": "0",
        "orderId": line.order_id,
        "orderDate": iso(line.order_date),
        "productId": line.product_id,
        "skuId": line.sku_id,
        "availabilityId": line.availability_id,
        "productName": line.product_name,
        "skuName": line.sku_name,
        "productQualifiers": ["AddOn"] if line.is_add_on else [],
        "chargeType": line.charge_type,
        "unitPrice": _decimal(line.unit_price),
        "effectiveUnitPrice": _decimal(line.effective_unit_price),
        "unitType": "",
        "quantity": str(line.quantity),
        "subtotal": _decimal(line.subtotal),
        "taxTotal": "0",
        "totalForCustomer": _decimal(line.subtotal),
        "currency": line.currency,
        "publisherName": "Microsoft Corporation",
        "publisherId": "",
        "subscriptionDescription": "",
        "subscriptionId": line.subscription_id,
        "subscriptionStartDate": _day(line.subscription_start),
        "subscriptionEndDate": _day(line.subscription_end),
        "chargeStartDate": _day(line.charge_start),
        "chargeEndDate": _day(line.charge_end),
        "termAndBillingCycle": TERM_DESCRIPTIONS.get(line.term_duration, ""),
        "alternateId": line.order_id,
        "referenceId": line.reference_id,
        "priceAdjustmentDescription": "",
        "discountDetails": "",
        "pricingCurrency": line.currency,
        "pcToBCExchangeRate": "1",
        "pcToBCExchangeRateDate": price_date.strftime("%Y-%m-%dT%H:%M:%S"),
        "billableQuantity": str(line.quantity),
        "meterDescription": "",
        "billingFrequency": line.billing_frequency,
        "reservationOrderId": "",
        "invoiceLineItemType": "billing_line_items",
        "billingProvider": "one_time",
        "promotionId": "",
        "attributes": {"objectType": "OneTimeInvoiceLineItem"},
    }


def invoice_json(invoice: Invoice) -> JSON:
    """An ``Invoice`` as get-a-collection-of-invoices.md's modern (``OneTime``) example shows one."""
    total = invoice.total
    return {
        "id": invoice.id,
        "invoiceDate": iso(invoice.invoice_date),
        "billingPeriodStartDate": _day(invoice.period_start),
        "billingPeriodEndDate": _day(invoice.period_end),
        "totalCharges": float(total),
        "paidAmount": 0,
        "currencyCode": invoice.currency,
        "currencySymbol": CURRENCY_SYMBOLS.get(invoice.currency, invoice.currency),
        "pdfDownloadLink": f"/invoices/{invoice.id}/documents/statement",
        "taxReceipts": [],
        "invoiceDetails": [
            {
                "invoiceLineItemType": "billing_line_items",
                "billingProvider": "one_time",
                "links": {"self": link(f"/invoices/OneTime-{invoice.id}/lineitems/OneTime/BillingLineItems")},
                "attributes": {"objectType": "InvoiceDetail"},
            }
        ],
        "documentType": "invoice",
        "invoiceType": "OneTime",
        "links": {"self": link(f"/invoices/OneTime-{invoice.id}")},
        "attributes": {"objectType": "Invoice"},
    }


def _decimal(value: Decimal) -> str:
    """As the documented items write amounts: no trailing zeros (``"14.4"``, ``"720"``, ``"-9.408"``)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _day(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _lower(query: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in query.items()}


def _check_kind(provider: str | None, item_type: str | None) -> None:
    """Only ``OneTime`` ``BillingLineItems`` exist here (new commerce's one data model)."""
    if (provider or "").lower().replace("_", "") != "onetime":
        raise invalid_input(f"provider {provider!r} is not supported; the simulator bills new commerce: onetime.")
    if (item_type or "").lower().replace("_", "") != "billinglineitems":
        raise invalid_input(f"invoicelineitemtype {item_type!r} is not supported; use billinglineitems.")


class Invoicing(Store):
    # --- Partner Center's paths -------------------------------------------------------------------------------

    def list_invoices(self) -> Reply:
        with self.lock:
            self._settle()
            items = [invoice_json(invoice) for invoice in self.ledger.invoices.values()]
            return ok(collection(items, "/invoices"))

    def get_invoice(self, invoice_id: str) -> Reply:
        with self.lock:
            return ok(invoice_json(self._invoice(invoice_id)))

    def invoice_line_items(
        self,
        invoice_id: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        *,
        provider: str | None = None,
        item_type: str | None = None,
    ) -> Reply:
        """Both request forms: the query names the provider and type, or the path does (``…/OneTime/
        BillingLineItems``, where ``seekOperation=Next`` asks for the page after a continuation token)."""
        values = _lower(query)
        _check_kind(provider or values.get("provider"), item_type or values.get("invoicelineitemtype"))
        with self.lock:
            invoice = self._invoice(invoice_id)
            request = self._page(values, headers)
            lines = invoice.lines
            page = [line_json(line) for line in lines[request.start : request.start + request.size]]
            uri = f"/invoices/{quoted(invoice.id)}/lineitems?provider=onetime&invoicelineitemtype=billinglineitems"
            following = f"/invoices/{quoted(invoice.id)}/lineitems/OneTime/BillingLineItems?seekOperation=Next"
            return ok(page_json(page, request, total=len(lines), uri=uri, next_uri=following))

    def unbilled_line_items(self, query: Mapping[str, str], headers: Mapping[str, str]) -> Reply:
        values = _lower(query)
        _check_kind(values.get("provider"), values.get("invoicelineitemtype"))
        currency = values.get("currencycode") or ""
        if len(currency) != 3 or not currency.isalpha():
            raise invalid_input("currencyCode is required: the currency of the unbilled line items (e.g. usd).")
        period_name = (values.get("period") or "").lower()
        if period_name not in ("current", "previous"):
            raise invalid_input("period is required: current or previous.")
        with self.lock:
            self._settle()
            current = month_start(self.now().date())
            period = current if period_name == "current" else month_start(current - DAY)
            lines = self.ledger.unbilled(currency, period)
            request = self._page(values, headers)
            page = [line_json(line) for line in lines[request.start : request.start + request.size]]
            uri = (
                "/invoices/unbilled/lineitems?provider=onetime&invoicelineitemtype=billinglineitems"
                f"&currencycode={currency.lower()}&period={period_name}"
            )
            return ok(page_json(page, request, total=len(lines), uri=uri))

    def _page(self, values: dict[str, str], headers: Mapping[str, str]) -> PageRequest:
        request = page_request(values, headers, max_size=MAX_LINE_ITEMS_PAGE)
        offset = values.get("offset")
        if offset is not None and values.get("seekoperation", "").lower() != "next":
            if not offset.isdigit():
                raise invalid_input(f"offset must be a whole number, not {offset!r}.")
            return PageRequest(int(offset), request.size)
        return request

    def _invoice(self, invoice_id: str) -> Invoice:
        key = invoice_id.upper().removeprefix("ONETIME-")
        invoice = self.ledger.invoices.get(key)
        if invoice is None:
            raise SimFault(404, "1000", f"Invoice {invoice_id} was not found.")
        return invoice

    # --- control paths ----------------------------------------------------------------------------------------

    def close_period(self, body: Any) -> Reply:
        """``POST /_sim/invoices/close {"period"?: "YYYY-MM"}``: every unbilled line of that calendar month (the
        current one on the simulator's clock by default) and of earlier ones becomes one invoice per currency,
        dated now. Answers the invoices made (none when nothing was unbilled)."""
        values = control_fields(body or {}, "the close")
        with self.lock:
            self._settle()
            now = self.now()
            through = _period(values.get("period")) if values.get("period") is not None else now.date()
            made = self.ledger.close(through=through, at=now)
            return ok({"invoices": [invoice_json(invoice) for invoice in made]}, 201)

    def list_charges(self) -> Reply:
        """``GET /_sim/charges``: every charge line, billed or not, in the order made."""
        with self.lock:
            self._settle()
            return ok({"items": [line_json(line) for line in self.ledger.lines]})

    def plant_charge(self, body: Any) -> Reply:
        """``POST /_sim/charges``: a ``new`` charge for a subscription bought out of band (one seatflow never
        ordered; the simulator holds no subscription for it). ``customerId``, ``productId``, ``skuId`` (a SKU of the
        catalog) and ``quantity`` are required; ``subscriptionId`` (a new GUID), ``termDuration`` (P1Y),
        ``billingCycle`` (monthly), ``chargeType`` (new), ``unitPrice`` (the price sheet's for the plan),
        ``chargeStartDate`` (today on the simulator's clock) and ``customerName`` may be given."""
        values = control_fields(body, "a charge")
        with self.lock:
            self._settle()
            now = self.now()
            line = self._planted(values, now)
            self.ledger.add(line)
            return ok(line_json(line), 201)

    def _planted(self, values: dict[str, Any], now: datetime) -> ChargeLine:
        customer_id, quantity = values.get("customerid"), values.get("quantity")
        if not isinstance(customer_id, str) or not customer_id:
            raise ControlError("a charge needs customerId")
        if not is_int(quantity) or quantity < 1:
            raise ControlError("a charge needs quantity: a whole number of seats, 1 or more")
        offer = self._nce_offers.get(f"{values.get('productid')}:{values.get('skuid')}".lower())
        if offer is None:
            raise ControlError("a charge needs productId and skuId of a SKU in the simulator's catalog")
        term = str(values.get("termduration") or "P1Y").upper()
        cycle = str(values.get("billingcycle") or "monthly").lower()
        if term not in TERM_MONTHS or not offer.has_plan(term, cycle):
            raise ControlError(f"{offer.id} is not sold for {term} billed {cycle}")
        given = _control_price(values.get("unitprice"))
        unit_price = plan_price(offer.unit_price, cycle) if given is None else given
        start = _control_day(values.get("chargestartdate")) or now.date()
        begin = datetime(start.year, start.month, start.day, tzinfo=UTC)
        customer = self._customers.get(customer_id.lower())
        return ChargeLine(
            customer_id=customer.id if customer is not None else customer_id,
            customer_name=str(values.get("customername") or (customer.company_name if customer else "")),
            customer_domain=customer.domain if customer is not None else "",
            order_id=uuid.uuid4().hex[:12],
            order_date=now if start == now.date() else begin,
            product_id=offer.product_id,
            sku_id=offer.sku_id,
            availability_id=offer.availability_id,
            product_name=offer.product_title,
            sku_name=offer.name,
            is_add_on=offer.is_add_on,
            charge_type=str(values.get("chargetype") or NEW),
            unit_price=unit_price,
            effective_unit_price=unit_price,
            quantity=quantity,
            currency=offer.currency,
            subscription_id=str(values.get("subscriptionid") or new_guid()),
            subscription_start=start,
            subscription_end=(add_months(begin, TERM_MONTHS[term]) - DAY).date(),
            charge_start=start,
            charge_end=(add_months(begin, CYCLE_MONTHS[cycle]) - DAY).date(),
            term_duration=term,
            billing_frequency="" if CYCLE_MONTHS[cycle] >= TERM_MONTHS[term] else cycle.capitalize(),
            reference_id=str(uuid.uuid4()),
        )


def _period(value: Any) -> date:
    if not isinstance(value, str) or len(value) != 7 or value[4] != "-":
        raise ControlError('period must be "YYYY-MM"')
    try:
        return date(int(value[:4]), int(value[5:]), 1)
    except ValueError as exc:
        raise ControlError(f'period must be "YYYY-MM", not {value!r}') from exc


def _control_day(value: Any) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ControlError("chargeStartDate must be an ISO-8601 date")
    try:
        return parse_iso(value).date()
    except ValueError as exc:
        raise ControlError(f"chargeStartDate is not an ISO-8601 date: {value!r}") from exc


def _control_price(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ControlError("unitPrice must be a decimal amount")
    try:
        price = Decimal(str(value))
    except InvalidOperation as exc:
        raise ControlError(f"unitPrice must be a decimal amount, not {value!r}") from exc
    if not price.is_finite() or price < 0 or price != price.quantize(SIX_DECIMALS):
        raise ControlError("unitPrice must be 0 or more, with at most six decimals")
    return price
