"""Every page of the console and the portal passes axe-core with no serious or critical violation (issue 15).

The walk visits each GET route of the app under /console and /portal that answers HTML, with its path
parameters filled from real data, as the person who may see it, and runs axe on it; it also runs axe on the pages
that only a POST renders (a form's errors, the billing preview and confirmation, the void confirmation, the
portal's quantity confirmation) and on the error pages (404, 403). Its last check compares the routes it visited
with the app's routes, so a new page that the walk does not visit fails here.

Skipped without /usr/bin/chromium.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from seatflow.auth import operators as console_accounts
from seatflow.auth.models import OperatorRole
from seatflow.billing.models import BillingRun, DocumentKind, Invoice
from seatflow.config import Settings
from seatflow.customers import logins as portal_accounts
from seatflow.customers.models import ContactRole, CustomerAccount
from seatflow.customers.schemas import ContactCreate
from seatflow.customers.service import invite_contact
from seatflow.provisioning.worker import Worker
from seatflow.simulator import SimulatorServer
from seatflow.web.app import create_app
from tests.a11y.axe import assert_no_serious_a11y, axe_violations, describe, unlabelled_fields
from tests.factories import (
    FACTORY_TODAY,
    create_contract,
    create_customer,
    create_subscription,
    load_demo_catalog,
    noon,
)
from tests.portal.browser import CHROMIUM, CHROMIUM_ARGS, chromium_env, serve
from tests.portal.conftest import PASSWORD, make_contact
from tests.provisioning.conftest import FAST, ManualClock
from tests.subscriptions.helpers import pine_cone_vet

if not CHROMIUM.exists():
    pytest.skip(f"the browser tests need chromium at {CHROMIUM}: apt-get install -y chromium", allow_module_level=True)

pytestmark = pytest.mark.slow

ADMIN_OPERATOR, READER = "ada.admin@reseller.example", "rae.reader@reseller.example"
HEAD_ADMIN, HEAD_FINANCE = "sam.okafor@pineconevet.example", "lee.chen@pineconevet.example"
NY_MANAGER, FORGETFUL = "dana.reyes@pinecone-ny.example", "kim.park@pinecone-ny.example"

NOT_HTML = {
    "/console/subscriptions.csv": "CSV export",
    "/console/customers.csv": "CSV export",
    "/console/renewals.csv": "CSV export",
    "/console/margin.csv": "CSV export",
    "/console/invoices.csv": "CSV export",
    "/console/credit-notes.csv": "CSV export",
    "/console/billing/runs.csv": "CSV export",
    "/console/audit.csv": "CSV export",
    "/console/invoices/{invoice_id}/pdf": "PDF document",
    "/console/credit-notes/{credit_note_id}/pdf": "PDF document",
    "/portal/invoices/{invoice_id}/pdf": "PDF document",
}
"""GET routes that answer something other than an HTML page, with the reason axe does not run on them (the static
files are mounts, not routes)."""


def html_get_routes(app: FastAPI) -> set[str]:
    """The path of every GET route under /console and /portal, but those of NOT_HTML."""
    paths = set()
    for route in iter_route_contexts(app.routes):
        if route.path and route.path.startswith(("/console", "/portal")) and "GET" in (route.methods or ()):
            paths.add(route.path)
    assert set(NOT_HTML) <= paths, f"NOT_HTML names routes the app no longer has: {set(NOT_HTML) - paths}"
    return paths - set(NOT_HTML)


@dataclass(frozen=True)
class Ids:
    customer: uuid.UUID
    memphis_contract: uuid.UUID
    new_york_contract: uuid.UUID
    parent_e3: uuid.UUID
    new_york_e3: uuid.UUID
    invitation_token: str
    reset_token: str


@dataclass(frozen=True)
class Site:
    url: str
    app: FastAPI
    engine: Engine
    ids: Ids


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, env=chromium_env())
        yield browser
        browser.close()


def _build(session: Session, simulator: SimulatorServer) -> Ids:
    """Pine Cone Vet with its locations as accounts of their own; Birch Dental, whose licenses a person buys by hand;
    two operators; the head office's and New York's people, a pending invitation and a pending password reset."""
    catalog = load_demo_catalog(session)
    catalog.partner_center.settings = {"base_url": simulator.url, "timeout_seconds": 5}
    session.flush()
    vet = pine_cone_vet(session, catalog, location_accounts=True)
    birch = create_contract(session, customer=create_customer(session, name="Birch Dental"), name="Birch Dental - Main")
    create_subscription(session, contract=birch, product=catalog.e3, quantity=12, provider_account=catalog.manual)
    for email, name, role in (
        (ADMIN_OPERATOR, "Ada Admin", OperatorRole.ADMIN),
        (READER, "Rae", OperatorRole.READ_ONLY),
    ):
        console_accounts.create_operator(session, email=email, name=name, role=role, password=PASSWORD)
    new_york = vet.locations["New York City"]
    ny_account = session.get_one(CustomerAccount, new_york.contract.customer_id)
    make_contact(session, ny_account, NY_MANAGER, ContactRole.SUBSCRIPTION_MANAGER)
    make_contact(session, ny_account, FORGETFUL, ContactRole.SUBSCRIPTION_MANAGER)
    make_contact(session, vet.customer, HEAD_ADMIN, ContactRole.ADMINISTRATOR, ContactRole.ACCESS_CHILD_ACCOUNTS)
    make_contact(session, vet.customer, HEAD_FINANCE, ContactRole.FINANCE_MANAGER, ContactRole.ACCESS_CHILD_ACCOUNTS)
    _, invitation = invite_contact(
        session,
        customer=vet.customer,
        data=ContactCreate(
            email="morgan.price@pineconevet.example", name="Morgan Price", roles=[ContactRole.ADMINISTRATOR]
        ),
        now=noon(FACTORY_TODAY),
        base_url="http://testserver",
    )
    ((_, reset),) = portal_accounts.request_reset(
        session, email=FORGETFUL, now=noon(FACTORY_TODAY), base_url="http://testserver"
    )
    session.flush()
    return Ids(
        customer=vet.customer.id,
        memphis_contract=vet.locations["Memphis"].contract.id,
        new_york_contract=new_york.contract.id,
        parent_e3=vet.parent_e3.id,
        new_york_e3=new_york.e3.id,
        invitation_token=invitation.rsplit("/", 1)[1],
        reset_token=reset.rsplit("/", 1)[1],
    )


@pytest.fixture
def site(committed_engine: Engine, empty_database_url: str, simulator: SimulatorServer) -> Iterator[Site]:
    with Session(committed_engine, expire_on_commit=False) as session:
        ids = _build(session, simulator)
        session.commit()
    start = noon(FACTORY_TODAY)
    clock = ManualClock(start, datetime.now(start.tzinfo))
    # The parents bought at the simulator, Birch Dental's purchase handed to people: the queue has a form to show.
    worker = Worker(sessionmaker(bind=committed_engine, expire_on_commit=False), clock, config=FAST)
    try:
        worker.drain(max_wait_seconds=30)
    finally:
        worker.registry.close()
    app = create_app(Settings(database_url=empty_database_url, default_currency="USD"), engine=committed_engine)
    app.state.clock = clock
    with serve(app) as url:
        yield Site(url, app, committed_engine, ids)


@dataclass
class Walk:
    """Visits pages and runs axe on each; collects the routes visited and every page's violations."""

    browser: Browser
    site: Site
    routes: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    checked: int = 0
    contexts: list[BrowserContext] = field(default_factory=list)

    def page(self) -> Page:
        context = self.browser.new_context(
            viewport={"width": 1280, "height": 800}, locale="en-US", base_url=self.site.url
        )
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        return context.new_page()

    def check(self, page: Page, what: str) -> None:
        """axe on the page as it is now; a failure is kept, so that one run lists every page's violations."""
        self.checked += 1
        violations = axe_violations(page)
        if violations:
            self.failures.append(f"{what} ({page.url}):\n{describe(violations)}")
        unlabelled = unlabelled_fields(page)
        if unlabelled:
            self.failures.append(f"{what} ({page.url}): fields without a label: {unlabelled}")

    def visit(self, page: Page, route: str, status: int = 200, **params: Any) -> None:
        """GET the route with its path parameters filled in, and check the page."""
        answer = page.goto(route.format(**params))
        assert answer is not None
        assert answer.status == status, f"{route}: {answer.status}"
        assert "text/html" in answer.headers["content-type"], route
        self.routes.add(route)
        self.check(page, f"GET {route}")

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def walk(browser: Browser, site: Site) -> Iterator[Walk]:
    walk = Walk(browser, site)
    yield walk
    walk.close()


