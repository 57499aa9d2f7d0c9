"""Each event is written by the use case that causes it, in its transaction (SPEC §17)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.billing.models import DocumentKind, Invoice
from seatflow.billing.service import void_invoice
from seatflow.catalog.models import ProviderKind
from seatflow.events.models import OutboxEvent
from seatflow.margin.announcements import announce_leaks
from seatflow.provisioning import queue
from seatflow.reconciliation.announcements import announce_drift
from seatflow.reconciliation.service import Classification, Item, Report
from seatflow.subscriptions.changes import change_quantity
from seatflow.subscriptions.models import ProvisioningStatus, Subscription
from seatflow.subscriptions.renewal_events import announce_renewals
from tests.billing.support import bill
from tests.factories import (
    FACTORY_TODAY,
    OPERATOR,
    create_contract,
    create_customer,
    create_product,
    create_provider_account,
    create_subscription,
    noon,
)
from tests.margin.conftest import catalog  # noqa: F401 - the demo catalog, for the margin scenario
from tests.margin.test_margin_report import december  # noqa: F401 - the margin scenario with its four leaks

NOW = noon(FACTORY_TODAY)


def events(session: Session, event_type: str | None = None) -> list[OutboxEvent]:
    stmt = select(OutboxEvent).order_by(OutboxEvent.id)
    if event_type:
        stmt = stmt.where(OutboxEvent.type == event_type)
    return list(session.scalars(stmt))


def manual_subscription(session: Session, quantity: int = 5, **fields: object) -> Subscription:
    account = create_provider_account(session, kind=ProviderKind.MANUAL)
    product = create_product(session, account=account)
    contract = create_contract(session, customer=create_customer(session))
    return create_subscription(session, contract=contract, product=product, quantity=quantity, **fields)


def test_a_recorded_change_is_announced_as_the_api_shows_it(session: Session) -> None:
    subscription = manual_subscription(session)
    change = change_quantity(
        session,
        subscription_id=subscription.id,
        quantity=9,
        effective="now",
        today=FACTORY_TODAY,
        now=NOW,
        actor=OPERATOR,
    )
    recorded = events(session, "license_change.recorded")
    assert [e.subject_id for e in recorded][-1] == str(change.id)
    data = recorded[-1].data
    assert (data["kind"], data["quantity_before"], data["quantity_after"]) == ("quantity", 5, 9)
    assert (data["provisioning_status"], data["subscription_id"]) == ("awaiting_provisioning", str(subscription.id))
    assert data["price_after"] == "10.00"
    assert recorded[-1].occurred_at == NOW


def test_a_confirmed_change_is_announced_provisioned_or_failed(session: Session) -> None:
    subscription = manual_subscription(session)
    first = change_quantity(
        session,
        subscription_id=subscription.id,
        quantity=6,
        effective="now",
        today=FACTORY_TODAY,
        now=NOW,
        actor=OPERATOR,
    )
    queue.confirm(
        session, change_id=first.id, status=ProvisioningStatus.PROVISIONED, message=None, actor=OPERATOR, now=NOW
    )
    second = change_quantity(
        session,
        subscription_id=subscription.id,
        quantity=7,
        effective="now",
        today=FACTORY_TODAY,
        now=NOW,
        actor=OPERATOR,
    )
    queue.confirm(
        session,
        change_id=second.id,
        status=ProvisioningStatus.FAILED,
        message="quantity above 300",
        actor=OPERATOR,
        now=NOW,
    )
    provisioned = [e.subject_id for e in events(session, "license_change.provisioned")]
    assert str(first.id) in provisioned
    [failed] = events(session, "license_change.failed")
    assert (failed.subject_id, failed.data["message"], failed.data["provisioning_status"]) == (
        str(second.id),
        "quantity above 300",
        "failed",
    )


def test_a_billing_run_announces_each_invoice_and_a_void_its_credit_note(session: Session) -> None:
    manual_subscription(session, quantity=3)
    manual_subscription(session, quantity=4)
    summary = bill(session, FACTORY_TODAY)
    issued = events(session, "invoice.issued")
    assert len(issued) == summary.invoices_created == 2
    invoice = session.scalars(select(Invoice).where(Invoice.kind == DocumentKind.INVOICE)).first()
    assert invoice is not None
    [mine] = [e for e in issued if e.subject_id == str(invoice.id)]
    assert (mine.data["number"], mine.data["total"], mine.data["currency"]) == (
        invoice.number,
        f"{invoice.total:.2f}",
        "USD",
    )
    void_invoice(session, invoice=invoice, reason="wrong address", now=NOW)
    [note] = events(session, "credit_note.issued")
    assert note.data["credits_invoice_id"] == str(invoice.id)
    assert note.data["number"].startswith("CN-")


def test_an_upcoming_renewal_is_announced_once_a_term(session: Session) -> None:
    subscription = manual_subscription(session, term="P1M", billing_plan="monthly")
    renewal_day = subscription.term_end + timedelta(days=1)
    today = renewal_day - timedelta(days=10)
    assert announce_renewals(session, today=today, days=30, now=noon(today)) == 1
    assert announce_renewals(session, today=today + timedelta(days=1), days=30, now=noon(today)) == 0
    [event] = events(session, "renewal.upcoming")
    assert (event.data["subscription_id"], event.data["renewal_date"], event.data["renews"]) == (
        str(subscription.id),
        renewal_day.isoformat(),
        True,
    )
    assert event.data["unit_price"] == "10.00"


def test_drift_is_announced_once_and_changes_in_flight_are_not_drift(session: Session) -> None:
    account = uuid.uuid4()
    drift = Item(
        Classification.CHANGED_AT_PROVIDER,
        "Changed in Partner Center",
        external_id="ms-1",
        provider_quantity=12,
        seatflow_quantity=10,
    )
    pending = Item(
        Classification.PROVISIONING_PENDING, "On its way", external_id="ms-2", provider_quantity=3, seatflow_quantity=4
    )
    report = Report(provider_account_id=account, checked_at=NOW, items=[drift, pending])
    assert announce_drift(session, report, now=NOW) == 1
    assert announce_drift(session, report, now=NOW) == 0, "the same drift found again is not sent again"
    moved = Report(
        account,
        NOW,
        items=[
            Item(
                Classification.CHANGED_AT_PROVIDER,
                "Again",
                external_id="ms-1",
                provider_quantity=14,
                seatflow_quantity=10,
            )
        ],
    )
    assert announce_drift(session, moved, now=NOW) == 1, "a drift that changed is news"
    found = events(session, "reconciliation.drift_found")
    assert [(e.data["provider_quantity"], e.data["classification"]) for e in found] == [
        (12, "changed_at_provider"),
        (14, "changed_at_provider"),
    ]


def test_last_months_leaks_are_announced_once(session: Session, december: dict[str, Subscription]) -> None:  # noqa: F811
    january = date(2027, 1, 4)
    assert announce_leaks(session, today=january, now=noon(january)) == 4
    assert announce_leaks(session, today=january + timedelta(days=1), now=noon(january)) == 0
    kinds = sorted(e.data["kind"] for e in events(session, "margin.leak_found"))
    assert kinds == ["cost_without_revenue", "fewer_seats_billed", "negative_margin", "unknown_subscription"]
    assert {e.data["month"] for e in events(session, "margin.leak_found")} == {"2026-12-01"}
    assert announce_leaks(session, today=date(2026, 12, 20), now=noon(january)) == 0, "November had no leak"
