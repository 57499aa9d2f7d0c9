"""Errors → ``application/problem+json`` (RFC 9457) with a stable ``code``; mapped once, by base class."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from seatflow.errors import (
    Conflict,
    Forbidden,
    InvalidState,
    NotFound,
    ProviderError,
    SeatflowError,
    Unauthorized,
    ValidationFailed,
)

log = logging.getLogger("seatflow.api")

STATUS_BY_ERROR: list[tuple[type[SeatflowError], int]] = [
    (NotFound, 404),
    (Conflict, 409),
    (InvalidState, 409),
    (ValidationFailed, 422),
    (Unauthorized, 401),
    (Forbidden, 403),
    (ProviderError, 502),
]
_CODE_BY_STATUS = {
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {
        "type": f"urn:seatflow:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def status_of(error: SeatflowError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(error, cls):
            return status
    return 400


HtmlErrorPage = Callable[[Request, int, str, str], Response]
"""Renders an error as a web page (the portal, the console) instead of problem+json."""


def html_page_for(request: Request) -> HtmlErrorPage | None:
    pages: dict[str, HtmlErrorPage] = getattr(request.app.state, "html_error_pages", {})
    return next((page for prefix, page in pages.items() if request.url.path.startswith(prefix)), None)


def install(app: FastAPI) -> None:
    @app.exception_handler(SeatflowError)
    async def _seatflow(request: Request, exc: SeatflowError) -> Response:
        if page := html_page_for(request):
            return page(request, status_of(exc), exc.title, exc.message)
        return problem(status_of(exc), exc.code, exc.title, exc.message, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        if page := html_page_for(request):
            return page(request, 422, "Check the form", "Some of what was sent is not valid: go back and try again.")
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        first = errors[0] if errors else {"field": "request", "message": "invalid"}
        return problem(
            422, "validation_failed", "Validation failed", f"{first['field']}: {first['message']}", errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if page := html_page_for(request):
            title = "Not found" if exc.status_code == 404 else "Refused"
            return page(request, exc.status_code if exc.status_code != 400 else 422, title, str(exc.detail))
        if exc.status_code == 400:
            # FastAPI's answer to a body it cannot even decode (not UTF-8): malformed input, answered as
            # malformed JSON is (our routes never raise a 400 themselves).
            detail = f"body: {exc.detail}"
            return problem(
                422,
                "validation_failed",
                "Validation failed",
                detail,
                errors=[{"field": "body", "message": str(exc.detail)}],
            )
        code = _CODE_BY_STATUS.get(exc.status_code, "http_error")
        return problem(exc.status_code, code, code.replace("_", " ").capitalize(), str(exc.detail))

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> Response:
        # The services check uniqueness first with a named error; this is the race between two requests.
        log.warning("api.integrity_error %s", exc.orig)
        if page := html_page_for(request):
            return page(request, 409, "Conflict", "This conflicts with a change made at the same time: try again.")
        return problem(409, "conflict", "Conflict", "The change conflicts with another one made at the same time.")

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> Response:
        # A value the database cannot hold (PostgreSQL: a NUL character in text, a string too long for its
        # column) that validation let through is still the client's bad input, never a 500.
        log.warning("api.data_error %s", exc.orig)
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else "invalid value"
        detail = f"A value sent is not valid for the database: {reason}."
        if page := html_page_for(request):
            return page(request, 422, "Check the form", "A value sent is not valid: go back and correct it.")
        return problem(422, "validation_failed", "Validation failed", detail)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("api.unexpected_error")
        if page := html_page_for(request):
            return page(request, 500, "Something went wrong", "An unexpected error occurred; it was logged.")
        return problem(500, "internal_error", "Internal error", "An unexpected error occurred; it was logged.")