def status_of(page: Page, path: str) -> int:
    answer = page.goto(path)
    assert answer is not None
    return answer.status


def console_log_in(page: Page, email: str) -> None:
    page.goto("/console/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1, name="Dashboard")).to_be_visible()


def portal_log_in(page: Page, email: str) -> None:
    page.goto("/portal/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1, name="Your contracts")).to_be_visible()


def walk_the_console(walk: Walk) -> None:
    ids = walk.site.ids
    page = walk.page()
    walk.visit(page, "/console/login")
    page.get_by_label("E-mail address").fill(ADMIN_OPERATOR)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    walk.check(page, "the console's login refused")
    console_log_in(page, ADMIN_OPERATOR)

    for route in (
        "/console/",
        "/console/catalog",
        "/console/customers",
        "/console/customers/new",
        "/console/subscriptions",
        "/console/renewals",
        "/console/pricing",
        "/console/margin",
        "/console/queue",
        "/console/reconciliation",
        "/console/webhooks",
    ):
        walk.visit(page, route)
    page.get_by_label("URL").fill("https://erp.example.com/hooks/seatflow")
    page.get_by_label("invoice.issued").check()
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.locator("[data-secret]")).to_be_visible()
    walk.check(page, "a new webhook endpoint with its secret")
    walk.visit(page, "/console/customers/{customer_id}", customer_id=ids.customer)
    walk.visit(page, "/console/customers/{customer_id}/edit", customer_id=ids.customer)
    walk.visit(page, "/console/customers/{customer_id}/contacts", customer_id=ids.customer)
    walk.visit(page, "/console/customers/{customer_id}/contracts/new", customer_id=ids.customer)
    walk.visit(page, "/console/contracts/{contract_id}/edit", contract_id=ids.memphis_contract)
    walk.visit(page, "/console/contracts/{contract_id}/subscriptions/new", contract_id=ids.memphis_contract)
    walk.visit(page, "/console/contracts/{contract_id}/bundles/new", contract_id=ids.memphis_contract)
    walk.visit(page, "/console/subscriptions/{subscription_id}", subscription_id=ids.parent_e3)
    walk.visit(page, "/console/subscriptions/{subscription_id}", subscription_id=ids.new_york_e3)

    page.goto("/console/customers/new")
    page.get_by_role("button", name=re.compile("Create|Add|Save")).first.click()
    walk.check(page, "the new customer form with its errors")

    page.goto("/console/reconciliation?account=Partner%20Center")
    walk.check(page, "the reconciliation report")

    # Billing: the preview and the confirmation (rendered by POSTs), the run, its invoices; a void and its note.
    walk.visit(page, "/console/billing")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("section.preview")).to_be_visible()
    walk.check(page, "the billing preview")
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Confirm the billing run")
    walk.check(page, "the billing run's confirmation")
    page.get_by_role("button", name=f"Run billing for {FACTORY_TODAY}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Billing run of {FACTORY_TODAY}")
    with Session(walk.site.engine) as session:
        run_id = session.scalars(select(BillingRun.id)).one()
        memphis = session.scalars(select(Invoice).where(Invoice.contract_id == ids.memphis_contract)).one()
    walk.visit(page, "/console/billing/runs/{run_id}", run_id=run_id)
    walk.visit(page, "/console/invoices")
    walk.visit(page, "/console/invoices/{invoice_id}", invoice_id=memphis.id)
    page.get_by_label("Reason").fill("Memphis moved to annual billing.")
    page.get_by_role("button", name="Void INV-").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Void invoice INV-")
    walk.check(page, "the void's confirmation")
    page.get_by_role("button", name="Void INV-").click()
    expect(page.get_by_role("status")).to_contain_text("The invoice is void")
    walk.check(page, "a void invoice")
    with Session(walk.site.engine) as session:
        note = session.scalars(select(Invoice.id).where(Invoice.kind == DocumentKind.CREDIT_NOTE)).one()
    walk.visit(page, "/console/credit-notes")
    walk.visit(page, "/console/credit-notes/{credit_note_id}", credit_note_id=note)
    walk.visit(page, "/console/audit")
    page.goto("/console/webhooks")
    walk.check(page, "the webhooks with deliveries")

    assert status_of(page, f"/console/customers/{uuid.UUID(int=7)}") == 404
    walk.check(page, "the console's 404 page")

    reader = walk.page()
    console_log_in(reader, READER)
    assert status_of(reader, "/console/customers/new") == 403
    walk.check(reader, "the console's 403 page")


