"""The invoice (or credit note) as a PDF a finance person would send (SPEC §8): seller and customer with their
addresses and tax IDs, number, dates, period, payment terms, lines, subtotal, tax, total, payment instructions; a
credit note names the invoice it credits. Rendered with fpdf2; a Unicode font (DejaVu Sans) is used when the
system has one, otherwise the built-in Helvetica with characters outside Latin-1 replaced."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from seatflow.billing.models import CreditReason, DocumentKind, Invoice, InvoiceLine, InvoiceStatus
from seatflow.billing.seller import Seller, seller_of
from seatflow.money import format_money

__all__ = ["Seller", "render_invoice", "seller_of"]

FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
    Path("/Library/Fonts/DejaVuSans.ttf"),
)


class _Document(FPDF):
    def __init__(self) -> None:
        super().__init__(format="A4")
        self.set_auto_page_break(auto=True, margin=18)
        self.set_margins(18, 18, 18)
        regular = next((p for p in FONT_CANDIDATES if p.exists()), None)
        bold = regular.with_name("DejaVuSans-Bold.ttf") if regular else None
        if regular is not None and bold is not None and bold.exists():
            self.add_font("Body", "", str(regular))
            self.add_font("Body", "B", str(bold))
            self.family_name, self.unicode = "Body", True
        else:
            self.family_name, self.unicode = "Helvetica", False

    def text_of(self, value: str) -> str:
        return value if self.unicode else value.encode("latin-1", "replace").decode("latin-1")

    def font(self, size: float, bold: bool = False) -> None:
        self.set_font(self.family_name, "B" if bold else "", size)

    def line_text(self, text: str, size: float = 9, bold: bool = False, align: str = "L", width: float = 0) -> None:
        self.font(size, bold)
        self.cell(width, size * 0.5, self.text_of(text), align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _title(invoice: Invoice) -> str:
    return f"{'Credit note' if invoice.kind is DocumentKind.CREDIT_NOTE else 'Invoice'} {invoice.number}"


def render_invoice(
    invoice: Invoice,
    lines: Sequence[InvoiceLine],
    seller: Seller,
    *,
    credits_invoice_number: str | None = None,
    sections: Sequence[tuple[Invoice, Sequence[InvoiceLine]]] = (),
) -> bytes:
    """The document's PDF; ``seller`` (today's) is printed only on a document issued before sellers were
    recorded on them. A consolidated document is printed with ``sections``: per location a heading (the location and
    its contract), its lines and its subtotal; then the document's subtotal, tax and total."""
    seller = Seller.recorded(invoice.seller, invoice.payment_instructions, seller)
    pdf = _Document()
    pdf.set_title(_title(invoice))
    pdf.set_author(seller.name)
    pdf.add_page()
    _header(pdf, invoice, seller, credits_invoice_number)
    _parties(pdf, invoice, seller)
    if invoice.consolidated:
        for section, section_lines in sections:
            _section(pdf, section, section_lines)
    else:
        _lines(pdf, lines)
    _totals(pdf, invoice)
    _payment(pdf, invoice, seller)
    if invoice.status is InvoiceStatus.VOID:
        pdf.ln(6)
        pdf.set_text_color(180, 0, 0)
        pdf.line_text(f"VOID: {invoice.void_reason or ''}", size=11, bold=True)
        pdf.set_text_color(0, 0, 0)
    return bytes(pdf.output())


