"""Reading Microsoft's reconciliation lines from Partner Center (through the real client), to import them.

No transaction may be open while Partner Center answers (SPEC §11): callers read the account and take
``CostFetchPlan.of(session, account)``, end that transaction, call ``fetch_costs``, then import what it read in a
transaction of their own with ``import_fetched`` (every batch in that one transaction: all or nothing).

Without a choice, a fetch lists the invoices, reads the billed line items of each invoice the account has no billed
import of yet (oldest first), then the unbilled line items of the previous and the current period in each of the
account's currencies. An invoice can be named to read it (again), or one unbilled period alone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from seatflow.catalog.models import ProviderAccount
from seatflow.catalog.providers import PartnerCenterSettings
from seatflow.costs.errors import CostCurrencyUnknown, CostFileInvalid
from seatflow.costs.models import CostKind, CostSource
from seatflow.costs.queries import imported_invoices
from seatflow.costs.reconfile import CostRow, read_items
from seatflow.costs.schemas import CostFetchResult
from seatflow.costs.service import import_cost_lines, month_start, require_cost_account
from seatflow.partner_center.client import PartnerCenterClient, PartnerCenterError
from seatflow.pricing.service import account_currencies

PERIODS = ("previous", "current")


@dataclass(frozen=True)
class CostFetchPlan:
    """What a fetch needs of the account, read before its transaction ends."""

    account_id: uuid.UUID
    settings: PartnerCenterSettings
    currencies: tuple[str, ...]
    """The currencies unbilled lines are asked in: the one named, else the account's (pricing's rule)."""
    imported: frozenset[str]
    """Invoices the account has a billed import of already."""

    @classmethod
    def of(cls, session: Session, account: ProviderAccount, currency: str | None = None) -> CostFetchPlan:
        require_cost_account(account)
        currencies = {currency.upper()} if currency else account_currencies(session, account)
        return cls(
            account_id=account.id,
            settings=PartnerCenterSettings.model_validate(account.settings),
            currencies=tuple(sorted(currencies)),
            imported=frozenset(imported_invoices(session, account.id)),
        )


@dataclass(frozen=True)
class FetchedLines:
    """One import's worth of lines: an invoice's, or one period's unbilled lines in one currency."""

    kind: CostKind
    rows: list[CostRow]
    name: str
    invoice_number: str = ""
    period: str | None = None
    """``current`` or ``previous`` (unbilled)."""
    currency: str | None = None


@dataclass
class FetchedCosts:
    batches: list[FetchedLines] = field(default_factory=list)
    invoices_listed: int = 0
    invoices_skipped: list[str] = field(default_factory=list)


def fetch_costs(
    plan: CostFetchPlan,
    *,
    invoice: str | None = None,
    unbilled: str | None = None,
    client: PartnerCenterClient | None = None,
) -> FetchedCosts:
    """Read from Partner Center what the choice names (see the module's docstring)."""
    own = client is None
    client = client or PartnerCenterClient(plan.settings)
    try:
        fetched = FetchedCosts()
        if invoice is not None:
            fetched.batches.append(_invoice_lines(client, invoice))
            return fetched
        periods: tuple[str, ...] = (unbilled,) if unbilled is not None else PERIODS
        currencies = set(plan.currencies)
        if unbilled is None:
            invoices = sorted(client.list_invoices(), key=lambda i: (str(i.get("invoiceDate") or ""), str(i.get("id"))))
            fetched.invoices_listed = len(invoices)
            for item in invoices:
                number = str(item.get("id") or "")
                if not number:
                    raise PartnerCenterError("Partner Center listed an invoice without an id.", retryable=True)
                if number.upper() in plan.imported:
                    fetched.invoices_skipped.append(number)
                    continue
                fetched.batches.append(_invoice_lines(client, number))
            if not currencies:
                currencies = {str(i["currencyCode"]).upper() for i in invoices if i.get("currencyCode")}
        if not currencies:
            raise CostCurrencyUnknown(
                "Partner Center's unbilled lines are asked per currency, and the account names none: set its "
                "currency setting, or name the currency."
            )
        for period in periods:
            for currency in sorted(currencies):
                items = client.list_unbilled_line_items(currency, period)
                rows = _rows(items, f"unbilled {period} {currency}")
                fetched.batches.append(
                    FetchedLines(
                        CostKind.UNBILLED, rows, f"unbilled {period} {currency}", period=period, currency=currency
                    )
                )
        return fetched
    finally:
        if own:
            client.close()


def _invoice_lines(client: PartnerCenterClient, invoice: str) -> FetchedLines:
    number = invoice.strip()
    rows = _rows(client.list_invoice_line_items(number), f"invoice {number}")
    return FetchedLines(CostKind.BILLED, rows, f"invoice {number}", invoice_number=number.upper())


def _rows(items: list[dict[str, object]], what: str) -> list[CostRow]:
    """Microsoft's items read as a file's rows; one seatflow cannot read is Partner Center's garbled answer."""
    try:
        return read_items(items)
    except CostFileInvalid as error:
        raise PartnerCenterError(
            f"Partner Center answered a line item of the {what} seatflow cannot read: "
            + error.message.replace("line ", "item ", 1),
            retryable=False,
        ) from error


def period_start(period: str, now: datetime) -> date:
    """The first day of the ``current`` or ``previous`` calendar month of ``now``."""
    current = month_start(now.date())
    return current if period == "current" else month_start(current - timedelta(days=1))


def import_fetched(
    session: Session, *, account: ProviderAccount, fetched: FetchedCosts, now: datetime
) -> CostFetchResult:
    """Import every batch read, in order, in the caller's transaction."""
    results = [
        import_cost_lines(
            session,
            account=account,
            lines=batch.rows,
            now=now,
            kind=batch.kind,
            invoice_number=batch.invoice_number,
            period=period_start(batch.period, now) if batch.period else None,
            currency=batch.currency,
            source=CostSource.PROVIDER,
            name=batch.name,
        )
        for batch in fetched.batches
    ]
    return CostFetchResult(
        imports=results, invoices_listed=fetched.invoices_listed, invoices_skipped=fetched.invoices_skipped
    )
