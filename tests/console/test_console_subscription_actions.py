"""Acting on a subscription from its page (issue 15 item 2): quantity changes with SPEC §6's reason and "at
renewal", a linked parent's force with a reason (SPEC §5), suspend, cancel and don't renew with cascade, link and
unlink with the setup check shown; each refusal is the rule's message and changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.subscriptions.models import (
    ChangeKind,
    LicenseChange,
    ScheduledChange,
    ScheduledStatus,
    Subscription,
    SubscriptionStatus,
)
from tests.console.conftest import OPERATOR, LoginOn
from tests.console.forms import alert, follow, send
from tests.factories import FACTORY_TODAY, create_contract, create_customer, create_subscription
from tests.subscriptions.helpers import PineConeVet


def _fresh(session: Session, subscription: Subscription) -> Subscription:
    session.expire_all()
    return session.get_one(Subscription, subscription.id)


def _changes(session: Session, subscription: Subscription) -> list[LicenseChange]:
    session.expire_all()
    stmt = select(LicenseChange).where(LicenseChange.subscription_id == subscription.id).order_by(LicenseChange.id)
    return list(session.scalars(stmt))


# --- quantities ----------------------------------------------------------------------------------------------


def test_a_linked_childs_quantity_change_is_pushed_to_its_parent(
    session: Session, login_on: LoginOn, vet: PineConeVet
) -> None:
    client = login_on(OPERATOR)
    memphis = vet.locations["Memphis"].e3
    page = client.get(f"/console/subscriptions/{memphis.id}").text
    assert 'action="/console/subscriptions/' in page
    assert ">New quantity</label>" in page

    changed = send(client, f"/console/subscriptions/{memphis.id}/quantity", {"quantity": "18", "when": "now"})

    assert "The quantity is 18 (was 15)" in follow(client, changed).text
    assert _fresh(session, memphis).quantity == 18
    assert _fresh(session, vet.parent_e3).quantity == 53
    [parent_change] = [c for c in _changes(session, vet.parent_e3) if c.kind is ChangeKind.QUANTITY]
    assert parent_change.requested_by == f"console {OPERATOR}"


def test_a_linked_parent_is_changed_only_by_force_with_a_reason(
    session: Session, login_on: LoginOn, vet: PineConeVet
) -> None:
    client = login_on(OPERATOR)
    path = f"/console/subscriptions/{vet.parent_e3.id}/quantity"
    page = client.get(f"/console/subscriptions/{vet.parent_e3.id}").text
    assert "change this linked parent directly (force)" in page

    locked = send(client, path, {"quantity": "53", "when": "now"})
    assert locked.status_code == 409
    assert "change the children's quantities instead, or force the change with a reason" in alert(locked.text)
    reasonless = send(client, path, {"quantity": "53", "when": "now", "force": "1"})
    assert "A forced change on a linked parent needs a reason." in alert(reasonless.text)
    assert _fresh(session, vet.parent_e3).quantity == 50

    forced = send(
        client, path, {"quantity": "53", "when": "now", "force": "1", "reason": "Three seats for the new clinic."}
    )

    assert forced.status_code == 303
    assert _fresh(session, vet.parent_e3).quantity == 53
    assert _changes(session, vet.parent_e3)[-1].reason == "Three seats for the new clinic."
    assert "drift +3" in follow(client, forced).text


def test_a_reduction_outside_its_window_says_why_and_is_offered_at_the_renewal(
    session: Session, login_on: LoginOn, vet: PineConeVet
) -> None:
    client = login_on(
        OPERATOR, FACTORY_TODAY + timedelta(days=10)
    )  # the 7-day window of the seats bought on Dec 1 has closed
    memphis = vet.locations["Memphis"].e3
    path = f"/console/subscriptions/{memphis.id}/quantity"

    refused = send(client, path, {"quantity": "10", "when": "now"})

    assert refused.status_code == 409
    assert "reduced" in alert(refused.text)
    assert "Change it to 10 at the renewal instead" in refused.text
    assert _fresh(session, memphis).quantity == 15
    scheduled = send(client, path, {"quantity": "10", "when": "renewal"})
    page = follow(client, scheduled).text
    assert "Scheduled: the quantity becomes 10 at the renewal on 2027-12-01." in page
    session.expire_all()
    later = session.scalars(select(ScheduledChange).where(ScheduledChange.subscription_id == memphis.id)).one()
    assert (later.at_renewal, later.status, _fresh(session, memphis).quantity) == (True, ScheduledStatus.SCHEDULED, 15)

    dropped = send(client, f"/console/subscriptions/{memphis.id}/scheduled/{later.id}/cancel", {})
    assert "Dropped the scheduled change to 10." in follow(client, dropped).text
    session.expire_all()
    assert session.get_one(ScheduledChange, later.id).status is ScheduledStatus.CANCELLED


def test_bad_quantity_input_gives_a_message_and_changes_nothing(
    session: Session, login_on: LoginOn, vet: PineConeVet
) -> None:
    client = login_on(OPERATOR)
    memphis = vet.locations["Memphis"].e3
    path = f"/console/subscriptions/{memphis.id}/quantity"
    cases = [
        ({"quantity": "abc"}, 422, "Enter a whole number from 1 to 300."),
        ({"quantity": ""}, 422, "Enter a whole number from 1 to 300."),
        ({"quantity": "\uff10\uff11"}, 422, "Enter a whole number from 1 to 300."),
        ({"quantity": "301"}, 422, "Enter a whole number from 1 to 300."),
        ({"quantity": "15"}, 422, "The quantity is already 15."),
        ({"quantity": "16", "when": "later"}, 422, "Choose when the change takes effect"),
        ({"quantity": "16", "when": "date", "on": "soon"}, 422, "Enter the day it takes effect as YYYY-MM-DD"),
        ({"quantity": "16", "when": "date", "on": "2026-11-30"}, 422, "is in the past"),
        ({"quantity": "16", "reason": "bad\x00byte"}, 422, "The reason holds a character that is not allowed."),
    ]
    for data, status, message in cases:
        answer = send(client, path, data)
        assert answer.status_code == status, (data, answer.text[-1500:])
        assert message in alert(answer.text), (data, alert(answer.text))
    assert _fresh(session, memphis).quantity == 15
    assert len(_changes(session, memphis)) == 1


# --- suspend, cancel, don't renew ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Voice:
    e5: Subscription
    phone: Subscription
    calling: Subscription


@pytest.fixture
def voice(session: Session, vet: PineConeVet) -> Voice:
    """An E5 with Phone System and its Calling Plan, bought by hand (nothing is sent to a provider)."""
    catalog = vet.catalog
    customer = create_customer(session, name="Contoso", tenant_id="contoso-tenant")
    contract = create_contract(session, customer=customer, name="Contoso - Main")
    manual = catalog.manual
    e5 = create_subscription(session, contract=contract, product=catalog.e5, quantity=10, provider_account=manual)
    phone = create_subscription(
        session, contract=contract, product=catalog.phone_system, quantity=10, provider_account=manual, parent=e5
    )
    calling = create_subscription(
        session, contract=contract, product=catalog.calling_plan, quantity=10, provider_account=manual, parent=phone
    )
    return Voice(e5, phone, calling)


def test_suspend_and_cancel_need_cascade_while_add_ons_are_live(
    session: Session, login_on: LoginOn, voice: Voice
) -> None:
    client = login_on(OPERATOR)
    page = client.get(f"/console/subscriptions/{voice.e5.id}").text
    assert "with its add-ons" in page
    assert "Add Microsoft 365 Audio Conferencing" in page, "its possible add-ons, to buy under it"

    refused = send(client, f"/console/subscriptions/{voice.e5.id}/suspend", {})
    assert refused.status_code == 409
    assert "active add-ons (Microsoft Teams Phone Standard (Phone System))" in alert(refused.text)
    assert _fresh(session, voice.phone).status is SubscriptionStatus.ACTIVE

    suspended = send(client, f"/console/subscriptions/{voice.e5.id}/suspend", {"cascade": "1"})
    assert "Suspended, with 2 add-ons." in follow(client, suspended).text
    assert {_fresh(session, s).status for s in (voice.e5, voice.phone, voice.calling)} == {SubscriptionStatus.SUSPENDED}
    reactivated = send(client, f"/console/subscriptions/{voice.e5.id}/reactivate", {})
    assert "Reactivated." in follow(client, reactivated).text
    assert _fresh(session, voice.e5).status is SubscriptionStatus.ACTIVE

    refused = send(client, f"/console/subscriptions/{voice.phone.id}/cancel", {"reason": "No more calls."})
    assert refused.status_code == 409
    assert "ask to cascade" in alert(refused.text)
    cancelled = send(
        client, f"/console/subscriptions/{voice.phone.id}/cancel", {"cascade": "1", "reason": "No more calls."}
    )
    assert "Cancelled, with 1 add-on." in follow(client, cancelled).text
    assert _fresh(session, voice.calling).status is SubscriptionStatus.CANCELLED
    assert _changes(session, voice.phone)[-1].reason == "No more calls."
    again = send(client, f"/console/subscriptions/{voice.phone.id}/cancel", {})
    assert again.status_code == 409
    assert "cancelled already" in alert(again.text)


def test_dont_renew_with_its_add_ons_and_renew_again(session: Session, login_on: LoginOn, voice: Voice) -> None:
    client = login_on(OPERATOR)
    path = f"/console/subscriptions/{voice.e5.id}/auto-renew"

    stopped = send(client, path, {"renew": "0", "cascade": "1"})

    assert "It does not renew: it expires after 2027-11-30." in follow(client, stopped).text
    assert [_fresh(session, s).auto_renew for s in (voice.e5, voice.phone, voice.calling)] == [False] * 3
    again = send(client, path, {"renew": "1"})
    assert "It renews at its term end, on 2027-11-30." in follow(client, again).text
    assert [_fresh(session, s).auto_renew for s in (voice.e5, voice.phone)] == [True, False], "without cascade"
    odd = send(client, path, {"renew": "maybe"})
    assert odd.status_code == 422
    assert "Choose to renew or not." in alert(odd.text)


# --- link and unlink -----------------------------------------------------------------------------------------


def test_link_and_unlink_a_child_with_the_setup_check_shown(
    session: Session, login_on: LoginOn, vet: PineConeVet
) -> None:
    catalog = vet.catalog
    nashville = create_contract(
        session, customer=vet.customer, name="Pine Cone Vet - Nashville", parent=vet.parent_contract
    )
    child = create_subscription(
        session, contract=nashville, product=catalog.e3, quantity=4, provider_account=catalog.do_nothing
    )
    client = login_on(OPERATOR)
    page = client.get(f"/console/subscriptions/{child.id}").text
    assert "Link to the parent contract" in page
    assert f'<option value="{vet.parent_e3.id}">Microsoft 365 E3: 50 on Pine Cone Vet - Parent</option>' in page
    assert f'value="{vet.parent_ems.id}"' not in page, "only the same product's subscription is offered"

    wrong = send(
        client,
        f"/console/subscriptions/{child.id}/link",
        {"target": str(vet.parent_ems.id), "account": str(catalog.linked.id)},
    )
    assert wrong.status_code == 422
    assert "must be of the same product" in alert(wrong.text)
    not_linked = send(
        client,
        f"/console/subscriptions/{child.id}/link",
        {"target": str(vet.parent_e3.id), "account": str(catalog.do_nothing.id)},
    )
    assert "not a linked one" in alert(not_linked.text)
    assert _fresh(session, child).linked_subscription_id is None

    linked = send(
        client,
        f"/console/subscriptions/{child.id}/link",
        {"target": str(vet.parent_e3.id), "account": str(catalog.linked.id)},
    )

    shown = follow(client, linked).text
    assert "Linked: from now on its quantity changes are pushed up to its parent." in shown
    assert "the parent holds 50, its linked children add up to 54 (difference -4)" in shown, "the setup check"
    assert (_fresh(session, child).linked_subscription_id, _fresh(session, vet.parent_e3).quantity) == (
        vet.parent_e3.id,
        50,
    ), "linking pushes nothing"

    unlinked = send(client, f"/console/subscriptions/{child.id}/unlink", {"account": str(catalog.do_nothing.id)})
    assert "Unlinked" in follow(client, unlinked).text
    assert _fresh(session, child).linked_subscription_id is None
    assert _fresh(session, child).provider_account_id == catalog.do_nothing.id
