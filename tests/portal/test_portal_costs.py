"""What a subscription costs and what a change costs before it is made (SPEC §6, §8, §10; issue 15 item 4): the
contract page and a subscription's page show the unit price, term, billing plan and monthly cost; a quantity change
first shows a confirmation with the new monthly cost and the difference, until when added seats can be removed and
that they are paid until the term ends after that, what can be removed today, or the renewal day; only confirming
records the change, and only if the figures still hold.

New York's Microsoft 365 E3: 25 at 36.00 USD per license a month, a 1-year term billed monthly from 1 December
2026 to 30 November 2027, linked to the head office's 50 on Partner Center; each batch of seats can be removed
in the 7 days after it was bought, renewed or added (the location's rule and its parent's)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatflow.catalog.models import ReductionBehavior
from seatflow.customers.models import ContactRole
from seatflow.subscriptions.changes import change_quantity
from seatflow.subscriptions.models import (
    BillingPlan,
    ChangeOrigin,
    LicenseChange,
    ScheduledChange,
    Subscription,
)
from tests.factories import FACTORY_TODAY, OPERATOR, create_subscription, noon
from tests.portal.conftest import Login, Vet, ask_quantity, confirm, make_contact
from tests.provisioning.conftest import ManualClock

MANAGER = ContactRole.SUBSCRIPTION_MANAGER
TIMES = "\u00d7"
"""The multiplication sign the pages write the arithmetic with (25 x 36.00)."""


def _set_clock(app_client: TestClient, day: date, at: time = time(12)) -> None:
    app = app_client.app
    assert isinstance(app, FastAPI)
    app.state.clock = ManualClock(datetime.combine(day, at, tzinfo=UTC), datetime.now(UTC))


@pytest.fixture
def manager(session: Session, vet: Vet, login: Login) -> TestClient:
    make_contact(session, vet.new_york, "manager@ny.example", MANAGER)
    return login("manager@ny.example")


ManagerOn = Callable[[date], TestClient]


@pytest.fixture
def manager_on(session: Session, vet: Vet, login: Login, app_client: TestClient) -> ManagerOn:
    """New York's manager, logged in on ``day`` (a session lasts 12 hours)."""

    def _on(day: date) -> TestClient:
        make_contact(session, vet.new_york, "manager@ny.example", MANAGER)
        _set_clock(app_client, day)
        return login("manager@ny.example")

    return _on


def _figure(html: str, name: str) -> str:
    """The text of the element marked ``data-figure="name"`` (tags dropped, spaces collapsed)."""
    found = re.search(rf'data-figure="{name}"[^>]*>(.*?)</(?:td|dd|span|p)>', html, re.S)
    assert found, f"the page shows no {name}"
    return " ".join(re.sub(r"<[^>]+>", "", found.group(1)).split())


def _row(html: str, subscription: Subscription) -> str:
    found = re.search(rf'<tr id="s-{subscription.id}".*?</tr>', html, re.S)
    assert found, "the contract page has no row for the subscription"
    return found.group(0)


def _text(html: str) -> str:
    """The page's words as a reader sees them: inline tags vanish, the others separate."""
    inline = re.sub(r"</?(?:strong|em|a|span)\b[^>]*>", "", html)
    return " ".join(re.sub(r"<[^>]+>", " ", inline).split())


def _change_count(session: Session) -> int:
    session.expire_all()
    return int(session.execute(select(func.count()).select_from(LicenseChange)).scalar_one())


def _quantity(session: Session, subscription: Subscription) -> int:
    session.expire_all()
    return session.get_one(Subscription, subscription.id).quantity


# --- what a subscription costs -------------------------------------------------------------------------------------


