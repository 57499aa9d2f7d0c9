"""The console's queue tells the truth (SPEC §7, §10): what an action did is shown once and cannot be faked by a
link, a change that waits on something says what, and confirming a change takes the operator's choice."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.provisioning import queue
from seatflow.subscriptions.models import LicenseChange, ProvisioningStatus, Subscription
from tests.console.conftest import OPERATOR, Login, csrf_of
from tests.factories import (
    create_contract,
    create_customer,
    create_subscription,
    load_demo_catalog,
)
from tests.pages import without_random_ids
from tests.provisioning.conftest import ManualClock
from tests.subscriptions.helpers import caused_by, pine_cone_vet, raise_quantity

AWAITING, PROVISIONED, FAILED = ProvisioningStatus.AWAITING, ProvisioningStatus.PROVISIONED, ProvisioningStatus.FAILED
WORKER_WORDS = "The worker carries it out."


def _row(html: str, change: LicenseChange) -> str:
    found = re.search(rf'<tr id="c-{change.id}"[^>]*>(.*?)</tr>', html, re.S)
    assert found, f"no row for {change.id}"
    return found.group(1)


def _banners(html: str) -> list[str]:
    return re.findall(r'<p class="alert ok" role="status"[^>]*>(.*?)</p>', html, re.S)


def _creation(session: Session, subscription: Subscription) -> LicenseChange:
    return session.scalars(select(LicenseChange).where(LicenseChange.subscription_id == subscription.id)).one()


# --- the banner -----------------------------------------------------------------------------------------


def test_a_link_cannot_make_the_queue_say_what_the_worker_did(login: Login) -> None:
    client = login(OPERATOR)

    forged = client.get(
        "/console/queue?provisioned=999&failed=0&retrying=0&waiting=0&handed_off=0&flowed_back=0"
        "&done=requeued&count=999"
    )

    assert forged.status_code == 200
    assert _banners(forged.text) == []
    assert "999" not in without_random_ids(forged.text)


def test_the_worker_run_is_shown_once_and_a_cookie_not_signed_for_this_session_shows_nothing(
    worker_app: TestClient, login: Login
) -> None:
    client = login(OPERATOR)
    csrf = csrf_of(client.get("/console/queue").text)

    ran = client.post("/console/queue/run-once", data={"csrf_token": csrf})

    assert "The worker ran once: 0 provisioned" in ran.text
    assert _banners(client.get("/console/queue").text) == [], "shown once"
    client.cookies.set("seatflow_console_done", "eyJyYW4iOnsicHJvdmlzaW9uZWQiOjk5OX19.0000", path="/console/queue")
    assert _banners(client.get("/console/queue").text) == []


# --- what a change waits for ----------------------------------------------------------------------------


def test_an_add_on_behind_its_parents_failed_purchase_says_it_is_blocked(
    session: Session, factory_clock: ManualClock, login: Login
) -> None:
    catalog = load_demo_catalog(session)
    contract = create_contract(session, customer=create_customer(session, name="Fabrikam", tenant_id="fabrikam"))
    e5 = create_subscription(session, contract=contract, product=catalog.e5, quantity=20)
    audio = create_subscription(session, contract=contract, product=catalog.audio_conferencing, quantity=5, parent=e5)
    purchase = _creation(session, e5)
    purchase.provisioning_status, purchase.message = FAILED, "Partner Center 800002: the tenant is not ready."
    session.flush()
    client = login(OPERATOR)

    row = _row(client.get("/console/queue").text, _creation(session, audio))

    assert "Blocked: its parent subscription&#39;s purchase failed" in row
    assert WORKER_WORDS not in row


def test_a_change_held_back_by_an_earlier_failed_one_says_so_and_another_locations_does_not(
    session: Session, factory_clock: ManualClock, login: Login
) -> None:
    catalog = load_demo_catalog(session)
    vet = pine_cone_vet(session, catalog)
    for change in session.scalars(select(LicenseChange).where(LicenseChange.provisioning_status == AWAITING)):
        change.provisioning_status = PROVISIONED  # the parents are bought
    new_york, atlanta = vet.locations["New York City"].e3, vet.locations["Atlanta"].e3
    refused = _raise(session, new_york, 35)
    refused.provisioning_status, refused.message = FAILED, "Partner Center 2002: Quantity 60 is outside the range."
    held, free = _raise(session, new_york, 40), _raise(session, atlanta, 12)
    client = login(OPERATOR)

    page = client.get("/console/queue").text

    assert "Blocked behind an earlier failed change of this subscription" in _row(page, held)
    assert "Blocked" not in _row(page, free)
    assert WORKER_WORDS in _row(page, free)


def _raise(session: Session, subscription: Subscription, quantity: int) -> LicenseChange:
    """The location's change; answers the change it caused on the linked parent."""
    return caused_by(session, raise_quantity(session, subscription, quantity))


# --- confirming -----------------------------------------------------------------------------------------


def test_confirming_a_failed_change_preselects_no_outcome_and_refuses_none(
    session: Session, factory_clock: ManualClock, login: Login
) -> None:
    catalog = load_demo_catalog(session)
    contract = create_contract(session, customer=create_customer(session, name="Birch Dental"))
    e3 = create_subscription(session, contract=contract, product=catalog.e3, quantity=12)
    purchase = _creation(session, e3)
    purchase.provisioning_status, purchase.message = FAILED, "Partner Center 800002: the tenant is not ready."
    session.flush()
    client = login(OPERATOR)
    page = client.get("/console/queue").text

    select_box = re.search(r'<select id="o-[^"]+" name="status"[^>]*>(.*?)</select>', _row(page, purchase), re.S)
    assert select_box
    assert re.findall(r"<option([^>]*)>", select_box.group(1)) == [
        ' value="" selected',
        ' value="provisioned"',
        ' value="failed"',
    ]

    unchosen = client.post(f"/console/queue/{purchase.id}/confirm", data={"csrf_token": csrf_of(page)})

    assert unchosen.status_code == 422
    assert "Choose provisioned or failed." in _row(unchosen.text, purchase)
    session.expire_all()
    assert queue.require_change(session, purchase.id).provisioning_status is FAILED
