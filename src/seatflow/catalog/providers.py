"""Provider accounts: what each kind needs in its settings."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.orm import Session

from seatflow.catalog import repository
from seatflow.catalog.errors import (
    DuplicateName,
    InvalidProviderSettings,
    ProviderAccountNotFound,
    ProviderKindChange,
)
from seatflow.catalog.models import ProviderAccount, ProviderKind
from seatflow.catalog.schemas import SECRET_SETTINGS, ProviderAccountCreate, ProviderAccountUpdate
from seatflow.ids import parse_id

MASK = "********"


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PartnerCenterSettings(_Settings):
    """Where the Partner Center API is and how to get a token (none for the simulator)."""

    base_url: str = Field(pattern=r"^https?://[^\s/]+(/\S*)?$")
    auth: Literal["none", "client_credentials", "refresh_token"] = "none"
    token_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    refresh_token: str | None = None
    scope: str | None = None
    country: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    """The partner's billing currency: a price sheet imported into the account must be in it (pricing)."""
    price_sheet_base_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/\S*)?$")
    """Where the price sheet is read (Microsoft: ``https://api.partner.microsoft.com``); ``base_url`` when unset."""
    price_sheet_scope: str | None = Field(default=None, max_length=300)
    """The token scope for the price sheet's host, whose audience differs from Partner Center's API (Microsoft:
    ``https://api.partner.microsoft.com/.default``, an App+User token, so ``auth: refresh_token``); the
    account's own token when unset."""
    timeout_seconds: float = Field(default=30.0, gt=0, le=300)

    @model_validator(mode="after")
    def _credentials_for_auth(self) -> PartnerCenterSettings:
        needed = {
            "none": (),
            "client_credentials": ("token_url", "client_id", "client_secret"),
            "refresh_token": ("token_url", "client_id", "refresh_token"),
        }[self.auth]
        missing = [name for name in needed if not getattr(self, name)]
        if missing:
            raise ValueError(f"auth {self.auth} needs {', '.join(missing)}")
        return self


class ManualSettings(_Settings):
    notify_email: str | None = None
    instructions: str | None = None


class NoSettings(_Settings):
    pass


_SETTINGS_MODELS: dict[ProviderKind, type[_Settings]] = {
    ProviderKind.PARTNER_CENTER: PartnerCenterSettings,
    ProviderKind.MANUAL: ManualSettings,
    ProviderKind.DO_NOTHING: NoSettings,
    ProviderKind.LINKED: NoSettings,
}


def validate_settings(kind: ProviderKind, settings: dict[str, Any]) -> dict[str, Any]:
    try:
        parsed = _SETTINGS_MODELS[kind].model_validate(settings)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise InvalidProviderSettings(f"Settings of a {kind.value} provider account: {where}: {first['msg']}.") from exc
    return parsed.model_dump(exclude_none=True)


def require_provider_account(session: Session, account_ref: str) -> ProviderAccount:
    """By id, or by exact name (the CLI and catalog documents name accounts)."""
    account_id = parse_id(account_ref)
    account = repository.get_provider_account(session, account_id) if account_id else None
    if account is None:
        account = repository.provider_account_by_name(session, account_ref)
    if account is None:
        raise ProviderAccountNotFound(f"No provider account {account_ref!r}.")
    return account


def create_provider_account(session: Session, *, data: ProviderAccountCreate) -> ProviderAccount:
    if repository.provider_account_by_name(session, data.name) is not None:
        raise DuplicateName(f"A provider account named {data.name!r} exists already.")
    account = ProviderAccount(name=data.name, kind=data.kind, settings=validate_settings(data.kind, data.settings))
    session.add(account)
    session.flush()
    return account


def update_provider_account(
    session: Session, *, account: ProviderAccount, data: ProviderAccountUpdate
) -> ProviderAccount:
    if data.name is not None and data.name != account.name:
        if repository.provider_account_by_name(session, data.name) is not None:
            raise DuplicateName(f"A provider account named {data.name!r} exists already.")
        account.name = data.name
    if data.settings is not None:
        # A client that read the account back sees secrets masked; sending the mask keeps the secret.
        merged = {
            key: (account.settings.get(key) if key in SECRET_SETTINGS and value == MASK else value)
            for key, value in data.settings.items()
        }
        account.settings = validate_settings(account.kind, merged)
    session.flush()
    return account


def change_provider_kind(session: Session, *, account: ProviderAccount, kind: ProviderKind) -> None:
    """The kind decides how every product of the account provisions; it is fixed once products exist."""
    if kind is account.kind:
        return
    if repository.products_in_account(session, account.id):
        raise ProviderKindChange(
            f"Provider account {account.name!r} has products; its kind ({account.kind.value}) cannot change."
        )
    account.settings = validate_settings(kind, account.settings)
    account.kind = kind
    session.flush()