def test_the_contract_page_shows_each_subscriptions_unit_price_term_plan_and_monthly_cost(
    vet: Vet, manager: TestClient
) -> None:
    new_york = vet.vet.locations["New York City"]

    page = manager.get(f"/portal/contracts/{new_york.contract.id}").text

    e3 = _row(page, new_york.e3)
    assert _figure(e3, "unit-price") == "36.00 USD"  # the catalog's P1Y monthly price, per license a month
    assert _figure(e3, "monthly") == "900.00 USD"  # 25 x 36.00 = 900.00
    assert "1 year, to 30 November 2027" in _text(e3)
    assert "Billed monthly" in e3
    assert 'data-figure="per-bill"' not in e3, "a monthly plan's bill is its monthly cost"
    ems = _row(page, new_york.ems)
    assert _figure(ems, "unit-price") == "10.60 USD"  # the catalog's P1Y monthly price, per license a month
    assert _figure(ems, "monthly") == "106.00 USD"  # 10 x 10.60 = 106.00
    assert "P1Y" not in page, "the term in words, never its code"


def test_an_annual_plan_says_what_each_yearly_bill_is_and_what_a_change_does_to_it(
    session: Session, vet: Vet, manager: TestClient
) -> None:
    new_york = vet.vet.locations["New York City"]
    annual = create_subscription(
        session,
        contract=new_york.contract,
        product=vet.vet.catalog.e3,
        quantity=5,
        provider_account=vet.vet.catalog.do_nothing,
        billing_plan=BillingPlan.ANNUAL,
    )
    assert annual.unit_price == Decimal("34.29")  # the catalog's P1Y annual price

    row = _row(manager.get(f"/portal/contracts/{new_york.contract.id}").text, annual)
    assert "Paid yearly in advance" in row
    assert _figure(row, "monthly") == "171.45 USD"  # 5 x 34.29 = 171.45
    assert _figure(row, "per-bill") == "Each yearly bill: 2057.40 USD"  # 12 x 5 x 34.29 = 2057.40
    own_page = manager.get(f"/portal/subscriptions/{annual.id}").text
    assert _figure(own_page, "per-bill") == f"2057.40 USD 12 months {TIMES} 5 {TIMES} 34.29"  # = 2057.40

    asked = ask_quantity(manager, annual.id, "6")

    assert asked.status_code == 200, asked.text
    assert _figure(asked.text, "monthly-before") == "171.45 USD"  # 5 x 34.29 = 171.45
    assert _figure(asked.text, "monthly-after") == "205.74 USD"  # 6 x 34.29 = 205.74
    assert _figure(asked.text, "monthly-difference") == "+34.29 USD"  # 205.74 - 171.45 = 34.29
    assert _figure(asked.text, "bill-before") == "2057.40 USD"  # 12 x 5 x 34.29 = 2057.40
    assert _figure(asked.text, "bill-after") == "2468.88 USD"  # 12 x 6 x 34.29 = 2468.88
    assert _figure(asked.text, "bill-difference") == "+411.48 USD"  # 2468.88 - 2057.40 = 411.48
    assert "(each yearly bill is paid in advance)" in asked.text


# --- the cost of a change, before it is made -----------------------------------------------------------------------


def test_an_increase_on_a_one_year_term_is_confirmed_first_with_its_cost_and_until_when_it_can_be_reduced(
    session: Session, vet: Vet, manager: TestClient
) -> None:
    new_york = vet.vet.locations["New York City"]
    before = _change_count(session)

    asked = ask_quantity(manager, new_york.e3.id, "35")

    assert asked.status_code == 200, asked.text
    assert asked.headers["cache-control"] == "no-store"
    assert "Microsoft 365 E3: from 25 licenses to 35, from today, 1 December 2026." in _text(asked.text)
    assert _figure(asked.text, "monthly-before") == "900.00 USD"  # 25 x 36.00 = 900.00
    assert _figure(asked.text, "monthly-after") == "1260.00 USD"  # 35 x 36.00 = 1260.00
    assert _figure(asked.text, "monthly-difference") == "+360.00 USD"  # 1260.00 - 900.00 = 10 x 36.00 = 360.00
    assert _figure(asked.text, "removable-until") == (
        "The term of this subscription is 1 year. You can remove the 10 licenses added until 7 December 2026. "
        "After that they are paid until the term ends on 30 November 2027."
    )  # added on 1 December, removable for 7 days: 1 + 7 - 1 = 7 December
    assert _quantity(session, new_york.e3) == 25, "nothing changes before it is confirmed"
    assert _quantity(session, vet.vet.parent_e3) == 50
    assert _change_count(session) == before

    done = confirm(manager, asked.text, follow_redirects=False)

    assert done.status_code == 303, done.text
    assert done.headers["location"] == (
        f"/portal/contracts/{new_york.contract.id}?changed={new_york.e3.id}#s-{new_york.e3.id}"
    )
    assert _quantity(session, new_york.e3) == 35
    assert _quantity(session, vet.vet.parent_e3) == 60  # the location's +10 pushed up: 50 + 10
    change = session.scalars(
        select(LicenseChange).where(LicenseChange.subscription_id == new_york.e3.id, LicenseChange.quantity_after == 35)
    ).one()
    assert (change.origin, change.requested_by) == (ChangeOrigin.PORTAL, "portal manager@ny.example")
    page = manager.get(done.headers["location"]).text
    assert _figure(_row(page, new_york.e3), "monthly") == "1260.00 USD"  # 35 x 36.00 = 1260.00


