"""Errors → ``application/problem+json`` (RFC 9457) with a stable ``code``; mapped once, by base class."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

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


PROBLEM_MEMBERS = frozenset({"type", "title", "status", "detail", "code"})
"""The members every problem has; an error's extra fields never replace them."""


def problem(status: int, code: str, title: str, detail: str, /, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:seatflow:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update((key, value) for key, value in extra.items() if key not in PROBLEM_MEMBERS)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def status_of(error: SeatflowError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(error, cls):
            return status
    return 400


def extra_members(error: SeatflowError) -> dict[str, Any]:
    """The error's extra fields for its problem, one that shares a problem member's name renamed: a provider's
    own HTTP ``status`` becomes ``provider_status`` (the problem's ``status`` is ours, 502)."""
    prefix = "provider_" if isinstance(error, ProviderError) else "error_"
    return {(prefix + key if key in PROBLEM_MEMBERS else key): value for key, value in error.extra.items()}


PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldProblem(BaseModel):
    field: str = Field(description="Where: ``body.quantity``, ``query.tenant_id``, ``path.customer_id``.")
    message: str


class Problem(BaseModel):
    """Every error the API answers (RFC 9457), as ``application/problem+json``."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["urn:seatflow:problem:duplicate_offer"])
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable; clients may rely on it (docs/api.md lists them).")
    errors: list[FieldProblem] | None = Field(default=None, description="validation_failed: every field refused.")


_PROBLEM_DESCRIPTIONS = {
    401: "No API key, or an unknown or revoked one (`unauthorized`).",
    404: "Something named in the path or body does not exist (`not_found`).",
    409: "Refused by a rule or the current state (`duplicate_offer`, `reduction_outside_window`, …).",
    422: "Bad input, nothing changed (`validation_failed` with `errors`, `import_invalid`, …).",
    502: "The provider failed or could not be reached (`provider_error`).",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` declaring these statuses as problems, for a router's ``responses=``."""
    schema = {"$ref": "#/components/schemas/Problem"}
    return {
        status: {"description": _PROBLEM_DESCRIPTIONS[status], "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}}}
        for status in statuses
    }


API_PROBLEMS = problem_responses(401, 404, 409, 422)
"""What every operator route may answer besides its success."""
PROVIDER_PROBLEMS = problem_responses(401, 404, 409, 422, 502)
"""… and a route that calls the provider while the client waits."""


def _document_problems(app: FastAPI) -> None:
    """Adds the Problem schema the routers' ``responses`` refer to (FastAPI would file a ``model`` under
    ``application/json``, which is not what the API answers)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        definition = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(definition.pop("$defs", {}))
        schemas["Problem"] = definition
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the document


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> str:
    """Every method some route answers at this path, asked of the app's own routing one method at a time: the
    405 Starlette raises names only the first route's (``GET /products`` and ``POST /products`` are two)."""
    allowed = []
    for method in _METHODS:
        # From the application's root: a mount (the static files) has moved root_path to itself.
        root = request.scope.get("app_root_path", request.scope.get("root_path", ""))
        probe = {**request.scope, "method": method, "root_path": root}
        for route in request.app.router.routes:
            match = route.matches(probe)[0]
            if isinstance(route, Mount) and isinstance(route.app, StaticFiles) and method not in ("GET", "HEAD"):
                match = Match.NONE  # a mount matches every method; static files answer only these
            if match is Match.FULL:
                allowed.append(method)
                break
    return ", ".join(allowed)


HtmlErrorPage = Callable[[Request, int, str, str], Response]
"""Renders an error as a web page (the portal, the console) instead of problem+json."""


def html_page_for(request: Request) -> HtmlErrorPage | None:
    pages: dict[str, HtmlErrorPage] = getattr(request.app.state, "html_error_pages", {})
    return next((page for prefix, page in pages.items() if request.url.path.startswith(prefix)), None)


def install(app: FastAPI) -> None:
    _document_problems(app)

    @app.exception_handler(SeatflowError)
    async def _seatflow(request: Request, exc: SeatflowError) -> Response:
        if page := html_page_for(request):
            return page(request, status_of(exc), exc.title, exc.message)
        return problem(status_of(exc), exc.code, exc.title, exc.message, **extra_members(exc))

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
        response = _http_answer(request, exc)
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            response.headers["Allow"] = allowed_methods(request)
        return response

    def _http_answer(request: Request, exc: StarletteHTTPException) -> Response:
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
