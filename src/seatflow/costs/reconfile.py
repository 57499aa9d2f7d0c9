"""Reading Microsoft's new-commerce reconciliation line items (pure: a CSV file or the API's JSON items in, checked
rows out; no database).

The columns are those of the new-commerce invoice reconciliation file (modern-invoice-reconciliation-file.md,
research/nce-and-market.md §1.4): ``PartnerId, CustomerId, CustomerName, CustomerDomainName, CustomerCountry,
InvoiceNumber, MPNID, ResellerMPNID, OrderId, OrderDate, ProductId, SkuId, AvailabilityId, SkuName, ProductName,
ChargeType, UnitPrice, Quantity, Subtotal, TaxTotal, Total, Currency, …, SubscriptionId, ChargeStartDate,
ChargeEndDate, TermAndBillingCycle, EffectiveUnitPrice, UnitType, AlternateId, BillableQuantity, BillingFrequency, …,
ReferenceID, ProductQualifiers, PromotionID``. Columns are found by name in any order, case and spacing ignored, so
the camelCase names of the API and of Microsoft's renamed files (``customerId``, ``totalForCustomer`` for ``Total``)
are read too; extra columns are ignored. Required: ``CustomerId, SubscriptionId, ProductId, SkuId, ChargeType,
ChargeStartDate, ChargeEndDate, Quantity, UnitPrice, EffectiveUnitPrice, Subtotal, Currency``; a blank
``BillableQuantity`` is the ``Quantity``, a blank ``TaxTotal`` 0, a blank ``Total`` the subtotal plus tax.

Values: UTF-8 with or without a byte-order mark; dates as Microsoft writes them (``9/1/2020``, ``2021-05-20T00:00:00Z``,
``2019-02-04T09:22:40.1767993-08:00``), of which the UTC date is kept; amounts as plain decimals (``-9.408``, no
thousands separator), rounded half up to six decimals when they have more; ``Quantity`` a whole number. ``CustomerId``
and ``SubscriptionId`` are kept lower case (Microsoft's ``org:`` prefix on a customer id is dropped), ``ChargeType`` as
written. Anything else that cannot be read is a ``CostFileInvalid`` naming the line (1 is the header) and column.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from seatflow.catalog.models import NAME_LENGTH
from seatflow.costs.errors import CostFileInvalid
from seatflow.costs.models import COST_SCALE, ID_LENGTH, PRODUCT_KEY_LENGTH
from seatflow.pricing.sheet import parse_date

# (field, the column's name as Microsoft's file writes it, other names, required)
COLUMNS: tuple[tuple[str, str, tuple[str, ...], bool], ...] = (
    ("invoice_number", "InvoiceNumber", (), False),
    ("customer_id", "CustomerId", (), True),
    ("customer_name", "CustomerName", (), False),
    ("order_id", "OrderId", (), False),
    ("order_date", "OrderDate", (), False),
    ("product_id", "ProductId", (), True),
    ("sku_id", "SkuId", (), True),
    ("availability_id", "AvailabilityId", (), False),
    ("sku_name", "SkuName", (), False),
    ("product_name", "ProductName", (), False),
    ("charge_type", "ChargeType", (), True),
    ("unit_price", "UnitPrice", (), True),
    ("quantity", "Quantity", (), True),
    ("subtotal", "Subtotal", (), True),
    ("tax_total", "TaxTotal", ("tax",), False),
    ("total", "Total", ("totalForCustomer",), False),
    ("currency", "Currency", (), True),
    ("subscription_id", "SubscriptionId", (), True),
    ("charge_start", "ChargeStartDate", (), True),
    ("charge_end", "ChargeEndDate", (), True),
    ("term_and_billing_cycle", "TermAndBillingCycle", (), False),
    ("effective_unit_price", "EffectiveUnitPrice", (), True),
    ("billable_quantity", "BillableQuantity", (), False),
    ("billing_frequency", "BillingFrequency", (), False),
    ("reference_id", "ReferenceID", (), False),
)
REQUIRED = tuple(name for _, name, _, required in COLUMNS if required)
_ID = re.compile(r"[A-Za-z0-9]{1,40}")
_CURRENCY = re.compile(r"[A-Za-z]{3}")
_QUANTUM = Decimal(1).scaleb(-COST_SCALE)
_LIMIT = Decimal(10) ** 12


@dataclass(frozen=True, slots=True)
class CostRow:
    """One line item, checked. ``line`` is where it was read: a file's line, or an API item's position."""

    line: int
    invoice_number: str
    customer_tenant_id: str
    customer_name: str
    subscription_id: str
    order_id: str
    order_date: date | None
    product_id: str
    sku_id: str
    availability_id: str
    sku_name: str
    product_name: str
    charge_type: str
    charge_start: date
    charge_end: date
    quantity: int
    billable_quantity: Decimal
    unit_price: Decimal
    effective_unit_price: Decimal
    subtotal: Decimal
    tax_total: Decimal
    total: Decimal
    currency: str
    term_and_billing_cycle: str
    billing_frequency: str
    reference_id: str

    @property
    def product_key(self) -> str:
        return f"{self.product_id}:{self.sku_id}".upper()

    @property
    def month(self) -> date:
        """The billing period the line falls in by its own dates: its order date's month (charge start's)."""
        return (self.order_date or self.charge_start).replace(day=1)

    def digest(self) -> str:
        """The line's fields as one text, amounts at six decimals, so the file's ``16`` and the API's ``"16.0"``
        are one line."""
        fields = (
            self.invoice_number.upper(),
            self.customer_tenant_id,
            self.subscription_id,
            self.order_id,
            self.order_date.isoformat() if self.order_date else "",
            self.product_key,
            self.availability_id.upper(),
            self.charge_type,
            self.charge_start.isoformat(),
            self.charge_end.isoformat(),
            str(self.quantity),
            *(f"{value:.6f}" for value in self._amounts()),
            self.currency,
            self.reference_id.lower(),
        )
        return "|".join(fields)

    def _amounts(self) -> tuple[Decimal, ...]:
        return (
            self.billable_quantity,
            self.unit_price,
            self.effective_unit_price,
            self.subtotal,
            self.tax_total,
            self.total,
        )

    def match_key(self) -> tuple[str, str, date, date, Decimal, bool]:
        """What a billed line and the unbilled line it supersedes share: subscription, charge type, charge dates,
        billable quantity and whether it is a charge or a credit."""
        return (
            self.subscription_id,
            self.charge_type.lower(),
            self.charge_start,
            self.charge_end,
            self.billable_quantity,
            self.subtotal < 0,
        )


def line_keys(rows: Iterable[CostRow]) -> list[str]:
    """Each row's ``line_key``: the SHA-256 of its digest and of how many identical rows came before it, so
    re-reading the same lines gives the same keys and two identical charges stay two."""
    seen: dict[str, int] = {}
    keys = []
    for row in rows:
        digest = row.digest()
        count = seen.get(digest, 0)
        seen[digest] = count + 1
        keys.append(hashlib.sha256(f"{digest}#{count}".encode()).hexdigest())
    return keys


def invalid(line: int, column: str | None, message: str) -> CostFileInvalid:
    where = f"line {line}" + (f", column {column}" if column else "")
    return CostFileInvalid(f"{where}: {message}", line=line, column=column)


def _normalised(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_ALIASES = {_normalised(alias): field for field, name, others, _ in COLUMNS for alias in (name, *others)}
_DISPLAY = {field: name for field, name, _, _ in COLUMNS}


def read_file(content: bytes) -> list[CostRow]:
    """Every data row of a reconciliation CSV, checked; raises ``CostFileInvalid`` at the first that is not."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise invalid(line, None, f"the file is not UTF-8 ({exc.reason}).") from exc
    if not text.strip():
        raise invalid(1, None, "the file is empty.")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [name.strip() for name in next(reader)]
    except csv.Error as exc:
        raise invalid(1, None, f"the header cannot be read as CSV ({exc}).") from exc
    index: dict[str, int] = {}
    for position, name in enumerate(header):
        field = _ALIASES.get(_normalised(name))
        if field is not None:
            index.setdefault(field, position)
    for field, name, _, required in COLUMNS:
        if required and field not in index:
            raise invalid(1, name, f"the column {name} is missing (the header has: {', '.join(header)}).")
    rows = []
    for line, cells in _records(reader):
        if len(cells) < len(header):
            missing = next(field for field, position in index.items() if position >= len(cells))
            raise invalid(line, _DISPLAY[missing], f"the row has {len(cells)} fields; the header names {len(header)}.")
        rows.append(_row({field: cells[position].strip() for field, position in index.items()}, line))
    return rows


