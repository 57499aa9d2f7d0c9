"""Price rules (SPEC §15): which rule wins, the guards, the price set at purchase and at renewal and protected for
the term, overrides, renewal notices, and billing at the price of each term.

Prices are per unit per month. The December 2026 list (tests/pricing/helpers.py ``december_list``) has Microsoft
365 E3 P1Y billed monthly at 37.80 a month (ERP 47.25): E3's default plan (P1Y monthly) in the demo catalog,
whose own list price is 36.00 and cost 28.80. The subscriptions are bought on 2026-12-01 (FACTORY_TODAY).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.catalog.models import BillingPlan, Term
from seatflow.pricing.models import PriceRule, RuleKind
from seatflow.pricing.rules import NewRule, PriceRuleExists, PriceRuleInvalid, add_rule, retire_rule
from seatflow.pricing.service import import_price_sheet
from seatflow.subscriptions.models import ChangeKind, LicenseChange, Subscription
from seatflow.subscriptions.renewals import run_renewals
from seatflow.subscriptions.repricing import override_price, renewal_notices
from tests.billing.support import bill, invoices, line_rows
from tests.factories import OPERATOR, DemoCatalog, create_contract, create_customer, create_subscription, noon
from tests.pricing.helpers import E3, december_list, row, sheet

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
DEC_1 = date(2026, 12, 1)


@pytest.fixture
def priced(session: Session, catalog: DemoCatalog) -> DemoCatalog:
    import_price_sheet(session, account=catalog.partner_center, content=december_list(), now=NOW)
    return catalog


def rule(session: Session, kind: RuleKind, **fields: object) -> None:
    add_rule(session, NewRule(kind=kind, **fields), now=NOW, actor="test")  # type: ignore[arg-type]


def buy(
    session: Session, catalog: DemoCatalog, *, customer: object = None, quantity: int = 10, **fields: object
) -> Subscription:
    owner = customer or create_customer(session)
    contract = create_contract(session, customer=owner)  # type: ignore[arg-type]
    return create_subscription(session, contract=contract, product=catalog.e3, quantity=quantity, **fields)


def price_changes(session: Session, subscription: Subscription) -> list[tuple[date, Decimal | None, Decimal | None]]:
    found = session.scalars(
        select(LicenseChange)
        .where(LicenseChange.subscription_id == subscription.id, LicenseChange.kind == ChangeKind.PRICE)
        .order_by(LicenseChange.created_at)
    )
    return [(c.effective_date, c.price_before, c.price_after) for c in found]


def test_without_a_rule_the_catalog_prices_as_before_and_the_sheet_gives_the_cost(
    session: Session, priced: DemoCatalog
) -> None:
    subscription = buy(session, priced)

    assert subscription.unit_price == Decimal("36.00")  # the catalog's list price of E3 P1Y monthly
    assert subscription.cost_price == Decimal(
        "37.80"
    )  # the sheet's P1Y Monthly "37.8" a month, not the catalog's 28.80
    assert subscription.price_rule_id is None


def test_a_markup_on_the_sheet_cost_prices_a_purchase(session: Session, priced: DemoCatalog) -> None:
    rule(session, RuleKind.MARKUP, percent=Decimal(20))

    subscription = buy(session, priced)

    assert subscription.unit_price == Decimal("45.36")  # 37.80 x 1.20 = 45.36 (under the ERP of 47.25)
    assert subscription.cost_price == Decimal("37.80")
    assert subscription.price_rule_id is not None


def test_the_most_specific_rule_wins(session: Session, priced: DemoCatalog) -> None:
    acme, other = create_customer(session, name="Acme"), create_customer(session, name="Other")
    rule(session, RuleKind.MARKUP, percent=Decimal(20))
    rule(session, RuleKind.MARKUP, percent=Decimal(10), product_id=priced.e3.id)
    assert buy(session, priced, customer=other).unit_price == Decimal("41.58")  # product: 37.80 x 1.10 = 41.58

    rule(session, RuleKind.ERP_DISCOUNT, percent=Decimal(10), customer_id=acme.id)
    assert buy(session, priced, customer=acme).unit_price == Decimal("42.5250")  # customer: 47.25 x 0.90 = 42.525

    rule(
        session,
        RuleKind.FIXED,
        fixed_price=Decimal("40.00"),
        currency="USD",
        customer_id=acme.id,
        product_id=priced.e3.id,
    )
    assert buy(session, priced, customer=acme).unit_price == Decimal("40.00")  # customer and product: fixed 40.00
    assert buy(session, priced, customer=other).unit_price == Decimal("41.58")  # other customers: the product's rule

    rule(session, RuleKind.FIXED, fixed_price=Decimal("39.00"), currency="EUR", product_id=priced.ems.id)
    # A fixed price in another currency does not apply to a USD contract: the rule for everything prices EMS, on
    # the catalog's cost (the sheet has no EMS row): 8.48 x 1.20 = 10.176
    contract = create_contract(session, customer=other)
    ems = create_subscription(session, contract=contract, product=priced.ems, quantity=1)
    assert ems.unit_price == Decimal("10.1760")


def test_the_guards_keep_a_price_between_cost_and_erp(session: Session, priced: DemoCatalog) -> None:
    a, b, c, d = (create_customer(session) for _ in range(4))
    rule(session, RuleKind.MARKUP, percent=Decimal(30), customer_id=a.id)
    rule(session, RuleKind.MARKUP, percent=Decimal(30), customer_id=b.id, allow_above_erp=True)
    rule(session, RuleKind.ERP_DISCOUNT, percent=Decimal(25), customer_id=c.id)
    rule(session, RuleKind.FIXED, fixed_price=Decimal("30.00"), currency="USD", customer_id=d.id)

    assert buy(session, priced, customer=a).unit_price == Decimal("47.25")  # 37.80 x 1.30 = 49.14 > ERP: 47.25
    assert buy(session, priced, customer=b).unit_price == Decimal("49.14")  # allowed above ERP
    assert buy(session, priced, customer=c).unit_price == Decimal("37.80")  # 47.25 x 0.75 = 35.4375 < cost: 37.80
    assert buy(session, priced, customer=d).unit_price == Decimal("37.80")  # 30.00 < cost: 37.80


def test_a_price_given_by_hand_is_kept(session: Session, priced: DemoCatalog) -> None:
    rule(session, RuleKind.MARKUP, percent=Decimal(20))
    subscription = buy(session, priced, unit_price=Decimal("50.00"))
    assert (subscription.unit_price, subscription.price_rule_id) == (Decimal("50.00"), None)


def test_bad_rules_are_refused(session: Session, priced: DemoCatalog) -> None:
    with pytest.raises(PriceRuleInvalid, match="currency"):
        rule(session, RuleKind.FIXED, fixed_price=Decimal(10))
    with pytest.raises(PriceRuleInvalid, match="percent"):
        rule(session, RuleKind.MARKUP, fixed_price=Decimal(10), currency="USD")
    with pytest.raises(PriceRuleInvalid, match="at most 100"):
        rule(session, RuleKind.ERP_DISCOUNT, percent=Decimal(101))
    with pytest.raises(PriceRuleInvalid, match="below cost"):
        rule(session, RuleKind.MARKUP, percent=Decimal(0), allow_below_cost=True)
    rule(session, RuleKind.MARKUP, percent=Decimal(20))
    with pytest.raises(PriceRuleExists):
        rule(session, RuleKind.MARKUP, percent=Decimal(25))


def next_year_list() -> bytes:
    """December 2027: E3 P1Y billed monthly at 39.60 a month (ERP 49.50)."""
    return sheet(
        [row(E3, plan="Monthly", price="39.6", erp="49.5", start="12/1/2027 12:00:00 AM", end="12/31/2027 11:59:59 PM")]
    )


def test_the_price_is_protected_for_the_term_and_set_again_at_renewal(session: Session, priced: DemoCatalog) -> None:
    rule(session, RuleKind.MARKUP, percent=Decimal(20))
    subscription = buy(session, priced, auto_renew=True)
    assert (subscription.term_start, subscription.term_end) == (DEC_1, date(2027, 11, 30))
    assert subscription.unit_price == Decimal("45.36")  # 37.80 x 1.20

    # Mid-term the reseller lowers its markup and Microsoft's next list is published: nothing moves this term.
    everything = session.scalars(select(PriceRule)).one()
    retire_rule(session, everything, now=NOW, actor="test")
    rule(session, RuleKind.MARKUP, percent=Decimal(10))
    import_price_sheet(session, account=priced.partner_center, content=next_year_list(), now=NOW)
    run_renewals(session, today=date(2027, 6, 1), now=noon(date(2027, 6, 1)))
    assert subscription.unit_price == Decimal("45.36")
    assert price_changes(session, subscription) == []

    # Thirty days ahead, the notice: 39.60 x 1.10 = 43.56 from the renewal on 2027-12-01, cost 37.80 -> 39.60.
    notices = renewal_notices(session, today=date(2027, 11, 5), days=30)
    assert [
        (n.subscription.id, n.renewal_date, n.price_now, n.price_at_renewal, n.cost_now, n.cost_at_renewal)
        for n in notices
    ] == [(subscription.id, date(2027, 12, 1), Decimal("45.36"), Decimal("43.56"), Decimal("37.80"), Decimal("39.60"))]
    assert renewal_notices(session, today=date(2027, 10, 1), days=30) == []  # not yet within 30 days

    run_renewals(session, today=date(2027, 12, 1), now=noon(date(2027, 12, 1)))
    assert (subscription.term_start, subscription.unit_price, subscription.cost_price) == (
        date(2027, 12, 1),
        Decimal("43.56"),
        Decimal("39.60"),
    )
    assert price_changes(session, subscription) == [(date(2027, 12, 1), Decimal("45.36"), Decimal("43.56"))]


def test_a_price_set_by_hand_is_kept_at_renewal_while_the_cost_follows_the_sheet(
    session: Session, priced: DemoCatalog
) -> None:
    rule(session, RuleKind.MARKUP, percent=Decimal(20))
    subscription = buy(session, priced, unit_price=Decimal("50.00"), auto_renew=True)
    import_price_sheet(session, account=priced.partner_center, content=next_year_list(), now=NOW)

    run_renewals(session, today=date(2027, 12, 1), now=noon(date(2027, 12, 1)))

    assert (subscription.unit_price, subscription.cost_price) == (Decimal("50.00"), Decimal("39.60"))
    assert price_changes(session, subscription) == []


def test_an_override_below_cost_needs_to_say_so_and_applies_from_the_renewal(
    session: Session, priced: DemoCatalog
) -> None:
    rule(session, RuleKind.MARKUP, percent=Decimal(20))
    subscription = buy(session, priced, auto_renew=True)

    def override(price: str, **fields: object) -> object:
        return override_price(
            session,
            subscription_id=subscription.id,
            unit_price=Decimal(price),
            reason=str(fields.pop("reason", "Matching a competitor's offer")),
            allow_below_cost=bool(fields.pop("allow_below_cost", False)),
            allow_above_erp=bool(fields.pop("allow_above_erp", False)),
            effective=fields.pop("effective", None),  # type: ignore[arg-type]
            today=date(2026, 12, 10),
            now=noon(date(2026, 12, 10)),
            actor=OPERATOR,
        )

    with session.begin_nested():
        with pytest.raises(PriceRuleInvalid, match=r"below the cost of 37\.80") as refused:
            override("35.00")
        assert refused.value.code == "price_below_cost"
    with session.begin_nested():
        with pytest.raises(PriceRuleInvalid) as above:
            override("48.00")
        assert above.value.code == "price_above_erp"  # ERP 47.25
    assert subscription.unit_price == Decimal("45.36")

    override("35.00", allow_below_cost=True)

    # From the renewal (the term's price is protected): 2027-12-01.
    assert price_changes(session, subscription) == [(date(2027, 12, 1), Decimal("45.36"), Decimal("35.00"))]
    import_price_sheet(session, account=priced.partner_center, content=next_year_list(), now=NOW)
    run_renewals(session, today=date(2027, 12, 1), now=noon(date(2027, 12, 1)))
    assert (subscription.unit_price, subscription.cost_price) == (Decimal("35.00"), Decimal("39.60"))  # a loss: 4.60
    assert len(price_changes(session, subscription)) == 1  # the override stands at renewal: nothing repriced


def test_a_monthly_contract_bills_each_term_at_its_own_price(session: Session, priced: DemoCatalog) -> None:
    rule(session, RuleKind.MARKUP, percent=Decimal(20))
    customer = create_customer(session)
    contract = create_contract(session, customer=customer, start_date=DEC_1)
    subscription = create_subscription(session, contract=contract, product=priced.e3, quantity=10, auto_renew=True)
    retire_rule(session, session.get_one(PriceRule, subscription.price_rule_id), now=NOW, actor="test")
    rule(session, RuleKind.MARKUP, percent=Decimal(10))
    import_price_sheet(session, account=priced.partner_center, content=next_year_list(), now=NOW)
    run_renewals(session, today=date(2027, 12, 1), now=noon(date(2027, 12, 1)))

    bill(session, date(2027, 11, 1))
    bill(session, date(2027, 12, 1))

    november, december = invoices(session, contract)[-2:]
    assert [(r[3], r[4], r[5]) for r in line_rows(session, november)] == [(10, Decimal("45.36"), Decimal("453.60"))]
    # 10 x 45.36 = 453.60 (the first term's price, in its last month)
    assert [(r[3], r[4], r[5]) for r in line_rows(session, december)] == [(10, Decimal("43.56"), Decimal("435.60"))]
    # 10 x 43.56 = 435.60 (the renewed term, priced by the 10 % markup on 39.60)
    assert (subscription.term, subscription.billing_plan) == (Term.P1Y, BillingPlan.MONTHLY)
