from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from seatflow.catalog.schemas import Currency, Name
from seatflow.customers.models import AccountStatus, Contact, ContactRole, ContactStatus, CustomerAccount
from seatflow.schemas import IdStr, OneLine, TextIn

Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    OneLine,
]
TenantId = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=100, pattern=r"^[!-~]+$")
]
"""The provider's tenant (a GUID, or a domain such as ``contoso.onmicrosoft.com``): printable ASCII without spaces,
stored lower-case, so that ``ABC…`` and ``abc…`` are one tenant."""


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


AddressLine = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), OneLine]


class Address(_Input):
    line1: AddressLine = ""
    line2: AddressLine = ""
    city: AddressLine = ""
    region: AddressLine = ""
    postal_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20), OneLine] = ""
    country: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2), OneLine] = ""


TaxId = Annotated[str, StringConstraints(strip_whitespace=True, max_length=50), OneLine]
"""A tax or VAT number as the customer writes it (``DE123456789``), printed on its invoices."""


class CustomerCreate(_Input):
    name: Name
    parent_customer_id: TextIn | None = None
    tenant_id: TenantId | None = None
    currency: Currency | None = None
    billing_address: Address = Field(default_factory=Address)
    tax_id: TaxId | None = None


class CustomerUpdate(_Input):
    name: Name | None = None
    parent_customer_id: TextIn | None = None
    tenant_id: TenantId | None = None
    billing_address: Address | None = None
    tax_id: TaxId | None = None
    """An empty string or null clears it."""
    status: AccountStatus | None = None


class CustomerRead(BaseModel):
    id: IdStr
    name: str
    parent_customer_id: IdStr | None
    tenant_id: str | None
    currency: str
    billing_address: dict[str, Any]
    tax_id: str | None
    status: AccountStatus
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, customer: CustomerAccount) -> CustomerRead:
        return cls.model_validate(customer, from_attributes=True)


class ContactCreate(_Input):
    email: Email
    name: Name
    roles: list[ContactRole] = Field(min_length=1)


class ContactUpdate(_Input):
    name: Name | None = None
    roles: list[ContactRole] | None = Field(default=None, min_length=1)
    status: ContactStatus | None = None


class ContactRead(BaseModel):
    id: IdStr
    customer_id: IdStr
    email: str
    name: str
    roles: list[ContactRole]
    status: ContactStatus
    invitation_expires_at: datetime | None
    invitation_link: str | None = None
    """Only in the answer that created the invitation: the link is not stored and cannot be shown again."""
    created_at: datetime

    @classmethod
    def from_model(cls, contact: Contact, *, invitation_link: str | None = None) -> ContactRead:
        read = cls.model_validate(contact, from_attributes=True)
        read.invitation_link = invitation_link
        return read
