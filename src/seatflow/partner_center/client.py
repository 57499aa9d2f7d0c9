"""The Partner Center HTTP client: tokens, the MS-RequestId / MS-CorrelationId headers, and every failure
classified as transient (worth retrying) or permanent (research/partner-center.md §1.2, §2, §8).

New commerce (SPEC §7; research/nce-and-market.md §1): customers are read page by page with the continuation
token; a purchase is an availability looked up at purchase time, a cart and its checkout; a change is a GET of the
subscription and a PATCH of the full resource with ``If-Match``. The client never re-sends a request by itself:
a transient failure is raised, and the caller decides (a checkout is idempotent per cart, so the caller checks
out the same cart again; a ``202`` is polled, never re-sent; a stale etag means read again and re-apply)."""

from __future__ import annotations

import functools
import io
import ssl
import threading
import time
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from seatflow.catalog.providers import PartnerCenterSettings
from seatflow.partner_center.errors import (
    AvailabilityNotFound,
    PartnerCenterError,
    error_of,
    retry_after_seconds,
)
from seatflow.partner_center.purchases import (
    Availability,
    Cart,
    CartLineItem,
    CheckoutResult,
    read_availability,
    read_cart,
    read_checkout,
)
from seatflow.partner_center.reading import objects_at
from seatflow.partner_center.subscriptions import SubscriptionUpdated, UpdatePending

__all__ = ["PartnerCenterClient", "PartnerCenterError"]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (the same certificates), made once per process: making one reads the whole CA
    bundle (tens of milliseconds, far more on a busy machine), and each account's client would make its own."""
    return httpx.create_ssl_context()


TOKEN_MARGIN_SECONDS = 120.0
"""A token is renewed this long before it expires, so no call goes out with one about to lapse."""

