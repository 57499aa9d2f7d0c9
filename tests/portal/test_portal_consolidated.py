"""The portal and consolidated invoices (SPEC §8, issue 13 item 7): the head office's finance contact sees the one
invoice for the three locations, with a section per location, even though the parent contract is not billable; a
location's own contact sees no document for the consolidated cycle (its charges are a section of the head office's
invoice)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.billing.models import Invoice
from seatflow.billing.runs import run_billing
from seatflow.customers.models import ContactRole
from tests.factories import noon
from tests.portal.conftest import Login, Vet, make_contact

FINANCE = ContactRole.FINANCE_MANAGER


def test_the_head_office_sees_the_consolidated_invoice_a_location_does_not(
    session: Session, vet: Vet, login: Login
) -> None:
    vet.vet.parent_contract.consolidate_child_invoices = True
    make_contact(session, vet.head_office, "finance@head.example", FINANCE)
    make_contact(session, vet.new_york, "finance@ny.example", FINANCE)
    day = vet.vet.parent_contract.start_date
    run_billing(session, run_date=day, now=noon(day), requested_by="t")
    document = session.scalars(select(Invoice).where(Invoice.consolidated.is_(True))).one()
    section = session.scalars(select(Invoice).where(Invoice.consolidated_invoice_id == document.id)).first()
    assert section is not None

    head = login("finance@head.example")
    listed = head.get("/portal/invoices")
    assert re.findall(r'href="/portal/invoices/([0-9a-f-]{36})"', listed.text) == [str(document.id)]
    page = head.get(f"/portal/invoices/{document.id}").text
    for expected in ("Pine Cone Vet - Atlanta", "Pine Cone Vet - Memphis", "Pine Cone Vet - New York City", "2012.00"):
        assert expected in page  # 413.00 + 593.00 + 1006.00 = 2012.00
    pdf = head.get(f"/portal/invoices/{document.id}/pdf")
    assert (pdf.status_code, pdf.headers["content-type"]) == (200, "application/pdf")
    assert head.get(f"/portal/invoices/{section.id}").status_code == 404, "a section is never a document alone"

    new_york = login("finance@ny.example")
    assert re.findall(r'href="/portal/invoices/([0-9a-f-]{36})"', new_york.get("/portal/invoices").text) == []
    assert new_york.get(f"/portal/invoices/{document.id}").status_code == 404
