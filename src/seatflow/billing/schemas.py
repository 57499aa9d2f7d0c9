from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from seatflow.billing import service
from seatflow.billing.drafts import Draft
from seatflow.billing.models import (
    BillingRun,
    CreditReason,
    DocumentKind,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
)
from seatflow.billing.runs import Consolidation, RunSummary, is_credit
from seatflow.schemas import DayIn, IdStr, MoneyOut, MultiLine


class BillingRunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date: DayIn | None = None
    """The run's date; today (the clock's) when absent."""
    dry_run: bool = False


class InvoiceLineRead(BaseModel):
    position: int
    kind: LineKind
    subscription_id: IdStr
    product_id: IdStr
    license_change_id: IdStr | None
    description: str
    period_start: date
    period_end: date
    quantity: int
    unit_price: MoneyOut
    amount: MoneyOut
    contract_id: IdStr
    """The contract whose charge it is (on a consolidated invoice: the location's contract)."""
    contract_name: str
    """That contract's name (as recorded when the document was issued)."""

    @classmethod
    def of(cls, line: InvoiceLine, contract_id: str, contract_name: str) -> InvoiceLineRead:
        return cls(
            position=line.position,
            kind=line.kind,
            subscription_id=str(line.subscription_id),
            product_id=str(line.product_id),
            license_change_id=str(line.license_change_id) if line.license_change_id else None,
            description=line.description,
            period_start=line.period_start,
            period_end=line.period_end,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
            contract_id=contract_id,
            contract_name=contract_name,
        )


class DocumentRef(BaseModel):
    id: IdStr
    number: str


class SectionRead(BaseModel):
    """A section of a consolidated document: one location's (child contract's) charges of the cycle."""

    id: IdStr | None
    number: str | None
    """The document's number and ``-k`` (k from 1, in the order of the contracts' names); None in a preview."""
    contract_id: IdStr
    contract_name: str
    location: str
    """The contract's customer (the location's account, or the head office's when the locations share it)."""
    subtotal: MoneyOut
    lines: list[InvoiceLineRead]


