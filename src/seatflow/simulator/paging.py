"""Seek-based paging of ``GET /v1/customers`` and of the invoice line items (research/partner-center.md §1.3).

The first page is ``GET /v1/customers?size=N``; while more customers follow, the page carries ``continuationToken``
and a ``links.next`` whose ``uri`` adds ``seekOperation=Next`` and whose ``headers`` hold the ``MS-ContinuationToken``
to send with it (the shape of Partner Center's seek-based collections, e.g. developer/get-invoice-unbilled-recon-
lineitems.md). ``totalCount`` counts the customers of the page. A page never holds more than ``max_page_size``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from seatflow.simulator.resources import JSON, link
from seatflow.simulator.rules import invalid_input

CONTINUATION_HEADER = "ms-continuationtoken"


@dataclass(frozen=True)
class PageRequest:
    start: int
    size: int


def page_request(query: Mapping[str, str], headers: Mapping[str, str], *, max_size: int) -> PageRequest:
    """Where the requested page starts and how long it is; 800002 for a bad ``size``, ``seekOperation`` or token."""
    values = {key.lower(): value for key, value in query.items()}
    seek = values.get("seekoperation", "").lower()
    if seek not in ("", "first", "next"):
        raise invalid_input(f"seekOperation {values['seekoperation']!r} is not supported; use Next.")
    start, size = 0, _size(values.get("size"), max_size)
    if seek == "next":
        token = headers.get(CONTINUATION_HEADER)
        if not token:
            raise invalid_input("seekOperation=Next needs the MS-ContinuationToken header of the previous page.")
        start, token_size = _decode(token)
        size = size if "size" in values else min(token_size, max_size)
    return PageRequest(start, size)


def page_json(items: list[JSON], request: PageRequest, *, total: int, uri: str, next_uri: str | None = None) -> JSON:
    """A page of a seek-based collection. ``uri`` may carry a query of its own (the invoice line items'); ``next_uri``
    is where the next page is asked when that is not ``uri`` itself (the billed line items' next pages are
    ``/invoices/{id}/lineitems/OneTime/BillingLineItems?seekOperation=Next``, get-invoiceline-items.md)."""
    sized = f"{uri}{'&' if '?' in uri else '?'}size={request.size}"
    body: JSON = {
        "totalCount": len(items),
        "items": items,
        "links": {"self": link(sized)},
        "attributes": {"objectType": "Collection"},
    }
    following = request.start + len(items)
    if following < total:
        token = _encode(following, request.size)
        body["continuationToken"] = token
        body["links"]["next"] = {
            "uri": f"{sized}&seekOperation=Next" if next_uri is None else next_uri,
            "method": "GET",
            "headers": [{"key": "MS-ContinuationToken", "value": token}],
        }
    return body


def _size(value: str | None, max_size: int) -> int:
    if value is None:
        return max_size
    try:
        size = int(value)
    except ValueError as exc:
        raise invalid_input(f"size must be a whole number, not {value!r}.") from exc
    if size < 1:
        raise invalid_input("size must be 1 or more.")
    return min(size, max_size)


def _encode(start: int, size: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"s": start, "n": size}).encode()).decode()


def _decode(token: str) -> tuple[int, int]:
    try:
        values: Any = json.loads(base64.urlsafe_b64decode(token.encode()))
        start, size = values["s"], values["n"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise invalid_input("The continuation token is not valid.") from exc
    if not isinstance(start, int) or not isinstance(size, int) or start < 0 or size < 1:
        raise invalid_input("The continuation token is not valid.")
    return start, size
