"""longer product keys, lower-case tenant ids

Products: ``offer_id`` and ``provisioning_id`` grow from 100 to 200 characters (Microsoft's licensing CSV has
String_Ids of 103), so the real file imports on PostgreSQL as it does on SQLite.

Customer accounts: tenant ids are GUIDs or domain names, so ``ABC…`` and ``abc…`` are one tenant. Existing ids
are rewritten lower-case (the application stores and looks them up that way from now on, which makes the
existing unique constraint case-insensitive). If two accounts are mapped to one tenant spelt in different
cases, the upgrade stops without changing anything and names them: a tenant maps to one account, and which
mapping is right is for a person to decide (clear or correct one with the previous version, then upgrade).

Revision ID: e4116a1c8623
Revises: 5b1f0c3d9e27
Create Date: 2026-11-23 09:00:00
"""

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e4116a1c8623"
down_revision: str | Sequence[str] | None = "5b1f0c3d9e27"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = ("offer_id", "provisioning_id")


def upgrade() -> None:
    bind = op.get_bind()
    _lower_case_tenant_ids(bind)
    _resize_keys(bind, sa.String(length=100), sa.String(length=200))


def downgrade() -> None:
    bind = op.get_bind()
    for column in KEYS:
        longest = bind.execute(sa.text(f"SELECT max(length({column})) FROM products")).scalar()  # noqa: S608
        if longest is not None and longest > 100:
            raise RuntimeError(
                f"products.{column} has values of {longest} characters; the previous schema holds 100. "
                "Shorten or remove those products before downgrading."
            )
    _resize_keys(bind, sa.String(length=200), sa.String(length=100))


def _lower_case_tenant_ids(bind: sa.Connection) -> None:
    rows = bind.execute(sa.text("SELECT id, name, tenant_id FROM customer_accounts WHERE tenant_id IS NOT NULL")).all()
    # Lower-cased in Python, as the application does: SQLite's lower() knows only ASCII, PostgreSQL's more.
    by_tenant: dict[str, list[sa.Row[tuple[object, str, str]]]] = defaultdict(list)
    for row in rows:
        by_tenant[row.tenant_id.strip().lower()].append(row)
    clashes = {tenant: found for tenant, found in by_tenant.items() if len(found) > 1}
    if clashes:
        named = "; ".join(
            f"{tenant}: " + ", ".join(f"{row.name!r} ({row.id}, as {row.tenant_id!r})" for row in found)
            for tenant, found in sorted(clashes.items())
        )
        raise RuntimeError(
            "Tenant ids are case-insensitive now, and these customer accounts are mapped to one tenant spelt in "
            f"different cases: {named}. A tenant maps to one account: correct or clear the other mappings with "
            "the previous version (PATCH /api/v1/customers/{id} with tenant_id), then upgrade again. "
            "Nothing was changed."
        )
    update = sa.text("UPDATE customer_accounts SET tenant_id = :tenant_id WHERE id = :id")
    for tenant, (row,) in by_tenant.items():
        if row.tenant_id != tenant:
            bind.execute(update, {"tenant_id": tenant, "id": row.id})


def _resize_keys(bind: sa.Connection, old: sa.String, new: sa.String) -> None:
    if bind.dialect.name != "sqlite":
        with op.batch_alter_table("products", schema=None) as batch_op:
            for column in KEYS:
                batch_op.alter_column(column, existing_type=old, type_=new, existing_nullable=True)
        return
    # SQLite cannot change a column's type: batch mode copies the table into a new one and drops the old. With
    # foreign keys on, that drop would delete the products' possible-parent edges (ON DELETE CASCADE) or be
    # refused (RESTRICT), so it runs as SQLite's documented procedure: foreign keys off (only possible outside a
    # transaction), the copy in one transaction, foreign_key_check before COMMIT, foreign keys on again.
    with op.get_context().autocommit_block():
        op.execute("PRAGMA foreign_keys=OFF")
        try:
            op.execute("BEGIN IMMEDIATE")
            try:
                with op.batch_alter_table("products", schema=None, recreate="always") as batch_op:
                    for column in KEYS:
                        batch_op.alter_column(column, existing_type=old, type_=new, existing_nullable=True)
                broken = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"copying products broke foreign keys: {broken[:5]}")
            except BaseException:
                op.execute("ROLLBACK")
                raise
            op.execute("COMMIT")
        finally:
            op.execute("PRAGMA foreign_keys=ON")
