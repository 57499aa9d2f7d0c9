"""One entry for every catalog import, used by the API and the CLI alike."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy.orm import Session

from seatflow.catalog.document import import_document
from seatflow.catalog.errors import ImportInvalid
from seatflow.catalog.microsoft_csv import decode, import_licensing_csv
from seatflow.catalog.models import ProductKind
from seatflow.catalog.providers import require_provider_account
from seatflow.catalog.schemas import ImportResult


class ImportFormat(enum.StrEnum):
    DOCUMENT = "document"
    MICROSOFT_CSV = "microsoft_csv"


def detect_format(content: bytes, filename: str | None = None) -> ImportFormat:
    """A ``.csv`` name, or a first line naming the licensing CSV's columns, means the licensing CSV."""
    if filename and filename.lower().endswith(".csv"):
        return ImportFormat.MICROSOFT_CSV
    head = content[:500].lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0].lower()
    if b"string_id" in head.replace(b" ", b"") or b"product_display_name" in head:
        return ImportFormat.MICROSOFT_CSV
    return ImportFormat.DOCUMENT


def import_catalog(
    session: Session,
    *,
    content: bytes,
    fmt: ImportFormat | None,
    default_currency: str,
    provider_account: str | None = None,
    kind: ProductKind = ProductKind.LICENSE,
    filename: str | None = None,
    now: datetime | None = None,
) -> ImportResult:
    """Raises ImportInvalid naming the line for anything unreadable; the caller rolls back on any error."""
    fmt = fmt or detect_format(content, filename)
    if fmt is ImportFormat.MICROSOFT_CSV:
        if not provider_account:
            raise ImportInvalid("Importing the licensing CSV needs the provider account to put the products in.")
        account = require_provider_account(session, provider_account)
        return import_licensing_csv(
            session, content=content, account=account, kind=kind, default_currency=default_currency
        )
    return import_document(session, text=decode(content), default_currency=default_currency, now=now)
