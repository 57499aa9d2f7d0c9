"""Importing Microsoft's price sheet into a provider account, and the prices in force on a day.

An import is all or nothing: the rows are read and checked first (``sheet.read_sheet``), every rule below is
checked, and only then is anything written; the caller's transaction commits or rolls back (services never
commit). Rows are matched to existing entries on (account, key, term, billing plan, market, currency, effective
start, tier minimum): the same values again are unchanged, another price (or end date, tier maximum, title) is an
update the answer lists, a new key or start is inserted. Lists with a later start (a future list imported ahead)
are kept beside the current one; which one is in force on a day is decided when prices are read.

**Market and currency rules** (SPEC §15 and research/nce-and-market.md §3: prices are per customer market, billed
in the partner's currency):

- The market is the import's (``--market``; by default the account's ``country`` setting). Every row's
  ``Market`` must be it: a sheet of another market imported into the account by mistake is refused.
- A market's sheet is in one currency: every row's ``Currency`` must be the same. It must be the account's
  currency: its ``currency`` setting when set; otherwise the currency of its products when it has any (the
  catalog's prices are in it); otherwise the sheet's own currency is accepted.

Rows for SKUs the account's catalog has no product for are kept and listed (``unmatched_keys``), never dropped:
a product created later finds its prices by its offer ID.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Column,
    Dialect,
    Enum,
    MetaData,
    String,
    Table,
    bindparam,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from seatflow.catalog.models import BillingPlan, Product, ProviderAccount, ProviderKind, Term
from seatflow.catalog.providers import require_provider_account
from seatflow.db.bulk import execute_many, insert_rows
from seatflow.db.types import ScaledDecimal
from seatflow.ids import new_id
from seatflow.money import PRICE_SCALE
from seatflow.pricing.errors import PriceSheetAccountInvalid
from seatflow.pricing.models import SHEET_PRICE_SCALE, ImportSource, PriceSheetEntry, PriceSheetImport
from seatflow.pricing.schemas import MAX_CHANGES_LISTED, PriceChange, PriceSheetImportResult
from seatflow.pricing.sheet import SheetRow, invalid, read_sheet

Progress = Callable[[int], None]
"""Called with the number of rows read so far, every ``PROGRESS_EVERY`` rows and at the end."""
PROGRESS_EVERY = 5_000
_BATCH = 10_000

_Key = tuple[str, Term, BillingPlan, str, str, date, int]


def _key(row: SheetRow) -> _Key:
    return (
        row.product_key,
        row.term,
        row.billing_plan,
        row.market,
        row.currency,
        row.effective_start,
        row.tier_min,
    )


def product_key(offer_id: str | None) -> str | None:
    """The price sheet key of a product's offer ID: ``productId:skuId`` upper case (an availability after it,
    ``CFQ7TTC0LH18:0001:CFQ7TTC0K5DM``, is left out); None for an offer ID that is not new commerce's."""
    parts = (offer_id or "").strip().split(":")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        return None
    return f"{parts[0]}:{parts[1]}".upper()


def require_price_account(account: ProviderAccount) -> ProviderAccount:
    if account.kind is not ProviderKind.PARTNER_CENTER:
        raise PriceSheetAccountInvalid(
            f"{account.name} is a {account.kind.value} account: price sheets are Partner Center's.",
        )
    return account


def account_market(account: ProviderAccount) -> str:
    return str(account.settings.get("country") or "US").upper()


def account_currencies(session: Session, account: ProviderAccount) -> set[str]:
    """The currency a sheet for the account must be in: its setting, else its products'; empty: any one."""
    setting = account.settings.get("currency")
    if setting:
        return {str(setting).upper()}
    found = session.scalars(select(Product.currency).where(Product.provider_account_id == account.id).distinct()).all()
    return {c.upper() for c in found if c}


