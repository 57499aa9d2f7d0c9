"""The renewal desk (SPEC §7 "changes at renewal", §10): which subscriptions renew in the next 30/60/90 days and
what their next term will be; changes scheduled for the renewal, refused when they could not hold, and applied by
the renewal run. Today is FACTORY_TODAY (2026-12-01)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from seatflow.catalog import repository as catalog_repository
from seatflow.catalog.models import BillingPlan, Product, ProductKind, Term
from seatflow.catalog.schemas import PlanIn
from seatflow.catalog.service import retire_product
from seatflow.contracts.models import BillingContract
from seatflow.customers.models import CustomerAccount
from seatflow.errors import SeatflowError
from seatflow.subscriptions import at_renewal, lifecycle
from seatflow.subscriptions.desk import Renewal, csv_row, renewal_of, upcoming_renewals
from seatflow.subscriptions.models import (
    ChangeKind,
    ScheduledChange,
    ScheduledStatus,
    Subscription,
    SubscriptionStatus,
)
from seatflow.subscriptions.renewals import run_renewals
from seatflow.subscriptions.schemas import SubscriptionUpdate
from tests.factories import (
    FACTORY_TODAY,
    OPERATOR,
    DemoCatalog,
    create_contract,
    create_customer,
    create_product,
    create_subscription,
    load_demo_catalog,
    noon,
)
from tests.subscriptions.helpers import changes_of, fresh, pine_cone_vet

TODAY = FACTORY_TODAY  # 2026-12-01


@dataclass(frozen=True)
class Desk:
    catalog: DemoCatalog
    contoso: CustomerAccount
    contoso_branch: CustomerAccount
    contract: BillingContract
    monthly: Product
    teams: Subscription
    """P1M, renews 2026-12-20 (in 19 days)."""
    e3: Subscription
    """P1Y, renews 2027-01-15 (in 45 days)."""
    premium: Subscription
    """Business Premium P1Y, renews 2027-02-20 (in 81 days), with an Exchange Online Archiving add-on."""
    archiving: Subscription
    """The add-on, P1Y, renews 2027-03-10 (in 99 days)."""
    branch_e3: Subscription
    """The branch's (a child account), renews 2026-12-10 (in 9 days)."""


@pytest.fixture
def desk(session: Session) -> Desk:
    catalog = load_demo_catalog(session)
    contoso = create_customer(session, name="Contoso", tenant_id="contoso-tenant")
    branch = create_customer(session, name="Contoso Branch", parent=contoso)
    contract = create_contract(session, customer=contoso, name="Contoso - Main", start_date=date(2026, 1, 1))
    branch_contract = create_contract(session, customer=branch, name="Contoso Branch", start_date=date(2026, 1, 1))
    monthly = create_product(
        session,
        account=catalog.partner_center,
        name="Teams Essentials",
        list_price=None,
        plans=[
            PlanIn(term=Term.P1M, billing_plan=BillingPlan.MONTHLY, list_price=Decimal("4.00")),  # the default
            PlanIn(term=Term.P1Y, billing_plan=BillingPlan.MONTHLY, list_price=Decimal("3.50")),
            PlanIn(term=Term.P1Y, billing_plan=BillingPlan.ANNUAL, list_price=Decimal("3.33")),
        ],
    )
    premium = create_subscription(
        session, contract=contract, product=catalog.business_premium, quantity=20, start_date=date(2026, 2, 20)
    )
    archiving_product = next(p for p in _addons(session, catalog) if p.name.startswith("Exchange Online Archiving"))
    desk = Desk(
        catalog=catalog,
        contoso=contoso,
        contoso_branch=branch,
        contract=contract,
        monthly=monthly,
        teams=create_subscription(
            session, contract=contract, product=monthly, quantity=5, start_date=date(2026, 11, 20)
        ),
        e3=create_subscription(
            session, contract=contract, product=catalog.e3, quantity=10, start_date=date(2026, 1, 15)
        ),
        premium=premium,
        archiving=create_subscription(
            session,
            contract=contract,
            product=archiving_product,
            quantity=20,
            parent=premium,
            start_date=date(2026, 3, 10),
            term=Term.P1Y,
            billing_plan=BillingPlan.MONTHLY,
        ),
        branch_e3=create_subscription(
            session, contract=branch_contract, product=catalog.e3, quantity=3, start_date=date(2025, 12, 10)
        ),
    )
    # Not on the desk: one that renews in a year, and one cancelled.
    create_subscription(session, contract=contract, product=catalog.ems, quantity=4)
    gone = create_subscription(session, contract=contract, product=catalog.ems, quantity=2, start_date=date(2026, 1, 5))
    lifecycle.cancel(session, subscription=gone, cascade=False, today=TODAY, now=noon(TODAY), actor=OPERATOR)
    return desk


