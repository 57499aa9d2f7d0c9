"""Logging operators in and out of the console (``seatflow.auth.operators``; the audit log records both)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from seatflow.audit import recorder as audit
from seatflow.audit.scope import ActorKind, AuditActor
from seatflow.auth import operators
from seatflow.auth.models import Operator
from seatflow.auth.throttle import LoginFailed, LoginThrottled
from seatflow.console.web import (
    PREFIX,
    SURFACE,
    ConsoleDep,
    ConsoleError,
    CsrfField,
    client_ip,
    now_of,
    redirect,
    render,
)
from seatflow.web.deps import SessionDep, SettingsDep, identify
from seatflow.web.identity import EXPIRED_FORM

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    nonce, token = SURFACE.anonymous_form(request, session, settings)
    return SURFACE.with_anonymous_cookie(render(request, "login.html", csrf=token), request, settings, nonce)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    csrf_token: CsrfField = None,
) -> Response:
    if not SURFACE.anonymous_form_valid(request, session, settings, csrf_token):
        raise ConsoleError(403, "Refused", EXPIRED_FORM)
    try:
        started = operators.login(session, email=email, password=password, ip=client_ip(request), now=now_of(request))
    except LoginThrottled as error:
        # The attempt is recorded (committed) even though the answer is a refusal.
        page = render(request, "login.html", 429, csrf=csrf_token, error=error.message, email=email)
        page.headers["Retry-After"] = str(error.extra.get("retry_after", 60))
        return page
    except LoginFailed as error:
        return render(request, "login.html", 401, csrf=csrf_token, error=error.message, email=email)
    operator = session.get(Operator, started.row.operator_id)
    if operator is not None:
        identify(request, AuditActor(ActorKind.OPERATOR, operator.id, operator.email), session)
        audit.record(session, action="operator.logged_in", target_kind="operator", target_id=operator.id)
    response = redirect(f"{PREFIX}/")
    SURFACE.start_session(response, request, settings, started.token)
    return response


@router.post("/logout")
def logout(request: Request, console: ConsoleDep, csrf_token: CsrfField = None) -> Response:
    console.check_csrf(csrf_token)  # every role may log out
    operators.logout(console.db, SURFACE.session_token(request))
    audit.record(console.db, action="operator.logged_out", target_kind="operator", target_id=console.operator.id)
    response = redirect(f"{PREFIX}/login")
    SURFACE.end_session(response)
    return response
