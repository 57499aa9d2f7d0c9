"""Importing Microsoft's reconciliation lines into a provider account, all or nothing and idempotently.

Every row is read and checked first (``reconfile``), then the rules below, and only then is anything written; the
caller's transaction commits or rolls back (services never commit). Writes are set-based (one ``executemany`` per
kind of change).

**Kind.** An import is *billed* (every line names its invoice; ``invoice_number`` fills the lines of a file that
leaves it blank and must agree with those that do not) or *unbilled* (no line names an invoice). A file with both is
refused at the first line of the other kind.

**Currency.** Every line must be in the account's currency: its ``currency`` setting when set, otherwise the
currency of its products when it has any (pricing's rule); an unbilled fetch asks Partner Center per currency, and
every line it brings must be in it.

**Counting a charge once** (the rules of ``models``): a line already imported (the same ``line_key``) is unchanged;
an unbilled import of a period and currency replaces the account's earlier unbilled lines of that period and currency
it does not hold any more (``replaced``); a new billed line supersedes one in-force unbilled line of the same
subscription, charge type, charge dates, billable quantity and sign, one to one (``superseded``); an unbilled line
arriving after the billed line that covers it is stored superseded.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from seatflow.catalog.models import ProviderAccount, ProviderKind
from seatflow.catalog.providers import require_provider_account
from seatflow.costs.errors import CostAccountInvalid
from seatflow.costs.models import CostImport, CostKind, CostLine, CostSource
from seatflow.costs.reconfile import CostRow, invalid, line_keys
from seatflow.costs.schemas import CostImportResult
from seatflow.db.bulk import execute_many
from seatflow.ids import new_id
from seatflow.pricing.service import account_currencies

_CHUNK = 5_000
"""Keys or subscription ids per ``IN (…)``: well under SQLite's and PostgreSQL's parameter limits."""
_MatchKey = tuple[str, str, date, date, Decimal, bool]


def require_cost_account(account: ProviderAccount) -> ProviderAccount:
    if account.kind is not ProviderKind.PARTNER_CENTER:
        raise CostAccountInvalid(
            f"{account.name} is a {account.kind.value} account: Microsoft's costs are a Partner Center account's."
        )
    return account


def resolve_account(session: Session, account_ref: str | None) -> ProviderAccount:
    """The account named (id or name), or the only Partner Center account when none is named."""
    if account_ref:
        return require_cost_account(require_provider_account(session, account_ref))
    accounts = session.scalars(
        select(ProviderAccount).where(ProviderAccount.kind == ProviderKind.PARTNER_CENTER).limit(2)
    ).all()
    if len(accounts) != 1:
        raise CostAccountInvalid(
            "Name the Partner Center account the costs are for (there is "
            + ("none" if not accounts else "more than one")
            + ")."
        )
    return accounts[0]


def month_start(day: date) -> date:
    return day.replace(day=1)


def import_cost_lines(
    session: Session,
    *,
    account: ProviderAccount,
    lines: Sequence[CostRow],
    now: datetime,
    kind: CostKind | None = None,
    invoice_number: str = "",
    period: date | None = None,
    currency: str | None = None,
    source: CostSource = CostSource.FILE,
    name: str = "",
) -> CostImportResult:
    """Import ``lines`` into ``account``. ``kind`` is read from the lines when not given. An unbilled import with
    ``period`` (a day of the month) and ``currency`` is that period's whole answer: it replaces the period's earlier
    lines of the currency even when it holds none. Raises ``CostFileInvalid`` naming the first bad line before
    anything is written."""
    require_cost_account(account)
    kind, rows = _checked(session, account, lines, kind=kind, invoice_number=invoice_number.strip(), currency=currency)
    period = month_start(period) if period is not None and kind is CostKind.UNBILLED else None
    currencies = sorted({row.currency for row in rows} | ({currency.upper()} if currency else set()))
    invoices = sorted({row.invoice_number for row in rows})
    record = CostImport(
        id=new_id(),
        provider_account_id=account.id,
        source=source,
        name=name[:300],
        kind=kind,
        invoice_number=invoices[0] if len(invoices) == 1 else "",
        period=period,
        currency=currencies[0] if len(currencies) == 1 else None,
        lines_read=len(rows),
        imported_at=now,
    )
    session.add(record)
    session.flush()
    keys = line_keys(rows)
    existing = _existing(session, account.id, keys)
    new_rows = [(key, row) for key, row in zip(keys, rows, strict=True) if key not in existing]
    ids = _insert(session, account.id, record, new_rows, period)
    record.inserted, record.unchanged = len(new_rows), len(rows) - len(new_rows)
    if kind is CostKind.UNBILLED:
        record.inserted += _restore(session, record, existing, keys)
        record.superseded = _cover_by_billed(session, account.id, new_rows, ids)
        pairs = {(period or row.month, row.currency) for row in rows}
        if period is not None and currency:
            pairs.add((period, currency.upper()))
        record.replaced = _replace(session, account.id, record.id, pairs, set(keys))
    else:
        record.superseded = _supersede(session, account.id, record.id, new_rows, ids)
    session.flush()
    subtotals: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        subtotals[row.currency] += row.subtotal
    return CostImportResult(
        import_id=str(record.id),
        provider_account_id=str(account.id),
        source=source.value,
        name=record.name,
        kind=kind.value,
        invoice_number=record.invoice_number,
        period=period,
        currency=record.currency,
        lines_read=record.lines_read,
        inserted=record.inserted,
        unchanged=record.unchanged,
        replaced=record.replaced,
        superseded=record.superseded,
        subtotals=dict(sorted(subtotals.items())),
    )


def _checked(
    session: Session,
    account: ProviderAccount,
    lines: Sequence[CostRow],
    *,
    kind: CostKind | None,
    invoice_number: str,
    currency: str | None,
) -> tuple[CostKind, list[CostRow]]:
    """The import's kind and its rows (a billed file's blank invoice numbers filled in), every rule checked."""
    if invoice_number:
        if kind is CostKind.UNBILLED:
            raise invalid(1, "InvoiceNumber", f"an unbilled import is for no invoice, not {invoice_number}.")
        kind = CostKind.BILLED
    if kind is None and lines:
        kind = CostKind.BILLED if lines[0].invoice_number else CostKind.UNBILLED
    kind = kind or CostKind.UNBILLED
    allowed = {currency.upper()} if currency else account_currencies(session, account)
    rows = []
    for row in lines:
        if allowed and row.currency not in allowed:
            raise invalid(
                row.line,
                "Currency",
                f"{row.currency} is not the currency of {account.name} ({', '.join(sorted(allowed))}).",
            )
        if kind is CostKind.UNBILLED and row.invoice_number:
            raise invalid(row.line, "InvoiceNumber", f"{row.invoice_number}: a billed line among unbilled ones.")
        if kind is CostKind.BILLED:
            if not row.invoice_number and not invoice_number:
                raise invalid(row.line, "InvoiceNumber", "the invoice number is blank among billed lines.")
            if invoice_number and row.invoice_number and row.invoice_number.upper() != invoice_number.upper():
                raise invalid(row.line, "InvoiceNumber", f"{row.invoice_number} is not invoice {invoice_number}.")
            row = dataclasses.replace(row, invoice_number=(row.invoice_number or invoice_number).upper())
        rows.append(row)
    return kind, rows


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


@dataclasses.dataclass(frozen=True)
class _Existing:
    id: uuid.UUID
    superseded_by_import_id: uuid.UUID | None
    superseded_by_line_id: uuid.UUID | None


def _existing(session: Session, account_id: uuid.UUID, keys: Sequence[str]) -> dict[str, _Existing]:
    c = CostLine
    found: dict[str, _Existing] = {}
    for chunk in _chunks(sorted(set(keys))):
        query = select(c.line_key, c.id, c.superseded_by_import_id, c.superseded_by_line_id).where(
            c.provider_account_id == account_id, c.line_key.in_(chunk)
        )
        for key, line_id, by_import, by_line in session.execute(query):
            found[key] = _Existing(line_id, by_import, by_line)
    return found


def _insert(
    session: Session, account_id: uuid.UUID, record: CostImport, rows: list[tuple[str, CostRow]], period: date | None
) -> list[uuid.UUID]:
    ids = [new_id() for _ in rows]
    values = [
        {
            "id": line_id,
            "provider_account_id": account_id,
            "import_id": record.id,
            "line_key": key,
            "invoice_number": row.invoice_number,
            "billed": bool(row.invoice_number),
            "billing_period": period or row.month,
            "customer_tenant_id": row.customer_tenant_id,
            "customer_name": row.customer_name,
            "subscription_id": row.subscription_id,
            "order_id": row.order_id,
            "order_date": row.order_date,
            "product_id": row.product_id,
            "sku_id": row.sku_id,
            "availability_id": row.availability_id,
            "product_key": row.product_key,
            "sku_name": row.sku_name,
            "product_name": row.product_name,
            "charge_type": row.charge_type,
            "charge_start": row.charge_start,
            "charge_end": row.charge_end,
            "quantity": row.quantity,
            "billable_quantity": row.billable_quantity,
            "unit_price": row.unit_price,
            "effective_unit_price": row.effective_unit_price,
            "subtotal": row.subtotal,
            "tax_total": row.tax_total,
            "total": row.total,
            "currency": row.currency,
            "term_and_billing_cycle": row.term_and_billing_cycle,
            "billing_frequency": row.billing_frequency,
            "reference_id": row.reference_id,
            "superseded_by_import_id": None,
            "superseded_by_line_id": None,
        }
        for line_id, (key, row) in zip(ids, rows, strict=True)
    ]
    table = cast(Table, CostLine.__table__)
    for chunk in _chunks(values):
        execute_many(session, insert(table), chunk)
    return ids


def _mark(session: Session, marks: list[dict[str, Any]]) -> None:
    """Set (or clear) ``superseded_by_*`` of the lines named, in one executemany."""
    if not marks:
        return
    table = cast(Table, CostLine.__table__)
    statement = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(superseded_by_import_id=bindparam("b_import"), superseded_by_line_id=bindparam("b_line"))
    )
    for chunk in _chunks(marks):
        execute_many(session, statement, chunk)


def _restore(session: Session, record: CostImport, existing: dict[str, _Existing], keys: Sequence[str]) -> int:
    """Unbilled lines an earlier unbilled import replaced, held again by this one: back in force."""
    back = [
        found.id
        for key in dict.fromkeys(keys)
        if (found := existing.get(key)) is not None
        and found.superseded_by_import_id is not None
        and found.superseded_by_line_id is None
    ]
    _mark(session, [{"b_id": line_id, "b_import": None, "b_line": None} for line_id in back])
    record.unchanged -= len(back)
    return len(back)


def _replace(
    session: Session, account_id: uuid.UUID, import_id: uuid.UUID, pairs: set[tuple[date, str]], keys: set[str]
) -> int:
    c = CostLine
    gone: list[uuid.UUID] = []
    for period, currency in sorted(pairs):
        query = select(c.id, c.line_key).where(
            c.provider_account_id == account_id,
            c.billed.is_(False),
            CostLine.in_force(),
            c.billing_period == period,
            c.currency == currency,
        )
        gone += [line_id for line_id, key in session.execute(query) if key not in keys]
    _mark(session, [{"b_id": line_id, "b_import": import_id, "b_line": None} for line_id in gone])
    return len(gone)


def _match_key(line: Any) -> _MatchKey:
    return (
        line.subscription_id,
        line.charge_type.lower(),
        line.charge_start,
        line.charge_end,
        line.billable_quantity,
        line.subtotal < 0,
    )


def _lines_of(session: Session, account_id: uuid.UUID, subscription_ids: set[str], *, billed: bool) -> list[Any]:
    """The account's in-force lines of these subscriptions, billed or unbilled, in the order imported."""
    c = CostLine
    found: list[Any] = []
    for chunk in _chunks(sorted(subscription_ids)):
        query = (
            select(
                c.id,
                c.import_id,
                c.subscription_id,
                c.charge_type,
                c.charge_start,
                c.charge_end,
                c.billable_quantity,
                c.subtotal,
            )
            .where(c.provider_account_id == account_id, c.billed.is_(billed), CostLine.in_force())
            .where(c.subscription_id.in_(chunk))
        )
        found += session.execute(query).all()
    return sorted(found, key=lambda line: line.id)


