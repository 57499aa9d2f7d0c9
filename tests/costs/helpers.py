"""Reconciliation files for the tests, in Microsoft's columns (modern-invoice-reconciliation-file.md)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping

COLUMNS = (
    "PartnerId",
    "CustomerId",
    "CustomerName",
    "CustomerDomainName",
    "CustomerCountry",
    "InvoiceNumber",
    "MPNID",
    "ResellerMPNID",
    "OrderId",
    "OrderDate",
    "ProductId",
    "SkuId",
    "AvailabilityId",
    "SkuName",
    "ProductName",
    "ChargeType",
    "UnitPrice",
    "Quantity",
    "Subtotal",
    "TaxTotal",
    "Total",
    "Currency",
    "PriceAdjustmentDescription",
    "PublisherName",
    "PublisherId",
    "SubscriptionDescription",
    "SubscriptionId",
    "ChargeStartDate",
    "ChargeEndDate",
    "TermAndBillingCycle",
    "EffectiveUnitPrice",
    "UnitType",
    "AlternateId",
    "BillableQuantity",
    "BillingFrequency",
    "PricingCurrency",
    "PCToBCExchangeRate",
    "PCToBCExchangeRateDate",
    "MeterDescription",
    "ReservationOrderId",
    "CreditReasonCode",
    "SubscriptionStartDate",
    "SubscriptionEndDate",
    "ReferenceID",
    "ProductQualifiers",
    "PromotionID",
)
"""The page's column list, in its order."""

# The page's "Sample value" column, one row (an Azure plan meter: a decimal BillableQuantity, EUR).
PAGE_SAMPLE = {
    "PartnerId": "0e195b37-4574-4539-bc42-0e539b9684c0",
    "CustomerId": "196e2273-9651-43a3-ba7e-7cbcd918fc40",
    "CustomerName": "Johnny Modern Cust DE2",
    "CustomerDomainName": "testcustomerdomain.onmicrosoft.com",
    "CustomerCountry": "DE",
    "InvoiceNumber": "G002297372",
    "MPNID": "6034453",
    "ResellerMPNID": "6048879",
    "OrderId": "6dc5c039750a",
    "OrderDate": "10/3/2020",
    "ProductId": "DZH318Z0BNZ5",
    "SkuId": "006G",
    "AvailabilityId": "DZH318Z08B80",
    "SkuName": "Tables - LRS",
    "ProductName": "Tables",
    "ChargeType": "New",
    "UnitPrice": "0.045",
    "Quantity": "1",
    "Subtotal": "0.01",
    "TaxTotal": "0",
    "Total": "0.045",
    "Currency": "EUR",
    "PriceAdjustmentDescription": '["15.0% Partner earned credit for services managed"]',
    "PublisherName": "Microsoft",
    "PublisherId": "NA",
    "SubscriptionDescription": "Azure plan",
    "SubscriptionId": "307628f1-d9d2-f09c-ea1f-4183f0cae308",
    "ChargeStartDate": "9/1/2020",
    "ChargeEndDate": "9/30/2020",
    "TermAndBillingCycle": "Data Stored (GB/Month), One-Year commitment for monthly/yearly billing",
    "EffectiveUnitPrice": "0.03825",
    "UnitType": "1 GB/Month",
    "AlternateId": "6dc5c039750a",
    "BillableQuantity": "0.005001",
    "BillingFrequency": "Monthly",
    "PricingCurrency": "USD",
    "PCToBCExchangeRate": "0.846202666",
    "PCToBCExchangeRateDate": "9/30/2020",
    "MeterDescription": "Tables - LRS Data Stored (GB/Month)",
    "ReservationOrderId": "55eebd03-c6e7-4593-8ba8-0bb7c0b25e02",
    "CreditReasonCode": "Azure Credit Offer",
    "SubscriptionStartDate": "5/1/2021",
    "SubscriptionEndDate": "4/30/2022",
    "ReferenceID": "025d68a6-1bd6-42ab-9636-15e8d776a30e",
    "ProductQualifiers": '["Add-on"]',
    "PromotionID": "CFQ7TTC0LDPB:1:CFQ7TTC0GZQJ",
}

