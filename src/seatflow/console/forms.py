"""The console's write forms: reading a posted form, turning its fields into the API's input schemas with plain
messages, and the notice of what an action did.

A form is read once (``FormDep``) and checked in the console's order: logged in, CSRF token, role. Its fields are
validated by the same pydantic schemas as the API's bodies; a field that does not pass is a ``FormProblem`` whose
message names the field as its label does, never pydantic's wording. What an action did is shown once on the page
it redirects to, from a short-lived cookie signed with the session's secret (never from the query string, which
any link can write), as the queue and the renewal desk do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails
from starlette.datastructures import FormData

from seatflow.config import Settings
from seatflow.console.web import PREFIX, Console, ConsoleError, FormProblem, redirect, secure
from seatflow.schemas import DayIn, PriceIn

NOTICE_COOKIE = "seatflow_console_notice"
NOTICE_SECONDS = 60
MAX_TEXT = 5000
"""Longer than any field the console sends: the schemas refuse it with the field's own limit."""

_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_day = TypeAdapter(DayIn)
_price = TypeAdapter(PriceIn)


async def read_form(request: Request) -> FormData:
    """The posted form, read once (the route itself runs in a thread and reads the database)."""
    return await request.form()


FormDep = Annotated[FormData, Depends(read_form)]


class Fields:
    """A posted form's values as text: every field a string (a file or a missing field is empty)."""

    def __init__(self, form: FormData | Mapping[str, str]) -> None:
        self.form = form

    def text(self, name: str) -> str:
        value = self.form.get(name)
        return value[:MAX_TEXT] if isinstance(value, str) else ""

    def optional(self, name: str) -> str | None:
        """Stripped, or None when empty."""
        return self.text(name).strip() or None

    def checked(self, name: str) -> bool:
        return self.text(name) in ("1", "on", "true", "yes")

    def all(self, name: str) -> list[str]:
        """Every value of a repeated field (checkboxes of one name)."""
        getlist = getattr(self.form, "getlist", None)
        values = getlist(name) if getlist is not None else [self.text(name)]
        return [v[:200] for v in values if isinstance(v, str) and v]

    @property
    def csrf(self) -> str | None:
        return self.optional("csrf_token")

    def values(self) -> dict[str, str]:
        """What the operator typed, to show the form again (never the CSRF token)."""
        return {key: self.text(key) for key in self.form if key != "csrf_token"}


def require_operator_page(console: Console) -> None:
    """A write form's own page: only for those who may send it (a read-only operator sees no write form)."""
    if not console.operates:
        raise ConsoleError(403, "Not allowed", f"Your role ({console.role_label}) may not change anything here.")


def authorized(console: Console, fields: Fields) -> Fields:
    """The console's checks for a form that changes something: the session's token, then the role."""
    console.authorize(fields.csrf)
    return fields


# --- typed values, with the field's label in the message -------------------------------------------------------


def day(value: str, *, label: str) -> date:
    try:
        return _day.validate_python(value.strip())
    except ValidationError as error:
        raise FormProblem(f"Enter {label} as YYYY-MM-DD (from 2000 on).") from error


def optional_day(value: str, *, label: str) -> date | None:
    return day(value, label=label) if value.strip() else None


def price(value: str, *, label: str) -> Decimal | None:
    """A price per unit per month (at most 4 decimals, not negative), or None when the field is empty."""
    text = value.strip()
    if not text:
        return None
    try:
        if not _DECIMAL.fullmatch(text):  # what a person types: no exponent, sign or separators
            raise ValueError(text)
        return _price.validate_python(text)
    except (ValueError, ValidationError) as error:
        raise FormProblem(
            f"Enter {label} as a decimal number (e.g. 36.00) with at most 4 decimals, or leave it empty."
        ) from error


def whole(value: str, *, label: str, minimum: int, maximum: int) -> int:
    """A whole number typed in a form (plain ASCII digits), within the limits."""
    digits = value.strip()
    if not digits.isascii() or not digits.isdigit() or len(digits) > 9 or not minimum <= int(digits) <= maximum:
        raise FormProblem(f"Enter {label} as a whole number from {minimum} to {maximum}.")
    return int(digits)


