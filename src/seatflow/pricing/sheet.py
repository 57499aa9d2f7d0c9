"""Reading Microsoft's new-commerce license-based price sheet (pure: bytes in, rows out; no database).

The columns are those of ``GET /v1.0/sales/pricesheets(Market='US',PricesheetView='updatedlicensebased')/$value``
(developer/get-a-price-sheet.md, SPEC §15): ``ProductTitle, ProductId, SkuId, SkuTitle, Publisher,
SkuDescription, UnitOfMeasure, TermDuration, BillingPlan, Market, Currency, UnitPrice, PricingTierRangeMin,
PricingTierRangeMax, EffectiveStartDate, EffectiveEndDate, Tags, ERP Price``. Columns are found by name, in any
order; extra columns are ignored. ``UnitPrice`` and ``ERP Price`` are the price of one license for one billing
period (the page's example: P1Y billed Annual at 115.2, ERP 144: 9.60 and 12.00 a month).

Accepted: UTF-8 with or without a byte-order mark; Microsoft's dates (``2/1/2019 12:00:00 AM``, month first, a
12-hour clock; also without the time) and ISO dates or timestamps (``2019-02-01``, ``2019-02-01T00:00:00Z``),
all UTC, of which the date is kept; the page's header as printed, whose last name closes with a typographic
quote (``"ERP Price“``). Anything else that cannot be read is a ``PriceSheetInvalid`` naming the line (1 is the
header) and the column.
"""

from __future__ import annotations

import csv
import io
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from seatflow.catalog.models import NAME_LENGTH, BillingPlan, Term
from seatflow.money import PRICE_SCALE
from seatflow.pricing.errors import PriceSheetInvalid
from seatflow.pricing.models import PRODUCT_KEY_LENGTH, SHEET_PRICE_SCALE

REQUIRED_COLUMNS = (
    "ProductId",
    "SkuId",
    "TermDuration",
    "BillingPlan",
    "Market",
    "Currency",
    "UnitPrice",
    "EffectiveStartDate",
    "EffectiveEndDate",
    "ERP Price",
)
OPTIONAL_COLUMNS = ("SkuTitle", "PricingTierRangeMin", "PricingTierRangeMax")
TERMS = {"P1M": Term.P1M, "P1Y": Term.P1Y, "P3Y": Term.P3Y}
PLANS = {"monthly": BillingPlan.MONTHLY, "annual": BillingPlan.ANNUAL, "triennial": BillingPlan.TRIENNIAL}
NCE_PLANS: dict[Term, tuple[BillingPlan, ...]] = {
    Term.P1M: (BillingPlan.MONTHLY,),
    Term.P1Y: (BillingPlan.MONTHLY, BillingPlan.ANNUAL),
    Term.P3Y: (BillingPlan.MONTHLY, BillingPlan.ANNUAL, BillingPlan.TRIENNIAL),
}
_MS_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?")
_ISO_DATE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?)?"
)
_ID = re.compile(r"[A-Za-z0-9]{1,40}")
_MARKET = re.compile(r"[A-Za-z]{2}")
_CURRENCY = re.compile(r"[A-Za-z]{3}")
_SHEET_QUANTUM = Decimal(1).scaleb(-SHEET_PRICE_SCALE)
_MONTH_QUANTUM = Decimal(1).scaleb(-PRICE_SCALE)
_PRICE_LIMIT = Decimal(10) ** 12


@dataclass(slots=True)
class SheetRow:
    line: int
    product_key: str
    term: Term
    billing_plan: BillingPlan
    market: str
    currency: str
    unit_price: Decimal
    erp_price: Decimal | None
    effective_start: date
    effective_end: date | None
    tier_min: int
    tier_max: int | None
    sku_title: str
    cost_per_month: Decimal
    """``unit_price`` / the billing plan's months, rounded half up to four decimals."""
    erp_per_month: Decimal | None


def per_month(price: Decimal, plan: BillingPlan) -> Decimal:
    """The price of one billing period as a price per month: 115.2 billed annually is 115.2 / 12 = 9.60."""
    return (price / plan.months).quantize(_MONTH_QUANTUM, ROUND_HALF_UP)


def invalid(line: int, column: str | None, message: str) -> PriceSheetInvalid:
    where = f"line {line}" + (f", column {column}" if column else "")
    return PriceSheetInvalid(f"{where}: {message}", line=line, column=column)


def decode(content: bytes) -> str:
    """UTF-8, with or without a byte-order mark; a bad byte is an error naming its line."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise invalid(line, None, f"the file is not UTF-8 ({exc.reason}).") from exc


def _fix_header(text: str) -> str:
    """The page prints the last name as ``"ERP Price“``: typographic quotes in the header become plain ones."""
    end = text.find("\n")
    header = text if end < 0 else text[:end]
    if "“" not in header and "”" not in header:
        return text
    fixed = header.replace("“", '"').replace("”", '"')
    return fixed if end < 0 else fixed + text[end:]