def test_seats_added_later_in_the_term_can_be_removed_for_seven_days_from_their_own_day(
    vet: Vet, manager_on: ManagerOn
) -> None:
    manager = manager_on(date(2026, 12, 3))
    new_york = vet.vet.locations["New York City"]

    asked = ask_quantity(manager, new_york.e3.id, "26")

    assert asked.status_code == 200, asked.text
    assert _figure(asked.text, "monthly-after") == "936.00 USD"  # 26 x 36.00 = 936.00
    assert _figure(asked.text, "monthly-difference") == "+36.00 USD"  # 936.00 - 900.00 = 1 x 36.00
    assert "You can remove the 1 license added until 9 December 2026." in _figure(asked.text, "removable-until")
    # added on 3 December (and pushed to the parent the same day): 3 + 7 - 1 = 9 December


def test_seats_that_cannot_be_reduced_are_said_to_be_paid_until_the_term_ends(
    session: Session, vet: Vet, manager: TestClient
) -> None:
    new_york = vet.vet.locations["New York City"]
    new_york.e3.reduction_behavior = ReductionBehavior.DISALLOWED
    session.flush()

    asked = ask_quantity(manager, new_york.e3.id, "30")

    assert _figure(asked.text, "removable-until") == (
        "The term of this subscription is 1 year. Once added, the 5 licenses cannot be removed: they are paid until "
        "the term ends on 30 November 2027."
    )
    assert _figure(asked.text, "monthly-difference") == "+180.00 USD"  # 5 x 36.00 = 180.00


def test_a_reduction_shows_what_can_be_removed_today_and_its_effect(
    session: Session, vet: Vet, manager_on: ManagerOn
) -> None:
    manager = manager_on(date(2026, 12, 3))
    new_york = vet.vet.locations["New York City"]

    asked = ask_quantity(manager, new_york.e3.id, "20")

    assert asked.status_code == 200, asked.text
    assert _figure(asked.text, "removable-today") == (
        "Today 25 licenses of the 25 can be removed (25 until 7 December 2026): you are removing 5."
    )  # bought on 1 December: 1 + 7 - 1 = 7 December; the parent's 50 allow the location's 25
    assert _figure(asked.text, "monthly-before") == "900.00 USD"  # 25 x 36.00 = 900.00
    assert _figure(asked.text, "monthly-after") == "720.00 USD"  # 20 x 36.00 = 720.00
    assert _figure(asked.text, "monthly-difference") == "-180.00 USD"  # 720.00 - 900.00 = -(5 x 36.00)
    assert "The removed licenses are no longer charged from today." in asked.text

    confirm(manager, asked.text)

    assert _quantity(session, new_york.e3) == 20
    assert _quantity(session, vet.vet.parent_e3) == 45  # 50 - 5


