"""A billing run and a void behind a confirmation that states the totals (issue 15 item 2): the run's dry run is
shown first, and a run whose totals moved since they were confirmed writes nothing; void only from an invoice's own
page, with a reason, after its totals are shown."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatflow.billing.models import BillingRun, DocumentKind, Invoice, InvoiceStatus
from seatflow.billing.runs import run_billing
from seatflow.subscriptions.changes import change_quantity
from tests.console.conftest import ADMIN, OPERATOR, LoginOn
from tests.console.forms import alert, follow, send
from tests.factories import FACTORY_TODAY, noon
from tests.factories import OPERATOR as FACTORY_OPERATOR
from tests.subscriptions.helpers import PineConeVet


def _count(session: Session, model: type[object]) -> int:
    session.expire_all()
    return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def _expected(html: str) -> str:
    found = re.search(r'name="expected" value="([^"]+)"', html)
    assert found, "no confirmation form"
    return found.group(1)


def test_a_run_whose_totals_changed_after_the_confirmation_writes_nothing(
    session: Session, login_on: LoginOn, vet: PineConeVet
) -> None:
    client = login_on(OPERATOR)
    shown = send(client, "/console/billing/confirm", {"date": "2026-12-01"})
    assert shown.status_code == 200
    assert "The run creates 3 invoices, for 2012.00 USD in all" in " ".join(shown.text.split())
    assert 'data-total="USD">2012.00<' in shown.text
    assert "Pine Cone Vet - Memphis" in shown.text
    confirmed = _expected(shown.text)
    change_quantity(  # Memphis takes 3 more seats while the operator reads the totals
        session,
        subscription_id=vet.locations["Memphis"].e3.id,
        quantity=18,
        effective="now",
        today=FACTORY_TODAY,
        now=noon(FACTORY_TODAY),
        actor=FACTORY_OPERATOR,
    )

    stale = send(client, "/console/billing/runs", {"date": "2026-12-01", "expected": confirmed})

    assert stale.status_code == 409
    assert "The totals changed since they were shown" in alert(stale.text)
    assert (_count(session, BillingRun), _count(session, Invoice)) == (0, 0)
    assert 'data-total="USD">2120.00<' in stale.text, "the new totals, to confirm again"
    ran = send(client, "/console/billing/runs", {"date": "2026-12-01", "expected": _expected(stale.text)})
    assert ran.status_code == 303
    assert (_count(session, BillingRun), _count(session, Invoice)) == (1, 3)
    assert 'data-count="invoices">3<' in follow(client, ran).text


def test_a_run_for_a_bad_or_future_date_is_refused_before_the_confirmation(
    session: Session, login_on: LoginOn, vet: PineConeVet
) -> None:
    client = login_on(OPERATOR)
    for day, status, message in (
        ("2026-12-02", 422, "cannot be dated after today (2026-12-01)"),
        ("12/01/2026", 422, "Enter the run's date as YYYY-MM-DD"),
    ):
        for path in ("/console/billing/confirm", "/console/billing/preview", "/console/billing/runs"):
            answer = send(client, path, {"date": day, "expected": "nothing"})
            assert answer.status_code == status, (path, day)
            assert message in alert(answer.text), (path, day)
    assert _count(session, BillingRun) == 0


def test_void_states_the_invoice_totals_before_it_voids(session: Session, login_on: LoginOn, vet: PineConeVet) -> None:
    run_billing(session, run_date=FACTORY_TODAY, now=noon(FACTORY_TODAY), requested_by="tests")
    new_york = session.scalars(
        select(Invoice).where(Invoice.contract_id == vet.locations["New York City"].contract.id)
    ).one()
    admin = login_on(ADMIN)
    page = admin.get(f"/console/invoices/{new_york.id}").text
    assert "Void this invoice" in page
    assert "/void" not in admin.get("/console/invoices").text, "not on every row"

    asked = send(admin, f"/console/invoices/{new_york.id}/void", {"reason": "Billed on the wrong contract."})

    assert asked.status_code == 200
    assert f"Void invoice {new_york.number}?" in asked.text
    assert "data-void-total>1006.00 USD<" in asked.text
    assert "A credit note of -1006.00 USD credits it" in asked.text
    assert 'name="confirmed" value="1"' in asked.text
    session.expire_all()
    assert session.get_one(Invoice, new_york.id).status is InvoiceStatus.ISSUED, "asking writes nothing"
    assert _count(session, Invoice) == 3, "no credit note yet"

    voided = send(
        admin,
        f"/console/invoices/{new_york.id}/void",
        {"reason": "Billed on the wrong contract.", "confirmed": "1"},
    )

    shown = follow(admin, voided).text
    assert "The invoice is void: a credit note credits it (CN-000001)" in shown
    session.expire_all()
    assert session.get_one(Invoice, new_york.id).status is InvoiceStatus.VOID
    assert session.scalars(select(Invoice).where(Invoice.kind == DocumentKind.CREDIT_NOTE)).one().total < 0
    again = send(admin, f"/console/invoices/{new_york.id}/void", {"reason": "twice"})
    assert again.status_code == 409
    assert "void already" in alert(again.text), "refused before the confirmation"
    blank = send(admin, f"/console/invoices/{new_york.id}/void", {"reason": " ", "confirmed": "1"})
    assert blank.status_code in (409, 422)