def _lines(text: str) -> Iterator[str]:
    """The lines of ``text`` with their endings, as ``io.StringIO(text, newline="")`` yields them, without
    StringIO's copy of the whole text at four bytes a character."""
    if text.count("\r") != text.count("\r\n"):
        yield from io.StringIO(text, newline="")  # a lone \r ends a line too; rare enough for StringIO
        return
    start = 0
    while end := text.find("\n", start) + 1:
        yield text[start:end]
        start = end
    if start < len(text):
        yield text[start:]


_COLUMNS = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
_PLAIN_PRICE = re.compile(r"\d{1,12}(?:\.\d{1,6})?")
"""A price ``_price`` accepts as written (no sign, separator or exponent; 12 digits and 6 decimals at most)."""

Cells = tuple[str, ...]
"""A data row's cells in the order of ``_COLUMNS``, as the CSV has them (not stripped); "" for an absent column."""


def read_sheet(content: bytes) -> Iterator[SheetRow]:
    """Every data row of the sheet, checked; raises ``PriceSheetInvalid`` at the first row that is not."""
    text = _fix_header(decode(content))
    if not text.strip():
        raise invalid(1, None, "the file is empty.")
    reader = csv.reader(_lines(text), strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise invalid(1, None, f"the header cannot be read as CSV ({exc}).") from exc
    names = [name.strip() for name in header]
    index = {name: i for i, name in enumerate(names) if name}
    for column in REQUIRED_COLUMNS:
        if column not in index:
            raise invalid(1, column, f"the column {column} is missing (the header has: {', '.join(names)}).")
    # An absent optional column reads the "" appended to each row (index -1).
    pad = any(c not in index for c in _COLUMNS)
    pick = operator.itemgetter(*(index.get(c, -1) for c in _COLUMNS))
    width = len(names)
    read = _row_reader()
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise invalid(reader.line_num, None, f"the row cannot be read as CSV ({exc}).") from exc
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) < width:
            raise invalid(reader.line_num, names[len(row)], f"the row has {len(row)} fields; the header names {width}.")
        if pad:
            row.append("")
        yield read(pick(row), reader.line_num)


def _row_reader() -> Callable[[Cells, int], SheetRow]:
    """A function reading one row's cells into a ``SheetRow``, checking each cell in the order of ``_COLUMNS``.

    A sheet repeats most of its cells (a SKU's ids and title in every term and plan, one market and currency, a
    few dates), so each column keeps the cells it has already read, by their text as written, and reads a new one
    once: a cell seen before was valid (an invalid one raised), and a row fails at the same first cell, with the
    same message, as when every cell is checked.
    """
    keys: dict[tuple[str, str], str] = {}
    plans: dict[tuple[str, str], tuple[Term, BillingPlan, int]] = {}
    markets: dict[str, str] = {}
    currencies: dict[str, str] = {}
    prices: dict[str, Decimal] = {}
    dates: dict[str, date] = {}
    titles: dict[str, str] = {}
    month = _MONTH_QUANTUM

    def read(cells: Cells, line: int) -> SheetRow:
        (product_id, sku_id, term_text, plan_text, market, currency, cost_text, start_text, end_text, erp_text,
         title_text, min_text, max_text) = cells  # fmt: skip
        key = keys.get((product_id, sku_id))
        if key is None:
            key = keys[(product_id, sku_id)] = _product_key(product_id.strip(), sku_id.strip(), line)
        plan_found = plans.get((term_text, plan_text))
        if plan_found is None:
            plan_found = plans[(term_text, plan_text)] = _term_and_plan(term_text.strip(), plan_text.strip(), line)
        term, plan, months = plan_found
        market_upper = markets.get(market)
        if market_upper is None:
            market_upper = markets[market] = _code(market.strip(), line, "Market", _MARKET, "a two-letter market")
        currency_upper = currencies.get(currency)
        if currency_upper is None:
            currency_upper = currencies[currency] = _code(
                currency.strip(), line, "Currency", _CURRENCY, "a three-letter currency code"
            )
        cost = prices.get(cost_text)
        if cost is None:
            cost = _price(cost_text.strip(), line, "UnitPrice", prices)
            if cost is None:
                raise invalid(line, "UnitPrice", "the price is blank.")
            prices[cost_text] = cost
        erp = prices.get(erp_text)
        if erp is None and erp_text:
            erp = _price(erp_text.strip(), line, "ERP Price", prices)
            if erp is not None:
                prices[erp_text] = erp
        start = dates.get(start_text)
        if start is None:
            start = _date(start_text.strip(), line, "EffectiveStartDate", dates)
            if start is None:
                raise invalid(line, "EffectiveStartDate", "the date is blank.")
            dates[start_text] = start
        end = dates.get(end_text)
        if end is None and end_text:
            end = _date(end_text.strip(), line, "EffectiveEndDate", dates)
            if end is not None:
                dates[end_text] = end
        if end is not None and end < start:
            raise invalid(line, "EffectiveEndDate", f"{end.isoformat()} is before the start, {start.isoformat()}.")
        tier_min = _tier(min_text.strip(), line, "PricingTierRangeMin") if min_text else None
        tier_max = _tier(max_text.strip(), line, "PricingTierRangeMax") if max_text else None
        if tier_max is not None and tier_max < (tier_min or 0):
            raise invalid(line, "PricingTierRangeMax", f"{tier_max} is below the range's minimum, {tier_min}.")
        title = titles.get(title_text)
        if title is None:
            title = titles[title_text] = " ".join(title_text.split())[:NAME_LENGTH]
        return SheetRow(
            line,
            key,
            term,
            plan,
            market_upper,
            currency_upper,
            cost,
            erp,
            start,
            end,
            tier_min or 0,
            tier_max,
            title,
            (cost / months).quantize(month, ROUND_HALF_UP),  # per_month(cost, plan), without the enum lookups
            None if erp is None else (erp / months).quantize(month, ROUND_HALF_UP),
        )

    return read


