"""POST /api/v1/catalog/import and GET /api/v1/catalog/export (SPEC §2 import and export, §13)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.api.helpers import all_items, create_account, create_product, get_json, problem

DEMO = resources.files("seatflow.catalog").joinpath("demo_catalog.yaml").read_bytes()
YAML = {"content-type": "application/yaml"}
CSV = {"content-type": "text/csv"}

LICENSING_CSV = """\
Product_Display_Name,String_Id,GUID,Service_Plan_Name,Service_Plan_Id,Service_Plans_Included_Friendly_Names
Microsoft 365 E3,SPE_E3,05e9a617-0261-4cee-bb44-138d3ef5d965,EXCHANGE_S_ENTERPRISE,efb87545-963c-4e0d-99df-69c6916d9eb0,Exchange Online (Plan 2)
Microsoft 365 E3,SPE_E3,05e9a617-0261-4cee-bb44-138d3ef5d965,SHAREPOINTENTERPRISE,5dbe027f-2339-4123-9542-606e4d348a72,SharePoint (Plan 2)
Enterprise Mobility + Security E3,EMS,efccb6f7-5641-4e0e-bd10-b4976e1bf68e,AAD_PREMIUM,41781fb2-bc02-4b7c-bd55-b576c07bb09d,Microsoft Entra ID P1
"""  # noqa: E501 - the CSV's own lines


def import_(
    client: TestClient, content: bytes | str, headers: dict[str, str] | None = None, **params: Any
) -> dict[str, Any]:
    body = content.encode() if isinstance(content, str) else content
    response = client.post("/api/v1/catalog/import", content=body, headers=headers or YAML, params=params)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def catalog_state(client: TestClient) -> dict[str, list[dict[str, Any]]]:
    return {
        "accounts": all_items(client, "/api/v1/provider-accounts"),
        "products": all_items(client, "/api/v1/products"),
        "bundles": all_items(client, "/api/v1/bundles"),
    }


# --- the catalog document ------------------------------------------------------------------------------


def test_demo_catalog_imports_then_reimports_unchanged(client: TestClient) -> None:
    first = import_(client, DEMO)
    assert first["format"] == "document"
    assert first["dry_run"] is False
    assert first["details"] == {
        "provider_accounts": {"created": 4, "updated": 0, "unchanged": 0},
        "products": {"created": 10, "updated": 0, "unchanged": 0},
        "bundles": {"created": 1, "updated": 0, "unchanged": 0},
    }
    assert (first["created"], first["updated"], first["unchanged"]) == (15, 0, 0)
    state = catalog_state(client)
    assert len(state["products"]) == 10

    second = import_(client, DEMO)
    assert (second["created"], second["updated"], second["unchanged"]) == (0, 0, 15)
    assert catalog_state(client) == state


def test_demo_catalog_lands_as_written(client: TestClient) -> None:
    import_(client, DEMO)
    products = {p["provisioning_id"]: p for p in all_items(client, "/api/v1/products")}
    storage = products["SHAREPOINTSTORAGE"]
    assert storage["kind"] == "addon"
    assert storage["unit"] == "GB"
    assert storage["assignable_to_users"] is False
    assert storage["list_price"] == "0.20"
    assert storage["parent_product_ids"] == [products["O365_BUSINESS_PREMIUM"]["id"]]
    assert products["MCOPSTN1"]["parent_product_ids"] == [products["MCOEV"]["id"]]
    assert products["SPE_E3"]["list_price"] == "36.00"
    assert products["SPE_E3"]["sku_id"] == "05e9a617-0261-4cee-bb44-138d3ef5d965"
    assert all(p["sellable"] for p in products.values())
    (bundle,) = all_items(client, "/api/v1/bundles")
    assert bundle["name"] == "E5 Voice"
    assert [i["parent_item"] for i in bundle["items"]] == [None, 0, 0, 2]
    assert bundle["list_price"] == "62.00"  # 38 + 4 + 8 + 12


def test_a_changed_document_updates_only_what_changed(client: TestClient) -> None:
    import_(client, DEMO)
    changed = DEMO.replace(b'list_price: "36.00"', b'list_price: "37.00"')
    assert changed != DEMO
    result = import_(client, changed)
    assert result["details"]["products"] == {"created": 0, "updated": 1, "unchanged": 9}
    (e3,) = all_items(client, "/api/v1/products", provisioning_id="SPE_E3")
    assert e3["list_price"] == "37.00"


def test_yaml_syntax_error_names_the_line_and_imports_nothing(client: TestClient) -> None:
    lines = DEMO.decode().splitlines()
    at = next(i for i, line in enumerate(lines) if "name: Microsoft 365 E3" in line)
    lines[at] = "    name: [Microsoft 365 E3"  # an unclosed flow sequence
    response = client.post("/api/v1/catalog/import", content="\n".join(lines).encode(), headers=YAML)
    body = problem(response, 422, "import_invalid")
    # YAML notices the unclosed bracket where the next key starts.
    assert body["line"] in {at + 1, at + 2}
    assert body["detail"].startswith(f"line {body['line']}: ")
    assert catalog_state(client) == {"accounts": [], "products": [], "bundles": []}


def test_invalid_value_names_its_line_and_imports_nothing(client: TestClient) -> None:
    lines = DEMO.decode().splitlines()
    at = next(i for i, line in enumerate(lines) if "term: P1Y" in line)
    lines[at] = lines[at].replace("P1Y", "P2Y")
    response = client.post("/api/v1/catalog/import", content="\n".join(lines).encode(), headers=YAML)
    body = problem(response, 422, "import_invalid")
    assert body["line"] == at + 1
    assert f"line {at + 1}" in body["detail"]
    assert "term" in body["detail"]
    # The accounts and products before the bad line were not kept either: all or nothing.
    assert catalog_state(client) == {"accounts": [], "products": [], "bundles": []}


def test_a_rule_broken_late_in_the_document_imports_nothing(client: TestClient) -> None:
    document = {
        "provider_accounts": [{"name": "PC", "kind": "partner_center", "settings": {"base_url": "http://pc"}}],
        "products": [
            {"provider_account": "PC", "kind": "license", "name": "E5", "provisioning_id": "E5"},
            {"provider_account": "PC", "kind": "license", "name": "E5 again", "provisioning_id": "E5B"},
            {
                "provider_account": "PC",
                "kind": "addon",
                "name": "Storage",
                "provisioning_id": "STORAGE",
                "unit": "GB",
                "assignable_to_users": True,
                "parents": ["E5"],
            },
        ],
    }
    text = yaml.safe_dump(document, sort_keys=False)
    response = client.post("/api/v1/catalog/import", content=text.encode(), headers=YAML)
    body = problem(response, 422, "per_gb_assignable")
    bad_line = text.splitlines().index("- provider_account: PC", text.splitlines().index("  provisioning_id: E5B"))
    assert f"line {bad_line + 1}" in body["detail"]
    assert catalog_state(client) == {"accounts": [], "products": [], "bundles": []}


def test_a_cycle_in_a_document_is_refused(client: TestClient) -> None:
    document = {
        "provider_accounts": [{"name": "PC", "kind": "manual"}],
        "products": [
            {"provider_account": "PC", "kind": "license", "name": "E5", "provisioning_id": "E5"},
            {"provider_account": "PC", "kind": "addon", "name": "A", "provisioning_id": "A", "parents": ["E5", "B"]},
            {"provider_account": "PC", "kind": "addon", "name": "B", "provisioning_id": "B", "parents": ["A"]},
        ],
    }
    response = client.post("/api/v1/catalog/import", json=document)
    problem(response, 409, "catalog_cycle")
    assert all_items(client, "/api/v1/products") == []


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "import_invalid"),
        (b"   \n", "import_invalid"),
        (b"- just\n- a list\n", "import_invalid"),
        (b"seatflow_catalog: 2\n", "import_invalid"),
        (b"products: 5\n", "import_invalid"),
        (b'{"products": [', "import_invalid"),
        (b"\xff\xfe not utf-8", "import_invalid"),
    ],
)
def test_unreadable_imports_are_422(client: TestClient, content: bytes, code: str) -> None:
    problem(client.post("/api/v1/catalog/import", content=content, headers=YAML), 422, code)
    assert catalog_state(client) == {"accounts": [], "products": [], "bundles": []}


def test_json_document_is_accepted(client: TestClient) -> None:
    document = {
        "provider_accounts": [{"name": "Manual", "kind": "manual"}],
        "products": [
            {
                "provider_account": "Manual",
                "kind": "license",
                "name": "E3",
                "provisioning_id": "SPE_E3",
                "list_price": "36",
            }
        ],
    }
    result = import_(client, json.dumps(document), headers={"content-type": "application/json"})
    assert result["created"] == 2
    (e3,) = all_items(client, "/api/v1/products")
    assert e3["list_price"] == "36.00"


def test_dry_run_reports_counts_and_keeps_nothing(client: TestClient) -> None:
    result = import_(client, DEMO, dry_run="true")
    assert result["dry_run"] is True
    assert result["created"] == 15
    assert catalog_state(client) == {"accounts": [], "products": [], "bundles": []}
    # A real import afterwards creates what the dry run announced.
    assert import_(client, DEMO)["created"] == 15


# --- Microsoft's licensing CSV -------------------------------------------------------------------------


def test_licensing_csv_creates_products_with_sku_ids(client: TestClient) -> None:
    account = create_account(client, name="Partner Center")
    result = import_(client, LICENSING_CSV, CSV, provider_account_id="Partner Center")
    assert result["format"] == "microsoft_csv"
    assert result["rows_read"] == 3
    assert (result["created"], result["updated"], result["unchanged"]) == (2, 0, 0)

    products = {p["provisioning_id"]: p for p in all_items(client, "/api/v1/products")}
    assert set(products) == {"SPE_E3", "EMS"}
    e3 = products["SPE_E3"]
    assert e3["name"] == "Microsoft 365 E3"
    assert e3["sku_id"] == "05e9a617-0261-4cee-bb44-138d3ef5d965"
    assert e3["kind"] == "license"
    assert e3["provider_account_id"] == account["id"]
    assert e3["list_price"] is None
    assert [plan["name"] for plan in e3["service_plans"]] == ["EXCHANGE_S_ENTERPRISE", "SHAREPOINTENTERPRISE"]
    assert e3 == get_json(client, f"/api/v1/products/{e3['id']}")
    found = all_items(client, "/api/v1/products", sku_id="05E9A617-0261-4CEE-BB44-138D3EF5D965")
    assert [p["id"] for p in found] == [e3["id"]]

    again = import_(client, LICENSING_CSV, CSV, provider_account_id=account["id"])
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    assert len(all_items(client, "/api/v1/products")) == 2


def test_licensing_csv_keeps_what_the_operator_set(client: TestClient) -> None:
    account = create_account(client, name="Partner Center")
    e3 = create_product(client, account, name="M365 E3 (ours)", provisioning_id="SPE_E3", list_price="36.00")
    result = import_(client, LICENSING_CSV, CSV, provider_account_id="Partner Center")
    assert (result["created"], result["updated"]) == (1, 1)
    updated = get_json(client, f"/api/v1/products/{e3['id']}")
    assert updated["name"] == "Microsoft 365 E3"
    assert updated["sku_id"] == "05e9a617-0261-4cee-bb44-138d3ef5d965"
    assert updated["list_price"] == "36.00"
    assert updated["product_code"] == e3["product_code"]


def test_licensing_csv_as_addons(client: TestClient) -> None:
    create_account(client, name="Partner Center")
    import_(client, LICENSING_CSV, CSV, provider_account_id="Partner Center", kind="addon")
    assert {p["kind"] for p in all_items(client, "/api/v1/products")} == {"addon"}


def test_licensing_csv_without_provider_account_is_422(client: TestClient) -> None:
    create_account(client, name="Partner Center")
    body = problem(
        client.post("/api/v1/catalog/import", content=LICENSING_CSV.encode(), headers=CSV), 422, "import_invalid"
    )
    assert "provider account" in body["detail"]
    response = client.post(
        "/api/v1/catalog/import", content=LICENSING_CSV.encode(), headers=YAML, params={"format": "microsoft_csv"}
    )
    problem(response, 422, "import_invalid")
    assert all_items(client, "/api/v1/products") == []


def test_licensing_csv_with_unknown_provider_account_is_404(client: TestClient) -> None:
    response = client.post(
        "/api/v1/catalog/import", content=LICENSING_CSV.encode(), headers=CSV, params={"provider_account_id": "Nope"}
    )
    problem(response, 404, "not_found")
    assert all_items(client, "/api/v1/products") == []


def test_licensing_csv_error_names_the_line_and_imports_nothing(client: TestClient) -> None:
    create_account(client, name="Partner Center")
    broken = LICENSING_CSV.replace("efccb6f7-5641-4e0e-bd10-b4976e1bf68e", "not-a-guid")
    response = client.post(
        "/api/v1/catalog/import", content=broken.encode(), headers=CSV, params={"provider_account_id": "Partner Center"}
    )
    body = problem(response, 422, "import_invalid")
    assert body["detail"].startswith("line 4:")
    assert all_items(client, "/api/v1/products") == []


def test_licensing_csv_without_its_columns_is_422(client: TestClient) -> None:
    create_account(client, name="Partner Center")
    response = client.post(
        "/api/v1/catalog/import",
        content=b"Name,Id\nE3,SPE_E3\n",
        headers=CSV,
        params={"provider_account_id": "Partner Center"},
    )
    body = problem(response, 422, "import_invalid")
    assert "String_Id" in body["detail"]


def test_licensing_csv_dry_run_keeps_nothing(client: TestClient) -> None:
    create_account(client, name="Partner Center")
    result = import_(client, LICENSING_CSV, CSV, provider_account_id="Partner Center", dry_run="true")
    assert result["dry_run"] is True
    assert result["created"] == 2
    assert all_items(client, "/api/v1/products") == []


# --- export --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "media"), [("yaml", "application/yaml"), ("json", "application/json")])
def test_export_imports_back_unchanged(client: TestClient, fmt: str, media: str) -> None:
    import_(client, DEMO)
    # Beyond the demo: a secret, a retired product, a non-billable bundle item with its own price.
    create_account(
        client,
        name="PC Europe",
        settings={
            "base_url": "https://pc.example",
            "auth": "client_credentials",
            "token_url": "https://t.example",
            "client_id": "app",
            "client_secret": "hush-hush",
        },
    )
    (ems,) = all_items(client, "/api/v1/products", provisioning_id="EMS")
    client.post(f"/api/v1/products/{ems['id']}/retire")
    before = catalog_state(client)

    response = client.get("/api/v1/catalog/export", params={"format": fmt})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media)
    assert "hush-hush" not in response.text
    exported = json.loads(response.text) if fmt == "json" else yaml.safe_load(response.text)
    assert len(exported["products"]) == 10
    assert len(exported["provider_accounts"]) == 5

    result = import_(client, response.content, headers={"content-type": media})
    assert (result["created"], result["updated"]) == (0, 0)
    assert result["unchanged"] == 5 + 10 + 1
    assert catalog_state(client) == before


def test_export_of_an_empty_catalog(client: TestClient) -> None:
    exported = json.loads(client.get("/api/v1/catalog/export").text)
    assert exported == {"seatflow_catalog": 1, "provider_accounts": [], "products": [], "bundles": []}


def test_importing_an_export_restores_what_changed_since(client: TestClient) -> None:
    import_(client, DEMO)
    exported = client.get("/api/v1/catalog/export", params={"format": "yaml"}).text
    saved = catalog_state(client)
    products = {p["provisioning_id"]: p for p in saved["products"]}
    (bundle,) = saved["bundles"]
    client.patch(f"/api/v1/products/{products['SPE_E3']['id']}", json={"list_price": "99.00"})
    client.patch(
        f"/api/v1/bundles/{bundle['id']}", json={"items": [{"product_id": products["ENTERPRISEPREMIUM"]["id"]}]}
    )
    assert client.delete(f"/api/v1/products/{products['ATP_ENTERPRISE']['id']}").status_code == 204

    result = import_(client, exported)
    assert result["details"]["products"] == {"created": 1, "updated": 1, "unchanged": 8}
    assert result["details"]["bundles"] == {"created": 0, "updated": 1, "unchanged": 0}
    restored = {p["provisioning_id"]: p for p in all_items(client, "/api/v1/products")}
    assert restored["SPE_E3"]["list_price"] == "36.00"
    assert restored["ATP_ENTERPRISE"]["parent_product_ids"] == [products["O365_BUSINESS_PREMIUM"]["id"]]
    assert restored["ATP_ENTERPRISE"]["list_price"] == "2.00"
    assert [i["product_id"] for i in all_items(client, "/api/v1/bundles")[0]["items"]] == [
        i["product_id"] for i in bundle["items"]
    ]