class InvoiceRead(BaseModel):
    """An invoice or a credit note (``kind``): a credit note's amounts are negative, what it takes off."""

    id: IdStr | None
    """None in a dry run's preview."""
    number: str | None
    kind: DocumentKind = DocumentKind.INVOICE
    status: InvoiceStatus
    contract_id: IdStr
    customer_id: IdStr
    billing_run_id: IdStr | None
    """None for a void's credit note."""
    credit_reason: CreditReason | None = None
    """A credit note's: ``void`` (it answers a voided invoice) or ``negative_cycle`` (it bills a cycle whose
    total is negative)."""
    credits_invoice_id: IdStr | None = None
    credits_invoice_number: str | None = None
    credited_by: list[DocumentRef] = Field(default_factory=list)
    """An invoice's credit notes (a void's)."""
    seller: dict[str, Any] = Field(default_factory=dict)
    """As recorded at issue: ``name``, ``address`` (lines), ``email``, ``tax_id``; empty before it was recorded."""
    bill_to: dict[str, Any]
    """As recorded at issue: the customer's ``name``, ``address``, ``tax_id`` and the ``contract``'s name."""
    period_start: date
    period_end: date
    issue_date: date
    due_date: date
    payment_terms_days: int = 0
    payment_instructions: str = ""
    currency: str
    lines: list[InvoiceLineRead]
    subtotal: MoneyOut
    tax_rate: Decimal
    tax: MoneyOut
    total: MoneyOut
    voided_at: datetime | None = None
    void_reason: str | None = None
    consolidated: bool = False
    """A consolidated document (SPEC §8): a parent contract's customer billed for its locations' charges of a
    cycle, a section per location (``sections``); its ``lines`` are the sections' lines, in section order."""
    sections: list[SectionRead] = Field(default_factory=list)
    consolidated_invoice_id: IdStr | None = None
    """On a section (not sent on its own): the consolidated document it is part of."""
    consolidated_invoice_number: str | None = None

    @classmethod
    def from_model(
        cls,
        invoice: Invoice,
        lines: Sequence[InvoiceLine],
        *,
        credited_by: Sequence[tuple[str, str]] = (),
        credits_invoice_number: str | None = None,
        sections: Sequence[tuple[Invoice, Sequence[InvoiceLine]]] = (),
        consolidated_invoice_number: str | None = None,
    ) -> InvoiceRead:
        section_reads = [
            SectionRead(
                id=str(section.id),
                number=section.number,
                contract_id=str(section.contract_id),
                contract_name=section.bill_to.get("contract", ""),
                location=section.bill_to.get("name", ""),
                subtotal=section.subtotal,
                lines=[
                    InvoiceLineRead.of(line, str(section.contract_id), section.bill_to.get("contract", ""))
                    for line in section_lines
                ],
            )
            for section, section_lines in sections
        ]
        own = [
            InvoiceLineRead.of(line, str(invoice.contract_id), invoice.bill_to.get("contract", "")) for line in lines
        ]
        return cls(
            id=str(invoice.id),
            number=invoice.number,
            kind=invoice.kind,
            status=invoice.status,
            contract_id=str(invoice.contract_id),
            customer_id=str(invoice.customer_id),
            billing_run_id=str(invoice.billing_run_id) if invoice.billing_run_id else None,
            credit_reason=invoice.credit_reason,
            credits_invoice_id=str(invoice.credits_invoice_id) if invoice.credits_invoice_id else None,
            credits_invoice_number=credits_invoice_number,
            credited_by=[DocumentRef(id=note_id, number=number) for note_id, number in credited_by],
            seller=invoice.seller,
            bill_to=invoice.bill_to,
            period_start=invoice.period_start,
            period_end=invoice.period_end,
            issue_date=invoice.issue_date,
            due_date=invoice.due_date,
            payment_terms_days=invoice.payment_terms_days,
            payment_instructions=invoice.payment_instructions,
            currency=invoice.currency,
            lines=[line for section in section_reads for line in section.lines] if invoice.consolidated else own,
            subtotal=invoice.subtotal,
            tax_rate=invoice.tax_rate,
            tax=invoice.tax,
            total=invoice.total,
            voided_at=invoice.voided_at,
            void_reason=invoice.void_reason,
            consolidated=invoice.consolidated,
            sections=section_reads,
            consolidated_invoice_id=str(invoice.consolidated_invoice_id) if invoice.consolidated_invoice_id else None,
            consolidated_invoice_number=consolidated_invoice_number,
        )

    @classmethod
    def from_draft(cls, draft: Draft, run_date: date, names: Mapping[uuid.UUID, str] | None = None) -> InvoiceRead:
        contract = draft.contract
        credit = is_credit(draft)
        name = (names or {}).get(contract.id, "")
        return cls(
            id=None,
            number=None,
            kind=DocumentKind.CREDIT_NOTE if credit else DocumentKind.INVOICE,
            credit_reason=CreditReason.NEGATIVE_CYCLE if credit else None,
            status=InvoiceStatus.ISSUED,
            contract_id=str(contract.id),
            customer_id=str(contract.customer_id),
            billing_run_id=None,
            bill_to={},
            period_start=draft.cycle.start,
            period_end=draft.cycle.end,
            issue_date=run_date,
            due_date=run_date if credit else run_date + timedelta(days=contract.payment_terms_days),
            payment_terms_days=0 if credit else contract.payment_terms_days,
            currency=contract.currency,
            lines=_draft_lines(draft, name),
            subtotal=draft.subtotal,
            tax_rate=contract.tax_rate,
            tax=draft.tax,
            total=draft.total,
        )

    @classmethod
    def from_consolidation(cls, document: Consolidation, run_date: date) -> InvoiceRead:
        """A dry run's consolidated document, with its sections (no numbers yet)."""
        credit = is_credit(document)
        sections = [
            SectionRead(
                id=None,
                number=None,
                contract_id=str(section.contract.id),
                contract_name=name,
                location="",
                subtotal=section.subtotal,
                lines=_draft_lines(section, name),
            )
            for section, name in zip(document.sections, document.names, strict=True)
        ]
        terms_days = 0 if credit else document.payment_terms_days
        return cls(
            id=None,
            number=None,
            kind=DocumentKind.CREDIT_NOTE if credit else DocumentKind.INVOICE,
            credit_reason=CreditReason.NEGATIVE_CYCLE if credit else None,
            status=InvoiceStatus.ISSUED,
            contract_id=str(document.parent_id),
            customer_id=str(document.customer_id),
            billing_run_id=None,
            bill_to={},
            period_start=document.period_start,
            period_end=document.period_end,
            issue_date=run_date,
            due_date=run_date + timedelta(days=terms_days),
            payment_terms_days=terms_days,
            currency=document.currency,
            lines=[line for section in sections for line in section.lines],
            subtotal=document.subtotal,
            tax_rate=document.tax_rate,
            tax=document.tax,
            total=document.total,
            consolidated=True,
            sections=sections,
        )


