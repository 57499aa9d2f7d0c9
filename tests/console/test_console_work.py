"""The console's work over HTTP (issue 7): drift on the contract tree, the queue's requeue and confirm with the
worker, billing's preview and run, and reconciliation against the simulator."""

from __future__ import annotations

import re
from decimal import Decimal

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from seatflow.billing.models import BillingRun, Invoice
from seatflow.provisioning.models import Notification
from seatflow.simulator import SimulatorServer
from seatflow.subscriptions.changes import change_quantity
from seatflow.subscriptions.models import (
    BillingStatus,
    ChangeOrigin,
    LicenseChange,
    ProvisioningStatus,
    Subscription,
)
from tests.api.subscription_helpers import freeze_clock
from tests.console.conftest import OPERATOR, Login, csrf_of, drain
from tests.factories import FACTORY_TODAY, load_demo_catalog, noon
from tests.factories import OPERATOR as FACTORY_OPERATOR
from tests.provisioning.conftest import ManualClock
from tests.reconciliation.helpers import buy
from tests.reconciliation.helpers import change as change_at_provider
from tests.subscriptions.helpers import PineConeVet, pine_cone_vet

AWAITING, PROVISIONED, FAILED = ProvisioningStatus.AWAITING, ProvisioningStatus.PROVISIONED, ProvisioningStatus.FAILED


def _row(html: str, row_id: str) -> str:
    found = re.search(rf'<tr id="{row_id}"[^>]*>(.*?)</tr>', html, re.S)
    assert found, f"no row {row_id}"
    return found.group(1)


def _count(session: Session, model: type[object]) -> int:
    return int(session.execute(select(func.count()).select_from(model)).scalar_one())


# --- drift on the contract tree ------------------------------------------------------------------------


def test_the_contract_tree_shows_each_linked_parent_beside_its_childrens_sum_and_marks_drift(
    session: Session, login: Login, vet: PineConeVet
) -> None:
    client = login(OPERATOR)
    freeze_clock(client)  # the refund window is counted from the console's today: the factories' Dec 1, 2026
    page = client.get(f"/console/customers/{vet.customer.id}").text
    e3 = _row(page, f"s-{vet.parent_e3.id}")
    assert '<span class="qty">50</span>' in e3
    assert "children <strong>50</strong>" in e3
    assert 'data-drift="0"' in e3
    for location in vet.locations.values():
        assert f'id="k-{location.contract.id}"' in page
        assert "linked to its parent" in _row(page, f"s-{location.e3.id}")

    change_quantity(
        session,
        subscription_id=vet.parent_e3.id,
        quantity=53,
        effective="now",
        today=FACTORY_TODAY,
        now=noon(FACTORY_TODAY),
        actor=FACTORY_OPERATOR,
        force=True,
        reason="Three seats bought for the new clinic before its contract exists.",
    )

    page = client.get(f"/console/customers/{vet.customer.id}").text
    e3 = _row(page, f"s-{vet.parent_e3.id}")
    assert '<span class="qty">53</span>' in e3
    assert "children <strong>50</strong>" in e3
    assert 'data-drift="3"' in e3
    assert "drift +3" in e3
    assert "in sync" in _row(page, f"s-{vet.parent_ems.id}"), "only the parent that differs is marked"
    assert "children sum mismatch" in page, "the setup check says it too"
    detail = client.get(f"/console/subscriptions/{vet.parent_e3.id}").text
    assert "drift +3" in detail
    assert "Three seats bought for the new clinic" in detail
    assert detail.index("create 0 → 50") < detail.index("quantity 50 → 53"), "the timeline runs oldest first"
    # Its term and plan, and what can still be reduced: all 53 seats were bought on 2026-12-01, inside their
    # 7-day window until 2026-12-07 (2026-12-01 + 7 days - 1).
    assert "P1Y, billed" in detail
    assert "53 can be reduced now 53 until 2026-12-07" in " ".join(detail.split())


def test_a_childs_change_links_to_the_parent_change_it_caused(session: Session, login: Login, vet: PineConeVet) -> None:
    new_york = vet.locations["New York City"].e3
    child = change_quantity(
        session,
        subscription_id=new_york.id,
        quantity=30,
        effective="now",
        today=FACTORY_TODAY,
        now=noon(FACTORY_TODAY),
        actor=FACTORY_OPERATOR,
    )
    assert isinstance(child, LicenseChange)
    parent = session.scalars(select(LicenseChange).where(LicenseChange.caused_by_change_id == child.id)).one()
    client = login(OPERATOR)

    child_page = client.get(f"/console/subscriptions/{new_york.id}").text
    parent_page = client.get(f"/console/subscriptions/{vet.parent_e3.id}").text

    assert f'href="/console/subscriptions/{vet.parent_e3.id}#c-{parent.id}"' in child_page
    assert f'href="/console/subscriptions/{new_york.id}#c-{child.id}"' in parent_page
    assert "linked child" in parent_page


