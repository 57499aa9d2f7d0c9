"""price rules: how a subscription's unit price is decided (SPEC §15)

- ``price_rules``: markup (cost + %), ERP discount (ERP - %) or fixed price rules, scoped to everything, a
  product, a customer, a customer and product, or one subscription (an operator's override, with a reason), with
  their guards (allow above ERP; an override may allow below cost), who made them and when they were retired.
- ``subscriptions.price_rule_id``: the rule that set the subscription's unit price; NULL for every existing
  subscription (their prices were set by hand or from the catalog, and are kept at renewal as before).

Downgrading drops the column and the table (the rules are lost; prices already set stay).

Revision ID: c14b00000002
Revises: c14a00000001
Create Date: 2026-12-10 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c14b00000002"
down_revision: str | Sequence[str] | None = "c14a00000001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "price_rules",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=24), nullable=False),
        sa.Column("percent", sa.BigInteger(), nullable=True),
        sa.Column("fixed_price", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("product_id", sa.Uuid(), nullable=True),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("subscription_id", sa.Uuid(), nullable=True),
        sa.Column("allow_above_erp", sa.Boolean(), nullable=False),
        sa.Column("allow_below_cost", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_by", sa.String(length=100), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer_accounts.id"],
            name=op.f("fk_price_rules_customer_id_customer_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_price_rules_product_id_products"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_price_rules_subscription_id_subscriptions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_rules")),
    )
    op.create_index(op.f("ix_price_rules_customer_id"), "price_rules", ["customer_id"], unique=False)
    op.create_index(op.f("ix_price_rules_product_id"), "price_rules", ["product_id"], unique=False)
    op.create_index(op.f("ix_price_rules_subscription_id"), "price_rules", ["subscription_id"], unique=False)
    # No foreign key (the rules already point at subscriptions; rules are retired, never deleted).
    op.add_column("subscriptions", sa.Column("price_rule_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("price_rule_id")
    op.drop_index(op.f("ix_price_rules_subscription_id"), table_name="price_rules")
    op.drop_index(op.f("ix_price_rules_product_id"), table_name="price_rules")
    op.drop_index(op.f("ix_price_rules_customer_id"), table_name="price_rules")
    op.drop_table("price_rules")
