"""Products and their possible parents through the services, on the real database (SPEC §2)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatflow.catalog import service
from seatflow.catalog.errors import (
    CatalogCycle,
    DuplicateOffer,
    DuplicateProvisioningId,
    InvalidProduct,
    ParentNotAllowed,
    PerGigabyteAssignable,
    ProductInUse,
    ProductNotFound,
    ProductRetired,
    ProviderAccountNotFound,
    ProviderKindChange,
)
from seatflow.catalog.models import (
    BillingFrequency,
    CatalogStatus,
    Product,
    ProductKind,
    ProductParent,
    ProviderAccount,
    ProviderKind,
    ReductionBehavior,
    Term,
)
from seatflow.catalog.providers import change_provider_kind
from seatflow.catalog.schemas import ProductCreate, ProductRead, ProductUpdate
from tests.factories import create_bundle, create_product, create_provider_account

NOW = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
OFFER = "53fc25f7-6639-4f78-bb44-3c2dfec3ed40"


@pytest.fixture
def account(session: Session) -> ProviderAccount:
    return create_provider_account(session, name="Partner Center")


@pytest.fixture
def other_account(session: Session) -> ProviderAccount:
    return create_provider_account(session, name="Partner Center EU")


def reloaded(session: Session, product: Product) -> Product:
    """The product as a fresh read from the database sees it."""
    session.flush()
    session.expire_all()
    return service.require_product(session, str(product.id))


def sellable(product: Product) -> bool:
    return ProductRead.from_model(product).sellable


def parent_names(product: Product) -> list[str]:
    return sorted(p.name for p in product.parents)


def product_count(session: Session) -> int:
    return session.execute(select(func.count()).select_from(Product)).scalar_one()


class TestCreateProduct:
    def test_stores_every_field_and_defaults_the_rest(self, session: Session, account: ProviderAccount) -> None:
        product = service.create_product(
            session,
            data=ProductCreate(
                provider_account_id=str(account.id),
                kind=ProductKind.LICENSE,
                name="Microsoft 365 E3",
                offer_id=OFFER,
                provisioning_id="SPE_E3",
                term=Term.P1Y,
                list_price=Decimal("36.00"),
                cost_price=Decimal("28.8"),
                max_quantity=300,
            ),
            default_currency="USD",
        )

        stored = reloaded(session, product)
        assert (stored.name, stored.offer_id, stored.provisioning_id) == ("Microsoft 365 E3", OFFER, "SPE_E3")
        assert stored.list_price == Decimal("36.00")
        assert stored.cost_price == Decimal("28.80")
        assert (stored.term, stored.max_quantity, stored.min_quantity) == (Term.P1Y, 300, 1)
        assert stored.currency == "USD"
        assert stored.assignable_to_users is True
        assert stored.reduction_behavior is ReductionBehavior.ALLOWED
        assert stored.status is CatalogStatus.ACTIVE
        assert ProductRead.from_model(stored).model_dump(mode="json")["list_price"] == "36.00"

    def test_product_codes_are_assigned_unique_and_sequential(
        self, session: Session, account: ProviderAccount, other_account: ProviderAccount
    ) -> None:
        products = [
            create_product(session, account=account),
            create_product(session, account=other_account),
            create_product(session, account=account, kind=ProductKind.SERVICE),
        ]

        codes = [p.product_code for p in products]
        assert all(re.fullmatch(r"P-\d{5}", code) for code in codes), codes
        numbers = [int(code[2:]) for code in codes]
        assert numbers == [numbers[0], numbers[0] + 1, numbers[0] + 2]

    def test_product_code_never_changes_on_update(self, session: Session, account: ProviderAccount) -> None:
        product = create_product(session, account=account, name="Old name")
        code = product.product_code

        service.update_product(session, product=product, data=ProductUpdate(name="New name", offer_id=OFFER))

        stored = reloaded(session, product)
        assert (stored.name, stored.product_code) == ("New name", code)

    def test_unknown_provider_account_is_refused(self, session: Session) -> None:
        with pytest.raises(ProviderAccountNotFound):
            service.create_product(
                session,
                data=ProductCreate(provider_account_id="Nowhere", kind=ProductKind.LICENSE, name="E3"),
                default_currency="USD",
            )


class TestUniqueness:
    def test_duplicate_offer_id_in_the_same_account_is_refused_naming_the_existing_product(
        self, session: Session, account: ProviderAccount
    ) -> None:
        existing = create_product(session, account=account, name="Extra File Storage", offer_id=OFFER)

        with pytest.raises(DuplicateOffer) as raised:
            create_product(session, account=account, name="Storage again", offer_id=OFFER)

        assert raised.value.code == "duplicate_offer"
        assert existing.product_code in raised.value.message
        assert "Extra File Storage" in raised.value.message
        assert OFFER in raised.value.message
        assert raised.value.extra["existing_product_id"] == str(existing.id)
        assert product_count(session) == 1

    def test_duplicate_provisioning_id_in_the_same_account_is_refused_naming_the_existing_product(
        self, session: Session, account: ProviderAccount
    ) -> None:
        existing = create_product(session, account=account, name="Phone System", provisioning_id="MCOEV")

        with pytest.raises(DuplicateProvisioningId) as raised:
            create_product(session, account=account, name="Teams Phone", provisioning_id="MCOEV")

        assert raised.value.code == "duplicate_provisioning_id"
        assert existing.product_code in raised.value.message
        assert "Phone System" in raised.value.message
        assert raised.value.extra["existing_product_id"] == str(existing.id)
        assert product_count(session) == 1

    def test_same_offer_and_provisioning_id_in_another_account_are_allowed(
        self, session: Session, account: ProviderAccount, other_account: ProviderAccount
    ) -> None:
        first = create_product(session, account=account, offer_id=OFFER, provisioning_id="MCOEV")
        second = create_product(session, account=other_account, offer_id=OFFER, provisioning_id="MCOEV")

        assert first.id != second.id
        assert first.product_code != second.product_code
        assert product_count(session) == 2

    def test_updating_offer_id_to_one_already_used_is_refused(self, session: Session, account: ProviderAccount) -> None:
        existing = create_product(session, account=account, name="E5", offer_id=OFFER)
        other = create_product(session, account=account, name="E3", offer_id="e3-offer")

        with pytest.raises(DuplicateOffer) as raised:
            service.update_product(session, product=other, data=ProductUpdate(offer_id=OFFER))

        assert existing.product_code in raised.value.message
        assert raised.value.extra["existing_product_id"] == str(existing.id)
        assert reloaded(session, other).offer_id == "e3-offer"

    def test_updating_provisioning_id_to_one_already_used_is_refused(
        self, session: Session, account: ProviderAccount
    ) -> None:
        existing = create_product(session, account=account, provisioning_id="SPE_E5")
        other = create_product(session, account=account, provisioning_id="SPE_E3")

        with pytest.raises(DuplicateProvisioningId) as raised:
            service.update_product(session, product=other, data=ProductUpdate(provisioning_id="SPE_E5"))

        assert existing.product_code in raised.value.message
        assert reloaded(session, other).provisioning_id == "SPE_E3"

    def test_a_product_may_keep_its_own_offer_id_on_update(self, session: Session, account: ProviderAccount) -> None:
        product = create_product(session, account=account, offer_id=OFFER, provisioning_id="SPE_E3")

        updated = service.update_product(
            session, product=product, data=ProductUpdate(offer_id=OFFER, provisioning_id="SPE_E3", name="Renamed")
        )

        assert (updated.offer_id, updated.name) == (OFFER, "Renamed")


class TestPerGigabyte:
    def test_per_gb_addon_marked_assignable_is_refused(self, session: Session, account: ProviderAccount) -> None:
        with pytest.raises(PerGigabyteAssignable) as raised:
            create_product(session, account=account, kind=ProductKind.ADDON, unit="GB", assignable_to_users=True)

        assert raised.value.code == "per_gb_assignable"
        assert product_count(session) == 0

    def test_priced_per_gigabyte_in_the_description_is_refused_when_assignable(
        self, session: Session, account: ProviderAccount
    ) -> None:
        with pytest.raises(PerGigabyteAssignable):
            create_product(
                session,
                account=account,
                kind=ProductKind.ADDON,
                description="Additional SharePoint storage. Priced per gigabyte.",
                assignable_to_users=True,
            )

    @pytest.mark.parametrize(
        ("unit", "description"),
        [("GB", ""), ("license", "Extra mailbox storage. Priced per gigabyte.")],
    )
    def test_per_gb_addon_defaults_to_not_assignable(
        self, session: Session, account: ProviderAccount, unit: str, description: str
    ) -> None:
        product = create_product(session, account=account, kind=ProductKind.ADDON, unit=unit, description=description)

        assert reloaded(session, product).assignable_to_users is False

    def test_ordinary_addon_defaults_to_assignable(self, session: Session, account: ProviderAccount) -> None:
        product = create_product(session, account=account, kind=ProductKind.ADDON)

        assert reloaded(session, product).assignable_to_users is True

    def test_making_a_per_gb_addon_assignable_later_is_refused(
        self, session: Session, account: ProviderAccount
    ) -> None:
        product = create_product(session, account=account, kind=ProductKind.ADDON, unit="GB")

        with pytest.raises(PerGigabyteAssignable):
            service.update_product(session, product=product, data=ProductUpdate(assignable_to_users=True))

    def test_switching_an_assignable_product_to_gb_is_refused(self, session: Session, account: ProviderAccount) -> None:
        product = create_product(session, account=account, kind=ProductKind.ADDON)

        with pytest.raises(PerGigabyteAssignable):
            service.update_product(session, product=product, data=ProductUpdate(unit="GB"))


class TestPossibleParents:
    def test_parents_given_on_creation(self, session: Session, account: ProviderAccount) -> None:
        premium = create_product(session, account=account, name="Business Premium")
        e5 = create_product(session, account=account, name="Office 365 E5")

        archiving = create_product(session, account=account, kind=ProductKind.ADDON, parents=[premium, e5])

        assert parent_names(reloaded(session, archiving)) == ["Business Premium", "Office 365 E5"]

    def test_parents_added_and_removed_after_creation(self, session: Session, account: ProviderAccount) -> None:
        premium = create_product(session, account=account, name="Business Premium")
        e5 = create_product(session, account=account, name="Office 365 E5")
        archiving = create_product(session, account=account, kind=ProductKind.ADDON, parents=[premium])

        archiving = service.add_parent(session, product=archiving, parent=e5)
        assert parent_names(reloaded(session, archiving)) == ["Business Premium", "Office 365 E5"]

        archiving = service.remove_parent(session, product=reloaded(session, archiving), parent=premium)
        assert parent_names(reloaded(session, archiving)) == ["Office 365 E5"]

    def test_adding_the_same_parent_twice_keeps_one_edge(self, session: Session, account: ProviderAccount) -> None:
        e5 = create_product(session, account=account)
        audio = create_product(session, account=account, kind=ProductKind.ADDON, parents=[e5])

        service.add_parent(session, product=audio, parent=e5)

        edges = session.execute(select(func.count()).select_from(ProductParent)).scalar_one()
        assert edges == 1

    def test_removing_a_product_that_is_not_a_parent_is_refused(
        self, session: Session, account: ProviderAccount
    ) -> None:
        e5 = create_product(session, account=account, name="Office 365 E5")
        e3 = create_product(session, account=account, name="Microsoft 365 E3")
        audio = create_product(session, account=account, kind=ProductKind.ADDON, parents=[e5])

        with pytest.raises(ProductNotFound, match="Microsoft 365 E3"):
            service.remove_parent(session, product=audio, parent=e3)

    def test_add_ons_of_add_ons_are_first_class(self, session: Session, account: ProviderAccount) -> None:
        e5 = create_product(session, account=account, name="Office 365 E5")
        phone = create_product(session, account=account, kind=ProductKind.ADDON, name="Phone System", parents=[e5])

        calling = create_product(session, account=account, kind=ProductKind.ADDON, parents=[phone])

        assert parent_names(reloaded(session, calling)) == ["Phone System"]
        assert sellable(calling)

    def test_a_license_cannot_have_parents(self, session: Session, account: ProviderAccount) -> None:
        e5 = create_product(session, account=account, name="Office 365 E5")
        e3 = create_product(session, account=account, name="Microsoft 365 E3")

        with pytest.raises(ParentNotAllowed) as raised:
            service.add_parent(session, product=e3, parent=e5)

        assert "Microsoft 365 E3" in raised.value.message
        assert "only add-ons" in raised.value.message
        assert reloaded(session, e3).parents == []

    def test_a_license_cannot_be_created_with_parents(self, session: Session, account: ProviderAccount) -> None:
        e5 = create_product(session, account=account)

        with pytest.raises(ParentNotAllowed):
            create_product(session, account=account, kind=ProductKind.LICENSE, parents=[e5])

    def test_a_service_cannot_be_a_parent(self, session: Session, account: ProviderAccount) -> None:
        support = create_product(session, account=account, kind=ProductKind.SERVICE, name="Managed Support")
        addon = create_product(session, account=account, kind=ProductKind.ADDON, name="Support Plus")

        with pytest.raises(ParentNotAllowed) as raised:
            service.add_parent(session, product=addon, parent=support)

        assert "Managed Support" in raised.value.message
        assert "is a service" in raised.value.message
        assert reloaded(session, addon).parents == []

    def test_a_parent_in_another_provider_account_is_refused(
        self, session: Session, account: ProviderAccount, other_account: ProviderAccount
    ) -> None:
        e5_elsewhere = create_product(session, account=other_account, name="Office 365 E5")
        audio = create_product(session, account=account, kind=ProductKind.ADDON, name="Audio Conferencing")

        with pytest.raises(ParentNotAllowed) as raised:
            service.add_parent(session, product=audio, parent=e5_elsewhere)

        assert "another provider account" in raised.value.message
        assert "Office 365 E5" in raised.value.message
        assert "Audio Conferencing" in raised.value.message
        assert reloaded(session, audio).parents == []

    def test_a_retired_parent_is_refused(self, session: Session, account: ProviderAccount) -> None:
        e5 = create_product(session, account=account, name="Office 365 E5")
        audio = create_product(session, account=account, kind=ProductKind.ADDON)
        service.retire_product(session, product=e5, now=NOW)

        with pytest.raises(ProductRetired, match="Office 365 E5"):
            service.add_parent(session, product=audio, parent=e5)

        assert reloaded(session, audio).parents == []

    def test_set_parents_makes_the_given_set_exactly_the_parents(
        self, session: Session, account: ProviderAccount
    ) -> None:
        a = create_product(session, account=account, name="A")
        b = create_product(session, account=account, name="B")
        c = create_product(session, account=account, name="C")
        addon = create_product(session, account=account, kind=ProductKind.ADDON, parents=[a, b])

        service.set_parents(session, product=addon, parents=[b, c])

        assert parent_names(reloaded(session, addon)) == ["B", "C"]


class TestCycles:
    @pytest.fixture
    def voice(self, session: Session, account: ProviderAccount) -> tuple[Product, Product, Product]:
        """Domestic Calling Plan → Phone System → Office 365 E5."""
        e5 = create_product(session, account=account, name="Office 365 E5")
        phone = create_product(session, account=account, kind=ProductKind.ADDON, name="Phone System", parents=[e5])
        calling = create_product(
            session, account=account, kind=ProductKind.ADDON, name="Domestic Calling Plan", parents=[phone]
        )
        return e5, phone, calling

    def test_calling_plan_as_a_parent_of_phone_system_is_refused_naming_the_cycle(
        self, session: Session, voice: tuple[Product, Product, Product]
    ) -> None:
        _, phone, calling = voice

        with pytest.raises(CatalogCycle) as raised:
            service.add_parent(session, product=phone, parent=calling)

        assert raised.value.code == "catalog_cycle"
        assert "Phone System → Domestic Calling Plan → Phone System" in raised.value.message
        assert raised.value.extra["cycle"] == [str(phone.id), str(calling.id), str(phone.id)]
        assert parent_names(reloaded(session, phone)) == ["Office 365 E5"]

    def test_a_longer_cycle_is_refused_naming_every_product_in_it(
        self, session: Session, account: ProviderAccount
    ) -> None:
        a = create_product(session, account=account, kind=ProductKind.ADDON, name="Add-on A")
        b = create_product(session, account=account, kind=ProductKind.ADDON, name="Add-on B", parents=[a])
        c = create_product(session, account=account, kind=ProductKind.ADDON, name="Add-on C", parents=[b])

        with pytest.raises(CatalogCycle) as raised:
            service.add_parent(session, product=a, parent=c)

        assert "Add-on A → Add-on C → Add-on B → Add-on A" in raised.value.message
        assert reloaded(session, a).parents == []

    def test_a_product_cannot_be_its_own_parent(
        self, session: Session, voice: tuple[Product, Product, Product]
    ) -> None:
        _, phone, _ = voice

        with pytest.raises(CatalogCycle, match="Phone System → Phone System"):
            service.add_parent(session, product=phone, parent=phone)

    def test_a_second_path_through_the_graph_is_not_a_cycle(
        self, session: Session, voice: tuple[Product, Product, Product]
    ) -> None:
        e5, _, calling = voice

        service.add_parent(session, product=calling, parent=e5)

        assert parent_names(reloaded(session, calling)) == ["Office 365 E5", "Phone System"]


class TestSellable:
    def test_an_addon_without_parents_is_not_sellable_until_it_gets_one(
        self, session: Session, account: ProviderAccount
    ) -> None:
        e5 = create_product(session, account=account)
        audio = create_product(session, account=account, kind=ProductKind.ADDON)
        assert sellable(reloaded(session, audio)) is False

        service.add_parent(session, product=audio, parent=e5)

        assert sellable(reloaded(session, audio)) is True

    def test_removing_the_last_parent_makes_an_addon_unsellable(
        self, session: Session, account: ProviderAccount
    ) -> None:
        e5 = create_product(session, account=account)
        audio = create_product(session, account=account, kind=ProductKind.ADDON, parents=[e5])

        service.remove_parent(session, product=audio, parent=e5)

        assert sellable(reloaded(session, audio)) is False

    @pytest.mark.parametrize("kind", [ProductKind.LICENSE, ProductKind.SERVICE])
    def test_licenses_and_services_are_sellable_without_parents(
        self, session: Session, account: ProviderAccount, kind: ProductKind
    ) -> None:
        assert sellable(reloaded(session, create_product(session, account=account, kind=kind))) is True


class TestRetireProduct:
    def test_retire_keeps_the_product_and_makes_it_unsellable(self, session: Session, account: ProviderAccount) -> None:
        e3 = create_product(session, account=account, name="Microsoft 365 E3", provisioning_id="SPE_E3")

        service.retire_product(session, product=e3, now=NOW)

        stored = reloaded(session, e3)
        assert stored.status is CatalogStatus.RETIRED
        assert stored.retired_at == NOW
        assert sellable(stored) is False
        assert service.require_product(session, "SPE_E3").id == e3.id

    def test_retiring_twice_keeps_the_first_date(self, session: Session, account: ProviderAccount) -> None:
        e3 = create_product(session, account=account)
        service.retire_product(session, product=e3, now=NOW)

        service.retire_product(session, product=e3, now=datetime(2026, 6, 1, tzinfo=UTC))

        assert reloaded(session, e3).retired_at == NOW

    def test_reactivate_makes_it_sellable_again(self, session: Session, account: ProviderAccount) -> None:
        e3 = create_product(session, account=account)
        service.retire_product(session, product=e3, now=NOW)

        service.reactivate_product(session, product=e3)

        stored = reloaded(session, e3)
        assert (stored.status, stored.retired_at, sellable(stored)) == (CatalogStatus.ACTIVE, None, True)


class TestDeleteProduct:
    def test_a_product_in_a_bundle_cannot_be_deleted(self, session: Session, account: ProviderAccount) -> None:
        e5 = create_product(session, account=account, name="Office 365 E5")
        create_bundle(session, name="E5 Voice", items=[(e5, None)])

        with pytest.raises(ProductInUse) as raised:
            service.delete_product(session, product=e5)

        assert raised.value.code == "product_in_use"
        assert "E5 Voice" in raised.value.message
        assert "retire it instead" in raised.value.message
        assert reloaded(session, e5).status is CatalogStatus.ACTIVE

    def test_a_product_that_is_a_parent_cannot_be_deleted(self, session: Session, account: ProviderAccount) -> None:
        e5 = create_product(session, account=account, name="Office 365 E5")
        create_product(session, account=account, kind=ProductKind.ADDON, name="Audio Conferencing", parents=[e5])

        with pytest.raises(ProductInUse, match="possible parent of Audio Conferencing"):
            service.delete_product(session, product=e5)

        assert product_count(session) == 2

    def test_an_unused_product_is_deleted(self, session: Session, account: ProviderAccount) -> None:
        e3 = create_product(session, account=account, provisioning_id="SPE_E3")

        service.delete_product(session, product=e3)

        assert product_count(session) == 0
        with pytest.raises(ProductNotFound):
            service.require_product(session, "SPE_E3")

    def test_an_addon_with_parents_is_deleted_with_its_edges(self, session: Session, account: ProviderAccount) -> None:
        e5 = create_product(session, account=account)
        audio = create_product(session, account=account, kind=ProductKind.ADDON, parents=[e5])

        service.delete_product(session, product=audio)

        assert session.execute(select(func.count()).select_from(ProductParent)).scalar_one() == 0
        service.delete_product(session, product=reloaded(session, e5))  # no longer anyone's parent
        assert product_count(session) == 0


class TestUpdateProduct:
    def test_an_addon_with_parents_cannot_become_a_license(self, session: Session, account: ProviderAccount) -> None:
        e5 = create_product(session, account=account)
        audio = create_product(session, account=account, kind=ProductKind.ADDON, name="Audio", parents=[e5])

        with pytest.raises(ParentNotAllowed, match="remove them before making it a license"):
            service.update_product(session, product=audio, data=ProductUpdate(kind=ProductKind.LICENSE))

        assert reloaded(session, audio).kind is ProductKind.ADDON

    def test_an_addon_without_parents_can_become_a_license(self, session: Session, account: ProviderAccount) -> None:
        addon = create_product(session, account=account, kind=ProductKind.ADDON)

        service.update_product(session, product=addon, data=ProductUpdate(kind=ProductKind.LICENSE))

        stored = reloaded(session, addon)
        assert (stored.kind, sellable(stored)) == (ProductKind.LICENSE, True)

    def test_a_parent_of_addons_cannot_become_a_service(self, session: Session, account: ProviderAccount) -> None:
        e5 = create_product(session, account=account)
        create_product(session, account=account, kind=ProductKind.ADDON, parents=[e5])

        with pytest.raises(ParentNotAllowed, match="a service cannot be one"):
            service.update_product(session, product=e5, data=ProductUpdate(kind=ProductKind.SERVICE))

        assert reloaded(session, e5).kind is ProductKind.LICENSE

    def test_leaving_allowed_within_window_clears_the_window(self, session: Session, account: ProviderAccount) -> None:
        product = create_product(
            session,
            account=account,
            reduction_behavior=ReductionBehavior.ALLOWED_WITHIN_WINDOW,
            reduction_window_days=14,
        )
        assert reloaded(session, product).reduction_window_days == 14

        service.update_product(
            session, product=product, data=ProductUpdate(reduction_behavior=ReductionBehavior.DISALLOWED)
        )

        stored = reloaded(session, product)
        assert (stored.reduction_behavior, stored.reduction_window_days) == (ReductionBehavior.DISALLOWED, None)

    def test_allowed_within_window_defaults_to_seven_days(self, session: Session, account: ProviderAccount) -> None:
        product = create_product(session, account=account)

        service.update_product(
            session, product=product, data=ProductUpdate(reduction_behavior=ReductionBehavior.ALLOWED_WITHIN_WINDOW)
        )

        assert reloaded(session, product).reduction_window_days == 7

    def test_a_window_without_allowed_within_window_is_refused(
        self, session: Session, account: ProviderAccount
    ) -> None:
        product = create_product(session, account=account)

        with pytest.raises(InvalidProduct, match="reduction_window_days applies only"):
            service.update_product(session, product=product, data=ProductUpdate(reduction_window_days=7))

    def test_billing_longer_than_the_term_is_refused(self, session: Session, account: ProviderAccount) -> None:
        product = create_product(session, account=account, term=Term.P1Y, billing_frequency=BillingFrequency.ANNUAL)

        with pytest.raises(InvalidProduct, match="longer than the P1M term"):
            service.update_product(session, product=product, data=ProductUpdate(term=Term.P1M))

    def test_prices_update_exactly(self, session: Session, account: ProviderAccount) -> None:
        product = create_product(session, account=account, list_price="12.50")

        service.update_product(
            session, product=product, data=ProductUpdate(list_price=Decimal("0.1875"), cost_price=None)
        )

        stored = reloaded(session, product)
        assert stored.list_price == Decimal("0.1875")
        assert stored.cost_price is None
        assert ProductRead.from_model(stored).model_dump(mode="json")["list_price"] == "0.1875"


class TestRequireProduct:
    def test_finds_by_id_code_offer_and_provisioning_id(self, session: Session, account: ProviderAccount) -> None:
        product = create_product(session, account=account, offer_id=OFFER, provisioning_id="SPE_E3")

        for ref in (str(product.id), product.product_code, product.product_code.lower(), OFFER, "SPE_E3"):
            assert service.require_product(session, ref).id == product.id

    def test_a_key_used_in_two_accounts_is_ambiguous(
        self, session: Session, account: ProviderAccount, other_account: ProviderAccount
    ) -> None:
        create_product(session, account=account, provisioning_id="SPE_E3")
        create_product(session, account=other_account, provisioning_id="SPE_E3")

        with pytest.raises(ProductNotFound, match="names 2 products"):
            service.require_product(session, "SPE_E3")


def test_provider_kind_is_fixed_once_products_exist(session: Session, account: ProviderAccount) -> None:
    create_product(session, account=account)

    with pytest.raises(ProviderKindChange):
        change_provider_kind(session, account=account, kind=ProviderKind.MANUAL)
