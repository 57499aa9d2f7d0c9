"""The portal's web plumbing: templates, the logged-in contact and what it may do, CSRF, cookies, errors as pages.

Every POST carries a CSRF token (the session's, or before login a double-submit cookie) and is checked before
anything else is read or changed; the session cookie is HttpOnly, SameSite=Lax, and Secure behind https.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from seatflow.audit.scope import ActorKind, AuditActor
from seatflow.clock import Clock
from seatflow.config import Settings
from seatflow.money import format_money
from seatflow.portal import accounts, scope, wording
from seatflow.portal.models import PortalSession
from seatflow.subscriptions.models import ChangeOrigin
from seatflow.subscriptions.schemas import Actor
from seatflow.web.deps import SAFE_METHODS, SessionDep, get_clock, identify

PREFIX = "/portal"
SESSION_COOKIE = "seatflow_portal"
CSRF_COOKIE = "seatflow_portal_csrf"
EXPIRED_FORM = "This form has expired or did not come from seatflow. Reload the page."

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters["money"] = lambda value: format_money(value) or ""
templates.env.filters["signed_money"] = wording.signed_money
templates.env.filters["day"] = wording.day
templates.env.filters["failure"] = wording.failure_reason
templates.env.filters["change_words"] = wording.change_words
templates.env.filters["status_words"] = wording.status_words
templates.env.filters["term_words"] = wording.term_words
templates.env.filters["plan_words"] = wording.plan_words
templates.env.filters["bill_words"] = wording.bill_words
templates.env.filters["licenses"] = wording.licenses


class PortalError(Exception):
    """Rendered as a page with a message (never a stack trace or JSON)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


class LoginRequired(Exception):
    pass


def nothing_here() -> PortalError:
    return PortalError(404, "Not found", "There is nothing here for you.")


def secure(request: Request, settings: Settings) -> bool:
    return request.url.scheme == "https" or settings.public_base_url.startswith("https://")


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def now_of(request: Request) -> datetime:
    clock: Clock = get_clock(request)
    return clock.now()


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context, status_code=status)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# --- the session ---------------------------------------------------------------------------------------------------


class Portal:
    """The logged-in contact of a request, what it may do, and its CSRF token."""

    def __init__(self, session: Session, portal_session: PortalSession, viewer: scope.Viewer) -> None:
        self.db = session
        self.portal_session = portal_session
        self.viewer = viewer

    @property
    def csrf(self) -> str:
        return self.portal_session.csrf_token

    @property
    def actor(self) -> Actor:
        return Actor(ChangeOrigin.PORTAL, f"portal {self.viewer.contact.email}")

    def check_csrf(self, token: str | None) -> None:
        if not token or not secrets.compare_digest(token, self.csrf):
            raise PortalError(403, "Refused", EXPIRED_FORM)


def get_portal(request: Request, session: SessionDep) -> Portal:
    # A page (GET) reads only: its transaction must not write, so the session is not touched then.
    found = accounts.current(
        session, request.cookies.get(SESSION_COOKIE), now_of(request), touch=request.method not in SAFE_METHODS
    )
    if found is None:
        raise LoginRequired
    portal_session, contact = found
    identify(request, AuditActor(ActorKind.CONTACT, contact.id, contact.email), session)  # SPEC §17
    return Portal(session, portal_session, scope.viewer_of(session, contact))


PortalDep = Annotated[Portal, Depends(get_portal)]
CsrfField = Annotated[str | None, Form(alias="csrf_token")]


# --- cookies -------------------------------------------------------------------------------------------------------


def login_cookie(response: Response, request: Request, settings: Settings, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=accounts.SESSION_HOURS * 3600,
        httponly=True,
        samesite="lax",
        secure=secure(request, settings),
        path=PREFIX,
    )


def anonymous_csrf(request: Request) -> str:
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)


def with_csrf_cookie(response: Response, request: Request, settings: Settings, token: str) -> Response:
    response.set_cookie(
        CSRF_COOKIE, token, httponly=True, samesite="lax", secure=secure(request, settings), path=PREFIX
    )
    return response


def check_anonymous_csrf(request: Request, token: str | None) -> None:
    cookie = request.cookies.get(CSRF_COOKIE)
    if not token or not cookie or not secrets.compare_digest(token, cookie):
        raise PortalError(403, "Refused", EXPIRED_FORM)
