"""The catalog document: provider accounts, products, parents and bundles as one YAML or JSON file.

Import is an upsert through the same services the API uses, so every catalog rule applies. Identity:
provider accounts and bundles by name; products by offer ID, then provisioning ID, then product code,
within their provider account. Errors name the line of the document they come from. The caller's unit
of work makes the whole import one transaction: all or nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from seatflow.catalog import repository
from seatflow.catalog.bundles import create_bundle, reactivate_bundle, retire_bundle, update_bundle
from seatflow.catalog.errors import ImportInvalid
from seatflow.catalog.models import Bundle, CatalogStatus, Product, ProductKind, ProviderAccount, ProviderKind
from seatflow.catalog.providers import (
    MASK,
    change_provider_kind,
    create_provider_account,
    update_provider_account,
)
from seatflow.catalog.schemas import (
    SECRET_SETTINGS,
    BundleCreate,
    BundleItemIn,
    BundleUpdate,
    Description,
    ImportResult,
    Name,
    ProductCreate,
    ProductFields,
    ProductUpdate,
    ProviderAccountCreate,
    ProviderAccountUpdate,
    ShortName,
    sorted_plans,
)
from seatflow.catalog.service import (
    create_product,
    label,
    reactivate_product,
    retire_product,
    set_parents,
    update_product,
)
from seatflow.errors import SeatflowError
from seatflow.money import format_money
from seatflow.schemas import IntIn, JsonObjectIn, TextIn

DOCUMENT_VERSION = 1


# --- the document's shape ------------------------------------------------------------------------------


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountEntry(_Entry):
    name: ShortName
    kind: ProviderKind
    settings: JsonObjectIn = Field(default_factory=dict)


class ProductEntry(ProductFields):
    provider_account: Name
    kind: ProductKind
    name: Name
    status: CatalogStatus | None = None
    """``retired`` keeps a retired product retired; absent leaves the status as it is (new: active)."""
    product_code: TextIn | None = None
    parents: list[TextIn] | None = None
    """Offer IDs, provisioning IDs or product codes of possible parents in the same provider account."""


class ItemEntry(_Entry):
    product: TextIn
    provider_account: Name | None = None
    quantity_multiplier: IntIn = Field(default=1, ge=1, le=1000)
    parent_item: IntIn | None = Field(default=None, ge=0)
    billable: bool = True
    unit_price: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=4)


class BundleEntry(_Entry):
    name: ShortName
    status: CatalogStatus | None = None
    description: Description = ""
    items: list[ItemEntry]


class CatalogDocument(_Entry):
    seatflow_catalog: Literal[1] = 1
    provider_accounts: list[AccountEntry] = Field(default_factory=list)
    products: list[ProductEntry] = Field(default_factory=list)
    bundles: list[BundleEntry] = Field(default_factory=list)


# --- parsing with line numbers -------------------------------------------------------------------------


class _LineLoader(yaml.SafeLoader):
    """Remembers the line of every mapping key and sequence item, and reads floats as Decimal."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.lines: dict[tuple[int, object], int] = {}

    # SafeLoader builds a temporary dict (list) and copies it into the one it yielded to the parent, so the
    # lines are remembered on the yielded object: the one the document keeps.
    def construct_line_map(self, node: yaml.MappingNode) -> Iterator[dict[Any, Any]]:
        data: dict[Any, Any] = {}
        yield data
        data.update(self.construct_mapping(node))
        for key_node, _ in node.value:
            self.lines[(id(data), key_node.value)] = key_node.start_mark.line + 1

    def construct_line_seq(self, node: yaml.SequenceNode) -> Iterator[list[Any]]:
        data: list[Any] = []
        yield data
        data.extend(self.construct_sequence(node))
        for index, item in enumerate(node.value):
            self.lines[(id(data), index)] = item.start_mark.line + 1


