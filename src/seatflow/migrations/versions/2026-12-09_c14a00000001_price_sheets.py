"""price sheets: Microsoft's new-commerce price list entries (cost and ERP) and the imports that brought them

- ``price_sheet_imports``: one row per import of a price sheet into a provider account (a file or a fetch from
  Partner Center), with its counts.
- ``price_sheet_entries``: one row per price sheet row: ``ProductId:SkuId``, term, billing plan, market,
  currency, the cost (``UnitPrice``) and ERP (``ERP Price``) as written (one license, one billing period, scale
  10^-6) and per unit per month (scale 10^-4), effective start and end dates, the pricing tier range and the
  import that inserted or last changed it. Unique per account, key, term, plan, market, currency, effective
  start and tier minimum.

Nothing existing changes. Downgrading drops both tables (every imported price is lost).

Revision ID: c14a00000001
Revises: c13c00000003
Create Date: 2026-12-09 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c14a00000001"
down_revision: str | Sequence[str] | None = "c13c00000003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "price_sheet_imports",
        sa.Column("provider_account_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("unmatched_rows", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_account_id"],
            ["provider_accounts.id"],
            name=op.f("fk_price_sheet_imports_provider_account_id_provider_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_sheet_imports")),
    )
    op.create_index(
        op.f("ix_price_sheet_imports_provider_account_id"), "price_sheet_imports", ["provider_account_id"], unique=False
    )
    op.create_table(
        "price_sheet_entries",
        sa.Column("provider_account_id", sa.Uuid(), nullable=False),
        sa.Column("product_key", sa.String(length=64), nullable=False),
        sa.Column("term", sa.String(length=8), nullable=False),
        sa.Column("billing_plan", sa.String(length=16), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.Column("erp_price", sa.BigInteger(), nullable=True),
        sa.Column("cost_per_month", sa.BigInteger(), nullable=False),
        sa.Column("erp_per_month", sa.BigInteger(), nullable=True),
        sa.Column("effective_start", sa.Date(), nullable=False),
        sa.Column("effective_end", sa.Date(), nullable=True),
        sa.Column("tier_min", sa.Integer(), nullable=False),
        sa.Column("tier_max", sa.Integer(), nullable=True),
        sa.Column("sku_title", sa.String(length=300), nullable=False),
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["price_sheet_imports.id"],
            name=op.f("fk_price_sheet_entries_import_id_price_sheet_imports"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["provider_account_id"],
            ["provider_accounts.id"],
            name=op.f("fk_price_sheet_entries_provider_account_id_provider_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_sheet_entries")),
        sa.UniqueConstraint(
            "provider_account_id",
            "product_key",
            "term",
            "billing_plan",
            "market",
            "currency",
            "effective_start",
            "tier_min",
            name=op.f("uq_price_sheet_entries_key"),
        ),
    )
    op.create_index(op.f("ix_price_sheet_entries_import_id"), "price_sheet_entries", ["import_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_price_sheet_entries_import_id"), table_name="price_sheet_entries")
    op.drop_table("price_sheet_entries")
    op.drop_index(op.f("ix_price_sheet_imports_provider_account_id"), table_name="price_sheet_imports")
    op.drop_table("price_sheet_imports")
