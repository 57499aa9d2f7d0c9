"""What Microsoft's real licensing CSV holds (product names of 105 characters, String_Ids of 103, a GUID cell of
37) imports on SQLite and PostgreSQL alike, and what no column can hold is refused the same on both: with the
line (importer) or the field (API), never a database error."""

from __future__ import annotations

import typing
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import BaseModel, TypeAdapter
from sqlalchemy.orm import Session

from seatflow.catalog.errors import ImportInvalid
from seatflow.catalog.microsoft_csv import import_licensing_csv, read_guid
from seatflow.catalog.models import Bundle, Product, ProviderAccount
from seatflow.catalog.schemas import BundleCreate, ProductCreate, ProductFields, ProviderAccountCreate
from seatflow.contracts.models import BillingContract
from seatflow.contracts.schemas import ContractCreate
from seatflow.customers.models import Contact, CustomerAccount
from seatflow.customers.schemas import Address, ContactCreate, CustomerCreate
from seatflow.db import migrate
from seatflow.db.base import Base
from seatflow.db.engine import make_engine
from tests.api.helpers import create_account, problem
from tests.catalog.test_microsoft_csv import E3_GUID, E3_ROWS, EXCHANGE_PLAN, csv_bytes, product_count, products
from tests.factories import create_provider_account

LONG_NAME = "Dynamics 365 Customer Engagement Plan for Government Community Cloud High with Power Apps Portals (Addon)"
LONG_ID = "DYN365_CUSTOMER_ENGAGEMENT_PLAN_FOR_GOVERNMENT_COMMUNITY_CLOUD_HIGH_WITH_POWER_APPS_PORTALS_ADDON_ANNUA"
LONG_GUID = "3b555118-da6a-4418-894f-7df1e2096870"


def long_row(*, guid_cell: str = LONG_GUID + ".", name: str = LONG_NAME, string_id: str = LONG_ID) -> str:
    return f'"{name}",{string_id},{guid_cell},EXCHANGE_S_STANDARD,{EXCHANGE_PLAN},Exchange Online (Plan 1)'


@pytest.fixture
def account(session: Session) -> ProviderAccount:
    return create_provider_account(session, name="Partner Center")


def run(session: Session, account: ProviderAccount, content: bytes) -> Any:
    return import_licensing_csv(session, content=content, account=account, default_currency="USD")


def test_the_sizes_of_the_real_file() -> None:
    assert (len(LONG_NAME), len(LONG_ID), len(LONG_GUID + ".")) == (105, 103, 37)


# --- the licensing CSV ---------------------------------------------------------------------------------------


def test_long_names_and_string_ids_and_a_37_character_guid_cell_import(
    session: Session, account: ProviderAccount
) -> None:
    result = run(session, account, csv_bytes(*E3_ROWS, long_row()))

    assert (result.created, result.updated, result.unchanged) == (2, 0, 0)
    imported = products(session)[LONG_ID]
    assert (imported.name, imported.provisioning_id, imported.sku_id) == (LONG_NAME, LONG_ID, LONG_GUID)
    assert [w for w in result.warnings if w.startswith("line 4: ")] == [
        f"line 4: {LONG_ID}: the GUID cell '{LONG_GUID}.' has characters around the GUID; read as {LONG_GUID}."
    ]


@pytest.mark.parametrize(
    ("cell", "warned"),
    [
        (LONG_GUID.upper() + " ", False),
        ("{" + LONG_GUID + "}", True),
        (LONG_GUID + "\u200b", True),
        ('"' + LONG_GUID + '"', True),
    ],
)
def test_a_guid_cell_is_read_without_what_cannot_belong_to_a_guid(cell: str, warned: bool) -> None:
    assert read_guid(cell) == (LONG_GUID, warned)


@pytest.mark.parametrize("cell", [LONG_GUID + "a", "a" + LONG_GUID, LONG_GUID[:-1] + "x", LONG_GUID.replace("-", "")])
def test_a_guid_cell_that_is_no_guid_without_guessing_names_its_line(
    session: Session, account: ProviderAccount, cell: str
) -> None:
    with pytest.raises(ImportInvalid) as raised:
        run(session, account, csv_bytes(*E3_ROWS, long_row(guid_cell=cell)))

    assert raised.value.extra["line"] == 4
    assert product_count(session) == 0


def test_a_service_plan_id_with_a_stray_character_is_read_with_a_warning(
    session: Session, account: ProviderAccount
) -> None:
    row = f"Microsoft 365 E3,SPE_E3,{E3_GUID},EXCHANGE_S_ENTERPRISE,{EXCHANGE_PLAN}.,Exchange Online (Plan 2)"

    result = run(session, account, csv_bytes(row))

    assert products(session)["SPE_E3"].service_plans[0]["id"] == EXCHANGE_PLAN
    assert any("Service_Plan_Id cell" in w and w.startswith("line 2: ") for w in result.warnings), result.warnings


