"""Pure catalog rules: no database, unit-tested on their own."""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import TypeVar

from seatflow.catalog.errors import (
    DuplicatePlan,
    InvalidBundle,
    InvalidProduct,
    ParentNotAllowed,
    PerGigabyteAssignable,
    TermNotOffered,
)
from seatflow.catalog.models import (
    BillingFrequency,
    BillingPlan,
    CatalogStatus,
    ProductKind,
    ProviderKind,
    ReductionBehavior,
    Term,
)

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


# --- terms and billing plans (SPEC §2) ---------------------------------------------------------------------------

NCE_PLANS: dict[Term, tuple[BillingPlan, ...]] = {
    Term.P1M: (BillingPlan.MONTHLY,),
    Term.P1Y: (BillingPlan.MONTHLY, BillingPlan.ANNUAL),
    Term.P3Y: (BillingPlan.MONTHLY, BillingPlan.ANNUAL, BillingPlan.TRIENNIAL),
}
"""The term and billing-plan combinations Microsoft's new commerce sells: licenses and add-ons."""

SERVICE_PLANS: tuple[BillingPlan, ...] = (BillingPlan.MONTHLY, BillingPlan.QUARTERLY, BillingPlan.ANNUAL)
"""The reseller's own services: any term, billed monthly, quarterly or annually (never longer than the term)."""


def kind_plans(kind: ProductKind, term: Term) -> tuple[BillingPlan, ...]:
    """The billing plans a product of ``kind`` may be sold in with ``term``."""
    if kind is ProductKind.SERVICE:
        return tuple(plan for plan in SERVICE_PLANS if plan.months <= term.months)
    return NCE_PLANS[term]


def plan_key(term: Term, billing_plan: BillingPlan) -> tuple[int, int]:
    """Shortest term first, then the most frequent billing: P1M monthly, P1Y monthly, P1Y annual, …"""
    return term.months, billing_plan.months


def plan_text(term: Term, billing_plan: BillingPlan) -> str:
    return f"{term.value} {billing_plan.value}"


def check_plans(kind: ProductKind, plans: Sequence[tuple[Term, BillingPlan]], product: str) -> None:
    """A product is sold in at least one combination, each allowed for its kind, none twice."""
    if not plans:
        raise InvalidProduct(f"{product} needs at least one term and billing plan in plans.")
    seen: set[tuple[Term, BillingPlan]] = set()
    for term, billing_plan in plans:
        allowed = kind_plans(kind, term)
        if billing_plan not in allowed:
            what = "a service" if kind is ProductKind.SERVICE else f"a {kind.value} (Microsoft's new commerce)"
            names = [plan.value for plan in allowed]
            offered = " or ".join(filter(None, [", ".join(names[:-1]), names[-1]]))
            raise TermNotOffered(
                f"{product}: {plan_text(term, billing_plan)} is not a combination {what} can be sold in; "
                f"a {term.value} term is billed {offered}.",
                term=term.value,
                billing_plan=billing_plan.value,
            )
        if (term, billing_plan) in seen:
            raise DuplicatePlan(f"{product}: {plan_text(term, billing_plan)} is listed twice in plans.")
        seen.add((term, billing_plan))


# --- Partner Center purchases (SPEC §2, new commerce) ------------------------------------------------------------


def nce_parts(offer_id: str) -> tuple[str, ...] | None:
    """The parts of a new-commerce catalog item ID: ``(productId, skuId)`` or ``(productId, skuId, availabilityId)``;
    None for anything else (a legacy GUID offer ID). The catalog's own reading of what
    ``seatflow.partner_center.purchases.CatalogItemId`` parses for the client."""
    parts = tuple(offer_id.split(":"))
    if len(parts) in (2, 3) and all(part and part.strip() == part for part in parts):
        return parts
    return None


def not_purchasable_reason(account_kind: ProviderKind, offer_id: str | None) -> str | None:
    """Why a product cannot be bought at Partner Center, or None. Microsoft sells new-commerce SKUs only, named
    ``productId:skuId``; a legacy GUID offer ID stays a valid identifier for other provider kinds."""
    if account_kind is not ProviderKind.PARTNER_CENTER:
        return None
    item = nce_parts(offer_id) if offer_id else None
    if item is not None and len(item) == 2:
        return None
    if not offer_id:
        found = "it has no offer ID"
    elif item is not None:
        found = f"its offer ID {offer_id} names an availability; the availability is looked up at purchase time"
    else:
        found = f"its offer ID {offer_id} is a legacy offer, which Microsoft no longer sells"
    return (
        f"Not purchasable at Partner Center: {found}. Set the offer ID to the new-commerce productId:skuId "
        "(e.g. CFQ7TTC0LH18:0001)."
    )


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
