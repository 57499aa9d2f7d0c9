"""license_changes: index on (subscription_id, provisioning_status, effective_date) for the worker's claim (issue 16)

The claim asks, per subscription, whether it has a due awaiting change, a failed one, a notified one. With only
``(provisioning_status, effective_date)`` and ``(subscription_id, created_at)`` to choose from, SQLite answered
each from the first, scanning every awaiting change of the whole queue once per subscription (EXPLAIN QUERY PLAN:
``SEARCH license_changes USING INDEX ix_license_changes_provisioning_queue (provisioning_status=?)``): a claim's
cost grew with subscriptions x queued changes. This index answers each gate with two equalities.

Nothing else changes; downgrading drops the index.

Revision ID: c16a00000001
Revises: c15b00000002
Create Date: 2026-12-14 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c16a00000001"
down_revision: str | Sequence[str] | None = "c15b00000002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("license_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_license_changes_subscription_status",
            ["subscription_id", "provisioning_status", "effective_date"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("license_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_license_changes_subscription_status")
