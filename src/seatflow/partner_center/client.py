"""The Partner Center HTTP client: tokens, the MS-RequestId / MS-CorrelationId headers, and every failure
classified as transient (worth retrying) or permanent (research/partner-center.md §1.2, §2, §8)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from seatflow.catalog.providers import PartnerCenterSettings
from seatflow.errors import ProviderError

TRANSIENT_CONFLICTS = frozenset({"800060", "800064", "800014"})
"""409s that mean "busy, look again later": an order in progress, a cart being processed, an adjustment pending."""

TOKEN_MARGIN_SECONDS = 120.0
"""A token is renewed this long before it expires, so no call goes out with one about to lapse."""


class PartnerCenterError(ProviderError):
    """A failed Partner Center call: the provider's code and description, and whether a retry may succeed."""

    code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        provider_code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, retryable=retryable, status=status, provider_code=provider_code)
        self.status = status
        self.provider_code = provider_code
        self.retry_after = retry_after


@dataclass
class _Token:
    value: str
    expires_at: float


class PartnerCenterClient:
    """One per provider account; thread-safe; keeps a connection pool and the access token.

    ``calls`` counts the HTTP requests sent to the API (not the token endpoint), for benchmarks and tests.
    """

    def __init__(self, settings: PartnerCenterSettings, *, http: httpx.Client | None = None) -> None:
        self.settings = settings
        self._http = http or httpx.Client(timeout=settings.timeout_seconds)
        self._base = settings.base_url.rstrip("/")
        self._token: _Token | None = None
        self._lock = threading.Lock()
        self.calls = 0

    def close(self) -> None:
        self._http.close()

    # --- customers ---------------------------------------------------------------------------------------

    def get_customer(self, customer_id: str) -> dict[str, Any]:
        return self._json("GET", f"/v1/customers/{_segment(customer_id)}")

    def list_customers(self) -> list[dict[str, Any]]:
        return self._items(self._json("GET", "/v1/customers", params={"size": 500}))

    def create_customer(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._json("POST", "/v1/customers", body=body)

    # --- orders ------------------------------------------------------------------------------------------

    def create_order(
        self, customer_id: str, line_items: list[dict[str, Any]], *, request_id: str, billing_cycle: str = "monthly"
    ) -> dict[str, Any]:
        """``request_id`` is the MS-RequestId stored before the first send: a re-send with it is answered with
        the first answer instead of a second purchase."""
        body = {"referenceCustomerId": customer_id, "billingCycle": billing_cycle, "lineItems": line_items}
        return self._json("POST", f"/v1/customers/{_segment(customer_id)}/orders", body=body, request_id=request_id)

    def get_order(self, customer_id: str, order_id: str) -> dict[str, Any]:
        return self._json("GET", f"/v1/customers/{_segment(customer_id)}/orders/{_segment(order_id)}")

    def list_orders(self, customer_id: str) -> list[dict[str, Any]]:
        return self._items(self._json("GET", f"/v1/customers/{_segment(customer_id)}/orders"))

    # --- subscriptions -----------------------------------------------------------------------------------

    def list_subscriptions(self, customer_id: str) -> list[dict[str, Any]]:
        return self._items(self._json("GET", f"/v1/customers/{_segment(customer_id)}/subscriptions"))

    def get_subscription(self, customer_id: str, subscription_id: str) -> dict[str, Any]:
        return self._json("GET", _subscription_path(customer_id, subscription_id))

    def update_subscription(self, customer_id: str, subscription_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """PATCH the changed properties (``quantity`` is absolute, so a repeat cannot double it)."""
        body = {"id": subscription_id, **changes}
        return self._json("PATCH", _subscription_path(customer_id, subscription_id), body=body)

    # --- the wire ----------------------------------------------------------------------------------------

    def _items(self, collection: dict[str, Any]) -> list[dict[str, Any]]:
        items = collection.get("items")
        if not isinstance(items, list):
            raise PartnerCenterError("Partner Center answered a list without items.", retryable=True)
        return items

    def _json(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        response = self._send(method, path, body=body, params=params, request_id=request_id)
        if response.status_code == 401 and self.settings.auth != "none":
            with self._lock:
                self._token = None  # revoked or expired early: one more try with a fresh token
            response = self._send(method, path, body=body, params=params, request_id=request_id)
        if response.status_code >= 400:
            raise _error_of(response, method, path)
        try:
            data = response.json()
        except ValueError as exc:
            raise PartnerCenterError(
                f"Partner Center answered {method} {path} with something that is not JSON.", retryable=True
            ) from exc
        if not isinstance(data, dict):
            raise PartnerCenterError(f"Partner Center answered {method} {path} with no object.", retryable=True)
        return data

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None,
        params: Mapping[str, Any] | None,
        request_id: str | None,
    ) -> httpx.Response:
        headers = {
            "Accept": "application/json",
            "MS-RequestId": request_id or str(uuid.uuid4()),
            "MS-CorrelationId": str(uuid.uuid4()),
            "MS-Contract-Version": "v1",
            "MS-PartnerCenter-Application": "seatflow",
        }
        token = self._access_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.calls += 1
        try:
            return self._http.request(method, self._base + path, json=body, params=params, headers=headers)
        except httpx.TimeoutException as exc:
            raise PartnerCenterError(
                f"Partner Center did not answer {method} {path} in time ({exc.__class__.__name__}).", retryable=True
            ) from exc
        except httpx.TransportError as exc:
            raise PartnerCenterError(
                f"No answer from Partner Center for {method} {path}: {exc.__class__.__name__}: {exc}.", retryable=True
            ) from exc

    def _access_token(self) -> str | None:
        """None for the simulator; otherwise a cached token, renewed ahead of its expiry."""
        if self.settings.auth == "none":
            return None
        with self._lock:
            if self._token is None or self._token.expires_at - TOKEN_MARGIN_SECONDS < time.monotonic():
                self._token = self._fetch_token()
            return self._token.value

    def _fetch_token(self) -> _Token:
        s = self.settings
        form = {"client_id": s.client_id or "", "grant_type": s.auth}
        if s.client_secret:
            form["client_secret"] = s.client_secret
        if s.auth == "refresh_token":
            form["refresh_token"] = s.refresh_token or ""
        if s.scope:
            form["scope"] = s.scope
        assert s.token_url is not None  # noqa: S101 - the settings require it for these auth kinds
        try:
            response = self._http.post(s.token_url, data=form, headers={"Accept": "application/json"})
        except httpx.TransportError as exc:
            raise PartnerCenterError(
                f"The token endpoint did not answer: {exc.__class__.__name__}.", retryable=True
            ) from exc
        if response.status_code >= 400:
            retryable = response.status_code >= 500 or response.status_code == 429
            detail = _token_error(response)
            raise PartnerCenterError(
                f"The token endpoint refused the credentials ({response.status_code}): {detail}",
                retryable=retryable,
                status=response.status_code,
            )
        data = response.json()
        try:
            return _Token(str(data["access_token"]), time.monotonic() + float(data.get("expires_in", 3600)))
        except (KeyError, TypeError, ValueError) as exc:
            raise PartnerCenterError("The token endpoint answered without an access_token.", retryable=False) from exc


def _segment(identifier: str) -> str:
    """An identifier as exactly one path segment: ``/``, ``?``, ``#`` and ``%`` are quoted, so an id can never
    name another resource; ``.``, ``..`` and the empty id would still (the URL is normalised), so they are refused
    before anything is sent."""
    if identifier in {"", ".", ".."}:
        raise PartnerCenterError(f"{identifier!r} is not an identifier Partner Center can have.", retryable=False)
    return quote(identifier, safe="")


def _subscription_path(customer_id: str, subscription_id: str) -> str:
    return f"/v1/customers/{_segment(customer_id)}/subscriptions/{_segment(subscription_id)}"


def _token_error(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    return str(data.get("error_description") or data.get("error") or data)[:300]


def _error_of(response: httpx.Response, method: str, path: str) -> PartnerCenterError:
    """ApiFault ``{code, description, data, source}``; a 429 has its own ``{statusCode, message}`` body."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if status == 429:
        retry_after = _seconds(response.headers.get("Retry-After"))
        message = str(body.get("message") or "Rate limit is exceeded.")
        return PartnerCenterError(
            f"Partner Center throttled {method} {path}: {message}", retryable=True, status=429, retry_after=retry_after
        )
    code = str(body.get("code")) if body.get("code") is not None else None
    description = str(body.get("description") or response.reason_phrase or "no description")
    retryable = status >= 500 or status == 408 or (status == 409 and code in TRANSIENT_CONFLICTS)
    label = f"Partner Center {code}" if code else f"Partner Center HTTP {status}"
    return PartnerCenterError(f"{label}: {description}", retryable=retryable, status=status, provider_code=code)


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date; rare enough that the worker's own backoff serves
