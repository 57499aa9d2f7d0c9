"""schedule changes at cycle boundaries, bill-from dates, credit notes, invoices a finance team can send

- Contracts: ``schedule_from`` (the day the contract's billing frequency, policy and proration unit apply from;
  NULL: its start) and ``contract_schedules``, the schedules before it, so a change at a cycle boundary never
  re-bills or skips a period (SPEC §8); ``bill_from`` (NULL: the start), before which nothing is billed.
- Invoices: ``kind`` (``invoice`` or ``credit_note``), ``credit_reason`` and ``credits_invoice_id``; a void's
  credit note is issued without a billing run, so ``billing_run_id`` may be NULL. The one-document-per-period
  index now covers invoices and credit notes of negative cycles, not a void's credit note (which shares the
  voided invoice's period). Every existing row is an invoice.
- What a finance team sends: the seller and the payment instructions as they were at issue (existing invoices:
  empty, their PDF shows today's), the payment terms (existing invoices: due date less issue date), the
  customer's ``tax_id``.
- Billing runs count the credit notes they issued (existing runs: 0).

Existing invoices keep their period (``period_start``/``period_end``, recorded since 35d8fc9a9b66); billing now
decides what is billed from periods, not cycle indexes.

Downgrading deletes the credit notes (their lines, and the link of the license changes a negative cycle's credit
note settled) and the earlier schedules: contracts keep their current schedule, as if it had always applied.

Revision ID: c13b00000002
Revises: c13a00000001
Create Date: 2026-12-06 12:00:00
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision: str = "c13b00000002"
down_revision: str | Sequence[str] | None = "c13a00000001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_PREDICATE = "status = 'issued'"
NEW_PREDICATE = "status = 'issued' AND (credit_reason IS NULL OR credit_reason <> 'void')"


def _recreate(table: str, change: Callable[[BatchOperations], None]) -> None:
    """``change`` the table in batch mode. SQLite copies the table into a new one and drops the old: with foreign
    keys on, that drop is refused (other tables reference invoices), so it runs as SQLite's documented procedure,
    as e4116a1c8623 does: foreign keys off (only possible outside a transaction), the copy in one transaction,
    foreign_key_check before COMMIT, foreign keys on again."""
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
    with op.batch_alter_table("billing_contracts") as batch:
        batch.add_column(sa.Column("bill_from", sa.Date(), nullable=True))
        batch.add_column(sa.Column("schedule_from", sa.Date(), nullable=True))
    op.create_table(
        "contract_schedules",
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=False),
        sa.Column("billing_frequency", sa.String(length=16), nullable=False),
        sa.Column("billing_policy", sa.String(length=16), nullable=False),
        sa.Column("proration_unit", sa.String(length=16), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["billing_contracts.id"],
            name=op.f("fk_contract_schedules_contract_id_billing_contracts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_schedules")),
    )
    with op.batch_alter_table("contract_schedules") as batch:
        batch.create_index(batch.f("ix_contract_schedules_contract_id"), ["contract_id"], unique=False)

    with op.batch_alter_table("customer_accounts") as batch:
        batch.add_column(sa.Column("tax_id", sa.String(length=50), nullable=True))

    with op.batch_alter_table("billing_runs") as batch:  # existing runs issued no credit note
        batch.add_column(sa.Column("credit_notes_created", sa.Integer(), nullable=False, server_default="0"))

    with op.batch_alter_table("invoices") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("credit_reason", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("credits_invoice_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("seller", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("payment_terms_days", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("payment_instructions", sa.Text(), nullable=True))
    op.execute("UPDATE invoices SET kind = 'invoice', seller = '{}', payment_instructions = ''")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE invoices SET payment_terms_days = due_date - issue_date")
    else:
        op.execute(
            "UPDATE invoices SET payment_terms_days = CAST(julianday(due_date) - julianday(issue_date) AS INTEGER)"
        )

    def finish(batch: BatchOperations) -> None:
        batch.drop_index("uq_invoices_contract_cycle_issued")
        batch.alter_column("kind", existing_type=sa.String(length=16), nullable=False)
        batch.alter_column("seller", existing_type=sa.JSON(), nullable=False)
        batch.alter_column("payment_terms_days", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("payment_instructions", existing_type=sa.Text(), nullable=False)
        batch.alter_column("billing_run_id", existing_type=sa.Uuid(), nullable=True)
        batch.create_foreign_key(
            "fk_invoices_credits_invoice_id_invoices", "invoices", ["credits_invoice_id"], ["id"], ondelete="RESTRICT"
        )
        batch.create_index(batch.f("ix_invoices_credits_invoice_id"), ["credits_invoice_id"], unique=False)
        batch.create_index(
            "uq_invoices_contract_cycle_issued",
            ["contract_id", "period_start"],
            unique=True,
            sqlite_where=sa.text(NEW_PREDICATE),
            postgresql_where=sa.text(NEW_PREDICATE),
        )

    _recreate("invoices", finish)


def downgrade() -> None:
    op.execute(
        "UPDATE license_changes SET invoice_id = NULL"
        " WHERE invoice_id IN (SELECT id FROM invoices WHERE kind = 'credit_note')"
    )
    op.execute("DELETE FROM invoice_lines WHERE invoice_id IN (SELECT id FROM invoices WHERE kind = 'credit_note')")
    op.execute("DELETE FROM invoices WHERE kind = 'credit_note'")

    def undo(batch: BatchOperations) -> None:
        batch.drop_index(
            "uq_invoices_contract_cycle_issued",
            sqlite_where=sa.text(NEW_PREDICATE),
            postgresql_where=sa.text(NEW_PREDICATE),
        )
        batch.drop_index(batch.f("ix_invoices_credits_invoice_id"))
        batch.drop_constraint("fk_invoices_credits_invoice_id_invoices", type_="foreignkey")
        batch.alter_column("billing_run_id", existing_type=sa.Uuid(), nullable=False)
        batch.drop_column("payment_instructions")
        batch.drop_column("payment_terms_days")
        batch.drop_column("seller")
        batch.drop_column("credits_invoice_id")
        batch.drop_column("credit_reason")
        batch.drop_column("kind")
        batch.create_index(
            "uq_invoices_contract_cycle_issued",
            ["contract_id", "period_start"],
            unique=True,
            sqlite_where=sa.text(OLD_PREDICATE),
            postgresql_where=sa.text(OLD_PREDICATE),
        )

    _recreate("invoices", undo)
    _recreate("billing_runs", lambda batch: batch.drop_column("credit_notes_created"))
    _recreate("customer_accounts", lambda batch: batch.drop_column("tax_id"))
    with op.batch_alter_table("contract_schedules") as batch:
        batch.drop_index(batch.f("ix_contract_schedules_contract_id"))
    op.drop_table("contract_schedules")

    def plain(batch: BatchOperations) -> None:
        batch.drop_column("schedule_from")
        batch.drop_column("bill_from")

    _recreate("billing_contracts", plain)