# --- the queue -----------------------------------------------------------------------------------------


@pytest.fixture
def manual_vet(session: Session) -> PineConeVet:
    """Pine Cone Vet whose parents a person provisions (the manual provider); their purchase is done."""
    catalog = load_demo_catalog(session)
    setup = pine_cone_vet(session, catalog, parent_account=catalog.manual)
    for change in session.scalars(select(LicenseChange).where(LicenseChange.provisioning_status == AWAITING)):
        change.provisioning_status = PROVISIONED
    session.flush()
    return setup


def _status(session: Session, change: LicenseChange) -> tuple[ProvisioningStatus, str | None]:
    session.expire_all()
    found = session.get_one(LicenseChange, change.id)
    return found.provisioning_status, found.message


def test_the_queue_hands_a_manual_change_to_people_then_confirms_fails_and_requeues_it(
    session: Session, worker_app: TestClient, login: Login, manual_vet: PineConeVet
) -> None:
    child = change_quantity(
        session,
        subscription_id=manual_vet.locations["New York City"].e3.id,
        quantity=35,
        effective="now",
        today=FACTORY_TODAY,
        now=noon(FACTORY_TODAY),
        actor=FACTORY_OPERATOR,
    )
    assert isinstance(child, LicenseChange)
    parent = session.scalars(select(LicenseChange).where(LicenseChange.caused_by_change_id == child.id)).one()
    client = login(OPERATOR)
    page = client.get("/console/queue").text
    csrf = csrf_of(page)
    assert "Settles with its linked parent's change." in _row(page, f"c-{child.id}")

    ran = client.post("/console/queue/run-once", data={"csrf_token": csrf, "back": "status=awaiting_provisioning"})
    assert ran.status_code == 200, ran.text
    assert "1 handed to people" in ran.text
    assert "Provision by hand: set Microsoft 365 E3 to 60 (Pine Cone Vet)" in ran.text
    assert f'action="/console/queue/{parent.id}/confirm"' in ran.text
    assert f'action="/console/queue/{child.id}/confirm"' not in ran.text, "a linked child settles with its parent"

    no_reason = client.post(f"/console/queue/{parent.id}/confirm", data={"status": "failed", "csrf_token": csrf})
    assert no_reason.status_code == 422
    assert "Say why it failed" in _row(no_reason.text, f"c-{parent.id}")
    assert _status(session, parent)[0] is AWAITING

    failed = client.post(
        f"/console/queue/{parent.id}/confirm",
        data={"status": "failed", "message": "The distributor is out of E3 seats.", "csrf_token": csrf},
    )
    assert failed.status_code == 200, failed.text
    assert "Confirmed as failed (1 change" in failed.text
    assert _status(session, parent) == (FAILED, "The distributor is out of E3 seats.")
    assert _status(session, child) == (FAILED, "Its linked parent's change failed: The distributor is out of E3 seats.")
    assert session.scalars(select(Notification)).one().resolved_at is not None

    requeued = client.post(f"/console/queue/{child.id}/requeue", data={"csrf_token": csrf})
    assert "Requeued 2 changes" in requeued.text
    assert _status(session, parent)[0] is AWAITING
    assert _status(session, child)[0] is AWAITING
    again = client.post(f"/console/queue/{child.id}/requeue", data={"csrf_token": csrf})
    assert again.status_code == 409
    assert "Only a failed change can be requeued" in again.text

    client.post("/console/queue/run-once", data={"csrf_token": csrf})
    done = client.post(f"/console/queue/{parent.id}/confirm", data={"status": "provisioned", "csrf_token": csrf})
    assert "Confirmed as provisioned" in done.text
    assert _status(session, parent) == (PROVISIONED, f"Confirmed by console {OPERATOR}.")
    assert _status(session, child)[0] is PROVISIONED
    assert 'data-count="awaiting">0<' in done.text


# --- billing -------------------------------------------------------------------------------------------


