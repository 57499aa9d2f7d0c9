"""Security headers and input hygiene (SPEC §18), for the API, the console, the portal and the static files alike.

Every answer says ``nosniff``, keeps its address from other sites (``Referrer-Policy: same-origin``: the portal's
invitation and reset links carry their token in the path) and may not be framed (``frame-ancestors 'none'`` and,
for older browsers, ``X-Frame-Options: DENY``). HTML gets a Content-Security-Policy that allows only the server's
own scripts, styles and images, so that an injected ``<script>`` or ``onclick`` never runs: the templates have no
inline script, handler or style attribute. Portal and console pages and invoice documents (PDF, CSV) are
``Cache-Control: no-store``: a shared computer's browser keeps no copy of a customer's invoices.

The headers are set by the outermost layer of the application, around even the 500 answer of an unexpected
error, so no answer leaves without them.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seatflow.errors import ValidationFailed
from seatflow.schemas import control_character

HTML_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""No inline script, handler or style: only files the server serves itself."""
DOCUMENT_POLICY = "frame-ancestors 'none'"
"""A PDF: the browser's viewer renders it, and nothing may frame it."""
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"
"""JSON, CSV, CSS and the rest: never a document that loads anything (OWASP's advice for REST answers)."""

NO_STORE_PREFIXES = ("/portal", "/console")
NO_STORE_TYPES = ("application/pdf", "text/csv")
STATIC_PREFIXES = ("/portal/static", "/console/static")


def headers_for(path: str, content_type: str) -> dict[str, str]:
    """The security headers of an answer at ``path`` with this Content-Type."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "text/html":
        policy = HTML_POLICY
    elif media == "application/pdf":
        policy = DOCUMENT_POLICY
    else:
        policy = DATA_POLICY
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": policy,
    }
    page = path.startswith(NO_STORE_PREFIXES) and not path.startswith(STATIC_PREFIXES)
    if page or media in NO_STORE_TYPES:
        headers["Cache-Control"] = "no-store"
    return headers


class SecurityHeaders:
    """A pure ASGI middleware: adds ``headers_for`` to the start of every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", []))
                headers = MutableHeaders(scope=message)
                for name, value in headers_for(path, headers.get("content-type", "")).items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI) -> None:
    """Wraps the whole application, outside even Starlette's ServerErrorMiddleware (``add_middleware`` would put
    it inside, and a 500 would leave without the headers)."""
    build = app.build_middleware_stack

    def build_with_headers() -> ASGIApp:
        return SecurityHeaders(build())

    app.build_middleware_stack = build_with_headers  # type: ignore[method-assign]


async def refuse_control_characters(request: Request) -> None:
    """A router dependency: no control character in a path or query parameter, its name or its value. A NUL
    would reach the database, which PostgreSQL refuses and SQLite keeps: refused here, the same on both."""
    for where, items in (("path", list(request.path_params.items())), ("query", request.query_params.multi_items())):
        for name, value in items:
            found = control_character(str(name)) or control_character(str(value))
            if found is not None:
                field = f"{where}.{ascii(str(name))[1:-1]}"
                message = f"must not contain control characters (found {found})"
                raise ValidationFailed(f"{field}: {message}.", errors=[{"field": field, "message": message}])


PARAMETER_CHECKS = [Depends(refuse_control_characters)]
"""For an API router's ``dependencies=``."""