def _records(reader: Any) -> Iterator[tuple[int, list[str]]]:
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise invalid(reader.line_num, None, f"the row cannot be read as CSV ({exc}).") from exc
        if cells and not (len(cells) == 1 and not cells[0].strip()):
            yield reader.line_num, cells


def read_items(items: Iterable[Mapping[str, Any]], *, first: int = 1) -> list[CostRow]:
    """The API's line items (``OneTimeInvoiceLineItem``), numbered from ``first``; amounts may be JSON numbers or
    decimal strings, as Microsoft's examples write both."""
    rows = []
    for number, item in enumerate(items, start=first):
        values: dict[str, str] = {}
        for key, value in item.items():
            field = _ALIASES.get(_normalised(str(key)))
            if field is None or value is None or isinstance(value, dict | list):
                continue
            if isinstance(value, bool):
                raise invalid(number, _DISPLAY[field], f"{value!r} is not a value of {key}.")
            values.setdefault(field, str(value).strip())
        for field, name, _, required in COLUMNS:
            if field not in values:
                if required:
                    raise invalid(number, name, f"the item has no {name}.")
                values[field] = ""
        rows.append(_row(values, number))
    return rows


def _row(get: dict[str, str], line: int) -> CostRow:
    product_id, sku_id = get["product_id"], get["sku_id"]
    for field, value in (("product_id", product_id), ("sku_id", sku_id)):
        if not _ID.fullmatch(value):
            raise invalid(line, _DISPLAY[field], f"{value!r} is not a Microsoft product or SKU id.")
    if len(product_id) + len(sku_id) + 1 > PRODUCT_KEY_LENGTH:
        raise invalid(line, "SkuId", f"the key {product_id}:{sku_id} is too long.")
    availability = get.get("availability_id", "")
    if availability and not _ID.fullmatch(availability):
        raise invalid(line, "AvailabilityId", f"{availability!r} is not a Microsoft availability id.")
    currency = get["currency"]
    if not _CURRENCY.fullmatch(currency):
        raise invalid(line, "Currency", f"{currency!r} is not a three-letter currency code.")
    start = _date(get["charge_start"], line, "ChargeStartDate", required=True)
    end = _date(get["charge_end"], line, "ChargeEndDate", required=True)
    assert start is not None  # noqa: S101 - a required date is never None
    assert end is not None  # noqa: S101
    if end < start:
        raise invalid(line, "ChargeEndDate", f"{end.isoformat()} is before the charge start, {start.isoformat()}.")
    charge_type = get["charge_type"]
    if not charge_type or len(charge_type) > 32 or not charge_type.isprintable():
        raise invalid(line, "ChargeType", f"{charge_type!r} is not a charge type.")
    quantity = _quantity(get["quantity"], line)
    billable = _amount(get.get("billable_quantity", ""), line, "BillableQuantity")
    subtotal = _required_amount(get["subtotal"], line, "Subtotal")
    tax = _amount(get.get("tax_total", ""), line, "TaxTotal") or Decimal(0)
    total = _amount(get.get("total", ""), line, "Total")
    return CostRow(
        line=line,
        invoice_number=_text(get.get("invoice_number", ""), line, "InvoiceNumber", 40),
        customer_tenant_id=_customer(get["customer_id"], line),
        customer_name=" ".join(get.get("customer_name", "").split())[:NAME_LENGTH],
        subscription_id=_identifier(get["subscription_id"], line, "SubscriptionId"),
        order_id=_text(get.get("order_id", ""), line, "OrderId", ID_LENGTH),
        order_date=_date(get.get("order_date", ""), line, "OrderDate", required=False),
        product_id=product_id.upper(),
        sku_id=sku_id.upper(),
        availability_id=availability.upper(),
        sku_name=" ".join(get.get("sku_name", "").split())[:NAME_LENGTH],
        product_name=" ".join(get.get("product_name", "").split())[:NAME_LENGTH],
        charge_type=charge_type,
        charge_start=start,
        charge_end=end,
        quantity=quantity,
        billable_quantity=Decimal(quantity) if billable is None else billable,
        unit_price=_required_amount(get["unit_price"], line, "UnitPrice"),
        effective_unit_price=_required_amount(get["effective_unit_price"], line, "EffectiveUnitPrice"),
        subtotal=subtotal,
        tax_total=tax,
        total=subtotal + tax if total is None else total,
        currency=currency.upper(),
        term_and_billing_cycle=" ".join(get.get("term_and_billing_cycle", "").split())[:NAME_LENGTH],
        billing_frequency=_text(get.get("billing_frequency", ""), line, "BillingFrequency", 16),
        reference_id=_text(get.get("reference_id", ""), line, "ReferenceID", ID_LENGTH),
    )


