"""invoices: index on contract_id (the billing run's voided-cycles query, invoice lists by contract)

Revision ID: 5b1f0c3d9e27
Revises: 1eecd5bbf5b2
Create Date: 2026-11-22 03:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5b1f0c3d9e27"
down_revision: str | Sequence[str] | None = "1eecd5bbf5b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invoices_contract_id"), ["contract_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoices_contract_id"))
