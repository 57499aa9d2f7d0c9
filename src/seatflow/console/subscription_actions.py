"""What an operator does to a subscription from its page, through the services the API's routes call: a quantity
change now, at renewal or on a date (SPEC §6: a refusal says why and when; a linked parent needs force and a reason,
SPEC §5), suspend, reactivate and cancel (with its add-ons when asked: cascade), don't renew or renew again (with its
add-ons when asked), link and unlink (the setup check is shown on the page), and dropping a scheduled change.

Each runs in a savepoint: a refusal shows the subscription's page again with the rule's message and changes
nothing; what a change did is shown once on the page it redirects to."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from seatflow.catalog.providers import require_provider_account
from seatflow.config import Settings
from seatflow.console.forms import Fields, FormDep, authorized, day, done, validated
from seatflow.console.subscription_view import subscription_page, url_of
from seatflow.console.web import Console, ConsoleDep, FormProblem, clean_text, error_status, now_of, require_id
from seatflow.errors import NotFound, SeatflowError
from seatflow.subscriptions import changes as change_service
from seatflow.subscriptions import lifecycle, linking
from seatflow.subscriptions import repository as subscriptions_repository
from seatflow.subscriptions.models import LicenseChange, ScheduledChange, Subscription
from seatflow.subscriptions.rules import parse_quantity
from seatflow.subscriptions.schemas import QuantityChange, StatusChange, SubscriptionUpdate
from seatflow.web.deps import SettingsDep

router = APIRouter(include_in_schema=False)
LABELS = {"quantity": "Quantity", "effective": "When", "reason": "Reason", "cascade": "Cascade", "force": "Force"}
WINDOW_CODES = ("reduction_outside_window", "reduction_disallowed")
"""Refusals by SPEC §6's rules: the page offers the same change at the renewal instead."""

Action = Callable[[Subscription], str]
"""Does the change and says what it did."""


def _run(
    request: Request,
    console: Console,
    settings: Settings,
    subscription_id: str,
    fields: Fields,
    form_name: str,
    action: Action,
) -> Response:
    subscription = lifecycle.require_subscription(console.db, require_id(subscription_id, "subscription"))
    try:
        with console.attempt():
            notice = action(subscription)
    except FormProblem as problem:
        return subscription_page(
            request, console, subscription_id, 422, error=problem.message, error_for=form_name, form=fields.values()
        )
    except SeatflowError as error:
        return subscription_page(
            request,
            console,
            subscription_id,
            error_status(error),
            error=error.message,
            error_for=form_name,
            error_code=error.code,
            form=fields.values(),
        )
    return done(url_of(subscription.id), request, console, settings, notice)


def _reason(fields: Fields) -> str | None:
    return clean_text(fields.text("reason"), field="The reason") or None


def _effective(fields: Fields) -> str | date:
    when = fields.text("when") or "now"
    if when == "date":
        return day(fields.text("on"), label="the day it takes effect")
    if when not in ("now", "renewal"):
        raise FormProblem("Choose when the change takes effect: now, at the renewal or on a day.")
    return when


def _quantity_notice(subscription: Subscription, result: LicenseChange | ScheduledChange) -> str:
    if isinstance(result, ScheduledChange):
        when = "at the renewal on" if result.at_renewal else "on"
        return f"Scheduled: the quantity becomes {result.quantity} {when} {result.effective_date}."
    return (
        f"The quantity is {result.quantity_after} (was {result.quantity_before}): the change is "
        f"{result.provisioning_status.value.replace('_', ' ')}."
    )


@router.post("/subscriptions/{subscription_id}/quantity", response_class=HTMLResponse)
def change_quantity(
    subscription_id: str, request: Request, console: ConsoleDep, form: FormDep, settings: SettingsDep
) -> Response:
    """Now (a license change), at the next renewal or on a later day (a scheduled change)."""
    fields = authorized(console, Fields(form))

    def action(subscription: Subscription) -> str:
        product = change_service.product_of(console.db, subscription)
        body = validated(
            QuantityChange,
            {
                "quantity": parse_quantity(
                    fields.text("quantity"), minimum=product.min_quantity, maximum=product.max_quantity
                ),
                "effective": _effective(fields),
                "force": fields.checked("force"),
                "reason": _reason(fields),
            },
            LABELS,
        )
        now = now_of(request)
        result = change_service.change_quantity(
            console.db,
            subscription_id=subscription.id,
            quantity=body.quantity,
            effective=body.effective,
            today=now.date(),
            now=now,
            actor=console.actor,
            force=body.force,
            reason=body.reason,
        )
        return _quantity_notice(subscription, result)

    return _run(request, console, settings, subscription_id, fields, "quantity", action)


def _status_change(fields: Fields) -> StatusChange:
    data = {"cascade": fields.checked("cascade"), "force": fields.checked("force"), "reason": _reason(fields)}
    return validated(StatusChange, data, LABELS)  # type: ignore[no-any-return]


def _count(changes: list[LicenseChange], verb: str) -> str:
    others = len(changes) - 1
    return f"{verb}{f', with {others} add-on' + ('s' if others != 1 else '') if others > 0 else ''}."


@router.post("/subscriptions/{subscription_id}/suspend", response_class=HTMLResponse)
def suspend(
    subscription_id: str, request: Request, console: ConsoleDep, form: FormDep, settings: SettingsDep
) -> Response:
    fields = authorized(console, Fields(form))

    def action(subscription: Subscription) -> str:
        body = _status_change(fields)
        now = now_of(request)
        done_ = lifecycle.suspend(
            console.db, subscription=subscription, cascade=body.cascade, today=now.date(), now=now, actor=console.actor
        )
        return _count(done_, "Suspended")

    return _run(request, console, settings, subscription_id, fields, "suspend", action)