def test_the_preview_writes_nothing_and_the_run_creates_the_invoices_once(
    session: Session, login: Login, vet: PineConeVet
) -> None:
    client = login(OPERATOR)
    csrf = csrf_of(client.get("/console/billing").text)

    preview = client.post("/console/billing/preview", data={"date": "2026-12-01", "csrf_token": csrf})

    assert preview.status_code == 200, preview.text
    assert "nothing was written. 3 invoices would be created" in preview.text
    for location in ("Atlanta", "New York City", "Memphis"):
        assert f"Pine Cone Vet - {location}" in preview.text
    assert 'data-total="USD">2012.00<' in preview.text
    session.expire_all()
    assert (_count(session, Invoice), _count(session, BillingRun)) == (0, 0)
    assert not session.scalars(
        select(LicenseChange).where(LicenseChange.billing_status == BillingStatus.INVOICED)
    ).all()

    unconfirmed = client.post("/console/billing/runs", data={"date": "2026-12-01", "csrf_token": csrf})
    assert unconfirmed.status_code == 200
    assert "Confirm the billing run of 2026-12-01" in unconfirmed.text, "a run without its confirmation asks for it"
    assert _count(session, BillingRun) == 0
    confirmation = client.post("/console/billing/confirm", data={"date": "2026-12-01", "csrf_token": csrf})
    assert "The run creates 3 invoices, for 2012.00 USD in all" in confirmation.text
    expected = re.search(r'name="expected" value="([^"]+)"', confirmation.text)
    assert expected is not None
    assert _count(session, BillingRun) == 0
    ran = client.post(
        "/console/billing/runs",
        data={"date": "2026-12-01", "expected": expected.group(1), "csrf_token": csrf},
        follow_redirects=False,
    )
    assert ran.status_code == 303
    run = session.scalars(select(BillingRun)).one()
    assert ran.headers["location"] == f"/console/billing/runs/{run.id}"
    assert (run.invoices_created, run.requested_by) == (3, f"console {OPERATOR}")
    page = client.get(ran.headers["location"]).text
    assert page.count('<tr id="i-') == 3
    assert "1006.00 USD" in page
    again = client.post("/console/billing/confirm", data={"date": "2026-12-01", "csrf_token": csrf})
    assert "Nothing is due on 2026-12-01: the run will create no invoice." in again.text
    rerun = client.post(
        "/console/billing/runs",
        data={"date": "2026-12-01", "expected": "nothing", "csrf_token": csrf},
        follow_redirects=True,
    )
    assert "This run created no invoice" in rerun.text
    assert _count(session, Invoice) == 3
    invoice = session.scalars(select(Invoice).order_by(Invoice.number)).first()
    assert invoice is not None
    pdf = client.get(f"/console/invoices/{invoice.id}/pdf")
    assert (pdf.status_code, pdf.headers["content-type"]) == (200, "application/pdf")
    assert pdf.content.startswith(b"%PDF")


# --- reconciliation ------------------------------------------------------------------------------------


@pytest.fixture
def bought_vet(
    session: Session, simulator: SimulatorServer, worker_sessions: sessionmaker[Session], factory_clock: ManualClock
) -> PineConeVet:
    """Pine Cone Vet bought at the simulator: parents 50 E3 and 20 EMS, provisioned."""
    catalog = load_demo_catalog(session)
    catalog.partner_center.settings = {"base_url": simulator.url}
    setup = pine_cone_vet(session, catalog)
    drain(session, worker_sessions, factory_clock)
    return setup


def test_reconciliation_reports_a_quantity_changed_at_the_provider_and_adopts_it_onto_the_chosen_child(
    session: Session, login: Login, bought_vet: PineConeVet, simulator: SimulatorServer
) -> None:
    parent = session.get_one(Subscription, bought_vet.parent_e3.id)
    assert parent.external_id
    change_at_provider(simulator, parent.external_id, quantity=53)  # the full resource, with its etag
    client = login(OPERATOR)
    account = str(bought_vet.catalog.partner_center.id)

    report = client.get("/console/reconciliation", params={"account": account})

    assert report.status_code == 200, report.text
    assert report.text.count('class="item"') == 1
    assert 'data-classification="changed_at_provider"' in report.text
    assert re.search(r'data-q="provider">53<.*data-q="seatflow">50<.*data-q="children">50<', report.text, re.S)
    memphis = bought_vet.locations["Memphis"].e3
    assert f'<option value="{memphis.id}">Pine Cone Vet - Memphis: 15</option>' in report.text
    csrf = csrf_of(report.text)

    no_child = client.post(
        "/console/reconciliation/adopt",
        data={"account": account, "subscription_id": str(parent.id), "csrf_token": csrf},
    )
    assert no_child.status_code == 422
    assert "choose the child that takes the difference" in no_child.text
    session.expire_all()
    assert session.get_one(Subscription, parent.id).quantity == 50

    adopted = client.post(
        "/console/reconciliation/adopt",
        data={
            "account": account,
            "subscription_id": str(parent.id),
            "child_subscription_id": str(memphis.id),
            "csrf_token": csrf,
        },
        follow_redirects=True,
    )

    assert adopted.status_code == 200, adopted.text
    assert "Adopted the provider's quantity" in adopted.text
    assert "In sync: the provider, the parents and their children agree." in adopted.text
    session.expire_all()
    assert session.get_one(Subscription, parent.id).quantity == 53
    assert session.get_one(Subscription, memphis.id).quantity == 18
    changes = session.scalars(
        select(LicenseChange).where(LicenseChange.origin == ChangeOrigin.PROVIDER_SYNC).order_by(LicenseChange.id)
    ).all()
    assert {(c.subscription_id, c.quantity_after, c.requested_by) for c in changes} == {
        (memphis.id, 18, f"console {OPERATOR} (provider sync)"),
        (parent.id, 53, f"console {OPERATOR} (provider sync)"),
    }
    log_check = client.get("/console/reconciliation", params={"account": account, "log_check": "1"})
    assert "Every subscription's quantity is what its change log adds up to." in log_check.text


