"""Provider accounts, products, possible parents, bundles, catalog import and export (SPEC §2, §13)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from seatflow.catalog import bundles as bundle_service
from seatflow.catalog import document, providers, repository
from seatflow.catalog import service as product_service
from seatflow.catalog.imports import ImportFormat, import_catalog
from seatflow.catalog.models import Bundle, CatalogStatus, ProductKind, ProviderKind
from seatflow.catalog.rules import normalize_offer_id
from seatflow.catalog.schemas import (
    BundleCreate,
    BundleRead,
    BundleUpdate,
    CatalogProblem,
    ImportResult,
    ParentAdd,
    ProductCreate,
    ProductRead,
    ProductUpdate,
    ProviderAccountCreate,
    ProviderAccountRead,
    ProviderAccountUpdate,
)
from seatflow.errors import ValidationFailed
from seatflow.ids import parse_id
from seatflow.schemas import Page
from seatflow.web.deps import NowDep, SessionDep, SettingsDep
from seatflow.web.errors import API_PROBLEMS
from seatflow.web.security import PARAMETER_CHECKS

router = APIRouter(responses=API_PROBLEMS, dependencies=PARAMETER_CHECKS)
Limit = Annotated[int, Query(ge=1, le=500)]
MAX_IMPORT_BYTES = 64 * 1024 * 1024


def filter_id(name: str, value: str | None) -> uuid.UUID | None:
    """An id given as a list filter; a malformed one is a 422, not an empty list."""
    if value is None:
        return None
    parsed = parse_id(value)
    if parsed is None:
        raise ValidationFailed(f"{name} {value!r} is not an id.")
    return parsed


# --- provider accounts ---------------------------------------------------------------------------------


@router.post("/provider-accounts", response_model=ProviderAccountRead, status_code=201, tags=["catalog"])
def create_provider_account(body: ProviderAccountCreate, session: SessionDep) -> ProviderAccountRead:
    return ProviderAccountRead.from_model(providers.create_provider_account(session, data=body))


@router.get("/provider-accounts", response_model=Page[ProviderAccountRead], tags=["catalog"])
def list_provider_accounts(
    session: SessionDep, kind: ProviderKind | None = None, cursor: str | None = None, limit: Limit = 50
) -> Page[ProviderAccountRead]:
    rows, next_cursor = repository.list_provider_accounts(session, kind=kind, cursor=cursor, limit=limit)
    return Page(items=[ProviderAccountRead.from_model(a) for a in rows], next_cursor=next_cursor)


@router.get("/provider-accounts/{account_id}", response_model=ProviderAccountRead, tags=["catalog"])
def get_provider_account(account_id: str, session: SessionDep) -> ProviderAccountRead:
    return ProviderAccountRead.from_model(providers.require_provider_account(session, account_id))


@router.patch("/provider-accounts/{account_id}", response_model=ProviderAccountRead, tags=["catalog"])
def update_provider_account(account_id: str, body: ProviderAccountUpdate, session: SessionDep) -> ProviderAccountRead:
    account = providers.require_provider_account(session, account_id)
    return ProviderAccountRead.from_model(providers.update_provider_account(session, account=account, data=body))


# --- products ------------------------------------------------------------------------------------------


@router.post("/products", response_model=ProductRead, status_code=201, tags=["catalog"])
def create_product(body: ProductCreate, session: SessionDep, settings: SettingsDep) -> ProductRead:
    product = product_service.create_product(session, data=body, default_currency=settings.default_currency)
    return ProductRead.from_model(product)


@router.get("/products", response_model=Page[ProductRead], tags=["catalog"])
def list_products(
    session: SessionDep,
    provider_account_id: str | None = None,
    kind: ProductKind | None = None,
    status: CatalogStatus | None = None,
    offer_id: str | None = None,
    provisioning_id: str | None = None,
    sku_id: str | None = None,
    product_code: str | None = None,
    parent_product_id: str | None = None,
    q: Annotated[str | None, Query(description="Part of the product name, any case.")] = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[ProductRead]:
    filters = repository.ProductFilters(
        provider_account_id=filter_id("provider_account_id", provider_account_id),
        kind=kind,
        status=status,
        offer_id=normalize_offer_id(offer_id) if offer_id else None,
        provisioning_id=provisioning_id,
        sku_id=sku_id.lower() if sku_id else None,
        product_code=product_code,
        parent_product_id=filter_id("parent_product_id", parent_product_id),
        search=q,
    )
    rows, next_cursor = repository.list_products(session, filters, cursor=cursor, limit=limit)
    return Page(items=[ProductRead.from_model(p) for p in rows], next_cursor=next_cursor)


@router.get("/products/{product_id}", response_model=ProductRead, tags=["catalog"])
def get_product(product_id: str, session: SessionDep) -> ProductRead:
    return ProductRead.from_model(product_service.require_product(session, product_id))


@router.patch("/products/{product_id}", response_model=ProductRead, tags=["catalog"])
def update_product(product_id: str, body: ProductUpdate, session: SessionDep) -> ProductRead:
    product = product_service.require_product(session, product_id, for_update=True)
    return ProductRead.from_model(product_service.update_product(session, product=product, data=body))


@router.post("/products/{product_id}/retire", response_model=ProductRead, tags=["catalog"])
def retire_product(product_id: str, session: SessionDep, now: NowDep) -> ProductRead:
    product = product_service.require_product(session, product_id, for_update=True)
    return ProductRead.from_model(product_service.retire_product(session, product=product, now=now))


@router.post("/products/{product_id}/reactivate", response_model=ProductRead, tags=["catalog"])
def reactivate_product(product_id: str, session: SessionDep) -> ProductRead:
    product = product_service.require_product(session, product_id, for_update=True)
    return ProductRead.from_model(product_service.reactivate_product(session, product=product))


@router.delete("/products/{product_id}", status_code=204, tags=["catalog"])
def delete_product(product_id: str, session: SessionDep) -> Response:
    """Only a product used nowhere can be deleted; a used one answers 409 product_in_use: retire it."""
    product_service.delete_product(session, product=product_service.require_product(session, product_id))
    return Response(status_code=204)


@router.post("/products/{product_id}/parents", response_model=ProductRead, tags=["catalog"])
def add_parent(product_id: str, body: ParentAdd, session: SessionDep) -> ProductRead:
    product = product_service.require_product(session, product_id, for_update=True)
    parent = product_service.require_product(session, body.parent_product_id)
    return ProductRead.from_model(product_service.add_parent(session, product=product, parent=parent))


@router.delete("/products/{product_id}/parents/{parent_id}", response_model=ProductRead, tags=["catalog"])
def remove_parent(product_id: str, parent_id: str, session: SessionDep) -> ProductRead:
    product = product_service.require_product(session, product_id, for_update=True)
    parent = product_service.require_product(session, parent_id)
    return ProductRead.from_model(product_service.remove_parent(session, product=product, parent=parent))


# --- bundles -------------------------------------------------------------------------------------------


def _bundle_read(bundle: Bundle) -> BundleRead:
    return BundleRead.from_model(bundle, sellable=bundle_service.bundle_sellable(bundle))


@router.post("/bundles", response_model=BundleRead, status_code=201, tags=["catalog"])
def create_bundle(body: BundleCreate, session: SessionDep) -> BundleRead:
    return _bundle_read(bundle_service.create_bundle(session, data=body))


@router.get("/bundles", response_model=Page[BundleRead], tags=["catalog"])
def list_bundles(
    session: SessionDep, status: CatalogStatus | None = None, cursor: str | None = None, limit: Limit = 50
) -> Page[BundleRead]:
    rows, next_cursor = repository.list_bundles(session, status=status, cursor=cursor, limit=limit)
    return Page(items=[_bundle_read(b) for b in rows], next_cursor=next_cursor)


@router.get("/bundles/{bundle_id}", response_model=BundleRead, tags=["catalog"])
def get_bundle(bundle_id: str, session: SessionDep) -> BundleRead:
    return _bundle_read(bundle_service.require_bundle(session, bundle_id))


@router.patch("/bundles/{bundle_id}", response_model=BundleRead, tags=["catalog"])
def update_bundle(bundle_id: str, body: BundleUpdate, session: SessionDep) -> BundleRead:
    bundle = bundle_service.require_bundle(session, bundle_id)
    return _bundle_read(bundle_service.update_bundle(session, bundle=bundle, data=body))


@router.post("/bundles/{bundle_id}/retire", response_model=BundleRead, tags=["catalog"])
def retire_bundle(bundle_id: str, session: SessionDep, now: NowDep) -> BundleRead:
    bundle = bundle_service.require_bundle(session, bundle_id)
    return _bundle_read(bundle_service.retire_bundle(session, bundle=bundle, now=now))


@router.post("/bundles/{bundle_id}/reactivate", response_model=BundleRead, tags=["catalog"])
def reactivate_bundle(bundle_id: str, session: SessionDep) -> BundleRead:
    bundle = bundle_service.require_bundle(session, bundle_id)
    return _bundle_read(bundle_service.reactivate_bundle(session, bundle=bundle))


# --- import and export ---------------------------------------------------------------------------------


@router.post("/catalog/import", response_model=ImportResult, tags=["catalog"])
async def import_catalog_route(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    format: Annotated[ImportFormat | None, Query(description="document or microsoft_csv; guessed when absent")] = None,
    provider_account_id: Annotated[str | None, Query(description="for microsoft_csv: id or name")] = None,
    kind: Annotated[
        ProductKind, Query(description="for microsoft_csv: the kind of new products")
    ] = ProductKind.LICENSE,
    dry_run: bool = False,
) -> ImportResult:
    """The body is the document (YAML or JSON) or the licensing CSV. All or nothing; ``dry_run`` reports the
    counts and warnings without keeping anything."""
    content = await request.body()
    if len(content) > MAX_IMPORT_BYTES:
        raise ValidationFailed(f"The import is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MiB.", code="too_large")
    if not content.strip():
        raise ValidationFailed("The import is empty.", code="import_invalid")
    if format is None and "csv" in request.headers.get("content-type", ""):
        format = ImportFormat.MICROSOFT_CSV
    result = await run_in_threadpool(
        import_catalog,
        session,
        content=content,
        fmt=format,
        default_currency=settings.default_currency,
        provider_account=provider_account_id,
        kind=kind,
        now=now,
    )
    if dry_run:
        session.rollback()
        result.dry_run = True
    return result


@router.get("/catalog/check", response_model=list[CatalogProblem], tags=["catalog"])
def check_catalog(session: SessionDep) -> list[CatalogProblem]:
    """The catalog's setup check: active products that cannot be bought at their provider (a Partner Center
    product without a new-commerce ``productId:skuId``) or sold at all; empty when sound."""
    return product_service.catalog_problems(session)


@router.get("/catalog/export", tags=["catalog"])
def export_catalog(session: SessionDep, format: Literal["json", "yaml"] = "json") -> Response:
    text = document.dump_document(document.export_document(session), format)
    media = "application/json" if format == "json" else "application/yaml"
    return Response(text, media_type=media)