def _addons(session: Session, catalog: DemoCatalog) -> list[Product]:
    return [p for p in catalog_repository.all_products(session) if p.kind is ProductKind.ADDON]


def addon(session: Session, catalog: DemoCatalog, name: str) -> Product:
    return next(p for p in _addons(session, catalog) if p.name.startswith(name))


def upcoming(
    session: Session, days: int, *, customer: CustomerAccount | None = None, descendants: bool = False
) -> list[Renewal]:
    session.flush()
    rows, cursor = upcoming_renewals(
        session,
        today=TODAY,
        days=days,
        customer_id=customer.id if customer else None,
        include_descendants=descendants,
    )
    assert cursor is None
    return rows


def names(rows: list[Renewal]) -> list[tuple[str, date]]:
    return [
        (r.product.name if r.customer.name == "Contoso" else f"branch {r.product.name}", r.renewal_date) for r in rows
    ]


def schedule(session: Session, subscription: Subscription, **asked: object) -> ScheduledChange:
    return at_renewal.schedule_at_renewal(
        session,
        subscription_id=subscription.id,
        actor=OPERATOR,
        now=noon(TODAY),
        today=TODAY,
        **asked,  # type: ignore[arg-type]
    )


def refused(session: Session, subscription: Subscription, **asked: object) -> SeatflowError:
    with pytest.raises(SeatflowError) as caught, session.begin_nested():
        schedule(session, subscription, **asked)
    return caught.value


