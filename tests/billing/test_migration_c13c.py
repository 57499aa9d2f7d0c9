"""Migration c13c00000003 (consolidated invoices) carries existing billing data forward: existing contracts do not
consolidate, existing invoices are plain documents sent on their own that still bill their periods, and the
one-document-per-period index is still enforced. Downgrading and upgrading again works."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from seatflow.billing.models import Invoice
from seatflow.billing.schedules import Billed, billed_periods
from seatflow.db import migrate
from seatflow.db.engine import make_engine
from seatflow.models import metadata

NOW = datetime(2027, 1, 1, 12, tzinfo=UTC)


def _invoice(ids: dict[str, uuid.UUID], number: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "number": number,
        "contract_id": ids["contract"],
        "customer_id": ids["customer"],
        "billing_run_id": ids["run"],
        "kind": "invoice",
        "credit_reason": None,
        "credits_invoice_id": None,
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
        "seller": {},
        "payment_terms_days": 30,
        "payment_instructions": "",
        "created_at": NOW,
        **fields,
    }


def test_existing_invoices_stay_plain_and_bill_their_periods(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url, "c13b00000002")
    engine = make_engine(empty_database_url)
    try:
        old = sa.MetaData()
        old.reflect(engine)
        for table in old.tables.values():  # SQLite reflects a UUID as CHAR(32): bind them as the models do
            for column in table.columns:
                if column.name == "id" or column.name.endswith("_id"):
                    column.type = sa.Uuid()
        ids = {name: uuid.uuid4() for name in ("customer", "parent", "contract", "run")}
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
            contract = {
                "customer_id": ids["customer"],
                "billable": True,
                "is_default": False,
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
            }
            conn.execute(
                old.tables["billing_contracts"].insert(),
                [
                    contract | {"id": ids["parent"], "name": "Old parent", "billable": False},
                    contract | {"id": ids["contract"], "name": "Old location", "parent_contract_id": ids["parent"]},
                ],
            )
            conn.execute(
                old.tables["billing_runs"].insert(),
                {
                    "id": ids["run"],
                    "run_date": date(2026, 12, 1),
                    "requested_by": "tests",
                    "started_at": NOW,
                    "invoices_created": 2,
                    "totals": {},
                },
            )
            conn.execute(
                old.tables["invoices"].insert(),
                [
                    _invoice(ids, "INV-000001", status="void"),
                    _invoice(ids, "INV-000002"),  # December billed again
                ],
            )

        migrate.upgrade(empty_database_url)

        with Session(engine) as session:
            rows = session.execute(
                sa.select(Invoice.number, Invoice.consolidated, Invoice.consolidated_invoice_id).order_by(
                    Invoice.number
                )
            ).all()
            assert [tuple(row) for row in rows] == [("INV-000001", False, None), ("INV-000002", False, None)]
            flags = session.execute(sa.text("SELECT consolidate_child_invoices FROM billing_contracts")).scalars()
            assert {bool(flag) for flag in flags} == {False}
            assert billed_periods(session, [ids["contract"]]) == {
                ids["contract"]: Billed(date(2026, 12, 1), date(2026, 12, 31))
            }
        # The index still makes a second issued document for the period impossible.
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(Invoice.__table__.insert(), _invoice(ids, "INV-000003", consolidated=False))

        # Downgrading drops the consolidated documents; their sections stay as the contracts' own invoices.
        document = _invoice(ids, "INV-000004", contract_id=ids["parent"], consolidated=True)
        with engine.begin() as conn:
            conn.execute(Invoice.__table__.insert(), document)
            conn.execute(
                Invoice.__table__.update()
                .where(Invoice.__table__.c.number == "INV-000002")
                .values(consolidated_invoice_id=document["id"])
            )
        migrate.downgrade(empty_database_url, "c13b00000002")
        migrate.upgrade(empty_database_url)
        assert set(metadata.tables) <= set(sa.inspect(engine).get_table_names())
        with Session(engine) as session:
            assert session.execute(sa.select(sa.func.count()).select_from(Invoice)).scalar_one() == 2
    finally:
        engine.dispose()
