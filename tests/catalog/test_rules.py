"""The catalog's pure rules, without a database."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Set

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seatflow.catalog.errors import InvalidBundle, InvalidProduct, PerGigabyteAssignable
from seatflow.catalog.models import BillingFrequency, CatalogStatus, ProductKind, ReductionBehavior, Term
from seatflow.catalog.rules import (
    BundleItemSpec,
    ProductShape,
    check_bundle_items,
    check_product_shape,
    cycle_if_added,
    find_path,
    is_priced_per_gigabyte,
    is_sellable,
)

# --- per-gigabyte detection --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "description", "expected"),
    [
        ("GB", "", True),
        ("gb", "", True),
        (" Gigabytes ", "", True),
        ("TB", "", True),
        ("license", "Additional SharePoint storage for the tenant. Priced per gigabyte.", True),
        ("license", "PRICED PER GIGABYTE", True),
        ("license", "Priced  per\nterabyte", True),
        ("license", "Extra storage, $0.20 per GB per month", True),
        ("license", "", False),
        ("license", "Includes a 100 GB mailbox for each user.", False),
        ("license", "Priced per user", False),
        ("user", "Billed in GBP", False),
    ],
)
def test_is_priced_per_gigabyte(unit: str, description: str, expected: bool) -> None:
    assert is_priced_per_gigabyte(unit, description) is expected


# --- product shape -----------------------------------------------------------------------------------------

VALID = ProductShape(
    kind=ProductKind.ADDON,
    unit="license",
    description="",
    assignable_to_users=True,
    min_quantity=1,
    max_quantity=None,
    term=Term.P1M,
    billing_frequency=BillingFrequency.MONTHLY,
    reduction_behavior=ReductionBehavior.ALLOWED,
    reduction_window_days=None,
)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"assignable_to_users": False, "unit": "GB"},
        {"assignable_to_users": False, "description": "Priced per gigabyte."},
        {"min_quantity": 0, "max_quantity": 1},
        {"min_quantity": 5, "max_quantity": 5},
        {"term": Term.P1Y, "billing_frequency": BillingFrequency.ANNUAL},
        {"term": Term.P1Y, "billing_frequency": BillingFrequency.QUARTERLY},
        {"term": Term.P3Y, "billing_frequency": BillingFrequency.MONTHLY},
        {"reduction_behavior": ReductionBehavior.ALLOWED_WITHIN_WINDOW, "reduction_window_days": 1},
        {"reduction_behavior": ReductionBehavior.ALLOWED_WITHIN_WINDOW, "reduction_window_days": 366},
        {"reduction_behavior": ReductionBehavior.DISALLOWED},
    ],
    ids=repr,
)
def test_check_product_shape_accepts(changes: dict[str, object]) -> None:
    check_product_shape(dataclasses.replace(VALID, **changes))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"unit": "GB"}, PerGigabyteAssignable, "never be assigned to users"),
        ({"description": "Archive storage. Priced per gigabyte."}, PerGigabyteAssignable, "assignable_to_users"),
        ({"min_quantity": -1}, InvalidProduct, "min_quantity"),
        (
            {"min_quantity": 10, "max_quantity": 9},
            InvalidProduct,
            "max_quantity (9) must be at least min_quantity (10)",
        ),
        ({"min_quantity": 0, "max_quantity": 0}, InvalidProduct, "max_quantity (0)"),
        ({"term": Term.P1M, "billing_frequency": BillingFrequency.ANNUAL}, InvalidProduct, "annual is longer"),
        ({"term": Term.P1M, "billing_frequency": BillingFrequency.QUARTERLY}, InvalidProduct, "P1M term"),
        (
            {"reduction_behavior": ReductionBehavior.ALLOWED_WITHIN_WINDOW, "reduction_window_days": None},
            InvalidProduct,
            "between 1 and 366",
        ),
        (
            {"reduction_behavior": ReductionBehavior.ALLOWED_WITHIN_WINDOW, "reduction_window_days": 0},
            InvalidProduct,
            "between 1 and 366",
        ),
        (
            {"reduction_behavior": ReductionBehavior.ALLOWED_WITHIN_WINDOW, "reduction_window_days": 367},
            InvalidProduct,
            "between 1 and 366",
        ),
        ({"reduction_window_days": 7}, InvalidProduct, "only when reduction_behavior is allowed_within_window"),
        (
            {"reduction_behavior": ReductionBehavior.DISALLOWED, "reduction_window_days": 7},
            InvalidProduct,
            "only when reduction_behavior is allowed_within_window",
        ),
    ],
    ids=lambda value: repr(value) if isinstance(value, dict) else "",
)
def test_check_product_shape_refuses(changes: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error) as raised:
        check_product_shape(dataclasses.replace(VALID, **changes))  # type: ignore[arg-type]
    assert message in str(raised.value)


# --- the add-on graph --------------------------------------------------------------------------------------

# product → its parents. Domestic Calling Plan → Phone System → E5; Audio Conferencing → E5.
VOICE: dict[str, set[str]] = {"calling": {"phone"}, "phone": {"e5"}, "audio": {"e5"}}


DIAMOND: dict[str, set[str]] = {"d": {"b", "c"}, "b": {"a"}, "c": {"a"}}  # d → b → a and d → c → a


@pytest.mark.parametrize(
    ("graph", "product", "new_parent", "acceptable"),
    [
        ({}, "a", "a", [["a", "a"]]),
        (VOICE, "phone", "phone", [["phone", "phone"]]),
        (VOICE, "phone", "calling", [["phone", "calling", "phone"]]),
        (VOICE, "e5", "calling", [["e5", "calling", "phone", "e5"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"d"}}, "d", "a", [["d", "a", "b", "c", "d"]]),
        (DIAMOND, "a", "d", [["a", "d", "b", "a"], ["a", "d", "c", "a"]]),
        (VOICE, "calling", "e5", None),  # a shortcut past Phone System is no cycle
        (VOICE, "audio", "phone", None),
        (VOICE, "calling", "audio", None),
        (DIAMOND, "d", "a", None),  # another way down the diamond
        (DIAMOND, "c", "b", None),
    ],
)
def test_cycle_if_added(
    graph: dict[str, set[str]], product: str, new_parent: str, acceptable: list[list[str]] | None
) -> None:
    cycle = cycle_if_added(graph, product, new_parent)
    if acceptable is None:
        assert cycle is None
    else:
        assert cycle in acceptable


def test_find_path_follows_a_long_chain_without_recursion() -> None:
    chain = {n: {n + 1} for n in range(20_000)}
    assert find_path(chain, 0, 20_000) == list(range(20_001))
    assert find_path(chain, 20_000, 0) is None


def _is_cyclic(parents_of: Mapping[int, Set[int]]) -> bool:
    """Reference check: Kahn's algorithm leaves nodes unsorted exactly when there is a cycle."""
    nodes = set(parents_of) | {p for ps in parents_of.values() for p in ps}
    children_count = dict.fromkeys(nodes, 0)
    for parents in parents_of.values():
        for parent in parents:
            children_count[parent] += 1
    ready = [n for n, count in children_count.items() if count == 0]
    removed = 0
    while ready:
        node = ready.pop()
        removed += 1
        for parent in parents_of.get(node, ()):
            children_count[parent] -= 1
            if children_count[parent] == 0:
                ready.append(parent)
    return removed != len(nodes)


