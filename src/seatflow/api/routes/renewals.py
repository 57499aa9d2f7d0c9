"""The renewal desk (SPEC §7 "changes at renewal", §10): upcoming renewals and what a subscription's next term will
be. Not renewing is ``PATCH /subscriptions/{id}`` with ``auto_renew: false``; the daily run is ``POST /renewals``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from seatflow.api.routes.catalog import filter_id
from seatflow.customers.service import require_customer
from seatflow.schemas import Page
from seatflow.subscriptions import at_renewal, desk, lifecycle
from seatflow.subscriptions.desk_schemas import RenewalChange, RenewalRead
from seatflow.web.deps import ActorDep, NowDep, SessionDep, TodayDep
from seatflow.web.errors import API_PROBLEMS
from seatflow.web.security import PARAMETER_CHECKS

router = APIRouter(responses=API_PROBLEMS, dependencies=PARAMETER_CHECKS, tags=["renewals"])

Days = Annotated[int, Query(ge=1, le=desk.MAX_DAYS, description="Renewals up to this many days ahead (30, 60, 90…)")]
PageLimit = Annotated[int, Query(ge=1, le=500)]


@router.get("/renewals/upcoming", response_model=Page[RenewalRead])
def upcoming(
    session: SessionDep,
    today: TodayDep,
    days: Days = 30,
    customer_id: str | None = None,
    include_descendants: bool = False,
    cursor: str | None = None,
    limit: PageLimit = 100,
) -> Page[RenewalRead]:
    """Live subscriptions renewing or expiring within ``days`` (an overdue one first), soonest first, each with its
    next term (the changes scheduled for the renewal, combined) and its monthly amount now and after."""
    customer = filter_id("customer_id", customer_id)
    if customer is not None:
        require_customer(session, customer)  # an unknown customer is a 404, not an empty list
    rows, next_cursor = desk.upcoming_renewals(
        session,
        today=today,
        days=days,
        customer_id=customer,
        include_descendants=include_descendants,
        cursor=cursor,
        limit=limit,
    )
    return Page(items=[RenewalRead.from_renewal(r) for r in rows], next_cursor=next_cursor)


@router.get("/subscriptions/{subscription_id}/renewal", response_model=RenewalRead)
def get_renewal(subscription_id: str, session: SessionDep) -> RenewalRead:
    """The subscription's next renewal as the desk shows it, however far ahead."""
    subscription = lifecycle.require_subscription(session, subscription_id)
    return RenewalRead.from_renewal(desk.renewal_of(session, subscription))


@router.post("/subscriptions/{subscription_id}/renewal", response_model=RenewalRead)
def change_at_renewal(
    subscription_id: str, body: RenewalChange, session: SessionDep, today: TodayDep, now: NowDep, actor: ActorDep
) -> RenewalRead:
    """Schedule what the next term will be: quantity, SKU (``product_id``), term, billing plan, co-term. Partner
    Center is sent it ahead of the term's end (``scheduledNextTermInstructions``); the renewal applies it.

    Refused with ``not_renewing`` when auto-renew is off, ``quantity_out_of_range``, ``product_switch_invalid``,
    ``product_not_sellable``, ``addon_parent_invalid``, ``term_not_offered``, ``co_term_invalid``,
    ``linked_parent_locked`` (without ``force`` and a ``reason``) or ``no_change``."""
    subscription = lifecycle.require_subscription(session, subscription_id)
    at_renewal.schedule_at_renewal(
        session,
        subscription_id=subscription.id,
        quantity=body.quantity,
        product_id=body.product_id,
        term=body.term,
        billing_plan=body.billing_plan,
        co_term_subscription_id=body.co_term_subscription_id,
        force=body.force,
        reason=body.reason,
        actor=actor,
        now=now,
        today=today,
    )
    return RenewalRead.from_renewal(desk.renewal_of(session, subscription))


@router.delete("/subscriptions/{subscription_id}/renewal", response_model=RenewalRead)
def clear_renewal_changes(subscription_id: str, session: SessionDep, now: NowDep, actor: ActorDep) -> RenewalRead:
    """Cancel every change scheduled for the renewal: the subscription renews as it is (``no_change`` when nothing
    was scheduled)."""
    subscription = lifecycle.require_subscription(session, subscription_id)
    at_renewal.clear_at_renewal(session, subscription_id=subscription.id, actor=actor, now=now)
    return RenewalRead.from_renewal(desk.renewal_of(session, subscription))
