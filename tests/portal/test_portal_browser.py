"""The portal in a real browser (issue 6): Playwright driving Debian's chromium against the app served by
uvicorn on a committed database, with the Partner Center simulator and the worker for real.

Skipped without /usr/bin/chromium. With SEATFLOW_SCREENSHOTS=1 the run also saves docs/screenshots/portal-*.png.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    ViewportSize,
    expect,
    sync_playwright,
)
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from seatflow.billing.models import Invoice
from seatflow.billing.runs import run_billing
from seatflow.config import Settings
from seatflow.customers.models import Contact, ContactRole, CustomerAccount
from seatflow.customers.schemas import ContactCreate
from seatflow.customers.service import invite_contact
from seatflow.provisioning.worker import Worker
from seatflow.simulator import SimulatorServer
from seatflow.subscriptions.models import Subscription
from seatflow.web.app import create_app
from tests.a11y.axe import assert_no_serious_a11y
from tests.factories import FACTORY_TODAY, load_demo_catalog, noon
from tests.portal.browser import CHROMIUM, CHROMIUM_ARGS, chromium_env, screenshot, serve
from tests.portal.conftest import PASSWORD, make_contact
from tests.provisioning.conftest import FAST, ManualClock
from tests.subscriptions.helpers import pine_cone_vet

if not CHROMIUM.exists():
    pytest.skip(f"the browser tests need chromium at {CHROMIUM}: apt-get install -y chromium", allow_module_level=True)

pytestmark = pytest.mark.slow

MANAGER, ADMIN, FINANCE, CHILDREN = (
    ContactRole.SUBSCRIPTION_MANAGER,
    ContactRole.ADMINISTRATOR,
    ContactRole.FINANCE_MANAGER,
    ContactRole.ACCESS_CHILD_ACCOUNTS,
)
NY_MANAGER = "dana.reyes@pinecone-ny.example"
HEAD_ADMIN = "sam.okafor@pineconevet.example"
HEAD_FINANCE = "lee.chen@pineconevet.example"
LOCATIONS = ("Pine Cone Vet - Atlanta", "Pine Cone Vet - Memphis", "Pine Cone Vet - New York City")
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}


@dataclass(frozen=True)
class Site:
    url: str
    engine: Engine
    clock: ManualClock
    simulator: SimulatorServer
    contracts: dict[str, str]
    """Contract name → id, the parent contract's included."""
    parent_e3: uuid.UUID
    new_york_invoice: Invoice


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, env=chromium_env())
        yield browser
        browser.close()


def _person(session: Session, account: CustomerAccount, name: str, email: str, *roles: ContactRole) -> None:
    make_contact(session, account, email, *roles)
    contact = session.scalars(select(Contact).where(Contact.email == email)).one()
    contact.name = name


def _build(session: Session, simulator: SimulatorServer) -> tuple[dict[str, str], uuid.UUID, Invoice]:
    """Pine Cone Vet with its locations as child accounts, its people, and the first invoices."""
    catalog = load_demo_catalog(session)
    catalog.partner_center.settings = {"base_url": simulator.url, "timeout_seconds": 5}
    session.flush()
    vet = pine_cone_vet(session, catalog, location_accounts=True)
    new_york = vet.locations["New York City"]
    ny_account = session.get(CustomerAccount, new_york.contract.customer_id)
    assert ny_account is not None
    _person(session, ny_account, "Dana Reyes", NY_MANAGER, MANAGER)
    _person(session, vet.customer, "Sam Okafor", HEAD_ADMIN, ADMIN, CHILDREN)
    _person(session, vet.customer, "Lee Chen", HEAD_FINANCE, FINANCE, CHILDREN)
    invite_contact(
        session,
        customer=vet.customer,
        data=ContactCreate(email="morgan.price@pineconevet.example", name="Morgan Price", roles=[MANAGER]),
        now=noon(FACTORY_TODAY),
        base_url="http://testserver",
    )
    run_billing(session, run_date=FACTORY_TODAY, now=noon(FACTORY_TODAY), requested_by="browser tests")
    invoice = session.scalars(select(Invoice).where(Invoice.contract_id == new_york.contract.id)).one()
    contracts = {c.name: str(c.id) for c in (vet.parent_contract, *(loc.contract for loc in vet.locations.values()))}
    return contracts, vet.parent_e3.id, invoice


