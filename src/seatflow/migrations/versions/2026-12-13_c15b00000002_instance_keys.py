"""instance keys: the signing key of the CSRF tokens of forms shown before login (issue 15, identity in one place)

- ``instance_keys``: name (primary key), value, created_at. This migration stores one row, ``signing``: 32 random
  bytes (hex), made here so that every process of one installation (``serve --workers 2``, the CLI) signs alike
  with nothing to configure. ``SEATFLOW_SECRET_KEY`` takes its place when set.

Nothing existing changes (the operators', sessions' and login attempts' tables only moved module, to
``seatflow.auth.models``). Downgrading drops the table; forms shown before the downgrade stop being accepted.

Revision ID: c15b00000002
Revises: c15a00000001
Create Date: 2026-12-13 09:00:00
"""

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "c15b00000002"
down_revision: str | Sequence[str] | None = "c15a00000001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    keys = op.create_table(
        "instance_keys",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_instance_keys")),
    )
    op.bulk_insert(keys, [{"name": "signing", "value": secrets.token_hex(32), "created_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table("instance_keys")