class TestUpcoming:
    def test_30_60_90_days_list_the_live_subscriptions_renewing_soonest_first(
        self, session: Session, desk: Desk
    ) -> None:
        assert names(upcoming(session, 30)) == [
            ("branch Microsoft 365 E3", date(2026, 12, 10)),
            ("Teams Essentials", date(2026, 12, 20)),
        ]
        assert names(upcoming(session, 60)) == [
            ("branch Microsoft 365 E3", date(2026, 12, 10)),
            ("Teams Essentials", date(2026, 12, 20)),
            ("Microsoft 365 E3", date(2027, 1, 15)),
        ]
        ninety = upcoming(session, 90)
        assert names(ninety)[-1] == ("Office 365 Business Premium", date(2027, 2, 20))
        assert len(ninety) == 4  # not the add-on (2027-03-10), the new EMS (2027-12-01), the cancelled one
        # The last day is in the window: from 2026-11-20, Teams renews on day 30 (2026-12-20), not within 29 days.
        in_30, _ = upcoming_renewals(session, today=date(2026, 11, 20), days=30)
        in_29, _ = upcoming_renewals(session, today=date(2026, 11, 20), days=29)
        assert [r.renewal_date for r in in_30] == [date(2026, 12, 10), date(2026, 12, 20)]
        assert [r.renewal_date for r in in_29] == [date(2026, 12, 10)]

    def test_each_row_has_its_contract_term_and_monthly_amount(self, session: Session, desk: Desk) -> None:
        [e3] = [r for r in upcoming(session, 60) if r.subscription.id == desk.e3.id]
        assert (e3.customer.name, e3.contract.name) == ("Contoso", "Contoso - Main")
        assert (e3.subscription.term, e3.subscription.billing_plan) == (Term.P1Y, BillingPlan.MONTHLY)
        assert e3.subscription.term_end == date(2027, 1, 14)
        assert e3.monthly_amount == Decimal("360.00")  # 10 x 36.00
        assert e3.monthly_amount_after == Decimal("360.00")  # renews as it is
        assert e3.changes == ()
        assert e3.expires_on is None
        assert e3.next_term is not None
        assert e3.next_term.term_end == date(2028, 1, 14)

    def test_one_customer_and_if_asked_its_accounts_below(self, session: Session, desk: Desk) -> None:
        assert [r.customer.name for r in upcoming(session, 30, customer=desk.contoso)] == ["Contoso"]
        both = upcoming(session, 30, customer=desk.contoso, descendants=True)
        assert [r.customer.name for r in both] == ["Contoso Branch", "Contoso"]
        assert [r.customer.name for r in upcoming(session, 30, customer=desk.contoso_branch)] == ["Contoso Branch"]

    def test_a_subscription_that_does_not_renew_shows_the_day_it_expires(self, session: Session, desk: Desk) -> None:
        dont_renew(session, desk.teams)
        [teams] = [r for r in upcoming(session, 30) if r.subscription.id == desk.teams.id]
        assert teams.expires_on == date(2026, 12, 20)
        assert teams.next_term is None
        assert teams.monthly_amount == Decimal("20.00")  # 5 x 4.00
        assert teams.monthly_amount_after == Decimal("0.00")  # nothing is billed after it expires
        assert csv_row(teams)[-1] == "expires"

    def test_days_outside_1_to_366_are_refused(self, session: Session, desk: Desk) -> None:
        for days in (0, 367):
            with pytest.raises(SeatflowError) as caught:
                upcoming_renewals(session, today=TODAY, days=days)
            assert caught.value.code == "invalid_days"

    def test_pages_follow_the_renewal_date(self, session: Session, desk: Desk) -> None:
        first, cursor = upcoming_renewals(session, today=TODAY, days=90, limit=3)
        assert cursor is not None
        rest, end = upcoming_renewals(session, today=TODAY, days=90, limit=3, cursor=cursor)
        assert end is None
        assert [r.renewal_date for r in first + rest] == [
            date(2026, 12, 10),
            date(2026, 12, 20),
            date(2027, 1, 15),
            date(2027, 2, 20),
        ]


def dont_renew(session: Session, subscription: Subscription, enabled: bool = False) -> None:
    lifecycle.update_subscription(
        session,
        subscription=subscription,
        data=SubscriptionUpdate(auto_renew=enabled),
        today=TODAY,
        now=noon(TODAY),
        actor=OPERATOR,
    )


