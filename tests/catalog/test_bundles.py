"""Bundles through the services, on the real database (SPEC §2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatflow.catalog import bundles, service
from seatflow.catalog.errors import DuplicateName, InvalidBundle, ProductNotFound, ProductRetired
from seatflow.catalog.models import Bundle, BundleItem, Product, ProductKind, ProviderAccount
from seatflow.catalog.schemas import BundleCreate, BundleItemIn, BundleRead, BundleUpdate
from tests.factories import create_product, create_provider_account

NOW = datetime(2026, 5, 1, tzinfo=UTC)


@dataclass
class Voice:
    account: ProviderAccount
    e5: Product
    audio: Product
    phone: Product
    calling: Product


@pytest.fixture
def voice(session: Session) -> Voice:
    """The seeds' E5 voice chain: Audio Conferencing and Phone System under E5, Calling Plan under Phone System."""
    account = create_provider_account(session, name="Partner Center")
    e5 = create_product(session, account=account, name="Office 365 E5", list_price="38.00")
    audio = create_product(
        session, account=account, kind=ProductKind.ADDON, name="Audio Conferencing", list_price="4.00", parents=[e5]
    )
    phone = create_product(
        session, account=account, kind=ProductKind.ADDON, name="Phone System", list_price="8.00", parents=[e5]
    )
    calling = create_product(
        session,
        account=account,
        kind=ProductKind.ADDON,
        name="Domestic Calling Plan",
        list_price="12.00",
        parents=[phone],
    )
    return Voice(account=account, e5=e5, audio=audio, phone=phone, calling=calling)


def item(product: Product, parent_item: int | None = None, **fields: object) -> BundleItemIn:
    return BundleItemIn(product_id=str(product.id), parent_item=parent_item, **fields)  # type: ignore[arg-type]


def e5_voice_items(voice: Voice) -> list[BundleItemIn]:
    return [item(voice.e5), item(voice.audio, 0), item(voice.phone, 0), item(voice.calling, 2)]


def read(session: Session, bundle: Bundle) -> BundleRead:
    """The bundle as a fresh read shows it (as the API and the CLI render it)."""
    session.flush()
    session.expire_all()
    fresh = bundles.require_bundle(session, str(bundle.id))
    return BundleRead.from_model(fresh, sellable=bundles.bundle_sellable(fresh))


def bundle_count(session: Session) -> int:
    return session.execute(select(func.count()).select_from(Bundle)).scalar_one()


class TestCreateBundle:
    def test_the_e5_voice_bundle_is_accepted(self, session: Session, voice: Voice) -> None:
        bundle = bundles.create_bundle(session, data=BundleCreate(name="E5 Voice", items=e5_voice_items(voice)))

        shown = read(session, bundle)
        assert shown.name == "E5 Voice"
        assert [(i.product_name, i.parent_item) for i in shown.items] == [
            ("Office 365 E5", None),
            ("Audio Conferencing", 0),
            ("Phone System", 0),
            ("Domestic Calling Plan", 2),
        ]
        assert shown.sellable is True
        assert bundles.require_bundle(session, "E5 Voice").id == bundle.id

    def test_calling_plan_under_e5_is_refused_naming_both(self, session: Session, voice: Voice) -> None:
        items = [item(voice.e5), item(voice.phone, 0), item(voice.calling, 0)]

        with pytest.raises(InvalidBundle) as raised:
            bundles.create_bundle(session, data=BundleCreate(name="E5 Voice", items=items))

        assert raised.value.code == "invalid_bundle"
        assert "Domestic Calling Plan" in raised.value.message
        assert "Office 365 E5" in raised.value.message
        assert "not one of its possible parents" in raised.value.message
        assert bundle_count(session) == 0

    def test_an_addon_without_parent_item_is_refused(self, session: Session, voice: Voice) -> None:
        with pytest.raises(InvalidBundle, match=r"Item 1 \(Audio Conferencing\) is an add-on"):
            bundles.create_bundle(session, data=BundleCreate(name="B", items=[item(voice.e5), item(voice.audio)]))

    def test_a_bundle_without_a_license_is_refused(self, session: Session, voice: Voice) -> None:
        support = create_product(session, account=voice.account, kind=ProductKind.SERVICE, name="Managed Support")

        with pytest.raises(InvalidBundle, match="needs a license"):
            bundles.create_bundle(session, data=BundleCreate(name="B", items=[item(support)]))

    def test_a_retired_product_is_refused(self, session: Session, voice: Voice) -> None:
        service.retire_product(session, product=voice.audio, now=NOW)

        with pytest.raises(ProductRetired, match="Audio Conferencing"):
            bundles.create_bundle(session, data=BundleCreate(name="E5 Voice", items=e5_voice_items(voice)))

        assert bundle_count(session) == 0

    def test_an_unknown_product_is_refused(self, session: Session, voice: Voice) -> None:
        items = [item(voice.e5), BundleItemIn(product_id="NO_SUCH_SKU", parent_item=0)]

        with pytest.raises(ProductNotFound, match="NO_SUCH_SKU"):
            bundles.create_bundle(session, data=BundleCreate(name="B", items=items))

    def test_a_second_bundle_with_the_same_name_is_refused(self, session: Session, voice: Voice) -> None:
        bundles.create_bundle(session, data=BundleCreate(name="E5 Voice", items=e5_voice_items(voice)))

        with pytest.raises(DuplicateName, match="E5 Voice"):
            bundles.create_bundle(session, data=BundleCreate(name="E5 Voice", items=[item(voice.e5)]))

    def test_retiring_an_item_product_later_makes_the_bundle_unsellable(self, session: Session, voice: Voice) -> None:
        bundle = bundles.create_bundle(session, data=BundleCreate(name="E5 Voice", items=e5_voice_items(voice)))

        service.retire_product(session, product=voice.calling, now=NOW)

        assert read(session, bundle).sellable is False