def _text(value: str, line: int, column: str, length: int) -> str:
    if len(value) > length or not value.isprintable():
        raise invalid(line, column, f"{value[:60]!r} is not a {column} (at most {length} printable characters).")
    return value


def _identifier(value: str, line: int, column: str) -> str:
    if not value:
        raise invalid(line, column, f"the {column} is blank.")
    return _text(value, line, column, ID_LENGTH).lower()


def _customer(value: str, line: int) -> str:
    """Microsoft's examples also write a customer as ``org:<tenant id>``: the tenant id is what seatflow knows."""
    return _identifier(value[4:] if value.lower().startswith("org:") else value, line, "CustomerId")


def _date(text: str, line: int, column: str, *, required: bool) -> date | None:
    if not text:
        if required:
            raise invalid(line, column, "the date is blank.")
        return None
    found = parse_date(text)
    if found is None:
        raise invalid(line, column, f"{text!r} is not a date (Microsoft's 9/1/2020, or ISO 2020-09-01T00:00:00Z).")
    return found


def _amount(text: str, line: int, column: str) -> Decimal | None:
    """A decimal (negative for a refund), rounded half up to six decimals; None when blank."""
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise invalid(line, column, f"{text!r} is not a number.") from None
    if not value.is_finite() or abs(value) >= _LIMIT:
        raise invalid(line, column, f"{text!r} is not an amount.")
    return value.quantize(_QUANTUM, ROUND_HALF_UP) + 0  # + 0: a "-0" is 0, one digest for both


def _required_amount(text: str, line: int, column: str) -> Decimal:
    value = _amount(text, line, column)
    if value is None:
        raise invalid(line, column, "the amount is blank.")
    return value


def _quantity(text: str, line: int) -> int:
    value = _required_amount(text, line, "Quantity")
    if value != value.to_integral_value() or abs(value) > 2**31 - 1:
        raise invalid(line, "Quantity", f"{text!r} is not a whole number of units.")
    return int(value)
