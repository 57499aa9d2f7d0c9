"""The API reference at ``/api/v1/docs``: made here from the OpenAPI document, readable without JavaScript and
loading nothing from elsewhere."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from seatflow.web.apiref import TypeText, notes_of, reference_of, type_of
from tests.web.pages import loaded_from_elsewhere, read


def _operation(html: str, anchor: str) -> str:
    found = re.search(rf'<article class="card operation" id="{anchor}">(.*?)</article>', html, re.S)
    assert found, f"no operation {anchor}"
    return found.group(1)


def test_the_reference_lists_every_operation_grouped_by_tag_with_bodies_and_answers(app_client: TestClient) -> None:
    page = app_client.get("/api/v1/docs")  # no API key: it says what the public OpenAPI document says

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    run_once = _operation(page.text, "post-api-v1-worker-run-once")
    assert '<span class="method post">POST</span> <code>/api/v1/worker/run-once</code>' in run_once
    assert "Process every due change now" in run_once
    assert '<a href="#schema-runonce"><code>RunOnce</code></a>' in run_once
    assert "<strong>200</strong>" in run_once
    assert '<a href="#schema-runonceresult"><code>RunOnceResult</code></a>' in run_once
    assert "application/problem+json" in run_once
    provisioning = page.text.split('id="tag-provisioning"', 1)[1].split('<section class="tag"', 1)[0]
    assert 'id="post-api-v1-worker-run-once"' in provisioning
    listing = _operation(page.text, "get-api-v1-subscriptions")
    assert re.search(r"<code>contract_id</code>.*?<td>query</td>", listing, re.S)
    assert "default 50; 1 to 500" in listing

    document = app_client.get("/api/v1/openapi.json").json()
    operations = sum(1 for item in document["paths"].values() for method in item if method != "parameters")
    assert page.text.count('<article class="card operation"') == operations
    assert page.text.count('<article class="card schema"') == len(document["components"]["schemas"])


def test_the_reference_loads_nothing_from_elsewhere_and_every_link_on_it_leads_somewhere(
    app_client: TestClient,
) -> None:
    page = app_client.get("/api/v1/docs")
    links = read(page.text)

    assert loaded_from_elsewhere(page.text) == []
    assert "script" not in links.tags
    assert "/api/v1/openapi.json" in links.urls
    for url in links.urls:
        if url.startswith("#"):
            assert url[1:] in links.ids, f"{url} points at nothing on the page"
        else:
            assert app_client.get(url).status_code == 200, url


@pytest.mark.parametrize(
    ("schema", "reads"),
    [
        ({"$ref": "#/components/schemas/RunOnce"}, (("RunOnce", "schema-runonce"),)),
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, (("string", None), (" or ", None), ("null", None))),
        (
            {"type": "array", "items": {"$ref": "#/x/Page_Item_"}},
            (("array of ", None), ("Page_Item_", "schema-page-item")),
        ),
        ({"type": "string", "format": "date"}, (("string (date)", None),)),
        ({"enum": ["P1M", "P1Y"], "type": "string"}, (("one of P1M, P1Y", None),)),
        ({"type": "object", "additionalProperties": {"type": "integer"}}, (("object of ", None), ("integer", None))),
        ({}, (("any", None),)),
    ],
)
def test_types_read_as_a_person_says_them(schema: dict[str, Any], reads: TypeText) -> None:
    assert type_of(schema) == reads


def test_notes_give_defaults_and_limits() -> None:
    assert notes_of({"default": 50, "minimum": 1, "maximum": 500}) == "default 50; 1 to 500"
    assert notes_of({"default": False, "maxLength": 300}) == "default false; at most 300 characters"
    assert notes_of({"type": "string"}) == ""


def test_untagged_operations_and_docstring_code_are_kept() -> None:
    reference = reference_of(
        {
            "info": {"title": "t", "version": "1"},
            "paths": {"/x": {"get": {"description": "Use ``a=b`` here.", "responses": {}}}},
        }
    )

    (tag,) = reference.tags
    (operation,) = tag.operations
    assert (tag.name, operation.method, operation.anchor) == ("other", "GET", "get-x")
    assert operation.description == (("Use ", False), ("a=b", True), (" here.", False))