class TestBundlePrice:
    def test_list_price_is_the_sum_of_the_items_list_prices(self, session: Session, voice: Voice) -> None:
        bundle = bundles.create_bundle(session, data=BundleCreate(name="E5 Voice", items=e5_voice_items(voice)))

        # 38.00 + 4.00 + 8.00 + 12.00
        assert read(session, bundle).list_price == Decimal("62.00")

    def test_multipliers_unit_prices_and_non_billable_items(self, session: Session, voice: Voice) -> None:
        items = [
            item(voice.e5),
            item(voice.audio, 0, quantity_multiplier=2),  # 2 x 4.00
            item(voice.phone, 0, billable=False),  # included free: not in the price
            item(voice.calling, 2, quantity_multiplier=3, unit_price=Decimal("10.55")),  # 3 x 10.55, not 12.00
        ]

        bundle = bundles.create_bundle(session, data=BundleCreate(name="E5 Voice", items=items))

        shown = read(session, bundle)
        assert shown.list_price == Decimal("77.65")  # 38.00 + 8.00 + 31.65
        assert [i.unit_price for i in shown.items] == [
            Decimal("38.00"),
            Decimal("4.00"),
            Decimal("8.00"),
            Decimal("10.55"),
        ]
        assert shown.model_dump(mode="json")["list_price"] == "77.65"

    def test_an_unpriced_billable_item_leaves_the_bundle_unpriced(self, session: Session, voice: Voice) -> None:
        unpriced = create_product(
            session,
            account=voice.account,
            kind=ProductKind.ADDON,
            name="Teams Rooms",
            list_price=None,
            parents=[voice.e5],
        )

        billable = bundles.create_bundle(
            session, data=BundleCreate(name="A", items=[item(voice.e5), item(unpriced, 0)])
        )
        free = bundles.create_bundle(
            session, data=BundleCreate(name="B", items=[item(voice.e5), item(unpriced, 0, billable=False)])
        )

        assert read(session, billable).list_price is None
        assert read(session, free).list_price == Decimal("38.00")


class TestUpdateBundle:
    def test_update_replaces_the_items(self, session: Session, voice: Voice) -> None:
        bundle = bundles.create_bundle(session, data=BundleCreate(name="E5 Voice", items=e5_voice_items(voice)))

        bundles.update_bundle(
            session,
            bundle=bundle,
            data=BundleUpdate(items=[item(voice.e5), item(voice.phone, 0, quantity_multiplier=2)]),
        )

        shown = read(session, bundle)
        assert [(i.product_name, i.parent_item, i.quantity_multiplier) for i in shown.items] == [
            ("Office 365 E5", None, 1),
            ("Phone System", 0, 2),
        ]
        assert shown.list_price == Decimal("54.00")  # 38.00 + 2 x 8.00
        assert session.execute(select(func.count()).select_from(BundleItem)).scalar_one() == 2
        # Audio Conferencing is no longer in any bundle, so it can be deleted.
        service.delete_product(session, product=voice.audio)

    def test_an_invalid_update_keeps_the_old_items(self, session: Session, voice: Voice) -> None:
        bundle = bundles.create_bundle(session, data=BundleCreate(name="E5 Voice", items=e5_voice_items(voice)))

        with pytest.raises(InvalidBundle, match="Domestic Calling Plan"):
            bundles.update_bundle(
                session, bundle=bundle, data=BundleUpdate(items=[item(voice.e5), item(voice.calling, 0)])
            )

        assert len(read(session, bundle).items) == 4

    def test_renaming_to_a_taken_name_is_refused(self, session: Session, voice: Voice) -> None:
        bundles.create_bundle(session, data=BundleCreate(name="E5", items=[item(voice.e5)]))
        other = bundles.create_bundle(session, data=BundleCreate(name="E5 Voice", items=e5_voice_items(voice)))

        with pytest.raises(DuplicateName):
            bundles.update_bundle(session, bundle=other, data=BundleUpdate(name="E5"))
