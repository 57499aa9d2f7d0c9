"""Pure shapes the console draws: forests from parent links, and drift between a linked parent and its children."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Node(Generic[T]):
    item: T
    children: list[Node[T]] = field(default_factory=list)


def forest(
    items: Sequence[T], key: Callable[[T], Hashable], parent_key: Callable[[T], Hashable | None]
) -> list[Node[T]]:
    """``items`` nested under their parents, in the order given; an item whose parent is not among them is a
    root (a location's contract whose parent contract belongs to the head office, say)."""
    nodes = {key(item): Node(item) for item in items}
    roots: list[Node[T]] = []
    for item in items:
        parent = parent_key(item)
        if parent is not None and parent in nodes and parent != key(item):
            nodes[parent].children.append(nodes[key(item)])
        else:
            roots.append(nodes[key(item)])
    return roots


def flatten(nodes: Iterable[Node[T]], depth: int = 0) -> list[tuple[T, int]]:
    """Depth-first, each item with its depth (for indented tables)."""
    found: list[tuple[T, int]] = []
    for node in nodes:
        found.append((node.item, depth))
        found.extend(flatten(node.children, depth + 1))
    return found


def descendants_graph(
    roots: Sequence[T], children_of: Callable[[T], Sequence[T]], key: Callable[[T], Hashable]
) -> list[Node[T]]:
    """Each root with everything below it, where an item may sit under several parents (an add-on with several
    possible parents shows under each). A path never repeats an item, so even a cyclic graph ends."""

    def grow(item: T, path: frozenset[Hashable]) -> Node[T]:
        below = [child for child in children_of(item) if key(child) not in path]
        return Node(item, [grow(child, path | {key(child)}) for child in below])

    return [grow(root, frozenset({key(root)})) for root in roots]


@dataclass(frozen=True)
class Drift:
    """A linked parent's quantity against the sum of its live linked children (SPEC §5's invariant)."""

    parent_quantity: int
    children_sum: int

    @property
    def difference(self) -> int:
        """Positive when the parent holds more than its children add up to."""
        return self.parent_quantity - self.children_sum

    @property
    def drifted(self) -> bool:
        return self.difference != 0
