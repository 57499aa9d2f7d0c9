"""provisioning: worker claims, order request ids, notifications

Revision ID: ddef1fd32aa7
Revises: 01c0e2f3e7b3
Create Date: 2026-11-22 01:57:53.388063
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ddef1fd32aa7"
down_revision: str | Sequence[str] | None = "01c0e2f3e7b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column(
            "kind",
            sa.Enum("manual_provisioning", name="notificationkind", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("provider_account_id", sa.Uuid(), nullable=False),
        sa.Column("license_change_id", sa.Uuid(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=True),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["license_change_id"],
            ["license_changes.id"],
            name=op.f("fk_notifications_license_change_id_license_changes"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["provider_account_id"],
            ["provider_accounts.id"],
            name=op.f("fk_notifications_provider_account_id_provider_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notifications_license_change_id"), ["license_change_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notifications_provider_account_id"), ["provider_account_id"], unique=False)

    with op.batch_alter_table("license_changes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("provider_request_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("provider_order_id", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("retry_at")
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claimed_by")

    with op.batch_alter_table("license_changes", schema=None) as batch_op:
        batch_op.drop_column("notified_at")
        batch_op.drop_column("provider_order_id")
        batch_op.drop_column("provider_request_id")
        batch_op.drop_column("last_attempt_at")

    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_provider_account_id"))
        batch_op.drop_index(batch_op.f("ix_notifications_license_change_id"))

    op.drop_table("notifications")
