"""The console's renewal desk over HTTP (SPEC §10): renewals in the next 30/60/90 days with what will change and the
monthly amounts, the actions at renewal through the same services as the API, refusals in plain words, the CSV,
and the dashboard's figure. The app's clock is at noon of FACTORY_TODAY (2026-12-01)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from seatflow.catalog import repository as catalog_repository
from seatflow.catalog.models import BillingPlan, Product, Term
from seatflow.subscriptions import repository
from seatflow.subscriptions.models import ScheduledStatus, Subscription
from tests.console.conftest import OPERATOR, READ_ONLY, Login, csrf_of
from tests.factories import create_contract, create_customer, create_subscription, load_demo_catalog
from tests.provisioning.conftest import ManualClock
from tests.subscriptions.helpers import fresh


@dataclass(frozen=True)
class Desk:
    premium: Subscription
    """Business Premium x 20 at 12.50, renews 2026-12-20."""
    archiving: Subscription
    """Its Exchange Online Archiving add-on x 20 at 2.63 (P1Y monthly), renews 2026-12-25."""
    e3: Subscription
    """Microsoft 365 E3 x 10 at 36.00, renews 2027-01-15."""
    e5_id: str


@pytest.fixture
def desk(session: Session, factory_clock: ManualClock) -> Desk:
    catalog = load_demo_catalog(session)
    contract = create_contract(
        session, customer=create_customer(session, name="Contoso", tenant_id="contoso"), start_date=date(2025, 12, 1)
    )
    premium = create_subscription(
        session, contract=contract, product=catalog.business_premium, quantity=20, start_date=date(2025, 12, 20)
    )
    archiving = next(p for p in _products(session) if p.name.startswith("Exchange Online Archiving"))
    return Desk(
        premium=premium,
        archiving=create_subscription(
            session,
            contract=contract,
            product=archiving,
            quantity=20,
            parent=premium,
            start_date=date(2025, 12, 25),
            term=Term.P1Y,
            billing_plan=BillingPlan.MONTHLY,
        ),
        e3=create_subscription(
            session, contract=contract, product=catalog.e3, quantity=10, start_date=date(2026, 1, 15)
        ),
        e5_id=str(catalog.e5.id),
    )


def _products(session: Session) -> list[Product]:
    return list(catalog_repository.all_products(session))


def row(html: str, subscription: Subscription) -> str:
    found = re.search(rf'<tr id="r-{subscription.id}"[^>]*>(.*?)</tr>', html, re.S)
    assert found, f"no row for {subscription.id}"
    return found.group(1)


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def banner(html: str) -> str:
    found = re.findall(r'<p class="alert ok" role="status">(.*?)</p>', html, re.S)
    return text(found[0]) if found else ""


def post(client: TestClient, path: str, **data: str) -> httpx.Response:
    page = client.get("/console/renewals?days=60")
    return client.post(path, data={"csrf_token": csrf_of(page.text), "back": "days=60", **data})


def test_30_and_60_days_with_what_changes_and_the_monthly_amounts(login: Login, desk: Desk) -> None:
    client = login(OPERATOR)
    thirty = client.get("/console/renewals")
    assert thirty.status_code == 200
    assert re.search(r'data-count="renewals">\s*2\s*<', thirty.text)
    premium = text(row(thirty.text, desk.premium))
    assert "Office 365 Business Premium" in premium
    assert "2026-12-20" in premium
    assert "20 x 12.50 = 250.00 USD/month" in premium
    assert "renews as it is" in premium
    assert f'id="r-{desk.e3.id}"' not in thirty.text  # renews in 45 days

    sixty = client.get("/console/renewals?days=60")
    assert f'id="r-{desk.e3.id}"' in sixty.text
    # 250.00 + 52.60 (20 x 2.63) + 360.00 (10 x 36.00) = 662.60 a month now, and after.
    assert 'data-total="USD">662.60 → 662.60 USD' in sixty.text


def test_dont_renew_then_renew_again(login: Login, desk: Desk, session: Session) -> None:
    client = login(OPERATOR)
    done = post(client, f"/console/renewals/{desk.premium.id}/dont-renew")
    assert banner(done.text) == ("Office 365 Business Premium of Contoso will not renew: it expires on 2026-12-20.")
    assert fresh(session, desk.premium).auto_renew is False
    premium = text(row(done.text, desk.premium))
    assert "expires on 2026-12-20" in premium
    assert "then 0.00 USD/month" in premium
    assert banner(client.get("/console/renewals?days=60").text) == ""  # shown once

    again = post(client, f"/console/renewals/{desk.premium.id}/renew")
    assert banner(again.text) == "Office 365 Business Premium of Contoso renews again on 2026-12-20."
    assert fresh(session, desk.premium).auto_renew is True


def test_another_sku_and_quantity_at_renewal_and_a_refusal_in_plain_words(
    login: Login, desk: Desk, session: Session
) -> None:
    client = login(OPERATOR)
    done = post(client, f"/console/renewals/{desk.e3.id}/change", quantity="12", product=desk.e5_id, plan="")
    assert banner(done.text) == (
        "Saved for the renewal of Microsoft 365 E3 of Contoso on 2027-01-15: quantity 10 → 12; product Microsoft 365 "
        "E3 → Office 365 E5; unit price 36.00 → 38.00. Monthly 360.00 → 456.00 USD."  # 12 x 38.00 = 456.00
    )
    assert "12 x 38.00 = 456.00 USD/month" in text(row(done.text, desk.e3))

    before = len(repository.at_renewal_of(session, desk.e3.id))
    refused = post(client, f"/console/renewals/{desk.e3.id}/change", quantity="301")
    assert refused.status_code == 422
    in_row = text(row(refused.text, desk.e3))
    assert "Office 365 E5" in in_row
    assert "300" in in_row  # the range it may be, said in the row
    assert "Traceback" not in refused.text
    assert len(repository.at_renewal_of(session, desk.e3.id)) == before

    cleared = post(client, f"/console/renewals/{desk.e3.id}/clear")
    assert banner(cleared.text) == "Microsoft 365 E3 of Contoso renews as it is on 2027-01-15."
    assert repository.at_renewal_of(session, desk.e3.id) == []


def test_an_addon_is_co_termed_with_its_base(login: Login, desk: Desk, session: Session) -> None:
    client = login(OPERATOR)
    page = client.get("/console/renewals")
    assert "Co-term with its base" in row(page.text, desk.archiving)
    assert "Co-term with its base" not in row(page.text, desk.premium)  # not an add-on
    done = post(client, f"/console/renewals/{desk.archiving.id}/change", co_term_with=str(desk.premium.id))
    # Business Premium renews first, on 2026-12-20, to 2027-12-19: the add-on's next term ends with it.
    assert "term end a full term → co-termed: 2027-12-19" in banner(done.text)
    [scheduled] = repository.at_renewal_of(session, desk.archiving.id)
    assert (scheduled.co_term_subscription_id, scheduled.status) == (desk.premium.id, ScheduledStatus.SCHEDULED)


def test_the_csv_has_every_row_with_its_amounts(login: Login, desk: Desk) -> None:
    client = login(READ_ONLY)
    response = client.get("/console/renewals.csv?days=60")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="renewals-60-days-2026-12-01.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["product"], r["renewal_date"], r["monthly_amount"]) for r in rows] == [
        ("Office 365 Business Premium", "2026-12-20", "250.00"),  # 20 x 12.50
        ("Exchange Online Archiving for Exchange Online", "2026-12-25", "52.60"),  # 20 x 2.63
        ("Microsoft 365 E3", "2027-01-15", "360.00"),  # 10 x 36.00
    ]


def test_a_read_only_operator_sees_the_desk_without_any_action(login: Login, desk: Desk) -> None:
    client = login(READ_ONLY)
    page = client.get("/console/renewals?days=60")
    assert page.status_code == 200
    assert 'method="post" action="/console/renewals/' not in page.text
    csrf = csrf_of(page.text)
    refused = client.post(f"/console/renewals/{desk.e3.id}/dont-renew", data={"csrf_token": csrf})
    assert refused.status_code == 403


def test_a_form_without_its_token_changes_nothing(login: Login, desk: Desk, session: Session) -> None:
    client = login(OPERATOR)
    refused = client.post(f"/console/renewals/{desk.e3.id}/dont-renew", data={"back": "days=60"})
    assert refused.status_code == 403
    assert fresh(session, desk.e3).auto_renew is True


def test_the_dashboard_counts_the_renewals_and_links_to_the_desk(login: Login, desk: Desk) -> None:
    page = login(OPERATOR).get("/console/")
    assert re.search(r'href="/console/renewals\?days=30" data-count="renewals-30">2<', page.text)
    assert '<a href="/console/renewals?days=60">3 in 60</a>' in page.text
    assert 'href="/console/renewals"' in page.text  # in the navigation
