"""The portal's pages (issue 6). Plain HTML forms; every POST carries a CSRF token (the session's, or before
login a double-submit cookie); the session cookie is HttpOnly, SameSite=Lax, and Secure behind https."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.billing import service as billing
from seatflow.billing.pdf import render_invoice, seller_of
from seatflow.catalog.models import Product
from seatflow.clock import Clock
from seatflow.config import Settings
from seatflow.customers.models import Contact, ContactRole, ContactStatus, CustomerAccount
from seatflow.customers.schemas import ContactCreate
from seatflow.customers.service import invite_contact
from seatflow.errors import SeatflowError, ValidationFailed
from seatflow.ids import parse_id
from seatflow.money import format_money
from seatflow.portal import accounts, scope, wording
from seatflow.portal.mail import send_mail
from seatflow.portal.models import PortalSession
from seatflow.subscriptions import repository as subscriptions_repository
from seatflow.subscriptions.changes import change_quantity
from seatflow.subscriptions.models import ChangeOrigin, LicenseChange, ProvisioningStatus, ScheduledChange, Subscription
from seatflow.subscriptions.rules import parse_quantity, quantity_limits
from seatflow.subscriptions.schemas import Actor
from seatflow.web.deps import SAFE_METHODS, SessionDep, SettingsDep, get_clock

SESSION_COOKIE = "seatflow_portal"
CSRF_COOKIE = "seatflow_portal_csrf"

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters["money"] = lambda value: format_money(value) or ""
templates.env.filters["day"] = wording.day
templates.env.filters["failure"] = wording.failure_reason
templates.env.filters["change_words"] = wording.change_words
templates.env.filters["status_words"] = wording.status_words
router = APIRouter(prefix="/portal", include_in_schema=False)


class PortalError(Exception):
    """Rendered as a page with a message (never a stack trace or JSON)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


def _secure(request: Request, settings: Settings) -> bool:
    return request.url.scheme == "https" or settings.public_base_url.startswith("https://")


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _now(request: Request) -> datetime:
    clock: Clock = get_clock(request)
    return clock.now()


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context, status_code=status)


# --- the session ---------------------------------------------------------------------------------------


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
            raise PortalError(403, "Refused", "This form has expired or did not come from seatflow. Reload the page.")


class LoginRequired(Exception):
    pass


def get_portal(request: Request, session: SessionDep) -> Portal:
    # A page (GET) reads only: its transaction must not write, so the session is not touched then.
    found = accounts.current(
        session, request.cookies.get(SESSION_COOKIE), _now(request), touch=request.method not in SAFE_METHODS
    )
    if found is None:
        raise LoginRequired
    portal_session, contact = found
    return Portal(session, portal_session, scope.viewer_of(session, contact))


PortalDep = Annotated[Portal, Depends(get_portal)]
CsrfField = Annotated[str | None, Form(alias="csrf_token")]


def _login_cookie(response: Response, request: Request, settings: Settings, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=accounts.SESSION_HOURS * 3600,
        httponly=True,
        samesite="lax",
        secure=_secure(request, settings),
        path="/portal",
    )


def _anonymous_csrf(request: Request) -> str:
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)


def _with_csrf_cookie(response: Response, request: Request, settings: Settings, token: str) -> Response:
    response.set_cookie(
        CSRF_COOKIE, token, httponly=True, samesite="lax", secure=_secure(request, settings), path="/portal"
    )
    return response


def _check_anonymous_csrf(request: Request, token: str | None) -> None:
    cookie = request.cookies.get(CSRF_COOKIE)
    if not token or not cookie or not secrets.compare_digest(token, cookie):
        raise PortalError(403, "Refused", "This form has expired or did not come from seatflow. Reload the page.")


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# --- logging in and out --------------------------------------------------------------------------------


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
        started = accounts.login(session, email=email, password=password, ip=_client_ip(request), now=_now(request))
    except accounts.LoginThrottled as error:
        # The attempt is recorded (committed) even though the answer is a refusal.
        page = render(request, "login.html", 429, csrf=csrf_token, error=error.message, email=email)
        page.headers["Retry-After"] = str(error.extra.get("retry_after", 60))
        return page
    except accounts.LoginFailed as error:
        return render(request, "login.html", 401, csrf=csrf_token, error=error.message, email=email)
    response = _redirect("/portal/")
    _login_cookie(response, request, settings, started.token)
    return response


@router.post("/logout")
def logout(request: Request, portal: PortalDep, csrf_token: CsrfField = None) -> Response:
    portal.check_csrf(csrf_token)
    accounts.logout(portal.db, request.cookies.get(SESSION_COOKIE))
    response = _redirect("/portal/login")
    response.delete_cookie(SESSION_COOKIE, path="/portal")
    return response