def _decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal:
    text = str(loader.construct_scalar(node)).replace("_", "")
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise yaml.constructor.ConstructorError(None, None, f"{text!r} is not a number", node.start_mark) from exc


_LineLoader.add_constructor("tag:yaml.org,2002:float", _decimal)
_LineLoader.add_constructor("tag:yaml.org,2002:map", _LineLoader.construct_line_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _LineLoader.construct_line_seq)


class ParsedDocument:
    def __init__(self, root: Any, lines: dict[tuple[int, object], int]) -> None:
        self.root = root
        self._lines = lines

    def line_of(self, path: Sequence[int | str]) -> int | None:
        """The line of the deepest element of ``path`` that the document has."""
        node, line = self.root, None
        for step in path:
            found = self._lines.get((id(node), step))
            if found is None:
                break
            line = found
            try:
                node = node[step]
            except (KeyError, IndexError, TypeError):
                break
        return line


def parse_document(text: str) -> ParsedDocument:
    if text.startswith("\ufeff"):
        text = text[1:]
    loader = _LineLoader(text)
    try:
        root = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ImportInvalid(
            f"line {line}: the document is not valid YAML or JSON: {exc.problem or exc}", line=line
        ) from exc
    except yaml.YAMLError as exc:
        raise ImportInvalid(f"The document is not valid YAML or JSON: {exc}") from exc
    finally:
        loader.dispose()
    if not isinstance(root, dict):
        raise ImportInvalid(
            "line 1: a catalog document is a mapping with provider_accounts, products, bundles.", line=1
        )
    return ParsedDocument(root, loader.lines)


def _validate(parsed: ParsedDocument) -> CatalogDocument:
    try:
        return CatalogDocument.model_validate(parsed.root)
    except ValidationError as exc:
        error = exc.errors()[0]
        path = [p for p in error["loc"] if isinstance(p, int | str)]
        line = parsed.line_of(path) or 1
        where = _path_text(path)
        raise ImportInvalid(f"line {line}: {where}: {error['msg']}", line=line, path=where) from exc


