"""Credit notes in the console (SPEC §8, issue 13 item 6): a void's credit note is listed and shown beside the
invoices, with its PDF, and the voided invoice names it."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.billing.models import DocumentKind, Invoice
from seatflow.billing.runs import run_billing
from tests.console.conftest import ADMIN, READ_ONLY, Login, csrf_of
from tests.factories import FACTORY_TODAY, noon
from tests.subscriptions.helpers import PineConeVet


def test_a_void_credit_note_is_listed_shown_and_printed(session: Session, login: Login, vet: PineConeVet) -> None:
    run_billing(session, run_date=FACTORY_TODAY, now=noon(FACTORY_TODAY), requested_by="tests")
    new_york = session.scalars(
        select(Invoice).where(Invoice.contract_id == vet.locations["New York City"].contract.id)
    ).one()
    admin = login(ADMIN)
    page = admin.get(f"/console/invoices/{new_york.id}")
    voided = admin.post(
        f"/console/invoices/{new_york.id}/void",
        data={"reason": "Billed on the wrong contract.", "confirmed": "1", "csrf_token": csrf_of(page.text)},
        follow_redirects=True,
    )
    assert voided.status_code == 200
    assert "a credit note credits it (CN-000001)" in voided.text
    note = session.scalars(select(Invoice).where(Invoice.kind == DocumentKind.CREDIT_NOTE)).one()
    assert f'href="/console/credit-notes/{note.id}">CN-000001</a>' in voided.text

    viewer = login(READ_ONLY)
    listed = viewer.get("/console/credit-notes")
    assert listed.status_code == 200
    assert f'href="/console/credit-notes/{note.id}">CN-000001</a>' in listed.text
    assert "CN-000001" not in viewer.get("/console/invoices").text
    shown = viewer.get(f"/console/credit-notes/{note.id}")
    assert shown.status_code == 200
    assert "Credit note CN-000001" in shown.text
    assert f'href="/console/invoices/{new_york.id}">{new_york.number}</a>' in shown.text
    assert "-1006.00" in shown.text  # New York's invoice: 25 x 36.00 + 10 x 10.60 = 1,006.00, credited
    assert "/void" not in shown.text
    pdf = viewer.get(f"/console/credit-notes/{note.id}/pdf")
    assert (pdf.status_code, pdf.headers["content-type"]) == (200, "application/pdf")
    assert viewer.get(f"/console/credit-notes/{new_york.id}").status_code == 404
    assert viewer.get(f"/console/invoices/{note.id}").status_code == 404
    assert viewer.get(f"/console/credit-notes/{uuid.UUID(int=7)}/pdf").status_code == 404
    assert viewer.get(f"/console/credit-notes?contract={new_york.contract_id}").text.count("CN-000001") >= 1