@router.get("/invitations/{token}", response_class=HTMLResponse)
def invitation_page(token: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    contact = accounts.invitation_contact(session, token, _now(request))
    csrf = _anonymous_csrf(request)
    page = render(request, "set_password.html", csrf=csrf, contact=contact, title="Welcome", action=request.url.path)
    return _with_csrf_cookie(page, request, settings, csrf)


@router.post("/invitations/{token}", response_class=HTMLResponse)
def accept_invitation(
    token: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    password: Annotated[str, Form(max_length=200)] = "",
    confirm: Annotated[str, Form(max_length=200)] = "",
    csrf_token: CsrfField = None,
) -> Response:
    _check_anonymous_csrf(request, csrf_token)
    contact = accounts.invitation_contact(session, token, _now(request))
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
    started = accounts.accept_invitation(session, token=token, password=password, now=_now(request))
    response = _redirect("/portal/")
    _login_cookie(response, request, settings, started.token)
    return response


def _password_problem(password: str, confirm: str) -> str | None:
    if password != confirm:
        return "The two passwords differ."
    try:
        accounts.check_password(password)
    except SeatflowError as error:
        return error.message
    return None


@router.get("/password-reset", response_class=HTMLResponse)
def reset_request_page(request: Request, settings: SettingsDep) -> Response:
    csrf = _anonymous_csrf(request)
    return _with_csrf_cookie(render(request, "reset_request.html", csrf=csrf), request, settings, csrf)


@router.post("/password-reset", response_class=HTMLResponse)
def reset_request(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=320)] = "",
    csrf_token: CsrfField = None,
) -> Response:
    _check_anonymous_csrf(request, csrf_token)
    for contact, link in accounts.request_reset(
        session, email=email, now=_now(request), base_url=settings.public_base_url
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
    contact = accounts.reset_contact(session, token, _now(request))
    csrf = _anonymous_csrf(request)
    page = render(
        request, "set_password.html", csrf=csrf, contact=contact, title="New password", action=request.url.path
    )
    return _with_csrf_cookie(page, request, settings, csrf)


@router.post("/password-reset/{token}", response_class=HTMLResponse)
def reset(
    token: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    password: Annotated[str, Form(max_length=200)] = "",
    confirm: Annotated[str, Form(max_length=200)] = "",
    csrf_token: CsrfField = None,
) -> Response:
    _check_anonymous_csrf(request, csrf_token)
    contact = accounts.reset_contact(session, token, _now(request))
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
    started = accounts.reset_password(session, token=token, password=password, now=_now(request))
    response = _redirect("/portal/")
    _login_cookie(response, request, settings, started.token)
    return response


# --- subscriptions ---------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request, portal: PortalDep) -> Response:
    contracts = scope.visible_contracts(portal.db, portal.viewer)
    return render(request, "home.html", portal=portal, contracts=contracts)


def _tree(subscriptions: list[Subscription]) -> Iterator[tuple[Subscription, int]]:
    """Subscriptions with their add-ons under them (depth for indenting)."""
    ids = {s.id for s in subscriptions}
    children: dict[uuid.UUID | None, list[Subscription]] = {}
    for s in subscriptions:
        parent = s.parent_subscription_id if s.parent_subscription_id in ids else None
        children.setdefault(parent, []).append(s)

    def walk(parent: uuid.UUID | None, depth: int) -> Iterator[tuple[Subscription, int]]:
        for s in children.get(parent, []):
            yield s, depth
            yield from walk(s.id, depth + 1)

    return walk(None, 0)


@dataclass(frozen=True)
class Row:
    subscription: Subscription
    product: Product | None
    depth: int
    latest: LicenseChange | None
    scheduled: list[ScheduledChange]
    editable: bool

    @property
    def renewal(self) -> date:
        """The day the next term starts (what "at renewal" means)."""
        return self.subscription.term_end + timedelta(days=1)

    @property
    def limits(self) -> tuple[int, int]:
        if self.product is None:
            return quantity_limits(minimum=1, maximum=None)
        return quantity_limits(minimum=self.product.min_quantity, maximum=self.product.max_quantity)


def _contract_page(
    request: Request, portal: PortalDep, contract_id: str, status: int = 200, **extra: Any
) -> HTMLResponse:
    contract = scope.require_contract(portal.db, portal.viewer, parse_id(contract_id))
    subscriptions = list(scope.subscriptions_of(portal.db, contract))
    rows = []
    for subscription, depth in _tree(subscriptions):
        product = portal.db.get(Product, subscription.product_id)
        latest = portal.db.execute(
            select(LicenseChange)
            .where(LicenseChange.subscription_id == subscription.id)
            .order_by(LicenseChange.id.desc())  # ids are in the order changes were recorded
            .limit(1)
        ).scalar_one_or_none()
        scheduled = [
            s
            for s in subscriptions_repository.scheduled_of(portal.db, subscription.id)
            if s.status.value == "scheduled"
        ]
        rows.append(
            Row(
                subscription=subscription,
                product=product,
                depth=depth,
                latest=latest,
                scheduled=scheduled,
                editable=portal.viewer.changes_quantities and subscription.allow_end_user_modification,
            )
        )
    awaiting = any(r.latest and r.latest.provisioning_status is ProvisioningStatus.AWAITING for r in rows)
    account = portal.db.get(CustomerAccount, contract.customer_id)
    return render(
        request,
        "contract.html",
        status,
        portal=portal,
        contract=contract,
        account=account,
        rows=rows,
        awaiting=awaiting,
        **extra,
    )


@router.get("/contracts/{contract_id}", response_class=HTMLResponse)
def contract_page(contract_id: str, request: Request, portal: PortalDep) -> Response:
    return _contract_page(request, portal, contract_id)


@router.post("/subscriptions/{subscription_id}/quantity", response_class=HTMLResponse)
def change_subscription_quantity(
    subscription_id: str,
    request: Request,
    portal: PortalDep,
    quantity: Annotated[str, Form(max_length=100)] = "",
    effective: Annotated[str, Form(max_length=100)] = "now",
    csrf_token: CsrfField = None,
) -> Response:
    portal.check_csrf(csrf_token)
    subscription = scope.require_subscription(portal.db, portal.viewer, parse_id(subscription_id))
    contract_id = str(subscription.contract_id)
    if not (portal.viewer.changes_quantities and subscription.allow_end_user_modification):
        raise PortalError(403, "Not allowed", "This subscription's quantity cannot be changed in the portal.")
    product = portal.db.get(Product, subscription.product_id)
    assert product is not None  # noqa: S101 - a foreign key guarantees it
    renewal = subscription.term_end + timedelta(days=1)
    now = _now(request)
    try:
        if effective not in ("now", "renewal"):
            raise ValidationFailed("Choose to change it now or at renewal.", code="effective_invalid")
        asked = parse_quantity(quantity, minimum=product.min_quantity, maximum=product.max_quantity)
        with portal.db.begin_nested():
            result = change_quantity(
                portal.db,
                subscription_id=subscription.id,
                quantity=asked,
                effective=effective,
                today=now.date(),
                now=now,
                actor=portal.actor,
            )
    except SeatflowError as error:
        portal.db.expire_all()
        reduction = error.code.startswith("reduction")
        message = (
            error.message
            if error.code == "effective_invalid"
            else wording.change_problem(error, product=product.name, renewal=renewal)
        )
        return _contract_page(
            request,
            portal,
            contract_id,
            409 if reduction else 422,
            error_for=subscription.id,
            error=message,
            offer_renewal=reduction,
            asked=quantity[:12],
        )
    kind = "scheduled" if isinstance(result, ScheduledChange) else "changed"
    return _redirect(f"/portal/contracts/{contract_id}?{kind}={subscription.id}#s-{subscription.id}")


# --- invoices --------------------------------------------------------------------------------------------


@router.get("/invoices", response_class=HTMLResponse)
def invoices_page(request: Request, portal: PortalDep) -> Response:
    if not portal.viewer.sees_invoices:
        raise PortalError(404, "Not found", "There is nothing here for you.")
    invoices = scope.visible_invoices(portal.db, portal.viewer)
    return render(request, "invoices.html", portal=portal, invoices=invoices)


@router.get("/invoices/{invoice_id}", response_class=HTMLResponse)
def invoice_page(invoice_id: str, request: Request, portal: PortalDep) -> Response:
    invoice = scope.require_invoice(portal.db, portal.viewer, parse_id(invoice_id))
    lines = billing.lines_of(portal.db, invoice.id)
    sections = billing.sections_with_lines(portal.db, invoice)
    return render(request, "invoice.html", portal=portal, invoice=invoice, lines=lines, sections=sections)


@router.get("/invoices/{invoice_id}/pdf")
def invoice_pdf(invoice_id: str, portal: PortalDep, settings: SettingsDep) -> Response:
    invoice = scope.require_invoice(portal.db, portal.viewer, parse_id(invoice_id))
    body = render_invoice(
        invoice,
        billing.lines_of(portal.db, invoice.id),
        seller_of(settings),
        sections=billing.sections_with_lines(portal.db, invoice),
    )
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{invoice.number}.pdf"'},
    )


