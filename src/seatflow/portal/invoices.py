"""Invoices and credit notes of the contracts a contact sees (finance managers and administrators), with their PDF."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from seatflow.billing import service as billing
from seatflow.billing.pdf import render_invoice, seller_of
from seatflow.ids import parse_id
from seatflow.portal import scope
from seatflow.portal.web import PREFIX, PortalDep, nothing_here, render
from seatflow.web.deps import SettingsDep

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/invoices", response_class=HTMLResponse)
def invoices_page(request: Request, portal: PortalDep) -> Response:
    if not portal.viewer.sees_invoices:
        raise nothing_here()
    invoices = scope.visible_invoices(portal.db, portal.viewer)
    return render(request, "invoices.html", portal=portal, invoices=invoices)


@router.get("/invoices/{invoice_id}", response_class=HTMLResponse)
def invoice_page(invoice_id: str, request: Request, portal: PortalDep) -> Response:
    invoice = scope.require_invoice(portal.db, portal.viewer, parse_id(invoice_id))
    lines = billing.lines_of(portal.db, invoice.id)
    sections = billing.sections_with_lines(portal.db, invoice)
    return render(request, "invoice.html", portal=portal, invoice=invoice, lines=lines, sections=sections)


@router.get("/invoices/{invoice_id}/pdf")
def invoice_pdf(invoice_id: str, portal: PortalDep, settings: SettingsDep) -> Response:
    invoice = scope.require_invoice(portal.db, portal.viewer, parse_id(invoice_id))
    body = render_invoice(
        invoice,
        billing.lines_of(portal.db, invoice.id),
        seller_of(settings),
        sections=billing.sections_with_lines(portal.db, invoice),
    )
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{invoice.number}.pdf"'},
    )
