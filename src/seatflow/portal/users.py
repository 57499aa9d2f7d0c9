"""Portal users (SPEC §3, §10): an administrator invites the people of its account, sets their roles, revokes and
restores their access; a head office's administrator with ``access_child_accounts`` does the same for its
locations' accounts.

Only the reseller grants ``access_child_accounts``: the page neither offers nor accepts it (a forged form is refused
before anything changes), and saving a contact's roles keeps it where the reseller set it.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from seatflow.customers.models import Contact, ContactRole, CustomerAccount
from seatflow.customers.schemas import ContactCreate
from seatflow.customers.service import (
    RESELLER_ROLES,
    invite_contact,
    restore_contact,
    revoke_contact,
    set_contact_roles,
)
from seatflow.errors import SeatflowError
from seatflow.ids import parse_id
from seatflow.portal import scope, wording
from seatflow.portal.mail import send_mail
from seatflow.portal.web import PREFIX, Portal, PortalDep, PortalError, nothing_here, now_of, render
from seatflow.web.deps import SettingsDep

router = APIRouter(prefix=PREFIX, include_in_schema=False)

ROLE_LABELS = {
    ContactRole.ADMINISTRATOR.value: "Administrator",
    ContactRole.SUBSCRIPTION_MANAGER.value: "Subscription manager",
    ContactRole.FINANCE_MANAGER.value: "Finance manager",
}
"""The roles a portal administrator gives. ``access_child_accounts`` is not one of them: only the reseller widens a
contact's reach (SPEC §10), so the portal neither offers it nor accepts it, and keeps it where the reseller set it."""


def _users_page(request: Request, portal: Portal, status: int = 200, **extra: Any) -> HTMLResponse:
    managed = scope.managed_accounts(portal.db, portal.viewer)
    if not managed:
        raise nothing_here()
    by_account: dict[uuid.UUID, list[Contact]] = {account.id: [] for account in managed}
    for contact in portal.db.scalars(
        select(Contact).where(Contact.customer_id.in_(by_account)).order_by(Contact.name, Contact.email)
    ):
        by_account[contact.customer_id].append(contact)
    return render(
        request,
        "users.html",
        status,
        portal=portal,
        groups=[(account, by_account[account.id]) for account in managed],
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


def _invited_to(portal: Portal, form: Any) -> CustomerAccount:
    """The account a new user is invited to: the administrator's own unless the form names one it manages."""
    chosen = str(form.get("account") or "")
    if not chosen:
        return portal.viewer.account
    return scope.require_managed_account(portal.db, portal.viewer, parse_id(chosen))


@router.post("/users", response_class=HTMLResponse)
async def invite_user(request: Request, portal: PortalDep, settings: SettingsDep) -> Response:
    form = await request.form()
    portal.check_csrf(str(form.get("csrf_token") or ""))
    if not portal.viewer.manages_users:
        raise nothing_here()
    account = _invited_to(portal, form)
    email, name = str(form.get("email") or "").strip(), str(form.get("name") or "").strip()
    roles = _roles_from(form)
    try:
        data = ContactCreate.model_validate({"email": email, "name": name, "roles": roles})
        with portal.db.begin_nested():
            contact, link = invite_contact(
                portal.db,
                customer=account,
                data=data,
                now=now_of(request),
                base_url=settings.public_base_url,
                by=portal.viewer.contact,
            )
    except SeatflowError as error:
        return _users_page(request, portal, 409, error=error.message)
    except ValidationError as error:
        return _users_page(request, portal, 422, error=wording.form_problem(error.errors()))
    send_mail(
        settings,
        to=contact.email,
        subject=f"You are invited to the {account.name} portal",
        body=f"Hello {contact.name},\n\n{portal.viewer.contact.name} invited you to manage "
        f"{account.name}'s licenses. Set your password here (the link works for 7 days, once):\n"
        f"{link}\n",
    )
    where = "" if account.id == portal.viewer.account.id else f" ({account.name})"
    return _users_page(request, portal, notice=f"Invitation sent to {contact.email}{where}.")


@router.post("/users/{contact_id}", response_class=HTMLResponse)
async def update_user(contact_id: str, request: Request, portal: PortalDep) -> Response:
    form = await request.form()
    portal.check_csrf(str(form.get("csrf_token") or ""))
    contact = scope.require_managed_contact(portal.db, portal.viewer, parse_id(contact_id))
    action = str(form.get("action") or "roles")
    if action not in ("roles", "revoke", "restore"):
        return _users_page(request, portal, 422, error="Choose to save the roles, revoke or restore access.")
    roles = _roles_from(form) if action == "roles" else []
    me = portal.viewer.contact
    try:
        with portal.db.begin_nested():
            if action == "revoke":
                revoke_contact(portal.db, contact, by=me)
                notice = f"{contact.name} can no longer log in."
            elif action == "restore":
                restore_contact(portal.db, contact)
                notice = f"{contact.name} can log in again."
            else:
                # What the reseller granted stays: the form neither shows nor sends it (the service keeps it).
                set_contact_roles(portal.db, contact, set(roles), by=me)
                notice = f"{contact.name}'s roles are saved."
    except SeatflowError as error:
        portal.db.expire_all()
        return _users_page(request, portal, 409, error=error.message)
    return _users_page(request, portal, notice=notice)
