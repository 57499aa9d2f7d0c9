"""Import Microsoft's "Product names and service plan identifiers for licensing" CSV.

The file has one row per (SKU, included service plan), so SKUs repeat. Each distinct String_Id becomes
one product of the chosen provider account: String_Id is its provisioning ID, GUID its ``sku_id``, the
display name its name, and the service plans are kept for reference. Re-importing is idempotent. The
real file's oddities (a String_Id with two GUIDs, differing names, non-ASCII or invisible characters, a GUID
cell with a stray character at its end) are warnings; a row that cannot be read or stored (a malformed GUID,
a control character, a name or String_Id longer than its column) is an error naming its line, and nothing is
imported, on SQLite as on PostgreSQL.

This is a measured hot path (bench/catalog_import.py): rows stream through ``csv``, and products are
written with set-based inserts and updates instead of one ORM object per product.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from seatflow.catalog.errors import ImportInvalid
from seatflow.catalog.models import (
    KEY_LENGTH,
    NAME_LENGTH,
    BillingFrequency,
    BillingPlan,
    CatalogStatus,
    Product,
    ProductKind,
    ProductPlan,
    ProviderAccount,
    ReductionBehavior,
    Term,
)
from seatflow.catalog.schemas import ImportResult
from seatflow.catalog.service import PRODUCT_CODE_COUNTER, format_product_code
from seatflow.db.sequences import allocate
from seatflow.ids import new_id
from seatflow.schemas import control_character

REQUIRED_COLUMNS = ("Product_Display_Name", "String_Id", "GUID")
OPTIONAL_COLUMNS = ("Service_Plan_Name", "Service_Plan_Id", "Service_Plans_Included_Friendly_Names")
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_NOT_HEX_AT_ENDS = re.compile(r"^[^0-9a-fA-F]+|[^0-9a-fA-F]+$")
MAX_WARNINGS = 200
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)


@dataclass
class CsvSku:
    string_id: str
    guid: str
    name: str
    line: int
    plans: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class ParsedCsv:
    skus: dict[str, CsvSku]
    rows: int
    warnings: list[str]


def decode(content: bytes) -> str:
    """UTF-8 with or without a byte-order mark; a bad byte is an error naming its line."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise ImportInvalid(f"line {line}: the file is not UTF-8 ({exc.reason}).", line=line) from exc


def _clean(text: str) -> tuple[str, bool]:
    """Unicode spaces become plain spaces and invisible characters go; True when anything changed."""
    if text.isascii():
        # Fast path, same result: the only ASCII space separator is " " and the invisible characters are
        # not ASCII, so only the whitespace collapsing below applies. Nearly every cell takes this path.
        cleaned = text
    else:
        cleaned = "".join(" " if unicodedata.category(c) == "Zs" else c for c in text.translate(_INVISIBLE))
    cleaned = " ".join(cleaned.split())
    return cleaned, cleaned != text.strip()


def read_guid(cell: str) -> tuple[str | None, bool]:
    """The GUID a cell holds, lower-case, and whether characters other than spaces had to be trimmed from its
    ends to find it (the real file has a GUID cell of 37 characters). A cell that is still no GUID once what
    cannot belong to one is trimmed from both ends (braces, dots, invisible characters) gives None: a stray hex
    digit cannot be told from a mistyped GUID."""
    text = cell.strip()
    if GUID.fullmatch(text):
        return text.lower(), False
    trimmed = _NOT_HEX_AT_ENDS.sub("", text)
    if GUID.fullmatch(trimmed):
        return trimmed.lower(), True
    return None, False


def _check_text(text: str, column: str, line: int, *, limit: int | None = None) -> None:
    """A control character or a value longer than its column is an error on every database."""
    found = control_character(text)
    if found is not None:
        raise ImportInvalid(f"line {line}: {column} has a control character ({found}).", line=line)
    if limit is not None and len(text) > limit:
        raise ImportInvalid(f"line {line}: {column} has {len(text)} characters; at most {limit} are kept.", line=line)


def _lines(text: str) -> Iterator[str]:
    """The lines of ``text`` with their endings, exactly as ``io.StringIO(text, newline="")`` yields them,
    but without StringIO's copy of the whole text at four bytes a character."""
    if text.count("\r") != text.count("\r\n"):
        # A lone \r ends a line too (universal newlines); rare enough to leave to StringIO.
        yield from io.StringIO(text, newline="")
        return
    start = 0
    while end := text.find("\n", start) + 1:
        yield text[start:end]
        start = end
    if start < len(text):
        yield text[start:]


