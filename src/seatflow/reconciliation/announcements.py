"""``reconciliation.drift_found`` (SPEC §17): each difference a reconciliation finds between the provider and
seatflow, announced once (its key is the difference itself: the same drift found again by the next run is not sent
again; one that changes is a new event). A difference seatflow's own changes in flight explain
(``provisioning_pending``) is not drift and is not announced.

The report only reads (SPEC §11: nothing is held while the provider answers); the adapter that ran it announces
its items in a short writing transaction afterwards."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from seatflow.events.outbox import NewEvent, emit_many, key_of
from seatflow.reconciliation.service import Classification, Item, Report

DRIFT_FOUND = "reconciliation.drift_found"


def _data(report: Report, item: Item) -> dict[str, object]:
    return {
        "provider_account_id": report.provider_account_id,
        "checked_at": report.checked_at,
        "classification": item.classification,
        "detail": item.detail,
        "customer_id": item.customer_id,
        "tenant_id": item.tenant_id,
        "subscription_id": item.subscription_id,
        "external_id": item.external_id,
        "offer_id": item.offer_id,
        "product_name": item.product_name,
        "provider_quantity": item.provider_quantity,
        "seatflow_quantity": item.seatflow_quantity,
        "children_quantity": item.children_quantity,
        "provider_status": item.provider_status,
        "fixes": list(item.fixes),
    }


def announce_drift(session: Session, report: Report, *, now: datetime) -> int:
    """Answers how many differences were announced (the others were already)."""
    events = []
    for item in report.items:
        if item.classification is Classification.PROVISIONING_PENDING:
            continue
        key = key_of(
            DRIFT_FOUND,
            report.provider_account_id,
            item.classification,
            item.tenant_id,
            item.subscription_id,
            item.external_id,
            item.provider_quantity,
            item.seatflow_quantity,
            item.children_quantity,
            item.provider_status,
        )
        subject = item.subscription_id or item.external_id or item.tenant_id or report.provider_account_id
        events.append(NewEvent(DRIFT_FOUND, str(subject), _data(report, item), now, dedupe_key=key))
    return emit_many(session, events)
