"""Linked subscriptions through the services (SPEC §4, §5; seed 003's Pine Cone Vet)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from seatflow.contracts.schemas import ContractUpdate
from seatflow.contracts.service import ContractCycle, ContractParentInvalid, update_contract
from seatflow.errors import ValidationFailed
from seatflow.subscriptions import lifecycle, linking
from seatflow.subscriptions.changes import change_quantity
from seatflow.subscriptions.errors import InvalidLink, LinkedParentLocked
from seatflow.subscriptions.models import (
    ChangeOrigin,
    LicenseChange,
    ProvisioningStatus,
    SubscriptionStatus,
)
from seatflow.subscriptions.schemas import Actor, SubscriptionUpdate
from tests.factories import (
    FACTORY_TODAY,
    OPERATOR,
    create_contract,
    create_customer,
    create_subscription,
    load_demo_catalog,
    noon,
)
from tests.subscriptions.helpers import (
    PineConeVet,
    changes_of,
    fresh,
    pine_cone_vet,
    quantity_changes,
)

TODAY = FACTORY_TODAY
PORTAL = Actor(ChangeOrigin.PORTAL, "it@pineconevet.example")


@pytest.fixture
def vet(session: Session) -> PineConeVet:
    return pine_cone_vet(session, load_demo_catalog(session))


def problems(session: Session, vet: PineConeVet) -> list[tuple[str, str | None]]:
    session.flush()
    return sorted(
        ((p.code, p.subscription_id) for p in linking.setup_check(session, vet.parent_contract)),
        key=lambda p: (p[0], p[1] or ""),
    )


def set_quantity(session: Session, subscription_id: object, quantity: int, **options: object) -> LicenseChange:
    change = change_quantity(
        session,
        subscription_id=subscription_id,
        quantity=quantity,
        effective="now",
        today=TODAY,
        now=noon(TODAY),
        actor=options.pop("actor", PORTAL),  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )
    assert isinstance(change, LicenseChange)
    return change


class TestSetup:
    def test_the_seed_setup_is_sound(self, session: Session, vet: PineConeVet) -> None:
        assert problems(session, vet) == []
        for location in vet.locations.values():
            assert linking.setup_check(session, location.contract) == []

    def test_linking_pushed_nothing(self, session: Session, vet: PineConeVet) -> None:
        assert fresh(session, vet.parent_e3).quantity == 50
        assert fresh(session, vet.parent_ems).quantity == 20
        assert len(changes_of(session, vet.parent_e3)) == 1  # its create change only
        for location in vet.locations.values():
            child = fresh(session, location.e3)
            assert child.linked_subscription_id == vet.parent_e3.id
            assert child.provider_account_id == vet.catalog.linked.id


class TestPushUp:
    def test_new_york_buying_ten_more_pushes_them_to_the_parent(self, session: Session, vet: PineConeVet) -> None:
        new_york = vet.locations["New York City"]
        child_change = set_quantity(session, new_york.e3.id, 35)

        assert fresh(session, new_york.e3).quantity == 35
        assert fresh(session, vet.parent_e3).quantity == 60
        [parent_change] = quantity_changes(session, vet.parent_e3)
        assert parent_change.caused_by_change_id == child_change.id
        assert parent_change.origin is ChangeOrigin.LINKED_CHILD
        assert parent_change.requested_by == PORTAL.name
        assert (parent_change.quantity_before, parent_change.quantity_after) == (50, 60)
        assert parent_change.effective_date == TODAY
        # The parent provisions with Partner Center; the child's change waits for it (flow-back, SPEC §5).
        assert parent_change.provisioning_status is ProvisioningStatus.AWAITING
        assert child_change.provisioning_status is ProvisioningStatus.AWAITING
        assert (child_change.origin, child_change.quantity_before, child_change.quantity_after) == (
            ChangeOrigin.PORTAL,
            25,
            35,
        )
        # The other product and the other locations are untouched; the setup is still sound.
        assert fresh(session, vet.parent_ems).quantity == 20
        assert problems(session, vet) == []

    def test_a_reduction_pushes_down_too(self, session: Session, vet: PineConeVet) -> None:
        set_quantity(session, vet.locations["Atlanta"].ems.id, 2)  # on the term's first day: allowed
        assert fresh(session, vet.parent_ems).quantity == 17
        [parent_change] = quantity_changes(session, vet.parent_ems)
        assert (parent_change.quantity_before, parent_change.quantity_after) == (20, 17)

    def test_a_new_child_created_linked_pushes_its_whole_quantity(self, session: Session, vet: PineConeVet) -> None:
        nashville = create_contract(
            session, customer=vet.customer, name="Pine Cone Vet - Nashville", parent=vet.parent_contract
        )
        child = create_subscription(
            session,
            contract=nashville,
            product=vet.catalog.e3,
            quantity=7,
            provider_account=vet.catalog.linked,
            linked_to=vet.parent_e3,
        )
        assert fresh(session, vet.parent_e3).quantity == 57
        [create] = changes_of(session, child)
        [parent_change] = quantity_changes(session, vet.parent_e3)
        assert parent_change.caused_by_change_id == create.id
        assert (parent_change.quantity_before, parent_change.quantity_after) == (50, 57)
        assert problems(session, vet) == []

    def test_a_cancelled_child_takes_its_whole_quantity_down(self, session: Session, vet: PineConeVet) -> None:
        memphis = vet.locations["Memphis"]
        [cancel] = lifecycle.cancel(
            session, subscription=memphis.e3, cascade=False, today=TODAY, now=noon(TODAY), actor=OPERATOR
        )
        assert fresh(session, memphis.e3).status is SubscriptionStatus.CANCELLED
        assert fresh(session, vet.parent_e3).quantity == 35
        [parent_change] = quantity_changes(session, vet.parent_e3)
        assert parent_change.caused_by_change_id == cancel.id
        assert parent_change.origin is ChangeOrigin.LINKED_CHILD
        assert (parent_change.quantity_before, parent_change.quantity_after) == (50, 35)
        assert problems(session, vet) == []

    def test_a_suspended_child_still_counts(self, session: Session, vet: PineConeVet) -> None:
        lifecycle.suspend(
            session,
            subscription=vet.locations["Atlanta"].e3,
            cascade=False,
            today=TODAY,
            now=noon(TODAY),
            actor=OPERATOR,
        )
        assert fresh(session, vet.parent_e3).quantity == 50
        assert problems(session, vet) == []


class TestParentLocked:
    def test_a_direct_change_on_the_parent_is_refused(self, session: Session, vet: PineConeVet) -> None:
        with pytest.raises(LinkedParentLocked) as raised:
            set_quantity(session, vet.parent_e3.id, 55, actor=OPERATOR)
        assert sorted(raised.value.extra["linked_children"]) == sorted(
            str(location.e3.id) for location in vet.locations.values()
        )
        assert fresh(session, vet.parent_e3).quantity == 50

    @pytest.mark.parametrize("reason", [None, "", "   "])
    def test_forcing_needs_a_reason(self, session: Session, vet: PineConeVet, reason: str | None) -> None:
        with pytest.raises(ValidationFailed) as raised:
            set_quantity(session, vet.parent_e3.id, 55, actor=OPERATOR, force=True, reason=reason)
        assert raised.value.code == "reason_required"
        assert fresh(session, vet.parent_e3).quantity == 50

    def test_a_forced_change_is_recorded_with_its_reason(self, session: Session, vet: PineConeVet) -> None:
        reason = "Partner Center shows 55 after a support case; matching it until the locations are fixed."
        change = set_quantity(session, vet.parent_e3.id, 55, actor=OPERATOR, force=True, reason=reason)
        assert change.reason == reason
        assert change.origin is ChangeOrigin.OPERATOR
        assert (change.quantity_before, change.quantity_after) == (50, 55)
        assert fresh(session, vet.parent_e3).quantity == 55
        # Nothing flows down: the children keep their quantities and the setup check shows the drift.
        assert sum(fresh(session, loc.e3).quantity for loc in vet.locations.values()) == 50
        assert ("children_sum_mismatch", str(vet.parent_e3.id)) in problems(session, vet)

    def test_cancelling_the_parent_is_refused_too(self, session: Session, vet: PineConeVet) -> None:
        with pytest.raises(LinkedParentLocked):
            lifecycle.cancel(
                session, subscription=vet.parent_e3, cascade=False, today=TODAY, now=noon(TODAY), actor=OPERATOR
            )
        assert fresh(session, vet.parent_e3).status is SubscriptionStatus.ACTIVE


class TestLinkRules:
    def test_a_different_product_is_refused(self, session: Session, vet: PineConeVet) -> None:
        atlanta = vet.locations["Atlanta"]
        linking.unlink(session, subscription=atlanta.ems, account_ref=None)
        with pytest.raises(InvalidLink) as raised:
            linking.link(session, subscription=atlanta.ems, target=vet.parent_e3, account=vet.catalog.linked)
        assert "same product" in raised.value.message
        assert fresh(session, atlanta.ems).linked_subscription_id is None

    def test_a_contract_that_is_not_a_child_of_the_parents_is_refused(self, session: Session, vet: PineConeVet) -> None:
        stray = create_contract(session, customer=vet.customer, name="Pine Cone Vet - Stray")
        e3 = create_subscription(
            session, contract=stray, product=vet.catalog.e3, quantity=3, provider_account=vet.catalog.do_nothing
        )
        with pytest.raises(InvalidLink) as raised:
            linking.link(session, subscription=e3, target=vet.parent_e3, account=vet.catalog.linked)
        assert "parent contract" in raised.value.message
        assert fresh(session, e3).linked_subscription_id is None

    def test_links_are_one_level_only(self, session: Session, vet: PineConeVet) -> None:
        atlanta = vet.locations["Atlanta"]
        clinic = create_contract(session, customer=vet.customer, name="Atlanta - Clinic 2", parent=atlanta.contract)
        e3 = create_subscription(
            session, contract=clinic, product=vet.catalog.e3, quantity=2, provider_account=vet.catalog.do_nothing
        )
        with pytest.raises(InvalidLink) as raised:
            linking.link(session, subscription=e3, target=atlanta.e3, account=vet.catalog.linked)
        assert "one level" in raised.value.message

    def test_creating_a_child_linked_to_a_linked_subscription_is_refused(
        self, session: Session, vet: PineConeVet
    ) -> None:
        atlanta = vet.locations["Atlanta"]
        clinic = create_contract(session, customer=vet.customer, name="Atlanta - Clinic 2", parent=atlanta.contract)
        with pytest.raises(InvalidLink):
            create_subscription(
                session,
                contract=clinic,
                product=vet.catalog.e3,
                quantity=2,
                provider_account=vet.catalog.linked,
                linked_to=atlanta.e3,
            )
        assert fresh(session, atlanta.e3).quantity == 10
        assert fresh(session, vet.parent_e3).quantity == 50

    def test_only_a_linked_provider_account_links(self, session: Session, vet: PineConeVet) -> None:
        atlanta = vet.locations["Atlanta"]
        linking.unlink(session, subscription=atlanta.e3, account_ref=None)
        with pytest.raises(InvalidLink):
            linking.link(session, subscription=atlanta.e3, target=vet.parent_e3, account=vet.catalog.partner_center)

    def test_unlinking_moves_the_child_to_do_nothing_and_pushes_nothing(
        self, session: Session, vet: PineConeVet
    ) -> None:
        atlanta = vet.locations["Atlanta"]
        linking.unlink(session, subscription=atlanta.e3, account_ref=None)
        child = fresh(session, atlanta.e3)
        assert child.linked_subscription_id is None
        assert child.provider_account_id == vet.catalog.do_nothing.id
        assert fresh(session, vet.parent_e3).quantity == 50
        set_quantity(session, atlanta.e3.id, 12)
        assert fresh(session, vet.parent_e3).quantity == 50


class TestSetupCheck:
    def test_linking_an_existing_child_that_does_not_add_up_is_reported(
        self, session: Session, vet: PineConeVet
    ) -> None:
        nashville = create_contract(
            session, customer=vet.customer, name="Pine Cone Vet - Nashville", parent=vet.parent_contract
        )
        e3 = create_subscription(
            session, contract=nashville, product=vet.catalog.e3, quantity=3, provider_account=vet.catalog.do_nothing
        )
        linking.link(session, subscription=e3, target=vet.parent_e3, account=vet.catalog.linked)

        assert fresh(session, vet.parent_e3).quantity == 50  # linking pushes nothing
        assert quantity_changes(session, vet.parent_e3) == []
        found = linking.setup_check(session, vet.parent_contract)
        [mismatch] = [p for p in found if p.code == "children_sum_mismatch"]
        assert mismatch.subscription_id == str(vet.parent_e3.id)
        assert "50" in mismatch.detail
        assert "53" in mismatch.detail
        assert "-3" in mismatch.detail
        assert [p.code for p in found] == ["children_sum_mismatch"]

    def test_a_child_left_on_partner_center_is_reported(self, session: Session, vet: PineConeVet) -> None:
        nashville = create_contract(
            session, customer=vet.customer, name="Pine Cone Vet - Nashville", parent=vet.parent_contract
        )
        e3 = create_subscription(
            session, contract=nashville, product=vet.catalog.e3, quantity=3, provider_account=vet.catalog.partner_center
        )
        assert problems(session, vet) == [("child_on_automatic_provider", str(e3.id))]
        assert [p.code for p in linking.setup_check(session, nashville)] == ["child_on_automatic_provider"]

    def test_a_child_whose_contract_was_moved_away_is_reported(self, session: Session, vet: PineConeVet) -> None:
        atlanta = vet.locations["Atlanta"]
        update_contract(session, contract=atlanta.contract, data=ContractUpdate(parent_contract_id=None))
        assert problems(session, vet) == sorted(
            [("child_contract_not_child", str(atlanta.e3.id)), ("child_contract_not_child", str(atlanta.ems.id))]
        )

    def test_a_billable_parent_contract_is_reported(self, session: Session, vet: PineConeVet) -> None:
        update_contract(session, contract=vet.parent_contract, data=ContractUpdate(billable=True))
        assert problems(session, vet) == [("parent_contract_billable", None)]

    def test_a_parent_open_to_end_users_is_reported(self, session: Session, vet: PineConeVet) -> None:
        lifecycle.update_subscription(
            session,
            subscription=vet.parent_ems,
            data=SubscriptionUpdate(allow_end_user_modification=True),
            today=TODAY,
            now=noon(TODAY),
            actor=OPERATOR,
        )
        assert problems(session, vet) == [("parent_open_to_end_users", str(vet.parent_ems.id))]


class TestContractTree:
    def test_a_parent_contract_of_an_unrelated_customer_is_refused(self, session: Session, vet: PineConeVet) -> None:
        other = create_customer(session, name="Maple Leaf Dental", tenant_id="maple-tenant")
        with pytest.raises(ContractParentInvalid):
            create_contract(session, customer=other, name="Maple Leaf - Boston", parent=vet.parent_contract)
        contract = create_contract(session, customer=other, name="Maple Leaf - Main")
        with pytest.raises(ContractParentInvalid):
            update_contract(
                session, contract=contract, data=ContractUpdate(parent_contract_id=str(vet.parent_contract.id))
            )
        assert contract.parent_contract_id is None

    def test_a_parent_contract_of_an_ancestor_account_is_accepted_and_links(
        self, session: Session, vet: PineConeVet
    ) -> None:
        franchise = create_customer(session, name="Pine Cone Vet - Savannah franchise", parent=vet.customer)
        contract = create_contract(session, customer=franchise, name="Savannah", parent=vet.parent_contract)
        assert contract.parent_contract_id == vet.parent_contract.id
        e3 = create_subscription(
            session,
            contract=contract,
            product=vet.catalog.e3,
            quantity=4,
            provider_account=vet.catalog.linked,
            linked_to=vet.parent_e3,
        )
        assert fresh(session, e3).linked_subscription_id == vet.parent_e3.id
        assert fresh(session, vet.parent_e3).quantity == 54
        assert problems(session, vet) == []

    def test_a_parent_contract_of_a_descendant_account_is_refused(self, session: Session, vet: PineConeVet) -> None:
        franchise = create_customer(session, name="Pine Cone Vet - Savannah franchise", parent=vet.customer)
        franchise_contract = create_contract(session, customer=franchise, name="Savannah")
        with pytest.raises(ContractParentInvalid):
            create_contract(session, customer=vet.customer, name="Above Savannah", parent=franchise_contract)

    def test_a_contract_cycle_is_refused(self, session: Session, vet: PineConeVet) -> None:
        atlanta = vet.locations["Atlanta"].contract
        clinic = create_contract(session, customer=vet.customer, name="Atlanta - Clinic 2", parent=atlanta)
        for new_parent in (atlanta, clinic, vet.parent_contract):
            with pytest.raises(ContractCycle):
                update_contract(
                    session, contract=vet.parent_contract, data=ContractUpdate(parent_contract_id=str(new_parent.id))
                )
        session.refresh(vet.parent_contract)
        assert vet.parent_contract.parent_contract_id is None
