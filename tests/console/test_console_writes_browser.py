"""The console's write forms in a real browser (issue 15 item 2, must show): an operator creates a customer below
its parent, a child contract under the parent contract and a subscription on it, and links that subscription to
the parent contract's, all in the console; and orders the E5 Voice bundle. Chromium against the app served on a
committed database (the site of test_console_browser.py), at its clock (noon on 2026-12-01). Skipped without
/usr/bin/chromium; SEATFLOW_SCREENSHOTS=1 also saves docs/screenshots/console-*.png."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.catalog.models import Bundle
from seatflow.customers.models import CustomerAccount
from seatflow.subscriptions.models import Subscription
from tests.console.browser import CHROMIUM, screenshot
from tests.console.test_console_browser import (  # noqa: F401 - browser, new_page and site are fixtures
    ADA,
    OLI,
    PHONE,
    NewPage,
    Site,
    browser,
    check_page_basics,
    contract_card,
    go,
    log_in,
    new_page,
    no_horizontal_scroll,
    site,
    subscription_row,
)

if not CHROMIUM.exists():
    pytest.skip(f"the browser tests need chromium at {CHROMIUM}: apt-get install -y chromium", allow_module_level=True)

pytestmark = pytest.mark.slow

PARENT_CONTRACT = "Pine Cone Vet - Parent"
NASHVILLE = "Pine Cone Vet Nashville"
NASHVILLE_CONTRACT = "Pine Cone Vet - Nashville"
E3 = "Microsoft 365 E3"


def notice(page: Page) -> str:
    return page.get_by_role("status").first.inner_text()


def test_an_operator_creates_a_location_with_a_child_contract_and_links_its_subscription(
    site: Site,  # noqa: F811
    new_page: NewPage,  # noqa: F811
) -> None:
    page = new_page()
    log_in(page, OLI)

    # A customer below its parent.
    go(page, "Customers")
    page.get_by_role("link", name="New customer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New customer")
    check_page_basics(page)
    page.get_by_label("Name", exact=True).fill(NASHVILLE)
    page.get_by_label("Parent account").select_option(label="Pine Cone Vet")
    page.get_by_label("City").fill("Nashville")
    screenshot(page, "new-customer")
    page.get_by_role("button", name="Create the customer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(NASHVILLE)
    expect(page.get_by_role("status")).to_have_text(f"Created the customer account {NASHVILLE}.")
    expect(page.locator(".crumbs")).to_contain_text("Pine Cone Vet")

    # A child contract under the head office's parent contract.
    page.get_by_role("link", name="New contract").click()
    check_page_basics(page)
    page.get_by_label("Name", exact=True).fill(NASHVILLE_CONTRACT)
    page.get_by_label("Parent contract").select_option(label=f"{PARENT_CONTRACT} (not billable)")
    expect(page.get_by_label("Billable (invoiced)")).to_be_checked()
    page.get_by_role("button", name="Create the contract").click()
    expect(page.get_by_role("status")).to_have_text(f"Created the child contract {NASHVILLE_CONTRACT}.")
    card = contract_card(page, NASHVILLE_CONTRACT)
    expect(card).to_contain_text(f"child of {PARENT_CONTRACT}")

    # Its E3, bought on the do-nothing account first (as seed 003's steps do), then linked.
    card.get_by_role("link", name="Add a subscription").click()
    page.get_by_label("Product").select_option(label=f"{E3} (Partner Center)")
    page.get_by_role("button", name="Next").click()
    check_page_basics(page)
    expect(page.get_by_role("heading", level=2, name=E3)).to_be_visible()
    expect(page.locator('tr[data-plan="P1Y:monthly"]')).to_contain_text("36.00")
    page.get_by_label("Quantity").fill("4")
    page.get_by_label("Provider account", exact=True).select_option(label="Do nothing (do nothing)")
    page.get_by_role("button", name="Show the price").click()
    expect(page.locator("[data-price]")).to_have_text("P1Y monthly: 4 x 36.00 = 144.00 USD a month.")
    screenshot(page, "new-subscription")
    page.get_by_role("button", name="Create the subscription").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(E3)
    expect(page.get_by_role("status")).to_contain_text(f"Created {E3} on {NASHVILLE_CONTRACT}: 4 x 36.00")

    link = page.locator("form").filter(has=page.get_by_role("heading", name="Link to the parent contract"))
    expect(link.get_by_label("Parent subscription")).to_have_value(str(site.parent_e3))
    link.get_by_label("Linked provider account").select_option(label="Linked subscriptions")
    check_page_basics(page)
    link.get_by_role("button", name="Link").click()

    expect(page.get_by_role("status")).to_contain_text("Linked: from now on its quantity changes are pushed up")
    expect(page.locator("#setup-check")).to_contain_text(
        "the parent holds 50, its linked children add up to 54 (difference -4)"
    )
    expect(page.get_by_text("Linked to")).to_be_visible()
    screenshot(page, "link")

    # The head office shows the parent four short of its children until it is set right.
    page.goto(f"/console/customers/{site.customer_id}")
    e3 = subscription_row(contract_card(page, PARENT_CONTRACT), E3)
    expect(e3.locator(".children-sum")).to_have_text("children 54")
    expect(e3.locator("[data-drift]")).to_have_text("drift -4")
    with Session(site.engine) as session:
        nashville = session.scalars(select(CustomerAccount).where(CustomerAccount.name == NASHVILLE)).one()
        assert nashville.parent_customer_id == site.customer_id
        child = session.scalars(select(Subscription).where(Subscription.linked_subscription_id == site.parent_e3)).all()
        assert sorted(s.quantity for s in child) == [4, 10, 15, 25]


def test_an_operator_orders_the_e5_voice_bundle(site: Site, new_page: NewPage) -> None:  # noqa: F811
    page = new_page()
    log_in(page, OLI)
    go(page, "Customers")
    page.get_by_role("link", name="Birch Dental", exact=True).click()
    card = contract_card(page, "Birch Dental - Main")
    card.get_by_role("link", name="Order a bundle").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Order a bundle on Birch Dental - Main")
    check_page_basics(page)
    items = page.locator("table.bundle-items tbody tr")
    expect(items).to_have_count(4)
    expect(items.nth(3)).to_contain_text("Microsoft Teams Phone Standard (Phone System)")  # it hangs under
    page.get_by_label("Quantity of bundles").fill("5")
    page.get_by_label("Provider account").select_option(label="Manual (manual)")
    screenshot(page, "bundle")
    page.get_by_role("button", name="Order E5 Voice").click()

    expect(page.get_by_role("status")).to_contain_text(
        "Ordered E5 Voice on Birch Dental - Main: 4 subscriptions (Office 365 E5 5, Microsoft 365 Audio "
        "Conferencing 5, Microsoft Teams Phone Standard (Phone System) 5, Microsoft Teams Domestic Calling Plan 5)."
    )
    card = contract_card(page, "Birch Dental - Main")
    expect(card.locator("tr.depth-1")).to_have_count(2)  # Audio Conferencing and Phone System under the E5
    expect(card.locator("tr.depth-2")).to_have_count(1)  # the Calling Plan under Phone System
    expect(card.locator("tr.depth-2")).to_contain_text("Microsoft Teams Domestic Calling Plan")
    screenshot(page, "bundle-ordered")
    with Session(site.engine) as session:
        bundle = session.scalars(select(Bundle).where(Bundle.name == "E5 Voice")).one()
        ordered = session.scalars(select(Subscription).where(Subscription.bundle_id == bundle.id)).all()
        assert len(ordered) == 4
        assert all(s.parent_subscription_id != bundle.id for s in ordered), "never the bundle as a parent"


def test_the_write_forms_fit_a_phone(site: Site, new_page: NewPage) -> None:  # noqa: F811
    page = new_page(PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    log_in(page, OLI)
    with Session(site.engine) as session:
        memphis = session.get_one(Subscription, site.memphis_e3)
        contract_id = memphis.contract_id
    for path in (
        "/console/customers/new",
        f"/console/customers/{site.customer_id}/contracts/new",
        f"/console/customers/{site.customer_id}/contacts",
        f"/console/contracts/{contract_id}/subscriptions/new",
        f"/console/contracts/{contract_id}/bundles/new",
        f"/console/subscriptions/{site.memphis_e3}",
        f"/console/subscriptions/{site.parent_e3}",
        "/console/subscriptions",
    ):
        page.goto(path)
        check_page_basics(page)
        assert no_horizontal_scroll(page), f"{path} scrolls sideways at 390 px"


def test_an_admin_adds_a_webhook_endpoint_and_finds_it_and_the_login_in_the_audit_log(new_page: NewPage) -> None:  # noqa: F811
    page = new_page()
    log_in(page, ADA)
    go(page, "Webhooks")
    page.get_by_label("URL").fill("https://erp.example.com/hooks/seatflow")
    page.get_by_label("Description").fill("The ERP's failure inbox")
    page.get_by_role("checkbox", name="license_change.failed").check()
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_label("Signing secret")).to_have_value(re.compile(r"^whsec_"))  # shown this once
    expect(page.locator("tr[data-endpoint]")).to_contain_text("https://erp.example.com/hooks/seatflow")
    check_page_basics(page)
    screenshot(page, "webhooks")

    go(page, "Audit log")
    page.get_by_label("Who").fill(ADA)
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.audit tbody tr")
    expect(rows.filter(has_text="webhook_endpoint.created")).to_have_count(1)
    expect(rows.filter(has_text="operator.logged_in").first).to_be_visible()
    expect(rows.filter(has_text="webhook_endpoint.created")).to_contain_text("console")  # where it came from
    expect(rows.filter(has_text="webhook_endpoint.created")).to_contain_text("[redacted]")  # the secret is not in it
    check_page_basics(page)
    screenshot(page, "audit")
