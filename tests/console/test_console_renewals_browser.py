"""The console's renewal desk in a real browser (SPEC §10): chromium against the app served on a committed
database (the site of test_console_browser.py), its clock moved to 2027-11-15 so that every term bought on
2026-12-01 renews in 16 days. Skipped without /usr/bin/chromium."""

from __future__ import annotations

import csv
from datetime import date

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.console.browser import CHROMIUM, screenshot
from tests.console.test_console_browser import (  # noqa: F401 - browser, new_page and site are fixtures
    OLI,
    PHONE,
    RAE,
    NewPage,
    Site,
    browser,
    check_page_basics,
    log_in,
    new_page,
    no_horizontal_scroll,
    site,
)
from tests.factories import noon

if not CHROMIUM.exists():
    pytest.skip(f"the browser tests need chromium at {CHROMIUM}: apt-get install -y chromium", allow_module_level=True)

pytestmark = pytest.mark.slow

BIRCH = "Birch Dental"


def renewal_row(page: Page, customer: str, product: str) -> Locator:
    return (
        page.locator("table.renewals tbody tr")
        .filter(has_text=customer)
        .filter(has=page.get_by_role("rowheader", name=product))
    )


def test_an_operator_works_the_renewals_of_the_next_30_days(site: Site, new_page: NewPage) -> None:  # noqa: F811
    site.clock.move_to(noon(date(2027, 11, 15)))
    page = new_page()
    log_in(page, OLI)
    figure = page.locator('[data-count="renewals-30"]')
    expect(figure).to_have_text("9")  # Pine Cone Vet's 2 parents and 6 children, Birch Dental's E3
    figure.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Renewals")
    check_page_basics(page)
    expect(page.get_by_role("link", name="Next 30 days")).to_have_attribute("aria-current", "page")
    expect(page.locator("table.renewals tbody tr")).to_have_count(9)

    page.get_by_label("Customer").select_option(label=BIRCH)
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.renewals tbody tr")
    expect(rows).to_have_count(1)
    birch = renewal_row(page, BIRCH, "Microsoft 365 E3")
    expect(birch.locator("[data-renews]")).to_have_text("2027-12-01")
    expect(birch.locator("[data-monthly]")).to_have_text("12 x 36.00 = 432.00 USD/month")
    expect(birch.locator("[data-changes]")).to_have_text("renews as it is")

    # Another SKU, plan and quantity for the next term.
    birch.get_by_text("Change at renewal").click()
    birch.get_by_label("Quantity at renewal").fill("15")
    birch.get_by_label("Product at renewal").select_option(label="Office 365 E5")
    birch.get_by_label("Term and billing plan").select_option(label="P1Y annual")
    birch.get_by_role("button", name="Save for the renewal").click()
    expect(page.get_by_role("status")).to_have_text(
        "Saved for the renewal of Microsoft 365 E3 of Birch Dental on 2027-12-01: quantity 12 → 15; product "
        "Microsoft 365 E3 → Office 365 E5; term and billing plan P1Y monthly → P1Y annual; unit price 36.00 → "
        "36.19. Monthly 432.00 → 542.85 USD."  # 12 x 36.00 = 432.00 now; 15 x 36.19 = 542.85 after
    )
    birch = renewal_row(page, BIRCH, "Microsoft 365 E3")
    expect(birch.locator("[data-monthly-after]")).to_have_text("15 x 36.19 = 542.85 USD/month")
    screenshot(page, "renewals")

    # What the next term cannot be is said in the row, in plain words; nothing changes.
    birch.get_by_text("Change at renewal").click()
    birch.get_by_label("Quantity at renewal").fill("301")
    birch.get_by_role("button", name="Save for the renewal").click()
    birch = renewal_row(page, BIRCH, "Microsoft 365 E3")
    expect(birch.get_by_role("alert")).to_have_text("Office 365 E5 allows at most 300; 301 is more.")
    expect(birch.locator("[data-monthly-after]")).to_have_text("15 x 36.19 = 542.85 USD/month")

    # Don't renew, then renew again.
    birch.get_by_role("button", name="Don't renew Microsoft 365 E3 of Birch Dental").click()
    expect(page.get_by_role("status")).to_have_text(
        "Microsoft 365 E3 of Birch Dental will not renew: it expires on 2027-12-01."
    )
    birch = renewal_row(page, BIRCH, "Microsoft 365 E3")
    expect(birch.locator("[data-after]")).to_contain_text("expires on 2027-12-01")
    birch.get_by_role("button", name="Renew Microsoft 365 E3 of Birch Dental again").click()
    expect(page.get_by_role("status")).to_have_text("Microsoft 365 E3 of Birch Dental renews again on 2027-12-01.")

    # The CSV of the whole window.
    page.goto("/console/renewals?days=30")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    path = download.value.path()
    with open(path, encoding="utf-8", newline="") as handle:
        exported = list(csv.DictReader(handle))
    assert len(exported) == 9
    assert {r["renewal_date"] for r in exported} == {"2027-12-01"}
    [birch_line] = [r for r in exported if r["customer"] == BIRCH]
    # 12 x 36.00 = 432.00, now and after: turning auto-renew off dropped the changes scheduled for the renewal.
    assert (birch_line["monthly_amount"], birch_line["monthly_amount_after"]) == ("432.00", "432.00")


def test_the_desk_at_phone_width_and_for_a_read_only_operator(site: Site, new_page: NewPage) -> None:  # noqa: F811
    site.clock.move_to(noon(date(2027, 11, 15)))
    phone = new_page(PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    log_in(phone, OLI)
    phone.goto("/console/renewals")
    expect(phone.locator("table.renewals tbody tr")).to_have_count(9)
    assert no_horizontal_scroll(phone), "the renewals scroll sideways at 390 px"

    page = new_page()
    log_in(page, RAE)
    page.goto("/console/renewals?days=90")
    expect(page.locator("table.renewals tbody tr")).to_have_count(9)
    posts = page.locator('form[method="post"]')
    expect(posts).to_have_count(1)  # logging out
    expect(posts.first).to_have_attribute("action", "/console/logout")