def test_a_change_at_renewal_says_the_renewal_day_and_is_scheduled_once_confirmed(
    session: Session, vet: Vet, manager_on: ManagerOn
) -> None:
    manager = manager_on(date(2026, 12, 10))  # the windows have closed: a reduction waits for the renewal
    new_york = vet.vet.locations["New York City"]
    refused = ask_quantity(manager, new_york.e3.id, "20")
    assert refused.status_code == 409
    assert "At renewal on 1 December 2027</button>" in refused.text

    asked = ask_quantity(manager, new_york.e3.id, "20", effective="renewal")

    assert asked.status_code == 200, asked.text
    assert "Microsoft 365 E3: from 25 licenses to 20, at the renewal on 1 December 2027." in _text(asked.text)
    assert "Nothing changes before the renewal on 1 December 2027." in _text(asked.text)
    assert _figure(asked.text, "monthly-after") == "720.00 USD"  # 20 x 36.00 = 720.00, at today's price
    assert _figure(asked.text, "monthly-difference") == "-180.00 USD"  # 720.00 - 900.00
    assert session.scalars(select(ScheduledChange)).first() is None

    scheduled = confirm(manager, asked.text)

    assert "Change scheduled" in scheduled.text
    assert "Changes to 20 at renewal on 1 December 2027" in scheduled.text
    assert _quantity(session, new_york.e3) == 25


# --- the confirmation carries what it showed -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "forged",
    [{"quantity": "300"}, {"before": "30"}, {"unit_price": "1"}, {"effective": "renewal"}, {"signature": "0" * 64}],
)
def test_a_confirmation_altered_in_the_browser_is_refused_and_changes_nothing(
    session: Session, vet: Vet, manager: TestClient, forged: dict[str, str]
) -> None:
    new_york = vet.vet.locations["New York City"]
    asked = ask_quantity(manager, new_york.e3.id, "35")
    before = _change_count(session)

    refused = confirm(manager, asked.text, **forged)

    assert refused.status_code == 403
    assert "This confirmation was altered or has expired" in refused.text
    assert _quantity(session, new_york.e3) == 25
    assert _change_count(session) == before


def test_when_the_price_changed_meanwhile_the_new_figures_are_shown_to_confirm_again(
    session: Session, vet: Vet, manager: TestClient
) -> None:
    new_york = vet.vet.locations["New York City"]
    asked = ask_quantity(manager, new_york.e3.id, "35")
    new_york.e3.unit_price = Decimal("38.00")  # the reseller's new price, between the confirmation and the click
    session.flush()
    before = _change_count(session)

    again = confirm(manager, asked.text)

    assert again.status_code == 409
    assert "The subscription changed since you looked" in again.text
    assert _figure(again.text, "monthly-before") == "950.00 USD"  # 25 x 38.00 = 950.00
    assert _figure(again.text, "monthly-after") == "1330.00 USD"  # 35 x 38.00 = 1330.00
    assert _figure(again.text, "monthly-difference") == "+380.00 USD"  # 1330.00 - 950.00 = 10 x 38.00
    assert _quantity(session, new_york.e3) == 25
    assert _change_count(session) == before

    done = confirm(manager, again.text, follow_redirects=False)

    assert done.status_code == 303
    assert _quantity(session, new_york.e3) == 35


def test_when_the_quantity_changed_meanwhile_the_new_figures_are_shown_to_confirm_again(
    session: Session, vet: Vet, manager: TestClient
) -> None:
    new_york = vet.vet.locations["New York City"]
    asked = ask_quantity(manager, new_york.e3.id, "35")
    change_quantity(  # a colleague, or the reseller, changed it in the meantime
        session,
        subscription_id=new_york.e3.id,
        quantity=30,
        effective="now",
        today=FACTORY_TODAY,
        now=noon(FACTORY_TODAY),
        actor=OPERATOR,
    )
    session.flush()

    again = confirm(manager, asked.text)

    assert again.status_code == 409
    assert "from 30 licenses to 35" in _text(again.text)
    assert _figure(again.text, "monthly-before") == "1080.00 USD"  # 30 x 36.00 = 1080.00
    assert _figure(again.text, "monthly-difference") == "+180.00 USD"  # 1260.00 - 1080.00 = 5 x 36.00
    assert _quantity(session, new_york.e3) == 30


