"""The real ``seatflow`` command in subprocesses (SPEC §14), on a SQLite file of its own.

These tests exercise the CLI, not the database: they always use SQLite, whatever SEATFLOW_TEST_DATABASE_URL
says, and give the command a clean environment with only SEATFLOW_DATABASE_URL set.
"""

from __future__ import annotations

import json
import re
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from seatflow.catalog import repository
from seatflow.catalog import service as product_service
from seatflow.catalog.imports import ImportFormat, import_catalog
from seatflow.catalog.schemas import ProductRead
from seatflow.config import Settings
from seatflow.db import migrate
from seatflow.db.engine import make_engine
from seatflow.simulator.state import demo_seed
from seatflow.web.app import create_app
from tests.cli.conftest import Run

DEMO = Path(str(resources.files("seatflow.catalog").joinpath("demo_catalog.yaml")))


@pytest.fixture
def migrated(cli_database_url: str) -> str:
    migrate.upgrade(cli_database_url)
    return cli_database_url


@pytest.fixture
def demo(migrated: str) -> None:
    """The demo catalog, loaded in this process: each CLI start costs seconds, so only what is tested runs
    as a command."""
    engine = make_engine(migrated)
    try:
        with Session(engine) as session:
            import_catalog(session, content=DEMO.read_bytes(), fmt=ImportFormat.DOCUMENT, default_currency="USD")
            session.commit()
    finally:
        engine.dispose()


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert "Traceback" not in result.stderr
    return result


def refused(result: subprocess.CompletedProcess[str], exit_code: int, code: str) -> str:
    """A refusal: the exit code, nothing on stdout, and one line ``error [code]: …`` on stderr."""
    assert result.returncode == exit_code, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.endswith("\n")
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error [{code}]: "), result.stderr
    return result.stderr.strip()


def stored_products(database_url: str) -> list[dict[str, Any]]:
    """The products as ``products list --json`` shows them, read in this process."""
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            rows, _ = repository.list_products(session, repository.ProductFilters(), limit=500)
            return [ProductRead.from_model(p).model_dump(mode="json") for p in rows]
    finally:
        engine.dispose()


def stored_product(database_url: str, ref: str) -> dict[str, Any]:
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            return ProductRead.from_model(product_service.require_product(session, ref)).model_dump(mode="json")
    finally:
        engine.dispose()


def counts(output: str, row: str) -> tuple[int, int, int]:
    """created, updated, unchanged of one row of the import table."""
    match = re.search(rf"{row}\W+(\d+)\W+(\d+)\W+(\d+)", output)
    assert match, output
    created, updated, unchanged = (int(n) for n in match.groups())
    return created, updated, unchanged


# --- help and the database -----------------------------------------------------------------------------


def test_help(run: Run) -> None:
    top = ok(run("--help")).stdout
    for word in ("db", "apikey", "catalog", "serve", "SEATFLOW_DATABASE_URL"):
        assert word in top, word
    catalog = ok(run("catalog", "--help")).stdout
    for word in ("import", "export", "products", "bundles", "accounts"):
        assert word in catalog, word


def test_db_upgrade_migrates_a_fresh_database(run: Run, cli_database_url: str) -> None:
    message = refused(run("catalog", "products", "list"), 4, "invalid_state")
    assert "seatflow db upgrade" in message

    result = ok(run("db", "upgrade"))
    head = migrate.head()
    assert head
    assert head in result.stdout
    assert migrate.current(cli_database_url) == head
    assert head in ok(run("db", "current")).stdout


# --- API keys ------------------------------------------------------------------------------------------


