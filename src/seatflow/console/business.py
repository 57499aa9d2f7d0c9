"""The dashboard's business figures (issue 15 item 3): monthly recurring revenue and Microsoft's monthly cost at
today's prices, changes that failed or are stuck and how long for, and linked parents out of step with their
children. The month's actual margin and its leaks come from the margin report (``console.margin.headline``).

- **MRR**: per currency, quantity x unit price (per unit per month, whatever the billing plan) of the active
  subscriptions that are billed (the subscription and its contract billable).
- **Monthly cost**: per currency, quantity x cost price of the active subscriptions the provider holds (a linked
  child's seats are its parent's: only subscriptions that are not linked children count), where a cost is known.
- **Stuck**: changes awaiting provisioning for longer than ``STUCK_AFTER`` (the worker normally sends a change
  within seconds; one waiting an hour is held up by a backoff, a lease or a dead worker).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import BigInteger, func, select, type_coerce
from sqlalchemy.orm import Session, aliased

from seatflow.contracts.models import BillingContract
from seatflow.money import CENT, PRICE_SCALE
from seatflow.subscriptions import repository
from seatflow.subscriptions.models import LicenseChange, ProvisioningStatus, Subscription, SubscriptionStatus

STUCK_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class Money:
    currency: str
    mrr: Decimal
    monthly_cost: Decimal

    @property
    def margin(self) -> Decimal:
        return self.mrr - self.monthly_cost


@dataclass(frozen=True)
class Waiting:
    count: int
    oldest: datetime | None

    def age(self, now: datetime) -> str:
        """``3 d``, ``5 h``, ``12 min``: how long the oldest has waited."""
        if self.oldest is None:
            return ""
        waited = now - self.oldest
        if waited >= timedelta(days=1):
            return f"{waited.days} d"
        if waited >= timedelta(hours=1):
            return f"{waited.seconds // 3600} h"
        return f"{max(waited.seconds // 60, 0)} min"


@dataclass(frozen=True)
class Business:
    money: list[Money]
    failed: Waiting
    stuck: Waiting
    drifted_parents: int


def recurring(session: Session) -> list[Money]:
    s, c = Subscription, BillingContract
    active = s.status == SubscriptionStatus.ACTIVE
    revenue = dict(
        session.execute(
            select(s.currency, func.sum(s.quantity * type_coerce(s.unit_price, BigInteger)))
            .join(c, c.id == s.contract_id)
            .where(active, s.billable.is_(True), c.billable.is_(True))
            .group_by(s.currency)
        ).all()
    )
    cost = dict(
        session.execute(
            select(s.currency, func.sum(s.quantity * type_coerce(s.cost_price, BigInteger)))
            .where(active, s.linked_subscription_id.is_(None), s.cost_price.is_not(None))
            .group_by(s.currency)
        ).all()
    )
    return [
        Money(currency, _decimal(revenue.get(currency)), _decimal(cost.get(currency)))
        for currency in sorted(set(revenue) | set(cost))
    ]


def _decimal(value: object) -> Decimal:
    """A sum of prices read as the integers ``ScaledDecimal`` stores (10^-PRICE_SCALE units), to the cent."""
    if value is None:
        return Decimal(0)
    return (Decimal(int(str(value))) / Decimal(10) ** PRICE_SCALE).quantize(CENT, rounding=ROUND_HALF_UP)


def waiting(session: Session, status: ProvisioningStatus, *, before: datetime | None = None) -> Waiting:
    query = select(func.count(), func.min(LicenseChange.created_at)).where(LicenseChange.provisioning_status == status)
    if before is not None:
        query = query.where(LicenseChange.created_at < before)
    count, oldest = session.execute(query).one()
    if oldest is not None and oldest.tzinfo is None:  # an aggregate is not read through UTCDateTime
        oldest = oldest.replace(tzinfo=UTC)
    return Waiting(int(count or 0), oldest)


def drifted_parents(session: Session) -> int:
    """Linked parents whose quantity is not the sum of their live children's (SPEC §5)."""
    child = aliased(Subscription)
    live = repository.NOT_CANCELLED
    sums = (
        select(child.linked_subscription_id.label("parent_id"), func.sum(child.quantity).label("seats"))
        .where(child.linked_subscription_id.is_not(None), child.status.in_(live))
        .group_by(child.linked_subscription_id)
        .subquery()
    )
    return int(
        session.scalar(
            select(func.count())
            .select_from(Subscription)
            .join(sums, sums.c.parent_id == Subscription.id)
            .where(Subscription.quantity != sums.c.seats, Subscription.status.in_(live))
        )
        or 0
    )


def business(session: Session, now: datetime) -> Business:
    return Business(
        money=recurring(session),
        failed=waiting(session, ProvisioningStatus.FAILED),
        stuck=waiting(session, ProvisioningStatus.AWAITING, before=now - STUCK_AFTER),
        drifted_parents=drifted_parents(session),
    )
