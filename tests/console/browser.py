"""For the console's browser tests: the portal's chromium and server helpers, and console-*.png screenshots."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from tests.portal.browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, chromium_env, serve

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "chromium_env", "screenshot", "serve"]


def screenshot(page: Page, name: str) -> None:
    """``docs/screenshots/console-<name>.png`` of the whole page, only with SEATFLOW_SCREENSHOTS=1."""
    if os.environ.get("SEATFLOW_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # A generous timeout: the first full-page shot of a run waits for chromium's fonts on a cold, busy machine.
    page.screenshot(
        path=SCREENSHOTS / f"console-{name}.png", full_page=True, animations="disabled", caret="hide", timeout=30_000
    )
