"""Every write form of issue 15 item 2 checks, in order, the login, the CSRF token and the role: a read-only operator
sees none of them and is refused every POST (403), and no input makes a 500."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatflow.contracts.models import BillingContract
from seatflow.customers.models import Contact, CustomerAccount
from seatflow.subscriptions.models import LicenseChange, ScheduledChange, Subscription
from tests.console.conftest import OPERATOR, READ_ONLY, LoginOn
from tests.console.forms import send
from tests.subscriptions.helpers import PineConeVet

MODELS = (CustomerAccount, Contact, BillingContract, Subscription, LicenseChange, ScheduledChange)


def _counts(session: Session) -> list[int]:
    session.expire_all()
    return [int(session.execute(select(func.count()).select_from(m)).scalar_one()) for m in MODELS]


def _posts(vet: PineConeVet) -> list[tuple[str, dict[str, str]]]:
    memphis = vet.locations["Memphis"]
    s, contract, customer = memphis.e3.id, memphis.contract.id, vet.customer.id
    return [
        ("/console/customers", {"name": "New"}),
        (f"/console/customers/{customer}/edit", {"name": "Renamed"}),
        (f"/console/customers/{customer}/contacts", {"email": "a@b.example", "name": "A", "roles": "administrator"}),
        (f"/console/customers/{customer}/contacts/{uuid.UUID(int=7)}", {"roles": "administrator"}),
        (f"/console/customers/{customer}/contracts", {"name": "New", "start_date": "2026-12-01"}),
        (f"/console/contracts/{contract}/edit", {"name": "Renamed"}),
        (f"/console/contracts/{contract}/subscriptions", {"product": str(vet.catalog.e3.id), "quantity": "1"}),
        (f"/console/contracts/{contract}/bundles", {"bundle": str(vet.catalog.e5_voice.id), "quantity": "1"}),
        (f"/console/subscriptions/{s}/quantity", {"quantity": "16"}),
        (f"/console/subscriptions/{s}/suspend", {}),
        (f"/console/subscriptions/{s}/reactivate", {}),
        (f"/console/subscriptions/{s}/cancel", {"reason": "x"}),
        (f"/console/subscriptions/{s}/auto-renew", {"renew": "0"}),
        (f"/console/subscriptions/{s}/link", {"target": str(vet.parent_e3.id), "account": str(vet.catalog.linked.id)}),
        (f"/console/subscriptions/{s}/unlink", {}),
        (f"/console/subscriptions/{s}/scheduled/{uuid.UUID(int=7)}/cancel", {}),
        ("/console/billing/confirm", {"date": "2026-12-01"}),
    ]


def test_a_read_only_operator_sees_no_write_form_and_is_refused_every_post(
    session: Session, login_on: LoginOn, vet: PineConeVet
) -> None:
    client = login_on(READ_ONLY)
    memphis = vet.locations["Memphis"]
    for path in (
        f"/console/customers/{vet.customer.id}",
        f"/console/customers/{vet.customer.id}/contacts",
        f"/console/subscriptions/{memphis.e3.id}",
        f"/console/subscriptions/{vet.parent_e3.id}",
        "/console/customers",
        "/console/subscriptions",
    ):
        page = client.get(path)
        assert page.status_code == 200, path
        assert re.findall(r'<form[^>]*method="post"[^>]*action="([^"]+)"', page.text) == ["/console/logout"], path
        for link in ("/console/customers/new", "/subscriptions/new", "/bundles/new", "/edit", "/contracts/new"):
            assert link not in page.text, (path, link)
    for path in (
        "/console/customers/new",
        f"/console/customers/{vet.customer.id}/edit",
        f"/console/customers/{vet.customer.id}/contracts/new",
        f"/console/contracts/{memphis.contract.id}/edit",
        f"/console/contracts/{memphis.contract.id}/subscriptions/new",
        f"/console/contracts/{memphis.contract.id}/bundles/new",
    ):
        assert client.get(path).status_code == 403, path
    before = _counts(session)
    for path, data in _posts(vet):
        refused = send(client, path, data)
        assert refused.status_code == 403, (path, refused.text[-1000:])
        assert "Your role (read-only) may not do this" in refused.text, path
    assert _counts(session) == before


@pytest.mark.parametrize("token", [None, "forged"])
def test_a_write_without_the_sessions_token_is_refused(
    session: Session, login_on: LoginOn, vet: PineConeVet, token: str | None
) -> None:
    client = login_on(OPERATOR)
    before = _counts(session)
    for path, data in _posts(vet):
        refused = client.post(path, data=data | ({"csrf_token": token} if token else {}))
        assert refused.status_code == 403, path
        assert "did not come from seatflow" in refused.text, path
    assert _counts(session) == before
    client.cookies.clear()
    logged_out = client.post("/console/customers", data={"name": "New", "csrf_token": "x"})
    assert logged_out.status_code == 401


GARBAGE = ["", " ", "\x00", "x" * 6000, "-1", "1e999", "NaN", str(uuid.UUID(int=7)), "not-an-id", "../../etc", "٣"]


def test_no_input_makes_a_500(login_on: LoginOn, vet: PineConeVet) -> None:
    client = login_on(OPERATOR)
    for path, data in _posts(vet):
        fields = list(data) or ["quantity"]
        for value in GARBAGE:
            answer = send(client, path, dict.fromkeys(fields, value))
            assert answer.status_code < 500, (path, value, answer.text[-1500:])
            if answer.status_code != 303:
                assert answer.headers["content-type"].startswith("text/html"), (path, value)