def _header(row: list[str]) -> dict[str, int]:
    # Older copies of the file spell "String_ Id"; match names without spaces, case-insensitively.
    normalized = {re.sub(r"\s+", "", name).lower(): index for index, name in enumerate(row)}
    positions = {}
    for column in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:
        index = normalized.get(column.lower())
        if index is None and column in REQUIRED_COLUMNS:
            raise ImportInvalid(
                f"line 1: the header has no {column} column (expected {', '.join(REQUIRED_COLUMNS)}, …).", line=1
            )
        if index is not None:
            positions[column] = index
    return positions


def parse(text: str) -> ParsedCsv:
    end = text.find("\n")
    first_line = text if end < 0 else text[:end]  # not split(): that would copy the rest of the file
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(_lines(text), delimiter=delimiter)
    try:
        header_row = next(reader)
    except StopIteration:
        raise ImportInvalid("line 1: the file is empty.", line=1) from None
    columns = _header(header_row)
    width = len(header_row)
    skus: dict[str, CsvSku] = {}
    guid_owner: dict[str, str] = {}
    warnings: list[str] = []
    noted: set[tuple[str, str]] = set()
    rows = 0

    def warn(key: tuple[str, str], message: str) -> None:
        if key not in noted:
            noted.add(key)
            warnings.append(message)

    name_at, id_at, guid_at = columns["Product_Display_Name"], columns["String_Id"], columns["GUID"]
    plan_name_at = columns.get("Service_Plan_Name")
    plan_id_at = columns.get("Service_Plan_Id")
    plan_friendly_at = columns.get("Service_Plans_Included_Friendly_Names")
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != width:
                raise ImportInvalid(f"line {line}: expected {width} fields, found {len(row)}.", line=line)
            rows += 1
            string_id = row[id_at].strip()
            if not string_id:
                raise ImportInvalid(f"line {line}: String_Id is empty.", line=line)
            _check_text(string_id, "String_Id", line, limit=KEY_LENGTH)
            guid, trimmed = read_guid(row[guid_at])
            if guid is None:
                raise ImportInvalid(f"line {line}: GUID {row[guid_at]!r} is not a GUID.", line=line)
            if trimmed:
                warn(
                    ("guid-cell", string_id),
                    f"line {line}: {string_id}: the GUID cell {row[guid_at]!r} has characters around the GUID; "
                    f"read as {guid}.",
                )
            name, changed = _clean(row[name_at])
            if not name:
                raise ImportInvalid(f"line {line}: Product_Display_Name is empty.", line=line)
            _check_text(name, "Product_Display_Name", line, limit=NAME_LENGTH)
            if changed:
                warn(
                    ("spaces", string_id),
                    f"line {line}: {string_id}: unusual spaces or invisible characters "
                    f"in the name were normalized to {name!r}.",
                )
            if not name.isascii():
                warn(
                    ("ascii", string_id),
                    f"line {line}: {string_id}: the name {name!r} has non-ASCII characters; kept as written.",
                )
            sku = skus.get(string_id)
            if sku is None:
                sku = skus[string_id] = CsvSku(string_id=string_id, guid=guid, name=name, line=line)
            else:
                if guid != sku.guid:
                    warn(
                        ("guid", string_id + guid),
                        f"line {line}: {string_id} has a second GUID {guid} "
                        f"(first {sku.guid} on line {sku.line}); kept the first.",
                    )
                if name != sku.name:
                    warn(
                        ("name", string_id + name),
                        f"line {line}: {string_id} is also named {name!r} "
                        f"(first {sku.name!r} on line {sku.line}); kept the first.",
                    )
            owner = guid_owner.setdefault(guid, string_id)
            if owner != string_id:
                warn(("owner", guid + string_id), f"line {line}: GUID {guid} belongs to both {owner} and {string_id}.")
            if plan_id_at is not None and row[plan_id_at].strip():
                plan_id = _plan_id(row[plan_id_at], string_id, line, warn)
                plan_name = row[plan_name_at].strip() if plan_name_at is not None else ""
                friendly = _clean(row[plan_friendly_at])[0] if plan_friendly_at is not None else ""
                _check_text(plan_name, "Service_Plan_Name", line)
                _check_text(friendly, "Service_Plans_Included_Friendly_Names", line)
                sku.plans.setdefault(plan_id, {"id": plan_id, "name": plan_name, "friendly_name": friendly})
    except csv.Error as exc:
        raise ImportInvalid(f"line {reader.line_num}: {exc}.", line=reader.line_num) from exc
    if len(warnings) > MAX_WARNINGS:
        warnings = [*warnings[:MAX_WARNINGS], f"… and {len(warnings) - MAX_WARNINGS} more warnings."]
    return ParsedCsv(skus=skus, rows=rows, warnings=warnings)


