"""Typed factories: each flushes and returns what it made, through the real services."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from seatflow.catalog import service
from seatflow.catalog.bundles import create_bundle as _create_bundle
from seatflow.catalog.models import Bundle, Product, ProductKind, ProviderAccount, ProviderKind
from seatflow.catalog.providers import create_provider_account as _create_account
from seatflow.catalog.schemas import BundleCreate, BundleItemIn, ProductCreate, ProviderAccountCreate

_seq = itertools.count(1)


def create_provider_account(
    session: Session,
    *,
    name: str | None = None,
    kind: ProviderKind = ProviderKind.PARTNER_CENTER,
    settings: dict[str, Any] | None = None,
) -> ProviderAccount:
    if settings is None:
        settings = {"base_url": "http://127.0.0.1:8100"} if kind is ProviderKind.PARTNER_CENTER else {}
    data = ProviderAccountCreate(name=name or f"Account {next(_seq)}", kind=kind, settings=settings)
    return _create_account(session, data=data)


def create_product(
    session: Session,
    *,
    account: ProviderAccount,
    kind: ProductKind = ProductKind.LICENSE,
    name: str | None = None,
    provisioning_id: str | None = None,
    offer_id: str | None = None,
    parents: list[Product] | None = None,
    list_price: Decimal | str | None = "10.00",
    **fields: Any,
) -> Product:
    n = next(_seq)
    data = ProductCreate(
        provider_account_id=str(account.id),
        kind=kind,
        name=name or f"Product {n}",
        provisioning_id=provisioning_id or f"SKU_{n}",
        offer_id=offer_id,
        list_price=Decimal(list_price) if list_price is not None else None,
        parent_product_ids=[str(p.id) for p in parents or []],
        **fields,
    )
    return service.create_product(session, data=data, default_currency="USD")


def create_bundle(session: Session, *, name: str | None = None, items: list[tuple[Product, int | None]]) -> Bundle:
    """``items``: (product, index of the item it hangs under or None), in order."""
    data = BundleCreate(
        name=name or f"Bundle {next(_seq)}",
        items=[BundleItemIn(product_id=str(p.id), parent_item=parent) for p, parent in items],
    )
    return _create_bundle(session, data=data)
