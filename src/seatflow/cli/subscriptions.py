"""``seatflow subscriptions …``, ``seatflow changes list`` and ``seatflow renew``."""

from __future__ import annotations

from datetime import date, datetime

import typer
from rich.table import Table

from seatflow.catalog.bundles import require_bundle
from seatflow.catalog.providers import require_provider_account
from seatflow.catalog.service import require_product
from seatflow.cli.catalog import parse_input
from seatflow.cli.context import console, moment, operator_actor, print_json, transaction
from seatflow.contracts.service import require_contract
from seatflow.errors import ValidationFailed
from seatflow.subscriptions import changes as change_service
from seatflow.subscriptions import lifecycle, linking, renewals, repository
from seatflow.subscriptions.batches import subscription_reads
from seatflow.subscriptions.models import LicenseChange, ProvisioningStatus, ScheduledChange
from seatflow.subscriptions.rules import parse_quantity
from seatflow.subscriptions.schemas import BundleOrder, LicenseChangeRead, SubscriptionCreate

app = typer.Typer(help="Subscriptions: create, change quantities, suspend, cancel, link.", no_args_is_help=True)
changes_app = typer.Typer(help="The license change log.", no_args_is_help=True)

_DATE = ["%Y-%m-%d"]


def _day(value: datetime | None) -> date | None:
    return value.date() if value else None


def _print_changes(changes: list[LicenseChange]) -> None:
    table = Table("kind", "before", "after", "effective", "origin", "provisioning", "attempts", "message", "id")
    for c in changes:
        table.add_row(
            c.kind.value,
            str(c.quantity_before),
            str(c.quantity_after),
            str(c.effective_date),
            c.origin.value,
            c.provisioning_status.value,
            str(c.attempts),
            c.message or "",
            str(c.id),
        )
    console.print(table)


@app.command("create")
def create(
    contract: str = typer.Option(...),
    product: str = typer.Option(..., help="Product id, code or provisioning ID."),
    quantity: str = typer.Option(..., help="A whole number within the product's limits."),
    provider_account: str | None = typer.Option(None, help="Name or id; the product's account when absent."),
    parent: str | None = typer.Option(None, help="Parent subscription id (add-ons)."),
    linked_to: str | None = typer.Option(None, help="Linked parent subscription id (needs a linked account)."),
    start: datetime | None = typer.Option(None, formats=_DATE),
    price: str | None = typer.Option(
        None,
        help="Unit price per month; when absent, the price rules' price (seatflow prices rules), else the "
        "product's list price.",
    ),
) -> None:
    """Create a subscription (an add-on needs --parent)."""
    with transaction() as session:
        today, now = moment()
        found = require_product(session, product)
        data = parse_input(
            SubscriptionCreate,
            contract_id=contract,
            product_id=str(found.id),
            quantity=parse_quantity(quantity, minimum=found.min_quantity, maximum=found.max_quantity),
            provider_account_id=provider_account,
            parent_subscription_id=parent,
            linked_subscription_id=linked_to,
            start_date=_day(start),
            unit_price=price,
        )
        subscription, _ = lifecycle.create_subscription(
            session, data=data, today=today, now=now, actor=operator_actor()
        )
        console.print(f"created subscription {subscription.id} ({subscription.quantity})")


