"""``seatflow customers …`` and ``seatflow contracts …``."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import typer
from rich.table import Table

from seatflow.catalog.models import BillingFrequency
from seatflow.cli.catalog import parse_input
from seatflow.cli.context import clock, console, moment, print_json, settings, transaction
from seatflow.contracts import service as contract_service
from seatflow.contracts.models import BillingPolicy, ProrationUnit
from seatflow.contracts.schemas import ContractCreate, ContractUpdate
from seatflow.customers import service as customer_service
from seatflow.customers.models import ContactRole
from seatflow.customers.schemas import ContactCreate, CustomerCreate, CustomerRead
from seatflow.errors import ValidationFailed
from seatflow.subscriptions.linking import setup_check

customers_app = typer.Typer(
    help="Customer accounts (a tree, mapped to tenants) and their contacts.", no_args_is_help=True
)
contracts_app = typer.Typer(help="Billing contracts and the linked-subscription setup check.", no_args_is_help=True)


@customers_app.command("create")
def customers_create(
    name: str,
    parent: str | None = typer.Option(None, help="Parent customer id."),
    tenant: str | None = typer.Option(None, help="Provider tenant / Partner Center customer id."),
    currency: str | None = typer.Option(None),
    tax_id: str | None = typer.Option(None, "--tax-id", help="Tax or VAT number, printed on its invoices."),
) -> None:
    """Create a customer account."""
    data = parse_input(
        CustomerCreate, name=name, parent_customer_id=parent, tenant_id=tenant, currency=currency, tax_id=tax_id
    )
    with transaction() as session:
        customer = customer_service.create_customer(session, data=data, default_currency=settings().default_currency)
        console.print(f"created customer {customer.name!r} {customer.id}")


@customers_app.command("list")
def customers_list(
    as_json: bool = typer.Option(False, "--json"), limit: int = typer.Option(100, min=1, max=500)
) -> None:
    """List customer accounts."""
    with transaction() as session:
        rows, _ = customer_service.list_customers(session, limit=limit)
        customers = [CustomerRead.from_model(c) for c in rows]
    if as_json:
        print_json([c.model_dump(mode="json") for c in customers])
        return
    table = Table("name", "tenant", "parent", "id")
    for c in customers:
        table.add_row(c.name, c.tenant_id or "", c.parent_customer_id or "", c.id)
    console.print(table)


@customers_app.command("invite")
def customers_invite(
    customer: str,
    email: str,
    name: str = typer.Option(...),
    role: list[ContactRole] = typer.Option(..., help="Repeat for several roles."),
) -> None:
    """Invite a contact; prints the invitation link (valid 7 days, shown once)."""
    data = parse_input(ContactCreate, email=email, name=name, roles=role)
    with transaction() as session:
        account = customer_service.require_customer(session, customer)
        contact, link = customer_service.invite_contact(
            session, customer=account, data=data, now=clock().now(), base_url=settings().public_base_url
        )
        console.print(f"invited {contact.email} to {account.name!r}; invitation link:")
    print(link)


@contracts_app.command("create")
def contracts_create(
    customer: str,
    name: str = typer.Option(...),
    start: datetime = typer.Option(..., formats=["%Y-%m-%d"], help="Start date, YYYY-MM-DD."),
    parent: str | None = typer.Option(None, help="Parent contract id."),
    billable: bool = typer.Option(True, "--billable/--not-billable"),
    frequency: BillingFrequency = typer.Option(BillingFrequency.MONTHLY),
    policy: BillingPolicy = typer.Option(BillingPolicy.ADVANCE),
    proration: ProrationUnit = typer.Option(ProrationUnit.DAYS),
    tax_rate: Decimal = typer.Option(Decimal(0), help="e.g. 0.08"),
    default: bool = typer.Option(False, "--default"),
    bill_from: datetime | None = typer.Option(
        None, "--bill-from", formats=["%Y-%m-%d"], help="Bill nothing before this cycle start (an imported contract)."
    ),
    consolidate: bool = typer.Option(
        False,
        "--consolidate-child-invoices/--no-consolidate-child-invoices",
        help="Bill the child contracts' charges of a cycle on one invoice to this contract's customer, a section "
        "per child contract (default: one invoice per child contract).",
    ),
) -> None:
    """Create a billing contract (a child of --parent for per-location billing)."""
    data = parse_input(
        ContractCreate,
        customer_id=customer,
        name=name,
        start_date=start.date(),
        parent_contract_id=parent,
        billable=billable,
        billing_frequency=frequency,
        billing_policy=policy,
        proration_unit=proration,
        tax_rate=tax_rate,
        is_default=default,
        bill_from=bill_from.date() if bill_from else None,
        consolidate_child_invoices=consolidate,
    )
    with transaction() as session:
        contract = contract_service.create_contract(session, data=data)
        console.print(f"created contract {contract.name!r} {contract.id}")


@contracts_app.command("list")
def contracts_list(customer: str | None = typer.Option(None), as_json: bool = typer.Option(False, "--json")) -> None:
    """List billing contracts."""
    with transaction() as session:
        customer_id = customer_service.require_customer(session, customer).id if customer else None
        rows, _ = contract_service.list_contracts(session, customer_id=customer_id, limit=500)
        contracts = contract_service.contract_reads(session, rows)
    if as_json:
        print_json([c.model_dump(mode="json") for c in contracts])
        return
    table = Table("name", "billable", "frequency", "policy", "parent", "id")
    for c in contracts:
        table.add_row(
            c.name,
            "yes" if c.billable else "no",
            c.billing_frequency.value,
            c.billing_policy.value,
            c.parent_contract_id or "",
            c.id,
        )
    console.print(table)


@contracts_app.command("update")
def contracts_update(
    contract: str,
    name: str | None = typer.Option(None, help="A new name."),
    consolidate: bool | None = typer.Option(
        None,
        "--consolidate-child-invoices/--no-consolidate-child-invoices",
        help="From the next billing run: one invoice per cycle for the child contracts' charges, a section per "
        "child contract, to this contract's customer (or, with --no-…, one invoice per child contract again).",
    ),
) -> None:
    """Change a contract's name or whether it consolidates its child contracts' invoices (billing schedules:
    ``contracts schedule``; bill-from: ``contracts bill-from``)."""
    fields = {
        key: value for key, value in (("name", name), ("consolidate_child_invoices", consolidate)) if value is not None
    }
    if not fields:
        raise ValidationFailed(
            "Say what changes: --name or --consolidate-child-invoices/--no-consolidate-child-invoices.",
            code="validation_failed",
        )
    data = parse_input(ContractUpdate, **fields)
    with transaction() as session:
        today, now = moment()
        found = contract_service.require_contract(session, contract, for_update=True)
        contract_service.update_contract(session, contract=found, data=data, today=today, now=now)
        read = contract_service.contract_read(session, found)
    consolidates = "consolidates" if read.consolidate_child_invoices else "does not consolidate"
    console.print(f"{read.name}: {consolidates} its child contracts' invoices")


@contracts_app.command("show")
def contracts_show(contract: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show a billing contract."""
    with transaction() as session:
        read = contract_service.contract_read(session, contract_service.require_contract(session, contract))
    if as_json:
        print_json(read.model_dump(mode="json"))
        return
    table = Table("field", "value")
    for key, value in read.model_dump(mode="json", exclude={"earlier_schedules"}).items():
        table.add_row(key, "" if value is None else str(value))
    console.print(table)


