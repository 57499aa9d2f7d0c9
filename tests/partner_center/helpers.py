"""Serving Microsoft's documented answers (tests/fixtures/partner_center/client_*.json) to the real client."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from seatflow.catalog.providers import PartnerCenterSettings
from seatflow.partner_center.client import PartnerCenterClient

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "partner_center"
BASE_URL = "https://api.partnercenter.example.test"

Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]


def documented(name: str) -> dict[str, Any]:
    """The documented body of a fixture (a fresh copy: tests may change it)."""
    return copy.deepcopy(_load(name)["body"])


def answer(name: str, *, body: Any = None) -> httpx.Response:
    """The fixture's status, headers and body, or the same status and headers with another body."""
    fixture = _load(name)
    content = fixture["body"] if body is None else body
    if content is None:
        return httpx.Response(fixture["status"], headers=fixture["headers"])
    return httpx.Response(fixture["status"], headers=fixture["headers"], json=content)


class Script:
    """Answers requests in order and keeps them; a request past the script fails the test."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert self.answers, f"unexpected request {request.method} {request.url}"
        following = self.answers.pop(0)
        return following(request) if callable(following) else following

    def client(self, **settings: object) -> PartnerCenterClient:
        parsed = PartnerCenterSettings.model_validate({"base_url": BASE_URL, **settings})
        return PartnerCenterClient(parsed, http=httpx.Client(transport=httpx.MockTransport(self)))


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content)


def assert_partner_center_headers(request: httpx.Request) -> None:
    """Every call names itself (MS-RequestId) and its trace (MS-CorrelationId), both GUIDs (headers.md)."""
    uuid.UUID(request.headers["MS-RequestId"])
    uuid.UUID(request.headers["MS-CorrelationId"])
    assert request.headers["Accept"] == "application/json"


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    assert data.get("_source"), f"{name} records where it comes from"
    return data