# --- users -----------------------------------------------------------------------------------------------

ROLE_LABELS = {
    ContactRole.ADMINISTRATOR.value: "Administrator",
    ContactRole.SUBSCRIPTION_MANAGER.value: "Subscription manager",
    ContactRole.FINANCE_MANAGER.value: "Finance manager",
}
"""The roles a portal administrator gives. ``access_child_accounts`` is not one of them: only the reseller widens a
contact's reach (SPEC §10), so the portal neither offers it nor accepts it, and keeps it where the reseller set it."""
RESELLER_ROLES = frozenset({ContactRole.ACCESS_CHILD_ACCOUNTS.value})


def _users_page(request: Request, portal: Portal, status: int = 200, **extra: Any) -> HTMLResponse:
    if not portal.viewer.manages_users:
        raise PortalError(404, "Not found", "There is nothing here for you.")
    contacts = (
        portal.db.execute(select(Contact).where(Contact.customer_id == portal.viewer.account.id).order_by(Contact.name))
        .scalars()
        .all()
    )
    return render(
        request,
        "users.html",
        status,
        portal=portal,
        contacts=contacts,
        role_labels=ROLE_LABELS,
        children_role=ContactRole.ACCESS_CHILD_ACCOUNTS.value,
        **extra,
    )


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, portal: PortalDep) -> Response:
    return _users_page(request, portal)