def walk_the_portal(walk: Walk) -> None:
    ids = walk.site.ids
    visitor = walk.page()
    walk.visit(visitor, "/portal/login")
    visitor.get_by_label("E-mail address").fill(HEAD_ADMIN)
    visitor.get_by_label("Password").fill("not the password")
    visitor.get_by_role("button", name="Log in").click()
    walk.check(visitor, "the portal's login refused")
    walk.visit(visitor, "/portal/password-reset")
    walk.visit(visitor, "/portal/password-reset/{token}", token=ids.reset_token)
    walk.visit(visitor, "/portal/invitations/{token}", token=ids.invitation_token)

    admin = walk.page()
    portal_log_in(admin, HEAD_ADMIN)
    walk.visit(admin, "/portal/")
    walk.visit(admin, "/portal/contracts/{contract_id}", contract_id=ids.new_york_contract)
    walk.visit(admin, "/portal/subscriptions/{subscription_id}", subscription_id=ids.new_york_e3)
    walk.visit(admin, "/portal/users")
    assert status_of(admin, f"/portal/contracts/{uuid.UUID(int=7)}") == 404
    walk.check(admin, "the portal's 404 page")

    finance = walk.page()
    portal_log_in(finance, HEAD_FINANCE)
    with Session(walk.site.engine) as session:
        invoice = session.scalars(select(Invoice.id).where(Invoice.contract_id == ids.new_york_contract)).one()
    walk.visit(finance, "/portal/invoices")
    walk.visit(finance, "/portal/invoices/{invoice_id}", invoice_id=invoice)

    manager = walk.page()
    portal_log_in(manager, NY_MANAGER)
    manager.goto(f"/portal/subscriptions/{ids.new_york_e3}")
    manager.get_by_label("New quantity of Microsoft 365 E3").fill("26")
    manager.get_by_role("button", name="Change").click()
    expect(manager.get_by_role("heading", level=1)).to_have_text("Confirm the change")
    walk.check(manager, "the portal's quantity confirmation")
    manager.locator('input[type="hidden"][name="quantity"]').evaluate("input => { input.value = '27' }")
    manager.get_by_role("button", name="Confirm the change").click()
    expect(manager.get_by_role("heading", level=1)).to_have_text("Refused")
    walk.check(manager, "the portal's 403 page (an altered confirmation)")