class TestScheduleAtRenewal:
    def test_another_sku_and_quantity_show_what_changes_and_the_new_monthly_amount(
        self, session: Session, desk: Desk
    ) -> None:
        schedule(session, desk.e3, product_id=str(desk.catalog.e5.id))
        schedule(session, desk.e3, quantity=12)
        row = renewal_of(session, fresh(session, desk.e3))
        assert row.next_term is not None
        assert (row.next_term.quantity, row.next_term.product.name) == (12, "Office 365 E5")
        assert (row.next_term.next.term, row.next_term.next.billing_plan) == (Term.P1Y, BillingPlan.MONTHLY)
        assert row.next_term.unit_price == Decimal("38.00")  # E5's P1Y monthly list price: E3 was on list price
        assert row.monthly_amount == Decimal("360.00")  # 10 x 36.00
        assert row.monthly_amount_after == Decimal("456.00")  # 12 x 38.00
        assert [(d.what, d.before, d.after) for d in row.changes] == [
            ("quantity", "10", "12"),
            ("product", "Microsoft 365 E3", "Office 365 E5"),
            ("unit price", "36.00", "38.00"),
        ]
        assert len(row.scheduled) == 2

    def test_partner_center_is_told_each_time_the_next_term_changes(self, session: Session, desk: Desk) -> None:
        schedule(session, desk.e3, term=Term.P1Y, billing_plan=BillingPlan.ANNUAL)
        next_terms = [c for c in changes_of(session, desk.e3) if c.kind is ChangeKind.NEXT_TERM]
        assert len(next_terms) == 1  # the worker sends scheduledNextTermInstructions

    def test_an_own_price_is_kept_on_another_sku(self, session: Session, desk: Desk) -> None:
        special = create_subscription(
            session,
            contract=desk.contract,
            product=desk.catalog.e3,
            quantity=10,
            start_date=date(2026, 1, 15),
            unit_price=Decimal("30.00"),
        )
        schedule(session, special, product_id=desk.catalog.e5.product_code)
        row = renewal_of(session, special)
        assert row.next_term is not None
        assert row.next_term.unit_price == Decimal("30.00")
        assert row.monthly_amount_after == Decimal("300.00")  # 10 x 30.00, the subscription's own price

    def test_another_billing_plan_takes_its_list_price(self, session: Session, desk: Desk) -> None:
        schedule(session, desk.e3, billing_plan=BillingPlan.ANNUAL)
        row = renewal_of(session, desk.e3)
        assert row.next_term is not None
        assert row.next_term.unit_price == Decimal("34.29")
        assert row.monthly_amount_after == Decimal("342.90")  # 10 x 34.29
        assert [(d.what, d.after) for d in row.changes] == [
            ("term and billing plan", "P1Y annual"),
            ("unit price", "34.29"),
        ]

    def test_an_addon_is_co_termed_with_its_base(self, session: Session, desk: Desk) -> None:
        schedule(session, desk.archiving, co_term_subscription_id=str(desk.premium.id))
        row = renewal_of(session, desk.archiving)
        # Business Premium renews first (2027-02-20), so the add-on's next term (from 2027-03-10) ends with the
        # base's next one, on 2028-02-19, instead of 2028-03-09.
        assert row.next_term is not None
        assert row.next_term.term_end == date(2028, 2, 19)
        assert ("term end", "a full term", "co-termed: 2028-02-19") in [
            (d.what, d.before, d.after) for d in row.changes
        ]

    @pytest.mark.parametrize(
        ("asked", "code"),
        [
            ({"quantity": 301}, "quantity_out_of_range"),  # E3 is sold up to 300
            ({"quantity": 10}, "no_change"),
            ({"term": Term.P3Y}, "term_not_offered"),
            ({"billing_plan": BillingPlan.TRIENNIAL}, "term_not_offered"),
        ],
    )
    def test_what_the_next_term_could_not_be_is_refused(
        self, session: Session, desk: Desk, asked: dict[str, object], code: str
    ) -> None:
        assert refused(session, desk.e3, **asked).code == code
        assert renewal_of(session, desk.e3).scheduled == ()

    def test_another_sku_must_be_of_the_same_account_and_kind_and_sellable(self, session: Session, desk: Desk) -> None:
        archiving = addon(session, desk.catalog, "Exchange Online Archiving")
        assert refused(session, desk.e3, product_id=str(archiving.id)).code == "product_switch_invalid"
        elsewhere = create_product(session, account=desk.catalog.manual, name="Distributor E3")
        assert refused(session, desk.e3, product_id=str(elsewhere.id)).code == "product_switch_invalid"
        retire_product(session, product=desk.catalog.e5, now=noon(TODAY))
        assert refused(session, desk.e3, product_id=str(desk.catalog.e5.id)).code == "product_not_sellable"

    def test_the_addon_tree_must_still_hold(self, session: Session, desk: Desk) -> None:
        # Business Premium has an Exchange Online Archiving add-on, which cannot hang under E5.
        error = refused(session, desk.premium, product_id=str(desk.catalog.e5.id))
        assert error.code == "addon_parent_invalid"
        assert "Exchange Online Archiving" in error.message
        # An add-on may move to another add-on of its parent, not to one of another license.
        schedule(session, desk.archiving, product_id=str(addon(session, desk.catalog, "Exchange Online Advanced").id))
        conferencing = addon(session, desk.catalog, "Microsoft 365 Audio Conferencing")
        assert refused(session, desk.archiving, product_id=str(conferencing.id)).code == "addon_parent_invalid"

    def test_co_terming_needs_a_subscription_of_the_same_customer_that_ends_within_the_next_term(
        self, session: Session, desk: Desk
    ) -> None:
        other = create_contract(session, customer=create_customer(session, name="Fabrikam"))
        theirs = create_subscription(session, contract=other, product=desk.catalog.e3, quantity=1)
        assert refused(session, desk.e3, co_term_subscription_id=str(theirs.id)).code == "co_term_invalid"
        assert refused(session, desk.e3, co_term_subscription_id=str(desk.e3.id)).code == "co_term_invalid"
        # E3's next term runs 2027-01-15 to 2028-01-14: a term ending later cannot be its end (NCE shortens a term
        # to co-term it, never lengthens it) ...
        later = create_subscription(
            session,
            contract=desk.contract,
            product=desk.catalog.ems,
            quantity=1,
            start_date=date(2027, 6, 1),
            today=TODAY,
        )
        error = refused(session, desk.e3, co_term_subscription_id=str(later.id))
        assert (error.code, "2028-05-31" in error.message) == ("co_term_invalid", True)
        # ... and one expiring before E3 renews has no term end to give.
        dont_renew(session, desk.teams)
        error = refused(session, desk.e3, co_term_subscription_id=str(desk.teams.id))
        assert (error.code, "does not renew" in error.message) == ("co_term_invalid", True)
        # Teams' monthly term renews on 2027-01-20, inside E3's next term: that is a term end E3 can take.
        dont_renew(session, desk.teams, enabled=True)
        schedule(session, desk.e3, co_term_subscription_id=str(desk.teams.id))
        assert renewal_of(session, desk.e3).next_term.term_end == date(2027, 1, 19)  # type: ignore[union-attr]

    def test_nothing_is_scheduled_for_a_renewal_that_will_not_come(self, session: Session, desk: Desk) -> None:
        dont_renew(session, desk.e3)
        error = refused(session, desk.e3, quantity=12)
        assert error.code == "not_renewing"
        assert "2027-01-14" in error.message
        dont_renew(session, desk.e3, enabled=True)  # renew again
        schedule(session, desk.e3, quantity=12)

    def test_a_linked_parent_needs_force_and_a_reason(self, session: Session) -> None:
        vet = pine_cone_vet(session, load_demo_catalog(session))
        assert refused(session, vet.parent_e3, quantity=60).code == "linked_parent_locked"
        assert refused(session, vet.parent_e3, quantity=60, force=True).code == "reason_required"
        schedule(session, vet.parent_e3, quantity=60, force=True, reason="Moving to E3 for the whole tenant")
        # A linked child has its parent's product: its SKU changes with the parent's.
        child = vet.locations["Memphis"].e3
        assert refused(session, child, product_id=str(vet.catalog.e5.id)).code == "invalid_link"

    def test_clearing_cancels_every_change_scheduled_for_the_renewal(self, session: Session, desk: Desk) -> None:
        first = schedule(session, desk.e3, quantity=12)
        second = schedule(session, desk.e3, product_id=str(desk.catalog.e5.id))
        assert at_renewal.clear_at_renewal(session, subscription_id=desk.e3.id, actor=OPERATOR, now=noon(TODAY)) == 2
        assert (first.status, second.status) == (ScheduledStatus.CANCELLED, ScheduledStatus.CANCELLED)
        row = renewal_of(session, desk.e3)
        assert row.changes == ()
        assert row.monthly_amount_after == Decimal("360.00")  # 10 x 36.00


