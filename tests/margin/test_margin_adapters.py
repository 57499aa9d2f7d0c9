"""The margin report over the API (JSON and CSV), in the console (its page and the dashboard's figures) and from
the CLI on a committed database. The December scenario and its arithmetic: test_margin_report.py."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from seatflow.subscriptions.models import Subscription
from tests.api.helpers import problem
from tests.api.subscription_helpers import FrozenClock
from tests.console.conftest import OPERATOR, Login
from tests.factories import noon
from tests.margin.test_margin_report import DEC_1, december  # noqa: F401 - the scenario's fixture

RANGE = {"from": "2026-12-01", "to": "2026-12-31"}


def test_the_api_answers_the_report_and_its_csv(client: TestClient, december: dict[str, Subscription]) -> None:  # noqa: F811
    body = client.get("/api/v1/margin", params=RANGE).json()
    assert body["totals"] == [
        {"currency": "USD", "revenue": "1796.88", "cost": "2079.00", "margin": "-282.12", "margin_percent": "-15.70"}
    ]
    alder = next(r for r in body["rows"] if r["name"] == "Alder Clinic")
    assert (alder["revenue"], alder["cost"], alder["margin"], alder["margin_percent"]) == (
        "453.60",
        "378.00",
        "75.60",
        "16.67",
    )
    assert sorted(leak["kind"] for leak in body["leaks"]) == [
        "cost_without_revenue",
        "fewer_seats_billed",
        "negative_margin",
        "unknown_subscription",
    ]
    short = next(leak for leak in body["leaks"] if leak["kind"] == "fewer_seats_billed")
    assert (short["seats_paid"], short["seats_billed"], short["amount"]) == (25, 20, "226.80")
    assert short["cost_lines"][0]["subtotal"] == "945"
    assert short["invoice_lines"][0]["amount"] == "907.20"

    exported = client.get("/api/v1/margin.csv", params={**RANGE, "group_by": "product"})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0][:4] == ["month", "group", "key", "name"]
    assert rows[1][:2] == ["2026-12", "product"]
    leaks = list(csv.reader(io.StringIO(client.get("/api/v1/margin.csv", params={**RANGE, "leaks": "true"}).text)))
    assert len(leaks) == 5  # the header and four leaks

    problem(
        client.get("/api/v1/margin", params={"from": "2026-12-31", "to": "2026-12-01"}), 422, "margin_range_invalid"
    )
    problem(client.get("/api/v1/margin", params={"from": "2026-12-01"}), 422, "validation_failed")
    problem(client.get("/api/v1/margin", params={**RANGE, "group_by": "planet"}), 422, "validation_failed")


def test_the_console_page_and_the_dashboard_show_the_months_money(
    session: Session,
    login: Login,
    app_client: TestClient,
    december: dict[str, Subscription],  # noqa: F811
) -> None:
    session.commit()
    app_client.app.state.clock = FrozenClock(noon(DEC_1))  # type: ignore[attr-defined]
    operator = login(OPERATOR)

    dashboard = operator.get("/console/")
    assert dashboard.status_code == 200
    assert 'data-figure="margin">-282.12<' in dashboard.text
    assert 'data-figure="revenue">1796.88<' in dashboard.text
    assert 'data-count="leaks">4<' in dashboard.text

    page = operator.get("/console/margin")
    assert page.status_code == 200
    assert page.text.count("data-leak=") == 4
    assert "Birch Dental" in page.text
    assert "on 2026-12-01 Microsoft charges for 25 seats and seatflow bills 20" in page.text
    by_product = operator.get("/console/margin?by=product&start=2026-12-01&end=2026-12-31")
    assert "Microsoft 365 E3" in by_product.text
    bad = operator.get("/console/margin?start=2026-12-31&end=2026-12-01")
    assert bad.status_code == 422
    assert "before it starts" in bad.text
    exported = operator.get("/console/margin.csv?leaks=1")
    assert exported.text.count("\n") == 5