def _supersede(
    session: Session, account_id: uuid.UUID, import_id: uuid.UUID, rows: list[tuple[str, CostRow]], ids: list[uuid.UUID]
) -> int:
    """Each new billed line supersedes one in-force unbilled line it matches."""
    waiting: dict[_MatchKey, list[uuid.UUID]] = defaultdict(list)
    for line in _lines_of(session, account_id, {row.subscription_id for _, row in rows}, billed=False):
        waiting[_match_key(line)].append(line.id)
    marks = []
    for line_id, (_, row) in zip(ids, rows, strict=True):
        candidates = waiting.get(row.match_key())
        if candidates:
            marks.append({"b_id": candidates.pop(0), "b_import": import_id, "b_line": line_id})
    _mark(session, marks)
    return len(marks)


def _cover_by_billed(
    session: Session, account_id: uuid.UUID, rows: list[tuple[str, CostRow]], ids: list[uuid.UUID]
) -> int:
    """New unbilled lines a billed line already covers (a stale unbilled answer) are stored superseded by it."""
    billed = {
        _match_key(line): line
        for line in _lines_of(session, account_id, {r.subscription_id for _, r in rows}, billed=True)
    }
    marks = []
    for line_id, (_, row) in zip(ids, rows, strict=True):
        cover = billed.get(row.match_key())
        if cover is not None:
            marks.append({"b_id": line_id, "b_import": cover.import_id, "b_line": cover.id})
    _mark(session, marks)
    return len(marks)