def test_a_service_plan_id_that_is_no_guid_is_kept_with_a_warning(session: Session, account: ProviderAccount) -> None:
    row = f"Microsoft 365 E3,SPE_E3,{E3_GUID},EXCHANGE_S_ENTERPRISE,not-a-plan-id,Exchange Online (Plan 2)"

    result = run(session, account, csv_bytes(row))

    assert products(session)["SPE_E3"].service_plans[0]["id"] == "not-a-plan-id"
    assert any("is not a GUID; kept as written" in w for w in result.warnings), result.warnings


@pytest.mark.parametrize(
    ("row", "column"),
    [
        (long_row(name="N" * 301), "Product_Display_Name"),
        (long_row(string_id="S" * 201), "String_Id"),
    ],
)
def test_a_value_longer_than_its_column_names_its_line_on_every_database(
    session: Session, account: ProviderAccount, row: str, column: str
) -> None:
    with pytest.raises(ImportInvalid) as raised:
        run(session, account, csv_bytes(*E3_ROWS, row))

    assert raised.value.message.startswith(f"line 4: {column} has "), raised.value.message
    assert "at most" in raised.value.message
    assert product_count(session) == 0


@pytest.mark.parametrize(
    ("row", "column"),
    [
        (long_row(name="Office\x00 365"), "Product_Display_Name"),
        (long_row(string_id="SPE\x01E3"), "String_Id"),
        (f"Microsoft 365 E3,SPE_E3,{E3_GUID},EXCH\x00,{EXCHANGE_PLAN},Exchange", "Service_Plan_Name"),
    ],
)
def test_a_control_character_names_its_line_on_every_database(
    session: Session, account: ProviderAccount, row: str, column: str
) -> None:
    with pytest.raises(ImportInvalid) as raised:
        run(session, account, csv_bytes(*E3_ROWS, row))

    assert raised.value.message.startswith(f"line 4: {column} has a control character"), raised.value.message
    assert product_count(session) == 0


def test_through_the_api(client: TestClient) -> None:
    create_account(client)
    params = {"format": "microsoft_csv", "provider_account_id": "Partner Center"}

    imported = client.post("/api/v1/catalog/import", params=params, content=csv_bytes(*E3_ROWS, long_row()))
    too_long = client.post(
        "/api/v1/catalog/import", params=params, content=csv_bytes(long_row(string_id="S" * 201, guid_cell=E3_GUID))
    )

    assert imported.status_code == 200, imported.text
    assert imported.json()["created"] == 2
    found = client.get("/api/v1/products", params={"provisioning_id": LONG_ID}).json()["items"]
    assert [(p["name"], p["sku_id"]) for p in found] == [(LONG_NAME, LONG_GUID)]
    assert problem(too_long, 422, "import_invalid")["line"] == 2


def test_a_catalog_document_with_a_nul_names_its_line(client: TestClient) -> None:
    document = '{"provider_accounts": [\n{"name": "Partner\\u0000 Center", "kind": "manual"}\n]}'

    answer = client.post("/api/v1/catalog/import", content=document, headers={"Content-Type": "application/json"})

    body = problem(answer, 422, "import_invalid")
    assert body["line"] == 2
    assert "control character" in body["detail"]
    assert client.get("/api/v1/provider-accounts").json()["items"] == []


# --- the API -------------------------------------------------------------------------------------------------


def test_a_product_with_the_real_files_long_keys_is_created(client: TestClient) -> None:
    account = create_account(client, kind="manual")

    created = client.post(
        "/api/v1/products",
        json={"provider_account_id": account["id"], "kind": "license", "name": LONG_NAME, "provisioning_id": LONG_ID},
    )

    assert created.status_code == 201, created.text
    assert (created.json()["name"], created.json()["provisioning_id"]) == (LONG_NAME, LONG_ID)


@pytest.mark.parametrize(
    ("field", "value"), [("provisioning_id", "P" * 201), ("offer_id", "O" * 201), ("name", "N" * 301)]
)
def test_a_value_longer_than_its_column_is_a_422_naming_the_field(client: TestClient, field: str, value: str) -> None:
    account = create_account(client, kind="manual")
    payload = {"provider_account_id": account["id"], "kind": "license", "name": "E3", field: value}

    body = problem(client.post("/api/v1/products", json=payload), 422, "validation_failed")

    assert body["detail"].startswith(f"body.{field}: ")
    assert client.get("/api/v1/products").json()["items"] == []


SCHEMAS_AND_TABLES: list[tuple[type[BaseModel], type[Base]]] = [
    (ProductFields, Product),
    (ProductCreate, Product),
    (ProviderAccountCreate, ProviderAccount),
    (BundleCreate, Bundle),
    (CustomerCreate, CustomerAccount),
    (ContactCreate, Contact),
    (ContractCreate, BillingContract),
]


def _max_length(schema: dict[str, Any]) -> int | None:
    if "maxLength" in schema:
        return int(schema["maxLength"])
    found = [_max_length(option) for option in schema.get("anyOf", [])]
    return max((f for f in found if f is not None), default=None)


