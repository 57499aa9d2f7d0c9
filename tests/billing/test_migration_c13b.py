"""Migration c13b00000002 carries existing billing data forward: existing invoices are invoices with their
periods and payment terms, existing runs issued no credit note, contracts keep their one schedule; and after it a
run goes on from the last period billed. Downgrading and upgrading again works."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from seatflow.billing.models import DocumentKind, Invoice
from seatflow.billing.schedules import Billed, billed_periods
from seatflow.db import migrate
from seatflow.db.engine import make_engine
from seatflow.models import metadata

NOW = datetime(2027, 1, 1, 12, tzinfo=UTC)


def test_existing_invoices_are_carried_forward(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url, "c13a00000001")
    engine = make_engine(empty_database_url)
    try:
        old = sa.MetaData()
        old.reflect(engine)
        for table in old.tables.values():  # SQLite reflects a UUID as CHAR(32): bind them as the models do
            for column in table.columns:
                if column.name == "id" or column.name.endswith("_id"):
                    column.type = sa.Uuid()
        ids = {name: uuid.uuid4() for name in ("customer", "contract", "run", "invoice")}
        with engine.begin() as conn:
            conn.execute(
                old.tables["customer_accounts"].insert(),
                {
                    "id": ids["customer"],
                    "name": "Old customer",
                    "currency": "USD",
                    "billing_address": {},
                    "status": "active",
                    "created_at": NOW,
                    "updated_at": NOW,
                },
            )
            conn.execute(
                old.tables["billing_contracts"].insert(),
                {
                    "id": ids["contract"],
                    "customer_id": ids["customer"],
                    "name": "Old contract",
                    "billable": True,
                    "is_default": True,
                    "currency": "USD",
                    "billing_frequency": "monthly",
                    "billing_policy": "advance",
                    "start_date": date(2026, 12, 1),
                    "term_months": 12,
                    "auto_renew": True,
                    "proration_unit": "days",
                    "process_refunds": False,
                    "payment_terms_days": 30,
                    "tax_rate": 0,
                    "status": "active",
                    "created_at": NOW,
                    "updated_at": NOW,
                },
            )
            conn.execute(
                old.tables["billing_runs"].insert(),
                {
                    "id": ids["run"],
                    "run_date": date(2026, 12, 1),
                    "requested_by": "tests",
                    "started_at": NOW,
                    "invoices_created": 1,
                    "totals": {},
                },
            )
            conn.execute(
                old.tables["invoices"].insert(),
                {
                    "id": ids["invoice"],
                    "number": "INV-000001",
                    "contract_id": ids["contract"],
                    "customer_id": ids["customer"],
                    "billing_run_id": ids["run"],
                    "cycle_index": 0,
                    "period_start": date(2026, 12, 1),
                    "period_end": date(2026, 12, 31),
                    "issue_date": date(2026, 12, 1),
                    "due_date": date(2026, 12, 31),
                    "currency": "USD",
                    "tax_rate": 0,
                    "subtotal": 0,
                    "tax": 0,
                    "total": 0,
                    "status": "issued",
                    "bill_to": {"name": "Old customer"},
                    "created_at": NOW,
                },
            )

        migrate.upgrade(empty_database_url)

        with Session(engine) as session:
            invoice = session.get_one(Invoice, ids["invoice"])
            assert (invoice.kind, invoice.credit_reason, invoice.credits_invoice_id) == (
                DocumentKind.INVOICE,
                None,
                None,
            )
            assert (invoice.period_start, invoice.period_end) == (date(2026, 12, 1), date(2026, 12, 31))
            assert invoice.payment_terms_days == 30  # Dec 31 - Dec 1
            assert (invoice.seller, invoice.payment_instructions) == ({}, "")
            run = session.execute(sa.text("SELECT credit_notes_created FROM billing_runs")).scalar_one()
            assert run == 0
            contract = session.execute(sa.text("SELECT bill_from, schedule_from FROM billing_contracts")).one()
            assert tuple(contract) == (None, None)
            # Billing goes on from the period the invoice billed.
            assert billed_periods(session, [ids["contract"]]) == {
                ids["contract"]: Billed(date(2026, 12, 1), date(2026, 12, 31))
            }
        migrate.downgrade(empty_database_url, "c13a00000001")
        migrate.upgrade(empty_database_url)
        assert set(metadata.tables) <= set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
