"""The new-commerce license-based price sheet (developer/get-a-price-sheet.md):
``GET /v1.0/sales/pricesheets(Market='US',PricesheetView='updatedlicensebased')/$value[?timeline=&month=YYYYMM]``.

One CSV row per SKU, term and billing plan the SKU is sold in, with Microsoft's columns. ``UnitPrice`` and
``ERP Price`` are the price of one license for one billing period (the page's example: a P1Y term billed
``Annual`` at 115.2, ERP 144, i.e. 9.60 and 12.00 a month), from the offer's monthly ``unitPrice`` and ``erpPrice``.
Dates are written as the page writes them (``2/1/2019 12:00:00 AM``): a list is effective from the 1st of its month
to the end of it. The simulator keeps no price history and plans no change: ``history`` answers today's prices
dated for the month asked, ``future`` is 404 as the page says it is when no change is planned. With
``Accept-Encoding: deflate`` (that value alone, as the page asks for it) the answer is a zip holding the CSV.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from seatflow.simulator.catalog import CYCLE_MONTHS, NceOffer
from seatflow.simulator.resources import add_months
from seatflow.simulator.rules import SimFault, invalid_input
from seatflow.simulator.traffic import Reply

VIEW = "updatedlicensebased"
COLUMNS = (
    "ProductTitle",
    "ProductId",
    "SkuId",
    "SkuTitle",
    "Publisher",
    "SkuDescription",
    "UnitOfMeasure",
    "TermDuration",
    "BillingPlan",
    "Market",
    "Currency",
    "UnitPrice",
    "PricingTierRangeMin",
    "PricingTierRangeMax",
    "EffectiveStartDate",
    "EffectiveEndDate",
    "Tags",
    "ERP Price",
)
PATH = re.compile(
    r"/v1\.0/sales/pricesheets\(Market='([^'/]*)',\s*PricesheetView='([^'/]*)'\)/\$value",
    re.IGNORECASE,
)
"""The price sheet's path, matched against the percent-decoded request path."""
_MONTH = re.compile(r"(\d{4})(\d{2})")
_PRICE_QUANTUM = Decimal("0.0001")


def price_sheet(
    offers: Iterable[NceOffer],
    *,
    market: str,
    view: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    now: datetime,
) -> Reply:
    """The price sheet as Microsoft answers it: a CSV file stream (or a zip of it); 404 for a view the simulator
    does not sell or a future list, 800002 for a bad market, timeline or month."""
    if not re.fullmatch(r"[A-Za-z]{2}", market):
        raise invalid_input(f"Market must be a two-letter country code, not {market!r}.")
    if view.lower() != VIEW:
        raise SimFault(404, "1000", f"The price sheet view {view!r} is not available; the simulator serves {VIEW}.")
    values = {key.lower(): value for key, value in query.items()}
    timeline = values.get("timeline", "current").lower()
    if timeline == "future":
        raise SimFault(404, "1000", "No future price list: no price change is planned.")
    if timeline == "current":
        start = datetime(now.year, now.month, 1, tzinfo=UTC)
    elif timeline == "history":
        start = _month(values.get("month"))
    else:
        raise invalid_input(f"timeline must be history, current or future, not {timeline!r}.")
    end = add_months(start, 1) - timedelta(seconds=1)
    text = _csv(offers, market=market.upper(), start=start, end=end)
    if headers.get("accept-encoding", "").strip().lower() == "deflate":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("sheets.csv", text)
        return Reply(200, buffer.getvalue(), _file_headers("sheets.zip"))
    return Reply(200, text.encode("utf-8"), _file_headers("sheets.csv"))


def _month(value: str | None) -> datetime:
    found = _MONTH.fullmatch(value or "")
    if found is None or not 1 <= int(found.group(2)) <= 12:
        raise invalid_input("A history price sheet needs month=YYYYMM.")
    return datetime(int(found.group(1)), int(found.group(2)), 1, tzinfo=UTC)


def _file_headers(filename: str) -> dict[str, str]:
    return {"Content-Type": "application/octet-stream", "Content-Disposition": f"attachment; filename={filename}"}


def _csv(offers: Iterable[NceOffer], *, market: str, start: datetime, end: datetime) -> str:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for offer in offers:
        for term in offer.terms:
            writer.writerow(
                (
                    offer.product_title,
                    offer.product_id,
                    offer.sku_id,
                    offer.name,
                    "Microsoft Corporation",
                    offer.description,
                    "",
                    term.duration,
                    term.billing_cycle.capitalize(),
                    market,
                    offer.currency,
                    _amount(plan_price(offer.unit_price, term.billing_cycle)),
                    "",
                    "",
                    _date(start),
                    _date(end),
                    "License",
                    _amount(plan_price(offer.erp_price, term.billing_cycle)),
                )
            )
    return out.getvalue()


def plan_price(monthly: Decimal, billing_cycle: str) -> Decimal:
    """One license for one billing period of ``billing_cycle`` (the sheet's ``UnitPrice``, or ``ERP Price``): the
    offer's monthly price * the plan's months, to four decimals. What the simulator charges (charges.py) too."""
    return (monthly * CYCLE_MONTHS[billing_cycle]).quantize(_PRICE_QUANTUM, ROUND_HALF_UP)


def _amount(value: Decimal) -> str:
    """As the page writes prices: no trailing zeros (``115.2``, ``144``)."""
    text = format(value.quantize(_PRICE_QUANTUM, ROUND_HALF_UP).normalize(), "f")
    return text


def _date(moment: datetime) -> str:
    """``2/1/2019 12:00:00 AM``: month/day/year, a 12-hour clock."""
    hour = moment.hour % 12 or 12
    half = "AM" if moment.hour < 12 else "PM"
    return f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment.minute:02d}:{moment.second:02d} {half}"