@st.composite
def dag_and_edge(draw: st.DrawFn) -> tuple[dict[int, set[int]], int, int]:
    """A random acyclic parent graph (edges only go up a random order of the nodes) and a candidate edge."""
    size = draw(st.integers(min_value=1, max_value=9))
    order = draw(st.permutations(range(size)))
    rank = {node: position for position, node in enumerate(order)}
    pairs = [(a, b) for a in range(size) for b in range(size) if rank[a] < rank[b]]
    edges = draw(st.lists(st.sampled_from(pairs), unique=True)) if pairs else []
    graph: dict[int, set[int]] = {}
    for child, parent in edges:
        graph.setdefault(child, set()).add(parent)
    product = draw(st.integers(min_value=0, max_value=size - 1))
    new_parent = draw(st.integers(min_value=0, max_value=size - 1))
    return graph, product, new_parent


@given(dag_and_edge())
def test_cycle_if_added_finds_a_cycle_exactly_when_the_new_edge_closes_one(
    case: tuple[dict[int, set[int]], int, int],
) -> None:
    graph, product, new_parent = case
    assert not _is_cyclic(graph)
    with_edge = {node: set(parents) for node, parents in graph.items()}
    with_edge.setdefault(product, set()).add(new_parent)

    cycle = cycle_if_added(graph, product, new_parent)

    assert (cycle is not None) == _is_cyclic(with_edge)
    if cycle is not None:
        assert cycle[0] == cycle[-1] == product
        assert cycle[1] == new_parent
        assert all(parent in with_edge.get(child, set()) for child, parent in itertools.pairwise(cycle))
        assert len(set(cycle[:-1])) == len(cycle) - 1, "a simple cycle visits each product once"


