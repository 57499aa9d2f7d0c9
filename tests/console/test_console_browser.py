"""The operator console in a real browser (issue 7): Playwright driving Debian's chromium against the app served by
uvicorn on a committed database, with the Partner Center simulator and the worker for real.

Skipped without /usr/bin/chromium. With SEATFLOW_SCREENSHOTS=1 the run also saves docs/screenshots/console-*.png.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, ViewportSize, expect, sync_playwright
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from seatflow.auth import operators as accounts
from seatflow.auth.models import OperatorRole
from seatflow.billing.models import BillingRun, Invoice
from seatflow.config import Settings
from seatflow.provisioning.worker import Worker
from seatflow.simulator import SimulatorServer
from seatflow.subscriptions.models import Subscription
from seatflow.web.app import create_app
from tests.a11y.axe import assert_no_serious_a11y
from tests.console.browser import CHROMIUM, CHROMIUM_ARGS, chromium_env, screenshot, serve
from tests.factories import (
    FACTORY_TODAY,
    create_contract,
    create_customer,
    create_subscription,
    load_demo_catalog,
    noon,
)
from tests.provisioning.conftest import FAST, ManualClock
from tests.reconciliation.helpers import change
from tests.subscriptions.helpers import pine_cone_vet

if not CHROMIUM.exists():
    pytest.skip(f"the browser tests need chromium at {CHROMIUM}: apt-get install -y chromium", allow_module_level=True)

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
ADA, OLI, RAE = "ada.admin@reseller.example", "oli.ops@reseller.example", "rae.reader@reseller.example"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}


@dataclass(frozen=True)
class Site:
    url: str
    engine: Engine
    clock: ManualClock
    simulator: SimulatorServer
    customer_id: uuid.UUID
    parent_e3: uuid.UUID
    parent_ems: uuid.UUID
    memphis_e3: uuid.UUID


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, env=chromium_env())
        yield browser
        browser.close()


def _build(session: Session, simulator: SimulatorServer) -> dict[str, uuid.UUID]:
    """Pine Cone Vet with its locations as accounts of their own; Birch Dental, whose licenses a person buys by hand
    (the manual provider); and three operators, one of each role."""
    catalog = load_demo_catalog(session)
    catalog.partner_center.settings = {"base_url": simulator.url, "timeout_seconds": 5}
    session.flush()
    vet = pine_cone_vet(session, catalog, location_accounts=True)
    birch = create_customer(session, name="Birch Dental")
    birch_contract = create_contract(session, customer=birch, name="Birch Dental - Main")
    create_subscription(
        session, contract=birch_contract, product=catalog.e3, quantity=12, provider_account=catalog.manual
    )
    for email, name, role in (
        (ADA, "Ada Admin", OperatorRole.ADMIN),
        (OLI, "Oli Ops", OperatorRole.OPERATOR),
        (RAE, "Rae Reader", OperatorRole.READ_ONLY),
    ):
        accounts.create_operator(session, email=email, name=name, role=role, password=PASSWORD)
    return {
        "customer": vet.customer.id,
        "parent_e3": vet.parent_e3.id,
        "parent_ems": vet.parent_ems.id,
        "memphis_e3": vet.locations["Memphis"].e3.id,
    }


def drain(engine: Engine, clock: ManualClock) -> None:
    """The worker, in this process, on the same database, until nothing is left to do."""
    worker = Worker(sessionmaker(bind=engine, expire_on_commit=False), clock, config=FAST)
    try:
        worker.drain(max_wait_seconds=30)
    finally:
        worker.registry.close()


@pytest.fixture
def site(committed_engine: Engine, empty_database_url: str, simulator: SimulatorServer) -> Iterator[Site]:
    """The app on a loopback port over a database of the test's own, its clock at noon on FACTORY_TODAY; the
    parents are bought at the simulator and Birch Dental's purchase is handed to people already."""
    with Session(committed_engine, expire_on_commit=False) as session:
        ids = _build(session, simulator)
        session.commit()
    start = noon(FACTORY_TODAY)
    clock = ManualClock(start, datetime.now(start.tzinfo))
    drain(committed_engine, clock)
    app = create_app(Settings(database_url=empty_database_url, default_currency="USD"), engine=committed_engine)
    app.state.clock = clock
    with serve(app) as url:
        yield Site(
            url,
            committed_engine,
            clock,
            simulator,
            ids["customer"],
            ids["parent_e3"],
            ids["parent_ems"],
            ids["memphis_e3"],
        )


NewPage = Callable[..., Page]


