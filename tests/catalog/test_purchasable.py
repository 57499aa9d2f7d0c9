"""Partner Center sells new-commerce SKUs only (SPEC §2): a ``partner_center`` product without a ``productId:skuId``
offer ID says it is not purchasable, cannot be bought through a Partner Center account, and the catalog's check
lists it. Legacy GUID offer IDs stay valid for the other provider kinds."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from seatflow.catalog import service
from seatflow.catalog.errors import ProductNotPurchasable
from seatflow.catalog.models import Product, ProductKind, ProviderAccount, ProviderKind
from seatflow.catalog.schemas import ProductRead, ProductUpdate
from tests.factories import (
    FACTORY_TODAY,
    create_contract,
    create_customer,
    create_product,
    create_provider_account,
    create_subscription,
    load_demo_catalog,
    noon,
)

LEGACY_OFFER = "2828be95-46ba-4f91-b2fd-0bef192ecf60"  # seed 002's Exchange Online Archiving
NCE_SKU = "CFQ7TTC0LH3K:0001"


@pytest.fixture
def partner_center(session: Session) -> ProviderAccount:
    return create_provider_account(session, name="Partner Center")


@pytest.fixture
def manual(session: Session) -> ProviderAccount:
    return create_provider_account(session, name="Distributor", kind=ProviderKind.MANUAL)


def purchasable(product: Product) -> tuple[bool, str | None]:
    read = ProductRead.from_model(product)
    return read.purchasable, read.purchasable_reason


class TestTheProductSaysSo:
    def test_a_new_commerce_sku_is_purchasable(self, session: Session, partner_center: ProviderAccount) -> None:
        product = create_product(session, account=partner_center, offer_id=NCE_SKU)

        assert purchasable(product) == (True, None)

    @pytest.mark.parametrize(
        ("offer_id", "found"),
        [
            (LEGACY_OFFER, f"its offer ID {LEGACY_OFFER} is a legacy offer, which Microsoft no longer sells"),
            ("CFQ7TTC0LH3K:0001:CFQ7TTC0J8PX", "names an availability"),
            ("EXCHANGEARCHIVE", "is a legacy offer"),
        ],
    )
    def test_any_other_offer_id_at_partner_center_is_not(
        self, session: Session, partner_center: ProviderAccount, offer_id: str, found: str
    ) -> None:
        product = create_product(session, account=partner_center, offer_id=offer_id)

        is_purchasable, reason = purchasable(product)

        assert is_purchasable is False
        assert reason is not None
        assert reason.startswith("Not purchasable at Partner Center: ")
        assert found in reason
        assert "Set the offer ID to the new-commerce productId:skuId" in reason

    def test_no_offer_id_at_partner_center_is_not_purchasable(
        self, session: Session, partner_center: ProviderAccount
    ) -> None:
        product = create_product(session, account=partner_center)
        product = service.update_product(session, product=product, data=ProductUpdate(offer_id=None))

        assert purchasable(product) == (
            False,
            "Not purchasable at Partner Center: it has no offer ID. Set the offer ID to the new-commerce "
            "productId:skuId (e.g. CFQ7TTC0LH18:0001).",
        )

    def test_a_legacy_guid_stays_valid_for_other_provider_kinds(
        self, session: Session, manual: ProviderAccount
    ) -> None:
        product = create_product(session, account=manual, offer_id=LEGACY_OFFER)

        assert product.offer_id == LEGACY_OFFER
        assert purchasable(product) == (True, None)


class TestBuyingIt:
    def test_through_a_partner_center_account_is_refused_saying_what_to_set(
        self, session: Session, partner_center: ProviderAccount
    ) -> None:
        product = create_product(
            session, account=partner_center, name="Exchange Online Archiving", offer_id=LEGACY_OFFER
        )
        contract = create_contract(session, customer=create_customer(session, tenant_id="contoso-tenant"))

        with pytest.raises(ProductNotPurchasable) as refused:
            create_subscription(session, contract=contract, product=product, quantity=5)

        assert refused.value.code == "product_not_purchasable"
        assert str(refused.value).startswith("Exchange Online Archiving: Not purchasable at Partner Center")
        assert "productId:skuId" in str(refused.value)

    def test_through_a_manual_account_it_is_sold(
        self, session: Session, partner_center: ProviderAccount, manual: ProviderAccount
    ) -> None:
        product = create_product(session, account=partner_center, offer_id=LEGACY_OFFER)
        contract = create_contract(session, customer=create_customer(session, tenant_id="contoso-tenant"))

        subscription = create_subscription(
            session, contract=contract, product=product, quantity=5, provider_account=manual
        )

        assert subscription.provider_account_id == manual.id

    def test_once_its_offer_id_is_the_new_commerce_sku_it_is_sold(
        self, session: Session, partner_center: ProviderAccount
    ) -> None:
        product = create_product(session, account=partner_center, offer_id=LEGACY_OFFER)
        product = service.update_product(session, product=product, data=ProductUpdate(offer_id=NCE_SKU))
        contract = create_contract(session, customer=create_customer(session, tenant_id="contoso-tenant"))

        subscription = create_subscription(session, contract=contract, product=product, quantity=5)

        assert subscription.quantity == 5


class TestTheCatalogCheck:
    def test_the_demo_catalog_is_sound(self, session: Session) -> None:
        load_demo_catalog(session)

        assert service.catalog_problems(session) == []

    def test_it_lists_what_cannot_be_bought_or_sold(
        self, session: Session, partner_center: ProviderAccount, manual: ProviderAccount
    ) -> None:
        legacy = create_product(session, account=partner_center, name="Archiving", offer_id=LEGACY_OFFER)
        create_product(session, account=partner_center, name="E3", offer_id="CFQ7TTC0LFLX:0001")
        create_product(session, account=manual, name="Via distributor", offer_id=LEGACY_OFFER)
        orphan = create_product(session, account=manual, kind=ProductKind.ADDON, name="Orphan add-on")
        retired = create_product(
            session, account=partner_center, name="Old", offer_id="1c27243e-fb4d-42b1-9cb4-d3dc9b0e6d2f"
        )
        service.retire_product(session, product=retired, now=noon(FACTORY_TODAY))  # retired: nothing to check

        problems = [(p.code, p.product_code) for p in service.catalog_problems(session)]

        assert problems == [
            ("product_not_purchasable", legacy.product_code),
            ("addon_without_parents", orphan.product_code),
        ]
