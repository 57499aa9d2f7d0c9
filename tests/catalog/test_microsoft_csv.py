"""Importing Microsoft's licensing reference CSV (SPEC §2), with small hand-written files."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatflow.catalog import service
from seatflow.catalog.errors import ImportInvalid, ProviderAccountNotFound
from seatflow.catalog.imports import ImportFormat, import_catalog
from seatflow.catalog.microsoft_csv import import_licensing_csv
from seatflow.catalog.models import Product, ProductKind, ProviderAccount
from seatflow.catalog.schemas import ImportResult, ProductRead
from tests.factories import create_product, create_provider_account

HEADER = "Product_Display_Name,String_Id,GUID,Service_Plan_Name,Service_Plan_Id,Service_Plans_Included_Friendly_Names"
E3_GUID = "05e9a617-0261-4cee-bb44-138d3ef5d965"
EMS_GUID = "efccb6f7-5641-4e0e-bd10-b4976e1bf68e"
EXCHANGE_PLAN = "efb87545-963c-4e0d-99df-69c6916d9eb0"
SHAREPOINT_PLAN = "5dbe027f-2339-4123-9542-606e4d348a72"
ENTRA_PLAN = "41781fb2-bc02-4b7c-bd55-b576c07bb09d"

E3_ROWS = [
    f"Microsoft 365 E3,SPE_E3,{E3_GUID},EXCHANGE_S_ENTERPRISE,{EXCHANGE_PLAN},Exchange Online (Plan 2)",
    f"Microsoft 365 E3,SPE_E3,{E3_GUID},SHAREPOINTENTERPRISE,{SHAREPOINT_PLAN},SharePoint (Plan 2)",
]
EMS_ROW = f"Enterprise Mobility + Security E3,EMS,{EMS_GUID},AAD_PREMIUM,{ENTRA_PLAN},Microsoft Entra ID P1"


def csv_bytes(*rows: str, header: str = HEADER, newline: str = "\n") -> bytes:
    return newline.join([header, *rows, ""]).encode("utf-8")


@pytest.fixture
def account(session: Session) -> ProviderAccount:
    return create_provider_account(session, name="Partner Center")


def run(session: Session, account: ProviderAccount, content: bytes, **options: object) -> ImportResult:
    return import_licensing_csv(session, content=content, account=account, default_currency="USD", **options)  # type: ignore[arg-type]


def outcome(result: ImportResult) -> tuple[int, int, int]:
    return result.created, result.updated, result.unchanged


def products(session: Session) -> dict[str, Product]:
    """Every product by provisioning ID, as a fresh read sees them (the import writes set-based)."""
    session.expire_all()
    rows = session.execute(select(Product).order_by(Product.product_code)).scalars().all()
    return {p.provisioning_id or p.product_code: p for p in rows}


def product_count(session: Session) -> int:
    return session.execute(select(func.count()).select_from(Product)).scalar_one()


def assert_invalid_at(session: Session, account: ProviderAccount, content: bytes, line: int) -> ImportInvalid:
    before = product_count(session)
    with pytest.raises(ImportInvalid) as raised:
        run(session, account, content)
    assert raised.value.extra["line"] == line
    assert raised.value.message.startswith(f"line {line}: "), raised.value.message
    assert product_count(session) == before, "nothing of a failing file is imported"
    return raised.value


class TestImport:
    def test_one_product_per_string_id_with_its_guid_and_service_plans(
        self, session: Session, account: ProviderAccount
    ) -> None:
        result = run(session, account, csv_bytes(*E3_ROWS, EMS_ROW))

        assert outcome(result) == (2, 0, 0)
        assert result.rows_read == 3
        assert result.warnings == []
        found = products(session)
        assert sorted(found) == ["EMS", "SPE_E3"]
        e3 = found["SPE_E3"]
        assert (e3.name, e3.sku_id, e3.kind, e3.provider_account_id) == (
            "Microsoft 365 E3",
            E3_GUID,
            ProductKind.LICENSE,
            account.id,
        )
        assert e3.service_plans == [
            {"id": EXCHANGE_PLAN, "name": "EXCHANGE_S_ENTERPRISE", "friendly_name": "Exchange Online (Plan 2)"},
            {"id": SHAREPOINT_PLAN, "name": "SHAREPOINTENTERPRISE", "friendly_name": "SharePoint (Plan 2)"},
        ]
        assert found["EMS"].sku_id == EMS_GUID
        assert e3.list_price is None
        assert e3.currency == "USD"

    def test_new_products_get_fresh_unique_product_codes(self, session: Session, account: ProviderAccount) -> None:
        by_hand = create_product(session, account=account, provisioning_id="HAND_MADE")

        run(session, account, csv_bytes(*E3_ROWS, EMS_ROW))

        codes = [p.product_code for p in products(session).values()]
        assert len(set(codes)) == 3
        assert sorted(int(c[2:]) for c in codes) == [int(by_hand.product_code[2:]) + n for n in range(3)]

    def test_with_a_byte_order_mark(self, session: Session, account: ProviderAccount) -> None:
        result = run(session, account, b"\xef\xbb\xbf" + csv_bytes(*E3_ROWS, EMS_ROW))

        assert outcome(result) == (2, 0, 0)
        assert products(session)["SPE_E3"].name == "Microsoft 365 E3"

    def test_windows_line_endings_and_quoted_commas(self, session: Session, account: ProviderAccount) -> None:
        row = f'"Microsoft 365 E3 (500 seats minimum), HIPAA",SPE_E3_HIPAA,{E3_GUID.replace("05", "06", 1)},,,'

        result = run(session, account, csv_bytes(EMS_ROW, row, newline="\r\n"))

        assert outcome(result) == (2, 0, 0)
        assert products(session)["SPE_E3_HIPAA"].name == "Microsoft 365 E3 (500 seats minimum), HIPAA"

    def test_kind_addon_makes_addons_that_need_a_parent_to_be_sold(
        self, session: Session, account: ProviderAccount
    ) -> None:
        run(session, account, csv_bytes(EMS_ROW), kind=ProductKind.ADDON)

        ems = service.require_product(session, "EMS")
        assert ems.kind is ProductKind.ADDON
        assert ProductRead.from_model(ems).sellable is False


class TestReimport:
    def test_reimport_is_idempotent(self, session: Session, account: ProviderAccount) -> None:
        content = csv_bytes(*E3_ROWS, EMS_ROW)
        run(session, account, content)
        first = {key: (p.id, p.product_code) for key, p in products(session).items()}

        result = run(session, account, content)

        assert outcome(result) == (0, 0, 2)
        assert {key: (p.id, p.product_code) for key, p in products(session).items()} == first

    def test_a_changed_display_name_is_an_update(self, session: Session, account: ProviderAccount) -> None:
        run(session, account, csv_bytes(*E3_ROWS, EMS_ROW))
        renamed = [row.replace("Microsoft 365 E3", "Microsoft 365 E3 (no Teams)") for row in E3_ROWS]

        result = run(session, account, csv_bytes(*renamed, EMS_ROW))

        assert outcome(result) == (0, 1, 1)
        assert products(session)["SPE_E3"].name == "Microsoft 365 E3 (no Teams)"
        assert product_count(session) == 2

    def test_a_changed_service_plan_list_is_an_update(self, session: Session, account: ProviderAccount) -> None:
        run(session, account, csv_bytes(*E3_ROWS))

        result = run(session, account, csv_bytes(E3_ROWS[0]))

        assert outcome(result) == (0, 1, 0)
        assert [plan["id"] for plan in products(session)["SPE_E3"].service_plans] == [EXCHANGE_PLAN]

    def test_a_product_made_by_hand_is_completed_not_duplicated(
        self, session: Session, account: ProviderAccount
    ) -> None:
        by_hand = create_product(
            session,
            account=account,
            name="M365 E3",
            provisioning_id="SPE_E3",
            list_price="36.00",
            offer_id="offer-e3",
        )

        result = run(session, account, csv_bytes(*E3_ROWS, EMS_ROW))

        assert outcome(result) == (1, 1, 0)
        assert product_count(session) == 2
        e3 = products(session)["SPE_E3"]
        assert e3.id == by_hand.id
        assert e3.product_code == by_hand.product_code
        assert e3.sku_id == E3_GUID
        assert e3.name == "Microsoft 365 E3"
        # What the operator set is left alone.
        assert (e3.list_price, e3.offer_id, e3.kind) == (Decimal("36.00"), "offer-e3", ProductKind.LICENSE)

    def test_the_same_string_id_in_another_account_is_another_product(
        self, session: Session, account: ProviderAccount
    ) -> None:
        other = create_provider_account(session, name="Partner Center EU")
        run(session, account, csv_bytes(EMS_ROW))

        result = run(session, other, csv_bytes(EMS_ROW))

        assert outcome(result) == (1, 0, 0)
        assert product_count(session) == 2


class TestOddities:
    def test_a_string_id_with_two_guids_keeps_the_first_with_a_warning(
        self, session: Session, account: ProviderAccount
    ) -> None:
        second_guid = "11111111-2222-3333-4444-555555555555"
        content = csv_bytes(E3_ROWS[0], E3_ROWS[1].replace(E3_GUID, second_guid))

        result = run(session, account, content)

        assert products(session)["SPE_E3"].sku_id == E3_GUID
        assert len(result.warnings) == 1
        warning = result.warnings[0]
        assert warning.startswith("line 3: SPE_E3")
        assert second_guid in warning
        assert E3_GUID in warning
        assert "kept the first" in warning

    def test_a_non_ascii_name_is_kept_with_a_warning(self, session: Session, account: ProviderAccount) -> None:
        name = "Microsoft 365 E3 \u2013 \u00c9ducation"  # an en dash and an accented letter
        row = f"{name},SPE_E3_EDU,{E3_GUID},,,"

        result = run(session, account, csv_bytes(row))

        assert products(session)["SPE_E3_EDU"].name == name
        assert len(result.warnings) == 1
        assert result.warnings[0].startswith("line 2: SPE_E3_EDU")
        assert "non-ASCII" in result.warnings[0]

    @pytest.mark.parametrize(
        "written",
        ["Microsoft\u00a0365 E3", "Microsoft 365\u200b E3", " Microsoft  365 E3\u00a0"],
        ids=["non-breaking space", "zero-width space", "doubled and trailing spaces"],
    )
    def test_unusual_spaces_in_a_name_are_normalized_with_a_warning(
        self, session: Session, account: ProviderAccount, written: str
    ) -> None:
        result = run(session, account, csv_bytes(f"{written},SPE_E3,{E3_GUID},,,"))

        assert products(session)["SPE_E3"].name == "Microsoft 365 E3"
        assert len(result.warnings) == 1
        assert "normalized to 'Microsoft 365 E3'" in result.warnings[0]

    def test_a_warning_is_given_once_per_product(self, session: Session, account: ProviderAccount) -> None:
        rows = [row.replace("Microsoft 365 E3", "Microsoft\u00a0365 E3") for row in E3_ROWS]

        result = run(session, account, csv_bytes(*rows))

        assert len(result.warnings) == 1

    def test_semicolon_delimited(self, session: Session, account: ProviderAccount) -> None:
        content = csv_bytes(*(row.replace(",", ";") for row in [*E3_ROWS, EMS_ROW]), header=HEADER.replace(",", ";"))

        result = run(session, account, content)

        assert outcome(result) == (2, 0, 0)
        found = products(session)
        assert found["SPE_E3"].sku_id == E3_GUID
        assert len(found["SPE_E3"].service_plans) == 2

    def test_the_header_spelled_string_space_id(self, session: Session, account: ProviderAccount) -> None:
        result = run(session, account, csv_bytes(*E3_ROWS, header=HEADER.replace("String_Id", "String_ Id")))

        assert outcome(result) == (1, 0, 0)
        assert products(session)["SPE_E3"].sku_id == E3_GUID

    def test_blank_lines_are_skipped(self, session: Session, account: ProviderAccount) -> None:
        result = run(session, account, csv_bytes(E3_ROWS[0], "", ",,,,,", EMS_ROW))

        assert outcome(result) == (2, 0, 0)
        assert result.rows_read == 2


class TestUnreadableFiles:
    def test_a_row_with_the_wrong_number_of_fields_names_its_line(
        self, session: Session, account: ProviderAccount
    ) -> None:
        content = csv_bytes(*E3_ROWS, f"Enterprise Mobility + Security E3,EMS,{EMS_GUID}")

        error = assert_invalid_at(session, account, content, line=4)

        assert "expected 6 fields, found 3" in error.message

    def test_nothing_of_a_bad_file_is_imported_into_an_existing_catalog(
        self, session: Session, account: ProviderAccount
    ) -> None:
        run(session, account, csv_bytes(*E3_ROWS))
        renamed = E3_ROWS[0].replace("Microsoft 365 E3", "Renamed")
        content = csv_bytes(renamed, EMS_ROW, "Broken row,with,too,few", newline="\r\n")

        assert_invalid_at(session, account, content, line=4)

        assert sorted(products(session)) == ["SPE_E3"]
        assert products(session)["SPE_E3"].name == "Microsoft 365 E3"

    def test_a_bad_guid_names_its_line(self, session: Session, account: ProviderAccount) -> None:
        content = csv_bytes(*E3_ROWS, EMS_ROW.replace(EMS_GUID, "efccb6f7-5641-4e0e-bd10-b4976e1bf68"))

        error = assert_invalid_at(session, account, content, line=4)

        assert "is not a GUID" in error.message

    def test_a_missing_string_id_column_is_line_one(self, session: Session, account: ProviderAccount) -> None:
        header = HEADER.replace("String_Id", "SKU_Part_Number")

        error = assert_invalid_at(session, account, csv_bytes(*E3_ROWS, header=header), line=1)

        assert "String_Id" in error.message

    def test_an_empty_string_id_names_its_line(self, session: Session, account: ProviderAccount) -> None:
        assert_invalid_at(session, account, csv_bytes(E3_ROWS[0], EMS_ROW.replace(",EMS,", ",,")), line=3)

    def test_bytes_that_are_not_utf8_name_their_line(self, session: Session, account: ProviderAccount) -> None:
        latin1 = f"Microsoft 365 E3 \u00e9ducation,SPE_E3_EDU,{E3_GUID},,,".encode("latin-1")
        content = csv_bytes(*E3_ROWS) + latin1 + b"\n"

        error = assert_invalid_at(session, account, content, line=4)

        assert "not UTF-8" in error.message

    def test_an_empty_file(self, session: Session, account: ProviderAccount) -> None:
        assert_invalid_at(session, account, b"", line=1)


class TestImportCatalog:
    def test_needs_a_provider_account(self, session: Session) -> None:
        with pytest.raises(ImportInvalid, match="provider account"):
            import_catalog(session, content=csv_bytes(EMS_ROW), fmt=ImportFormat.MICROSOFT_CSV, default_currency="USD")

        assert product_count(session) == 0

    @pytest.mark.parametrize(
        ("content", "filename"),
        [
            (csv_bytes(EMS_ROW), None),
            (b"\xef\xbb\xbf" + csv_bytes(EMS_ROW), None),
            (csv_bytes(EMS_ROW, header=HEADER.replace("String_Id", "String_ Id")), None),
            (csv_bytes(EMS_ROW, header=HEADER.replace(",", ";")).replace(b",", b";"), "licensing.CSV"),
        ],
        ids=["header", "header after a BOM", "String_ Id header", "file name"],
    )
    def test_detects_the_csv(
        self, session: Session, account: ProviderAccount, content: bytes, filename: str | None
    ) -> None:
        result = import_catalog(
            session,
            content=content,
            fmt=None,
            filename=filename,
            provider_account="Partner Center",
            default_currency="USD",
        )

        assert result.format == "microsoft_csv"
        assert outcome(result) == (1, 0, 0)
        assert products(session)["EMS"].sku_id == EMS_GUID

    def test_unknown_provider_account(self, session: Session) -> None:
        with pytest.raises(ProviderAccountNotFound):
            import_catalog(
                session,
                content=csv_bytes(EMS_ROW),
                fmt=ImportFormat.MICROSOFT_CSV,
                provider_account="Nowhere",
                default_currency="USD",
            )
