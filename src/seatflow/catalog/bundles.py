"""Bundles: a package of products sold together, each item hanging under a real item, never the bundle."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.catalog import repository
from seatflow.catalog.errors import BundleNotFound, DuplicateName, ProductRetired
from seatflow.catalog.models import Bundle, BundleItem, CatalogStatus, Product, ProductParent
from seatflow.catalog.rules import BundleItemSpec, check_bundle_items, is_sellable
from seatflow.catalog.schemas import BundleCreate, BundleItemIn, BundleUpdate
from seatflow.catalog.service import label, require_product
from seatflow.ids import parse_id


def require_bundle(session: Session, ref: str) -> Bundle:
    """By id, or by exact name."""
    bundle_id = parse_id(ref)
    bundle = repository.get_bundle(session, bundle_id) if bundle_id else None
    if bundle is None:
        bundle = repository.bundle_by_name(session, ref)
    if bundle is None:
        raise BundleNotFound(f"No bundle {ref!r}.")
    return bundle


def bundle_sellable(bundle: Bundle) -> bool:
    return bundle.status is CatalogStatus.ACTIVE and all(
        is_sellable(item.product.status, item.product.kind, len(item.product.parents)) for item in bundle.items
    )


def _build_items(session: Session, items: Sequence[BundleItemIn]) -> list[BundleItem]:
    products: list[Product] = [require_product(session, item.product_id) for item in items]
    for product in products:
        if product.status is CatalogStatus.RETIRED:
            raise ProductRetired(f"{label(product)} is retired and cannot be put in a bundle.")
    ids = [p.id for p in products]
    parents_of: dict[object, set[object]] = {}
    for child, parent in session.execute(
        select(ProductParent.product_id, ProductParent.parent_product_id).where(ProductParent.product_id.in_(ids))
    ):
        parents_of.setdefault(child, set()).add(parent)
    check_bundle_items(
        [
            BundleItemSpec(product_key=p.id, product_name=p.name, kind=p.kind, parent_position=i.parent_item)
            for p, i in zip(products, items, strict=True)
        ],
        parents_of,
    )
    return [
        BundleItem(
            position=position,
            product_id=product.id,
            quantity_multiplier=item.quantity_multiplier,
            parent_position=item.parent_item,
            billable=item.billable,
            unit_price=item.unit_price,
        )
        for position, (product, item) in enumerate(zip(products, items, strict=True))
    ]


def _reloaded(session: Session, bundle: Bundle) -> Bundle:
    session.flush()
    session.expire(bundle)
    found = repository.get_bundle(session, bundle.id)
    if found is None:  # pragma: no cover - the row was just flushed in this transaction
        raise LookupError(bundle.id)
    return found


def create_bundle(session: Session, *, data: BundleCreate) -> Bundle:
    """Raises InvalidBundle naming the item whose parent is wrong, DuplicateName, NotFound."""
    if repository.bundle_by_name(session, data.name) is not None:
        raise DuplicateName(f"A bundle named {data.name!r} exists already.")
    bundle = Bundle(name=data.name, description=data.description, status=CatalogStatus.ACTIVE)
    bundle.items = _build_items(session, data.items)
    session.add(bundle)
    return _reloaded(session, bundle)


def update_bundle(session: Session, *, bundle: Bundle, data: BundleUpdate) -> Bundle:
    if data.name is not None and data.name != bundle.name:
        if repository.bundle_by_name(session, data.name) is not None:
            raise DuplicateName(f"A bundle named {data.name!r} exists already.")
        bundle.name = data.name
    if data.description is not None:
        bundle.description = data.description
    if data.items is not None:
        new_items = _build_items(session, data.items)
        bundle.items.clear()
        session.flush()  # delete the old rows first: (bundle, position) is unique
        bundle.items.extend(new_items)
    return _reloaded(session, bundle)


def retire_bundle(session: Session, *, bundle: Bundle, now: datetime) -> Bundle:
    if bundle.status is not CatalogStatus.RETIRED:
        bundle.status = CatalogStatus.RETIRED
        bundle.retired_at = now
    return _reloaded(session, bundle)


def reactivate_bundle(session: Session, *, bundle: Bundle) -> Bundle:
    bundle.status = CatalogStatus.ACTIVE
    bundle.retired_at = None
    return _reloaded(session, bundle)