def _product_key(product_id: str, sku_id: str, line: int) -> str:
    for column, value in (("ProductId", product_id), ("SkuId", sku_id)):
        if not _ID.fullmatch(value):
            raise invalid(line, column, f"{value!r} is not a Microsoft product or SKU id.")
    key = f"{product_id}:{sku_id}".upper()
    if len(key) > PRODUCT_KEY_LENGTH:
        raise invalid(line, "SkuId", f"the key {key} is longer than {PRODUCT_KEY_LENGTH} characters.")
    return key


def _term_and_plan(term_text: str, plan_text: str, line: int) -> tuple[Term, BillingPlan, int]:
    term = TERMS.get(term_text.upper())
    if term is None:
        raise invalid(line, "TermDuration", f"unknown term {term_text!r}; P1M, P1Y or P3Y.")
    plan = PLANS.get(plan_text.lower())
    if plan is None:
        raise invalid(line, "BillingPlan", f"unknown billing plan {plan_text!r}; Monthly, Annual or Triennial.")
    if plan not in NCE_PLANS[term]:
        raise invalid(line, "BillingPlan", f"a {term.value} term is not billed {plan_text}.")
    return term, plan, plan.months


def _code(text: str, line: int, column: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.fullmatch(text):
        raise invalid(line, column, f"{text!r} is not {what}.")
    return text.upper()


def _price(text: str, line: int, column: str, cache: dict[str, Decimal]) -> Decimal | None:
    """A decimal at or above zero with at most six decimals (``115.2``, ``1,234.50`` is refused: no separators)."""
    if not text:
        return None
    found = cache.get(text)
    if found is not None:
        return found
    if _PLAIN_PRICE.fullmatch(text):
        value = cache[text] = Decimal(text)
        return value
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise invalid(line, column, f"{text!r} is not a number.") from None
    if not value.is_finite():
        raise invalid(line, column, f"{text!r} is not a number.")
    if value < 0:
        raise invalid(line, column, f"{text} is negative.")
    if value != value.quantize(_SHEET_QUANTUM, ROUND_HALF_UP):
        raise invalid(line, column, f"{text} has more than {SHEET_PRICE_SCALE} decimals.")
    if value >= _PRICE_LIMIT:
        raise invalid(line, column, f"{text} is beyond any price.")
    cache[text] = value
    return value


def _tier(text: str, line: int, column: str) -> int | None:
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise invalid(line, column, f"{text!r} is not a whole number.") from None
    if not value.is_finite() or value != value.to_integral_value() or value < 0 or value > 2**31 - 1:
        raise invalid(line, column, f"{text!r} is not a whole number of licenses.")
    return int(value)


def _date(text: str, line: int, column: str, cache: dict[str, date]) -> date | None:
    if not text:
        return None
    found = cache.get(text)
    if found is None:
        found = parse_date(text)
        if found is None:
            raise invalid(
                line, column, f"{text!r} is not a date (Microsoft's 2/1/2019 12:00:00 AM, or ISO 2019-02-01)."
            )
        cache[text] = found
    return found


def parse_date(text: str) -> date | None:
    """The UTC date of Microsoft's ``M/D/YYYY[ h:mm[:ss] AM|PM]`` or an ISO date or timestamp; None if neither."""
    try:
        if (ms := _MS_DATE.fullmatch(text)) is not None:
            month, day, year, hour, minute, second, half = ms.groups()
            if hour is not None:
                h = int(hour)
                if half is not None:
                    if not 1 <= h <= 12:
                        return None
                    h = h % 12 + (12 if half.upper() == "PM" else 0)
                datetime(int(year), int(month), int(day), h, int(minute), int(second or 0), tzinfo=UTC)  # a real time
            return date(int(year), int(month), int(day))
        if (iso := _ISO_DATE.fullmatch(text)) is not None:
            year, month, day, hour, minute, second, offset = iso.groups()
            if hour is None:
                return date(int(year), int(month), int(day))
            zone = UTC if offset in (None, "Z") else _zone(offset)
            moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), tzinfo=zone)
            return moment.astimezone(UTC).date()
    except ValueError:
        return None
    return None


def _zone(offset: str) -> timezone:
    sign = -1 if offset[0] == "-" else 1
    digits = offset[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