def import_price_sheet(
    session: Session,
    *,
    account: ProviderAccount,
    content: bytes,
    now: datetime,
    market: str | None = None,
    source: ImportSource = ImportSource.FILE,
    name: str = "",
    progress: Progress | None = None,
) -> PriceSheetImportResult:
    """Import the sheet into ``account``; raises ``PriceSheetInvalid`` naming the line and column of the first
    problem, before anything is written."""
    require_price_account(account)
    market = (market or account_market(account)).upper()
    if len(market) != 2 or not market.isalpha():
        raise invalid(1, "Market", f"the market {market!r} asked for is not a two-letter country code.")
    allowed = account_currencies(session, account)
    rows: list[SheetRow] = []
    seen: dict[_Key, int] = {}
    currency: str | None = None
    for row in read_sheet(content):
        if row.market != market:
            raise invalid(row.line, "Market", f"{row.market} is not the market imported, {market}.")
        if currency is None:
            if allowed and row.currency not in allowed:
                raise invalid(
                    row.line,
                    "Currency",
                    f"{row.currency} is not the currency of {account.name} ({', '.join(sorted(allowed))}).",
                )
            currency = row.currency
        elif row.currency != currency:
            raise invalid(row.line, "Currency", f"{row.currency}: the sheet's prices are in {currency}.")
        key = _key(row)
        first = seen.get(key)
        if first is not None:
            raise invalid(
                row.line, "EffectiveStartDate", f"line {first} has the same product, term, plan and start already."
            )
        seen[key] = row.line
        rows.append(row)
        if progress is not None and len(rows) % PROGRESS_EVERY == 0:
            progress(len(rows))
    if progress is not None:
        progress(len(rows))
    today = now.date()
    record = PriceSheetImport(
        id=new_id(),
        provider_account_id=account.id,
        source=source,
        name=name[:300],
        market=market,
        currency=currency,
        imported_at=now,
    )
    session.add(record)
    session.flush()
    result = PriceSheetImportResult(
        import_id=str(record.id),
        provider_account_id=str(account.id),
        source=source.value,
        name=record.name,
        market=market,
        currency=currency,
        rows_read=len(rows),
        future_rows=sum(1 for r in rows if r.effective_start > today),
        effective_starts=sorted({r.effective_start for r in rows}),
    )
    _write(session, account.id, record.id, rows, list(seen), result)  # seen's keys are the rows' keys, in order
    _match(session, account.id, rows, result)
    record.rows_read, record.inserted, record.updated = result.rows_read, result.inserted, result.updated
    record.unchanged, record.unmatched_rows = result.unchanged, result.unmatched_rows
    session.flush()
    return result


_Found = tuple[Any, int, int | None, date | None, int | None, str]
"""An entry already stored: id (as the driver reads it), unit and ERP price (scaled integers, as stored), end,
tier maximum, title."""


def _existing(session: Session, account_id: uuid.UUID, starts: Iterable[date]) -> dict[_Key, _Found]:
    """The account's entries with one of these starts, by key, read with little conversion: prices as their
    stored integers and enums as their stored strings (``_RAW``; a ``Term`` or ``BillingPlan`` is a ``str`` equal
    to its value, so a sheet row's key finds its entry), ids as the driver reads them (``_stored`` makes UUIDs
    of the few updated), dates converted once per distinct value."""
    c = _RAW.c
    as_read = String()  # no result processing on either database: the driver's value
    query = select(
        c.product_key,
        c.term,
        c.billing_plan,
        c.market,
        c.currency,
        type_coerce(c.effective_start, as_read),
        c.tier_min,
        type_coerce(c.id, as_read),
        c.unit_price,
        c.erp_price,
        type_coerce(c.effective_end, as_read),
        c.tier_max,
        c.sku_title,
    ).where(c.provider_account_id == account_id, c.effective_start.in_(sorted(set(starts))))
    as_date = _stored(c.effective_start.type, session.connection().dialect)
    found: dict[_Key, _Found] = {}
    for (
        product_key,
        term,
        plan,
        market,
        currency,
        start,
        tier_min,
        entry_id,
        cost,
        erp,
        end,
        tier_max,
        title,
    ) in session.execute(query).all():
        found[(product_key, term, plan, market, currency, as_date(start), tier_min)] = (
            entry_id,
            cost,
            erp,
            as_date(end),
            tier_max,
            title,
        )
    return found


def _stored(kind: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any]:
    """What SQLAlchemy makes of a stored value of ``kind`` read on ``dialect`` (a date from SQLite's text, ...),
    converted once per distinct value."""
    processor = kind.dialect_impl(dialect).result_processor(dialect, None)
    if processor is None:
        return lambda value: value
    cache: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        try:
            return cache[value]
        except KeyError:
            found = cache[value] = processor(value)
            return found

    return convert


