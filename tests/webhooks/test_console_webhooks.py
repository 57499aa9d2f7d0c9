"""The console's webhooks page: an administrator adds an endpoint and sees its secret once; deliveries with their
state and a replay button (CSRF-checked, an operator's); a read-only operator sees and changes nothing."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from seatflow.events.delivery import fan_out
from seatflow.events.outbox import emit
from tests.console.conftest import ADMIN, OPERATOR, READ_ONLY, Login, csrf_of, login, operators  # noqa: F401
from tests.factories import FACTORY_TODAY, noon

NOW = noon(FACTORY_TODAY)


def test_an_admin_adds_an_endpoint_and_sees_the_secret_once(login: Login) -> None:  # noqa: F811
    client = login(ADMIN)
    page = client.get("/console/webhooks")
    assert page.status_code == 200
    added = client.post(
        "/console/webhooks",
        data={"csrf_token": csrf_of(page.text), "url": "https://erp.example/hooks", "events": ["invoice.issued"]},
    )
    assert added.status_code == 201
    secret = re.search(r'value="(whsec_[^"]+)" data-secret', added.text)
    assert secret, "the secret is on the page that answers the adding"
    again = client.get("/console/webhooks")
    assert "https://erp.example/hooks" in again.text
    assert secret.group(1) not in again.text, "and never again"


def test_bad_input_is_shown_on_the_page(login: Login) -> None:  # noqa: F811
    client = login(ADMIN)
    csrf = csrf_of(client.get("/console/webhooks").text)
    refused = client.post(
        "/console/webhooks", data={"csrf_token": csrf, "url": "ftp://x", "events": ["invoice.issued"]}
    )
    assert refused.status_code == 422
    assert "absolute http" in refused.text
    assert (
        client.post("/console/webhooks", data={"url": "https://x.example", "events": ["invoice.issued"]}).status_code
        == 403
    )


def test_deliveries_are_listed_and_replayed(login: Login, session: Session) -> None:  # noqa: F811
    client = login(ADMIN)
    csrf = csrf_of(client.get("/console/webhooks").text)
    client.post(
        "/console/webhooks", data={"csrf_token": csrf, "url": "https://erp.example/h", "events": ["invoice.issued"]}
    )
    emit(session, type="invoice.issued", subject_id="inv-7", data={"number": "INV-000007"}, occurred_at=NOW)
    fan_out(session, now=NOW)
    client = login(OPERATOR)
    page = client.get("/console/webhooks", params={"status": "pending"})
    found = re.search(r'data-delivery="([^"]+)" data-status="pending"', page.text)
    assert found, page.text[-2000:]
    assert "Add an endpoint" not in page.text, "an operator does not manage endpoints"
    replayed = client.post(
        f"/console/webhook-deliveries/{found.group(1)}/replay",
        data={"csrf_token": csrf_of(page.text), "back": "status=pending"},
        follow_redirects=False,
    )
    assert replayed.status_code == 303
    assert replayed.headers["location"] == "/console/webhooks?status=pending"
    assert "will be sent again" in client.get(replayed.headers["location"]).text
    forged = client.post(f"/console/webhook-deliveries/{found.group(1)}/replay", data={"csrf_token": "forged"})
    assert forged.status_code == 403


def test_a_read_only_operator_sees_no_buttons(login: Login) -> None:  # noqa: F811
    client = login(READ_ONLY)
    page = client.get("/console/webhooks")
    assert page.status_code == 200
    assert "Replay" not in page.text
    assert "Add an endpoint" not in page.text
    assert client.get("/console/audit").status_code == 200