def percent(value: str, *, label: str) -> Decimal:
    """A rate typed as a percentage (``19`` or ``8.875``), as the fraction the API takes (``0.19``)."""
    text = value.strip() or "0"
    wrong = FormProblem(f"Enter {label} as a percentage from 0 to 100, at most 4 decimals (e.g. 19 or 8.875).")
    if not text.isascii() or "_" in text:
        raise wrong
    try:
        rate = Decimal(text)
    except ArithmeticError as error:
        raise wrong from error
    exponent = rate.as_tuple().exponent
    if not isinstance(exponent, int) or exponent < -4 or not Decimal(0) <= rate <= Decimal(100):
        raise wrong
    return rate / 100


def validated(schema: type[Any], data: dict[str, Any], labels: Mapping[str, str]) -> Any:
    """``schema`` built from the form's ``data``; a field that does not pass is a FormProblem naming its label."""
    try:
        return schema.model_validate(data)
    except ValidationError as error:
        raise FormProblem(problem_text(error.errors()[0], labels)) from error


def problem_text(error: ErrorDetails, labels: Mapping[str, str]) -> str:
    """One plain sentence for pydantic's first error on a form."""
    path = [str(part) for part in error["loc"] if not isinstance(part, int)]
    key = ".".join(path)
    label = labels.get(key) or labels.get(path[0] if path else "", "") or (path[-1] if path else "A field")
    label = label.replace("_", " ")
    context: dict[str, Any] = dict(error.get("ctx") or {})
    kind = error["type"]
    if kind in ("missing", "string_too_short") or (kind == "too_short" and not context.get("min_length")):
        return f"Enter {label.lower()}."
    if kind == "too_short":
        return f"Choose at least one of the {label.lower()}."
    if kind == "string_too_long":
        return f"{_first(label)} is too long: {context.get('max_length')} characters at most."
    if kind == "string_pattern_mismatch":
        return f"{_first(label)} is not in the expected form."
    if kind == "control_character":
        return f"{_first(label)} holds a character that is not allowed."
    if kind in ("greater_than_equal", "greater_than"):
        return f"{_first(label)} must be at least {context.get('ge', context.get('gt'))}."
    if kind in ("less_than_equal", "less_than"):
        return f"{_first(label)} must be at most {context.get('le', context.get('lt'))}."
    if kind in ("enum", "literal_error"):
        return f"Choose {label.lower()} from the list."
    return f"Check {label.lower()}: it is not valid."


def _first(label: str) -> str:
    return label[:1].upper() + label[1:]


# --- the notice of what an action did --------------------------------------------------------------------------


def _sign(console: Console, body: str) -> str:
    return hmac.new(console.csrf.encode(), body.encode(), hashlib.sha256).hexdigest()


def done(url: str, request: Request, console: Console, settings: Settings, notice: str) -> Response:
    """Redirect to ``url`` (a console path), which shows ``notice`` once."""
    response = redirect(url)
    body = base64.urlsafe_b64encode(json.dumps({"notice": notice[:1500]}).encode()).decode()
    response.set_cookie(
        NOTICE_COOKIE,
        f"{body}.{_sign(console, body)}",
        max_age=NOTICE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=secure(request, settings),
        path=PREFIX,
    )
    return response


def notice_of(request: Request, console: Console) -> str | None:
    """The notice this session's own last action set; None for anything else (or after a form's POST)."""
    if request.method != "GET":
        return None
    body, _, signature = request.cookies.get(NOTICE_COOKIE, "").partition(".")
    if not body or not hmac.compare_digest(signature, _sign(console, body)):
        return None
    try:
        found = json.loads(base64.urlsafe_b64decode(body.encode()))
    except ValueError:
        return None
    notice = found.get("notice") if isinstance(found, dict) else None
    return notice if isinstance(notice, str) else None


def shown(response: Response, request: Request) -> Response:
    """A page that showed the notice clears it, so a reload does not show it again."""
    if NOTICE_COOKIE in request.cookies:
        response.delete_cookie(NOTICE_COOKIE, path=PREFIX)
    return response