@pytest.fixture
def site(committed_engine: Engine, empty_database_url: str, simulator: SimulatorServer) -> Iterator[Site]:
    """The app on a loopback port over a database of the test's own, its clock at noon on FACTORY_TODAY (as
    the data's), and the demo catalog's Partner Center account pointed at the simulator."""
    with Session(committed_engine, expire_on_commit=False) as session:
        contracts, parent_e3, invoice = _build(session, simulator)
        session.commit()
    start = noon(FACTORY_TODAY)
    clock = ManualClock(start, datetime.now(start.tzinfo))
    app = create_app(Settings(database_url=empty_database_url, default_currency="USD"), engine=committed_engine)
    app.state.clock = clock
    with serve(app) as url:
        yield Site(url, committed_engine, clock, simulator, contracts, parent_e3, invoice)


NewPage = Callable[..., Page]


@pytest.fixture
def new_page(browser: Browser, site: Site) -> Iterator[NewPage]:
    """A page in a fresh browser context (its own cookies), desktop-sized unless told; closed before the server
    stops."""
    contexts: list[BrowserContext] = []

    def _new(viewport: ViewportSize = DESKTOP, **options: Any) -> Page:
        context = browser.new_context(viewport=viewport, locale="en-US", base_url=site.url, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield _new
    for context in contexts:
        context.close()


def log_in(page: Page, email: str) -> None:
    page.goto("/portal/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1, name="Your contracts")).to_be_visible()


def subscription_row(page: Page, product: str) -> Locator:
    return page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=product, exact=True))


def drain(site: Site) -> None:
    """The worker, in this process, on the same database, until nothing is left to do."""
    worker = Worker(sessionmaker(bind=site.engine, expire_on_commit=False), site.clock, config=FAST)
    try:
        worker.drain(max_wait_seconds=30)
    finally:
        worker.registry.close()


def provider_quantity(site: Site, subscription_id: uuid.UUID) -> int:
    with Session(site.engine) as session:
        subscription = session.get(Subscription, subscription_id)
        assert subscription is not None
        assert subscription.external_id, "the subscription was never bought"
        external_id = subscription.external_id
    state = httpx.get(f"{site.simulator.url}/_sim/state").json()
    (found,) = [s for s in state["subscriptions"] if s["id"] == external_id]
    return int(found["quantity"])


def unlabelled_inputs(page: Page) -> list[str]:
    """The form controls a screen reader could not name (no <label>, aria-label or aria-labelledby)."""
    found: list[str] = page.evaluate(
        """() => [...document.querySelectorAll("input, select, textarea")]
            .filter(el => el.type !== "hidden")
            .filter(el => ![...el.labels].some(l => l.textContent.trim())
                && !(el.getAttribute("aria-label") || "").trim() && !el.getAttribute("aria-labelledby"))
            .map(el => el.outerHTML)"""
    )
    return found


def check_page_basics(page: Page) -> None:
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.title().strip(), "the page has no <title>"
    expect(page.locator("h1")).to_have_count(1)
    assert page.locator("h1").inner_text().strip()
    assert unlabelled_inputs(page) == []
    assert_no_serious_a11y(page)


def no_horizontal_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


# --- 1. a location's subscription manager raises a quantity and watches it provision -------------------