def renew(session: Session, day: date) -> None:
    run_renewals(session, today=day, now=noon(day))
    session.flush()


class TestAppliedAtRenewal:
    def test_the_renewal_switches_the_sku_price_and_quantity_and_the_log_says_so(
        self, session: Session, desk: Desk
    ) -> None:
        schedule(session, desk.e3, product_id=str(desk.catalog.e5.id), quantity=12)
        renew(session, date(2027, 1, 14))
        assert fresh(session, desk.e3).product_id == desk.catalog.e3.id  # not before its renewal
        renew(session, date(2027, 1, 15))
        e3 = fresh(session, desk.e3)
        assert (e3.product_id, e3.quantity, e3.unit_price) == (desk.catalog.e5.id, 12, Decimal("38.00"))
        assert (e3.term_start, e3.term_end) == (date(2027, 1, 15), date(2028, 1, 14))
        price, quantity = changes_of(session, desk.e3)[-2:]
        assert (price.kind, price.price_before, price.price_after) == (ChangeKind.PRICE, Decimal("36"), Decimal("38"))
        assert price.effective_date == date(2027, 1, 15)
        assert "Microsoft 365 E3 → Office 365 E5" in (price.reason or "")
        assert (quantity.kind, quantity.quantity_before, quantity.quantity_after) == (ChangeKind.QUANTITY, 10, 12)
        row = renewal_of(session, e3)
        assert row.monthly_amount == Decimal("456.00")  # 12 x 38.00, billed from the renewal on

    def test_a_monthly_term_becomes_yearly_and_a_late_run_renews_by_years_after(
        self, session: Session, desk: Desk
    ) -> None:
        schedule(session, desk.teams, term=Term.P1Y, billing_plan=BillingPlan.ANNUAL)
        renew(session, date(2028, 1, 5))  # the run comes a year late
        teams = fresh(session, desk.teams)
        assert (teams.term, teams.billing_plan) == (Term.P1Y, BillingPlan.ANNUAL)
        # 2026-12-20 renewed for a year (to 2027-12-19), then again on 2027-12-20 for another year.
        assert (teams.term_start, teams.term_end) == (date(2027, 12, 20), date(2028, 12, 19))
        assert teams.unit_price == Decimal("3.33")  # P1Y annual's list price: it was on P1M's, 4.00
        assert renewal_of(session, teams).monthly_amount == Decimal("16.65")  # 5 x 3.33

    def test_an_addon_co_termed_at_renewal_ends_with_its_base(self, session: Session, desk: Desk) -> None:
        schedule(session, desk.archiving, co_term_subscription_id=str(desk.premium.id))
        renew(session, date(2027, 3, 10))
        archiving = fresh(session, desk.archiving)
        assert (archiving.term_start, archiving.term_end) == (date(2027, 3, 10), date(2028, 2, 19))
        assert archiving.co_term_subscription_id == desk.premium.id
        assert fresh(session, desk.premium).term_end == date(2028, 2, 19)

    def test_a_sku_retired_meanwhile_fails_with_a_message_and_the_term_still_renews(
        self, session: Session, desk: Desk
    ) -> None:
        scheduled = schedule(session, desk.e3, product_id=str(desk.catalog.e5.id))
        retire_product(session, product=desk.catalog.e5, now=noon(TODAY))
        renew(session, date(2027, 1, 15))
        session.refresh(scheduled)
        assert scheduled.status is ScheduledStatus.FAILED
        assert "retired" in (scheduled.message or "")
        e3 = fresh(session, desk.e3)
        assert (e3.product_id, e3.status, e3.term_end) == (
            desk.catalog.e3.id,
            SubscriptionStatus.ACTIVE,
            date(2028, 1, 14),
        )