def _path_text(path: Sequence[int | str]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


def _at(parsed: ParsedDocument, path: Sequence[int | str], exc: SeatflowError) -> SeatflowError:
    """The same error (same class and code) with the document line in front."""
    line = parsed.line_of(path)
    exc.message = f"line {line}: {_path_text(path)}: {exc.message}"
    exc.args = (exc.message,)
    exc.extra.update(line=line, path=_path_text(path))
    return exc


# --- import --------------------------------------------------------------------------------------------


def import_document(session: Session, *, text: str, default_currency: str, now: datetime | None = None) -> ImportResult:
    """``now`` stamps products and bundles the document retires (real time when absent)."""
    now = now or datetime.now(UTC)
    parsed = parse_document(text)
    document = _validate(parsed)
    result = ImportResult(format="document")
    accounts = _import_accounts(session, parsed, document, result)
    products, outcomes = _import_products(session, parsed, document, accounts, default_currency)
    _import_parents(session, parsed, document, products, outcomes)
    bundles, bundle_outcomes = _import_bundles(session, parsed, document, accounts)
    # Statuses last: a retired product can no longer become a parent or join a bundle, yet an exported
    # catalog may hold one that was retired after it did.
    _import_statuses(session, document.products, products, outcomes, now)
    _import_statuses(session, document.bundles, bundles, bundle_outcomes, now)
    for outcome in outcomes:
        result.count("products", outcome)
    for outcome in bundle_outcomes:
        result.count("bundles", outcome)
    return result


def _import_statuses(
    session: Session,
    entries: Sequence[ProductEntry | BundleEntry],
    rows: Sequence[Product | Bundle],
    outcomes: list[str],
    now: datetime,
) -> None:
    for index, (entry, row) in enumerate(zip(entries, rows, strict=True)):
        if entry.status is None or entry.status is row.status:
            continue
        if isinstance(row, Product):
            if entry.status is CatalogStatus.RETIRED:
                retire_product(session, product=row, now=now)
            else:
                reactivate_product(session, product=row)
        elif entry.status is CatalogStatus.RETIRED:
            retire_bundle(session, bundle=row, now=now)
        else:
            reactivate_bundle(session, bundle=row)
        if outcomes[index] == "unchanged":
            outcomes[index] = "updated"


def _import_accounts(
    session: Session, parsed: ParsedDocument, document: CatalogDocument, result: ImportResult
) -> dict[str, ProviderAccount]:
    accounts = {a.name: a for a in repository.all_provider_accounts(session)}
    for index, entry in enumerate(document.provider_accounts):
        try:
            existing = accounts.get(entry.name)
            if existing is None:
                settings = {k: v for k, v in entry.settings.items() if not (k in SECRET_SETTINGS and v == MASK)}
                accounts[entry.name] = create_provider_account(
                    session, data=ProviderAccountCreate(name=entry.name, kind=entry.kind, settings=settings)
                )
                result.count("provider_accounts", "created")
                continue
            before = (existing.kind, dict(existing.settings))
            change_provider_kind(session, account=existing, kind=entry.kind)
            # Settings the entry leaves out are kept, as a PATCH keeps them (a document may name an account only).
            stated = entry.settings if "settings" in entry.model_fields_set else None
            update_provider_account(session, account=existing, data=ProviderAccountUpdate(settings=stated))
            changed = before != (existing.kind, existing.settings)
            result.count("provider_accounts", "updated" if changed else "unchanged")
        except SeatflowError as exc:
            raise _at(parsed, ["provider_accounts", index], exc) from exc
    return accounts


def _find_product(session: Session, account: ProviderAccount, entry: ProductEntry) -> Product | None:
    found: list[Product] = []
    if entry.offer_id:
        by_offer = repository.product_by_offer(session, account.id, entry.offer_id)
        found += [by_offer] if by_offer else []
    if entry.provisioning_id:
        by_prov = repository.product_by_provisioning_id(session, account.id, entry.provisioning_id)
        found += [by_prov] if by_prov else []
    if entry.product_code:
        by_code = repository.product_by_code(session, entry.product_code)
        if by_code is not None and by_code.provider_account_id == account.id:
            found.append(by_code)
    distinct = {p.id: p for p in found}
    if len(distinct) > 1:
        names = " and ".join(label(p) for p in distinct.values())
        raise ImportInvalid(f"its offer ID, provisioning ID and product code point at different products: {names}.")
    return next(iter(distinct.values()), None)


def _import_products(
    session: Session,
    parsed: ParsedDocument,
    document: CatalogDocument,
    accounts: dict[str, ProviderAccount],
    default_currency: str,
) -> tuple[list[Product], list[str]]:
    """The products in document order, and for each whether it was created, updated or unchanged."""
    products: list[Product] = []
    outcomes: list[str] = []
    fields = set(ProductFields.model_fields)
    for index, entry in enumerate(document.products):
        path: list[int | str] = ["products", index]
        try:
            account = accounts.get(entry.provider_account) or repository.provider_account_by_name(
                session, entry.provider_account
            )
            if account is None:
                raise ImportInvalid(f"no provider account {entry.provider_account!r} in the document or catalog.")
            if not (entry.offer_id or entry.provisioning_id or entry.product_code):
                raise ImportInvalid("a product needs an offer_id, a provisioning_id or a product_code.")
            sent = {name: getattr(entry, name) for name in entry.model_fields_set & fields}
            existing = _find_product(session, account, entry)
            if existing is None:
                product = create_product(
                    session,
                    data=ProductCreate(provider_account_id=str(account.id), kind=entry.kind, **sent),
                    default_currency=default_currency,
                )
                outcomes.append("created")
            else:
                changes = {k: v for k, v in sent.items() if _current(existing, k) != _stated(k, v)}
                if entry.kind is not existing.kind:
                    changes["kind"] = entry.kind
                product = existing
                if changes:
                    product = update_product(session, product=existing, data=ProductUpdate(**changes))
                outcomes.append("updated" if changes else "unchanged")
            products.append(product)
        except SeatflowError as exc:
            raise _at(parsed, path, exc) from exc
    return products, outcomes


def _current(product: Product, field: str) -> Any:
    """A product's field as comparable with what a document states (``plans``: in a stable order)."""
    if field == "plans":
        return _plan_rows(product.plans)
    return getattr(product, field)


def _stated(field: str, value: Any) -> Any:
    if field == "plans" and value is not None:
        return _plan_rows(value)
    return value


def _plan_rows(plans: Sequence[Any]) -> list[tuple[Any, ...]]:
    rows = [(p.term, p.billing_plan, p.list_price, p.cost_price) for p in plans]
    return sorted(rows, key=lambda row: (row[0].value, row[1].value))


def _resolve_ref(session: Session, ref: str, account_id: uuid.UUID | None) -> Product:
    matches = list(repository.products_by_key(session, ref, account_id))
    if not matches:
        by_code = repository.product_by_code(session, ref.upper())
        if by_code is not None and (account_id is None or by_code.provider_account_id == account_id):
            matches = [by_code]
    if not matches:
        raise ImportInvalid(f"no product with offer ID, provisioning ID or code {ref!r}.")
    if len(matches) > 1:
        raise ImportInvalid(f"{ref!r} names products in several provider accounts: name the provider_account.")
    return matches[0]


def _import_parents(
    session: Session,
    parsed: ParsedDocument,
    document: CatalogDocument,
    products: list[Product],
    outcomes: list[str],
) -> None:
    """Parents after all products exist, so a document may list a child before its parent."""
    for index, (entry, product) in enumerate(zip(document.products, products, strict=True)):
        if entry.parents is None:
            continue
        try:
            parents = []
            for position, ref in enumerate(entry.parents):
                try:
                    parents.append(_resolve_ref(session, ref, product.provider_account_id))
                except SeatflowError as exc:
                    raise _at(parsed, ["products", index, "parents", position], exc) from exc
            before = {p.id for p in product.parents}
            updated = set_parents(session, product=product, parents=parents)
            if before != {p.id for p in updated.parents} and outcomes[index] == "unchanged":
                outcomes[index] = "updated"
        except ImportInvalid:
            raise
        except SeatflowError as exc:
            raise _at(parsed, ["products", index, "parents"], exc) from exc


def _import_bundles(
    session: Session,
    parsed: ParsedDocument,
    document: CatalogDocument,
    accounts: dict[str, ProviderAccount],
) -> tuple[list[Bundle], list[str]]:
    """The bundles in document order, and for each whether it was created, updated or unchanged."""
    bundles: list[Bundle] = []
    outcomes: list[str] = []
    for index, entry in enumerate(document.bundles):
        try:
            items = []
            for position, item in enumerate(entry.items):
                account = accounts.get(item.provider_account) if item.provider_account else None
                if item.provider_account and account is None:
                    raise _at(
                        parsed,
                        ["bundles", index, "items", position],
                        ImportInvalid(f"no provider account {item.provider_account!r}."),
                    )
                try:
                    product = _resolve_ref(session, item.product, account.id if account else None)
                except SeatflowError as exc:
                    raise _at(parsed, ["bundles", index, "items", position], exc) from exc
                items.append(
                    BundleItemIn(
                        product_id=str(product.id),
                        quantity_multiplier=item.quantity_multiplier,
                        parent_item=item.parent_item,
                        billable=item.billable,
                        unit_price=item.unit_price,
                    )
                )
            existing = repository.bundle_by_name(session, entry.name)
            if existing is None:
                bundle = create_bundle(
                    session, data=BundleCreate(name=entry.name, description=entry.description, items=items)
                )
                outcomes.append("created")
            elif _bundle_differs(existing, entry.description, items):
                bundle = update_bundle(
                    session, bundle=existing, data=BundleUpdate(description=entry.description, items=items)
                )
                outcomes.append("updated")
            else:
                bundle = existing
                outcomes.append("unchanged")
            bundles.append(bundle)
        except ImportInvalid:
            raise
        except SeatflowError as exc:
            raise _at(parsed, ["bundles", index], exc) from exc
    return bundles, outcomes


def _bundle_differs(bundle: Bundle, description: str, items: list[BundleItemIn]) -> bool:
    current = [
        (str(i.product_id), i.quantity_multiplier, i.parent_position, i.billable, i.unit_price) for i in bundle.items
    ]
    wanted = [(i.product_id, i.quantity_multiplier, i.parent_item, i.billable, i.unit_price) for i in items]
    return bundle.description != description or current != wanted


# --- export --------------------------------------------------------------------------------------------


def _product_ref(product: Product) -> str:
    return product.provisioning_id or product.offer_id or product.product_code


def export_document(session: Session) -> dict[str, Any]:
    """The whole catalog as a document that ``import_document`` reads back unchanged."""
    accounts = repository.all_provider_accounts(session)
    names = {a.id: a.name for a in accounts}
    products = repository.all_products(session)
    return {
        "seatflow_catalog": DOCUMENT_VERSION,
        "provider_accounts": [
            {
                "name": a.name,
                "kind": a.kind.value,
                "settings": {k: (MASK if k in SECRET_SETTINGS and v else v) for k, v in a.settings.items()},
            }
            for a in accounts
        ],
        "products": [_export_product(p, names[p.provider_account_id]) for p in products],
        "bundles": [
            {
                "name": b.name,
                "status": b.status.value,
                "description": b.description,
                "items": [
                    _drop_none(
                        {
                            "product": _product_ref(i.product),
                            "provider_account": names[i.product.provider_account_id],
                            "quantity_multiplier": i.quantity_multiplier,
                            "parent_item": i.parent_position,
                            "billable": i.billable,
                            "unit_price": format_money(i.unit_price),
                        },
                        keep={"parent_item"},
                    )
                    for i in b.items
                ],
            }
            for b in repository.all_bundles(session)
        ],
    }


def _export_product(product: Product, account_name: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "provider_account": account_name,
        "kind": product.kind.value,
        "name": product.name,
        "status": product.status.value,
        "product_code": product.product_code,
        "offer_id": product.offer_id,
        "provisioning_id": product.provisioning_id,
        "sku_id": product.sku_id,
        "description": product.description or None,
        "assignable_to_users": product.assignable_to_users,
        "unit": product.unit,
        "min_quantity": product.min_quantity,
        "max_quantity": product.max_quantity,
        "term": product.term.value,
        "billing_frequency": product.billing_frequency.value,
        "currency": product.currency,
        "list_price": format_money(product.list_price),
        "cost_price": format_money(product.cost_price),
        "reduction_behavior": product.reduction_behavior.value,
        "reduction_window_days": product.reduction_window_days,
        "portal_enabled": product.portal_enabled,
        "plans": [
            _drop_none(
                {
                    "term": plan.term.value,
                    "billing_plan": plan.billing_plan.value,
                    "list_price": format_money(plan.list_price),
                    "cost_price": format_money(plan.cost_price),
                }
            )
            for plan in sorted_plans(product.plans)
        ],
    }
    if product.kind is ProductKind.ADDON:
        entry["parents"] = [_product_ref(p) for p in product.parents]
    return _drop_none(entry)


def _drop_none(entry: dict[str, Any], keep: set[str] | None = None) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if v is not None or k in (keep or set())}


def dump_document(document: dict[str, Any], fmt: Literal["yaml", "json"]) -> str:
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)
