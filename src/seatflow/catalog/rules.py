"""Pure catalog rules: no database, unit-tested on their own."""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import TypeVar

from seatflow.catalog.errors import InvalidBundle, InvalidProduct, ParentNotAllowed, PerGigabyteAssignable
from seatflow.catalog.models import BillingFrequency, CatalogStatus, ProductKind, ReductionBehavior, Term

K = TypeVar("K", bound=Hashable)

_PER_GB_UNITS = {"gb", "gigabyte", "gigabytes", "tb", "terabyte"}
_PER_GB_TEXT = re.compile(r"priced\s+per\s+(giga|tera)byte|per\s+gb\b", re.IGNORECASE)
DEFAULT_REDUCTION_WINDOW_DAYS = 7  # Microsoft's new-commerce window: 168 hours after purchase or renewal


_GUID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")


def normalize_offer_id(value: str) -> str:
    """Legacy offer IDs are GUIDs, which Partner Center writes in either case: one offer, one spelling.
    NCE catalog item IDs (``CFQ7TTC0LH18:0001:…``) are kept as written."""
    value = value.strip()
    return value.lower() if _GUID.match(value) else value


def is_priced_per_gigabyte(unit: str, description: str) -> bool:
    """CloudBlue's rule: "Priced per gigabyte" in the description (or a storage unit) means per-GB."""
    return unit.strip().lower() in _PER_GB_UNITS or bool(_PER_GB_TEXT.search(description or ""))


@dataclass(frozen=True)
class ProductShape:
    """The fields of a product whose combination the rules check, after a create or an update."""

    kind: ProductKind
    unit: str
    description: str
    assignable_to_users: bool
    min_quantity: int
    max_quantity: int | None
    term: Term
    billing_frequency: BillingFrequency
    reduction_behavior: ReductionBehavior
    reduction_window_days: int | None


def check_product_shape(shape: ProductShape) -> None:
    if shape.assignable_to_users and is_priced_per_gigabyte(shape.unit, shape.description):
        raise PerGigabyteAssignable(
            "A product priced per gigabyte can never be assigned to users: set assignable_to_users to false."
        )
    if shape.min_quantity < 0:
        raise InvalidProduct("min_quantity must be 0 or more.")
    if shape.max_quantity is not None and shape.max_quantity < max(shape.min_quantity, 1):
        raise InvalidProduct(
            f"max_quantity ({shape.max_quantity}) must be at least min_quantity ({shape.min_quantity}) and 1."
        )
    if shape.billing_frequency.months > shape.term.months:
        raise InvalidProduct(f"Billing {shape.billing_frequency.value} is longer than the {shape.term.value} term.")
    if shape.reduction_behavior is ReductionBehavior.ALLOWED_WITHIN_WINDOW:
        if shape.reduction_window_days is None or not 1 <= shape.reduction_window_days <= 366:
            raise InvalidProduct("reduction_window_days must be between 1 and 366 for allowed_within_window.")
    elif shape.reduction_window_days is not None:
        raise InvalidProduct("reduction_window_days applies only when reduction_behavior is allowed_within_window.")


def check_parent_kinds(child_kind: ProductKind, parent_kind: ProductKind, child: str, parent: str) -> None:
    if child_kind is not ProductKind.ADDON:
        raise ParentNotAllowed(f"{child} is a {child_kind.value}: only add-ons have possible parents.")
    if parent_kind is ProductKind.SERVICE:
        raise ParentNotAllowed(f"{parent} is a service: add-ons hang under licenses or other add-ons.")


def find_path(parents_of: Mapping[K, Set[K]], start: K, goal: K) -> list[K] | None:
    """A path start → … → goal following parent edges, or None (iterative DFS, no recursion limit)."""
    if start == goal:
        return [start]
    stack: list[tuple[K, list[K]]] = [(start, [start])]
    seen: set[K] = {start}
    while stack:
        node, path = stack.pop()
        for parent in parents_of.get(node, ()):
            if parent == goal:
                return [*path, parent]
            if parent not in seen:
                seen.add(parent)
                stack.append((parent, [*path, parent]))
    return None


def cycle_if_added(parents_of: Mapping[K, Set[K]], product: K, new_parent: K) -> list[K] | None:
    """The cycle that making ``new_parent`` a parent of ``product`` would close, as product → … → product."""
    path = find_path(parents_of, new_parent, product)
    return None if path is None else [product, *path]


def is_sellable(status: CatalogStatus, kind: ProductKind, parent_count: int) -> bool:
    if status is not CatalogStatus.ACTIVE:
        return False
    return kind is not ProductKind.ADDON or parent_count > 0


@dataclass(frozen=True)
class BundleItemSpec:
    product_key: Hashable
    product_name: str
    kind: ProductKind
    parent_position: int | None


def check_bundle_items(items: Sequence[BundleItemSpec], parents_of: Mapping[Hashable, Set[Hashable]]) -> None:
    """Each item hangs under an earlier item that is one of its possible parents; licenses hang nowhere."""
    if not items:
        raise InvalidBundle("A bundle needs at least one item.")
    if not any(item.kind is ProductKind.LICENSE for item in items):
        raise InvalidBundle("A bundle needs a license to be its primary item.")
    for position, item in enumerate(items):
        label = f"Item {position} ({item.product_name})"
        if item.parent_position is None:
            if item.kind is ProductKind.ADDON:
                raise InvalidBundle(f"{label} is an add-on: name the item it hangs under (parent_item).")
            continue
        if item.kind is not ProductKind.ADDON:
            raise InvalidBundle(f"{label} is a {item.kind.value}: only add-ons hang under another item.")
        if not 0 <= item.parent_position < position:
            raise InvalidBundle(
                f"{label}: parent_item must be the index of an earlier item, not {item.parent_position}."
            )
        parent = items[item.parent_position]
        if parent.product_key not in parents_of.get(item.product_key, set()):
            raise InvalidBundle(
                f"{label} cannot hang under item {item.parent_position} ({parent.product_name}): "
                f"{parent.product_name} is not one of its possible parents."
            )