@app.command("show")
def show(subscription: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show a subscription and its change log."""
    with transaction() as session:
        sub = lifecycle.require_subscription(session, subscription)
        [read] = subscription_reads(session, [sub], on=moment()[0])
        changes = list(repository.changes_of(session, sub.id))
        if as_json:
            print_json(
                {
                    **read.model_dump(mode="json"),
                    "changes": [LicenseChangeRead.from_model(c).model_dump(mode="json") for c in changes],
                }
            )
            return
        table = Table(show_header=False, box=None)
        for key, value in read.model_dump(mode="json").items():
            table.add_row(key, "" if value is None else str(value))
        console.print(table)
        _print_changes(changes)


@app.command("list")
def list_(contract: str | None = typer.Option(None), as_json: bool = typer.Option(False, "--json")) -> None:
    """List subscriptions, optionally of one contract."""
    with transaction() as session:
        contract_id = require_contract(session, contract).id if contract else None
        rows, _ = repository.list_subscriptions(
            session, repository.SubscriptionFilters(contract_id=contract_id), limit=500
        )
        subs = subscription_reads(session, rows, on=moment()[0])
    if as_json:
        print_json([s.model_dump(mode="json") for s in subs])
        return
    table = Table("id", "contract", "product", "qty", "status", "term end", "linked to")
    for s in subs:
        table.add_row(
            s.id,
            s.contract_id,
            s.product_id,
            str(s.quantity),
            s.status.value,
            str(s.term_end),
            s.linked_subscription_id or "",
        )
    console.print(table)


@app.command("quantity")
def quantity(
    subscription: str,
    new_quantity: str = typer.Argument(..., metavar="QUANTITY", help="A whole number within the product's limits."),
    effective: str = typer.Option("now", help="now, renewal or a date YYYY-MM-DD."),
    force: bool = typer.Option(False, help="Change a linked parent directly (needs --reason)."),
    reason: str | None = typer.Option(None),
) -> None:
    """Change the quantity now, at renewal or on a date; a linked child pushes the delta to its parent."""
    when: str | date = effective
    if effective not in ("now", "renewal"):
        try:
            when = date.fromisoformat(effective)
        except ValueError:
            raise ValidationFailed(f"--effective {effective!r} is not now, renewal or YYYY-MM-DD.") from None
    with transaction() as session:
        today, now = moment()
        sub = lifecycle.require_subscription(session, subscription)
        product = change_service.product_of(session, sub)
        result = change_service.change_quantity(
            session,
            subscription_id=sub.id,
            quantity=parse_quantity(new_quantity, minimum=product.min_quantity, maximum=product.max_quantity),
            effective=when,
            today=today,
            now=now,
            actor=operator_actor(),
            force=force,
            reason=reason,
        )
        if isinstance(result, ScheduledChange):
            console.print(
                f"scheduled: quantity {result.quantity} on {result.effective_date}"
                + (" (at renewal)" if result.at_renewal else "")
            )
        else:
            console.print(
                f"quantity {result.quantity_before} → {result.quantity_after}, {result.provisioning_status.value}"
            )


@app.command("suspend")
def suspend(subscription: str, cascade: bool = typer.Option(False, help="Suspend its add-ons too.")) -> None:
    """Suspend a subscription (refused while it has active add-ons, unless --cascade)."""
    with transaction() as session:
        today, now = moment()
        changes = lifecycle.suspend(
            session,
            subscription=lifecycle.require_subscription(session, subscription),
            cascade=cascade,
            today=today,
            now=now,
            actor=operator_actor(),
        )
        _print_changes(changes)


@app.command("reactivate")
def reactivate(subscription: str) -> None:
    """Reactivate a suspended subscription."""
    with transaction() as session:
        today, now = moment()
        changes = lifecycle.reactivate(
            session,
            subscription=lifecycle.require_subscription(session, subscription),
            today=today,
            now=now,
            actor=operator_actor(),
        )
        _print_changes(changes)


@app.command("cancel")
def cancel(
    subscription: str,
    cascade: bool = typer.Option(False, help="Cancel its add-ons too."),
    force: bool = typer.Option(False, help="Cancel a linked parent (needs --reason)."),
    reason: str | None = typer.Option(None),
) -> None:
    """Cancel a subscription; a linked child takes its quantity off its parent."""
    with transaction() as session:
        today, now = moment()
        changes = lifecycle.cancel(
            session,
            subscription=lifecycle.require_subscription(session, subscription),
            cascade=cascade,
            today=today,
            now=now,
            actor=operator_actor(),
            force=force,
            reason=reason,
        )
        _print_changes(changes)


@app.command("link")
def link(
    subscription: str,
    parent: str = typer.Option(..., help="The parent contract's subscription."),
    provider_account: str = typer.Option(..., help="A linked provider account (name or id)."),
) -> None:
    """Link a child subscription to its parent (pushes nothing; run `contracts check` after)."""
    with transaction() as session:
        sub = change_service.lock(session, lifecycle.require_subscription(session, subscription).id)
        linking.link(
            session,
            subscription=sub,
            target=lifecycle.require_subscription(session, parent),
            account=require_provider_account(session, provider_account),
        )
        console.print(f"linked {sub.id} to {parent}")


@app.command("order-bundle")
def order_bundle(
    bundle: str,
    contract: str = typer.Option(...),
    quantity: str = typer.Option(..., help="A whole number (each item's limits apply too)."),
) -> None:
    """Order a bundle: one real subscription per item, add-ons under their real parents."""
    with transaction() as session:
        today, now = moment()
        created = lifecycle.order_bundle(
            session,
            bundle=require_bundle(session, bundle),
            data=parse_input(BundleOrder, contract_id=contract, quantity=parse_quantity(quantity)),
            today=today,
            now=now,
            actor=operator_actor(),
        )
        for sub in created:
            console.print(f"created {sub.id} quantity {sub.quantity} parent {sub.parent_subscription_id or '-'}")


@changes_app.command("list")
def changes_list(
    status: ProvisioningStatus | None = typer.Option(None, help="awaiting_provisioning, failed, …"),
    subscription: str | None = typer.Option(None),
    limit: int = typer.Option(100, min=1, max=500),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List license changes, oldest first (``--status failed`` for the ones that need an operator)."""
    with transaction() as session:
        sub_id = lifecycle.require_subscription(session, subscription).id if subscription else None
        rows, _ = repository.list_changes(
            session, repository.ChangeFilters(subscription_id=sub_id, provisioning_status=status), limit=limit
        )
        if as_json:
            print_json([LicenseChangeRead.from_model(c).model_dump(mode="json") for c in rows])
        else:
            _print_changes(list(rows))


def renew(day: datetime | None = typer.Option(None, "--date", formats=_DATE, help="Today when absent.")) -> None:
    """Start pending subscriptions, apply scheduled changes that are due, renew or end terms that ended.

    Works in batches, each its own transaction, so other commands and the server are never locked out for
    long; an interrupted run goes on where it stopped when run again."""
    total = renewals.RenewalResult()
    batches = 0
    while True:
        with transaction() as session:
            today, now = moment()
            result = renewals.run_renewals(session, today=_day(day) or today, now=now)
        batches += 1
        for name in ("started", "scheduled_applied", "scheduled_failed", "renewed", "ended"):
            setattr(total, name, getattr(total, name) + getattr(result, name))
        if not result.more:
            break
    console.print(
        f"started {total.started}, scheduled changes applied {total.scheduled_applied} "
        f"(failed {total.scheduled_failed}), renewed {total.renewed}, ended {total.ended}"
        + (f" in {batches} batches" if batches > 1 else "")
    )
