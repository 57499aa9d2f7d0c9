"""customers, contracts, subscriptions, license changes

Revision ID: 4a477321b1aa
Revises: 66c9a47c93ec
Create Date: 2026-11-21 23:41:04.238445
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4a477321b1aa"
down_revision: str | Sequence[str] | None = "66c9a47c93ec"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "customer_accounts",
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("parent_customer_id", sa.Uuid(), nullable=True),
        sa.Column("tenant_id", sa.String(length=100), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("billing_address", sa.JSON(), nullable=False),
        sa.Column(
            "status", sa.Enum("active", "inactive", name="accountstatus", native_enum=False, length=16), nullable=False
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_customer_id"],
            ["customer_accounts.id"],
            name=op.f("fk_customer_accounts_parent_customer_id_customer_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_accounts")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_customer_accounts_tenant_id")),
    )
    with op.batch_alter_table("customer_accounts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_accounts_parent_customer_id"), ["parent_customer_id"], unique=False
        )

    op.create_table(
        "billing_contracts",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("parent_contract_id", sa.Uuid(), nullable=True),
        sa.Column("billable", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "billing_frequency",
            sa.Enum("monthly", "quarterly", "annual", name="billingfrequency", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column(
            "billing_policy",
            sa.Enum("advance", "arrears", name="billingpolicy", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("auto_renew", sa.Boolean(), nullable=False),
        sa.Column(
            "proration_unit",
            sa.Enum("days", "months", name="prorationunit", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("process_refunds", sa.Boolean(), nullable=False),
        sa.Column("payment_terms_days", sa.Integer(), nullable=False),
        sa.Column("tax_rate", sa.BigInteger(), nullable=False),
        sa.Column(
            "status", sa.Enum("active", "inactive", name="contractstatus", native_enum=False, length=16), nullable=False
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer_accounts.id"],
            name=op.f("fk_billing_contracts_customer_id_customer_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["parent_contract_id"],
            ["billing_contracts.id"],
            name=op.f("fk_billing_contracts_parent_contract_id_billing_contracts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_contracts")),
    )
    with op.batch_alter_table("billing_contracts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_contracts_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_billing_contracts_parent_contract_id"), ["parent_contract_id"], unique=False
        )

    op.create_table(
        "contacts",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("invited", "active", "disabled", name="contactstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("invitation_hash", sa.String(length=64), nullable=True),
        sa.Column("invitation_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("password_hash", sa.String(length=300), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer_accounts.id"],
            name=op.f("fk_contacts_customer_id_customer_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("customer_id", "email", name=op.f("uq_contacts_customer_id_email")),
        sa.UniqueConstraint("invitation_hash", name=op.f("uq_contacts_invitation_hash")),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contacts_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "subscriptions",
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("provider_account_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending", "active", "suspended", "cancelled", name="subscriptionstatus", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("term_start", sa.Date(), nullable=False),
        sa.Column("term_end", sa.Date(), nullable=False),
        sa.Column("auto_renew", sa.Boolean(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.Column("cost_price", sa.BigInteger(), nullable=True),
        sa.Column("billable", sa.Boolean(), nullable=False),
        sa.Column("allow_end_user_modification", sa.Boolean(), nullable=False),
        sa.Column(
            "reduction_behavior",
            sa.Enum(
                "allowed", "disallowed", "allowed_within_window", name="reductionbehavior", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("reduction_window_days", sa.Integer(), nullable=True),
        sa.Column("external_id", sa.String(length=100), nullable=True),
        sa.Column("parent_subscription_id", sa.Uuid(), nullable=True),
        sa.Column("linked_subscription_id", sa.Uuid(), nullable=True),
        sa.Column("bundle_id", sa.Uuid(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bundle_id"], ["bundles.id"], name=op.f("fk_subscriptions_bundle_id_bundles"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["billing_contracts.id"],
            name=op.f("fk_subscriptions_contract_id_billing_contracts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["linked_subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_subscriptions_linked_subscription_id_subscriptions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["parent_subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_subscriptions_parent_subscription_id_subscriptions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_subscriptions_product_id_products"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["provider_account_id"],
            ["provider_accounts.id"],
            name=op.f("fk_subscriptions_provider_account_id_provider_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subscriptions_contract_id"), ["contract_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_subscriptions_external_id"), ["external_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_subscriptions_linked_subscription_id"), ["linked_subscription_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_subscriptions_parent_subscription_id"), ["parent_subscription_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_subscriptions_product_id"), ["product_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_subscriptions_provider_account_id"), ["provider_account_id"], unique=False)

    op.create_table(
        "license_changes",
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "create",
                "quantity",
                "price",
                "suspend",
                "reactivate",
                "cancel",
                name="changekind",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("quantity_before", sa.Integer(), nullable=False),
        sa.Column("quantity_after", sa.Integer(), nullable=False),
        sa.Column("price_before", sa.BigInteger(), nullable=True),
        sa.Column("price_after", sa.BigInteger(), nullable=True),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column(
            "origin",
            sa.Enum(
                "portal",
                "operator",
                "api",
                "linked_child",
                "provider_sync",
                "system",
                name="changeorigin",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("requested_by", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("caused_by_change_id", sa.Uuid(), nullable=True),
        sa.Column(
            "provisioning_status",
            sa.Enum(
                "awaiting_provisioning",
                "provisioned",
                "failed",
                "not_applicable",
                name="provisioningstatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column(
            "billing_status",
            sa.Enum("open", "invoiced", name="billingstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("provisioned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["caused_by_change_id"],
            ["license_changes.id"],
            name=op.f("fk_license_changes_caused_by_change_id_license_changes"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_license_changes_subscription_id_subscriptions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_license_changes")),
    )
    with op.batch_alter_table("license_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_license_changes_caused_by_change_id"), ["caused_by_change_id"], unique=False
        )
        batch_op.create_index(
            "ix_license_changes_provisioning_queue", ["provisioning_status", "effective_date"], unique=False
        )
        batch_op.create_index(
            "ix_license_changes_subscription_created", ["subscription_id", "created_at"], unique=False
        )

    op.create_table(
        "scheduled_changes",
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("at_renewal", sa.Boolean(), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=True),
        sa.Column(
            "origin",
            sa.Enum(
                "portal",
                "operator",
                "api",
                "linked_child",
                "provider_sync",
                "system",
                name="changeorigin",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("requested_by", sa.String(length=320), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "scheduled", "applied", "failed", "cancelled", name="scheduledstatus", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("applied_change_id", sa.Uuid(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["applied_change_id"],
            ["license_changes.id"],
            name=op.f("fk_scheduled_changes_applied_change_id_license_changes"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_scheduled_changes_subscription_id_subscriptions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_changes")),
    )
    with op.batch_alter_table("scheduled_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scheduled_changes_subscription_id"), ["subscription_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("scheduled_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scheduled_changes_subscription_id"))

    op.drop_table("scheduled_changes")
    with op.batch_alter_table("license_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_license_changes_subscription_created")
        batch_op.drop_index("ix_license_changes_provisioning_queue")
        batch_op.drop_index(batch_op.f("ix_license_changes_caused_by_change_id"))

    op.drop_table("license_changes")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscriptions_provider_account_id"))
        batch_op.drop_index(batch_op.f("ix_subscriptions_product_id"))
        batch_op.drop_index(batch_op.f("ix_subscriptions_parent_subscription_id"))
        batch_op.drop_index(batch_op.f("ix_subscriptions_linked_subscription_id"))
        batch_op.drop_index(batch_op.f("ix_subscriptions_external_id"))
        batch_op.drop_index(batch_op.f("ix_subscriptions_contract_id"))

    op.drop_table("subscriptions")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contacts_customer_id"))

    op.drop_table("contacts")
    with op.batch_alter_table("billing_contracts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_contracts_parent_contract_id"))
        batch_op.drop_index(batch_op.f("ix_billing_contracts_customer_id"))

    op.drop_table("billing_contracts")
    with op.batch_alter_table("customer_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_accounts_parent_customer_id"))

    op.drop_table("customer_accounts")
