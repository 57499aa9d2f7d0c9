"""``seatflow renewals …``: the renewal desk (SPEC §7, §10) in a terminal: what renews soon, what the next term will
be, don't renew and renew again. The daily run stays ``seatflow renew``."""

from __future__ import annotations

import csv
import sys

import typer
from rich.table import Table

from seatflow.catalog.models import BillingPlan, Term
from seatflow.cli.context import console, moment, operator_actor, print_json, transaction
from seatflow.csv_safe import safe_row
from seatflow.customers.service import require_customer
from seatflow.money import format_money
from seatflow.subscriptions import at_renewal, desk, lifecycle
from seatflow.subscriptions.changes import lock
from seatflow.subscriptions.desk import Renewal
from seatflow.subscriptions.desk_schemas import RenewalRead
from seatflow.subscriptions.rules import parse_quantity
from seatflow.subscriptions.schemas import SubscriptionUpdate

app = typer.Typer(
    help="The renewal desk: upcoming renewals, changes at renewal, don't renew. The daily run is `seatflow renew`.",
    no_args_is_help=True,
)
PAGE = 500


@app.command("upcoming")
def upcoming(
    days: int = typer.Option(30, help="Renewals up to this many days ahead (30, 60, 90; 1 to 366)."),
    customer: str | None = typer.Option(None, help="Only this customer's (its id)."),
    include_descendants: bool = typer.Option(False, help="With --customer: its accounts below too."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV on standard output instead of a table."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Subscriptions renewing or expiring in the next DAYS days, soonest first, with what will change."""
    desk.check_days(days)
    with transaction() as session:
        today, _ = moment()
        customer_id = require_customer(session, customer).id if customer else None
        rows: list[Renewal] = []
        cursor = None
        while True:
            found, cursor = desk.upcoming_renewals(
                session,
                today=today,
                days=days,
                customer_id=customer_id,
                include_descendants=include_descendants,
                cursor=cursor,
                limit=PAGE,
            )
            rows += found
            if cursor is None:
                break
        if as_json:
            print_json([RenewalRead.from_renewal(r).model_dump(mode="json") for r in rows])
        elif as_csv:
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(desk.CSV_HEADER)
            writer.writerows(safe_row(desk.csv_row(r)) for r in rows)
        else:
            _print_table(rows, days)


def _print_table(rows: list[Renewal], days: int) -> None:
    table = Table("renews", "customer", "product", "qty", "term", "monthly now", "after", "what changes", "id")
    for r in rows:
        s = r.subscription
        if r.expires_on is not None:
            what = f"expires on {r.expires_on}"
        else:
            what = "; ".join(f"{d.what} {d.before} → {d.after}" for d in r.changes) or "renews as it is"
        table.add_row(
            str(r.renewal_date),
            r.customer.name,
            r.product.name,
            str(s.quantity),
            f"{s.term.value} {s.billing_plan.value}",
            f"{format_money(r.monthly_amount)} {s.currency}",
            f"{format_money(r.monthly_amount_after)} {s.currency}",
            what + (f" ({r.problem})" if r.problem else ""),
            str(s.id),
        )
    console.print(table)
    console.print(f"{len(rows)} renewal{'' if len(rows) == 1 else 's'} in the next {days} days")


def _summary(row: Renewal) -> str:
    if row.next_term is None:
        return f"does not renew: expires on {row.expires_on}"
    after = row.next_term
    changes = "; ".join(f"{d.what} {d.before} → {d.after}" for d in row.changes) or "renews as it is"
    return (
        f"renews on {row.renewal_date}: {changes}; monthly {format_money(row.monthly_amount)} → "
        f"{format_money(row.monthly_amount_after)} {row.subscription.currency} ({after.quantity} x "
        f"{format_money(after.unit_price)})"
    )


@app.command("set")
def set_(
    subscription: str,
    quantity: str | None = typer.Option(None, help="The next term's quantity."),
    product: str | None = typer.Option(None, help="Another SKU (id, product code or offer ID) of the same account."),
    term: Term | None = typer.Option(None, help="The next term's commitment."),
    billing_plan: BillingPlan | None = typer.Option(None, help="The next term's billing plan."),
    co_term_with: str | None = typer.Option(None, help="End the next term with this subscription's (its id)."),
    force: bool = typer.Option(False, help="On a linked parent (needs --reason)."),
    reason: str | None = typer.Option(None),
) -> None:
    """Set what the next term will be (what is not given stays as scheduled); applied at the renewal."""
    with transaction() as session:
        today, now = moment()
        sub = lifecycle.require_subscription(session, subscription)
        at_renewal.schedule_at_renewal(
            session,
            subscription_id=sub.id,
            quantity=parse_quantity(quantity) if quantity is not None else None,
            product_id=product,
            term=term,
            billing_plan=billing_plan,
            co_term_subscription_id=co_term_with,
            force=force,
            reason=reason,
            actor=operator_actor(),
            now=now,
            today=today,
        )
        console.print(_summary(desk.renewal_of(session, sub)))


@app.command("clear")
def clear(subscription: str) -> None:
    """Drop every change scheduled for the renewal: it renews as it is."""
    with transaction() as session:
        _, now = moment()
        sub = lifecycle.require_subscription(session, subscription)
        count = at_renewal.clear_at_renewal(session, subscription_id=sub.id, actor=operator_actor(), now=now)
        console.print(f"cleared {count} change{'' if count == 1 else 's'}; " + _summary(desk.renewal_of(session, sub)))


def _set_auto_renew(subscription: str, enabled: bool) -> None:
    with transaction() as session:
        today, now = moment()
        sub = lock(session, lifecycle.require_subscription(session, subscription).id)
        lifecycle.update_subscription(
            session,
            subscription=sub,
            data=SubscriptionUpdate(auto_renew=enabled),
            today=today,
            now=now,
            actor=operator_actor(),
        )
        console.print(_summary(desk.renewal_of(session, sub)))


@app.command("dont-renew")
def dont_renew(subscription: str) -> None:
    """Don't renew: it expires at its term end; the changes scheduled for the renewal are dropped."""
    _set_auto_renew(subscription, False)


@app.command("renew")
def renew_again(subscription: str) -> None:
    """Renew again at the term end (auto-renew back on)."""
    _set_auto_renew(subscription, True)
