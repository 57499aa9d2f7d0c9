"""license_changes: indexes for the seat batches' window read: (subscription_id, effective_date), and ``id`` added
to (subscription_id, created_at)

``subscriptions.batches.batches_of`` finds, for a subscription, the first change (in recording order) effective
from its refund window's cut-off, then the seat change recorded just before it, and reads from there: a
reduction costs its window's changes rather than its term's. With only ``(subscription_id, created_at)`` and
``(subscription_id, provisioning_status, effective_date)`` to choose from, the first search walks every change of
the term; ``ix_license_changes_subscription_effective`` answers it with the window's changes
(``effective_date >= cut-off``) only. Recording order is ``(created_at, id)``: with ``id`` in
``ix_license_changes_subscription_created`` the change before the first one is the next entry of a backward walk
(PostgreSQL sorted every earlier change of the term to find it without), and the read needs no sort.

Nothing else changes; downgrading drops the new index and puts back ``(subscription_id, created_at)``.

Revision ID: c17a00000001
Revises: c16a00000001
Create Date: 2026-12-15 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c17a00000001"
down_revision: str | Sequence[str] | None = "c16a00000001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("license_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_license_changes_subscription_effective", ["subscription_id", "effective_date"], unique=False
        )
        batch_op.drop_index("ix_license_changes_subscription_created")
        batch_op.create_index(
            "ix_license_changes_subscription_created", ["subscription_id", "created_at", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("license_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_license_changes_subscription_created")
        batch_op.create_index(
            "ix_license_changes_subscription_created", ["subscription_id", "created_at"], unique=False
        )
        batch_op.drop_index("ix_license_changes_subscription_effective")