def _draft_lines(draft: Draft, contract_name: str) -> list[InvoiceLineRead]:
    return [
        InvoiceLineRead(
            position=position,
            kind=line.kind,
            subscription_id=str(line.subscription_id),
            product_id=str(line.product_id),
            license_change_id=str(line.change_id) if line.change_id else None,
            description=line.description,
            period_start=line.period_start,
            period_end=line.period_end,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
            contract_id=str(draft.contract.id),
            contract_name=contract_name,
        )
        for position, line in enumerate(draft.lines, start=1)
    ]


def document_reads(session: Session, invoices: Sequence[Invoice]) -> list[InvoiceRead]:
    """Invoices or credit notes as the API shows them: with their lines, their credit notes and the number of
    the invoice they credit."""
    credited_by = service.credit_notes_of(session, [i.id for i in invoices])
    numbers = service.numbers_of(
        session, [i.credits_invoice_id for i in invoices] + [i.consolidated_invoice_id for i in invoices]
    )
    return [
        InvoiceRead.from_model(
            invoice,
            [] if invoice.consolidated else service.lines_of(session, invoice.id),
            credited_by=credited_by.get(invoice.id, ()),
            credits_invoice_number=numbers.get(invoice.credits_invoice_id) if invoice.credits_invoice_id else None,
            sections=[
                (section, service.lines_of(session, section.id)) for section in service.sections_of(session, invoice)
            ]
            if invoice.consolidated
            else (),
            consolidated_invoice_number=numbers.get(invoice.consolidated_invoice_id)
            if invoice.consolidated_invoice_id
            else None,
        )
        for invoice in invoices
    ]


def document_read(session: Session, invoice: Invoice) -> InvoiceRead:
    (read,) = document_reads(session, [invoice])
    return read


class BillingRunRead(BaseModel):
    id: IdStr | None
    """None for a dry run, which writes nothing."""
    date: date
    dry_run: bool
    invoices_created: int
    credit_notes_created: int = 0
    contracts_considered: int | None = None
    totals: dict[str, dict[str, Any]]
    preview: list[InvoiceRead] | None = Field(default=None, description="A dry run's invoices (the first 200).")
    started_at: datetime | None = None
    finished_at: datetime | None = None
    requested_by: str | None = None
    more: bool = Field(
        default=False,
        description="Some contracts had more cycles due than one run bills (36): run again for the same date.",
    )
    contracts_with_more: int = 0

    @classmethod
    def from_summary(cls, summary: RunSummary, run: BillingRun | None) -> BillingRunRead:
        totals = {currency: t.as_json() for currency, t in summary.totals.items()}
        preview = (
            [
                InvoiceRead.from_consolidation(d, summary.run_date)
                if isinstance(d, Consolidation)
                else InvoiceRead.from_draft(d, summary.run_date, summary.names)
                for d in summary.preview
            ]
            if summary.dry_run
            else None
        )
        return cls(
            id=str(run.id) if run else None,
            date=summary.run_date,
            dry_run=summary.dry_run,
            invoices_created=summary.invoices_created,
            credit_notes_created=summary.credit_notes_created,
            contracts_considered=summary.contracts_considered,
            totals=totals,
            preview=preview,
            started_at=run.started_at if run else None,
            finished_at=run.finished_at if run else None,
            requested_by=run.requested_by if run else None,
            more=summary.more,
            contracts_with_more=summary.contracts_with_more,
        )

    @classmethod
    def from_model(cls, run: BillingRun) -> BillingRunRead:
        return cls(
            id=str(run.id),
            date=run.run_date,
            dry_run=False,
            invoices_created=run.invoices_created,
            credit_notes_created=run.credit_notes_created,
            totals=run.totals,
            started_at=run.started_at,
            finished_at=run.finished_at,
            requested_by=run.requested_by,
        )


class VoidRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(min_length=1, max_length=2000), MultiLine]
