"""a. A location's manager raises a quantity in the portal, in chromium, and watches it provision: the child's
+10 goes up to the parent, the worker process sends the parent's 60 to the simulator, and the outcome flows back
to the page, which refreshes itself (README walkthrough, steps 2 and 3)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Response, expect, sync_playwright

from seatflow.demo import NEW_YORK_LOGIN
from tests.e2e.checks import E3, assert_invariants, at_simulator, quantity, wait_settled
from tests.e2e.conftest import Stack
from tests.portal.browser import CHROMIUM, CHROMIUM_ARGS

if not CHROMIUM.exists():
    pytest.skip(f"the browser tests need chromium at {CHROMIUM}: apt-get install -y chromium", allow_module_level=True)

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

NEW_YORK = "Pine Cone Vet - New York City"
PAGE_WITHIN_MS = 30_000
"""How long a page may take to do or show what the test waits for, a second on an idle machine (Playwright's
``expect`` waits 5 s unless told otherwise: short for a loaded 2-core machine)."""
PROVISIONED_WITHIN_MS = 60_000
"""How long the page has to show the worker's outcome: a worker process started, the change sent, the page's next
refresh (every 5 s); a loaded CI machine is slow."""


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    """A fresh browser context on the served portal; every answer it gets goes into the stack's traffic."""
    context = browser.new_context(base_url=stack.api_url, locale="en-US", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(PAGE_WITHIN_MS)
    expect.set_options(timeout=PAGE_WITHIN_MS)

    def record(response: Response) -> None:
        stack.traffic.record(
            "browser", response.request.method, response.url, response.status, response.headers.get("retry-after")
        )

    context.on("response", record)
    yield context.new_page()
    context.close()
    expect.set_options(timeout=None)  # Playwright's default again, for the tests after this one


def test_new_yorks_manager_raises_e3_in_the_portal_and_the_page_shows_it_provisioned(stack: Stack, page: Page) -> None:
    parent, new_york = stack.demo.parent(E3), stack.demo.child(NEW_YORK, E3)
    assert at_simulator(stack.api, stack.sim, parent)["quantity"] == 50
    # No worker until the page has shown the change awaiting provisioning: a worker that is quicker than the browser
    # (a slow Partner Center only makes that less likely on a loaded machine) would leave nothing to watch.
    stack.workers[0].stop()

    page.goto("/portal/login")
    page.get_by_label("E-mail address").fill(NEW_YORK_LOGIN[0])
    page.get_by_label("Password").fill(NEW_YORK_LOGIN[1])
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1, name="Your contracts")).to_be_visible()
    tiles = page.locator("a.tile")
    expect(tiles).to_have_count(1)  # only New York's contract: never the parent, never another location
    tiles.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(NEW_YORK)

    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=E3, exact=True))
    expect(row.locator(".qty")).to_have_text("25")
    row.get_by_label(f"New quantity of {E3}").fill("35")
    row.get_by_role("button", name="Change").click()
    # The portal states the cost first (25 x 36.00 = 900.00 a month; 35 x 36.00 = 1260.00) and records on confirming.
    expect(page.locator('[data-figure="monthly-after"]')).to_have_text("1260.00 USD")
    page.get_by_role("button", name="Confirm the change").click()
    expect(page.get_by_role("status")).to_contain_text("awaiting provisioning")
    expect(row.locator(".qty")).to_have_text("35")
    expect(page.locator('meta[http-equiv="refresh"]')).to_have_count(1)

    # No reload from the test: the page refreshes itself until the worker's outcome has flowed back.
    stack.start_worker()
    expect(row.locator("[data-status]")).to_have_attribute("data-status", "provisioned", timeout=PROVISIONED_WITHIN_MS)
    expect(row.locator(".qty")).to_have_text("35")
    expect(page.locator('meta[http-equiv="refresh"]')).to_have_count(0)  # nothing awaited: it stops refreshing

    wait_settled(stack.api, timeout=30, logs=stack.logs)
    assert quantity(stack.api, new_york) == 35
    assert quantity(stack.api, parent) == 60
    assert at_simulator(stack.api, stack.sim, parent)["quantity"] == 60
    assert_invariants(stack.api, stack.sim)
    assert stack.traffic.statuses()[200] > 0
    stack.traffic.assert_no_server_errors()
