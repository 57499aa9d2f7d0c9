"""catalog, api keys, counters, test clock

Revision ID: 66c9a47c93ec
Revises:
Create Date: 2026-11-21 23:30:53.363411
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "66c9a47c93ec"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "api_keys",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=20), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_table(
        "bundles",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "status", sa.Enum("active", "retired", name="catalogstatus", native_enum=False, length=16), nullable=False
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bundles")),
        sa.UniqueConstraint("name", name=op.f("uq_bundles_name")),
    )
    op.create_table(
        "counters",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_counters")),
    )
    op.create_table(
        "provider_accounts",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "partner_center", "manual", "do_nothing", "linked", name="providerkind", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_accounts")),
        sa.UniqueConstraint("name", name=op.f("uq_provider_accounts_name")),
    )
    op.create_table(
        "test_clock",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_clock")),
    )
    op.create_table(
        "products",
        sa.Column("product_code", sa.String(length=20), nullable=False),
        sa.Column("provider_account_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("license", "addon", "service", name="productkind", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("offer_id", sa.String(length=100), nullable=True),
        sa.Column("provisioning_id", sa.String(length=100), nullable=True),
        sa.Column("sku_id", sa.String(length=36), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("assignable_to_users", sa.Boolean(), nullable=False),
        sa.Column("unit", sa.String(length=30), nullable=False),
        sa.Column("min_quantity", sa.Integer(), nullable=False),
        sa.Column("max_quantity", sa.Integer(), nullable=True),
        sa.Column("term", sa.Enum("P1M", "P1Y", "P3Y", name="term", native_enum=False, length=8), nullable=False),
        sa.Column(
            "billing_frequency",
            sa.Enum("monthly", "quarterly", "annual", name="billingfrequency", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("list_price", sa.BigInteger(), nullable=True),
        sa.Column("cost_price", sa.BigInteger(), nullable=True),
        sa.Column(
            "reduction_behavior",
            sa.Enum(
                "allowed", "disallowed", "allowed_within_window", name="reductionbehavior", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("reduction_window_days", sa.Integer(), nullable=True),
        sa.Column("portal_enabled", sa.Boolean(), nullable=False),
        sa.Column(
            "status", sa.Enum("active", "retired", name="catalogstatus", native_enum=False, length=16), nullable=False
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("service_plans", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_account_id"],
            ["provider_accounts.id"],
            name=op.f("fk_products_provider_account_id_provider_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("product_code", name=op.f("uq_products_product_code")),
        sa.UniqueConstraint("provider_account_id", "offer_id", name=op.f("uq_products_provider_account_id_offer_id")),
        sa.UniqueConstraint(
            "provider_account_id", "provisioning_id", name=op.f("uq_products_provider_account_id_provisioning_id")
        ),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_products_provider_account_id"), ["provider_account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_products_sku_id"), ["sku_id"], unique=False)

    op.create_table(
        "bundle_items",
        sa.Column("bundle_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("quantity_multiplier", sa.Integer(), nullable=False),
        sa.Column("parent_position", sa.Integer(), nullable=True),
        sa.Column("billable", sa.Boolean(), nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bundle_id"], ["bundles.id"], name=op.f("fk_bundle_items_bundle_id_bundles"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_bundle_items_product_id_products"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bundle_items")),
        sa.UniqueConstraint("bundle_id", "position", name=op.f("uq_bundle_items_bundle_id_position")),
    )
    with op.batch_alter_table("bundle_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bundle_items_product_id"), ["product_id"], unique=False)

    op.create_table(
        "product_parents",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("parent_product_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_product_id"],
            ["products.id"],
            name=op.f("fk_product_parents_parent_product_id_products"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_product_parents_product_id_products"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("product_id", "parent_product_id", name=op.f("pk_product_parents")),
    )
    with op.batch_alter_table("product_parents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_product_parents_parent_product_id"), ["parent_product_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("product_parents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_parents_parent_product_id"))

    op.drop_table("product_parents")
    with op.batch_alter_table("bundle_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bundle_items_product_id"))

    op.drop_table("bundle_items")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_products_sku_id"))
        batch_op.drop_index(batch_op.f("ix_products_provider_account_id"))

    op.drop_table("products")
    op.drop_table("test_clock")
    op.drop_table("provider_accounts")
    op.drop_table("counters")
    op.drop_table("bundles")
    op.drop_table("api_keys")
