"""``seatflow reconcile import --parent`` and ``adopt --external-id`` in processes of their own (SPEC §9, §14), on
a committed database, against the simulator."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from seatflow.simulator import SimulatorServer
from seatflow.subscriptions.models import Subscription
from tests.factories import create_contract, create_customer, create_subscription, load_demo_catalog
from tests.reconciliation.helpers import TENANT, bought_in_seatflow, buy, run_seatflow


def test_an_addon_is_imported_under_its_parent_and_a_pair_by_product_adopted_from_the_terminal(
    committed_engine: Engine, empty_database_url: str, simulator: SimulatorServer, tmp_path: Path
) -> None:
    with Session(committed_engine) as session:
        catalog = load_demo_catalog(session)
        catalog.partner_center.settings = {"base_url": simulator.url}
        skus = [catalog.e5.offer_id, catalog.audio_conferencing.offer_id, catalog.business_premium.offer_id]
        e5_sku, audio_sku, premium_sku = (str(sku) for sku in skus)
        customer = create_customer(session, name="Pine Cone Vet", tenant_id=TENANT)
        contract = create_contract(session, customer=customer, name="Head office")
        e5_at_provider = buy(simulator, e5_sku, 10)
        e5 = bought_in_seatflow(
            session,
            create_subscription(session, contract=contract, product=catalog.e5, quantity=10),
            external_id=e5_at_provider["id"],
        )
        premium = bought_in_seatflow(
            session,
            create_subscription(session, contract=contract, product=catalog.business_premium, quantity=4),
            external_id=None,
        )
        session.commit()
        e5_id, premium_id, contract_id = str(e5.id), str(premium.id), str(contract.id)
    audio = buy(simulator, audio_sku, 10)
    premium_at_provider = buy(simulator, premium_sku, 5)

    def run(*args: str) -> tuple[int, str, str]:
        done = run_seatflow(empty_database_url, tmp_path, "reconcile", *args)
        return done.returncode, done.stdout, done.stderr

    importing = ("import", audio["id"], "--tenant", TENANT, "--contract", contract_id)
    code, _, err = run(*importing)
    assert code != 0
    assert err.startswith("error [parent_required]")
    code, out, err = run(*importing, "--parent", e5_id)
    assert code == 0, err
    assert f"imported {audio['id']}" in out

    code, _, err = run("adopt", premium_id)
    assert code != 0
    assert err.startswith("error [not_reconcilable]")
    code, out, err = run("adopt", premium_id, "--external-id", premium_at_provider["id"])
    assert code == 0, err
    assert f"provider id {premium_at_provider['id']}" in out
    assert "4 → 5" in out
    code, out, err = run("report")
    assert code == 0, err
    assert "0 difference(s)" in out

    with Session(committed_engine) as session:
        imported = session.scalars(select(Subscription).where(Subscription.external_id == audio["id"])).one()
        assert str(imported.parent_subscription_id) == e5_id
