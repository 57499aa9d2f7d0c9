"""A product's term and billing-plan combinations, each with its own prices (SPEC §2, new commerce), through the
services: what the catalog keeps, what it refuses, and the prices a new subscription gets from them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatflow.catalog import service
from seatflow.catalog.errors import DuplicatePlan, InvalidProduct, TermNotOffered
from seatflow.catalog.models import (
    BillingFrequency,
    BillingPlan,
    Product,
    ProductKind,
    ProductPlan,
    ProviderAccount,
    Term,
)
from seatflow.catalog.schemas import PlanIn, ProductRead, ProductUpdate
from seatflow.errors import ValidationFailed
from seatflow.subscriptions.errors import TermNotOffered as SubscriptionTermNotOffered
from tests.factories import (
    create_contract,
    create_customer,
    create_product,
    create_provider_account,
    create_subscription,
    load_demo_catalog,
)

P1M, P1Y, P3Y = Term.P1M, Term.P1Y, Term.P3Y
MONTHLY, QUARTERLY, ANNUAL, TRIENNIAL = (
    BillingPlan.MONTHLY,
    BillingPlan.QUARTERLY,
    BillingPlan.ANNUAL,
    BillingPlan.TRIENNIAL,
)


def plan(term: Term, billing: BillingPlan, list_price: str | None = None, cost_price: str | None = None) -> PlanIn:
    return PlanIn(
        term=term,
        billing_plan=billing,
        list_price=Decimal(list_price) if list_price is not None else None,
        cost_price=Decimal(cost_price) if cost_price is not None else None,
    )


# Microsoft 365 E3 as new commerce sells it, per user per month: annual upfront 34.29, 5% more billed monthly,
# 20% more on a monthly term.
E3_PLANS = [
    plan(P1Y, MONTHLY, "36.00", "28.80"),  # 34.29 x 1.05 = 36.0045; 27.43 x 1.05 = 28.80
    plan(P1Y, ANNUAL, "34.29", "27.43"),  # 36.00 / 1.05 = 34.286; 28.80 / 1.05 = 27.429
    plan(P1M, MONTHLY, "41.15", "32.92"),  # 34.29 x 1.20 = 41.148; 27.43 x 1.20 = 32.916
]


@pytest.fixture
def account(session: Session) -> ProviderAccount:
    return create_provider_account(session, name="Partner Center")


def read(product: Product) -> dict[str, object]:
    return ProductRead.from_model(product).model_dump(mode="json")


def default(product: Product) -> tuple[Term, BillingFrequency, Decimal | None, Decimal | None]:
    return product.term, product.billing_frequency, product.list_price, product.cost_price


def reloaded(session: Session, product: Product) -> Product:
    session.flush()
    session.expire_all()
    return service.require_product(session, str(product.id))


class TestCreate:
    def test_a_product_without_plans_is_sold_in_its_term_and_billing_at_its_prices(
        self, session: Session, account: ProviderAccount
    ) -> None:
        product = create_product(session, account=account, term=P1Y, list_price="36.00", cost_price=Decimal("28.80"))

        assert read(reloaded(session, product))["plans"] == [
            {"term": "P1Y", "billing_plan": "monthly", "list_price": "36.00", "cost_price": "28.80"}
        ]

    def test_the_plans_are_kept_in_order_and_the_first_listed_is_the_default(
        self, session: Session, account: ProviderAccount
    ) -> None:
        product = create_product(session, account=account, list_price=None, plans=E3_PLANS)

        stored = reloaded(session, product)
        assert read(stored)["plans"] == [
            {"term": "P1M", "billing_plan": "monthly", "list_price": "41.15", "cost_price": "32.92"},
            {"term": "P1Y", "billing_plan": "monthly", "list_price": "36.00", "cost_price": "28.80"},
            {"term": "P1Y", "billing_plan": "annual", "list_price": "34.29", "cost_price": "27.43"},
        ]
        assert default(stored) == (P1Y, BillingFrequency.MONTHLY, Decimal("36.00"), Decimal("28.80"))

    def test_term_and_billing_frequency_name_the_default_among_the_plans(
        self, session: Session, account: ProviderAccount
    ) -> None:
        product = create_product(
            session,
            account=account,
            list_price=None,
            plans=E3_PLANS,
            term=P1Y,
            billing_frequency=BillingFrequency.ANNUAL,
        )

        assert default(product) == (P1Y, BillingFrequency.ANNUAL, Decimal("34.29"), Decimal("27.43"))

    def test_a_default_that_is_not_among_the_plans_is_refused(self, session: Session, account: ProviderAccount) -> None:
        with pytest.raises(TermNotOffered, match=r"default combination \(P1M\) is not in plans \(P1Y monthly"):
            create_product(session, account=account, list_price=None, plans=E3_PLANS[:2], term=P1M)

    def test_prices_sent_beside_the_plans_must_be_the_default_plans(
        self, session: Session, account: ProviderAccount
    ) -> None:
        product = create_product(session, account=account, list_price="36.00", plans=E3_PLANS)
        assert product.list_price == Decimal("36.00")  # the same as the P1Y monthly plan's: accepted

        with pytest.raises(InvalidProduct, match=r"list_price is the default plan's \(P1Y monthly: 36.00\)"):
            create_product(session, account=account, list_price="30.00", plans=E3_PLANS)

    @pytest.mark.parametrize(
        ("kind", "term", "billing", "message"),
        [
            (ProductKind.LICENSE, P1Y, QUARTERLY, "a P1Y term is billed monthly or annual"),
            (ProductKind.ADDON, P1M, ANNUAL, "P1M annual is not a combination"),
            (ProductKind.LICENSE, P1Y, TRIENNIAL, "P1Y triennial"),
            (ProductKind.SERVICE, P3Y, TRIENNIAL, "a service can be sold in"),
            (ProductKind.SERVICE, P1M, QUARTERLY, "a P1M term is billed monthly"),
        ],
        ids=lambda v: getattr(v, "value", None),
    )
    def test_a_combination_its_kind_is_not_sold_in_is_refused(
        self,
        session: Session,
        account: ProviderAccount,
        kind: ProductKind,
        term: Term,
        billing: BillingPlan,
        message: str,
    ) -> None:
        with pytest.raises(TermNotOffered, match=message) as refused:
            create_product(session, account=account, kind=kind, plans=[plan(P1M, MONTHLY), plan(term, billing)])

        assert refused.value.code == "term_not_offered"
        assert session.execute(select(func.count()).select_from(Product)).scalar_one() == 0

    def test_services_are_billed_quarterly_and_licenses_triennially(
        self, session: Session, account: ProviderAccount
    ) -> None:
        backup = create_product(
            session,
            account=account,
            kind=ProductKind.SERVICE,
            list_price=None,
            plans=[plan(P1Y, QUARTERLY), plan(P1Y, ANNUAL)],
        )
        dynamics = create_product(
            session, account=account, list_price=None, plans=[plan(P3Y, ANNUAL), plan(P3Y, TRIENNIAL)]
        )

        assert [(p.term, p.billing_plan) for p in backup.plans] == [(P1Y, QUARTERLY), (P1Y, ANNUAL)]
        assert default(backup)[:2] == (P1Y, BillingFrequency.QUARTERLY)
        assert default(dynamics)[:2] == (P3Y, BillingFrequency.ANNUAL)

    def test_a_license_billed_quarterly_without_plans_is_refused(
        self, session: Session, account: ProviderAccount
    ) -> None:
        with pytest.raises(TermNotOffered, match="P1Y quarterly"):
            create_product(session, account=account, term=P1Y, billing_frequency=BillingFrequency.QUARTERLY)

    def test_the_same_combination_twice_is_refused(self, session: Session, account: ProviderAccount) -> None:
        with pytest.raises(DuplicatePlan, match="P1Y annual is listed twice") as refused:
            create_product(session, account=account, plans=[plan(P1Y, ANNUAL, "1"), plan(P1Y, ANNUAL, "2")])

        assert refused.value.code == "duplicate_plan"

    def test_a_product_sold_only_billed_triennially_has_no_default_and_is_refused(
        self, session: Session, account: ProviderAccount
    ) -> None:
        with pytest.raises(InvalidProduct, match="only billed triennially"):
            create_product(session, account=account, plans=[plan(P3Y, TRIENNIAL)])


class TestUpdate:
    def test_plans_sent_replace_the_list_and_keep_the_default_when_still_listed(
        self, session: Session, account: ProviderAccount
    ) -> None:
        product = create_product(session, account=account, list_price=None, plans=E3_PLANS)

        service.update_product(
            session,
            product=product,
            data=ProductUpdate(plans=[plan(P1M, MONTHLY, "43.20"), plan(P1Y, MONTHLY, "37.80", "30.24")]),
        )

        stored = reloaded(session, product)
        assert [(p.term, p.billing_plan, p.list_price) for p in sorted(stored.plans, key=lambda p: p.term.months)] == [
            (P1M, MONTHLY, Decimal("43.20")),
            (P1Y, MONTHLY, Decimal("37.80")),
        ]
        assert default(stored) == (P1Y, BillingFrequency.MONTHLY, Decimal("37.80"), Decimal("30.24"))

    def test_dropping_the_default_plan_makes_the_first_listed_the_default(
        self, session: Session, account: ProviderAccount
    ) -> None:
        product = create_product(session, account=account, list_price=None, plans=E3_PLANS)

        service.update_product(session, product=product, data=ProductUpdate(plans=E3_PLANS[1:]))

        assert default(reloaded(session, product)) == (P1Y, BillingFrequency.ANNUAL, Decimal("34.29"), Decimal("27.43"))

    def test_a_list_price_alone_changes_the_default_plan_only(self, session: Session, account: ProviderAccount) -> None:
        product = create_product(session, account=account, list_price=None, plans=E3_PLANS)

        service.update_product(session, product=product, data=ProductUpdate(list_price=Decimal("37.00")))

        stored = reloaded(session, product)
        assert stored.list_price == Decimal("37.00")
        prices = {(p.term, p.billing_plan): p.list_price for p in stored.plans}
        assert prices == {
            (P1Y, MONTHLY): Decimal("37.00"),
            (P1Y, ANNUAL): Decimal("34.29"),
            (P1M, MONTHLY): Decimal("41.15"),
        }

    def test_moving_the_default_to_another_plan_takes_that_plans_prices(
        self, session: Session, account: ProviderAccount
    ) -> None:
        product = create_product(session, account=account, list_price=None, plans=E3_PLANS)

        service.update_product(session, product=product, data=ProductUpdate(term=P1M))

        assert default(reloaded(session, product)) == (
            P1M,
            BillingFrequency.MONTHLY,
            Decimal("41.15"),
            Decimal("32.92"),
        )

    def test_moving_the_default_to_a_combination_not_listed_is_refused(
        self, session: Session, account: ProviderAccount
    ) -> None:
        product = create_product(session, account=account, list_price=None, plans=E3_PLANS)

        with pytest.raises(TermNotOffered, match="not sold as P3Y monthly; its plans are P1M monthly, P1Y monthly"):
            service.update_product(session, product=product, data=ProductUpdate(term=P3Y))

    def test_a_product_sold_one_way_changes_that_way_with_its_term_as_before_plans_existed(
        self, session: Session, account: ProviderAccount
    ) -> None:
        product = create_product(session, account=account, list_price="12.50")

        service.update_product(
            session, product=product, data=ProductUpdate(term=P1Y, billing_frequency=BillingFrequency.ANNUAL)
        )

        assert read(reloaded(session, product))["plans"] == [
            {"term": "P1Y", "billing_plan": "annual", "list_price": "12.50", "cost_price": None}
        ]

    def test_a_service_billed_quarterly_cannot_become_a_license(
        self, session: Session, account: ProviderAccount
    ) -> None:
        backup = create_product(
            session, account=account, kind=ProductKind.SERVICE, term=P1Y, billing_frequency=BillingFrequency.QUARTERLY
        )

        with pytest.raises(TermNotOffered, match="P1Y quarterly"):
            service.update_product(session, product=backup, data=ProductUpdate(kind=ProductKind.LICENSE))

    def test_a_deleted_product_takes_its_plans_with_it(self, session: Session, account: ProviderAccount) -> None:
        product = create_product(session, account=account, list_price=None, plans=E3_PLANS)

        service.delete_product(session, product=product)  # its plans are no "use" that would keep it

        assert session.execute(select(func.count()).select_from(ProductPlan)).scalar_one() == 0


class TestSubscriptionPrices:
    """A new subscription is priced from the combination it is bought in (SPEC §4: default from the product)."""

    @pytest.mark.parametrize(
        ("term", "billing", "unit_price", "cost_price"),
        [
            (None, None, "36.00", "28.80"),  # the default: P1Y billed monthly
            (P1Y, ANNUAL, "34.29", "27.43"),  # 36.00 / 1.05 = 34.286; 28.80 / 1.05 = 27.429
            (P1M, None, "41.15", "32.92"),  # 34.29 x 1.20 = 41.148; 27.43 x 1.20 = 32.916
        ],
    )
    def test_the_chosen_plans_prices_are_the_defaults(
        self,
        session: Session,
        term: Term | None,
        billing: BillingPlan | None,
        unit_price: str,
        cost_price: str,
    ) -> None:
        catalog = load_demo_catalog(session)
        contract = create_contract(session, customer=create_customer(session, tenant_id="contoso-tenant"))

        subscription = create_subscription(
            session, contract=contract, product=catalog.e3, quantity=10, term=term, billing_plan=billing
        )

        assert (subscription.unit_price, subscription.cost_price) == (Decimal(unit_price), Decimal(cost_price))
        assert (subscription.term, subscription.billing_plan) == (term or P1Y, billing or MONTHLY)

    def test_a_price_given_beats_the_plans(self, session: Session) -> None:
        catalog = load_demo_catalog(session)
        contract = create_contract(session, customer=create_customer(session, tenant_id="contoso-tenant"))

        subscription = create_subscription(
            session, contract=contract, product=catalog.e3, term=P1M, unit_price=Decimal("40.00")
        )

        assert subscription.unit_price == Decimal("40.00")
        assert subscription.cost_price == Decimal("32.92")  # still the P1M plan's cost

    def test_a_combination_new_commerce_sells_but_the_product_does_not_is_refused(self, session: Session) -> None:
        catalog = load_demo_catalog(session)
        contract = create_contract(session, customer=create_customer(session, tenant_id="contoso-tenant"))

        with pytest.raises(SubscriptionTermNotOffered, match="not sold as P3Y billed monthly") as refused:
            create_subscription(session, contract=contract, product=catalog.e3, term=P3Y, billing_plan=MONTHLY)

        assert refused.value.code == "term_not_offered"
        assert "P1M monthly, P1Y monthly, P1Y annual" in str(refused.value)

    def test_an_unpriced_plan_asks_for_a_unit_price(self, session: Session, account: ProviderAccount) -> None:
        product = create_product(
            session, account=account, list_price=None, plans=[plan(P1Y, MONTHLY, "36.00"), plan(P1M, MONTHLY)]
        )
        contract = create_contract(session, customer=create_customer(session, tenant_id="contoso-tenant"))

        with pytest.raises(ValidationFailed, match="give the subscription a unit_price") as refused:
            create_subscription(session, contract=contract, product=product, term=P1M)

        assert refused.value.code == "price_required"