@pytest.fixture
def new_page(browser: Browser, site: Site) -> Iterator[NewPage]:
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
    page.goto("/console/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1, name="Dashboard")).to_be_visible()


def go(page: Page, link: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=link, exact=True).click()


def contract_card(page: Page, name: str) -> Locator:
    return page.locator("section.contract").filter(has=page.get_by_role("heading", level=2, name=name))


def subscription_row(scope: Locator, product: str) -> Locator:
    return scope.get_by_role("row").filter(has=scope.page.get_by_role("rowheader", name=product))


def unlabelled_inputs(page: Page) -> list[str]:
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
    assert unlabelled_inputs(page) == []
    assert_no_serious_a11y(page)


def no_horizontal_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def set_quantity(site: Site, subscription_id: uuid.UUID, quantity: int) -> None:
    """Written behind the change log's back (as drift arises when someone edits the database)."""
    with Session(site.engine) as session:
        session.get_one(Subscription, subscription_id).quantity = quantity
        session.commit()


# --- 1. log in and read the Pine Cone Vet contract tree ------------------------------------------------


def test_an_operator_logs_in_and_sees_each_linked_parent_beside_its_childrens_sum(
    site: Site, new_page: NewPage
) -> None:
    page = new_page()
    page.goto("/console/")
    expect(page).to_have_url(f"{site.url}/console/login")
    check_page_basics(page)
    screenshot(page, "login")
    log_in(page, OLI)
    check_page_basics(page)
    expect(page.locator('[data-count="awaiting"]')).to_have_text("1")  # Birch Dental's purchase, by hand
    screenshot(page, "dashboard")

    go(page, "Customers")
    expect(page.get_by_role("heading", level=1)).to_have_text("Customers")
    page.get_by_role("link", name="Pine Cone Vet", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Pine Cone Vet")
    check_page_basics(page)
    parent = contract_card(page, "Pine Cone Vet - Parent")
    e3 = subscription_row(parent, "Microsoft 365 E3")
    expect(e3.locator(".qty")).to_have_text("50")
    expect(e3.locator(".children-sum")).to_have_text("children 50")
    expect(e3.locator("[data-drift]")).to_have_text("in sync")
    for location in ("Atlanta", "New York City", "Memphis"):
        expect(contract_card(page, f"Pine Cone Vet - {location}")).to_be_visible()
    memphis = subscription_row(contract_card(page, "Pine Cone Vet - Memphis"), "Microsoft 365 E3")
    expect(memphis.locator(".qty")).to_have_text("15")
    expect(memphis.get_by_role("link", name="linked to its parent")).to_be_visible()

    set_quantity(site, site.parent_ems, 23)
    page.reload()
    ems = subscription_row(contract_card(page, "Pine Cone Vet - Parent"), "Enterprise Mobility + Security E3")
    expect(ems.locator(".qty")).to_have_text("23")
    expect(ems.locator(".children-sum")).to_have_text("children 20")
    expect(ems.locator("[data-drift]")).to_have_text("drift +3")
    expect(ems.locator("[data-drift]")).to_have_attribute("data-drift", "3")
    expect(page.get_by_text("children_sum_mismatch".replace("_", " "))).to_be_visible()
    screenshot(page, "customer")

    subscription_row(contract_card(page, "Pine Cone Vet - Parent"), "Microsoft 365 E3").get_by_role(
        "link", name="Microsoft 365 E3"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Microsoft 365 E3")
    check_page_basics(page)
    timeline = page.locator("ol.timeline > li")
    expect(timeline).to_have_count(1)
    expect(timeline.first).to_contain_text("create 0 → 50")
    expect(timeline.first.locator('[data-status="provisioned"]')).to_be_visible()
    expect(page.get_by_role("heading", name="Linked children")).to_be_visible()
    expect(page.locator("tfoot")).to_contain_text("50")
    screenshot(page, "subscription")

    go(page, "Catalog")
    check_page_basics(page)
    graph = page.locator("#graph")
    e5 = graph.locator("li").filter(has_text="Office 365 E5").first
    calling = e5.locator("li li").filter(has_text="Microsoft Teams Domestic Calling Plan")
    expect(calling).to_have_count(1)  # an add-on of an add-on, two levels under its license
    expect(page.locator("#bundles")).to_contain_text("E5 Voice")
    screenshot(page, "catalog")


# --- 2. the queue: confirm failed, requeue, run the worker, confirm provisioned ------------------------


def birch_row(page: Page) -> Locator:
    return page.locator("table.queue tbody tr").filter(has_text="Birch Dental - Main")


def test_an_operator_confirms_requeues_and_runs_the_worker_in_the_queue(site: Site, new_page: NewPage) -> None:
    page = new_page()
    log_in(page, OLI)
    go(page, "Queue")
    expect(page.get_by_role("heading", level=1)).to_have_text("Provisioning queue")
    check_page_basics(page)
    row = birch_row(page)
    expect(row.locator("[data-status]")).to_have_attribute("data-status", "awaiting_provisioning")
    expect(page.locator("#notifications")).to_contain_text("Provision by hand: buy 12 Microsoft 365 E3 (Birch Dental)")
    screenshot(page, "queue")

    row.get_by_label("Outcome of Microsoft 365 E3", exact=False).select_option("failed")
    row.get_by_role("button", name="Confirm").click()
    expect(birch_row(page).get_by_role("alert")).to_contain_text("Say why it failed")
    expect(birch_row(page).locator("[data-status]")).to_have_attribute("data-status", "awaiting_provisioning")

    row = birch_row(page)
    row.get_by_label("Outcome of Microsoft 365 E3", exact=False).select_option("failed")
    row.get_by_label("Message for Microsoft 365 E3", exact=False).fill("The distributor is out of E3 seats.")
    row.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("status")).to_contain_text("Confirmed as failed")
    row = birch_row(page)
    expect(row.locator("[data-status]")).to_have_attribute("data-status", "failed")
    expect(row).to_contain_text("The distributor is out of E3 seats.")
    expect(page.locator("#notifications")).to_contain_text("None")

    row.get_by_role("button", name="Requeue").click()
    expect(page.get_by_role("status")).to_contain_text("Requeued 1 change")
    expect(birch_row(page).locator("[data-status]")).to_have_attribute("data-status", "awaiting_provisioning")

    page.get_by_role("button", name="Run the worker once").click()
    expect(page.locator("[data-ran]")).to_contain_text("1 handed to people")
    expect(page.locator("#notifications li")).to_have_count(1)

    row = birch_row(page)
    row.get_by_label("Outcome of Microsoft 365 E3", exact=False).select_option("provisioned")
    row.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("status")).to_contain_text("Confirmed as provisioned")
    expect(birch_row(page)).to_have_count(0)
    expect(page.locator('[data-count="awaiting"]')).to_have_text("0")
    page.goto("/console/queue?status=provisioned")
    expect(birch_row(page).locator("[data-status]")).to_have_attribute("data-status", "provisioned")
    expect(birch_row(page)).to_contain_text("console oli.ops@reseller.example")


# --- 3. billing: preview writes nothing, run creates the invoices, an admin voids one ------------------


def _count(site: Site, model: type[Any]) -> int:
    with Session(site.engine) as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def test_an_operator_previews_and_runs_billing_and_an_admin_voids_an_invoice(site: Site, new_page: NewPage) -> None:
    page = new_page()
    log_in(page, OLI)
    go(page, "Billing")
    check_page_basics(page)
    expect(page.get_by_label("Run date")).to_have_value(FACTORY_TODAY.isoformat())

    page.get_by_role("button", name="Preview").click()
    preview = page.locator("section.preview")
    expect(preview.get_by_role("status")).to_contain_text("nothing was written. 4 invoices would be created")
    expect(preview.locator("table.drafts tbody tr")).to_have_count(4)
    expect(preview.locator("table.drafts")).to_contain_text("Pine Cone Vet - New York City")
    expect(preview.locator("table.drafts")).not_to_contain_text("Pine Cone Vet - Parent")
    expect(preview.locator('[data-total="USD"]')).to_have_text("2444.00")  # 62 E3 at 36.00 and 20 EMS at 10.60
    assert (_count(site, Invoice), _count(site, BillingRun)) == (0, 0)
    screenshot(page, "billing-preview")

    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Confirm the billing run of {FACTORY_TODAY}")
    check_page_basics(page)
    expect(page.locator("[data-confirm]")).to_contain_text("The run creates 4 invoices, for 2444.00 USD in all")
    expect(page.locator('[data-total="USD"]')).to_have_text("2444.00")
    assert (_count(site, Invoice), _count(site, BillingRun)) == (0, 0)
    screenshot(page, "billing-confirm")
    page.get_by_role("button", name=f"Run billing for {FACTORY_TODAY}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Billing run of {FACTORY_TODAY}")
    expect(page.locator('[data-count="invoices"]')).to_have_text("4")
    expect(page.locator("table.invoices tbody tr")).to_have_count(4)
    expect(page.get_by_role("columnheader", name="Void")).to_have_count(0)  # operators do not void
    assert _count(site, Invoice) == 4
    screenshot(page, "billing-run")

    admin = new_page()
    log_in(admin, ADA)
    go(admin, "Invoices")
    check_page_basics(admin)
    screenshot(admin, "invoices")
    admin.locator("table.invoices tbody tr").filter(has_text="Pine Cone Vet - Memphis").get_by_role(
        "link"
    ).first.click()
    expect(admin.get_by_role("heading", level=1)).to_contain_text("Invoice INV-")
    admin.get_by_label("Reason").fill("Memphis moved to annual billing.")
    admin.get_by_role("button", name="Void INV-").click()
    expect(admin.get_by_role("heading", level=1)).to_contain_text("Void invoice INV-")
    check_page_basics(admin)
    expect(admin.locator("[data-void-total]")).to_have_text("593.00 USD")  # Memphis: 15 E3 at 36.00, 5 EMS at 10.60
    screenshot(admin, "void-confirm")
    admin.get_by_role("button", name="Void INV-").click()
    expect(admin.get_by_role("status")).to_contain_text("The invoice is void")
    expect(admin.locator("h1 [data-status]")).to_have_attribute("data-status", "void")
    screenshot(admin, "invoice")


# --- 4. reconciliation: a quantity changed in Partner Center is adopted onto Memphis -------------------


def test_an_operator_runs_reconciliation_and_adopts_the_providers_quantity_onto_a_child(
    site: Site, new_page: NewPage
) -> None:
    with Session(site.engine) as session:
        external_id = session.get_one(Subscription, site.parent_e3).external_id
    assert external_id is not None
    change(site.simulator, external_id, quantity=53)  # in Partner Center, behind seatflow's back
    page = new_page()
    log_in(page, OLI)
    go(page, "Reconciliation")
    check_page_basics(page)
    page.get_by_label("Partner Center account").select_option(label="Partner Center")
    page.get_by_role("button", name="Run the report").click()

    item = page.locator("li.item")
    expect(item).to_have_count(1)
    expect(item).to_have_attribute("data-classification", "changed_at_provider")
    expect(item.locator('[data-q="provider"]')).to_have_text("53")
    expect(item.locator('[data-q="seatflow"]')).to_have_text("50")
    expect(item.locator('[data-q="children"]')).to_have_text("50")
    child = item.get_by_label("Child that takes the difference")
    expect(child.locator("option")).to_have_text(
        [
            "Choose a child…",
            "Pine Cone Vet - Atlanta: 10",
            "Pine Cone Vet - New York City: 25",
            "Pine Cone Vet - Memphis: 15",
        ]
    )
    check_page_basics(page)
    screenshot(page, "reconciliation")
    child.select_option(label="Pine Cone Vet - Memphis: 15")
    item.get_by_role("button", name="Adopt the provider's 53").click()

    expect(page.get_by_role("status").first).to_contain_text("Adopted the provider's quantity")
    expect(page.get_by_text("In sync: the provider, the parents and their children agree.")).to_be_visible()
    page.goto(f"/console/customers/{site.customer_id}")
    e3 = subscription_row(contract_card(page, "Pine Cone Vet - Parent"), "Microsoft 365 E3")
    expect(e3.locator(".qty")).to_have_text("53")
    expect(e3.locator(".children-sum")).to_have_text("children 53")
    memphis = subscription_row(contract_card(page, "Pine Cone Vet - Memphis"), "Microsoft 365 E3")
    expect(memphis.locator(".qty")).to_have_text("18")
    page.goto(f"/console/subscriptions/{site.memphis_e3}")
    expect(page.locator("ol.timeline > li").last).to_contain_text("quantity 15 → 18")
    expect(page.locator("ol.timeline > li").last).to_contain_text("provider sync")


# --- 5. a phone, and a read-only operator --------------------------------------------------------------


def test_at_phone_width_nothing_scrolls_sideways(site: Site, new_page: NewPage) -> None:
    page = new_page(PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    log_in(page, OLI)
    for path in (
        "/console/",
        "/console/catalog",
        "/console/customers",
        f"/console/customers/{site.customer_id}",
        f"/console/subscriptions/{site.parent_e3}",
        "/console/queue",
        "/console/billing",
        "/console/invoices",
        "/console/reconciliation?account=Partner%20Center",
    ):
        page.goto(path)
        assert no_horizontal_scroll(page), f"{path} scrolls sideways at 390 px"
    page.goto(f"/console/customers/{site.customer_id}")
    screenshot(page, "customer-phone")
    page.goto("/console/queue")
    confirm = birch_row(page).get_by_role("button", name="Confirm")
    confirm.scroll_into_view_if_needed()
    box = confirm.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= PHONE["width"]
    assert box["height"] >= 32, f"the confirm button is too small to tap: {box}"
    screenshot(page, "queue-phone")


def test_a_read_only_operator_sees_the_pages_without_any_form_that_changes_something(
    site: Site, new_page: NewPage
) -> None:
    page = new_page()
    log_in(page, RAE)
    for path in ("/console/queue", "/console/billing", "/console/reconciliation?account=Partner%20Center"):
        page.goto(path)
        posts = page.locator('form[method="post"]')
        expect(posts).to_have_count(1)  # logging out
        expect(posts.first).to_have_attribute("action", "/console/logout")
    expect(page.locator("li.item")).to_have_count(0)