def test_push_and_import_from_the_report(
    session: Session, login: Login, bought_vet: PineConeVet, simulator: SimulatorServer
) -> None:
    catalog = bought_vet.catalog
    ems = session.get_one(Subscription, bought_vet.parent_ems.id)
    assert ems.external_id
    assert catalog.business_premium.offer_id
    change_at_provider(simulator, ems.external_id, quantity=25)
    external_id = buy(simulator, catalog.business_premium.offer_id, 4)["id"]  # a cart and its checkout
    client = login(OPERATOR)
    account = str(catalog.partner_center.id)
    report = client.get("/console/reconciliation", params={"account": account})
    assert 'data-classification="unknown_to_seatflow"' in report.text
    assert f'<option value="{bought_vet.parent_contract.id}">Pine Cone Vet - Parent</option>' in report.text
    csrf = csrf_of(report.text)

    pushed = client.post(
        "/console/reconciliation/push",
        data={"account": account, "subscription_id": str(ems.id), "csrf_token": csrf},
        follow_redirects=True,
    )
    assert "queued for the provider" in pushed.text
    assert 'data-classification="provisioning_pending"' in pushed.text
    contract = bought_vet.locations["Atlanta"].contract
    no_contract = client.post(
        "/console/reconciliation/import",
        data={"account": account, "tenant_id": "pine-cone-vet-tenant", "external_id": external_id, "csrf_token": csrf},
    )
    assert no_contract.status_code == 422
    assert "Choose the contract" in no_contract.text
    imported = client.post(
        "/console/reconciliation/import",
        data={
            "account": account,
            "tenant_id": "pine-cone-vet-tenant",
            "external_id": external_id,
            "contract_id": str(contract.id),
            "unit_price": "11.00",
            "csrf_token": csrf,
        },
        follow_redirects=True,
    )
    assert "Imported" in imported.text
    assert 'data-classification="unknown_to_seatflow"' not in imported.text
    found = session.scalars(select(Subscription).where(Subscription.external_id == external_id)).one()
    assert (found.contract_id, found.quantity, found.unit_price) == (contract.id, 4, Decimal("11.00"))


def test_reconciliation_with_a_failing_provider_says_so_in_plain_words_and_changes_nothing(
    session: Session, login: Login, bought_vet: PineConeVet, simulator: SimulatorServer
) -> None:
    parent = session.get_one(Subscription, bought_vet.parent_e3.id)
    httpx.post(f"{simulator.url}/_sim/faults", json={"error_rate": 1.0}).raise_for_status()
    client = login(OPERATOR)
    account = str(bought_vet.catalog.partner_center.id)

    report = client.get("/console/reconciliation", params={"account": account})
    adopt = client.post(
        "/console/reconciliation/adopt",
        data={
            "account": account,
            "subscription_id": str(parent.id),
            "child_subscription_id": str(bought_vet.locations["Memphis"].e3.id),
            "csrf_token": csrf_of(report.text),
        },
    )

    for page in (report, adopt):
        assert page.status_code == 502, page.text
        assert "The request to Partner Center failed and nothing was changed." in page.text
        assert "Try again in a moment." in page.text
        assert 'data-classification="' not in page.text
    session.expire_all()
    assert session.get_one(Subscription, parent.id).quantity == 50