def test_apikey_create_prints_the_key_alone_on_its_last_line_and_it_authenticates(migrated: str, run: Run) -> None:
    result = ok(run("apikey", "create", "ci bot"))
    key = result.stdout.splitlines()[-1]
    assert re.fullmatch(r"sfk_[A-Za-z0-9_-]{20,}", key), result.stdout

    with TestClient(create_app(Settings(database_url=migrated)), raise_server_exceptions=False) as api:
        assert api.get("/api/v1/products", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        assert api.get("/api/v1/products", headers={"Authorization": f"Bearer {key}x"}).status_code == 401

        listed = ok(run("apikey", "list")).stdout
        assert "ci bot" in listed
        assert key[:12] in listed
        assert key not in listed  # only the prefix is ever shown again

        ok(run("apikey", "revoke", "ci bot"))
        assert api.get("/api/v1/products", headers={"Authorization": f"Bearer {key}"}).status_code == 401


# --- catalog -------------------------------------------------------------------------------------------


def test_import_of_the_demo_catalog_lists_its_products(migrated: str, run: Run) -> None:
    result = ok(run("catalog", "import", DEMO))
    assert counts(result.stdout, "provider_accounts") == (4, 0, 0)
    assert counts(result.stdout, "products") == (10, 0, 0)
    assert counts(result.stdout, "bundles") == (1, 0, 0)

    listed = json.loads(ok(run("catalog", "products", "list", "--json")).stdout)
    assert len(listed) == 10
    assert {p["provisioning_id"] for p in listed} == {
        "O365_BUSINESS_PREMIUM", "SHAREPOINTSTORAGE", "EXCHANGEARCHIVE_ADDON", "ATP_ENTERPRISE",
        "ENTERPRISEPREMIUM", "MCOMEETADV", "MCOEV", "MCOPSTN1", "SPE_E3", "EMS",
    }  # fmt: skip
    assert listed == stored_products(migrated)

    again = ok(run("catalog", "import", DEMO))
    assert counts(again.stdout, "products") == (0, 0, 10)
    assert stored_products(migrated) == listed


def test_products_list_filters_and_table(demo: None, run: Run) -> None:
    addons = json.loads(ok(run("catalog", "products", "list", "--kind", "addon", "-q", "teams", "--json")).stdout)
    assert {p["provisioning_id"] for p in addons} == {"MCOEV", "MCOPSTN1"}
    table = ok(run("catalog", "products", "list")).stdout
    assert "P-00001" in table
    assert "36.00" in table


def test_products_show(demo: None, run: Run, migrated: str) -> None:
    e3 = json.loads(ok(run("catalog", "products", "show", "SPE_E3", "--json")).stdout)
    assert e3["name"] == "Microsoft 365 E3"
    assert e3["kind"] == "license"
    assert e3["list_price"] == "36.00"
    assert e3["sku_id"] == "05e9a617-0261-4cee-bb44-138d3ef5d965"
    assert e3["sellable"] is True
    assert e3 == stored_product(migrated, "SPE_E3")

    text = ok(run("catalog", "products", "show", stored_product(migrated, "MCOEV")["product_code"])).stdout
    assert "Office 365 E5" in text  # its possible parent
    assert "Domestic Calling Plan" in text  # the add-on under it


def test_add_parent_that_makes_a_cycle_is_refused(demo: None, run: Run, migrated: str) -> None:
    before = stored_product(migrated, "MCOEV")
    message = refused(run("catalog", "products", "add-parent", "MCOEV", "MCOPSTN1"), 4, "catalog_cycle")
    assert "Microsoft Teams Domestic Calling Plan" in message
    assert stored_product(migrated, "MCOEV") == before


def test_add_and_remove_parent(demo: None, run: Run, migrated: str) -> None:
    e3 = stored_product(migrated, "SPE_E3")
    ok(run("catalog", "products", "add-parent", "MCOMEETADV", "SPE_E3"))
    assert e3["id"] in stored_product(migrated, "MCOMEETADV")["parent_product_ids"]
    # The E5 Voice bundle hangs Audio Conferencing under E5: that link stays until the bundle changes.
    refused(run("catalog", "products", "remove-parent", "MCOMEETADV", "ENTERPRISEPREMIUM"), 4, "product_in_use")
    ok(run("catalog", "products", "remove-parent", "MCOMEETADV", "SPE_E3"))
    e5 = stored_product(migrated, "ENTERPRISEPREMIUM")
    assert stored_product(migrated, "MCOMEETADV")["parent_product_ids"] == [e5["id"]]


@pytest.mark.parametrize(
    "args",
    [
        ["catalog", "products", "show", "NO_SUCH_PRODUCT"],
        ["catalog", "products", "add-parent", "MCOEV", "NO_SUCH_PRODUCT"],
    ],
)
def test_unknown_product_exits_3_with_one_line(demo: None, run: Run, args: list[str]) -> None:
    message = refused(run(*args), 3, "not_found")
    assert "NO_SUCH_PRODUCT" in message


def test_delete_of_a_used_product_is_refused_and_an_unused_one_goes(demo: None, run: Run, migrated: str) -> None:
    message = refused(run("catalog", "products", "delete", "ENTERPRISEPREMIUM"), 4, "product_in_use")
    assert "retire" in message
    ok(run("catalog", "products", "delete", "ATP_ENTERPRISE"))
    assert len(stored_products(migrated)) == 9


def test_create_and_update_products(demo: None, run: Run, migrated: str) -> None:
    ok(
        run("catalog", "products", "create", "--name", "Copilot", "--provider-account", "Partner Center",
            "--kind", "addon", "--provisioning-id", "COPILOT", "--price", "30", "--term", "P1Y",
            "--parent", "SPE_E3")
    )  # fmt: skip
    copilot = stored_product(migrated, "COPILOT")
    assert copilot["list_price"] == "30.00"
    assert copilot["parent_product_ids"] == [stored_product(migrated, "SPE_E3")["id"]]
    assert copilot["sellable"] is True

    ok(run("catalog", "products", "update", "COPILOT", "--price", "31.5"))
    assert stored_product(migrated, "COPILOT")["list_price"] == "31.50"

    message = refused(
        run("catalog", "products", "create", "--name", "Copilot 2", "--provider-account", "Partner Center",
            "--kind", "addon", "--provisioning-id", "COPILOT"),
        4,
        "duplicate_provisioning_id",
    )  # fmt: skip
    assert "Copilot" in message
    assert len(stored_products(migrated)) == 11


def test_invalid_input_exits_5_with_one_line(demo: None, run: Run, migrated: str) -> None:
    refused(
        run("catalog", "products", "create", "--name", "Storage", "--provider-account", "Partner Center",
            "--kind", "addon", "--unit", "GB", "--provisioning-id", "STORE", "--price", "-1"),
        5,
        "validation_failed",
    )  # fmt: skip
    message = refused(
        run("catalog", "accounts", "create", "PC 2", "--kind", "partner_center"), 5, "invalid_provider_settings"
    )
    assert "base_url" in message
    # The calling plan hangs under Phone System, not under E5 (item 0).
    message = refused(
        run("catalog", "bundles", "create", "Broken", "--item", "ENTERPRISEPREMIUM", "--item", "MCOPSTN1@0"),
        5,
        "invalid_bundle",
    )
    assert "Item 1" in message
    assert len(stored_products(migrated)) == 10


# --- import errors and export --------------------------------------------------------------------------


def test_import_of_a_malformed_file_names_the_line_and_changes_nothing(
    demo: None, run: Run, migrated: str, tmp_path: Path
) -> None:
    before = stored_products(migrated)
    lines = DEMO.read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if 'list_price: "36.00"' in line)
    lines[at] = lines[at].replace('"36.00"', '"-36.00"')
    # A new product before the bad line would be created if the import were not all or nothing.
    lines.insert(
        lines.index("products:") + 1, "  - {provider_account: Manual, kind: service, name: X, provisioning_id: X}"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("\n".join(lines), encoding="utf-8")

    message = refused(run("catalog", "import", bad), 5, "import_invalid")
    assert f"line {at + 2}" in message  # +1: lines count from 1, +1: the inserted line
    assert "list_price" in message
    assert stored_products(migrated) == before


def test_import_of_unparsable_yaml_names_the_line(migrated: str, run: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("provider_accounts:\n  - name: Manual\n    kind: [manual\n  - name: Other\n", encoding="utf-8")
    message = refused(run("catalog", "import", bad), 5, "import_invalid")
    assert re.search(r"line [34]\b", message), message
    assert stored_products(migrated) == []


def test_export_json_imports_back_unchanged(demo: None, run: Run, migrated: str, tmp_path: Path) -> None:
    before = stored_products(migrated)
    exported = ok(run("catalog", "export", "--format", "json")).stdout
    document = json.loads(exported)
    assert len(document["products"]) == 10
    path = tmp_path / "catalog.json"
    path.write_text(exported, encoding="utf-8")

    result = ok(run("catalog", "import", path))
    assert counts(result.stdout, "provider_accounts") == (0, 0, 4)
    assert counts(result.stdout, "products") == (0, 0, 10)
    assert counts(result.stdout, "bundles") == (0, 0, 1)
    assert stored_products(migrated) == before


def test_a_simulator_seed_file_naming_a_route_that_does_not_exist_is_refused(run: Run, tmp_path: Path) -> None:
    seed = {**demo_seed(), "faults": {"route_latency_ms": {"GET /v1/customers/{id}/subscription": 300}}}
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed), encoding="utf-8")

    message = refused(run("simulator", "--state", path, "--port", "0"), 5, "invalid_simulator_seed")

    assert "route_latency_ms names unknown routes: GET /v1/customers/{id}/subscription" in message
