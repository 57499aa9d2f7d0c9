"""cost lines: what Microsoft bills the reseller (the new-commerce reconciliation line items) and their imports

- ``cost_imports``: one row per import of reconciliation lines into a provider account (a file, or a fetch of an
  invoice's billed lines or of a period's unbilled lines from Partner Center): its kind (billed, unbilled), invoice
  number or period, currency and counts (read, inserted, unchanged, replaced, superseded).
- ``cost_lines``: one row per line item: invoice number ('' when unbilled), customer tenant and subscription ids
  (lower case), order, ``ProductId:SkuId``, charge type as Microsoft writes it, charge dates, quantity and billable
  quantity, unit and effective unit price, subtotal, tax and total (scale 10^-6), currency, term and billing
  frequency, reference id; unique per account by ``line_key`` (a digest of the line). A line is in force while
  ``superseded_by_import_id`` is NULL: a later unbilled import of its period replaces it, or a billed line
  supersedes it (``superseded_by_line_id``).

Nothing existing changes. Downgrading drops both tables (every imported cost line is lost).

Revision ID: c14c00000003
Revises: c14b00000002
Create Date: 2026-12-11 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c14c00000003"
down_revision: str | Sequence[str] | None = "c14b00000002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cost_imports",
        sa.Column("provider_account_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("invoice_number", sa.String(length=40), nullable=False),
        sa.Column("period", sa.Date(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("lines_read", sa.Integer(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("replaced", sa.Integer(), nullable=False),
        sa.Column("superseded", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_account_id"],
            ["provider_accounts.id"],
            name=op.f("fk_cost_imports_provider_account_id_provider_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cost_imports")),
    )
    op.create_index(op.f("ix_cost_imports_provider_account_id"), "cost_imports", ["provider_account_id"], unique=False)
    op.create_table(
        "cost_lines",
        sa.Column("provider_account_id", sa.Uuid(), nullable=False),
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("line_key", sa.String(length=64), nullable=False),
        sa.Column("invoice_number", sa.String(length=40), nullable=False),
        sa.Column("billed", sa.Boolean(), nullable=False),
        sa.Column("billing_period", sa.Date(), nullable=False),
        sa.Column("customer_tenant_id", sa.String(length=100), nullable=False),
        sa.Column("customer_name", sa.String(length=300), nullable=False),
        sa.Column("subscription_id", sa.String(length=100), nullable=False),
        sa.Column("order_id", sa.String(length=100), nullable=False),
        sa.Column("order_date", sa.Date(), nullable=True),
        sa.Column("product_id", sa.String(length=40), nullable=False),
        sa.Column("sku_id", sa.String(length=40), nullable=False),
        sa.Column("availability_id", sa.String(length=40), nullable=False),
        sa.Column("product_key", sa.String(length=64), nullable=False),
        sa.Column("sku_name", sa.String(length=300), nullable=False),
        sa.Column("product_name", sa.String(length=300), nullable=False),
        sa.Column("charge_type", sa.String(length=32), nullable=False),
        sa.Column("charge_start", sa.Date(), nullable=False),
        sa.Column("charge_end", sa.Date(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("billable_quantity", sa.BigInteger(), nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.Column("effective_unit_price", sa.BigInteger(), nullable=False),
        sa.Column("subtotal", sa.BigInteger(), nullable=False),
        sa.Column("tax_total", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("term_and_billing_cycle", sa.String(length=300), nullable=False),
        sa.Column("billing_frequency", sa.String(length=16), nullable=False),
        sa.Column("reference_id", sa.String(length=100), nullable=False),
        sa.Column("superseded_by_import_id", sa.Uuid(), nullable=True),
        sa.Column("superseded_by_line_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["cost_imports.id"],
            name=op.f("fk_cost_lines_import_id_cost_imports"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["provider_account_id"],
            ["provider_accounts.id"],
            name=op.f("fk_cost_lines_provider_account_id_provider_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["superseded_by_import_id"],
            ["cost_imports.id"],
            name=op.f("fk_cost_lines_superseded_by_import_id_cost_imports"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["superseded_by_line_id"],
            ["cost_lines.id"],
            name=op.f("fk_cost_lines_superseded_by_line_id_cost_lines"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cost_lines")),
        sa.UniqueConstraint("provider_account_id", "line_key", name=op.f("uq_cost_lines_line_key")),
    )
    op.create_index(op.f("ix_cost_lines_import_id"), "cost_lines", ["import_id"], unique=False)
    op.create_index(op.f("ix_cost_lines_customer_tenant_id"), "cost_lines", ["customer_tenant_id"], unique=False)
    op.create_index(op.f("ix_cost_lines_subscription_id"), "cost_lines", ["subscription_id"], unique=False)
    op.create_index(op.f("ix_cost_lines_product_key"), "cost_lines", ["product_key"], unique=False)
    op.create_index(
        "ix_cost_lines_account_period", "cost_lines", ["provider_account_id", "billing_period"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_cost_lines_account_period", table_name="cost_lines")
    op.drop_index(op.f("ix_cost_lines_product_key"), table_name="cost_lines")
    op.drop_index(op.f("ix_cost_lines_subscription_id"), table_name="cost_lines")
    op.drop_index(op.f("ix_cost_lines_customer_tenant_id"), table_name="cost_lines")
    op.drop_index(op.f("ix_cost_lines_import_id"), table_name="cost_lines")
    op.drop_table("cost_lines")
    op.drop_index(op.f("ix_cost_imports_provider_account_id"), table_name="cost_imports")
    op.drop_table("cost_imports")
