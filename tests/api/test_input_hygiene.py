"""Text without control characters and integers that are integers, in every API input, the same on SQLite and
PostgreSQL: a NUL was stored by SQLite and refused by PostgreSQL, and ``"quantity": true`` was read as 1."""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatflow.api.routes import billing, catalog, customers, provisioning, reconciliation, subscriptions, system
from seatflow.customers.models import CustomerAccount
from seatflow.schemas import control_character
from seatflow.subscriptions.models import Subscription
from tests.api.helpers import create_account, create_product, problem


def refused(response: Any, field: str) -> dict[str, Any]:
    """A 422 validation_failed naming ``field`` (e.g. ``body.name``), in its detail and its errors."""
    body = problem(response, 422, "validation_failed")
    assert field in body["detail"], body
    assert field in [e["field"] for e in body["errors"]], body
    return body


def customer_count(session: Session) -> int:
    session.expire_all()
    return session.execute(select(func.count()).select_from(CustomerAccount)).scalar_one()


# --- control characters ------------------------------------------------------------------------------------


@pytest.mark.parametrize("character", ["\x00", "\x01", "\x1b", "\x7f", "\n", "\t"])
def test_a_control_character_in_a_name_is_refused_naming_the_field(
    client: TestClient, session: Session, character: str
) -> None:
    before = customer_count(session)

    response = client.post("/api/v1/customers", json={"name": f"Con{character}toso"})

    body = refused(response, "body.name")
    assert "control character" in body["detail"]
    assert f"U+{ord(character):04X}" in body["detail"]
    assert customer_count(session) == before


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/api/v1/customers", {"name": "Contoso", "tenant_id": "abc\x00"}, "body.tenant_id"),
        (
            "/api/v1/customers",
            {"name": "Contoso", "billing_address": {"city": "Ber\x00lin"}},
            "body.billing_address.city",
        ),
        ("/api/v1/provider-accounts", {"name": "PC\x00", "kind": "manual"}, "body.name"),
        ("/api/v1/provider-accounts", {"name": "PC", "kind": "manual", "settings": {"x": "a\x00"}}, "body.settings"),
        ("/api/v1/bundles", {"name": "Bundle", "description": "one\x00two", "items": []}, "body.description"),
    ],
)
def test_control_characters_are_refused_in_every_kind_of_text(
    client: TestClient, path: str, payload: dict[str, Any], field: str
) -> None:
    refused(client.post(path, json=payload), field)


def test_multi_line_text_keeps_its_lines_but_not_other_controls(client: TestClient) -> None:
    account = create_account(client, kind="manual")

    kept = client.post(
        "/api/v1/products",
        json={"provider_account_id": account["id"], "kind": "license", "name": "E3", "description": "a\n\tb\r\nc"},
    )
    bell = client.post(
        "/api/v1/products",
        json={"provider_account_id": account["id"], "kind": "license", "name": "E5", "description": "a\x07b"},
    )

    assert kept.status_code == 201, kept.text
    assert kept.json()["description"] == "a\n\tb\r\nc"
    refused(bell, "body.description")


def test_a_product_with_a_nul_in_its_name_is_refused_and_not_created(client: TestClient) -> None:
    account = create_account(client, kind="manual")

    response = client.post(
        "/api/v1/products", json={"provider_account_id": account["id"], "kind": "license", "name": "E3\x00"}
    )

    refused(response, "body.name")
    assert client.get("/api/v1/products").json()["items"] == []


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/customers?tenant_id=abc%00", "query.tenant_id"),
        ("/api/v1/products?q=E3%01", "query.q"),
        ("/api/v1/provider-accounts/Partner%00Center", "path.account_id"),
        ("/api/v1/customers/abc%00", "path.customer_id"),
    ],
)
def test_a_control_character_in_a_query_or_path_parameter_is_refused(client: TestClient, path: str, field: str) -> None:
    refused(client.get(path), field)


def test_surrounding_whitespace_is_trimmed_not_refused(client: TestClient) -> None:
    response = client.post("/api/v1/customers", json={"name": "  Contoso\n"})

    assert response.status_code == 201, response.text
    assert response.json()["name"] == "Contoso"


# --- strict integers ---------------------------------------------------------------------------------------


@pytest.fixture
def ready(client: TestClient) -> dict[str, str]:
    """A contract and a product to subscribe to."""
    account = create_account(client, kind="manual")
    product = create_product(client, account, name="Office 365 E3", list_price="10.00")
    customer = client.post("/api/v1/customers", json={"name": "Contoso"}).json()
    contract = client.post(
        "/api/v1/contracts", json={"customer_id": customer["id"], "name": "Contoso", "start_date": "2026-12-01"}
    ).json()
    return {"contract_id": contract["id"], "product_id": product["id"]}


@pytest.fixture
def valid(client: TestClient, ready: dict[str, str]) -> dict[str, dict[str, Any]]:
    """A valid body for each path, but for the one integer a test spoils."""
    account = create_account(client, name="Manual", kind="manual")
    customer = client.post("/api/v1/customers", json={"name": "Fabrikam"}).json()
    return {
        "/api/v1/contracts": {"customer_id": customer["id"], "name": "Fabrikam", "start_date": "2026-12-01"},
        "/api/v1/bundles": {"name": "Bundle", "items": [{"product_id": ready["product_id"]}]},
        "/api/v1/products": {"provider_account_id": account["id"], "kind": "license", "name": "E5"},
    }