def _plan_id(cell: str, string_id: str, line: int, warn: Callable[[tuple[str, str], str], None]) -> str:
    """A service plan is reference data only: an id that is no GUID is kept as written, with a warning."""
    plan_id, trimmed = read_guid(cell)
    if plan_id is None:
        kept = cell.strip().lower()
        _check_text(kept, "Service_Plan_Id", line)
        warn(("plan-id", kept), f"line {line}: {string_id}: Service_Plan_Id {cell!r} is not a GUID; kept as written.")
        return kept
    if trimmed:
        warn(
            ("plan-cell", plan_id),
            f"line {line}: {string_id}: the Service_Plan_Id cell {cell!r} has characters around the GUID; "
            f"read as {plan_id}.",
        )
    return plan_id


def import_licensing_csv(
    session: Session,
    *,
    content: bytes,
    account: ProviderAccount,
    kind: ProductKind = ProductKind.LICENSE,
    default_currency: str,
) -> ImportResult:
    """New SKUs become products of ``kind``; existing ones (same provisioning ID) get the CSV's name, GUID
    and service plans. Prices, kinds and everything else an operator set are left alone."""
    parsed = parse(decode(content))
    result = ImportResult(format="microsoft_csv", warnings=parsed.warnings)
    result.rows_read = parsed.rows
    # One query for the account's products: cheaper than an IN list of thousands, and within SQLite's limits.
    existing = {
        row.provisioning_id: row
        for row in session.execute(
            select(Product.id, Product.provisioning_id, Product.name, Product.sku_id, Product.service_plans).where(
                Product.provider_account_id == account.id
            )
        )
    }
    now = datetime.now(UTC)
    new_skus = [sku for string_id, sku in parsed.skus.items() if string_id not in existing]
    updates = []
    for string_id, sku in parsed.skus.items():
        row = existing.get(string_id)
        if row is None:
            continue
        plans = list(sku.plans.values())
        if (row.name, row.sku_id, row.service_plans or []) == (sku.name, sku.guid, plans):
            result.count("products", "unchanged")
        else:
            updates.append(
                {"id": row.id, "name": sku.name, "sku_id": sku.guid, "service_plans": plans, "updated_at": now}
            )
            result.count("products", "updated")
    if updates:
        session.execute(update(Product), updates)
    if new_skus:
        first_code = allocate(session, PRODUCT_CODE_COUNTER, len(new_skus))
        rows = [
            _new_product(sku, account, kind, default_currency, format_product_code(first_code + i), now)
            for i, sku in enumerate(new_skus)
        ]
        session.execute(insert(Product), rows)
        # Each is sold in its default combination (P1M monthly), unpriced, until an operator lists its plans.
        session.execute(
            insert(ProductPlan),
            [{"product_id": row["id"], "term": row["term"], "billing_plan": BillingPlan.MONTHLY} for row in rows],
        )
        for _ in new_skus:
            result.count("products", "created")
    return result


def _new_product(
    sku: CsvSku, account: ProviderAccount, kind: ProductKind, currency: str, code: str, now: datetime
) -> dict[str, object]:
    return {
        "id": new_id(),
        "product_code": code,
        "provider_account_id": account.id,
        "kind": kind,
        "name": sku.name,
        "provisioning_id": sku.string_id,
        "sku_id": sku.guid,
        "description": "",
        "assignable_to_users": True,
        "unit": "license",
        "min_quantity": 1,
        "term": Term.P1M,
        "billing_frequency": BillingFrequency.MONTHLY,
        "currency": currency,
        "reduction_behavior": ReductionBehavior.ALLOWED,
        "portal_enabled": True,
        "status": CatalogStatus.ACTIVE,
        "service_plans": list(sku.plans.values()),
        "created_at": now,
        "updated_at": now,
    }