def _raw_table() -> Table:
    """``price_sheet_entries`` with its scaled prices as plain integers and its enums as plain strings: the hot
    insert, update and read convert them once per row in a tight loop (or not at all) instead of through the
    types' processors."""
    table = cast(Table, PriceSheetEntry.__table__)
    columns = []
    for column in table.columns:
        kind: Any = column.type
        if isinstance(kind, ScaledDecimal):
            kind = BigInteger()
        elif isinstance(kind, Enum):
            kind = String()
        columns.append(Column(column.name, kind, primary_key=column.primary_key))
    return Table(table.name, MetaData(), *columns)


_RAW = _raw_table()
_INSERTED = ("id", "provider_account_id", "product_key", "term", "billing_plan", "market", "currency", "unit_price",
             "erp_price", "cost_per_month", "erp_per_month", "effective_start", "effective_end", "tier_min",
             "tier_max", "sku_title", "import_id")  # fmt: skip
_TERMS: dict[Term, str] = {term: term.value for term in Term}
_PLANS: dict[BillingPlan, str] = {plan: plan.value for plan in BillingPlan}
_SHEET_FACTOR = Decimal(10) ** SHEET_PRICE_SCALE
_MONTH_FACTOR = Decimal(10) ** PRICE_SCALE


def _write(
    session: Session,
    account_id: uuid.UUID,
    import_id: uuid.UUID,
    rows: list[SheetRow],
    keys: list[_Key],
    result: PriceSheetImportResult,
) -> None:
    """Insert the rows whose key is new, update those whose values changed. Prices are scaled to the stored
    integers here (exact: the sheet's have at most six decimals, the per-month ones four)."""
    dialect = session.connection().dialect
    existing = _existing(session, account_id, {r.effective_start for r in rows}) if rows else {}
    entry_id_of = _stored(_RAW.c.id.type, dialect)
    sheet, month = _SHEET_FACTOR, _MONTH_FACTOR
    inserts: list[tuple[Any, ...]] = []
    updates: list[dict[str, Any]] = []
    terms, plans = _TERMS, _PLANS
    for row, key in zip(rows, keys, strict=True):
        found = existing.get(key) if existing else None
        unit_price = int(row.unit_price * sheet)
        erp_price = None if row.erp_price is None else int(row.erp_price * sheet)
        if found is None:
            inserts.append(
                (
                    new_id(),
                    account_id,
                    row.product_key,
                    terms[row.term],
                    plans[row.billing_plan],
                    row.market,
                    row.currency,
                    unit_price,
                    erp_price,
                    int(row.cost_per_month * month),
                    None if row.erp_per_month is None else int(row.erp_per_month * month),
                    row.effective_start,
                    row.effective_end,
                    row.tier_min,
                    row.tier_max,
                    row.sku_title,
                    import_id,
                )
            )
            continue
        entry_id, cost, erp, end, tier_max, title = found
        if (cost, erp, end, tier_max, title) == (unit_price, erp_price, row.effective_end, row.tier_max, row.sku_title):
            result.unchanged += 1
            continue
        updates.append(
            {
                "b_id": entry_id_of(entry_id),
                "b_unit_price": unit_price,
                "b_erp_price": erp_price,
                "b_cost_per_month": int(row.cost_per_month * month),
                "b_erp_per_month": None if row.erp_per_month is None else int(row.erp_per_month * month),
                "b_effective_end": row.effective_end,
                "b_tier_max": row.tier_max,
                "b_sku_title": row.sku_title,
                "b_import_id": import_id,
            }
        )
        if len(result.changes) < MAX_CHANGES_LISTED:
            result.changes.append(
                PriceChange(
                    line=row.line,
                    product_key=row.product_key,
                    term=row.term,
                    billing_plan=row.billing_plan,
                    market=row.market,
                    currency=row.currency,
                    effective_start=row.effective_start,
                    cost_before=_stored_price("unit_price", cost, dialect),
                    cost_after=row.unit_price,
                    erp_before=_stored_price("erp_price", erp, dialect),
                    erp_after=row.erp_price,
                    effective_end_before=end,
                    effective_end_after=row.effective_end,
                )
            )
    table = _RAW
    insert_rows(session, table, _INSERTED, inserts)
    if updates:
        statement = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                unit_price=bindparam("b_unit_price"),
                erp_price=bindparam("b_erp_price"),
                cost_per_month=bindparam("b_cost_per_month"),
                erp_per_month=bindparam("b_erp_per_month"),
                effective_end=bindparam("b_effective_end"),
                tier_max=bindparam("b_tier_max"),
                sku_title=bindparam("b_sku_title"),
                import_id=bindparam("b_import_id"),
            )
        )
        for start in range(0, len(updates), _BATCH):
            execute_many(session, statement, updates[start : start + _BATCH])
    result.inserted, result.updated = len(inserts), len(updates)