def test_new_yorks_manager_raises_e3_and_watches_it_provision(site: Site, new_page: NewPage) -> None:
    drain(site)  # the parents are bought first, so that New York's change reaches Partner Center for real
    assert provider_quantity(site, site.parent_e3) == 50
    page = new_page()
    log_in(page, NY_MANAGER)

    tiles = page.locator("a.tile")
    expect(tiles).to_have_count(1)
    expect(tiles).to_contain_text("Pine Cone Vet - New York City")
    tiles.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Pine Cone Vet - New York City")
    e3 = subscription_row(page, "Microsoft 365 E3")
    expect(e3.locator(".qty")).to_have_text("25")
    expect(e3.locator('[data-figure="monthly"]')).to_have_text("900.00 USD")  # 25 x 36.00 = 900.00
    e3.get_by_label("New quantity of Microsoft 365 E3").fill("35")
    e3.get_by_role("button", name="Change").click()

    # First the cost of the change, and nothing recorded yet.
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm the change")
    expect(page.locator('[data-figure="monthly-before"]')).to_have_text("900.00 USD")  # 25 x 36.00 = 900.00
    expect(page.locator('[data-figure="monthly-after"]')).to_have_text("1260.00 USD")  # 35 x 36.00 = 1260.00
    expect(page.locator('[data-figure="monthly-difference"]')).to_have_text("+360.00 USD")  # 10 x 36.00 = 360.00
    until = page.locator('[data-figure="removable-until"]')
    expect(until).to_contain_text("You can remove the 10 licenses added until 7 December 2026.")  # 1 + 7 - 1
    expect(until).to_contain_text("After that they are paid until the term ends on 30 November 2027.")
    check_page_basics(page)
    screenshot(page, "confirm")
    page.get_by_role("button", name="Confirm the change").click()

    expect(page.get_by_role("status")).to_contain_text("awaiting provisioning")
    e3 = subscription_row(page, "Microsoft 365 E3")
    expect(e3.locator(".qty")).to_have_text("35")
    expect(e3.locator(".change")).to_have_text("Quantity 25 → 35")
    expect(e3.locator("[data-status]")).to_have_attribute("data-status", "awaiting_provisioning")
    expect(page.locator('meta[http-equiv="refresh"]')).to_have_count(1)
    screenshot(page, "contract-awaiting")

    drain(site)

    # No reload: the page refreshes itself while the change is awaiting.
    e3 = subscription_row(page, "Microsoft 365 E3")
    expect(e3.locator("[data-status]")).to_have_attribute("data-status", "provisioned", timeout=15_000)
    expect(e3.locator(".qty")).to_have_text("35")
    expect(page.locator('meta[http-equiv="refresh"]')).to_have_count(0)
    assert provider_quantity(site, site.parent_e3) == 60
    screenshot(page, "contract")


def test_after_a_change_the_contract_page_refreshes_itself(site: Site, new_page: NewPage) -> None:
    page = new_page()
    log_in(page, NY_MANAGER)
    page.goto(f"/portal/contracts/{site.contracts['Pine Cone Vet - New York City']}")
    e3 = subscription_row(page, "Microsoft 365 E3")
    e3.get_by_label("New quantity of Microsoft 365 E3").fill("30")
    e3.get_by_role("button", name="Change").click()
    page.get_by_role("button", name="Confirm the change").click()
    expect(page.locator('meta[http-equiv="refresh"]')).to_have_count(1)

    with page.expect_request(re.compile(r"/portal/contracts/"), timeout=7_000):
        pass  # the refresh is due 5 s after the page loaded


# --- 2. the head office administrator sees every location, never the parent contract -------------------


def test_the_head_office_administrator_sees_the_three_locations_and_not_the_parent(
    site: Site, new_page: NewPage
) -> None:
    page = new_page()
    log_in(page, HEAD_ADMIN)

    tiles = page.locator("a.tile strong")
    expect(tiles).to_have_text(list(LOCATIONS))
    expect(page.get_by_text("Pine Cone Vet - Parent")).to_have_count(0)
    screenshot(page, "home")

    answer = page.goto(f"/portal/contracts/{site.contracts['Pine Cone Vet - Parent']}")
    assert answer is not None
    assert answer.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")


# --- 3. a finance manager downloads an invoice ---------------------------------------------------------


def test_a_finance_manager_downloads_an_invoice_pdf(site: Site, new_page: NewPage, tmp_path: Path) -> None:
    from pypdf import PdfReader

    invoice = site.new_york_invoice
    assert invoice.total == Decimal("1006.00")  # 25 x 36.00 + 10 x 10.60 = 900.00 + 106.00 = 1006.00
    page = new_page()
    log_in(page, HEAD_FINANCE)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Invoices").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Invoices")
    expect(page.locator("tbody tr")).to_have_count(3)
    screenshot(page, "invoices")
    page.get_by_role("link", name=invoice.number, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Invoice {invoice.number}")
    expect(page.locator("tfoot .total")).to_contain_text("1006.00")
    screenshot(page, "invoice")

    with page.expect_download() as info:
        page.get_by_role("link", name="Download PDF").click()
    download = info.value
    assert download.suggested_filename == f"{invoice.number}.pdf"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)

    body = saved.read_bytes()
    assert body.startswith(b"%PDF")
    text = "\n".join(p.extract_text() for p in PdfReader(saved).pages)
    assert invoice.number in text
    assert re.search(r"Total USD\s*1006\.00", text), text


