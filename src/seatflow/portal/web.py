"""The portal's web plumbing: templates, the logged-in contact and what it may do, CSRF, cookies, errors as pages.

Sessions, cookies and CSRF are ``seatflow.web.identity`` and ``seatflow.auth`` (one implementation with the
console). Every POST carries a CSRF token (the session's, or before login a signed double-submit) and is checked
before anything else is read or changed; the session cookie is HttpOnly, SameSite=Lax, and Secure behind https.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from seatflow.audit.scope import ActorKind, AuditActor
from seatflow.auth.models import PortalSession
from seatflow.config import Settings
from seatflow.customers import logins
from seatflow.money import format_money
from seatflow.portal import scope, wording
from seatflow.subscriptions.models import ChangeOrigin
from seatflow.subscriptions.schemas import Actor
from seatflow.web.deps import SAFE_METHODS, SessionDep, identify
from seatflow.web.identity import EXPIRED_FORM, Surface, client_ip, csrf_matches, now_of, redirect

__all__ = ["client_ip", "now_of", "redirect"]  # the pages' plumbing, from seatflow.web.identity

PREFIX = "/portal"
SURFACE = Surface(PREFIX, "seatflow_portal", "seatflow_portal_csrf", logins.SESSION_HOURS)
SESSION_COOKIE = SURFACE.session_cookie

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


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context, status_code=status)


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
        if not csrf_matches(self.csrf, token):
            raise PortalError(403, "Refused", EXPIRED_FORM)


def get_portal(request: Request, session: SessionDep) -> Portal:
    # A page (GET) reads only: its transaction must not write, so the session is not touched then.
    found = logins.current(
        session, SURFACE.session_token(request), now_of(request), touch=request.method not in SAFE_METHODS
    )
    if found is None:
        raise LoginRequired
    portal_session, contact = found
    identify(request, AuditActor(ActorKind.CONTACT, contact.id, contact.email), session)  # SPEC §17
    return Portal(session, portal_session, scope.viewer_of(session, contact))


PortalDep = Annotated[Portal, Depends(get_portal)]
CsrfField = Annotated[str | None, Form(alias="csrf_token")]


# --- forms before login (signed double-submit: seatflow.web.identity) ----------------------------------------------


def check_anonymous_csrf(request: Request, session: Session, settings: Settings, token: str | None) -> None:
    if not SURFACE.anonymous_form_valid(request, session, settings, token):
        raise PortalError(403, "Refused", EXPIRED_FORM)