def _roles_from(form: Any) -> list[str]:
    """The roles a form asks for; a role only the reseller grants is refused (a forged form), before anything
    changes."""
    asked = [str(role) for role in form.getlist("roles")]
    if RESELLER_ROLES.intersection(asked):
        raise PortalError(403, "Not allowed", "Only your reseller can give access to child accounts: please ask them.")
    return [role for role in asked if role in ROLE_LABELS]


@router.post("/users", response_class=HTMLResponse)
async def invite_user(request: Request, portal: PortalDep, settings: SettingsDep) -> Response:
    form = await request.form()
    portal.check_csrf(str(form.get("csrf_token") or ""))
    if not portal.viewer.manages_users:
        raise PortalError(404, "Not found", "There is nothing here for you.")
    email, name = str(form.get("email") or "").strip(), str(form.get("name") or "").strip()
    roles = _roles_from(form)
    try:
        data = ContactCreate.model_validate({"email": email, "name": name, "roles": roles})
        with portal.db.begin_nested():
            contact, link = invite_contact(
                portal.db,
                customer=portal.viewer.account,
                data=data,
                now=_now(request),
                base_url=settings.public_base_url,
            )
    except SeatflowError as error:
        return _users_page(request, portal, 409, error=error.message)
    except ValidationError as error:
        return _users_page(request, portal, 422, error=wording.form_problem(error.errors()))
    send_mail(
        settings,
        to=contact.email,
        subject=f"You are invited to the {portal.viewer.account.name} portal",
        body=f"Hello {contact.name},\n\n{portal.viewer.contact.name} invited you to manage "
        f"{portal.viewer.account.name}'s licenses. Set your password here (the link works for 7 days, once):\n"
        f"{link}\n",
    )
    return _users_page(request, portal, notice=f"Invitation sent to {contact.email}.")


@router.post("/users/{contact_id}", response_class=HTMLResponse)
async def update_user(contact_id: str, request: Request, portal: PortalDep) -> Response:
    form = await request.form()
    portal.check_csrf(str(form.get("csrf_token") or ""))
    contact = scope.require_own_contact(portal.db, portal.viewer, parse_id(contact_id))
    action = str(form.get("action") or "roles")
    roles = _roles_from(form) if action == "roles" else []
    if contact.id == portal.viewer.contact.id and action != "roles":
        return _users_page(request, portal, 409, error="You cannot revoke your own access.")
    if action == "revoke":
        contact.status = ContactStatus.DISABLED
        contact.invitation_hash = None
        accounts.end_sessions(portal.db, contact.id)
        return _users_page(request, portal, notice=f"{contact.name} can no longer log in.")
    if action == "restore":
        contact.status = ContactStatus.ACTIVE if contact.password_hash else ContactStatus.INVITED
        return _users_page(request, portal, notice=f"{contact.name} can log in again.")
    if contact.id == portal.viewer.contact.id and ContactRole.ADMINISTRATOR.value not in roles:
        return _users_page(request, portal, 409, error="You cannot take the administrator role from yourself.")
    # What the reseller granted stays: the form neither shows nor sends it.
    contact.roles = sorted(set(roles) | RESELLER_ROLES.intersection(contact.roles))
    return _users_page(request, portal, notice=f"{contact.name}'s roles are saved.")


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    return render(request, "message.html", status, title=title, message=message)


def install(app: FastAPI) -> None:
    """The portal's pages, its static files, and its errors as pages."""
    app.include_router(router)
    app.mount("/portal/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="portal-static")
    pages = getattr(app.state, "html_error_pages", {})
    pages["/portal"] = error_page
    app.state.html_error_pages = pages

    @app.exception_handler(PortalError)
    async def _portal_error(request: Request, exc: PortalError) -> Response:
        return error_page(request, exc.status, exc.title, exc.message)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        if request.method == "GET":
            return _redirect("/portal/login")
        return error_page(request, 401, "Logged out", "Your session has ended: log in again.")
