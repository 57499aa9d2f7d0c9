"""What a failed Partner Center call raises. Every failure is one ``PartnerCenterError`` whose ``retryable`` says
whether the same call may succeed later (research/partner-center.md §8); a few carry their own class because the
caller does something other than "retry or fail" with them."""

from __future__ import annotations

import httpx

from seatflow.errors import ProviderError

TRANSIENT_CONFLICTS = frozenset({"800060", "800064", "800014", "800082"})
"""409s that mean "busy, look again later": an order in progress, a cart being processed, an adjustment pending,
a subscription not ready to be updated."""

STALE_ETAG = "2055"
"""400 "Etag is no longer valid" (developer/error-codes.md); a 412 Precondition Failed means the same."""

CART_ALREADY_SUBMITTED = "800065"


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


class SubscriptionEtagStale(PartnerCenterError):
    """The subscription changed since it was read (400 with code 2055 "Etag is no longer valid", or a 412
    Precondition Failed): read it again, apply the change to the fresh resource and send that. Retryable, but never
    by re-sending the same body."""

    code = "provider_etag_stale"


class CartAlreadySubmitted(PartnerCenterError):
    """800065 "can't check out an already submitted cart": the purchase went through on an earlier checkout.
    Never buy again with a new cart; find the orders in the customer's order list (they can take 15 minutes to
    appear)."""

    code = "provider_cart_already_submitted"


class AvailabilityNotFound(PartnerCenterError):
    """No purchasable availability of the SKU offers the wanted term and billing cycle in the country."""

    code = "provider_availability_not_found"


def error_of(response: httpx.Response, method: str, path: str) -> PartnerCenterError:
    """ApiFault ``{code, description, data, source}``; a 429 has its own ``{statusCode, message}`` body."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if status == 429:
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        message = str(body.get("message") or "Rate limit is exceeded.")
        return PartnerCenterError(
            f"Partner Center throttled {method} {path}: {message}", retryable=True, status=429, retry_after=retry_after
        )
    code = str(body.get("code")) if body.get("code") is not None else None
    description = str(body.get("description") or response.reason_phrase or "no description")
    label = f"Partner Center {code}" if code else f"Partner Center HTTP {status}"
    message = f"{label}: {description}"
    if status == 412 or code == STALE_ETAG:
        return SubscriptionEtagStale(message, retryable=True, status=status, provider_code=code)
    if code == CART_ALREADY_SUBMITTED:
        return CartAlreadySubmitted(message, retryable=False, status=status, provider_code=code)
    retryable = status >= 500 or status == 408 or (status == 409 and code in TRANSIENT_CONFLICTS)
    return PartnerCenterError(message, retryable=retryable, status=status, provider_code=code)


def retry_after_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date; rare enough that the worker's own backoff serves