@pytest.mark.parametrize("quantity", [True, False, 1.5, 2.0, "3", None])
def test_a_quantity_must_be_a_json_integer(
    client: TestClient, session: Session, ready: dict[str, str], quantity: object
) -> None:
    response = client.post("/api/v1/subscriptions", json={**ready, "quantity": quantity, "start_date": "2026-12-01"})

    refused(response, "body.quantity")
    session.expire_all()
    assert session.execute(select(func.count()).select_from(Subscription)).scalar_one() == 0


def test_an_integer_quantity_is_accepted(client: TestClient, ready: dict[str, str]) -> None:
    response = client.post("/api/v1/subscriptions", json={**ready, "quantity": 3, "start_date": "2026-12-01"})

    assert response.status_code == 201, response.text
    assert response.json()["quantity"] == 3


def test_a_quantity_change_of_true_is_refused(client: TestClient, ready: dict[str, str]) -> None:
    created = client.post("/api/v1/subscriptions", json={**ready, "quantity": 3, "start_date": "2026-12-01"}).json()

    response = client.post(f"/api/v1/subscriptions/{created['id']}/quantity", json={"quantity": True})

    refused(response, "body.quantity")
    assert client.get(f"/api/v1/subscriptions/{created['id']}").json()["quantity"] == 3


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/api/v1/contracts", {"term_months": True}, "body.term_months"),
        ("/api/v1/contracts", {"payment_terms_days": "30"}, "body.payment_terms_days"),
        ("/api/v1/bundles", {"quantity_multiplier": 1.5}, "body.items.0.quantity_multiplier"),
        ("/api/v1/products", {"min_quantity": False}, "body.min_quantity"),
        ("/api/v1/products", {"reduction_window_days": 7.0}, "body.reduction_window_days"),
    ],
)
def test_other_integers_are_strict_too(
    client: TestClient, valid: dict[str, dict[str, Any]], path: str, payload: dict[str, Any], field: str
) -> None:
    body = valid[path]
    if path == "/api/v1/bundles":
        body["items"][0].update(payload)
    else:
        body.update(payload)
    before = client.get(path).json()["items"]

    refused(client.post(path, json=body), field)
    assert client.get(path).json()["items"] == before


# --- every input of the API --------------------------------------------------------------------------------


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for argument in typing.get_args(annotation):
        yield from _models(argument)


API_ROUTERS = [
    *(module.router for module in (catalog, customers, subscriptions, provisioning, billing, reconciliation)),
    system.test_clock_router,
]


def api_input_models() -> list[type[BaseModel]]:
    """Every body model of every API route, and the models nested in them."""
    found: dict[str, type[BaseModel]] = {}
    pending = [
        model
        for router in API_ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for param in route.dependant.body_params
        for model in _models(param.field_info.annotation)
    ]
    while pending:
        model = pending.pop()
        if model.__qualname__ in found:
            continue
        found[model.__qualname__] = model
        for field in model.model_fields.values():
            pending.extend(_models(field.annotation))
    return list(found.values())


def _fields() -> list[tuple[str, Any]]:
    fields = []
    for model in api_input_models():
        for name, field in model.model_fields.items():
            annotation = typing.Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation
            fields.append((f"{model.__qualname__}.{name}", annotation))
    return fields


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, BaseModel):
        yield from _strings(value.model_dump())
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple | set):
        for item in value:
            yield from _strings(item)


def _accepts_int(annotation: Any) -> bool:
    if annotation is int:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _accepts_int(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_accepts_int(a) for a in typing.get_args(annotation))
    return False


INPUT_FIELDS = _fields()


def test_the_inputs_are_found() -> None:
    names = {name for name, _ in INPUT_FIELDS}
    assert {"SubscriptionCreate.quantity", "CustomerCreate.name", "Address.city", "BundleItemIn.product_id"} <= names


@pytest.mark.parametrize(("name", "annotation"), INPUT_FIELDS, ids=[name for name, _ in INPUT_FIELDS])
def test_no_input_field_accepts_a_control_character(name: str, annotation: Any) -> None:
    """A new text field without ``OneLine`` / ``MultiLine`` (seatflow.schemas) fails here."""
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    for sent in ("ok\x00ok", ["ok\x00ok"], {"ok": "ok\x00ok"}, {"ok\x00": "ok"}):
        try:
            kept = adapter.validate_json(json.dumps(sent))
        except ValidationError:
            continue
        assert all(control_character(text) is None for text in _strings(kept)), f"{name} kept {kept!r}"


@pytest.mark.parametrize(
    ("name", "annotation"),
    [(name, a) for name, a in INPUT_FIELDS if _accepts_int(a)],
    ids=[name for name, a in INPUT_FIELDS if _accepts_int(a)],
)
def test_no_integer_field_accepts_a_boolean_a_fraction_or_a_string(name: str, annotation: Any) -> None:
    """A new integer field without ``IntIn`` (seatflow.schemas) fails here."""
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    for sent in ("true", "1.5", '"1"', "1.0"):
        with pytest.raises(ValidationError):
            adapter.validate_json(sent)
