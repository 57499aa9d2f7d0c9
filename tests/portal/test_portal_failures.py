"""Changes that failed at the provider, on the contract page and the subscription's own page (SPEC §7, §10): each
with a plain reason the customer can act on, never a provider code, an offer id, the linked parent or a developer's
message; they stay shown while they are failed, also once later changes were made."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from seatflow.customers.models import ContactRole
from seatflow.subscriptions.changes import change_quantity
from seatflow.subscriptions.models import LicenseChange, ProvisioningStatus
from tests.factories import FACTORY_TODAY, OPERATOR, noon
from tests.pages import without_random_ids
from tests.portal.conftest import Login, Vet, make_contact

LEAKS = ("2002", "4c2b6f87", "Traceback", "linked parent", "Linked parent", "Its linked", "Partner Center", "HTTP")


@pytest.fixture
def manager(session: Session, vet: Vet, login: Login) -> TestClient:
    make_contact(session, vet.new_york, "manager@ny.example", ContactRole.SUBSCRIPTION_MANAGER)
    return login("manager@ny.example")


def _fail(session: Session, vet: Vet, quantity: int, message: str) -> LicenseChange:
    """A change of New York's E3 that the provider refused, as the worker records it (flowed back from the parent)."""
    change = change_quantity(
        session,
        subscription_id=vet.vet.locations["New York City"].e3.id,
        quantity=quantity,
        effective="now",
        today=FACTORY_TODAY,
        now=noon(FACTORY_TODAY),
        actor=OPERATOR,
    )
    assert isinstance(change, LicenseChange)
    change.provisioning_status = ProvisioningStatus.FAILED
    change.message = message
    session.flush()
    return change


def _failures_block(html: str) -> str:
    found = re.search(r'<div class="failed-changes".*?</div>', html, re.S)
    assert found, "the page shows no failed change"
    return found.group(0)


def test_every_failed_change_is_shown_with_a_plain_reason_on_the_contract_and_the_subscription(
    session: Session, vet: Vet, manager: TestClient
) -> None:
    _fail(
        session,
        vet,
        35,
        "Its linked parent's change failed: Partner Center 2002: Quantity 60 is outside the allowed range 1..55 for "
        "offer 4c2b6f87-4b8e-4c1f-9d0e-5e3f1a2b7c05.",
    )
    _fail(session, vet, 36, "Gave up after 10 attempts: HTTP 503 from Partner Center (Traceback ...)")
    change_quantity(  # a later change that did not fail: the failed ones stay shown
        session,
        subscription_id=vet.vet.locations["New York City"].e3.id,
        quantity=37,
        effective="now",
        today=FACTORY_TODAY,
        now=noon(FACTORY_TODAY),
        actor=OPERATOR,
    )
    session.flush()
    new_york = vet.vet.locations["New York City"]

    for path in (f"/portal/contracts/{new_york.contract.id}", f"/portal/subscriptions/{new_york.e3.id}"):
        page = without_random_ids(manager.get(path).text)
        block = _failures_block(page)
        assert 'data-failed="2"' in block
        assert "2 changes failed at the provider" in block
        assert "Quantity 25 → 35, asked on 1 December 2026" in block
        assert "The provider refused it: the quantity would be above 55." in block
        assert "Quantity 35 → 36, asked on 1 December 2026" in block
        assert "The provider could not be reached. Please contact your reseller." in block
        assert "Your reseller sees it too" in block
        for leak in LEAKS:
            assert leak not in page, f"{path} shows {leak!r}"


def test_a_subscription_without_failed_changes_shows_no_failure(vet: Vet, manager: TestClient) -> None:
    new_york = vet.vet.locations["New York City"]

    page = manager.get(f"/portal/contracts/{new_york.contract.id}").text

    assert 'class="failed-changes"' not in page


def test_a_failed_change_sent_again_is_no_longer_shown_as_failed(
    session: Session, vet: Vet, manager: TestClient
) -> None:
    change = _fail(session, vet, 35, "Partner Center 2002: Quantity 60 is outside the allowed range 1..55.")
    new_york = vet.vet.locations["New York City"]
    assert 'class="failed-changes"' in manager.get(f"/portal/contracts/{new_york.contract.id}").text

    change.provisioning_status = ProvisioningStatus.AWAITING  # the reseller re-queued it
    session.flush()

    page = manager.get(f"/portal/contracts/{new_york.contract.id}").text
    assert 'class="failed-changes"' not in page
    assert "awaiting provisioning" in page