TENANT = "A1B2C3D4-0000-4000-8000-00000000BEEF"
"""A customer tenant, written upper case as some files do."""
SUBSCRIPTION = "6F1B2A3C-0000-4000-8000-0000000000E3"
E3 = ("CFQ7TTC0LFLX", "0001", "Microsoft 365 E3")


def line(
    *,
    charge: str = "new",
    start: str = "6/18/2021",
    end: str = "7/17/2021",
    unit_price: str = "10.08",
    effective: str = "10.08",
    quantity: str = "10",
    subtotal: str = "100.8",
    invoice: str = "",
    order_date: str | None = None,
    subscription: str = SUBSCRIPTION,
    currency: str = "USD",
    reference: str = "7d71c595-4635-40d1-a9e2-b34e63b01764",
    **overrides: str,
) -> dict[str, str]:
    """A seat-based line of Microsoft 365 E3, one-year term billed monthly; by default the "new" line of
    common-billing-scenarios-onetime-recurring.md (10 seats at 10.08 from June 18, 2021: 100.8)."""
    product_id, sku_id, name = E3
    values = {
        "PartnerId": "0e195b37-4574-4539-bc42-0e539b9684c0",
        "CustomerId": TENANT,
        "CustomerName": "Pine Cone Vet",
        "CustomerDomainName": "pineconevet.onmicrosoft.com",
        "CustomerCountry": "US",
        "InvoiceNumber": invoice,
        "OrderId": "5f9d52bb1408",
        "OrderDate": order_date or start,
        "ProductId": product_id,
        "SkuId": sku_id,
        "AvailabilityId": "CFQ7TTC0LB30",
        "SkuName": name,
        "ProductName": name,
        "ChargeType": charge,
        "UnitPrice": unit_price,
        "Quantity": quantity,
        "Subtotal": subtotal,
        "TaxTotal": "0",
        "Total": subtotal,
        "Currency": currency,
        "PublisherName": "Microsoft Corporation",
        "SubscriptionId": subscription,
        "ChargeStartDate": start,
        "ChargeEndDate": end,
        "TermAndBillingCycle": "One-Year commitment for monthly/yearly billing",
        "EffectiveUnitPrice": effective,
        "BillableQuantity": quantity,
        "BillingFrequency": "Monthly",
        "PricingCurrency": currency,
        "PCToBCExchangeRate": "1",
        "ReferenceID": reference,
    }
    values.update(overrides)
    return values


def june_lines(invoice: str = "") -> list[dict[str, str]]:
    """The page's seat example: 10 seats bought June 18, 2021 at 10.08 (30-day cycle to July 17), 2 added June 20
    (a refund of 10 and a charge of 12 for the 28 days left: 10.08 / 30 * 28 = 9.408)."""
    return [
        line(invoice=invoice),  # 10 * 10.08 = 100.80
        line(
            invoice=invoice,
            charge="addQuantity",
            start="6/20/2021",
            effective="-9.408",
            subtotal="-94.08",  # 10 * -9.408 = -94.08
            reference="12d33e18-061e-4040-ad77-fcd77c1a9943",
        ),
        line(
            invoice=invoice,
            charge="addQuantity",
            start="6/20/2021",
            effective="9.408",
            quantity="12",
            subtotal="112.89",  # 12 * 9.408 = 112.896, as the page rounds it
            reference="12d33e18-061e-4040-ad77-fcd77c1a9943",
        ),
    ]


def recon_csv(rows: Iterable[Mapping[str, str]], columns: Iterable[str] = COLUMNS) -> bytes:
    """Quoted as Partner Center writes its downloads, CRLF line ends."""
    out = io.StringIO()
    names = list(columns)
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(names)
    for values in rows:
        writer.writerow([values.get(name, "") for name in names])
    return out.getvalue().encode("utf-8")
