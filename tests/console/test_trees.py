"""The shapes the console draws, without a database: forests from parent links, the possible-parents graph, and
drift."""

from __future__ import annotations

import pytest

from seatflow.console.trees import Drift, Node, descendants_graph, flatten, forest


def _shape(nodes: list[Node[str]]) -> list[object]:
    return [(n.item, _shape(n.children)) if n.children else n.item for n in nodes]


def test_a_forest_keeps_the_order_given_and_makes_roots_of_items_whose_parent_is_absent() -> None:
    parent_of = {"parent": None, "atlanta": "parent", "memphis": "parent", "addon": "atlanta", "orphan": "elsewhere"}
    nodes = forest(list(parent_of), lambda k: k, lambda k: parent_of[k])

    assert _shape(nodes) == [("parent", [("atlanta", ["addon"]), "memphis"]), "orphan"]
    assert flatten(nodes) == [("parent", 0), ("atlanta", 1), ("addon", 2), ("memphis", 1), ("orphan", 0)]


def test_an_item_that_names_itself_as_parent_is_a_root_not_lost() -> None:
    assert _shape(forest(["a"], lambda k: k, lambda k: "a")) == ["a"]


def test_the_parent_graph_shows_an_addon_under_each_possible_parent_and_ends_on_a_cycle() -> None:
    children = {"E5": ["Phone", "Audio"], "BP": ["Audio"], "Phone": ["Calling"], "Calling": ["Phone"]}
    nodes = descendants_graph(["E5", "BP"], lambda k: children.get(k, []), lambda k: k)

    assert _shape(nodes) == [("E5", [("Phone", ["Calling"]), "Audio"]), ("BP", ["Audio"])]


@pytest.mark.parametrize(
    ("parent", "children", "difference", "drifted"),
    [(50, 50, 0, False), (53, 50, 3, True), (47, 50, -3, True), (0, 0, 0, False)],
)
def test_drift_is_the_parent_less_its_childrens_sum(parent: int, children: int, difference: int, drifted: bool) -> None:
    drift = Drift(parent, children)
    assert (drift.difference, drift.drifted) == (difference, drifted)
