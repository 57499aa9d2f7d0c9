"""``seatflow prices rules …``, ``prices override`` and ``prices notices``: the price rules that decide a
subscription's unit price, an operator's override of one subscription's price, and the prices that change at
renewal (SPEC §15)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

import typer
from rich.table import Table
from sqlalchemy import select

from seatflow.catalog import service as product_service
from seatflow.cli.context import clock, console, moment, operator_actor, print_json, read_transaction, transaction
from seatflow.customers.service import require_customer
from seatflow.money import format_money
from seatflow.pricing import rules
from seatflow.pricing.models import PriceRule, RuleKind
from seatflow.pricing.schemas import PriceRuleRead
from seatflow.subscriptions import lifecycle, repricing
from seatflow.subscriptions.repricing_schemas import OverrideRead, RenewalNoticeRead

app = typer.Typer(
    help="Price rules: markup (cost + %), erp_discount (ERP - %) or fixed, for everything, a product, a customer "
    "or a customer and product; the most specific in force wins, kept between cost and ERP.",
    no_args_is_help=True,
)


def _decimal(value: str | None, option: str) -> Decimal | None:
    if value is None:
        return None
    try:
        found = Decimal(value)
    except InvalidOperation:
        raise typer.BadParameter(f"{option} is a decimal number, not {value!r}.") from None
    if not found.is_finite():
        raise typer.BadParameter(f"{option} is a decimal number, not {value!r}.")
    return found


def _rules_table(found: list[PriceRuleRead]) -> Table:
    table = Table("id", "scope", "kind", "value", "product", "customer", "subscription", "guards", "since")
    for r in found:
        value = f"{r.percent}%" if r.percent is not None else f"{format_money(r.fixed_price)} {r.currency}"
        guards = ", ".join(g for g, on in (("above ERP", r.allow_above_erp), ("below cost", r.allow_below_cost)) if on)
        table.add_row(
            r.id,
            r.scope.value,
            r.kind.value,
            value,
            r.product_id or "-",
            r.customer_id or "-",
            r.subscription_id or "-",
            guards or "-",
            r.created_at.date().isoformat() + (f" (retired {r.retired_at.date()})" if r.retired_at else ""),
        )
    return table


@app.command("list")
def list_(
    include_retired: bool = typer.Option(False, "--retired", help="Retired rules too."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The rules in force, the most specific scope first."""
    with read_transaction() as session:
        query = select(PriceRule).order_by(PriceRule.created_at.desc())
        if not include_retired:
            query = query.where(PriceRule.retired_at.is_(None))
        found = [PriceRuleRead.from_model(r) for r in sorted(session.scalars(query), key=lambda r: -r.scope.rank)]
    if as_json:
        print_json([r.model_dump(mode="json") for r in found])
        return
    console.print(_rules_table(found))


@app.command()
def add(
    kind: RuleKind = typer.Argument(..., help="markup, erp_discount or fixed."),
    percent: str | None = typer.Option(None, "--percent", help="markup: cost + %; erp_discount: ERP - %."),
    price: str | None = typer.Option(None, "--price", help="fixed: per unit per month."),
    currency: str | None = typer.Option(None, "--currency", help="fixed: the price's currency (e.g. USD)."),
    product: str | None = typer.Option(None, "--product", help="Only this product (id or product code)."),
    customer: str | None = typer.Option(None, "--customer", help="Only this customer (id)."),
    allow_above_erp: bool = typer.Option(False, "--allow-above-erp", help="Prices above ERP are kept."),
    reason: str = typer.Option("", "--reason"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Add a rule (for everything when neither --product nor --customer is given). Refused when a rule is in force
    for the same target: retire it first. Prices already set are kept until each subscription renews."""
    now = clock().now()
    with transaction() as session:
        found_product = product_service.require_product(session, product) if product else None
        found_customer = require_customer(session, customer) if customer else None
        rule = rules.add_rule(
            session,
            rules.NewRule(
                kind=kind,
                percent=_decimal(percent, "--percent"),
                fixed_price=_decimal(price, "--price"),
                currency=currency,
                product_id=found_product.id if found_product else None,
                customer_id=found_customer.id if found_customer else None,
                allow_above_erp=allow_above_erp,
                reason=reason,
            ),
            now=now,
            actor=operator_actor().name,
        )
        read = PriceRuleRead.from_model(rule)
    if as_json:
        print_json(read.model_dump(mode="json"))
        return
    console.print(_rules_table([read]))


@app.command()
def retire(rule_id: str = typer.Argument(..., help="The rule's id.")) -> None:
    """The rule prices nothing more; prices it set stay until each subscription renews."""
    now = clock().now()
    with transaction() as session:
        rule = rules.retire_rule(session, rules.require_rule(session, rule_id), now=now, actor=operator_actor().name)
        console.print(f"retired {rule.id} ({rule.scope.value} {rule.kind.value})", markup=False)


def override(
    subscription: str = typer.Argument(..., help="The subscription (id)."),
    price: str = typer.Option(..., "--price", help="Per unit per month, in the subscription's currency."),
    reason: str = typer.Option(..., "--reason", help="Why (kept with the rule and the price change)."),
    effective: datetime | None = typer.Option(
        None, "--from", formats=["%Y-%m-%d"], help="From this day; the next renewal when absent."
    ),
    allow_below_cost: bool = typer.Option(False, "--allow-below-cost", help="Sell below Microsoft's cost."),
    allow_above_erp: bool = typer.Option(False, "--allow-above-erp", help="Charge more than Microsoft's ERP."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Override one subscription's price (a fixed rule of its scope, with the reason); refused below cost or above
    ERP unless allowed."""
    unit_price = _decimal(price, "--price")
    assert unit_price is not None  # noqa: S101 - required
    if unit_price < 0:
        raise typer.BadParameter("--price cannot be negative.")
    if not reason.strip():
        raise typer.BadParameter("--reason says why.")
    today, now = moment()
    with transaction() as session:
        found = lifecycle.require_subscription(session, subscription)
        result = repricing.override_price(
            session,
            subscription_id=found.id,
            unit_price=unit_price,
            reason=reason,
            allow_below_cost=allow_below_cost,
            allow_above_erp=allow_above_erp,
            effective=effective.date() if effective else None,
            today=today,
            now=now,
            actor=operator_actor(),
        )
        read = OverrideRead.from_result(result)
    if as_json:
        print_json(read.model_dump(mode="json"))
        return
    console.print(
        f"{read.subscription_id}: {format_money(read.price_before)} -> {format_money(read.unit_price)} "
        f"from {read.effective_date.isoformat()} (rule {read.rule.id})",
        markup=False,
    )


def notices(
    days: int = typer.Option(30, "--days", min=1, max=repricing.MAX_NOTICE_DAYS, help="Renewing within these days."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Subscriptions renewing in the next days whose unit price or cost changes at renewal."""
    today, _ = moment()
    with read_transaction() as session:
        found = [RenewalNoticeRead.from_notice(n) for n in repricing.renewal_notices(session, today=today, days=days)]
    if as_json:
        print_json([n.model_dump(mode="json") for n in found])
        return
    table = Table("renews", "customer", "product", "seats", "price now", "at renewal", "cost now", "cost then", "why")
    for n in found:
        table.add_row(
            n.renewal_date.isoformat(),
            n.customer_name,
            n.product_name,
            str(n.quantity),
            f"{format_money(n.price_now)} {n.currency}",
            format_money(n.price_at_renewal),
            format_money(n.cost_now) or "-",
            format_money(n.cost_at_renewal) or "-",
            n.explanation,
        )
    console.print(table)
