"""The simulator's HTTP server: Partner Center's paths under ``/v1`` (and the price sheet's under ``/v1.0``),
control paths under ``/_sim``.

Control paths (``CONTROL_ROUTES``): ``/_sim/offers`` (GET, POST), ``/_sim/customers/bulk``, ``/_sim/faults``,
``/_sim/clock``, ``/_sim/state``, ``/_sim/stats`` (and ``/reset``), ``/_sim/reset``; and for billing (invoices.py):
``POST /_sim/invoices/close {"period"?: "YYYY-MM"}`` closes the unbilled charge lines of that month (the current one
on the simulator's clock by default) and earlier ones into one invoice per currency, which ``GET /v1/invoices``
then lists; ``POST /_sim/charges {customerId, productId, skuId, quantity, subscriptionId?, termDuration?,
billingCycle?, chargeType?, unitPrice?, chargeStartDate?, customerName?}`` plants a charge for a subscription bought
out of band; ``GET /_sim/charges`` lists every charge line made.

Built on ``http.server`` rather than an ASGI server because a lost response means applying a change and then
dropping the connection without a byte of answer, which only a server that owns its sockets can do.

A ``/v1`` request goes through: latency, a drawn 429, a drawn 5xx (nothing applied), the handler (or the stored
answer to an earlier request with the same ``MS-RequestId``), and for POST/PATCH a drawn lost response. Control
paths never get faults. Every answer echoes ``MS-RequestId`` and ``MS-CorrelationId``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from seatflow.simulator.faults import ControlError
from seatflow.simulator.pricesheet import PATH as PRICE_SHEET_PATH
from seatflow.simulator.rules import SimFault, api_fault, invalid_input
from seatflow.simulator.state import SimulatorState
from seatflow.simulator.traffic import WRITE_METHODS, Reply

logger = logging.getLogger("seatflow.simulator")

POLL_INTERVAL_S = 0.05
"""How often the serving loop checks for ``stop()``: how long stopping takes at most."""


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: tuple[str, ...]
    query: dict[str, str]
    raw_body: bytes
    if_match: str | None
    headers: dict[str, str]
    """The request's headers, names in lower case."""

    def json(self) -> Any:
        """The body as JSON (an empty body is ``{}``); 800002 when it is not JSON."""
        if not self.raw_body.strip():
            return {}
        try:
            return json.loads(self.raw_body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise invalid_input(f"The request body is not valid JSON: {exc}.") from exc


Handler = Callable[[SimulatorState, Request], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler


def _route(method: str, template: str, handler: Handler) -> Route:
    pattern = re.escape(template).replace(re.escape("{id}"), "([^/]+)")
    return Route(method, template, re.compile(pattern, re.IGNORECASE), handler)


API_ROUTES = [
    _route("POST", "/v1/customers", lambda s, r: s.create_customer(r.json())),
    _route("GET", "/v1/customers", lambda s, r: s.list_customers(r.query, r.headers)),
    _route("GET", "/v1/customers/{id}", lambda s, r: s.get_customer(*r.params)),
    _route("POST", "/v1/customers/{id}/orders", lambda s, r: s.create_order(r.params[0], r.json())),
    _route("GET", "/v1/customers/{id}/orders", lambda s, r: s.list_orders(*r.params)),
    _route("GET", "/v1/customers/{id}/orders/{id}", lambda s, r: s.get_order(*r.params)),
    _route(
        "GET", "/v1/customers/{id}/orders/{id}/provisioningstatus", lambda s, r: s.get_provisioning_status(*r.params)
    ),
    _route(
        "GET",
        "/v1/customers/{id}/subscriptions",
        lambda s, r: s.list_subscriptions(r.params[0], order_id=r.query.get("order_id")),
    ),
    _route(
        "GET",
        "/v1/customers/{id}/subscriptions/customTermEndDates",
        lambda s, r: s.list_custom_term_end_dates(r.params[0], r.query),
    ),
    _route("GET", "/v1/customers/{id}/subscriptions/{id}", lambda s, r: s.get_subscription(*r.params)),
    _route(
        "PATCH",
        "/v1/customers/{id}/subscriptions/{id}",
        lambda s, r: s.update_subscription(r.params[0], r.params[1], r.json(), if_match=r.if_match),
    ),
    _route("GET", "/v1/customers/{id}/subscriptions/{id}/addons", lambda s, r: s.list_addons(*r.params)),
    # new commerce: the catalog, carts and checkout (commerce.py)
    _route("GET", "/v1/products", lambda s, r: s.list_products(r.query)),
    _route("GET", "/v1/products/{id}", lambda s, r: s.get_product(r.params[0], r.query)),
    _route("GET", "/v1/products/{id}/skus", lambda s, r: s.list_skus(r.params[0], r.query)),
    _route("GET", "/v1/products/{id}/skus/{id}", lambda s, r: s.get_sku(r.params[0], r.params[1], r.query)),
    _route(
        "GET",
        "/v1/products/{id}/skus/{id}/availabilities",
        lambda s, r: s.list_availabilities(r.params[0], r.params[1], r.query),
    ),
    _route(
        "GET",
        "/v1/products/{id}/skus/{id}/availabilities/{id}",
        lambda s, r: s.get_availability(r.params[0], r.params[1], r.params[2], r.query),
    ),
    _route(
        "GET",
        "/v1/customers/{id}/products/{id}/skus/{id}/availabilities",
        lambda s, r: s.list_availabilities(r.params[1], r.params[2], r.query, customer_id=r.params[0]),
    ),
    _route("POST", "/v1/customers/{id}/carts", lambda s, r: s.create_cart(r.params[0], r.json())),
    _route("GET", "/v1/customers/{id}/carts/{id}", lambda s, r: s.get_cart(*r.params)),
    _route("PUT", "/v1/customers/{id}/carts/{id}", lambda s, r: s.update_cart(r.params[0], r.params[1], r.json())),
    _route("POST", "/v1/customers/{id}/carts/{id}/checkout", lambda s, r: s.checkout_cart(*r.params)),
    # invoices and their reconciliation line items (invoices.py); "unbilled" before an invoice id
    _route("GET", "/v1/invoices", lambda s, r: s.list_invoices()),
    _route("GET", "/v1/invoices/unbilled/lineitems", lambda s, r: s.unbilled_line_items(r.query, r.headers)),
    _route("GET", "/v1/invoices/{id}", lambda s, r: s.get_invoice(r.params[0])),
    _route("GET", "/v1/invoices/{id}/lineitems", lambda s, r: s.invoice_line_items(r.params[0], r.query, r.headers)),
    _route(
        "GET",
        "/v1/invoices/{id}/lineitems/{id}/{id}",
        lambda s, r: s.invoice_line_items(r.params[0], r.query, r.headers, provider=r.params[1], item_type=r.params[2]),
    ),
    # the price sheet, on Microsoft's other host (api.partner.microsoft.com) and matched percent-decoded
    Route(
        "GET",
        "/v1.0/sales/pricesheets(Market={market},PricesheetView={view})/$value",
        PRICE_SHEET_PATH,
        lambda s, r: s.get_price_sheet(r.params[0], r.params[1], r.query, r.headers),
    ),
]


UNKNOWN_PATH = "(unknown path)"
"""The route a ``/v1`` request that matches none is counted under, after its method."""
ROUTE_NAMES = frozenset(
    {f"{route.method} {route.template}" for route in API_ROUTES}
    | {f"{method} {UNKNOWN_PATH}" for method in ("GET", "POST", "PATCH", "PUT", "DELETE")}
)
"""Every name a ``/v1`` request's route can have in ``/_sim/stats``, which ``route_latency_ms`` may name."""


def _reset(state: SimulatorState, request: Request) -> Reply:
    state.reset(request.json() or None)
    return Reply(200, {"reset": True}, {})


def _reset_stats(state: SimulatorState, request: Request) -> Reply:
    state.traffic.reset_stats()
    return state.stats()


CONTROL_ROUTES = [
    _route("GET", "/_sim/offers", lambda s, r: s.list_offers()),
    _route("POST", "/_sim/offers", lambda s, r: s.put_offers(r.json())),
    _route("POST", "/_sim/customers/bulk", lambda s, r: s.bulk_customers(r.json())),
    _route("GET", "/_sim/faults", lambda s, r: s.faults()),
    _route("POST", "/_sim/faults", lambda s, r: s.update_faults(r.json())),
    _route("GET", "/_sim/clock", lambda s, r: s.clock()),
    _route("POST", "/_sim/clock", lambda s, r: s.move_clock(r.json())),
    _route("GET", "/_sim/state", lambda s, r: s.snapshot()),
    # billing: close the current (or a named) calendar month into invoices; plant or list charge lines (invoices.py)
    _route("POST", "/_sim/invoices/close", lambda s, r: s.close_period(r.json())),
    _route("GET", "/_sim/charges", lambda s, r: s.list_charges()),
    _route("POST", "/_sim/charges", lambda s, r: s.plant_charge(r.json())),
    _route("GET", "/_sim/stats", lambda s, r: s.stats()),
    _route("POST", "/_sim/stats/reset", _reset_stats),
    _route("POST", "/_sim/reset", _reset),
]


def _match(routes: list[Route], method: str, path: str) -> tuple[Route, tuple[str, ...]] | None:
    for route in routes:
        found = route.pattern.fullmatch(path) or route.pattern.fullmatch(unquote(path))
        if found is not None and route.method == method:
            return route, tuple(unquote(group) for group in found.groups())
    return None


def _entity_tag(value: str | None) -> str | None:
    """An ``If-Match`` value as the etag it names: Microsoft's examples send the bare etag (``If-Match: <etag>``),
    HTTP clients may quote it or mark it weak (``W/"<etag>"``)."""
    if value is None:
        return None
    tag = value.strip().removeprefix("W/")
    return tag[1:-1] if len(tag) >= 2 and tag[0] == tag[-1] == '"' else tag


def _not_found(method: str, path: str) -> Reply:
    return Reply(404, api_fault("1000", f"The resource {method} {path} was not found."), {})


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: SimulatorState) -> None:
        self.state = state
        state.traffic.limit_routes(ROUTE_NAMES)  # a route_latency_ms of a route that does not exist is refused
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that went away mid-answer (a killed worker) is normal here, not worth a traceback."""
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real clients use it
    server_version = "seatflow-simulator"
    sys_version = ""
    timeout = 60  # an idle keep-alive connection is closed after a minute
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle's algorithm holds the body back until the
        # client's delayed ACK (about 40 ms a request).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.open_connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.open_connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # _dispatch logs one line per request

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("simulator.http %s", format % args)

    def _dispatch(self) -> None:
        started = time.perf_counter()
        split = urlsplit(self.path)
        path = split.path.rstrip("/") or "/"
        request = Request(
            method=self.command,
            path=path,
            params=(),
            query={key: values[0] for key, values in parse_qs(split.query).items()},
            raw_body=self._read_body(),
            if_match=_entity_tag(self.headers.get("If-Match")),
            headers={name.lower(): value for name, value in self.headers.items()},
        )
        if path == "/_sim" or path.startswith("/_sim/"):
            reply: Reply | None = self._control(request)
        elif path == "/v1" or path.startswith(("/v1/", "/v1.0/")):
            reply = self._api(request)
        else:
            reply = _not_found(request.method, path)
        elapsed_ms = (time.perf_counter() - started) * 1000
        status = "lost" if reply is None else reply.status
        logger.debug("simulator.request %s %s -> %s (%.1f ms)", self.command, self.path, status, elapsed_ms)
        if reply is None:
            self._drop_connection()
        else:
            self._send(reply)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():  # trailers, up to the empty line
                    pass
                return bytes(body)
            body += self.rfile.read(size)
            self.rfile.readline()

    def _control(self, request: Request) -> Reply:
        matched = _match(CONTROL_ROUTES, request.method, request.path)
        if matched is None:
            return Reply(404, {"error": f"no control path {request.method} {request.path}"}, {})
        route, _ = matched
        try:
            return route.handler(self.server.state, request)
        except (ControlError, SimFault) as error:
            message = error.description if isinstance(error, SimFault) else str(error)
            return Reply(400, {"error": message}, {})

    def _api(self, request: Request) -> Reply | None:
        """A Partner Center request with faults; None means: answer nothing (a lost response)."""
        state = self.server.state
        matched = _match(API_ROUTES, request.method, request.path)
        route = f"{request.method} {matched[0].template if matched else UNKNOWN_PATH}"
        state.traffic.record_request(route)
        draw = state.traffic.draw_faults(request.method, route)
        if draw.latency_s > 0:
            time.sleep(draw.latency_s)
        if draw.throttle_after_s is not None:
            seconds = draw.throttle_after_s
            message = f"Rate limit is exceeded. Try again in {seconds} seconds."
            return Reply(429, {"statusCode": 429, "message": message}, {"Retry-After": str(seconds)})
        if draw.error_status is not None:
            return Reply(draw.error_status, api_fault("800003", "Unexpected error, please try again."), {})
        if matched is None:
            reply = _not_found(request.method, request.path)
        else:
            reply = self._handle(state, matched[0], replace(request, params=matched[1]))
        return None if draw.lose_response else reply

    def _handle(self, state: SimulatorState, route: Route, request: Request) -> Reply:
        def run() -> Reply:
            try:
                return route.handler(state, request)
            except SimFault as fault:
                return Reply(fault.status, fault.body(), {})

        request_id = self.headers.get("MS-RequestId")
        try:
            if request.method in WRITE_METHODS and request_id:
                return state.traffic.once((request.method, request.path, request_id), run)
            return run()
        except Exception:  # a simulator bug: answer like Partner Center's 500, never a hung connection
            logger.exception("simulator.error %s %s", request.method, request.path)
            return Reply(500, api_fault("800003", "Unexpected error, please try again."), {})

    def _send(self, reply: Reply) -> None:
        """A JSON answer, or a file (``bytes``, its ``Content-Type`` among the reply's headers)."""
        headers = dict(reply.headers)
        if isinstance(reply.body, bytes):
            payload, content_type = reply.body, headers.pop("Content-Type", "application/octet-stream")
        else:
            payload, content_type = json.dumps(reply.body).encode(), "application/json"
        self.send_response(reply.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("MS-RequestId", self.headers.get("MS-RequestId") or str(uuid.uuid4()))
        self.send_header("MS-CorrelationId", self.headers.get("MS-CorrelationId") or str(uuid.uuid4()))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _drop_connection(self) -> None:
        """The change is applied (and kept for a replay), but the client never hears back."""
        self.close_connection = True
        with contextlib.suppress(OSError):  # the client went away first
            self.connection.shutdown(socket.SHUT_RDWR)


class SimulatorServer:
    """The simulator on ``host:port`` (port 0: a free one). ``start()`` serves in a daemon thread;
    ``serve_forever()`` serves in the calling thread until interrupted."""

    def __init__(self, state: SimulatorState, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state
        self._httpd = _HTTPServer((host, port), state)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        shown = host.decode() if isinstance(host, bytes) else host
        return f"http://{shown}:{port}"

    def start(self) -> SimulatorServer:
        self._thread = threading.Thread(target=self._serve, name="partner-center-simulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        try:
            self._serve()
        finally:
            self._close()

    def _serve(self) -> None:
        self._httpd.serve_forever(poll_interval=POLL_INTERVAL_S)

    def stop(self) -> None:
        """Stop serving and close every open connection (keep-alive ones included)."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._close()

    def _close(self) -> None:
        self._httpd.server_close()
        with self._httpd.connections_lock:
            connections = list(self._httpd.open_connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
