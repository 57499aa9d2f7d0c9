"""The catalog document: import and export of the whole catalog as YAML or JSON (SPEC §2)."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest
import yaml
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from seatflow.catalog import bundles, repository, service
from seatflow.catalog.document import dump_document, export_document, import_document, parse_document
from seatflow.catalog.errors import CatalogCycle, ImportInvalid, InvalidBundle
from seatflow.catalog.imports import ImportFormat, import_catalog
from seatflow.catalog.models import (
    Bundle,
    BundleItem,
    CatalogStatus,
    Product,
    ProductKind,
    ProductParent,
    ProviderAccount,
    ProviderKind,
)
from seatflow.catalog.schemas import BundleCreate, BundleItemIn, BundleRead, ImportResult, ProductCreate
from seatflow.catalog.service import PRODUCT_CODE_COUNTER
from seatflow.db.sequences import Counter
from seatflow.errors import SeatflowError

DEMO = resources.files("seatflow.catalog").joinpath("demo_catalog.yaml").read_text(encoding="utf-8")


def load(session: Session, text: str) -> ImportResult:
    return import_document(session, text=text, default_currency="USD")


def counts(result: ImportResult, kind: str) -> tuple[int, int, int]:
    c = result.details[kind]
    return c.created, c.updated, c.unchanged


def line_number(text: str, fragment: str) -> int:
    """The 1-based line of the one line of ``text`` that contains ``fragment``."""
    lines = [n for n, line in enumerate(text.splitlines(), start=1) if fragment in line]
    assert len(lines) == 1, f"{fragment!r} is on lines {lines}"
    return lines[0]


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def product_count(session: Session) -> int:
    return session.execute(select(func.count()).select_from(Product)).scalar_one()


def product(session: Session, ref: str) -> Product:
    session.expire_all()
    return service.require_product(session, ref)


def empty_the_catalog(session: Session) -> None:
    """As on a fresh installation: no catalog rows, and product codes start again at P-00001."""
    for model in (BundleItem, Bundle, ProductParent, Product, ProviderAccount):
        session.execute(delete(model))
    session.execute(delete(Counter).where(Counter.name == PRODUCT_CODE_COUNTER))
    session.expire_all()


def raises_at_line(session: Session, text: str, error: type[SeatflowError] = ImportInvalid) -> tuple[int, str]:
    with pytest.raises(error) as raised:
        load(session, text)
    line = raised.value.extra["line"]
    assert raised.value.message.startswith(f"line {line}: "), raised.value.message
    return line, raised.value.message


SMALL = textwrap.dedent(
    """\
    seatflow_catalog: 1
    provider_accounts:
      - name: Partner Center
        kind: partner_center
        settings:
          base_url: http://127.0.0.1:8100
    products:
      - provider_account: Partner Center
        kind: addon
        name: Microsoft Teams Domestic Calling Plan
        provisioning_id: MCOPSTN1
        list_price: 12.00
        parents: [MCOEV]
      - provider_account: Partner Center
        kind: addon
        name: Microsoft Teams Phone Standard
        provisioning_id: MCOEV
        list_price: 8.00
        parents: [ENTERPRISEPREMIUM]
      - provider_account: Partner Center
        kind: license
        name: Office 365 E5
        provisioning_id: ENTERPRISEPREMIUM
        list_price: 38.00
    """
)
"""A document that lists each add-on before its parent."""


class TestImportDemoCatalog:
    def test_creates_the_demo_catalog(self, session: Session) -> None:
        result = load(session, DEMO)

        assert counts(result, "provider_accounts") == (4, 0, 0)
        assert counts(result, "products") == (10, 0, 0)
        assert counts(result, "bundles") == (1, 0, 0)
        assert (result.created, result.updated, result.unchanged) == (15, 0, 0)
        assert product_count(session) == 10

        accounts = {a.name: a.kind for a in repository.all_provider_accounts(session)}
        assert accounts == {
            "Partner Center": ProviderKind.PARTNER_CENTER,
            "Manual": ProviderKind.MANUAL,
            "Do nothing": ProviderKind.DO_NOTHING,
            "Linked subscriptions": ProviderKind.LINKED,
        }
        calling = product(session, "MCOPSTN1")
        assert [p.provisioning_id for p in calling.parents] == ["MCOEV"]
        assert calling.list_price == Decimal("12.00")
        storage = product(session, "SHAREPOINTSTORAGE")
        assert (storage.unit, storage.assignable_to_users) == ("GB", False)
        voice = bundles.require_bundle(session, "E5 Voice")
        shown = BundleRead.from_model(voice, sellable=bundles.bundle_sellable(voice))
        assert [(i.product_name, i.parent_item) for i in shown.items] == [
            ("Office 365 E5", None),
            ("Microsoft 365 Audio Conferencing", 0),
            ("Microsoft Teams Phone Standard (Phone System)", 0),
            ("Microsoft Teams Domestic Calling Plan", 2),
        ]
        assert shown.list_price == Decimal("62.00")
        assert shown.sellable is True

    def test_reimport_leaves_everything_unchanged(self, session: Session) -> None:
        load(session, DEMO)
        before = export_document(session)

        result = load(session, DEMO)

        assert (result.created, result.updated, result.unchanged) == (0, 0, 15)
        assert counts(result, "products") == (0, 0, 10)
        assert export_document(session) == before

    def test_through_import_catalog_detects_the_document(self, session: Session) -> None:
        result = import_catalog(session, content=DEMO.encode(), fmt=None, default_currency="USD")

        assert result.format == "document"
        assert counts(result, "products") == (10, 0, 0)

    def test_a_changed_price_and_parent_set_are_updates(self, session: Session) -> None:
        load(session, DEMO)
        changed = replace_once(DEMO, 'list_price: "10.60"', 'list_price: "11.25"')
        changed = replace_once(changed, "parents: [MCOEV]", "parents: [MCOEV, ENTERPRISEPREMIUM]")

        result = load(session, changed)

        assert counts(result, "products") == (0, 2, 8)
        assert product(session, "EMS").list_price == Decimal("11.25")
        assert sorted(p.provisioning_id or "" for p in product(session, "MCOPSTN1").parents) == [
            "ENTERPRISEPREMIUM",
            "MCOEV",
        ]


class TestExport:
    def test_export_then_import_into_the_same_catalog_is_unchanged(self, session: Session) -> None:
        load(session, DEMO)
        document = export_document(session)

        for fmt in ("yaml", "json"):
            result = load(session, dump_document(document, fmt))  # type: ignore[arg-type]
            assert (result.created, result.updated, result.unchanged) == (0, 0, 15), fmt

        assert export_document(session) == document

    @pytest.mark.parametrize("fmt", ["yaml", "json"])
    def test_export_import_export_round_trips_on_a_fresh_catalog(self, session: Session, fmt: str) -> None:
        load(session, DEMO)
        first = export_document(session)
        text = dump_document(first, fmt)  # type: ignore[arg-type]
        empty_the_catalog(session)
        assert product_count(session) == 0

        result = load(session, text)

        assert (result.created, result.updated, result.unchanged) == (15, 0, 0)
        assert export_document(session) == first
        assert dump_document(export_document(session), fmt) == text  # type: ignore[arg-type]

    def test_export_shows_prices_as_decimal_strings_and_masks_secrets(self, session: Session) -> None:
        load(session, DEMO)
        document = textwrap.dedent(
            """\
            provider_accounts:
              - name: Partner Center EU
                kind: partner_center
                settings:
                  base_url: https://api.partnercenter.microsoft.com
                  auth: client_credentials
                  token_url: https://login.microsoftonline.com/tenant/oauth2/token
                  client_id: app
                  client_secret: s3cret
            """
        )
        load(session, document)

        exported = export_document(session)

        ems = next(p for p in exported["products"] if p["provisioning_id"] == "EMS")
        assert (ems["list_price"], ems["cost_price"]) == ("10.60", "8.48")
        eu = next(a for a in exported["provider_accounts"] if a["name"] == "Partner Center EU")
        assert eu["settings"]["client_secret"] == "********"
        assert "s3cret" not in dump_document(exported, "yaml")

        # Importing the export back keeps the real secret rather than storing the mask.
        result = load(session, dump_document(exported, "yaml"))
        assert counts(result, "provider_accounts") == (0, 0, 5)
        session.expire_all()
        account = repository.provider_account_by_name(session, "Partner Center EU")
        assert account is not None
        assert account.settings["client_secret"] == "s3cret"


class TestDocumentShapes:
    def test_a_product_listed_before_its_parent(self, session: Session) -> None:
        result = load(session, SMALL)

        assert counts(result, "products") == (3, 0, 0)
        assert [p.provisioning_id for p in product(session, "MCOPSTN1").parents] == ["MCOEV"]
        assert [p.provisioning_id for p in product(session, "MCOEV").parents] == ["ENTERPRISEPREMIUM"]

    def test_yaml_floats_become_exact_decimals(self, session: Session) -> None:
        text = replace_once(SMALL, "list_price: 38.00", "list_price: 10.60\n    cost_price: 8.48")
        text = replace_once(text, "list_price: 8.00", "list_price: 0.1875")

        load(session, text)

        e5 = product(session, "ENTERPRISEPREMIUM")
        assert e5.list_price == Decimal("10.60")
        assert e5.cost_price == Decimal("8.48")
        assert product(session, "MCOEV").list_price == Decimal("0.1875")
        exported = {p["provisioning_id"]: p for p in export_document(session)["products"]}
        assert exported["ENTERPRISEPREMIUM"]["list_price"] == "10.60"
        assert exported["MCOEV"]["list_price"] == "0.1875"

    def test_the_reader_never_goes_through_float(self) -> None:
        root = parse_document("list_price: 10.60\ncost_price: 1_000.1875\nmin_quantity: 3\n").root

        assert isinstance(root["list_price"], Decimal)
        assert str(root["list_price"]) == "10.60"
        assert root["cost_price"] == Decimal("1000.1875")
        assert root["min_quantity"] == 3

    def test_parents_and_bundle_items_may_name_a_product_code(self, session: Session) -> None:
        load(session, DEMO)
        e5_code = product(session, "ENTERPRISEPREMIUM").product_code
        text = textwrap.dedent(
            f"""\
            products:
              - provider_account: Partner Center
                kind: addon
                name: Teams Rooms Pro
                provisioning_id: TEAMS_ROOMS
                list_price: 40.00
                parents: [{e5_code.lower()}]
            bundles:
              - name: E5 Rooms
                items:
                  - product: {e5_code}
                  - product: TEAMS_ROOMS
                    parent_item: 0
            """
        )

        load(session, text)

        assert [p.product_code for p in product(session, "TEAMS_ROOMS").parents] == [e5_code]
        rooms = bundles.require_bundle(session, "E5 Rooms")
        assert [i.product.provisioning_id for i in rooms.items] == ["ENTERPRISEPREMIUM", "TEAMS_ROOMS"]

    def test_a_product_without_offer_or_provisioning_id_round_trips_by_its_code(self, session: Session) -> None:
        load(session, DEMO)
        account = repository.provider_account_by_name(session, "Partner Center")
        assert account is not None
        support = service.create_product(
            session,
            data=ProductCreate(provider_account_id=str(account.id), kind=ProductKind.SERVICE, name="Managed Support"),
            default_currency="USD",
        )
        bundles.create_bundle(
            session,
            data=BundleCreate(
                name="E5 Supported",
                items=[
                    BundleItemIn(product_id=str(product(session, "ENTERPRISEPREMIUM").id)),
                    BundleItemIn(product_id=str(support.id)),
                ],
            ),
        )
        first = export_document(session)
        exported = next(p for p in first["products"] if p["name"] == "Managed Support")
        assert "offer_id" not in exported
        assert "provisioning_id" not in exported
        text = dump_document(first, "yaml")

        assert load(session, text).unchanged == 17  # same catalog: found by code
        empty_the_catalog(session)
        assert load(session, text).created == 17  # fresh catalog
        assert export_document(session) == first

    def test_json_documents_import_too(self, session: Session) -> None:
        document = yaml.safe_load(SMALL)
        text = json.dumps(document, indent=2).replace('"list_price": 38.0', '"list_price": 10.60')
        assert '"list_price": 10.60' in text

        result = import_catalog(session, content=text.encode(), fmt=ImportFormat.DOCUMENT, default_currency="USD")

        assert counts(result, "products") == (3, 0, 0)
        assert product(session, "ENTERPRISEPREMIUM").list_price == Decimal("10.60")
        assert [p.provisioning_id for p in product(session, "MCOPSTN1").parents] == ["MCOEV"]

    def test_naming_an_existing_account_without_settings_keeps_its_settings(self, session: Session) -> None:
        load(session, DEMO)
        text = textwrap.dedent(
            """\
            provider_accounts:
              - name: Manual
                kind: manual
              - name: Partner Center
                kind: partner_center
            products:
              - provider_account: Partner Center
                kind: service
                name: Managed Support
                provisioning_id: SUPPORT
            """
        )

        result = load(session, text)

        assert counts(result, "provider_accounts") == (0, 0, 2)
        assert counts(result, "products") == (1, 0, 0)
        session.expire_all()
        settings = {a.name: a.settings for a in repository.all_provider_accounts(session)}
        assert settings["Manual"] == {"instructions": "Provision in the distributor's portal, then confirm the change."}
        assert settings["Partner Center"]["base_url"] == "http://127.0.0.1:8100"

    def test_settings_stated_in_the_document_replace_the_old_ones(self, session: Session) -> None:
        load(session, DEMO)
        text = "provider_accounts:\n  - name: Manual\n    kind: manual\n    settings: {notify_email: ops@example.com}\n"

        result = load(session, text)

        assert counts(result, "provider_accounts") == (0, 1, 0)
        session.expire_all()
        manual = repository.provider_account_by_name(session, "Manual")
        assert manual is not None
        assert manual.settings == {"notify_email": "ops@example.com"}

    def test_a_byte_order_mark_is_ignored(self, session: Session) -> None:
        result = import_catalog(session, content=b"\xef\xbb\xbf" + SMALL.encode(), fmt=None, default_currency="USD")

        assert counts(result, "products") == (3, 0, 0)


class TestErrorsNameTheLine:
    @pytest.mark.parametrize(
        ("text", "line"),
        [
            ("seatflow_catalog: 1\nproducts:\n  - name: A\n    kind: license\n   unit: GB\n", 5),
            ("seatflow_catalog: 1\nproducts:\n  - name: A\n\tkind: license\n", 4),
            ("seatflow_catalog: 1\nproducts:\n  - name: A\n    kind: license: x\n", 4),
            ('{\n  "products": [\n    {"name": "A"}\n    {"name": "B"}\n  ]\n}\n', 4),
        ],
        ids=["bad indentation", "tab", "colon in a value", "json missing comma"],
    )
    def test_malformed_document(self, session: Session, text: str, line: int) -> None:
        found, message = raises_at_line(session, text)

        assert found == line
        assert "not valid YAML or JSON" in message

    def test_a_document_that_is_not_a_mapping(self, session: Session) -> None:
        assert raises_at_line(session, "- one\n- two\n")[0] == 1

    def test_a_price_that_is_not_a_number_deep_in_the_demo(self, session: Session) -> None:
        text = replace_once(DEMO, 'list_price: "10.60"', "list_price: abc")

        line, message = raises_at_line(session, text)

        assert line == line_number(text, "list_price: abc")
        assert "products[9].plans[1].list_price" in message  # EMS, P1Y monthly: its default plan

    def test_a_price_that_is_not_a_number_on_a_known_line(self, session: Session) -> None:
        text = replace_once(SMALL, "list_price: 8.00", 'list_price: "abc"')

        assert raises_at_line(session, text)[0] == 18

    def test_a_misspelt_field(self, session: Session) -> None:
        text = replace_once(SMALL, "    list_price: 8.00\n", "    list_prise: 8.00\n")

        line, message = raises_at_line(session, text)

        assert line == line_number(text, "list_prise")
        assert "list_prise" in message

    def test_an_unknown_kind(self, session: Session) -> None:
        text = replace_once(SMALL, "kind: license", "kind: licence")

        assert raises_at_line(session, text)[0] == line_number(text, "kind: licence")

    def test_an_unknown_provider_account(self, session: Session) -> None:
        text = replace_once(
            SMALL,
            "  - provider_account: Partner Center\n    kind: license",
            "  - provider_account: Partner Centre\n    kind: license",
        )

        line, message = raises_at_line(session, text)

        assert line == line_number(text, "Partner Centre")
        assert "'Partner Centre'" in message

    def test_an_unknown_parent_reference(self, session: Session) -> None:
        text = replace_once(DEMO, "parents: [MCOEV]", "parents: [MCOEV_TYPO]")

        line, message = raises_at_line(session, text)

        assert line == line_number(text, "MCOEV_TYPO")
        assert "MCOEV_TYPO" in message

    def test_a_cycle_names_the_parents_line(self, session: Session) -> None:
        text = replace_once(SMALL, "parents: [ENTERPRISEPREMIUM]", "parents: [MCOPSTN1]")

        line, message = raises_at_line(session, text, CatalogCycle)

        assert line == line_number(text, "parents: [MCOPSTN1]")
        assert "Microsoft Teams Phone Standard" in message

    def test_an_unknown_bundle_item(self, session: Session) -> None:
        text = replace_once(DEMO, "- product: MCOMEETADV", "- product: MCOMEETADV_TYPO")

        line, _ = raises_at_line(session, text)

        assert line == line_number(text, "MCOMEETADV_TYPO")

    def test_a_bundle_item_under_the_wrong_parent(self, session: Session) -> None:
        text = replace_once(DEMO, "parent_item: 2", "parent_item: 0")

        line, message = raises_at_line(session, text, InvalidBundle)

        assert line == line_number(text, "- name: E5 Voice")
        assert "Microsoft Teams Domestic Calling Plan" in message
        assert "Office 365 E5" in message

    def test_a_json_error_names_its_line(self, session: Session) -> None:
        text = json.dumps(yaml.safe_load(SMALL), indent=2).replace('"list_price": 8.0', '"list_price": "abc"')

        assert raises_at_line(session, text)[0] == line_number(text, '"abc"')


class TestAllOrNothing:
    def test_a_failing_import_leaves_nothing_behind_once_the_caller_rolls_back(self, session: Session) -> None:
        load(session, DEMO)
        e3_price = product(session, "SPE_E3").list_price
        # New products first, a price change, then an unknown parent: the error comes after writes.
        text = DEMO.replace("Office 365 E5", "Office 365 E5 (renamed)")
        text = replace_once(text, 'list_price: "36.00"', 'list_price: "99.00"')
        text = replace_once(text, "parents: [MCOEV]", "parents: [NO_SUCH_PARENT]")
        text = replace_once(
            text,
            "bundles:\n",
            textwrap.dedent(
                """\
                  - provider_account: Partner Center
                    kind: service
                    name: Managed Support
                    provisioning_id: SUPPORT
                bundles:
                """
            ),
        )

        savepoint = session.begin_nested()
        with pytest.raises(ImportInvalid, match="NO_SUCH_PARENT"):
            load(session, text)
        assert product_count(session) == 11, "the import wrote before it failed; the rollback must undo it"
        savepoint.rollback()

        assert product_count(session) == 10
        assert product(session, "SPE_E3").list_price == e3_price
        assert product(session, "ENTERPRISEPREMIUM").name == "Office 365 E5"
        assert [p.provisioning_id for p in product(session, "MCOPSTN1").parents] == ["MCOEV"]
        with pytest.raises(SeatflowError):
            service.require_product(session, "SUPPORT")

    def test_a_failing_first_import_leaves_an_empty_catalog(self, session: Session) -> None:
        text = replace_once(DEMO, "parent_item: 2", "parent_item: 0")

        savepoint = session.begin_nested()
        with pytest.raises(InvalidBundle):
            load(session, text)
        savepoint.rollback()

        assert product_count(session) == 0
        assert repository.all_provider_accounts(session) == []
        assert repository.all_bundles(session) == []


def test_reimporting_an_export_keeps_a_retired_product_retired(session: Session) -> None:
    load(session, DEMO)
    service.retire_product(session, product=product(session, "EMS"), now=datetime(2026, 5, 1, tzinfo=UTC))
    exported: dict[str, Any] = export_document(session)

    load(session, dump_document(exported, "yaml"))

    assert product(session, "EMS").status is CatalogStatus.RETIRED
    assert product(session, "EMS").kind is ProductKind.LICENSE
