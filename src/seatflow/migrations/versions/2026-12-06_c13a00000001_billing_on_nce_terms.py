"""billing on NCE terms: an index to read what was billed for a subscription's recent days

Charges follow each subscription's term and billing plan, every line is priced with the price in force on the
days it covers, term and contract ends are billed to their last day, and reductions inside Microsoft's 7-day
window are credited (SPEC §8, issue 13). All of it is read from what is stored already: the subscriptions'
term, billing plan and term dates, the license changes (price changes are dated ``price`` changes) and the
lines of the issued invoices. A run reads those lines by subscription from a day on: the index
``ix_invoice_lines_subscription_period_end`` (subscription_id, period_end) makes that a range read.

Price changes recorded before this revision were never billed (billing read the price of the day it ran): they
are marked invoiced, so the first run after it does not bill old days again at their price; from now on a price
change is billed like a quantity change, from its effective date.

Revision ID: c13a00000001
Revises: ad0deade4292
Create Date: 2026-12-06 11:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c13a00000001"
down_revision: str | Sequence[str] | None = "ad0deade4292"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("invoice_lines") as batch:
        batch.create_index("ix_invoice_lines_subscription_period_end", ["subscription_id", "period_end"], unique=False)
    op.execute(
        "UPDATE license_changes SET billing_status = 'invoiced' WHERE kind = 'price' AND billing_status = 'open'"
    )


def downgrade() -> None:
    """The price changes stay invoiced: before this revision billing never read them."""
    with op.batch_alter_table("invoice_lines") as batch:
        batch.drop_index("ix_invoice_lines_subscription_period_end")
