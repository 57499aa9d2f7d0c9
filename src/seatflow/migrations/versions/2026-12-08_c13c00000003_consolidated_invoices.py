"""consolidated invoices: one invoice per cycle for a parent contract's customer, a section per location

- Contracts: ``consolidate_child_invoices`` (existing contracts: false, each child keeps its own invoice).
- Invoices: ``consolidated`` (the consolidated document: a number, a bill-to and totals, no lines of its own;
  existing invoices: false) and ``consolidated_invoice_id`` (on a section, the per-contract document that is part
  of a consolidated one; existing invoices: NULL, they are sent on their own).
- The one-document-per-period index leaves consolidated documents out (``AND NOT consolidated``): the sections,
  ordinary per-contract rows, bill their contracts' periods, and a consolidated document never counts as a period
  billed for the parent contract. Every existing document is not consolidated, so the index keeps every row it had.

Downgrading deletes the consolidated documents (the sections stay, as the child contracts' own invoices, with the
numbers they had) and puts the index back.

Revision ID: c13c00000003
Revises: c13b00000002
Create Date: 2026-12-08 09:00:00
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision: str = "c13c00000003"
down_revision: str | Sequence[str] | None = "c13b00000002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_PREDICATE = "status = 'issued' AND (credit_reason IS NULL OR credit_reason <> 'void')"
NEW_PREDICATE = "status = 'issued' AND (credit_reason IS NULL OR credit_reason <> 'void') AND NOT consolidated"


def _recreate(table: str, change: Callable[[BatchOperations], None]) -> None:
    """``change`` the table in batch mode; on SQLite as c13b00000002 does (foreign keys off outside a transaction,
    the copy in one transaction, foreign_key_check before COMMIT), since other tables reference invoices."""
    if op.get_bind().dialect.name != "sqlite":
        with op.batch_alter_table(table) as batch:
            change(batch)
        return
    with op.get_context().autocommit_block():
        op.execute("PRAGMA foreign_keys=OFF")
        try:
            op.execute("BEGIN IMMEDIATE")
            try:
                with op.batch_alter_table(table, recreate="always") as batch:
                    change(batch)
                broken = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"copying {table} broke foreign keys: {broken[:5]}")
            except BaseException:
                op.execute("ROLLBACK")
                raise
            op.execute("COMMIT")
        finally:
            op.execute("PRAGMA foreign_keys=ON")


def upgrade() -> None:
    # A plain ADD COLUMN on both databases (NOT NULL with a default: every existing contract gets false).
    op.add_column(
        "billing_contracts",
        sa.Column("consolidate_child_invoices", sa.Boolean(), server_default=sa.false(), nullable=False),
    )

    def add(batch: BatchOperations) -> None:
        batch.add_column(sa.Column("consolidated", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("consolidated_invoice_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            "fk_invoices_consolidated_invoice_id_invoices",
            "invoices",
            ["consolidated_invoice_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch.create_index(batch.f("ix_invoices_consolidated_invoice_id"), ["consolidated_invoice_id"], unique=False)
        batch.drop_index(
            "uq_invoices_contract_cycle_issued",
            sqlite_where=sa.text(OLD_PREDICATE),
            postgresql_where=sa.text(OLD_PREDICATE),
        )
        batch.create_index(
            "uq_invoices_contract_cycle_issued",
            ["contract_id", "period_start"],
            unique=True,
            sqlite_where=sa.text(NEW_PREDICATE),
            postgresql_where=sa.text(NEW_PREDICATE),
        )

    _recreate("invoices", add)


def downgrade() -> None:
    op.execute("UPDATE invoices SET consolidated_invoice_id = NULL")
    op.execute("UPDATE invoices SET credits_invoice_id = NULL WHERE consolidated")  # RESTRICT: unlink, then delete
    op.execute("DELETE FROM invoices WHERE consolidated")

    def undo(batch: BatchOperations) -> None:
        batch.drop_index(
            "uq_invoices_contract_cycle_issued",
            sqlite_where=sa.text(NEW_PREDICATE),
            postgresql_where=sa.text(NEW_PREDICATE),
        )
        batch.drop_index(batch.f("ix_invoices_consolidated_invoice_id"))
        batch.drop_constraint("fk_invoices_consolidated_invoice_id_invoices", type_="foreignkey")
        batch.drop_column("consolidated_invoice_id")
        batch.drop_column("consolidated")
        batch.create_index(
            "uq_invoices_contract_cycle_issued",
            ["contract_id", "period_start"],
            unique=True,
            sqlite_where=sa.text(OLD_PREDICATE),
            postgresql_where=sa.text(OLD_PREDICATE),
        )

    _recreate("invoices", undo)
    _recreate("billing_contracts", lambda batch: batch.drop_column("consolidate_child_invoices"))
