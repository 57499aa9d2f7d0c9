from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, validates

from seatflow.db.base import Base, IdMixin, TimestampMixin
from seatflow.db.types import UTCDateTime, enum_column


class AccountStatus(enum.StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class ContactRole(enum.StrEnum):
    ADMINISTRATOR = "administrator"
    SUBSCRIPTION_MANAGER = "subscription_manager"
    FINANCE_MANAGER = "finance_manager"
    ACCESS_CHILD_ACCOUNTS = "access_child_accounts"


class ContactStatus(enum.StrEnum):
    INVITED = "invited"
    ACTIVE = "active"
    DISABLED = "disabled"


class CustomerAccount(IdMixin, TimestampMixin, Base):
    __tablename__ = "customer_accounts"

    name: Mapped[str] = mapped_column(String(300))
    parent_customer_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("customer_accounts.id", ondelete="RESTRICT"), index=True
    )
    tenant_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    """The provider's customer/tenant id (Partner Center customer id) this account is mapped to; stored
    lower-case, so that the unique constraint is case-insensitive (tenant ids are GUIDs or domain names)."""
    currency: Mapped[str] = mapped_column(String(3))
    billing_address: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tax_id: Mapped[str | None] = mapped_column(String(50))
    """The customer's tax or VAT number, printed on its invoices."""
    status: Mapped[AccountStatus] = mapped_column(enum_column(AccountStatus, 16), default=AccountStatus.ACTIVE)

    @validates("tenant_id")
    def _normalize_tenant_id(self, _key: str, value: str | None) -> str | None:
        return normalize_tenant_id(value)


def normalize_tenant_id(value: str | None) -> str | None:
    """``ABC…`` and ``abc…`` are the same tenant: one spelling, lower-case, is stored and looked up."""
    return value.strip().lower() if value is not None else None


class Contact(IdMixin, TimestampMixin, Base):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("customer_id", "email"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("customer_accounts.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(300))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[ContactStatus] = mapped_column(enum_column(ContactStatus, 16), default=ContactStatus.INVITED)
    invitation_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    """SHA-256 of the invitation token; the token itself is only in the link."""
    invitation_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    password_hash: Mapped[str | None] = mapped_column(String(300))
    reset_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    """A password-reset link's token, hashed (only one link is valid at a time)."""
    reset_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