def test_every_console_and_portal_page_passes_axe(walk: Walk, site: Site) -> None:
    walk_the_console(walk)  # billing runs here: the portal's invoices come from it
    walk_the_portal(walk)
    assert not walk.failures, "\n\n".join(walk.failures)
    routes = html_get_routes(site.app)
    assert walk.routes == routes, (
        f"pages the walk does not visit: {sorted(routes - walk.routes)}; "
        f"routes it visits that the app does not have: {sorted(walk.routes - routes)}"
    )
    assert walk.checked >= len(routes)


def test_the_axe_check_fails_on_an_unlabelled_field_and_faint_text(browser: Browser) -> None:
    """The check can fail: a hand-made page with an input nobody named and grey text on white."""
    page = browser.new_page()
    try:
        page.set_content(
            '<!doctype html><html lang="en"><head><title>Bad</title></head><body><main><h1>Bad</h1>'
            '<form><input type="text" name="quantity"><button>Change</button></form>'
            '<p style="color: #c8c8c8">Read me if you can.</p></main></body></html>'
        )
        with pytest.raises(AssertionError) as failed:
            assert_no_serious_a11y(page, "the hand-made page")
    finally:
        page.close()
    message = str(failed.value)
    assert "[critical] label: Form elements must have labels" in message
    assert 'input[name="quantity"]' in message or "input" in message
    assert "[serious] color-contrast" in message
    # The same page with the field labelled and the text dark enough passes.
    page = browser.new_page()
    try:
        page.set_content(
            '<!doctype html><html lang="en"><head><title>Good</title></head><body><main><h1>Good</h1>'
            '<form><label>Quantity <input type="text" name="quantity"></label><button>Change</button></form>'
            '<p style="color: #595959">Read me if you can.</p></main></body></html>'
        )
        assert_no_serious_a11y(page, "the mended page")
    finally:
        page.close()
