"""Logging in and out, invitations and password resets: the portal's pages before a session exists."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from seatflow.customers.models import Contact
from seatflow.errors import SeatflowError
from seatflow.portal import accounts
from seatflow.portal.mail import send_mail
from seatflow.portal.web import (
    PREFIX,
    SESSION_COOKIE,
    CsrfField,
    PortalDep,
    anonymous_csrf,
    check_anonymous_csrf,
    client_ip,
    login_cookie,
    now_of,
    redirect,
    render,
    with_csrf_cookie,
)
from seatflow.web.deps import SessionDep, SettingsDep

router = APIRouter(prefix=PREFIX, include_in_schema=False)

PasswordField = Annotated[str, Form(max_length=200)]
EmailField = Annotated[str, Form(max_length=320)]


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, settings: SettingsDep) -> Response:
    token = anonymous_csrf(request)
    return with_csrf_cookie(render(request, "login.html", csrf=token), request, settings, token)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: EmailField = "",
    password: PasswordField = "",
    csrf_token: CsrfField = None,
) -> Response:
    check_anonymous_csrf(request, csrf_token)
    try:
        started = accounts.login(session, email=email, password=password, ip=client_ip(request), now=now_of(request))
    except accounts.LoginThrottled as error:
        # The attempt is recorded (committed) even though the answer is a refusal.
        page = render(request, "login.html", 429, csrf=csrf_token, error=error.message, email=email)
        page.headers["Retry-After"] = str(error.extra.get("retry_after", 60))
        return page
    except accounts.LoginFailed as error:
        return render(request, "login.html", 401, csrf=csrf_token, error=error.message, email=email)
    response = redirect(f"{PREFIX}/")
    login_cookie(response, request, settings, started.token)
    return response


@router.post("/logout")
def logout(request: Request, portal: PortalDep, csrf_token: CsrfField = None) -> Response:
    portal.check_csrf(csrf_token)
    accounts.logout(portal.db, request.cookies.get(SESSION_COOKIE))
    response = redirect(f"{PREFIX}/login")
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


def _password_problem(password: str, confirm: str) -> str | None:
    if password != confirm:
        return "The two passwords differ."
    try:
        accounts.check_password(password)
    except SeatflowError as error:
        return error.message
    return None


def _password_page(request: Request, settings: SettingsDep, title: str, contact: Contact) -> Response:
    csrf = anonymous_csrf(request)
    page = render(request, "set_password.html", csrf=csrf, contact=contact, title=title, action=request.url.path)
    return with_csrf_cookie(page, request, settings, csrf)


@router.get("/invitations/{token}", response_class=HTMLResponse)
def invitation_page(token: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    contact = accounts.invitation_contact(session, token, now_of(request))
    return _password_page(request, settings, "Welcome", contact)


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
    check_anonymous_csrf(request, csrf_token)
    contact = accounts.invitation_contact(session, token, now_of(request))
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
    started = accounts.accept_invitation(session, token=token, password=password, now=now_of(request))
    response = redirect(f"{PREFIX}/")
    login_cookie(response, request, settings, started.token)
    return response


@router.get("/password-reset", response_class=HTMLResponse)
def reset_request_page(request: Request, settings: SettingsDep) -> Response:
    csrf = anonymous_csrf(request)
    return with_csrf_cookie(render(request, "reset_request.html", csrf=csrf), request, settings, csrf)


@router.post("/password-reset", response_class=HTMLResponse)
def reset_request(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: EmailField = "",
    csrf_token: CsrfField = None,
) -> Response:
    check_anonymous_csrf(request, csrf_token)
    for contact, link in accounts.request_reset(
        session, email=email, now=now_of(request), base_url=settings.public_base_url
    ):
        send_mail(
            settings,
            to=contact.email,
            subject="Reset your seatflow portal password",
            body=f"Hello {contact.name},\n\nSet a new password here (the link works for "
            f"{accounts.RESET_HOURS} hours, once):\n{link}\n\nIf you did not ask for it, ignore this message.",
        )
    return render(request, "reset_request.html", csrf=csrf_token, sent=True)


@router.get("/password-reset/{token}", response_class=HTMLResponse)
def reset_page(token: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    contact = accounts.reset_contact(session, token, now_of(request))
    return _password_page(request, settings, "New password", contact)


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
    check_anonymous_csrf(request, csrf_token)
    contact = accounts.reset_contact(session, token, now_of(request))
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
    started = accounts.reset_password(session, token=token, password=password, now=now_of(request))
    response = redirect(f"{PREFIX}/")
    login_cookie(response, request, settings, started.token)
    return response
