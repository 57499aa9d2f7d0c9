"""Dates and address fields have bounds: out of them is a 422 that writes nothing, never a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize("start_date", ["1999-12-31", "0001-01-01", "9001-01-01"])
def test_a_contract_start_outside_2000_to_9000_is_refused(client: TestClient, start_date: str) -> None:
    customer = client.post("/api/v1/customers", json={"name": "Contoso"}).json()
    answer = client.post(
        "/api/v1/contracts", json={"customer_id": customer["id"], "name": "Contoso", "start_date": start_date}
    )
    assert answer.status_code == 422
    assert answer.json()["code"] == "validation_failed"
    assert "start_date" in answer.json()["detail"]
    assert client.get("/api/v1/contracts").json()["items"] == []


def test_an_overlong_address_line_is_refused(client: TestClient) -> None:
    answer = client.post("/api/v1/customers", json={"name": "Contoso", "billing_address": {"line1": "x" * 201}})
    assert answer.status_code == 422
    assert "line1" in answer.json()["detail"]
    assert client.get("/api/v1/customers").json()["items"] == []