@router.post("/subscriptions/{subscription_id}/reactivate", response_class=HTMLResponse)
def reactivate(
    subscription_id: str, request: Request, console: ConsoleDep, form: FormDep, settings: SettingsDep
) -> Response:
    fields = authorized(console, Fields(form))

    def action(subscription: Subscription) -> str:
        now = now_of(request)
        lifecycle.reactivate(console.db, subscription=subscription, today=now.date(), now=now, actor=console.actor)
        return "Reactivated."

    return _run(request, console, settings, subscription_id, fields, "reactivate", action)


@router.post("/subscriptions/{subscription_id}/cancel", response_class=HTMLResponse)
def cancel(
    subscription_id: str, request: Request, console: ConsoleDep, form: FormDep, settings: SettingsDep
) -> Response:
    fields = authorized(console, Fields(form))

    def action(subscription: Subscription) -> str:
        body = _status_change(fields)
        now = now_of(request)
        done_ = lifecycle.cancel(
            console.db,
            subscription=subscription,
            cascade=body.cascade,
            today=now.date(),
            now=now,
            actor=console.actor,
            force=body.force,
            reason=body.reason,
        )
        return _count(done_, "Cancelled")

    return _run(request, console, settings, subscription_id, fields, "cancel", action)


def _with_addons(console: Console, subscription: Subscription) -> list[Subscription]:
    """The subscription and its live add-ons' trees, parents first."""
    found = [subscription]
    for addon in subscriptions_repository.addons_of(
        console.db, subscription.id, subscriptions_repository.NOT_CANCELLED
    ):
        found.extend(_with_addons(console, addon))
    return found


@router.post("/subscriptions/{subscription_id}/auto-renew", response_class=HTMLResponse)
def auto_renew(
    subscription_id: str, request: Request, console: ConsoleDep, form: FormDep, settings: SettingsDep
) -> Response:
    """Don't renew (auto-renew off: it expires at its term end, SPEC §4) or renew again; with ``cascade`` its add-ons
    too (an add-on whose base expires expires with it anyway)."""
    fields = authorized(console, Fields(form))

    def action(subscription: Subscription) -> str:
        renew = fields.text("renew")
        if renew not in ("0", "1"):
            raise FormProblem("Choose to renew or not.")
        on = renew == "1"
        targets = _with_addons(console, subscription) if fields.checked("cascade") else [subscription]
        now = now_of(request)
        for target in targets:
            if target.auto_renew == on:
                continue
            lifecycle.update_subscription(
                console.db,
                subscription=change_service.lock(console.db, target.id),
                data=SubscriptionUpdate(auto_renew=on),
                today=now.date(),
                now=now,
                actor=console.actor,
            )
        if on:
            return f"It renews at its term end, on {subscription.term_end}."
        return f"It does not renew: it expires after {subscription.term_end}."

    return _run(request, console, settings, subscription_id, fields, "auto_renew", action)


@router.post("/subscriptions/{subscription_id}/link", response_class=HTMLResponse)
def link(subscription_id: str, request: Request, console: ConsoleDep, form: FormDep, settings: SettingsDep) -> Response:
    """Records the link and pushes nothing; the page shows the setup check, which reports any difference."""
    fields = authorized(console, Fields(form))

    def action(subscription: Subscription) -> str:
        target_ref, account_ref = fields.optional("target"), fields.optional("account")
        if not target_ref:
            raise FormProblem("Choose the parent subscription to link to.")
        if not account_ref:
            raise FormProblem("Choose the linked provider account.")
        subscription = change_service.lock(console.db, subscription.id)
        target = lifecycle.require_subscription(console.db, target_ref)
        account = require_provider_account(console.db, account_ref)
        linking.link(console.db, subscription=subscription, target=target, account=account)
        return "Linked: from now on its quantity changes are pushed up to its parent. The setup check is below."

    return _run(request, console, settings, subscription_id, fields, "link", action)


@router.post("/subscriptions/{subscription_id}/unlink", response_class=HTMLResponse)
def unlink(
    subscription_id: str, request: Request, console: ConsoleDep, form: FormDep, settings: SettingsDep
) -> Response:
    fields = authorized(console, Fields(form))

    def action(subscription: Subscription) -> str:
        subscription = change_service.lock(console.db, subscription.id)
        linking.unlink(console.db, subscription=subscription, account_ref=fields.optional("account"))
        return "Unlinked: it no longer pushes its changes to a parent."

    return _run(request, console, settings, subscription_id, fields, "unlink", action)


@router.post("/subscriptions/{subscription_id}/scheduled/{scheduled_id}/cancel", response_class=HTMLResponse)
def cancel_scheduled(
    subscription_id: str,
    scheduled_id: str,
    request: Request,
    console: ConsoleDep,
    form: FormDep,
    settings: SettingsDep,
) -> Response:
    fields = authorized(console, Fields(form))

    def action(subscription: Subscription) -> str:
        scheduled = console.db.get(ScheduledChange, require_id(scheduled_id, "scheduled change"))
        if scheduled is None or scheduled.subscription_id != subscription.id:
            raise NotFound("There is no such scheduled change of this subscription.")
        change_service.cancel_scheduled(console.db, scheduled=scheduled, actor=console.actor, now=now_of(request))
        return f"Dropped the scheduled change to {scheduled.quantity}."

    return _run(request, console, settings, subscription_id, fields, f"scheduled-{scheduled_id}", action)
