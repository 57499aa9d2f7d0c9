"""Logging in and out, invitations and password resets: the portal's pages before a session exists."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from seatflow.audit import recorder as audit
from seatflow.audit.scope import ActorKind, AuditActor
from seatflow.auth import passwords
from seatflow.auth.models import PortalSession
from seatflow.auth.sessions import Started
from seatflow.auth.throttle import LoginFailed, LoginThrottled
from seatflow.config import Settings
from seatflow.customers import logins
from seatflow.customers.models import Contact
from seatflow.errors import SeatflowError
from seatflow.portal.mail import send_mail
from seatflow.portal.web import (
    PREFIX,
    SURFACE,
    CsrfField,
    PortalDep,
    check_anonymous_csrf,
    client_ip,
    now_of,
    redirect,
    render,
)
from seatflow.web.deps import SessionDep, SettingsDep, identify

router = APIRouter(prefix=PREFIX, include_in_schema=False)

PasswordField = Annotated[str, Form(max_length=200)]
EmailField = Annotated[str, Form(max_length=320)]


def _acting(request: Request, session: Session, contact: Contact) -> None:
    """What follows is the contact's own doing (the audit log's actor), once a link or a password named them."""
    identify(request, AuditActor(ActorKind.CONTACT, contact.id, contact.email), session)


def _logged_in(
    request: Request, session: Session, settings: Settings, started: Started[PortalSession], action: str
) -> Response:
    """To the portal's home with the session's cookie; the audit log records the login as the contact's."""
    contact = session.get(Contact, started.row.contact_id)
    if contact is not None:
        _acting(request, session, contact)
        audit.record(session, action=action, target_kind="contact", target_id=contact.id)
    response = redirect(f"{PREFIX}/")
    SURFACE.start_session(response, request, settings, started.token)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    nonce, token = SURFACE.anonymous_form(request, session, settings)
    return SURFACE.with_anonymous_cookie(render(request, "login.html", csrf=token), request, settings, nonce)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: EmailField = "",
    password: PasswordField = "",
    csrf_token: CsrfField = None,
) -> Response:
    check_anonymous_csrf(request, session, settings, csrf_token)
    try:
        started = logins.login(session, email=email, password=password, ip=client_ip(request), now=now_of(request))
    except LoginThrottled as error:
        # The attempt is recorded (committed) even though the answer is a refusal.
        page = render(request, "login.html", 429, csrf=csrf_token, error=error.message, email=email)
        page.headers["Retry-After"] = str(error.extra.get("retry_after", 60))
        return page
    except LoginFailed as error:
        return render(request, "login.html", 401, csrf=csrf_token, error=error.message, email=email)
    return _logged_in(request, session, settings, started, "contact.logged_in")


@router.post("/logout")
def logout(request: Request, portal: PortalDep, csrf_token: CsrfField = None) -> Response:
    portal.check_csrf(csrf_token)
    logins.logout(portal.db, SURFACE.session_token(request))
    audit.record(portal.db, action="contact.logged_out", target_kind="contact", target_id=portal.viewer.contact.id)
    response = redirect(f"{PREFIX}/login")
    SURFACE.end_session(response)
    return response


def _password_problem(password: str, confirm: str) -> str | None:
    if password != confirm:
        return "The two passwords differ."
    try:
        passwords.check_password(password)
    except SeatflowError as error:
        return error.message
    return None


def _password_page(request: Request, session: Session, settings: Settings, title: str, contact: Contact) -> Response:
    nonce, csrf = SURFACE.anonymous_form(request, session, settings)
    page = render(request, "set_password.html", csrf=csrf, contact=contact, title=title, action=request.url.path)
    return SURFACE.with_anonymous_cookie(page, request, settings, nonce)


@router.get("/invitations/{token}", response_class=HTMLResponse)
def invitation_page(token: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    contact = logins.invitation_contact(session, token, now_of(request))
    return _password_page(request, session, settings, "Welcome", contact)


@router.post("/invitations/{token}", response_class=HTMLResponse)
def accept_invitation(
    token: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    password: PasswordField = "",
    confirm: PasswordField = "",
    csrf_token: CsrfField = None,
) -> Response:
    check_anonymous_csrf(request, session, settings, csrf_token)
    contact = logins.invitation_contact(session, token, now_of(request))
    error = _password_problem(password, confirm)
    if error:
        return render(
            request,
            "set_password.html",
            422,
            csrf=csrf_token,
            contact=contact,
            title="Welcome",
            error=error,
            action=request.url.path,
        )
    _acting(request, session, contact)
    started = logins.accept_invitation(session, token=token, password=password, now=now_of(request))
    return _logged_in(request, session, settings, started, "contact.invitation_accepted")


@router.get("/password-reset", response_class=HTMLResponse)
def reset_request_page(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    nonce, csrf = SURFACE.anonymous_form(request, session, settings)
    return SURFACE.with_anonymous_cookie(render(request, "reset_request.html", csrf=csrf), request, settings, nonce)


@router.post("/password-reset", response_class=HTMLResponse)
def reset_request(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: EmailField = "",
    csrf_token: CsrfField = None,
) -> Response:
    check_anonymous_csrf(request, session, settings, csrf_token)
    for contact, link in logins.request_reset(
        session, email=email, now=now_of(request), base_url=settings.public_base_url
    ):
        send_mail(
            settings,
            to=contact.email,
            subject="Reset your seatflow portal password",
            body=f"Hello {contact.name},\n\nSet a new password here (the link works for "
            f"{logins.RESET_HOURS} hours, once):\n{link}\n\nIf you did not ask for it, ignore this message.",
        )
    return render(request, "reset_request.html", csrf=csrf_token, sent=True)


@router.get("/password-reset/{token}", response_class=HTMLResponse)
def reset_page(token: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    contact = logins.reset_contact(session, token, now_of(request))
    return _password_page(request, session, settings, "New password", contact)


@router.post("/password-reset/{token}", response_class=HTMLResponse)
def reset(
    token: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    password: PasswordField = "",
    confirm: PasswordField = "",
    csrf_token: CsrfField = None,
) -> Response:
    check_anonymous_csrf(request, session, settings, csrf_token)
    contact = logins.reset_contact(session, token, now_of(request))
    error = _password_problem(password, confirm)
    if error:
        return render(
            request,
            "set_password.html",
            422,
            csrf=csrf_token,
            contact=contact,
            title="New password",
            error=error,
            action=request.url.path,
        )
    _acting(request, session, contact)
    started = logins.reset_password(session, token=token, password=password, now=now_of(request))
    return _logged_in(request, session, settings, started, "contact.password_reset")