# --- sellable ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "parent_count", "expected"),
    [
        (CatalogStatus.ACTIVE, ProductKind.LICENSE, 0, True),
        (CatalogStatus.ACTIVE, ProductKind.SERVICE, 0, True),
        (CatalogStatus.ACTIVE, ProductKind.ADDON, 0, False),
        (CatalogStatus.ACTIVE, ProductKind.ADDON, 1, True),
        (CatalogStatus.ACTIVE, ProductKind.ADDON, 3, True),
        (CatalogStatus.RETIRED, ProductKind.LICENSE, 0, False),
        (CatalogStatus.RETIRED, ProductKind.SERVICE, 0, False),
        (CatalogStatus.RETIRED, ProductKind.ADDON, 2, False),
    ],
)
def test_is_sellable(status: CatalogStatus, kind: ProductKind, parent_count: int, expected: bool) -> None:
    assert is_sellable(status, kind, parent_count) is expected


# --- bundle items ------------------------------------------------------------------------------------------

E5 = BundleItemSpec("e5", "Office 365 E5", ProductKind.LICENSE, None)
SUPPORT = BundleItemSpec("support", "Managed Support", ProductKind.SERVICE, None)


def _addon(key: str, name: str, parent_position: int | None) -> BundleItemSpec:
    return BundleItemSpec(key, name, ProductKind.ADDON, parent_position)


AUDIO = _addon("audio", "Audio Conferencing", 0)
PHONE = _addon("phone", "Phone System", 0)
CALLING_UNDER_PHONE = _addon("calling", "Domestic Calling Plan", 2)


def test_check_bundle_items_accepts_the_e5_voice_bundle() -> None:
    check_bundle_items([E5, AUDIO, PHONE, CALLING_UNDER_PHONE, SUPPORT], VOICE)


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([], "at least one item"),
        ([SUPPORT], "needs a license"),
        ([PHONE, E5], "Item 0 (Phone System)"),
        ([_addon("phone", "Phone System", None), E5], "Item 0 (Phone System) is an add-on: name the item it hangs"),
        ([E5, _addon("phone", "Phone System", None)], "Item 1 (Phone System) is an add-on: name the item it hangs"),
        ([E5, PHONE, _addon("calling", "Domestic Calling Plan", 3), PHONE], "parent_item must be the index"),
        ([E5, _addon("phone", "Phone System", 1)], "parent_item must be the index of an earlier item, not 1"),
        (
            [E5, PHONE, _addon("calling", "Domestic Calling Plan", 0)],
            "Item 2 (Domestic Calling Plan) cannot hang under item 0 (Office 365 E5): "
            "Office 365 E5 is not one of its possible parents",
        ),
        ([E5, BundleItemSpec("e3", "Microsoft 365 E3", ProductKind.LICENSE, 0)], "is a license: only add-ons hang"),
        ([E5, BundleItemSpec("support", "Managed Support", ProductKind.SERVICE, 0)], "is a service: only add-ons"),
    ],
)
def test_check_bundle_items_refuses(items: list[BundleItemSpec], message: str) -> None:
    with pytest.raises(InvalidBundle) as raised:
        check_bundle_items(items, VOICE)
    assert message in str(raised.value)
