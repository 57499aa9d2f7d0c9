"""``seatflow catalog …``: provider accounts, products, parents, bundles, import and export."""

from __future__ import annotations

import re
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.table import Table

from seatflow.catalog import bundles as bundle_service
from seatflow.catalog import document, providers, repository
from seatflow.catalog import service as product_service
from seatflow.catalog.imports import ImportFormat, import_catalog
from seatflow.catalog.models import Bundle, CatalogStatus, ProductKind, ProviderKind
from seatflow.catalog.schemas import (
    BundleCreate,
    BundleItemIn,
    BundleRead,
    ProductCreate,
    ProductRead,
    ProductUpdate,
    ProviderAccountCreate,
    ProviderAccountRead,
)
from seatflow.cli.context import clock, console, print_json, settings, transaction
from seatflow.errors import ValidationFailed
from seatflow.money import format_money

app = typer.Typer(help="The catalog: provider accounts, products, add-on parents, bundles.", no_args_is_help=True)
accounts_app = typer.Typer(
    help="Provider accounts (where offers come from and provisioning goes).", no_args_is_help=True
)
products_app = typer.Typer(help="Licenses, add-ons and services.", no_args_is_help=True)
bundles_app = typer.Typer(help="Bundles of products sold together.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
app.add_typer(products_app, name="products")
app.add_typer(bundles_app, name="bundles")


def parse_input(model: Any, **fields: Any) -> Any:
    """Validate CLI input with the API's own schema; pydantic's error becomes our ValidationFailed."""
    try:
        return model(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationFailed(f"{where}: {first['msg']}") from None


# --- import / export -----------------------------------------------------------------------------------


@app.command("import")
def import_(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Catalog document (YAML/JSON) or CSV."),
    fmt: ImportFormat | None = typer.Option(None, "--format", help="Guessed from the file when absent."),
    provider_account: str | None = typer.Option(
        None, "--provider-account", "-a", help="For the licensing CSV: the account (name or id)."
    ),
    kind: ProductKind = typer.Option(ProductKind.LICENSE, help="For the licensing CSV: kind of new products."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report what would change; keep nothing."),
) -> None:
    """Import a catalog document or Microsoft's licensing CSV, all or nothing. Re-importing is idempotent."""
    with transaction() as session:
        result = import_catalog(
            session,
            content=file.read_bytes(),
            fmt=fmt,
            default_currency=settings().default_currency,
            provider_account=provider_account,
            kind=kind,
            filename=file.name,
            now=clock().now(),
        )
        if dry_run:
            session.rollback()
            result.dry_run = True
    table = Table(
        "",
        "created",
        "updated",
        "unchanged",
        title=f"{file.name} ({result.format})" + (" — dry run, nothing kept" if dry_run else ""),
    )
    for name, counts in result.details.items():
        table.add_row(name, str(counts.created), str(counts.updated), str(counts.unchanged))
    console.print(table)
    if result.rows_read is not None:
        console.print(f"{result.rows_read} rows read")
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


@app.command()
def export(
    fmt: str = typer.Option("yaml", "--format", help="yaml or json."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File to write; stdout when absent."),
) -> None:
    """Export the whole catalog as a document that `catalog import` reads back unchanged."""
    if fmt not in ("yaml", "json"):
        raise ValidationFailed("--format is yaml or json.")
    with transaction() as session:
        text = document.dump_document(document.export_document(session), "json" if fmt == "json" else "yaml")
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")


@app.command()
def check(as_json: bool = typer.Option(False, "--json")) -> None:
    """List active products that cannot be bought at their provider (a Partner Center product without a
    new-commerce productId:skuId) or sold at all; exits 1 when there are any."""
    with transaction() as session:
        problems = product_service.catalog_problems(session)
    if as_json:
        print_json([p.model_dump(mode="json") for p in problems])
    elif not problems:
        console.print("the catalog is sound")
    else:
        table = Table("code", "product", "detail")
        for p in problems:
            table.add_row(p.code, p.product_code, p.detail)
        console.print(table)
    if problems:
        raise typer.Exit(1)


# --- provider accounts ---------------------------------------------------------------------------------


@accounts_app.command("list")
def accounts_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """List provider accounts."""
    with transaction() as session:
        rows = [ProviderAccountRead.from_model(a) for a in repository.all_provider_accounts(session)]
    if as_json:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    table = Table("name", "kind", "id")
    for row in rows:
        table.add_row(row.name, row.kind.value, row.id)
    console.print(table)


@accounts_app.command("create")
def accounts_create(
    name: str,
    kind: ProviderKind = typer.Option(..., help="partner_center, manual, do_nothing or linked."),
    setting: list[str] = typer.Option([], "--setting", "-s", help="key=value, e.g. base_url=http://…"),
) -> None:
    """Create a provider account."""
    pairs = {}
    for item in setting:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValidationFailed(f"--setting {item!r} is not key=value.")
        pairs[key.strip()] = value
    data = parse_input(ProviderAccountCreate, name=name, kind=kind, settings=pairs)
    with transaction() as session:
        account = providers.create_provider_account(session, data=data)
        console.print(f"created provider account {account.name!r} ({account.kind.value}) {account.id}")


# --- products ------------------------------------------------------------------------------------------


def _product_row(product: ProductRead) -> list[str]:
    return [
        product.product_code,
        product.name,
        product.kind.value,
        product.provisioning_id or "",
        format_money(product.list_price) or "",
        product.status.value,
        "yes" if product.sellable else "no",
    ]


@products_app.command("list")
def products_list(
    account: str | None = typer.Option(None, "--provider-account", "-a", help="Name or id."),
    kind: ProductKind | None = typer.Option(None),
    status: CatalogStatus | None = typer.Option(None),
    search: str | None = typer.Option(None, "--search", "-q", help="Part of the name."),
    limit: int = typer.Option(100, min=1, max=500),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List products, oldest first."""
    with transaction() as session:
        account_id = providers.require_provider_account(session, account).id if account else None
        filters = repository.ProductFilters(provider_account_id=account_id, kind=kind, status=status, search=search)
        rows, more = repository.list_products(session, filters, limit=limit)
        products = [ProductRead.from_model(p) for p in rows]
    if as_json:
        print_json([p.model_dump(mode="json") for p in products])
        return
    table = Table("code", "name", "kind", "provisioning id", "price", "status", "sellable")
    for product in products:
        table.add_row(*_product_row(product))
    console.print(table)
    if more:
        console.print(f"(more than {limit}: narrow with --search, --kind or raise --limit)")


@products_app.command("show")
def products_show(
    ref: str = typer.Argument(..., help="Product id or code (P-00012)."), as_json: bool = typer.Option(False, "--json")
) -> None:
    """Show one product with its possible parents and the add-ons that hang under it."""
    with transaction() as session:
        product = product_service.require_product(session, ref)
        read = ProductRead.from_model(product)
        parents = [product_service.label(p) for p in product.parents]
        children = [product_service.label(c) for c in repository.children_of(session, product.id)]
    if as_json:
        print_json(read.model_dump(mode="json"))
        return
    table = Table(show_header=False, box=None)
    for key, value in read.model_dump(mode="json", exclude={"service_plans", "parent_product_ids", "plans"}).items():
        table.add_row(key, "" if value is None else str(value))
    for plan in read.plans:
        prices = f"{format_money(plan.list_price) or 'unpriced'} (cost {format_money(plan.cost_price) or '—'})"
        table.add_row("plan", f"{plan.term.value} {plan.billing_plan.value}: {prices}")
    table.add_row("parents", ", ".join(parents) or "—")
    table.add_row("add-ons under it", ", ".join(children) or "—")
    table.add_row("service plans", str(len(read.service_plans)))
    console.print(table)


def _product_fields(**options: Any) -> dict[str, Any]:
    rename = {
        "price": "list_price",
        "cost": "cost_price",
        "billing": "billing_frequency",
        "reduction": "reduction_behavior",
        "window": "reduction_window_days",
        "minimum": "min_quantity",
        "maximum": "max_quantity",
    }
    fields = {rename.get(k, k): v for k, v in options.items() if v is not None}
    if fields.pop("not_assignable", False):
        fields["assignable_to_users"] = False
    return fields


_PRICE = typer.Option(None, help="List price per unit per month, e.g. 36.00.")
_PLAN = typer.Option(
    [],
    "--plan",
    help="TERM:BILLING[:PRICE[:COST]], e.g. P1Y:annual:36.00:28.80; repeat for each combination it is sold in "
    "(the first is the default unless --term/--billing name another; on update the list replaces the plans).",
)


def _plans(specs: list[str]) -> list[dict[str, str]] | None:
    if not specs:
        return None
    plans = []
    for spec in specs:
        parts = spec.split(":")
        if not 2 <= len(parts) <= 4:
            raise ValidationFailed(f"--plan {spec!r} is not TERM:BILLING[:PRICE[:COST]].")
        names = ("term", "billing_plan", "list_price", "cost_price")
        plans.append({name: part.strip() for name, part in zip(names, parts, strict=False)})
    return plans


@products_app.command("create")
def products_create(
    name: str = typer.Option(...),
    account: str = typer.Option(..., "--provider-account", "-a", help="Name or id."),
    kind: ProductKind = typer.Option(...),
    offer_id: str | None = typer.Option(None),
    provisioning_id: str | None = typer.Option(None),
    sku_id: str | None = typer.Option(None),
    description: str | None = typer.Option(None),
    unit: str | None = typer.Option(None, help="license, GB, …"),
    price: Decimal | None = _PRICE,
    cost: Decimal | None = typer.Option(None, help="Cost price per unit per month."),
    term: str | None = typer.Option(None, help="P1M, P1Y or P3Y."),
    billing: str | None = typer.Option(None, help="monthly, quarterly or annual."),
    minimum: int | None = typer.Option(None, "--min"),
    maximum: int | None = typer.Option(None, "--max"),
    reduction: str | None = typer.Option(None, help="allowed, disallowed or allowed_within_window."),
    window: int | None = typer.Option(None, help="Reduction window in days."),
    not_assignable: bool = typer.Option(False, "--not-assignable", help="Cannot be assigned to users."),
    parent: list[str] = typer.Option([], help="Possible parent (id or code); repeat for several."),
    plan: list[str] = _PLAN,
) -> None:
    """Create a product; its code is assigned and printed."""
    with transaction() as session:
        account_id = str(providers.require_provider_account(session, account).id)
        data = parse_input(
            ProductCreate,
            provider_account_id=account_id,
            kind=kind,
            name=name,
            parent_product_ids=parent,
            plans=_plans(plan),
            **_product_fields(
                offer_id=offer_id,
                provisioning_id=provisioning_id,
                sku_id=sku_id,
                description=description,
                unit=unit,
                price=price,
                cost=cost,
                term=term,
                billing=billing,
                minimum=minimum,
                maximum=maximum,
                reduction=reduction,
                window=window,
                not_assignable=not_assignable,
            ),
        )
        product = product_service.create_product(session, data=data, default_currency=settings().default_currency)
        console.print(f"created {product.product_code} {product.name!r}")


@products_app.command("update")
def products_update(
    ref: str,
    name: str | None = typer.Option(None),
    kind: ProductKind | None = typer.Option(None),
    offer_id: str | None = typer.Option(None, help="For Partner Center, the new-commerce productId:skuId."),
    description: str | None = typer.Option(None),
    unit: str | None = typer.Option(None),
    price: Decimal | None = _PRICE,
    cost: Decimal | None = typer.Option(None),
    term: str | None = typer.Option(None),
    billing: str | None = typer.Option(None),
    minimum: int | None = typer.Option(None, "--min"),
    maximum: int | None = typer.Option(None, "--max"),
    reduction: str | None = typer.Option(None),
    window: int | None = typer.Option(None),
    not_assignable: bool = typer.Option(False, "--not-assignable"),
    plan: list[str] = _PLAN,
) -> None:
    """Change the fields given; the others stay."""
    data = parse_input(
        ProductUpdate,
        kind=kind,
        plans=_plans(plan),
        **_product_fields(
            name=name,
            offer_id=offer_id,
            description=description,
            unit=unit,
            price=price,
            cost=cost,
            term=term,
            billing=billing,
            minimum=minimum,
            maximum=maximum,
            reduction=reduction,
            window=window,
            not_assignable=not_assignable,
        ),
    )
    with transaction() as session:
        product = product_service.require_product(session, ref, for_update=True)
        product = product_service.update_product(session, product=product, data=data)
        console.print(f"updated {product.product_code} {product.name!r}")


@products_app.command("retire")
def products_retire(ref: str) -> None:
    """Stop selling a product; subscriptions and history keep referring to it."""
    with transaction() as session:
        product = product_service.retire_product(
            session, product=product_service.require_product(session, ref, for_update=True), now=clock().now()
        )
        console.print(f"retired {product.product_code} {product.name!r}")


@products_app.command("reactivate")
def products_reactivate(ref: str) -> None:
    """Sell a retired product again."""
    with transaction() as session:
        product = product_service.reactivate_product(
            session, product=product_service.require_product(session, ref, for_update=True)
        )
        console.print(f"reactivated {product.product_code} {product.name!r}")


@products_app.command("delete")
def products_delete(ref: str) -> None:
    """Delete a product that is used nowhere (a used one can only be retired)."""
    with transaction() as session:
        product = product_service.require_product(session, ref)
        code = product.product_code
        product_service.delete_product(session, product=product)
        console.print(f"deleted {code}")


@products_app.command("add-parent")
def products_add_parent(ref: str, parent: str) -> None:
    """Let add-on REF hang under PARENT (refused if it would make a cycle)."""
    with transaction() as session:
        product = product_service.require_product(session, ref, for_update=True)
        product = product_service.add_parent(
            session, product=product, parent=product_service.require_product(session, parent)
        )
        console.print(f"{product.name}: parents {', '.join(p.name for p in product.parents)}")


@products_app.command("remove-parent")
def products_remove_parent(ref: str, parent: str) -> None:
    """Remove PARENT from the possible parents of REF (an add-on with none is not sellable)."""
    with transaction() as session:
        product = product_service.require_product(session, ref, for_update=True)
        product = product_service.remove_parent(
            session, product=product, parent=product_service.require_product(session, parent)
        )
        console.print(f"{product.name}: parents {', '.join(p.name for p in product.parents) or 'none (not sellable)'}")


# --- bundles -------------------------------------------------------------------------------------------

_ITEM = re.compile(r"^(?P<ref>.+?)(?:x(?P<mult>\d+))?(?:@(?P<parent>\d+))?(?P<nobill>:nobill)?$")


def _bundle_item(spec: str, session: Any) -> BundleItemIn:
    match = _ITEM.match(spec.strip())
    if not match:
        raise ValidationFailed(f"--item {spec!r} is not PRODUCT[xN][@PARENT_INDEX][:nobill].")
    product = product_service.require_product(session, match["ref"])
    item: BundleItemIn = parse_input(
        BundleItemIn,
        product_id=str(product.id),
        quantity_multiplier=int(match["mult"] or 1),
        parent_item=int(match["parent"]) if match["parent"] else None,
        billable=not match["nobill"],
    )
    return item


def _print_bundle(bundle: Bundle) -> None:
    read = BundleRead.from_model(bundle, sellable=bundle_service.bundle_sellable(bundle))
    table = Table(
        "#",
        "product",
        "x",
        "under",
        "billable",
        "price",
        title=f"{read.name} ({read.status.value}, {'sellable' if read.sellable else 'not sellable'})",
    )
    for index, item in enumerate(read.items):
        table.add_row(
            str(index),
            f"{item.product_name} ({item.product_code})",
            str(item.quantity_multiplier),
            "" if item.parent_item is None else str(item.parent_item),
            "yes" if item.billable else "no",
            format_money(item.unit_price) or "",
        )
    console.print(table)
    console.print(f"bundle price per unit per month: {format_money(read.list_price) or 'not priced'}")


@bundles_app.command("list")
def bundles_list() -> None:
    """List bundles."""
    with transaction() as session:
        table = Table("name", "items", "status", "sellable")
        for bundle in repository.all_bundles(session):
            table.add_row(
                bundle.name,
                str(len(bundle.items)),
                bundle.status.value,
                "yes" if bundle_service.bundle_sellable(bundle) else "no",
            )
        console.print(table)


@bundles_app.command("show")
def bundles_show(ref: str = typer.Argument(..., help="Bundle id or name.")) -> None:
    """Show a bundle's items and which item each hangs under."""
    with transaction() as session:
        _print_bundle(bundle_service.require_bundle(session, ref))


@bundles_app.command("create")
def bundles_create(
    name: str,
    item: list[str] = typer.Option(..., help="PRODUCT[xN][@PARENT_INDEX][:nobill], in order; e.g. P-00005@0"),
    description: str = typer.Option(""),
) -> None:
    """Create a bundle. Each add-on item names the index of the earlier item it hangs under."""
    with transaction() as session:
        items = [_bundle_item(spec, session) for spec in item]
        bundle = bundle_service.create_bundle(
            session, data=parse_input(BundleCreate, name=name, description=description, items=items)
        )
        _print_bundle(bundle)


@bundles_app.command("retire")
def bundles_retire(ref: str) -> None:
    """Stop selling a bundle."""
    with transaction() as session:
        bundle = bundle_service.retire_bundle(
            session, bundle=bundle_service.require_bundle(session, ref), now=clock().now()
        )
        console.print(f"retired bundle {bundle.name!r}")