def _stored_price(column: str, stored: int | None, dialect: Dialect) -> Decimal | None:
    """The Decimal the mapped column reads for a stored integer (the same digits as reading the entry)."""
    kind = cast(ScaledDecimal, cast(Table, PriceSheetEntry.__table__).c[column].type)
    return kind.process_result_value(stored, dialect)


def _match(session: Session, account_id: uuid.UUID, rows: list[SheetRow], result: PriceSheetImportResult) -> None:
    offers = session.execute(
        select(Product.id, Product.offer_id).where(Product.provider_account_id == account_id)
    ).all()
    products_by_key: dict[str, set[uuid.UUID]] = {}
    for product_id, offer_id in offers:
        key = product_key(offer_id)
        if key is not None:
            products_by_key.setdefault(key, set()).add(product_id)
    matched: set[uuid.UUID] = set()
    unmatched: set[str] = set()
    for key in {r.product_key for r in rows}:
        found = products_by_key.get(key)
        if found:
            matched |= found
        else:
            unmatched.add(key)
    result.matched_products = len(matched)
    result.unmatched_keys = sorted(unmatched)
    result.unmatched_rows = sum(1 for r in rows if r.product_key in unmatched)


# --- the prices in force ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitPrices:
    """Cost and ERP per unit per month of one product, term, billing plan, market and currency on a day."""

    cost_per_month: Decimal
    erp_per_month: Decimal | None
    entry: PriceSheetEntry


def entries_in_force(
    session: Session,
    *,
    product: Product,
    on: date,
    market: str | None = None,
    currency: str | None = None,
) -> list[PriceSheetEntry]:
    """The product's entries in force on ``on``: for each term, plan, market, currency and tier, the one with the
    latest effective start on or before ``on`` whose end (if any) is not before it."""
    key = product_key(product.offer_id)
    if key is None:
        return []
    e = PriceSheetEntry
    query = (
        select(e)
        .where(
            e.provider_account_id == product.provider_account_id,
            e.product_key == key,
            e.effective_start <= on,
            or_(e.effective_end.is_(None), e.effective_end >= on),
        )
        .order_by(e.effective_start.desc())
    )
    if market is not None:
        query = query.where(e.market == market.upper())
    if currency is not None:
        query = query.where(e.currency == currency.upper())
    chosen: dict[tuple[Term, BillingPlan, str, str, int], PriceSheetEntry] = {}
    for entry in session.scalars(query):
        chosen.setdefault((entry.term, entry.billing_plan, entry.market, entry.currency, entry.tier_min), entry)
    return sorted(
        chosen.values(),
        key=lambda x: (x.market, x.currency, x.term.months, x.billing_plan.months, x.tier_min),
    )


def unit_prices(
    session: Session,
    *,
    product: Product,
    term: Term,
    billing_plan: BillingPlan,
    market: str,
    currency: str,
    on: date,
    quantity: int = 1,
) -> UnitPrices | None:
    """Cost and ERP per unit per month in force on ``on`` for the product sold in ``term`` billed ``billing_plan``
    to a customer of ``market`` in ``currency`` (the tier that holds ``quantity``); None when the sheet has none.
    The pricing rules read this."""
    for entry in entries_in_force(session, product=product, on=on, market=market, currency=currency):
        if entry.term is not term or entry.billing_plan is not billing_plan:
            continue
        if entry.tier_min <= quantity and (entry.tier_max is None or quantity <= entry.tier_max):
            return UnitPrices(entry.cost_per_month, entry.erp_per_month, entry)
    return None


def resolve_account(session: Session, account_ref: str | None) -> ProviderAccount:
    """The account named (id or name), or the only Partner Center account when none is named."""
    if account_ref:
        return require_price_account(require_provider_account(session, account_ref))
    accounts = session.scalars(
        select(ProviderAccount).where(ProviderAccount.kind == ProviderKind.PARTNER_CENTER).limit(2)
    ).all()
    if len(accounts) != 1:
        raise PriceSheetAccountInvalid(
            "Name the Partner Center account to import into (there is "
            + ("none" if not accounts else "more than one")
            + ")."
        )
    return accounts[0]
