"""Logging operators in and out of the console."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from seatflow.config import Settings
from seatflow.console import accounts
from seatflow.console.web import (
    CSRF_COOKIE,
    PREFIX,
    SESSION_COOKIE,
    ConsoleDep,
    ConsoleError,
    CsrfField,
    client_ip,
    now_of,
    redirect,
    render,
    secure,
)
from seatflow.portal.accounts import LoginFailed, LoginThrottled
from seatflow.web.deps import SessionDep, SettingsDep

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _anonymous_csrf(request: Request) -> str:
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)


def _with_csrf_cookie(response: Response, request: Request, settings: Settings, token: str) -> Response:
    response.set_cookie(
        CSRF_COOKIE, token, httponly=True, samesite="lax", secure=secure(request, settings), path=PREFIX
    )
    return response


def _check_anonymous_csrf(request: Request, token: str | None) -> None:
    cookie = request.cookies.get(CSRF_COOKIE)
    if not token or not cookie or not secrets.compare_digest(token, cookie):
        raise ConsoleError(403, "Refused", "This form has expired or did not come from seatflow. Reload the page.")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, settings: SettingsDep) -> Response:
    token = _anonymous_csrf(request)
    return _with_csrf_cookie(render(request, "login.html", csrf=token), request, settings, token)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    csrf_token: CsrfField = None,
) -> Response:
    _check_anonymous_csrf(request, csrf_token)
    try:
        if "\x00" in email:  # no address holds one, and PostgreSQL refuses it in text
            raise LoginFailed("That e-mail address and password do not match.")
        started = accounts.login(session, email=email, password=password, ip=client_ip(request), now=now_of(request))
    except LoginThrottled as error:
        # The attempt is recorded (committed) even though the answer is a refusal.
        page = render(request, "login.html", 429, csrf=csrf_token, error=error.message, email=email)
        page.headers["Retry-After"] = str(error.extra.get("retry_after", 60))
        return page
    except LoginFailed as error:
        return render(request, "login.html", 401, csrf=csrf_token, error=error.message, email=email)
    response = redirect(f"{PREFIX}/")
    response.set_cookie(
        SESSION_COOKIE,
        started.token,
        max_age=accounts.SESSION_HOURS * 3600,
        httponly=True,
        samesite="lax",
        secure=secure(request, settings),
        path=PREFIX,
    )
    return response


@router.post("/logout")
def logout(request: Request, console: ConsoleDep, csrf_token: CsrfField = None) -> Response:
    console.check_csrf(csrf_token)  # every role may log out
    accounts.logout(console.db, request.cookies.get(SESSION_COOKIE))
    response = redirect(f"{PREFIX}/login")
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response