@contracts_app.command("schedule")
def contracts_schedule(
    contract: str,
    frequency: BillingFrequency | None = typer.Option(None),
    policy: BillingPolicy | None = typer.Option(None),
    proration: ProrationUnit | None = typer.Option(None),
    effective: datetime | None = typer.Option(
        None,
        formats=["%Y-%m-%d"],
        help="A cycle boundary after every period billed; today when absent (nothing billed: the start or bill-from).",
    ),
) -> None:
    """Change how a contract is billed, from a cycle boundary on: a change inside a cycle is refused, naming the
    next boundary; no period is ever billed twice or skipped."""
    fields = {
        name: value
        for name, value in (("billing_frequency", frequency), ("billing_policy", policy), ("proration_unit", proration))
        if value is not None
    }
    if not fields:
        raise ValidationFailed("Say what changes: --frequency, --policy or --proration.", code="validation_failed")
    data = parse_input(ContractUpdate, **fields, schedule_effective=effective.date() if effective else None)
    with transaction() as session:
        today, now = moment()
        found = contract_service.require_contract(session, contract, for_update=True)
        contract_service.update_contract(session, contract=found, data=data, today=today, now=now)
        read = contract_service.contract_read(session, found)
    console.print(
        f"{read.name}: {read.billing_frequency.value} in {read.billing_policy.value}, prorated by "
        f"{read.proration_unit.value}, from {read.schedule_from}"
    )


@contracts_app.command("bill-from")
def contracts_bill_from(
    contract: str,
    day: datetime = typer.Argument(..., formats=["%Y-%m-%d"], help="A cycle start: nothing before it is billed."),
) -> None:
    """Bill a contract imported with a start in the past from this cycle start on (before its first invoice)."""
    data = parse_input(ContractUpdate, bill_from=day.date())
    with transaction() as session:
        today, now = moment()
        found = contract_service.require_contract(session, contract, for_update=True)
        contract_service.update_contract(session, contract=found, data=data, today=today, now=now)
        console.print(f"{found.name}: billed from {found.bill_from or found.start_date}")


@contracts_app.command("check")
def contracts_check(contract: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """List every problem of the linked setup around a contract; exits 1 when there are any."""
    with transaction() as session:
        problems = setup_check(session, contract_service.require_contract(session, contract))
    if as_json:
        print_json([p.model_dump(mode="json") for p in problems])
    elif not problems:
        console.print("the linked setup is sound")
    else:
        table = Table("code", "subscription", "detail")
        for p in problems:
            table.add_row(p.code, p.subscription_id or "", p.detail)
        console.print(table)
    if problems:
        raise typer.Exit(1)
