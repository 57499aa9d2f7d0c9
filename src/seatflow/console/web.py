"""The console's web plumbing: templates, the logged-in operator and what its role allows, errors as pages.

Sessions, cookies and CSRF are ``seatflow.web.identity`` and ``seatflow.auth`` (one implementation with the
portal). Every POST carries a CSRF token (the session's, or before login a signed double-submit) and is checked in
this order: logged in, token, role. A refusal changes nothing: it is raised before any service is called.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from seatflow.audit.scope import ActorKind, AuditActor
from seatflow.auth import operators
from seatflow.auth.models import ConsoleSession, Operator, OperatorRole
from seatflow.errors import SeatflowError
from seatflow.ids import parse_id
from seatflow.money import format_money
from seatflow.subscriptions.models import ChangeOrigin
from seatflow.subscriptions.schemas import Actor
from seatflow.web.deps import SAFE_METHODS, SessionDep, identify
from seatflow.web.errors import status_of
from seatflow.web.identity import EXPIRED_FORM, Surface, client_ip, csrf_matches, now_of, redirect, secure

__all__ = ["client_ip", "now_of", "redirect", "secure"]  # the pages' plumbing, from seatflow.web.identity

PREFIX = "/console"
SURFACE = Surface(PREFIX, "seatflow_console", "seatflow_console_csrf", operators.SESSION_HOURS)
SESSION_COOKIE = SURFACE.session_cookie
ROLE_RANK = {OperatorRole.READ_ONLY: 0, OperatorRole.OPERATOR: 1, OperatorRole.ADMIN: 2}
ROLE_LABELS = {OperatorRole.READ_ONLY: "read-only", OperatorRole.OPERATOR: "operator", OperatorRole.ADMIN: "admin"}

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters["money"] = lambda value: format_money(value) or ""
templates.env.filters["words"] = lambda value: str(getattr(value, "value", value)).replace("_", " ")
templates.env.filters["signed"] = lambda value: f"{value:+d}"
templates.env.filters["when"] = lambda moment: moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


class ConsoleError(Exception):
    """Rendered as a page with a message (never a stack trace or JSON)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


class LoginRequired(Exception):
    pass


def not_found(what: str) -> ConsoleError:
    return ConsoleError(404, "Not found", f"There is no {what} here.")


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context, status_code=status)


class Console:
    """The logged-in operator of a request, what its role allows, and its CSRF token."""

    def __init__(self, session: Session, console_session: ConsoleSession, operator: Operator) -> None:
        self.db = session
        self.console_session = console_session
        self.operator = operator

    @property
    def csrf(self) -> str:
        return self.console_session.csrf_token

    @property
    def actor(self) -> Actor:
        return Actor(ChangeOrigin.OPERATOR, f"console {self.operator.email}")

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.operator.role]

    def may(self, role: OperatorRole) -> bool:
        return ROLE_RANK[self.operator.role] >= ROLE_RANK[role]

    @property
    def operates(self) -> bool:
        """Runs the work: the queue, billing runs, the worker, reconciliation fixes."""
        return self.may(OperatorRole.OPERATOR)

    @property
    def voids(self) -> bool:
        return self.may(OperatorRole.ADMIN)

    def check_csrf(self, token: str | None) -> None:
        if not csrf_matches(self.csrf, token):
            raise ConsoleError(403, "Refused", EXPIRED_FORM)

    def authorize(self, token: str | None, role: OperatorRole = OperatorRole.OPERATOR) -> None:
        """For every POST that changes something: the session's token, then the role."""
        self.check_csrf(token)
        if not self.may(role):
            needed = "an administrator" if role is OperatorRole.ADMIN else "an operator or an administrator"
            raise ConsoleError(403, "Not allowed", f"Your role ({self.role_label}) may not do this: it takes {needed}.")

    @contextmanager
    def attempt(self) -> Iterator[None]:
        """A use case in a savepoint: when it raises, nothing it wrote stays, and the caller shows the message."""
        try:
            with self.db.begin_nested():
                yield
        except SeatflowError:
            self.db.expire_all()
            raise


def get_console(request: Request, session: SessionDep) -> Console:
    # A page (GET) reads only: its transaction must not write, so the session is not touched then.
    found = operators.current(
        session, SURFACE.session_token(request), now_of(request), touch=request.method not in SAFE_METHODS
    )
    if found is None:
        raise LoginRequired
    console_session, operator = found
    identify(request, AuditActor(ActorKind.OPERATOR, operator.id, operator.email), session)  # SPEC §17
    return Console(session, console_session, operator)


ConsoleDep = Annotated[Console, Depends(get_console)]
CsrfField = Annotated[str | None, Form(alias="csrf_token")]


def error_status(error: SeatflowError) -> int:
    return status_of(error)


def require_id(ref: str, what: str) -> uuid.UUID:
    """The UUID in a path, or the not-found page."""
    parsed = parse_id(ref)
    if parsed is None:
        raise not_found(what)
    return parsed


class FormProblem(Exception):
    """Bad form input: the page is shown again with the message, and nothing is changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def plain(value: str) -> str:
    """A search or a name to look up, without NUL characters: PostgreSQL refuses them in text, and no name
    holds one."""
    return value.replace("\x00", "")


def clean_text(value: str, *, field: str) -> str:
    """Form text as the database can hold it (PostgreSQL refuses NUL characters in text)."""
    if "\x00" in value:
        raise FormProblem(f"{field} holds a character that is not allowed.")
    return value.strip()
