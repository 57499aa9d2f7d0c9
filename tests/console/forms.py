"""Sending the console's write forms in tests: the session's CSRF token added, the clock pinned."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from html import unescape
from typing import Any

import httpx
from fastapi.testclient import TestClient

from tests.api.subscription_helpers import FrozenClock
from tests.console.conftest import csrf_of
from tests.factories import FACTORY_TODAY


def at(client: TestClient, day: date = FACTORY_TODAY) -> date:
    """The console's clock at noon (UTC) on ``day``: no test depends on the real date."""
    client.app.state.clock = FrozenClock(datetime.combine(day, time(12), tzinfo=UTC))  # type: ignore[attr-defined]
    return day


def send(client: TestClient, path: str, data: Mapping[str, Any], **options: Any) -> httpx.Response:
    """POST ``data`` to ``path`` with the logged-in session's CSRF token (a redirect is not followed)."""
    token = csrf_of(client.get("/console/").text)
    return client.post(path, data={**data, "csrf_token": token}, **{"follow_redirects": False, **options})


def follow(client: TestClient, response: httpx.Response) -> httpx.Response:
    """The page a form's 303 leads to."""
    assert response.status_code == 303, response.text[-3000:]
    return client.get(response.headers["location"])


def alert(html: str) -> str:
    """The text of the page's error message (what the operator reads), whitespace collapsed."""
    start = html.index('role="alert"')
    end = html.index("</", start)
    return " ".join(unescape(html[html.index(">", start) + 1 : end]).split())