@pytest.mark.parametrize(("schema", "model"), SCHEMAS_AND_TABLES, ids=lambda item: item.__name__)
def test_every_text_an_input_stores_is_limited_to_its_column(schema: type[BaseModel], model: type[Base]) -> None:
    """SQLite keeps a value of any length and PostgreSQL refuses it: the schema's limit is what both obey."""
    columns = model.__table__.columns
    checked = 0
    for name, field in schema.model_fields.items():
        column = columns.get(name)
        length = getattr(column.type, "length", None) if column is not None else None
        if column is None or not isinstance(length, int) or isinstance(column.type, sa.Enum):
            continue  # an enum column holds the enum's values, which the schema's enum type allows alone
        limit = _max_length(TypeAdapter(_with(field)).json_schema())
        assert limit is not None, f"{schema.__name__}.{name} has no max_length; the column holds {length}"
        assert limit <= length, f"{schema.__name__}.{name} allows {limit}; the column holds {length}"
        checked += 1
    assert checked, "the schema writes some text column"


def test_address_lines_fit_what_is_kept() -> None:
    assert all(_max_length(TypeAdapter(_with(f)).json_schema()) for f in Address.model_fields.values())


def _with(field: Any) -> Any:
    return typing.Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation


# --- the migration -------------------------------------------------------------------------------------------

BEFORE = "5b1f0c3d9e27"
"""The revision before the keys grew to 200 characters."""
TIMESTAMPS = ("created_at", "updated_at")
ACCOUNTS = sa.table(
    "provider_accounts",
    sa.column("id", sa.Uuid),
    *(sa.column(name, sa.String) for name in ("name", "kind")),
    sa.column("settings", sa.JSON),
    *(sa.column(name, sa.DateTime(timezone=True)) for name in TIMESTAMPS),
)
PRODUCT_TEXTS = (
    "product_code",
    "kind",
    "name",
    "provisioning_id",
    "description",
    "unit",
    "term",
    "billing_frequency",
    "currency",
    "reduction_behavior",
    "status",
)
PRODUCTS = sa.table(
    "products",
    *(sa.column(name, sa.Uuid) for name in ("id", "provider_account_id")),
    *(sa.column(name, sa.String) for name in PRODUCT_TEXTS),
    *(sa.column(name, sa.Boolean) for name in ("assignable_to_users", "portal_enabled")),
    sa.column("min_quantity", sa.Integer),
    sa.column("service_plans", sa.JSON),
    *(sa.column(name, sa.DateTime(timezone=True)) for name in TIMESTAMPS),
)
EDGES = sa.table("product_parents", *(sa.column(name, sa.Uuid) for name in ("product_id", "parent_product_id")))


@pytest.fixture
def old_database(empty_database_url: str) -> Iterator[tuple[str, sa.Engine]]:
    migrate.upgrade(empty_database_url, BEFORE)
    engine = make_engine(empty_database_url)
    yield empty_database_url, engine
    engine.dispose()


def test_the_migration_keeps_every_product_and_possible_parent(old_database: tuple[str, sa.Engine]) -> None:
    """On SQLite the products table is copied into a new one: its possible-parent edges (ON DELETE CASCADE)
    must survive the old one being dropped."""
    url, engine = old_database
    now = datetime(2026, 11, 20, tzinfo=UTC)
    account, license_id, addon_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(
            ACCOUNTS.insert().values(id=account, name="PC", kind="manual", settings={}, created_at=now, updated_at=now)
        )
        for product_id, code, kind in ((license_id, "P-00001", "license"), (addon_id, "P-00002", "addon")):
            texts = dict.fromkeys(PRODUCT_TEXTS, "x") | {"product_code": code, "provisioning_id": code, "kind": kind}
            conn.execute(
                PRODUCTS.insert().values(
                    id=product_id,
                    provider_account_id=account,
                    **texts,
                    assignable_to_users=True,
                    portal_enabled=True,
                    min_quantity=1,
                    service_plans=[],
                    created_at=now,
                    updated_at=now,
                )
            )
        conn.execute(EDGES.insert().values(product_id=addon_id, parent_product_id=license_id))

    migrate.upgrade(url)

    with engine.begin() as conn:
        assert conn.execute(sa.select(EDGES.c.product_id, EDGES.c.parent_product_id)).all() == [(addon_id, license_id)]
        assert conn.execute(sa.select(sa.func.count()).select_from(PRODUCTS)).scalar_one() == 2
        # PostgreSQL refused 103 characters before: a String_Id of the real file fits now.
        conn.execute(PRODUCTS.update().where(PRODUCTS.c.id == addon_id).values(provisioning_id=LONG_ID))
        kept = conn.execute(sa.select(PRODUCTS.c.provisioning_id).where(PRODUCTS.c.id == addon_id)).scalar_one()
    assert kept == LONG_ID
    reflected = sa.Table("products", sa.MetaData(), autoload_with=engine)
    assert reflected.c.provisioning_id.type.length == reflected.c.offer_id.type.length == 200