def _header(pdf: _Document, invoice: Invoice, seller: Seller, credits_invoice_number: str | None) -> None:
    pdf.font(18, bold=True)
    pdf.cell(0, 10, pdf.text_of(seller.name), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.font(20, bold=True)
    pdf.cell(0, 12, pdf.text_of(_title(invoice)), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    facts = [("Issue date", invoice.issue_date.isoformat())]
    if invoice.kind is DocumentKind.CREDIT_NOTE:
        if credits_invoice_number:
            facts.append(("Credits", f"invoice {credits_invoice_number}"))
        reason = (
            {
                CreditReason.VOID: "the invoice credited is void",
                CreditReason.NEGATIVE_CYCLE: "this period's credits exceed its charges",
            }.get(invoice.credit_reason)
            if invoice.credit_reason
            else None
        )
        if reason:
            facts.append(("Reason", reason))
    else:
        facts.append(("Due date", invoice.due_date.isoformat()))
        facts.append(("Payment terms", f"{invoice.payment_terms_days} days net"))
    facts += [
        ("Period", f"{invoice.period_start.isoformat()} to {invoice.period_end.isoformat()}"),
        ("Currency", invoice.currency),
    ]
    for label, value in facts:
        pdf.font(9, bold=True)
        pdf.cell(30, 5, pdf.text_of(label))
        pdf.font(9)
        pdf.cell(0, 5, pdf.text_of(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)


def _address_lines(address: object) -> list[str]:
    if not isinstance(address, dict):
        return []
    keys = ("line1", "line2", "city", "region", "postal_code", "country")
    parts = [str(address[k]) for k in keys if address.get(k)]
    return parts or [str(v) for v in address.values() if v]


def _parties(pdf: _Document, invoice: Invoice, seller: Seller) -> None:
    top = pdf.get_y()
    half = (pdf.w - pdf.l_margin - pdf.r_margin) / 2
    from_lines = [seller.name, *seller.address]
    if seller.email:
        from_lines.append(seller.email)
    if seller.tax_id:
        from_lines.append(f"Tax ID {seller.tax_id}")
    bill = invoice.bill_to
    to_lines = [str(bill.get("name", "")), *_address_lines(bill.get("address"))]
    if bill.get("tax_id"):
        to_lines.append(f"Tax ID {bill['tax_id']}")
    to_lines.append(f"Contract: {bill.get('contract', '')}")
    for column, (title, rows) in enumerate((("From", from_lines), ("Bill to", to_lines))):
        pdf.set_xy(pdf.l_margin + column * half, top)
        pdf.font(9, bold=True)
        pdf.cell(half, 5, title, new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.font(9)
        for row in rows:
            pdf.cell(half, 4.6, pdf.text_of(row), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_xy(pdf.l_margin, max(pdf.get_y(), top + 5 + 4.6 * max(len(from_lines), len(to_lines))) + 6)


COLUMNS = (
    ("Description", 92.0, "L"),
    ("Period", 36.0, "L"),
    ("Qty", 12.0, "R"),
    ("Unit", 17.0, "R"),
    ("Amount", 0.0, "R"),
)


def _lines(pdf: _Document, lines: Sequence[InvoiceLine]) -> None:
    widths = [w for _, w, _ in COLUMNS]
    widths[-1] = pdf.w - pdf.l_margin - pdf.r_margin - sum(widths[:-1])
    pdf.set_fill_color(235, 238, 242)
    pdf.font(9, bold=True)
    for (title, _, align), width in zip(COLUMNS, widths, strict=True):
        pdf.cell(width, 7, title, align=align, fill=True)
    pdf.ln(7)
    pdf.font(8.5)
    for line in lines:
        period = f"{line.period_start.isoformat()} to {line.period_end.isoformat()}"
        cells = [line.description, period, str(line.quantity), format_money(line.unit_price) or "", _money(line.amount)]
        bottom = pdf.get_y() + _height(pdf, cells[0], widths[0])
        if bottom > pdf.page_break_trigger:
            pdf.add_page()
            bottom = pdf.get_y() + _height(pdf, cells[0], widths[0])
        y = pdf.get_y()
        pdf.multi_cell(widths[0], 4.6, pdf.text_of(cells[0]), new_x=XPos.RIGHT, new_y=YPos.TOP)
        for (_, _, align), width, value in zip(COLUMNS[1:], widths[1:], cells[1:], strict=True):
            pdf.cell(width, 4.6, pdf.text_of(value), align=align)
        pdf.set_xy(pdf.l_margin, max(bottom, y + 4.6) + 1.4)
    pdf.ln(2)


def _section(pdf: _Document, section: Invoice, lines: Sequence[InvoiceLine]) -> None:
    """One location's part of a consolidated document."""
    if pdf.get_y() + 30 > pdf.page_break_trigger:
        pdf.add_page()
    location, contract = section.bill_to.get("name", ""), section.bill_to.get("contract", "")
    pdf.line_text(f"{location}: {contract} ({section.number})", size=10, bold=True)
    pdf.ln(1)
    _lines(pdf, lines)
    label_width, value_width = 60.0, 30.0
    pdf.set_x(pdf.w - pdf.r_margin - label_width - value_width)
    pdf.font(9, bold=True)
    pdf.cell(label_width, 5, pdf.text_of(f"Subtotal {contract}"))
    pdf.cell(value_width, 5, _money(section.subtotal), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)


def _height(pdf: _Document, text: str, width: float) -> float:
    rows = pdf.multi_cell(width, 4.6, pdf.text_of(text), dry_run=True, output="LINES")
    assert isinstance(rows, list)  # noqa: S101 - output="LINES" answers the lines
    return 4.6 * max(1, len(rows))


def _money(value: Decimal) -> str:
    return format_money(value) or ""


def _totals(pdf: _Document, invoice: Invoice) -> None:
    label_width, value_width = 40.0, 30.0
    x = pdf.w - pdf.r_margin - label_width - value_width
    rate = (invoice.tax_rate * 100).normalize()
    rows = [
        ("Subtotal", _money(invoice.subtotal), False),
        (f"Tax ({rate:f}%)", _money(invoice.tax), False),
        (f"Total {invoice.currency}", _money(invoice.total), True),
    ]
    for label, value, bold in rows:
        pdf.set_x(x)
        pdf.font(10, bold=bold)
        pdf.cell(label_width, 6, pdf.text_of(label))
        pdf.cell(value_width, 6, value, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _payment(pdf: _Document, invoice: Invoice, seller: Seller) -> None:
    """How to pay: the terms and the seller's instructions (an invoice's; a credit note has nothing to pay)."""
    pdf.ln(4)
    if invoice.kind is DocumentKind.CREDIT_NOTE:
        _paragraph(pdf, "This credit note reduces what you owe; nothing is to be paid on it.")
        return
    pdf.line_text("Payment", size=10, bold=True)
    _paragraph(
        pdf,
        f"Due {invoice.due_date.isoformat()} ({invoice.payment_terms_days} days net). "
        f"Please quote {invoice.number} with your payment.",
    )
    for line in seller.payment_instructions.splitlines():
        if line.strip():
            _paragraph(pdf, line.strip())


def _paragraph(pdf: _Document, text: str) -> None:
    pdf.font(9)
    pdf.multi_cell(0, 4.6, pdf.text_of(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