CUSTOMER_PAGE_SIZE = 500
MAX_CUSTOMER_PAGES = 2_000
"""A million customers: a partner with more pages than that is a paging loop, not a partner."""
LINE_ITEM_PAGE_SIZE = 2_000
"""Microsoft's largest page of line items ("Default max size = 2000")."""
MAX_LINE_ITEM_PAGES = 5_000
"""Ten million line items in one invoice or period: more pages than that is a paging loop."""


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
        self._http = http or httpx.Client(timeout=settings.timeout_seconds, verify=tls_context())
        self._base = settings.base_url.rstrip("/")
        self._tokens: dict[str | None, _Token] = {}
        """By scope: the account's own (None), and the price sheet's audience when it has one."""
        self._lock = threading.Lock()
        self.calls = 0

    def close(self) -> None:
        self._http.close()

    # --- customers ---------------------------------------------------------------------------------------

    def get_customer(self, customer_id: str) -> dict[str, Any]:
        return self._json("GET", f"/v1/customers/{_segment(customer_id)}")

    def list_customers(self, *, max_pages: int = MAX_CUSTOMER_PAGES) -> list[dict[str, Any]]:
        """Every customer. A page of Microsoft's seek-based customer collection carries a ``continuationToken``
        until the last; the next page is ``GET /v1/customers?seekOperation=Next`` with the token in the
        ``MS-ContinuationToken`` header (the SDK's ``CustomerCollectionOperations``). A token seen twice, or more
        than ``max_pages`` pages, is a permanent error: the list would be incomplete or endless."""
        return self._seek_all(
            "customer list",
            first=("/v1/customers", {"size": CUSTOMER_PAGE_SIZE}),
            following=("/v1/customers", {"seekOperation": "Next"}),
            max_pages=max_pages,
        )

    # --- invoices and reconciliation line items ------------------------------------------------------------

    def list_invoices(self) -> list[dict[str, Any]]:
        """The partner's invoices (developer/get-a-collection-of-invoices.md: ``GET /v1/invoices``; Microsoft
        ignores ``size`` and ``offset`` for modern invoices, so one answer holds them all)."""
        return self._items(self._json("GET", "/v1/invoices"))

    def list_invoice_line_items(
        self, invoice_id: str, *, size: int = LINE_ITEM_PAGE_SIZE, max_pages: int = MAX_LINE_ITEM_PAGES
    ) -> list[dict[str, Any]]:
        """Every billed new-commerce line item of an invoice (developer/get-invoiceline-items.md): the first page is
        ``GET /v1/invoices/{id}/lineitems?provider=onetime&invoicelineitemtype=billinglineitems&size={size}``, the
        next ones ``GET /v1/invoices/{id}/lineitems/OneTime/BillingLineItems?seekOperation=Next`` with the
        previous page's ``MS-ContinuationToken`` (example 5)."""
        path = f"/v1/invoices/{_segment(invoice_id)}/lineitems"
        return self._seek_all(
            f"line items of invoice {invoice_id}",
            first=(path, {"provider": "onetime", "invoicelineitemtype": "billinglineitems", "size": size}),
            following=(f"{path}/OneTime/BillingLineItems", {"seekOperation": "Next"}),
            max_pages=max_pages,
        )

    def list_unbilled_line_items(
        self, currency: str, period: str, *, size: int = LINE_ITEM_PAGE_SIZE, max_pages: int = MAX_LINE_ITEM_PAGES
    ) -> list[dict[str, Any]]:
        """Every unbilled new-commerce line item of the ``current`` or ``previous`` period in ``currency``
        (developer/get-invoice-unbilled-recon-lineitems.md): ``GET /v1/invoices/unbilled/lineitems?provider=onetime
        &invoicelineitemtype=billinglineitems&currencycode={ccy}&period={period}&size={size}``, then the same with
        ``seekOperation=Next`` and the ``MS-ContinuationToken`` header."""
        if period not in ("current", "previous") or not (len(currency) == 3 and currency.isalpha()):
            raise PartnerCenterError(
                f"{currency!r} / {period!r} is no unbilled period Partner Center has.", retryable=False
            )
        params: dict[str, Any] = {
            "provider": "onetime",
            "invoicelineitemtype": "billinglineitems",
            "currencycode": currency.lower(),
            "period": period,
            "size": size,
        }
        path = "/v1/invoices/unbilled/lineitems"
        return self._seek_all(
            f"unbilled line items ({period}, {currency.upper()})",
            first=(path, params),
            following=(path, {**params, "seekOperation": "Next"}),
            max_pages=max_pages,
        )

    def _seek_all(
        self,
        what: str,
        *,
        first: tuple[str, Mapping[str, Any]],
        following: tuple[str, Mapping[str, Any]],
        max_pages: int,
    ) -> list[dict[str, Any]]:
        """Every item of a seek-based collection: ``first``, then ``following`` with each page's continuation
        token in ``MS-ContinuationToken`` until a page has none. A token seen twice, or more than ``max_pages``
        pages, is a permanent error: the list would be incomplete or endless."""
        page = self._json("GET", first[0], params=first[1])
        items = list(self._items(page))
        seen: set[str] = set()
        while (token := _continuation_token(page)) is not None:
            if token in seen:
                raise PartnerCenterError(
                    f"Partner Center answered page {len(seen) + 1} of the {what} with a continuation token "
                    f"it had already given: a paging loop, so the {what} is incomplete.",
                    retryable=False,
                )
            if len(seen) + 1 >= max_pages:
                raise PartnerCenterError(
                    f"The {what} goes on past {max_pages} pages; stopped reading it.", retryable=False
                )
            seen.add(token)
            page = self._json("GET", following[0], params=following[1], headers={"MS-ContinuationToken": token})
            items.extend(self._items(page))
        return items

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

    # --- new commerce: catalog and carts ------------------------------------------------------------------

    def find_availability(
        self, product_id: str, sku_id: str, country: str | None, term_duration: str, billing_cycle: str
    ) -> Availability:
        """The purchasable availability of ``productId:skuId`` whose terms include the term and billing cycle, read
        at purchase time (availability IDs change over time). ``country`` defaults to the account's."""
        country = country or self.settings.country
        path = f"/v1/products/{_segment(product_id)}/skus/{_segment(sku_id)}/availabilities"
        collection = self._json("GET", path, params={"country": country})
        availabilities = [read_availability(item) for item in objects_at(collection, "items", "availability list")]
        for availability in availabilities:
            if availability.is_purchasable and availability.offers(term_duration, billing_cycle):
                return availability
        offered = sorted(
            {f"{t.duration} {t.billing_cycle}" for a in availabilities if a.is_purchasable for t in a.terms}
        )
        raise AvailabilityNotFound(
            f"{product_id}:{sku_id} has no purchasable availability in {country} for {term_duration} billed "
            f"{billing_cycle} (offered: {', '.join(offered) or 'nothing'}).",
            retryable=False,
        )

    def create_cart(self, customer_id: str, lines: Sequence[CartLineItem], *, request_id: str | None = None) -> Cart:
        """One line per subscription to buy, with the partner-of-record attestation. A cart buys nothing and
        expires after 7 days, so after a lost answer another cart may be created (or this one re-sent with the
        same ``request_id``); what must be stored before checkout is the cart ID."""
        if not lines or len({line.id for line in lines}) != len(lines):
            raise PartnerCenterError("A cart needs at least one line, each with its own id.", retryable=False)
        body = {"PartnerOnRecordAttestationAccepted": True, "lineItems": [line.to_json() for line in lines]}
        path = f"/v1/customers/{_segment(customer_id)}/carts"
        return read_cart(self._json("POST", path, body=body, request_id=request_id))

    def get_cart(self, customer_id: str, cart_id: str) -> Cart:
        return read_cart(self._json("GET", _cart_path(customer_id, cart_id)))

    def checkout_cart(
        self, customer_id: str, cart_id: str, *, cart: Cart | None = None, request_id: str | None = None
    ) -> CheckoutResult:
        """Check the cart out, read per line (``CheckoutResult``). Idempotent per cart at Microsoft: after a lost
        answer (a transient error here) the caller checks out the same cart again and gets the first result, so a
        purchase is never made twice; this method never re-sends on its own. Without ``cart`` the cart is read
        after checkout to learn which line is in which order group. 800065 (already submitted) raises
        ``CartAlreadySubmitted``: the purchase happened, never buy again."""
        raw = self._json("POST", _cart_path(customer_id, cart_id) + "/checkout", request_id=request_id)
        lines = (cart or self.get_cart(customer_id, cart_id)).lines
        return read_checkout(raw, cart_id=cart_id, lines=lines)

    # --- new commerce: subscription changes ----------------------------------------------------------------

    def get_subscription_with_etag(self, customer_id: str, subscription_id: str) -> tuple[dict[str, Any], str | None]:
        """The full resource and its etag (``attributes.etag``, else an ``ETag`` header; None when Microsoft
        gives neither, as some NCE examples show, and then the PATCH goes without ``If-Match``)."""
        path = _subscription_path(customer_id, subscription_id)
        response = self._request("GET", path)
        resource = _object_of(response, "GET", path)
        attributes = resource.get("attributes")
        etag = attributes.get("etag") if isinstance(attributes, Mapping) else None
        etag = etag if isinstance(etag, str) and etag else response.headers.get("ETag")
        return resource, etag

    def update_subscription_with_etag(
        self, customer_id: str, subscription_id: str, resource: Mapping[str, Any], etag: str | None
    ) -> SubscriptionUpdated | UpdatePending:
        """PATCH the full resource (build it with ``subscriptions.with_*``) with ``If-Match: <etag>``.
        ``200`` → ``SubscriptionUpdated``; ``202`` → ``UpdatePending`` with the ``Location`` to ``poll`` (the
        subscription itself when Microsoft names none); a stale etag → ``SubscriptionEtagStale``: read the
        subscription again, re-apply the change, send again."""
        path = _subscription_path(customer_id, subscription_id)
        headers = {"If-Match": etag} if etag else None
        response = self._request("PATCH", path, body=resource, headers=headers)
        if response.status_code == 202:
            location = response.headers.get("Location") or path
            return UpdatePending(
                location=location, retry_after=retry_after_seconds(response.headers.get("Retry-After"))
            )
        return SubscriptionUpdated(_object_of(response, "PATCH", path))

    def poll(self, location: str) -> dict[str, Any]:
        """Read what a ``202``'s ``Location`` points at (the subscription): the caller compares it with the change
        it asked for, and polls again later (its own backoff) until it shows. Only Partner Center's own host is
        followed: the token goes with the request."""
        return self._json("GET", self._location_path(location))

    # --- new commerce: the price sheet --------------------------------------------------------------------

    def get_price_sheet(
        self, market: str, *, view: str = "updatedlicensebased", timeline: str = "current", month: str | None = None
    ) -> bytes:
        """The license-based price sheet's CSV (developer/get-a-price-sheet.md):
        ``GET /v1.0/sales/pricesheets(Market='US',PricesheetView='updatedlicensebased')/$value?timeline=&month=``,
        at ``price_sheet_base_url`` (Microsoft serves it from api.partner.microsoft.com) or the base URL. Asked
        with ``Accept-Encoding: deflate``, Microsoft answers a zip holding the CSV: it is opened here. A
        ``future`` list that is not planned is a 404 (``PartnerCenterError`` with ``status`` 404)."""
        if not (len(market) == 2 and market.isalpha()) or not view.isalpha():
            raise PartnerCenterError(f"{market!r} / {view!r} is no price sheet Partner Center has.", retryable=False)
        base = (self.settings.price_sheet_base_url or self._base).rstrip("/")
        path = f"/v1.0/sales/pricesheets(Market='{market.upper()}',PricesheetView='{view}')/$value"
        params = {"timeline": timeline, **({"month": month} if month else {})}
        response = self._request(
            "GET",
            path,
            params=params,
            headers={"Accept": "*/*", "Accept-Encoding": "deflate"},
            base=base,
            scope=self.settings.price_sheet_scope,
        )
        return _unzipped(response.content)

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
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        response = self._request(method, path, body=body, params=params, request_id=request_id, headers=headers)
        return _object_of(response, method, path)

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        base: str | None = None,
        scope: str | None = None,
    ) -> httpx.Response:
        """One call, answered below 400, or the failure classified. ``scope``: the token's, when the host wants
        another audience than the account's (the price sheet's api.partner.microsoft.com)."""
        sending = {"body": body, "params": params, "request_id": request_id, "headers": headers, "base": base}
        response = self._send(method, path, scope=scope, **sending)  # type: ignore[arg-type]
        if response.status_code == 401 and self.settings.auth != "none":
            with self._lock:
                self._tokens.pop(scope, None)  # revoked or expired early: one more try with a fresh token
            response = self._send(method, path, scope=scope, **sending)  # type: ignore[arg-type]
        if response.status_code >= 400:
            raise error_of(response, method, path)
        return response

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None,
        params: Mapping[str, Any] | None,
        request_id: str | None,
        headers: Mapping[str, str] | None = None,
        base: str | None = None,
        scope: str | None = None,
    ) -> httpx.Response:
        sent = {
            "Accept": "application/json",
            "MS-RequestId": request_id or str(uuid.uuid4()),
            "MS-CorrelationId": str(uuid.uuid4()),
            "MS-Contract-Version": "v1",
            "MS-PartnerCenter-Application": "seatflow",
            **(headers or {}),
        }
        token = self._access_token(scope)
        if token:
            sent["Authorization"] = f"Bearer {token}"
        self.calls += 1
        try:
            return self._http.request(method, (base or self._base) + path, json=body, params=params, headers=sent)
        except httpx.TimeoutException as exc:
            raise PartnerCenterError(
                f"Partner Center did not answer {method} {path} in time ({exc.__class__.__name__}).", retryable=True
            ) from exc
        except httpx.TransportError as exc:
            raise PartnerCenterError(
                f"No answer from Partner Center for {method} {path}: {exc.__class__.__name__}: {exc}.", retryable=True
            ) from exc

    def _location_path(self, location: str) -> str:
        """A ``Location`` as a path under the base URL; Microsoft's links leave out ``/v1``."""
        target, base = httpx.URL(location), httpx.URL(self._base)
        if target.is_absolute_url and (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            raise PartnerCenterError(
                f"Partner Center pointed at {location}, outside {self._base}; not followed.", retryable=False
            )
        path = target.raw_path.decode("ascii")
        prefix = base.path.rstrip("/")
        if prefix and path.startswith(prefix + "/"):
            path = path[len(prefix) :]
        path = path if path.startswith("/") else "/" + path
        return path if path.startswith("/v1/") else "/v1" + path

    def _access_token(self, scope: str | None = None) -> str | None:
        """None for the simulator; otherwise a cached token of the scope (the account's own by default), renewed
        ahead of its expiry."""
        if self.settings.auth == "none":
            return None
        with self._lock:
            token = self._tokens.get(scope)
            if token is None or token.expires_at - TOKEN_MARGIN_SECONDS < time.monotonic():
                token = self._tokens[scope] = self._fetch_token(scope)
            return token.value

    def _fetch_token(self, scope: str | None = None) -> _Token:
        s = self.settings
        form = {"client_id": s.client_id or "", "grant_type": s.auth}
        if s.client_secret:
            form["client_secret"] = s.client_secret
        if s.auth == "refresh_token":
            form["refresh_token"] = s.refresh_token or ""
        if scope or s.scope:
            form["scope"] = scope or s.scope or ""
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


def _unzipped(content: bytes) -> bytes:
    """The CSV a price sheet answer holds: the body itself, or the one ``.csv`` of a zip."""
    if not content.startswith(b"PK\x03\x04"):
        return content
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
            if len(names) != 1:
                raise PartnerCenterError("The price sheet's zip does not hold exactly one CSV.", retryable=False)
            return archive.read(names[0])
    except zipfile.BadZipFile as exc:
        raise PartnerCenterError("The price sheet's zip cannot be opened.", retryable=True) from exc


def _segment(identifier: str) -> str:
    """An identifier as exactly one path segment: ``/``, ``?``, ``#`` and ``%`` are quoted, so an id can never
    name another resource; ``.``, ``..`` and the empty id would still (the URL is normalised), so they are refused
    before anything is sent."""
    if identifier in {"", ".", ".."}:
        raise PartnerCenterError(f"{identifier!r} is not an identifier Partner Center can have.", retryable=False)
    return quote(identifier, safe="")


def _subscription_path(customer_id: str, subscription_id: str) -> str:
    return f"/v1/customers/{_segment(customer_id)}/subscriptions/{_segment(subscription_id)}"


def _cart_path(customer_id: str, cart_id: str) -> str:
    return f"/v1/customers/{_segment(customer_id)}/carts/{_segment(cart_id)}"


def _continuation_token(page: Mapping[str, Any]) -> str | None:
    """``continuationToken`` of a seek-based collection, or the ``MS-ContinuationToken`` of its ``links.next``."""
    token = page.get("continuationToken")
    if isinstance(token, str) and token:
        return token
    links = page.get("links")
    following = links.get("next") if isinstance(links, Mapping) else None
    headers = following.get("headers") if isinstance(following, Mapping) else None
    for header in headers if isinstance(headers, list) else []:
        if isinstance(header, Mapping) and str(header.get("key", "")).lower() == "ms-continuationtoken":
            value = header.get("value")
            return value if isinstance(value, str) and value else None
    return None


def _object_of(response: httpx.Response, method: str, path: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise PartnerCenterError(
            f"Partner Center answered {method} {path} with something that is not JSON.", retryable=True
        ) from exc
    if not isinstance(data, dict):
        raise PartnerCenterError(f"Partner Center answered {method} {path} with no object.", retryable=True)
    return data


def _token_error(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    return str(data.get("error_description") or data.get("error") or data)[:300]
