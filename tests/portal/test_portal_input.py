"""What a customer types into the portal and what the portal says back (SPEC §10, §18): quantities are plain
whole numbers within the product's limits, every refusal is in plain words, the linked parent is never named,
and only the reseller widens a contact's reach."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatflow.customers.models import Contact, ContactRole
from seatflow.subscriptions.changes import change_quantity
from seatflow.subscriptions.models import LicenseChange, ProvisioningStatus, Subscription
from tests.factories import FACTORY_TODAY, OPERATOR, noon
from tests.pages import without_random_ids
from tests.portal.conftest import Login, Vet, confirm, csrf_of, make_contact
from tests.provisioning.conftest import ManualClock

MANAGER, ADMIN, CHILDREN = (
    ContactRole.SUBSCRIPTION_MANAGER,
    ContactRole.ADMINISTRATOR,
    ContactRole.ACCESS_CHILD_ACCOUNTS,
)
DEVELOPER_WORDS = ("linked parent", "Linked parent", "effective=", "Its linked", "pydantic", "value is not")


def _alert(html: str) -> str:
    found = re.search(r'<p class="alert error" role="alert">(.*?)</p>', html, re.S)
    assert found, "the page shows no error"
    return found.group(1).strip()


def _change_count(session: Session) -> int:
    session.expire_all()
    return int(session.execute(select(func.count()).select_from(LicenseChange)).scalar_one())


def _quantity(session: Session, subscription: Subscription) -> int:
    session.expire_all()
    return session.get_one(Subscription, subscription.id).quantity


def _set_clock(app_client: TestClient, day: date) -> None:
    app = app_client.app
    assert isinstance(app, FastAPI)
    app.state.clock = ManualClock(noon(day), datetime.now(UTC))


@pytest.fixture(autouse=True)
def _factory_day(app_client: TestClient) -> None:
    """The app's clock at the day the test data starts, whatever today is."""
    _set_clock(app_client, FACTORY_TODAY)


@pytest.fixture
def manager(session: Session, vet: Vet, login: Login) -> TestClient:
    make_contact(session, vet.new_york, "manager@ny.example", MANAGER)
    return login("manager@ny.example")


@pytest.fixture
def late_manager(session: Session, vet: Vet, login: Login, app_client: TestClient) -> TestClient:
    """New York's manager on 10 December 2026: the 7-day reduction windows (the location's and the parent's)
    have closed."""
    _set_clock(app_client, date(2026, 12, 10))
    return login_manager(session, vet, login)


def login_manager(session: Session, vet: Vet, login: Login) -> TestClient:
    make_contact(session, vet.new_york, "manager@ny.example", MANAGER)
    return login("manager@ny.example")


def _post_quantity(client: TestClient, vet: Vet, quantity: str, effective: str = "now") -> str:
    new_york = vet.vet.locations["New York City"]
    page = client.get(f"/portal/contracts/{new_york.contract.id}")
    answer = client.post(
        f"/portal/subscriptions/{new_york.e3.id}/quantity",
        data={"quantity": quantity, "effective": effective, "csrf_token": csrf_of(page.text)},
    )
    assert answer.status_code in (409, 422), f"{quantity!r}: {answer.status_code}"
    return answer.text


# --- quantities ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "²",
        "①",
        "٣٠",
        "३०",
        "\uff13\uff10",
        "1_0",
        "+30",
        "-3",
        "30.0",
        "3e1",
        "0x1e",
        "thirty",
        "",
        " ",
        "3 0",
        "30\x00",
    ],
)
def test_a_quantity_that_is_not_plain_digits_is_refused_in_plain_words_and_changes_nothing(
    session: Session, vet: Vet, manager: TestClient, typed: str
) -> None:
    before = _change_count(session)

    page = _post_quantity(manager, vet, typed)

    assert _alert(page) == "Enter a whole number from 1 to 300."
    assert _quantity(session, vet.vet.locations["New York City"].e3) == 25
    assert _quantity(session, vet.vet.parent_e3) == 50
    assert _change_count(session) == before


