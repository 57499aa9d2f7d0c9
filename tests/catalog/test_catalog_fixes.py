"""Export keeps retired status; offer GUIDs are one offer in any case; a bundle's parent link is protected."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from seatflow.catalog import service
from seatflow.catalog.bundles import retire_bundle
from seatflow.catalog.document import dump_document, export_document, import_document
from seatflow.catalog.errors import DuplicateOffer, ProductInUse
from seatflow.catalog.models import (
    Bundle,
    BundleItem,
    CatalogStatus,
    Product,
    ProductKind,
    ProductParent,
    ProviderAccount,
)
from seatflow.catalog.schemas import ProductRead
from seatflow.db.sequences import Counter
from tests.factories import create_bundle, create_product, create_provider_account, noon


def _empty_catalog(session: Session) -> None:
    for table in (BundleItem, Bundle, ProductParent, Product, ProviderAccount):
        session.execute(delete(table))
    session.execute(delete(Counter))
    session.flush()


class TestRetiredStatusSurvivesExport:
    def test_a_retired_product_and_bundle_come_back_retired_in_a_fresh_catalog(self, session: Session) -> None:
        account = create_provider_account(session, name="Partner Center")
        e5 = create_product(session, account=account, name="Office 365 E5", provisioning_id="ENTERPRISEPREMIUM")
        phone = create_product(
            session, account=account, kind=ProductKind.ADDON, name="Phone System", provisioning_id="MCOEV", parents=[e5]
        )
        bundle = create_bundle(session, name="E5 Voice", items=[(e5, None), (phone, 0)])
        service.retire_product(session, product=phone, now=noon(date(2026, 11, 1)))
        retire_bundle(session, bundle=bundle, now=noon(date(2026, 11, 1)))
        text = dump_document(export_document(session), "yaml")

        _empty_catalog(session)
        result = import_document(session, text=text, default_currency="USD", now=noon(date(2026, 11, 21)))
        assert result.details["products"].created == 2
        imported = session.execute(select(Product).where(Product.provisioning_id == "MCOEV")).scalar_one()
        assert imported.status is CatalogStatus.RETIRED
        assert imported.retired_at == noon(date(2026, 11, 21))
        assert (
            session.execute(select(Bundle).where(Bundle.name == "E5 Voice")).scalar_one().status
            is CatalogStatus.RETIRED
        )
        again = import_document(session, text=text, default_currency="USD")
        assert again.updated == 0
        assert again.created == 0

    def test_a_document_can_bring_a_retired_product_back(self, session: Session) -> None:
        account = create_provider_account(session, name="Partner Center")
        product = create_product(session, account=account, name="E3", provisioning_id="SPE_E3")
        service.retire_product(session, product=product, now=noon(date(2026, 11, 1)))
        document = export_document(session)
        document["products"][0]["status"] = "active"
        result = import_document(session, text=dump_document(document, "json"), default_currency="USD")
        assert result.details["products"].updated == 1
        session.refresh(product)
        assert product.status is CatalogStatus.ACTIVE
        assert ProductRead.from_model(service.require_product(session, "SPE_E3")).sellable


class TestOfferIdCase:
    def test_the_same_guid_in_upper_case_is_the_same_offer(self, session: Session) -> None:
        account = create_provider_account(session)
        create_product(session, account=account, offer_id="2828be95-46ba-4f91-b2fd-0bef192ecf60")
        with pytest.raises(DuplicateOffer):
            create_product(session, account=account, offer_id="2828BE95-46BA-4F91-B2FD-0BEF192ECF60")
        assert session.execute(select(func.count()).select_from(Product)).scalar_one() == 1

    def test_a_product_is_found_by_its_offer_id_in_any_case(self, session: Session) -> None:
        account = create_provider_account(session)
        product = create_product(session, account=account, offer_id="2828be95-46ba-4f91-b2fd-0bef192ecf60")
        assert product.offer_id == "2828be95-46ba-4f91-b2fd-0bef192ecf60"
        assert service.require_product(session, "2828BE95-46BA-4F91-B2FD-0BEF192ECF60").id == product.id

    def test_nce_catalog_item_ids_keep_their_case(self, session: Session) -> None:
        account = create_provider_account(session)
        product = create_product(session, account=account, offer_id="CFQ7TTC0LH18:0001:CFQ7TTC0K971")
        assert product.offer_id == "CFQ7TTC0LH18:0001:CFQ7TTC0K971"


class TestParentUsedByABundle:
    def test_removing_the_parent_a_bundle_hangs_an_item_under_is_refused(self, session: Session) -> None:
        account = create_provider_account(session)
        e5 = create_product(session, account=account, name="Office 365 E5")
        e3 = create_product(session, account=account, name="Office 365 E3")
        phone = create_product(session, account=account, kind=ProductKind.ADDON, name="Phone System", parents=[e5, e3])
        create_bundle(session, name="E5 Voice", items=[(e5, None), (phone, 0)])
        with pytest.raises(ProductInUse, match="E5 Voice"):
            service.remove_parent(session, product=phone, parent=e5)
        assert {p.id for p in service.require_product(session, str(phone.id)).parents} == {e5.id, e3.id}
        # The parent no bundle relies on can go.
        updated = service.remove_parent(session, product=phone, parent=e3)
        assert [p.id for p in updated.parents] == [e5.id]