def test_a_confirmed_change_that_is_no_longer_allowed_is_refused_with_the_reason(
    session: Session, vet: Vet, login: Login, app_client: TestClient
) -> None:
    make_contact(session, vet.new_york, "manager@ny.example", MANAGER)
    _set_clock(app_client, date(2026, 12, 7), time(23, 50))  # the last day of the window, late
    manager = login("manager@ny.example")
    new_york = vet.vet.locations["New York City"]
    asked = ask_quantity(manager, new_york.e3.id, "20")
    assert asked.status_code == 200

    _set_clock(app_client, date(2026, 12, 8), time(0, 10))  # confirmed after midnight: the window has closed
    refused = confirm(manager, asked.text)

    assert refused.status_code == 409
    assert "Microsoft 365 E3 cannot be reduced by that much now" in refused.text
    assert _quantity(session, new_york.e3) == 25


# --- a subscription's own page -------------------------------------------------------------------------------------


def test_a_subscriptions_page_shows_its_costs_what_can_be_removed_today_and_its_changes(
    vet: Vet, manager_on: ManagerOn
) -> None:
    manager = manager_on(date(2026, 12, 3))
    new_york = vet.vet.locations["New York City"]

    page = manager.get(f"/portal/subscriptions/{new_york.e3.id}")

    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    text = _text(page.text)
    assert _figure(page.text, "unit-price") == "36.00 USD per license a month"  # the catalog's P1Y monthly price
    assert _figure(page.text, "monthly") == f"900.00 USD 25 {TIMES} 36.00"  # 25 x 36.00 = 900.00
    assert "Term 1 year 1 December 2026 to 30 November 2027" in text
    assert "Billing plan Billed monthly" in text
    assert "Renews on 1 December 2027" in text
    assert "Today 25 licenses of the 25 can be removed: 25 until 7 December 2026." in text
    assert "Bought 25" in text
    assert 'action="/portal/subscriptions/' in page.text
    assert 'name="back" value="subscription"' in page.text


def test_a_change_asked_on_a_subscriptions_page_returns_to_it(session: Session, vet: Vet, manager: TestClient) -> None:
    new_york = vet.vet.locations["New York City"]
    page = manager.get(f"/portal/subscriptions/{new_york.ems.id}").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    asked = manager.post(
        f"/portal/subscriptions/{new_york.ems.id}/quantity",
        data={"quantity": "12", "effective": "now", "back": "subscription", "csrf_token": csrf.group(1)},
    )
    assert f'href="/portal/subscriptions/{new_york.ems.id}">Cancel</a>' in asked.text
    assert _figure(asked.text, "monthly-after") == "127.20 USD"  # 12 x 10.60 = 127.20

    done = confirm(manager, asked.text, follow_redirects=False)

    assert done.headers["location"] == f"/portal/subscriptions/{new_york.ems.id}?changed=1"
    shown = manager.get(done.headers["location"]).text
    assert "Change recorded" in shown
    assert _figure(shown, "monthly") == f"127.20 USD 12 {TIMES} 10.60"  # 12 x 10.60 = 127.20
    refused = manager.post(
        f"/portal/subscriptions/{new_york.ems.id}/quantity",
        data={"quantity": "301", "effective": "now", "back": "subscription", "csrf_token": csrf.group(1)},
    )
    assert refused.status_code == 422
    assert "<h1>Enterprise Mobility + Security E3</h1>" in refused.text, "the refusal is shown where it was asked"


def test_a_subscription_that_does_not_renew_offers_no_change_at_renewal(
    session: Session, vet: Vet, manager_on: ManagerOn
) -> None:
    new_york = vet.vet.locations["New York City"]
    new_york.e3.auto_renew = False
    session.flush()
    manager = manager_on(date(2026, 12, 10))  # the windows have closed

    refused = ask_quantity(manager, new_york.e3.id, "20")
    assert refused.status_code == 409
    assert 'value="renewal"' not in refused.text, "no renewal to schedule it for"

    forged = ask_quantity(manager, new_york.e3.id, "20", effective="renewal")

    assert forged.status_code == 422
    assert "Microsoft 365 E3 does not renew, so nothing can be changed at its renewal." in forged.text
    assert session.scalars(select(ScheduledChange)).first() is None