# --- 4. a phone ----------------------------------------------------------------------------------------


def test_at_phone_width_nothing_scrolls_sideways_and_the_quantity_form_works(site: Site, new_page: NewPage) -> None:
    page = new_page(PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    log_in(page, HEAD_ADMIN)
    for path in ("/portal/", "/portal/users", "/portal/invoices", f"/portal/invoices/{site.new_york_invoice.id}"):
        page.goto(path)
        assert no_horizontal_scroll(page), f"{path} scrolls sideways at 390 px"
    table, total = page.locator("table").bounding_box(), page.locator("tfoot .total").bounding_box()
    assert table is not None
    assert total is not None
    assert total["width"] > 0.9 * table["width"], "the invoice's total is squeezed at 390 px"

    page.goto(f"/portal/contracts/{site.contracts['Pine Cone Vet - New York City']}")
    assert no_horizontal_scroll(page), "the contract page scrolls sideways at 390 px"
    ems = subscription_row(page, "Enterprise Mobility + Security E3")
    field = ems.get_by_label("New quantity of Enterprise Mobility + Security E3")
    button = ems.get_by_role("button", name="Change")
    for control in (field, button):
        control.scroll_into_view_if_needed()
        box = control.bounding_box()
        assert box is not None
        assert box["x"] >= 0, f"{control} sticks out on the left: {box}"
        assert box["x"] + box["width"] <= PHONE["width"], f"{control} sticks out on the right: {box}"
        assert box["height"] >= 32, f"{control} is too small to tap: {box}"
    field.tap()
    field.fill("12")
    button.tap()
    expect(page.locator('[data-figure="monthly-after"]')).to_have_text("127.20 USD")  # 12 x 10.60 = 127.20
    assert no_horizontal_scroll(page), "the confirmation scrolls sideways at 390 px"
    page.get_by_role("button", name="Confirm the change").tap()

    ems = subscription_row(page, "Enterprise Mobility + Security E3")
    expect(ems.locator(".qty")).to_have_text("12")
    expect(ems.locator("[data-status]")).to_have_attribute("data-status", "awaiting_provisioning")
    assert no_horizontal_scroll(page), "the contract page after a change scrolls sideways at 390 px"
    screenshot(page, "contract-phone")


# --- 5. accessibility basics ---------------------------------------------------------------------------


def test_every_input_has_a_label_and_every_page_a_lang_a_title_and_an_h1(site: Site, new_page: NewPage) -> None:
    page = new_page()
    page.goto("/portal/login")
    check_page_basics(page)
    expect(page.get_by_label("E-mail address")).to_have_attribute("type", "email")
    expect(page.get_by_label("Password")).to_have_attribute("type", "password")
    screenshot(page, "login")
    log_in(page, HEAD_ADMIN)
    check_page_basics(page)

    page.goto(f"/portal/contracts/{site.contracts['Pine Cone Vet - New York City']}")
    check_page_basics(page)
    for product in ("Microsoft 365 E3", "Enterprise Mobility + Security E3"):
        expect(page.get_by_label(f"New quantity of {product}")).to_be_editable()
    page.get_by_role("link", name="Microsoft 365 E3", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Microsoft 365 E3")
    check_page_basics(page)
    page.get_by_label("New quantity of Microsoft 365 E3").fill("26")
    page.get_by_role("button", name="Change").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm the change")
    check_page_basics(page)
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Microsoft 365 E3")
    expect(page.locator(".qty")).to_have_text("25")  # cancelled: nothing changed

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    check_page_basics(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Users of Pine Cone Vet and its locations")
    expect(page.get_by_label("Account").locator("option:checked")).to_have_text("Pine Cone Vet")
    expect(page.get_by_role("heading", level=2, name="Pine Cone Vet New York City")).to_be_visible()
    expect(page.get_by_role("group", name="Roles of Dana Reyes")).to_be_visible()  # a location's user
    expect(page.get_by_label("Name", exact=True)).to_be_editable()
    expect(page.get_by_label("E-mail address")).to_be_editable()
    invite_roles = page.get_by_role("group", name="Roles", exact=True)
    for role in ("Administrator", "Subscription manager", "Finance manager"):
        expect(invite_roles.get_by_label(role)).not_to_be_checked()
    expect(page.locator('input[value="access_child_accounts"]')).to_have_count(0)  # only the reseller grants it
    lee = page.get_by_role("group", name="Roles of Lee Chen")
    expect(lee.get_by_label("Finance manager")).to_be_checked()
    expect(lee.get_by_label("Administrator")).not_to_be_checked()
    screenshot(page, "users")


# --- 6. what a subscription costs, on its own page ----------------------------------------------------------------


def test_a_subscriptions_page_shows_its_price_term_plan_and_monthly_cost(site: Site, new_page: NewPage) -> None:
    page = new_page()
    log_in(page, NY_MANAGER)
    page.goto(f"/portal/contracts/{site.contracts['Pine Cone Vet - New York City']}")
    subscription_row(page, "Microsoft 365 E3").get_by_role("link", name="Microsoft 365 E3").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Microsoft 365 E3")
    expect(page.locator('[data-figure="unit-price"]')).to_contain_text("36.00 USD")  # the catalog's P1Y monthly price
    expect(page.locator('[data-figure="monthly"]')).to_contain_text("900.00 USD")  # 25 x 36.00 = 900.00
    facts = page.locator(".facts")
    expect(facts).to_contain_text("1 December 2026 to 30 November 2027")
    expect(facts).to_contain_text("Billed monthly")
    expect(page.get_by_text("Today 25 licenses of the 25 can be removed")).to_be_visible()
    check_page_basics(page)
    screenshot(page, "subscription")


# --- 7. a change the provider refuses ------------------------------------------------------------------------------

SMALL_E3_LIMIT = 55
"""Partner Center's limit for Microsoft 365 E3 in this test: the head office's 50 fit, New York's +10 (60) do not."""


def _limit_e3_at_the_provider(site: Site, maximum: int) -> None:
    offers = httpx.get(f"{site.simulator.url}/_sim/offers").json()["items"]
    (e3,) = [o for o in offers if o.get("productId") == "CFQ7TTC0LFLX" and o.get("skuId") == "0001"]
    answer = httpx.post(f"{site.simulator.url}/_sim/offers", json=e3 | {"maximumQuantity": maximum})
    assert answer.status_code == 201, answer.text


def test_a_change_the_provider_refuses_is_shown_failed_with_a_plain_reason(site: Site, new_page: NewPage) -> None:
    _limit_e3_at_the_provider(site, SMALL_E3_LIMIT)
    drain(site)  # the head office's 50 are bought: within the limit
    assert provider_quantity(site, site.parent_e3) == 50
    page = new_page()
    log_in(page, NY_MANAGER)
    page.goto(f"/portal/contracts/{site.contracts['Pine Cone Vet - New York City']}")
    e3 = subscription_row(page, "Microsoft 365 E3")
    e3.get_by_label("New quantity of Microsoft 365 E3").fill("35")
    e3.get_by_role("button", name="Change").click()
    page.get_by_role("button", name="Confirm the change").click()
    expect(page.get_by_role("status")).to_contain_text("awaiting provisioning")

    drain(site)  # the worker sends the head office's 60: Partner Center refuses it, and New York's change fails
    page.reload()

    e3 = subscription_row(page, "Microsoft 365 E3")
    expect(e3.locator("[data-status]")).to_have_attribute("data-status", "failed")
    failure = e3.locator(".failed-changes")
    expect(failure).to_contain_text("A change failed at the provider")
    expect(failure).to_contain_text("Quantity 25 → 35, asked on 1 December 2026")
    expect(failure).to_contain_text("The provider refused it: the quantity would be above 55.")
    expect(page.locator('meta[http-equiv="refresh"]')).to_have_count(0)
    for leak in ("2002", "CFQ7TTC0LFLX", "linked parent", "Partner Center"):
        expect(page.locator("main")).not_to_contain_text(leak)
    assert provider_quantity(site, site.parent_e3) == 50

    e3.get_by_role("link", name="Microsoft 365 E3").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Microsoft 365 E3")
    expect(page.locator("main > .failed-changes")).to_contain_text("the quantity would be above 55")
    expect(page.locator("tbody [data-status]").first).to_have_attribute("data-status", "failed")
    check_page_basics(page)
    screenshot(page, "failed")
