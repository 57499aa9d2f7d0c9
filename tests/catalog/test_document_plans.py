"""The catalog document carries each product's plans (SPEC §2); documents written before plans existed still
import, each product sold in its term and billing frequency at its prices."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from importlib import resources

import pytest
from sqlalchemy.orm import Session

from seatflow.catalog import repository
from seatflow.catalog.document import dump_document, export_document, import_document
from seatflow.catalog.models import Product
from seatflow.catalog.schemas import ImportResult
from seatflow.errors import SeatflowError

DEMO = resources.files("seatflow.catalog").joinpath("demo_catalog.yaml").read_text(encoding="utf-8")

OLD_DOCUMENT = textwrap.dedent(
    """\
    seatflow_catalog: 1
    provider_accounts:
      - {name: Distributor, kind: manual}
    products:
      - provider_account: Distributor
        kind: license
        name: Microsoft 365 E3
        provisioning_id: SPE_E3
        term: P1Y
        billing_frequency: annual
        list_price: 36.00
        cost_price: 28.80
      - provider_account: Distributor
        kind: service
        name: Managed backup
        provisioning_id: BACKUP
        term: P1Y
        billing_frequency: quarterly
        list_price: 5.00
    """
)


def load(session: Session, text: str) -> ImportResult:
    return import_document(session, text=text, default_currency="USD")


def product(session: Session, provisioning_id: str) -> Product:
    found = repository.products_by_key(session, provisioning_id)
    assert len(found) == 1
    return found[0]


def plans_of(session: Session, provisioning_id: str) -> set[tuple[str, str, Decimal | None, Decimal | None]]:
    return {
        (p.term.value, p.billing_plan.value, p.list_price, p.cost_price)
        for p in product(session, provisioning_id).plans
    }


def test_the_demo_sells_each_partner_center_product_monthly_and_for_a_year(session: Session) -> None:
    load(session, DEMO)

    assert plans_of(session, "SPE_E3") == {
        ("P1M", "monthly", Decimal("41.15"), Decimal("32.92")),  # 34.29 x 1.20 = 41.148; 27.43 x 1.20 = 32.916
        ("P1Y", "monthly", Decimal("36.00"), Decimal("28.80")),  # the default, the demo's E3 price
        ("P1Y", "annual", Decimal("34.29"), Decimal("27.43")),  # 36.00 / 1.05 = 34.286; 28.80 / 1.05 = 27.429
    }
    e3 = product(session, "SPE_E3")
    assert (e3.offer_id, e3.list_price, e3.cost_price) == ("CFQ7TTC0LFLX:0001", Decimal("36.00"), Decimal("28.80"))
    storage = product(session, "SHAREPOINTSTORAGE")  # sold by the gigabyte, a monthly term by default
    assert (storage.term.value, storage.list_price) == ("P1M", Decimal("0.20"))
    assert ("P1Y", "annual", Decimal("0.1667"), Decimal("0.1333")) in plans_of(session, "SHAREPOINTSTORAGE")
    # 0.20 / 1.20 = 0.16667; 0.16 / 1.20 = 0.13333


def test_the_export_lists_the_plans_and_reads_back_unchanged(session: Session) -> None:
    load(session, DEMO)
    document = export_document(session)

    ems = next(p for p in document["products"] if p["provisioning_id"] == "EMS")
    assert ems["plans"] == [
        {"term": "P1M", "billing_plan": "monthly", "list_price": "12.12", "cost_price": "9.70"},  # 10.10 x 1.20
        {"term": "P1Y", "billing_plan": "monthly", "list_price": "10.60", "cost_price": "8.48"},
        {"term": "P1Y", "billing_plan": "annual", "list_price": "10.10", "cost_price": "8.08"},  # 10.60 / 1.05
    ]
    assert (ems["list_price"], ems["cost_price"]) == ("10.60", "8.48")  # the default plan's
    for fmt in ("yaml", "json"):
        result = load(session, dump_document(document, fmt))  # type: ignore[arg-type]
        assert (result.created, result.updated) == (0, 0), fmt


def test_a_document_without_plans_imports_one_plan_per_product(session: Session) -> None:
    result = load(session, OLD_DOCUMENT)

    assert result.details["products"].created == 2
    assert plans_of(session, "SPE_E3") == {("P1Y", "annual", Decimal("36.00"), Decimal("28.80"))}
    assert plans_of(session, "BACKUP") == {("P1Y", "quarterly", Decimal("5.00"), None)}
    assert load(session, OLD_DOCUMENT).unchanged == 3  # the account and both products


def test_a_document_without_plans_leaves_the_plans_of_an_existing_product(session: Session) -> None:
    load(session, DEMO)
    before = plans_of(session, "EMS")
    old_style = textwrap.dedent(
        """\
        products:
          - provider_account: Partner Center
            kind: license
            name: Enterprise Mobility + Security E3
            provisioning_id: EMS
            term: P1Y
            list_price: 11.00
        """
    )

    result = load(session, old_style)

    assert result.details["products"].updated == 1
    after = plans_of(session, "EMS")
    assert after - before == {("P1Y", "monthly", Decimal("11.00"), Decimal("8.48"))}  # only the default's price
    assert product(session, "EMS").list_price == Decimal("11.00")


def test_a_changed_plan_price_is_an_update(session: Session) -> None:
    load(session, DEMO)
    changed = DEMO.replace(
        '{term: P1Y, billing_plan: annual, list_price: "10.10", cost_price: "8.08"}',
        '{term: P1Y, billing_plan: annual, list_price: "10.00", cost_price: "8.08"}',
    )
    assert changed != DEMO

    result = load(session, changed)

    assert result.details["products"].updated == 1
    assert ("P1Y", "annual", Decimal("10.00"), Decimal("8.08")) in plans_of(session, "EMS")
    assert product(session, "EMS").list_price == Decimal("10.60")  # the default (P1Y monthly) is unchanged


@pytest.mark.parametrize(
    ("plans", "code", "where"),
    [
        (
            "[{term: P1M, billing_plan: annual}]",
            "term_not_offered",
            "line 4: products[0]: Microsoft 365 E3: P1M annual is not a combination",
        ),
        (
            "[{term: P1Y, billing_plan: monthly}, {term: P1Y, billing_plan: monthly}]",
            "duplicate_plan",
            "line 4: products[0]: Microsoft 365 E3: P1Y monthly is listed twice",
        ),
        ("[{term: P1Y, billing_plan: weekly}]", "import_invalid", "line 8: products[0].plans[0].billing_plan: "),
    ],
)
def test_a_wrong_plan_names_its_product_and_line(session: Session, plans: str, code: str, where: str) -> None:
    text = textwrap.dedent(
        f"""\
        provider_accounts:
          - {{name: Distributor, kind: manual}}
        products:
          - provider_account: Distributor
            kind: license
            name: Microsoft 365 E3
            provisioning_id: SPE_E3
            plans: {plans}
        """
    )

    with pytest.raises(SeatflowError) as refused:
        load(session, text)

    assert refused.value.code == code
    assert str(refused.value).startswith(where)
