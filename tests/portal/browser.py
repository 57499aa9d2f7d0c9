"""For the portal's browser tests: Debian's chromium, the app served by uvicorn in a thread, and screenshots."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from fastapi import FastAPI

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's package (apt-get install -y chromium); Playwright's own browsers are never downloaded."""

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def chromium_env() -> dict[str, str]:
    """The environment for chromium, without libfaketime: under ``make test-later`` chromium never finishes
    loading a page. Its own clock does not matter: the server renders every date, and its cookies last longer
    by the browser's real clock, not shorter."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FAKETIME")}
    preload = [lib for lib in env.pop("LD_PRELOAD", "").replace(":", " ").split() if "faketime" not in lib]
    return env | ({"LD_PRELOAD": " ".join(preload)} if preload else {})


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """The app on a free loopback port, in a background thread, for the block; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="portal-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def screenshot(page: Page, name: str) -> None:
    """``docs/screenshots/portal-<name>.png`` of the whole page, only with SEATFLOW_SCREENSHOTS=1 (a normal
    run leaves the tree alone)."""
    if os.environ.get("SEATFLOW_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"portal-{name}.png", full_page=True, animations="disabled", caret="hide")
