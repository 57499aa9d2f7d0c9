"""Every catalog query."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, aliased, selectinload

from seatflow.catalog.models import (
    Bundle,
    BundleItem,
    CatalogStatus,
    Product,
    ProductKind,
    ProductParent,
    ProductPlan,
    ProviderAccount,
    ProviderKind,
)
from seatflow.catalog.rules import normalize_offer_id
from seatflow.pagination import page, where_equal


def get_provider_account(session: Session, account_id: uuid.UUID) -> ProviderAccount | None:
    return session.get(ProviderAccount, account_id)


def provider_account_by_name(session: Session, name: str) -> ProviderAccount | None:
    return session.execute(select(ProviderAccount).where(ProviderAccount.name == name)).scalar_one_or_none()


def list_provider_accounts(
    session: Session, *, kind: ProviderKind | None = None, cursor: str | None = None, limit: int = 50
) -> tuple[Sequence[ProviderAccount], str | None]:
    stmt = select(ProviderAccount)
    if kind is not None:
        stmt = stmt.where(ProviderAccount.kind == kind)
    return page(session, stmt, ProviderAccount.id, cursor=cursor, limit=limit)


def all_provider_accounts(session: Session) -> Sequence[ProviderAccount]:
    return session.execute(select(ProviderAccount).order_by(ProviderAccount.name)).scalars().all()


def get_product(session: Session, product_id: uuid.UUID, *, for_update: bool = False) -> Product | None:
    stmt = select(Product).where(Product.id == product_id).options(selectinload(Product.parents))
    if for_update:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def product_by_code(session: Session, code: str) -> Product | None:
    stmt = select(Product).where(Product.product_code == code).options(selectinload(Product.parents))
    return session.execute(stmt).scalar_one_or_none()


def product_by_offer(session: Session, account_id: uuid.UUID, offer_id: str) -> Product | None:
    offer_id = normalize_offer_id(offer_id)
    stmt = select(Product).where(Product.provider_account_id == account_id, Product.offer_id == offer_id)
    stmt = stmt.options(selectinload(Product.parents))
    return session.execute(stmt).scalar_one_or_none()


def product_by_provisioning_id(session: Session, account_id: uuid.UUID, provisioning_id: str) -> Product | None:
    stmt = (
        select(Product)
        .where(Product.provider_account_id == account_id, Product.provisioning_id == provisioning_id)
        .options(selectinload(Product.parents))
    )
    return session.execute(stmt).scalar_one_or_none()


def products_by_key(session: Session, key: str, account_id: uuid.UUID | None = None) -> Sequence[Product]:
    """Products whose offer ID or provisioning ID is ``key`` (optionally within one provider account)."""
    stmt = select(Product).where(or_(Product.offer_id == normalize_offer_id(key), Product.provisioning_id == key))
    if account_id is not None:
        stmt = stmt.where(Product.provider_account_id == account_id)
    return session.execute(stmt.options(selectinload(Product.parents))).scalars().all()


@dataclass(frozen=True)
class ProductFilters:
    provider_account_id: uuid.UUID | None = None
    kind: ProductKind | None = None
    status: CatalogStatus | None = None
    offer_id: str | None = None
    provisioning_id: str | None = None
    sku_id: str | None = None
    product_code: str | None = None
    search: str | None = None
    parent_product_id: uuid.UUID | None = None


def list_products(
    session: Session, filters: ProductFilters, *, cursor: str | None = None, limit: int = 50
) -> tuple[Sequence[Product], str | None]:
    stmt = select(Product).options(selectinload(Product.parents))
    stmt = where_equal(
        stmt,
        (Product.provider_account_id, filters.provider_account_id),
        (Product.kind, filters.kind),
        (Product.status, filters.status),
        (Product.offer_id, filters.offer_id),
        (Product.provisioning_id, filters.provisioning_id),
        (Product.sku_id, filters.sku_id),
        (Product.product_code, filters.product_code),
    )
    if filters.search:
        # autoescape: the search is literal text, % and _ in it are not wildcards.
        stmt = stmt.where(func.lower(Product.name).contains(filters.search.lower(), autoescape=True))
    if filters.parent_product_id is not None:
        stmt = stmt.where(
            Product.id.in_(
                select(ProductParent.product_id).where(ProductParent.parent_product_id == filters.parent_product_id)
            )
        )
    return page(session, stmt, Product.id, cursor=cursor, limit=limit)


def all_products(session: Session) -> Sequence[Product]:
    stmt = select(Product).options(selectinload(Product.parents)).order_by(Product.product_code)
    return session.execute(stmt).scalars().all()


def parent_graph(session: Session, account_id: uuid.UUID) -> dict[uuid.UUID, set[uuid.UUID]]:
    """Every possible-parent edge among the products of one provider account: product → its parents."""
    stmt = (
        select(ProductParent.product_id, ProductParent.parent_product_id)
        .join(Product, Product.id == ProductParent.product_id)
        .where(Product.provider_account_id == account_id)
    )
    graph: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for child, parent in session.execute(stmt):
        graph[child].add(parent)
    return graph


def product_names(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = session.execute(select(Product.id, Product.name).where(Product.id.in_(ids)))
    return {row.id: row.name for row in rows}


def children_of(session: Session, product_id: uuid.UUID) -> Sequence[Product]:
    stmt = (
        select(Product)
        .join(ProductParent, ProductParent.product_id == Product.id)
        .where(ProductParent.parent_product_id == product_id)
        .order_by(Product.product_code)
    )
    return session.execute(stmt).scalars().all()


def bundles_using(session: Session, product_id: uuid.UUID) -> Sequence[Bundle]:
    stmt = (
        select(Bundle)
        .where(Bundle.id.in_(select(BundleItem.bundle_id).where(BundleItem.product_id == product_id)))
        .order_by(Bundle.name)
    )
    return session.execute(stmt).scalars().all()


def uses_elsewhere(session: Session, product_id: uuid.UUID) -> dict[str, int]:
    """Rows outside the catalog that refer to this product (subscriptions, invoice lines), by table.

    The catalog sits below every other domain and imports none of them: the tables are found through their
    foreign keys to ``products`` in the mapped metadata, so a new referring table is counted without a change
    here (the entry points map every model through ``seatflow.models``)."""
    own = {Product.__tablename__, ProductParent.__tablename__, ProductPlan.__tablename__, BundleItem.__tablename__}
    counts: dict[str, int] = {}
    for table in Product.metadata.sorted_tables:
        if table.name in own:
            continue
        for fk in table.foreign_keys:
            if fk.column.table.name != Product.__tablename__:
                continue
            stmt = select(func.count()).select_from(table).where(fk.parent == product_id)
            found = int(session.execute(stmt).scalar_one())
            if found:
                counts[table.name] = counts.get(table.name, 0) + found
    return counts


def bundles_hanging(session: Session, product_id: uuid.UUID, parent_id: uuid.UUID) -> Sequence[str]:
    """Names of bundles in which an item of ``product_id`` hangs under an item of ``parent_id``."""
    child, parent = aliased(BundleItem), aliased(BundleItem)
    stmt = (
        select(Bundle.name)
        .join(child, child.bundle_id == Bundle.id)
        .join(parent, (parent.bundle_id == Bundle.id) & (parent.position == child.parent_position))
        .where(child.product_id == product_id, parent.product_id == parent_id)
        .distinct()
        .order_by(Bundle.name)
    )
    return session.execute(stmt).scalars().all()


def products_in_account(session: Session, account_id: uuid.UUID) -> int:
    stmt = select(func.count()).select_from(Product).where(Product.provider_account_id == account_id)
    return int(session.execute(stmt).scalar_one())


def _bundle_query() -> Select[Bundle]:
    return select(Bundle).options(
        selectinload(Bundle.items).selectinload(BundleItem.product).selectinload(Product.parents)
    )


def get_bundle(session: Session, bundle_id: uuid.UUID) -> Bundle | None:
    return session.execute(_bundle_query().where(Bundle.id == bundle_id)).scalar_one_or_none()


def bundle_by_name(session: Session, name: str) -> Bundle | None:
    return session.execute(_bundle_query().where(Bundle.name == name)).scalar_one_or_none()


def list_bundles(
    session: Session, *, status: CatalogStatus | None = None, cursor: str | None = None, limit: int = 50
) -> tuple[Sequence[Bundle], str | None]:
    stmt = _bundle_query()
    if status is not None:
        stmt = stmt.where(Bundle.status == status)
    return page(session, stmt, Bundle.id, cursor=cursor, limit=limit)


def all_bundles(session: Session) -> Sequence[Bundle]:
    return session.execute(_bundle_query().order_by(Bundle.name)).scalars().all()