@pytest.mark.parametrize("typed", ["0", "301", "999999999999", "9" * 100, "00000000000000000000000000301"])
def test_a_quantity_outside_the_products_limits_never_reaches_the_linked_parent(
    session: Session, vet: Vet, manager: TestClient, typed: str
) -> None:
    before = _change_count(session)

    page = _post_quantity(manager, vet, typed)

    assert _alert(page) == "Enter a whole number from 1 to 300."
    assert _quantity(session, vet.vet.parent_e3) == 50
    assert _change_count(session) == before


def test_plain_digits_around_spaces_and_leading_zeros_are_a_quantity(
    session: Session, vet: Vet, manager: TestClient
) -> None:
    new_york = vet.vet.locations["New York City"]
    page = manager.get(f"/portal/contracts/{new_york.contract.id}")
    asked = manager.post(
        f"/portal/subscriptions/{new_york.e3.id}/quantity",
        data={"quantity": " 030 ", "effective": "now", "csrf_token": csrf_of(page.text)},
    )
    assert asked.status_code == 200
    assert _quantity(session, new_york.e3) == 25, "nothing changes before it is confirmed"
    changed = confirm(manager, asked.text, follow_redirects=False)
    assert changed.status_code == 303
    assert _quantity(session, new_york.e3) == 30
    assert _quantity(session, vet.vet.parent_e3) == 55


def test_the_form_says_the_products_limits(session: Session, vet: Vet, manager: TestClient) -> None:
    new_york = vet.vet.locations["New York City"]
    page = manager.get(f"/portal/contracts/{new_york.contract.id}").text
    field = re.search(rf'<input id="q-{new_york.e3.id}"[^>]*>', page)
    assert field
    assert 'min="1"' in field.group(0)
    assert 'max="300"' in field.group(0)


def test_what_the_locations_share_is_said_as_a_range_without_naming_the_parent(
    session: Session, vet: Vet, manager: TestClient
) -> None:
    """New York has 25 of the 50 the parent holds for all locations; the provider allows 300 in all."""
    page = _post_quantity(manager, vet, "276")

    assert _alert(page) == "Enter a whole number from 1 to 275."
    assert not any(words in page for words in DEVELOPER_WORDS)
    assert _quantity(session, vet.vet.parent_e3) == 50


# --- plain words ---------------------------------------------------------------------------------------


def test_a_refused_reduction_names_neither_the_parent_nor_the_api(
    session: Session, vet: Vet, late_manager: TestClient
) -> None:
    page = _post_quantity(late_manager, vet, "20")

    assert _alert(page).startswith("Microsoft 365 E3 cannot be reduced by that much now")
    assert "1 December 2027" in _alert(page)
    assert not any(words in page for words in DEVELOPER_WORDS)
    assert "2027-12-01" not in page


def test_a_failed_change_shows_the_providers_refusal_in_plain_words(
    session: Session, vet: Vet, manager: TestClient
) -> None:
    new_york = vet.vet.locations["New York City"]
    change = change_quantity(
        session,
        subscription_id=new_york.e3.id,
        quantity=35,
        effective="now",
        today=FACTORY_TODAY,
        now=noon(FACTORY_TODAY),
        actor=OPERATOR,
    )
    assert isinstance(change, LicenseChange)
    change.provisioning_status = ProvisioningStatus.FAILED
    change.message = (
        "Its linked parent's change failed: Partner Center 2002: Quantity 325 is outside the allowed range "
        "1..300 for offer 4c2b6f87-4b8e-4c1f-9d0e-5e3f1a2b7c05."
    )
    session.flush()

    page = without_random_ids(manager.get(f"/portal/contracts/{new_york.contract.id}").text)

    assert "The provider refused it: the quantity would be above 300." in page
    for leak in ("2002", "4c2b6f87", "325", *DEVELOPER_WORDS):
        assert leak not in page


