"""Reading the price sheet from Partner Center (through the real client), to import it.

No transaction may be open while Partner Center answers (SPEC §11): callers read the account and take
``FetchPlan.of(account)``, end that transaction, call ``fetch_price_sheet``, then import in a transaction of
their own."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from seatflow.catalog.models import ProviderAccount
from seatflow.catalog.providers import PartnerCenterSettings
from seatflow.partner_center.client import PartnerCenterClient
from seatflow.pricing.service import account_market, require_price_account


@dataclass(frozen=True)
class FetchPlan:
    """What a fetch needs of the account, read before its transaction ends."""

    account_id: uuid.UUID
    settings: PartnerCenterSettings
    market: str

    @classmethod
    def of(cls, account: ProviderAccount, market: str | None = None) -> FetchPlan:
        require_price_account(account)
        return cls(
            account_id=account.id,
            settings=PartnerCenterSettings.model_validate(account.settings),
            market=(market or account_market(account)).upper(),
        )


@dataclass(frozen=True)
class FetchedSheet:
    content: bytes
    market: str
    name: str
    """What was asked: ``US current`` or ``US history 202612``."""


def fetch_price_sheet(
    plan: FetchPlan, *, month: str | None = None, client: PartnerCenterClient | None = None
) -> FetchedSheet:
    """The price sheet for the plan's market: the current list, or with ``month`` (``YYYYMM``) that month's list
    (``timeline=history``)."""
    own = client is None
    client = client or PartnerCenterClient(plan.settings)
    try:
        if month:
            content = client.get_price_sheet(plan.market, timeline="history", month=month)
        else:
            content = client.get_price_sheet(plan.market, timeline="current")
    finally:
        if own:
            client.close()
    name = f"{plan.market} history {month}" if month else f"{plan.market} current"
    return FetchedSheet(content=content, market=plan.market, name=name)
