"""scheduled changes keep force and reason

Revision ID: 01c0e2f3e7b3
Revises: 4a477321b1aa
Create Date: 2026-11-22 00:28:27.271008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "01c0e2f3e7b3"
down_revision: str | Sequence[str] | None = "4a477321b1aa"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("scheduled_changes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("force", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scheduled_changes", schema=None) as batch_op:
        batch_op.drop_column("reason")
        batch_op.drop_column("force")
