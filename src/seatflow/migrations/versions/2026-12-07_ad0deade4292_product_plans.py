"""product plans: the term and billing-plan combinations a product is sold in, each with its prices

A product lists the combinations it is sold in, as Microsoft's new commerce does (SPEC §2, 2026-12): ``P1M``
billed monthly; ``P1Y`` monthly or annual; ``P3Y`` monthly, annual or triennial; ``quarterly`` only for the
reseller's own services. Each combination has its own list and cost price, per unit per month.

Every existing product is sold in one combination from here on: its term, billed as it was (a license or add-on
billed quarterly, which new commerce does not sell, becomes billed monthly, and the product's own
``billing_frequency`` with it), at its list and cost price. The product's ``term``, ``billing_frequency``,
``list_price`` and ``cost_price`` stay: they are its default combination.

Downgrading drops the table: every combination but the default one is lost (the products keep the default).

Revision ID: ad0deade4292
Revises: 7c2d9e41a0b5
Create Date: 2026-12-07 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ad0deade4292"
down_revision: str | Sequence[str] | None = "7c2d9e41a0b5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "product_plans",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("term", sa.String(length=8), nullable=False),
        sa.Column("billing_plan", sa.String(length=16), nullable=False),
        sa.Column("list_price", sa.BigInteger(), nullable=True),
        sa.Column("cost_price", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_product_plans_product_id_products"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("product_id", "term", "billing_plan", name=op.f("pk_product_plans")),
    )
    op.execute(
        "UPDATE products SET billing_frequency = 'monthly' WHERE billing_frequency = 'quarterly' AND kind <> 'service'"
    )
    # Prices are copied as stored (integers of the same scale), never through a float.
    op.execute(
        "INSERT INTO product_plans (product_id, term, billing_plan, list_price, cost_price) "
        "SELECT id, term, billing_frequency, list_price, cost_price FROM products"
    )


def downgrade() -> None:
    op.drop_table("product_plans")
