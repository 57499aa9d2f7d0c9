"""new-commerce subscriptions: term, billing plan, co-term, expiry; cart ids; changes at renewal

Subscriptions carry their own ``term`` and ``billing_plan`` (SPEC §4, 2026-12), picked from their product's
combinations; existing subscriptions take their product's term and billing frequency, which is what they were
sold and billed on until now. ``co_term_subscription_id`` aligns the term end with another subscription's (NCE's
``customTermEndDate``); ``expired_at`` is when a subscription that did not renew ended (status ``expired``,
never "cancelled").

License changes keep the Partner Center cart they buy through (``provider_cart_id``, stored before checkout so
that after a lost answer the same cart is checked out again), the ``Location`` of a change Partner Center accepted
with ``202`` and is still applying (``provider_operation``: polled, never re-sent) and, for an auto-renew change, the value sent
(``auto_renew_after``).

Scheduled changes "at renewal" may also change the SKU (``product_id``), the term, the billing plan and the
co-term subscription (SPEC §7: changes at renewal go to Partner Center as ``scheduledNextTermInstructions``).

Revision ID: 7c2d9e41a0b5
Revises: e4116a1c8623
Create Date: 2026-12-06 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c2d9e41a0b5"
down_revision: str | Sequence[str] | None = "e4116a1c8623"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("term", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("billing_plan", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("co_term_subscription_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key(
            "fk_subscriptions_co_term_subscription_id_subscriptions",
            "subscriptions",
            ["co_term_subscription_id"],
            ["id"],
            ondelete="RESTRICT",
        )
    op.execute(
        "UPDATE subscriptions SET term = (SELECT products.term FROM products WHERE products.id = subscriptions.product_id),"
        " billing_plan = (SELECT products.billing_frequency FROM products WHERE products.id = subscriptions.product_id)"
    )
    with op.batch_alter_table("subscriptions") as batch:
        batch.alter_column("term", existing_type=sa.String(length=8), nullable=False)
        batch.alter_column("billing_plan", existing_type=sa.String(length=16), nullable=False)
    with op.batch_alter_table("license_changes") as batch:
        batch.add_column(sa.Column("provider_cart_id", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("auto_renew_after", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("provider_operation", sa.String(length=1000), nullable=True))
    with op.batch_alter_table("scheduled_changes") as batch:
        batch.add_column(sa.Column("product_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("term", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("billing_plan", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("co_term_subscription_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            "fk_scheduled_changes_product_id_products", "products", ["product_id"], ["id"], ondelete="RESTRICT"
        )
        batch.create_foreign_key(
            "fk_scheduled_changes_co_term_subscription_id_subscriptions",
            "subscriptions",
            ["co_term_subscription_id"],
            ["id"],
            ondelete="RESTRICT",
        )


def downgrade() -> None:
    bind = op.get_bind()
    expired = bind.execute(sa.text("SELECT count(*) FROM subscriptions WHERE status = 'expired'")).scalar()
    if expired:
        raise RuntimeError(
            f"{expired} subscriptions are expired, a status the previous schema does not know; "
            "downgrading would misstate them."
        )
    with op.batch_alter_table("scheduled_changes") as batch:
        batch.drop_constraint("fk_scheduled_changes_co_term_subscription_id_subscriptions", type_="foreignkey")
        batch.drop_constraint("fk_scheduled_changes_product_id_products", type_="foreignkey")
        for column in ("co_term_subscription_id", "billing_plan", "term", "product_id"):
            batch.drop_column(column)
    with op.batch_alter_table("license_changes") as batch:
        batch.drop_column("provider_operation")
        batch.drop_column("auto_renew_after")
        batch.drop_column("provider_cart_id")
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_constraint("fk_subscriptions_co_term_subscription_id_subscriptions", type_="foreignkey")
        for column in ("expired_at", "co_term_subscription_id", "billing_plan", "term"):
            batch.drop_column(column)