def test_a_reduction_dated_on_the_renewal_day_is_shown_as_at_renewal(
    session: Session, vet: Vet, late_manager: TestClient, app_client: TestClient, api_key: str
) -> None:
    """SPEC §6: the renewal day is "at renewal" (the term ends on 30 November 2027)."""
    new_york = vet.vet.locations["New York City"]

    scheduled = app_client.post(
        f"/api/v1/subscriptions/{new_york.e3.id}/quantity",
        json={"quantity": 20, "effective": "2027-12-01"},
        headers={"Authorization": f"Bearer {api_key}"},
    )

    assert scheduled.status_code in (200, 201, 202), scheduled.text
    page = late_manager.get(f"/portal/contracts/{new_york.contract.id}").text
    assert "Changes to 20 at renewal on 1 December 2027" in page


def test_the_at_renewal_button_says_the_renewal_day(session: Session, vet: Vet, manager: TestClient) -> None:
    vet.vet.locations["New York City"].e3.reduction_behavior = vet.vet.parent_e3.reduction_behavior.DISALLOWED
    session.flush()

    page = _post_quantity(manager, vet, "20")

    assert "At renewal on 1 December 2027</button>" in page
    assert _alert(page).startswith("Microsoft 365 E3 cannot be reduced during its term.")


# --- users ---------------------------------------------------------------------------------------------


@pytest.fixture
def admin(session: Session, vet: Vet, login: Login) -> TestClient:
    make_contact(session, vet.new_york, "admin@ny.example", ADMIN)
    return login("admin@ny.example")


def test_the_users_page_does_not_offer_access_to_child_accounts(admin: TestClient) -> None:
    page = admin.get("/portal/users").text
    assert 'name="roles" value="administrator"' in page
    assert "access_child_accounts" not in page
    assert "Child accounts" not in page


def test_a_forged_invitation_with_access_to_child_accounts_is_refused_and_invites_nobody(
    session: Session, admin: TestClient
) -> None:
    csrf = csrf_of(admin.get("/portal/users").text)

    refused = admin.post(
        "/portal/users",
        data={
            "name": "Wide",
            "email": "wide@ny.example",
            "roles": ["finance_manager", CHILDREN.value],
            "csrf_token": csrf,
        },
    )

    assert refused.status_code == 403
    assert "Only your reseller can give access to child accounts" in refused.text
    assert session.scalars(select(Contact).where(Contact.email == "wide@ny.example")).first() is None


def test_a_forged_form_cannot_give_the_administrator_itself_access_to_child_accounts(
    session: Session, admin: TestClient
) -> None:
    me = session.scalars(select(Contact).where(Contact.email == "admin@ny.example")).one()
    csrf = csrf_of(admin.get("/portal/users").text)

    refused = admin.post(
        f"/portal/users/{me.id}",
        data={"action": "roles", "roles": [ADMIN.value, CHILDREN.value], "csrf_token": csrf},
    )

    assert refused.status_code == 403
    assert "Only your reseller can give access to child accounts" in refused.text
    session.refresh(me)
    assert me.roles == [ADMIN.value]


def test_saving_roles_keeps_the_access_the_reseller_granted(session: Session, vet: Vet, admin: TestClient) -> None:
    make_contact(session, vet.new_york, "wide@ny.example", MANAGER, CHILDREN)  # the reseller's grant
    wide = session.scalars(select(Contact).where(Contact.email == "wide@ny.example")).one()
    page = admin.get("/portal/users").text
    assert "Also sees the child accounts (set by your reseller)." in page

    saved = admin.post(
        f"/portal/users/{wide.id}",
        data={"action": "roles", "roles": ["finance_manager"], "csrf_token": csrf_of(page)},
    )

    assert "roles are saved" in saved.text
    session.refresh(wide)
    assert wide.roles == [CHILDREN.value, "finance_manager"]


def test_an_invalid_invitation_is_refused_in_plain_words(session: Session, admin: TestClient) -> None:
    csrf = csrf_of(admin.get("/portal/users").text)

    bad = admin.post(
        "/portal/users", data={"name": "X", "email": "not-an-address", "roles": ["finance_manager"], "csrf_token": csrf}
    )

    assert bad.status_code == 422
    assert _alert(bad.text) == "Enter a valid e-mail address."
    no_role = admin.post("/portal/users", data={"name": "X", "email": "x@ny.example", "csrf_token": csrf})
    assert _alert(no_role.text) == "Choose at least one role."
