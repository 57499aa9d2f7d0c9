"""Every console write is audited (SPEC §17, issue 15): a walk through every form of the console, as an operator
submits it, with the audit log checked after each one.

The app is the real one (no dependency overridden) on a committed database of the test's own, so what is checked is
the wiring itself: the console's login, the request's session and its audit scope. For each form:

- a bad submission first (bad input, or a refusal by the rules): it adds no audit row and changes nothing: every
  audited table is compared, row by row, before and after;
- then the good one: the rows it wrote name the operator (kind, id, e-mail), origin ``console``, the client's IP and
  the route's operation, and hold the action, the record and its before and after; and **every** record it created,
  changed or deleted has its row (the tables are compared before and after, so a write that bypasses the audit hook
  is found whatever form it is on);
- a form that only shows something (a preview, a confirmation, the price) writes neither rows nor records.

The walk names each route it posts to, and the set walked must be the console's every POST route less the login and
the logout (``EXCLUDED``: logging in and out is the identity work's, tested with it), so a new form cannot be added
without being walked here. Every route is also posted without its CSRF token first: refused, no row, no change."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import unescape
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine, Table, select
from sqlalchemy.orm import Session, sessionmaker

from seatflow.audit.models import AuditEntry
from seatflow.audit.recorder import IGNORED_COLUMNS, NOT_AUDITED, kind_of
from seatflow.auth import operators as accounts
from seatflow.auth.models import Operator, OperatorRole
from seatflow.billing.models import Invoice
from seatflow.config import Settings
from seatflow.contracts.models import BillingContract
from seatflow.customers.models import Contact, CustomerAccount
from seatflow.db.base import Base
from seatflow.events.delivery import fan_out
from seatflow.events.models import WebhookDelivery, WebhookEndpoint
from seatflow.events.outbox import emit
from seatflow.provisioning.worker import Worker
from seatflow.simulator import SimulatorServer
from seatflow.subscriptions.models import (
    LicenseChange,
    ProvisioningStatus,
    Subscription,
)
from seatflow.web.app import create_app
from tests.factories import (
    FACTORY_TODAY,
    DemoCatalog,
    create_contract,
    create_customer,
    create_subscription,
    load_demo_catalog,
    noon,
)
from tests.provisioning.conftest import FAST, ManualClock
from tests.reconciliation.helpers import buy
from tests.reconciliation.helpers import change as change_at_provider
from tests.subscriptions.helpers import PineConeVet, pine_cone_vet

PASSWORD = "correct horse battery"
OPERATOR = "ops@reseller.example"
ADMIN = "admin@reseller.example"

EXCLUDED = {
    "/console/login": "logging in (sessions, throttle, operator.logged_in): the identity work's, tested with it",
    "/console/logout": "logging out (operator.logged_out): the identity work's, tested with it",
}
"""The console's POST routes this walk does not submit, each with why."""

SET_BASED = {"invoice", "invoice_line", "invoice_section"}
"""Written by a billing run's set-based (Core) SQL, which the hooks do not see, with the changes it bills marked
invoiced: the run itself is audited with its totals (``docs/events.md``). A void's credit note lines are a bulk
INSERT too (its credit note is audited with its totals). A record of these kinds changed by any other form must have
its own row."""

WORKER_MADE = {"license_change", "notification", "subscription", "webhook_delivery"}
"""What one pass of the worker changes (its own sessions, no audit scope: seatflow itself, ``docs/events.md``): the
console's *Run the worker once* is audited as the operator's one ``worker.run_once`` row, with what the pass did."""

Key = tuple[str, str]
"""A record: its kind (as the log names it) and its id."""
Snapshot = dict[Key, dict[str, Any]]


def console_post_routes(app: FastAPI) -> set[str]:
    return {
        str(route.path)
        for route in iter_route_contexts(app.routes)
        if route.path and route.path.startswith("/console") and "POST" in (route.methods or ())
    }


def _template_pattern(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)))


def _tables() -> list[tuple[Table, str, dict[str, str]]]:
    """Every audited table with the kind the log names its records by and its columns' attribute names."""
    found: dict[str, tuple[Table, str, dict[str, str]]] = {}
    for mapper in Base.registry.mappers:
        table = mapper.local_table
        if not isinstance(table, Table) or table.name in NOT_AUDITED or mapper.inherits is not None:
            continue
        keys = {column.name: mapper.get_property_by_column(column).key for column in table.columns}
        found[table.name] = (table, kind_of(mapper.class_.__name__), keys)
    for table in Base.metadata.sorted_tables:  # a table with no model (an association) would not be audited
        if table.name not in found and table.name not in NOT_AUDITED:
            found[table.name] = (table, table.name, {column.name: column.name for column in table.columns})
    return list(found.values())


@dataclass
class Walk:
    engine: Engine
    client: TestClient
    routes: set[str]
    operator: dict[str, uuid.UUID] = field(default_factory=dict)
    walked: set[str] = field(default_factory=set)
    who: str = OPERATOR
    csrf: str = ""

    # --- the database as it is ---------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        found: Snapshot = {}
        with self.engine.connect() as connection:
            for table, kind, keys in _tables():
                primary = [column.name for column in table.primary_key.columns]
                for row in connection.execute(select(table)).mappings():
                    record = (kind, "/".join(str(row[name]) for name in primary))
                    found[record] = {keys[name]: row[name] for name in row if keys[name] not in IGNORED_COLUMNS}
        return found

    def audit_ids(self) -> set[uuid.UUID]:
        with Session(self.engine) as session:
            return set(session.scalars(select(AuditEntry.id)))

    def entries(self, ids: set[uuid.UUID]) -> list[AuditEntry]:
        with Session(self.engine) as session:
            return list(session.scalars(select(AuditEntry).where(AuditEntry.id.in_(ids)).order_by(AuditEntry.id)))

    def get(self, model: type[Any], ref: Any) -> Any:
        with Session(self.engine) as session:
            return session.get_one(model, ref)

    def scalars(self, stmt: Any) -> list[Any]:
        with Session(self.engine) as session:
            return list(session.scalars(stmt))

    # --- who is acting -----------------------------------------------------------------------------------------

    def login(self, email: str) -> None:
        self.client.cookies.clear()
        page = self.client.get("/console/login")
        answer = self.client.post(
            "/console/login",
            data={"email": email, "password": PASSWORD, "csrf_token": _csrf(page.text)},
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text[-2000:]
        self.who = email
        self.csrf = _csrf(self.client.get("/console/").text)

    # --- posting a form ----------------------------------------------------------------------------------------

    def _post(self, path: str, data: dict[str, Any]) -> httpx.Response:
        matching = [t for t in self.routes if _template_pattern(t).fullmatch(path)]
        assert len(matching) == 1, f"{path} is not one console POST route: {matching}"
        self.walked.add(matching[0])
        answer: httpx.Response = self.client.post(path, data={**data, "csrf_token": self.csrf}, follow_redirects=False)
        return answer

    def refused(self, path: str, data: dict[str, Any], status: int, message: str = "") -> None:
        """Bad input (or a refusal by the rules): the form again with the message, no audit row, nothing changed."""
        rows, before = self.audit_ids(), self.snapshot()
        answer = self._post(path, data)
        assert answer.status_code == status, f"POST {path} {data} -> {answer.status_code}: {answer.text[-1500:]}"
        if message:
            assert message in _text(answer), f"POST {path}: {message!r} not on the page"
        assert self.audit_ids() == rows, f"the refused POST {path} {data} wrote audit rows"
        assert _diff(before, self.snapshot()) == {}, f"the refused POST {path} {data} changed records"

    def shows(self, path: str, data: dict[str, Any], message: str = "") -> httpx.Response:
        """A form that only shows something (a preview, a confirmation): 200, no audit row, nothing changed."""
        rows, before = self.audit_ids(), self.snapshot()
        answer = self._post(path, data)
        assert answer.status_code == 200, f"POST {path} -> {answer.status_code}: {answer.text[-1500:]}"
        if message:
            assert message in _text(answer), f"POST {path}: {message!r} not on the page"
        assert self.audit_ids() == rows, f"POST {path} {data} only shows, yet wrote audit rows"
        assert _diff(before, self.snapshot()) == {}, f"POST {path} {data} only shows, yet changed records"
        return answer

    def writes(
        self, path: str, data: dict[str, Any], *, status: int = 303, unaudited: frozenset[str] = frozenset()
    ) -> Written:
        """A write: its rows are the operator's, from this route; every record it changed has its row."""
        rows, before = self.audit_ids(), self.snapshot()
        answer = self._post(path, data)
        assert answer.status_code == status, f"POST {path} -> {answer.status_code}: {answer.text[-2000:]}"
        entries = self.entries(self.audit_ids() - rows)
        assert entries, f"POST {path} wrote no audit row"
        template = next(t for t in self.routes if _template_pattern(t).fullmatch(path))
        for entry in entries:
            assert (entry.actor_kind.value, entry.actor_id, entry.actor_name) == (
                "operator",
                self.operator[self.who],
                self.who,
            ), f"POST {path}: {entry.action} is not {self.who}'s"
            assert (entry.origin.value, entry.ip, entry.operation) == ("console", "testclient", f"POST {template}")
        assert len({e.request_id for e in entries}) == 1, "one request, one request id"
        changed = _diff(before, self.snapshot())
        logged = {(e.target_kind, e.target_id): e for e in entries}
        for record, (verb, columns) in changed.items():
            if record[0] in unaudited:
                continue
            row = logged.get(record)
            assert row is not None, f"POST {path}: {verb} {record} has no audit row"
            if verb == "created":
                assert row.before is None, (record, row.action)
                assert row.after is not None, (record, row.action)
            elif verb == "deleted":
                assert row.after is None, (record, row.action)
                assert row.before is not None, (record, row.action)
            else:
                assert set(columns) <= set(row.after or {}), f"POST {path}: {record} {columns} vs {row.after}"
        return Written(path, answer, entries)


@dataclass
class Written:
    path: str
    answer: httpx.Response
    entries: list[AuditEntry]

    def row(self, action: str, entity_id: Any) -> AuditEntry:
        found = [e for e in self.entries if e.action == action and e.target_id == str(entity_id)]
        actions = [(e.action, e.target_id) for e in self.entries]
        assert len(found) == 1, f"POST {self.path}: no one {action} of {entity_id} in {actions}"
        return found[0]

    def created(self, kind: str) -> AuditEntry:
        found = [e for e in self.entries if e.action == f"{kind}.created"]
        assert len(found) == 1, f"POST {self.path}: {[e.action for e in self.entries]}"
        return found[0]

    def created_ids(self, kind: str) -> list[str]:
        return [e.target_id for e in self.entries if e.action == f"{kind}.created"]


def _diff(before: Snapshot, after: Snapshot) -> dict[Key, tuple[str, list[str]]]:
    """Each record created, changed (with its changed attributes) or deleted between two snapshots."""
    found: dict[Key, tuple[str, list[str]]] = {}
    for record in after.keys() - before.keys():
        found[record] = ("created", [])
    for record in before.keys() - after.keys():
        found[record] = ("deleted", [])
    for record in before.keys() & after.keys():
        columns = [name for name, value in after[record].items() if before[record].get(name) != value]
        if columns:
            found[record] = ("updated", columns)
    return found


def _text(answer: httpx.Response) -> str:
    return " ".join(unescape(answer.text).split())


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def _expected(html: str) -> str:
    found = re.search(r'name="expected" value="([^"]+)"', html)
    assert found, "no confirmation form"
    return found.group(1)


# --- the world ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    catalog: DemoCatalog
    vet: PineConeVet
    e5: Subscription
    """Contoso's E5 (by hand) with Phone System and its Calling Plan under it."""
    phone: Subscription
    calling: Subscription
    failed: LicenseChange
    """Birch Dental's E3 purchase, failed."""
    awaiting: LicenseChange
    """Birch Dental's EMS purchase (by hand), awaiting a person."""
    external_id: str
    """A subscription bought at Partner Center that seatflow does not know."""


@pytest.fixture
def walk(committed_engine: Engine, simulator: SimulatorServer) -> Iterator[tuple[Walk, World]]:
    start = noon(FACTORY_TODAY)
    clock = ManualClock(start, datetime.now(UTC))
    sessions = sessionmaker(committed_engine, expire_on_commit=False)
    with sessions() as session:  # no audit scope: the set-up is nobody's action
        ids = {}
        for email, role in ((OPERATOR, OperatorRole.OPERATOR), (ADMIN, OperatorRole.ADMIN)):
            accounts.create_operator(session, email=email, name=email.split("@")[0], role=role, password=PASSWORD)
        catalog = load_demo_catalog(session)
        catalog.partner_center.settings = {"base_url": simulator.url}
        vet = pine_cone_vet(session, catalog)
        session.commit()
        ids = {o.email: o.id for o in session.scalars(select(Operator))}
    worker = Worker(sessions, clock, config=FAST)  # Pine Cone Vet bought at Partner Center
    try:
        worker.drain(max_wait_seconds=30)
    finally:
        worker.registry.close()
    with sessions() as session:
        parent_e3 = session.get_one(Subscription, vet.parent_e3.id)
        parent_ems = session.get_one(Subscription, vet.parent_ems.id)
        assert parent_e3.external_id
        assert parent_ems.external_id
        assert catalog.business_premium.offer_id
        change_at_provider(simulator, parent_e3.external_id, quantity=53)
        change_at_provider(simulator, parent_ems.external_id, quantity=25)
        external_id = str(buy(simulator, catalog.business_premium.offer_id, 4)["id"])
        manual = catalog.manual
        contoso = create_contract(
            session, customer=create_customer(session, name="Contoso", tenant_id="contoso-tenant"), name="Contoso"
        )
        e5 = create_subscription(session, contract=contoso, product=catalog.e5, quantity=10, provider_account=manual)
        phone = create_subscription(
            session, contract=contoso, product=catalog.phone_system, quantity=10, provider_account=manual, parent=e5
        )
        calling = create_subscription(
            session, contract=contoso, product=catalog.calling_plan, quantity=10, provider_account=manual, parent=phone
        )
        birch = create_contract(session, customer=create_customer(session, name="Birch Dental"), name="Birch")
        e3 = create_subscription(session, contract=birch, product=catalog.e3, quantity=12, provider_account=manual)
        ems = create_subscription(session, contract=birch, product=catalog.ems, quantity=5, provider_account=manual)
        session.flush()
        purchases = {
            c.subscription_id: c
            for c in session.scalars(
                select(LicenseChange).where(
                    LicenseChange.subscription_id.in_([e5.id, phone.id, calling.id, e3.id, ems.id])
                )
            )
        }
        for change in purchases.values():
            change.provisioning_status = ProvisioningStatus.PROVISIONED  # bought by hand, already
        failed, awaiting = purchases[e3.id], purchases[ems.id]
        failed.provisioning_status, failed.message = ProvisioningStatus.FAILED, "The distributor had no E3 seats."
        awaiting.provisioning_status = ProvisioningStatus.AWAITING
        session.commit()
        world = World(catalog, vet, e5, phone, calling, failed, awaiting, external_id)

    url = committed_engine.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, test_clock=True), engine=committed_engine)
    app.state.clock = clock
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Walk(committed_engine, client, console_post_routes(app), ids), world


# --- the walk -------------------------------------------------------------------------------------------------


def test_every_console_form_is_audited_as_its_operators(walk: tuple[Walk, World]) -> None:
    w, world = walk
    vet = world.vet
    assert w.audit_ids() == set(), "the set-up is nobody's action"
    assert set(EXCLUDED) <= w.routes
    w.login(OPERATOR)  # what a login records is the login's own (excluded) business

    _forged(w)
    _reconciliation(w, world)
    nashville, contract = _customers_contacts_contracts(w, vet)
    child = _subscriptions(w, world, contract)
    _subscription_actions(w, world, child)
    _renewals(w, world)
    _queue(w, world)
    _billing(w)
    w.login(ADMIN)
    _void(w, vet)
    _webhooks(w)

    assert w.walked == w.routes - set(EXCLUDED), (
        f"not walked: {sorted(w.routes - set(EXCLUDED) - w.walked)}; "
        f"walked but not a console POST route: {sorted(w.walked - w.routes)}"
    )
    assert nashville  # the walk's own records were made by it


def _forged(w: Walk) -> None:
    """Every form posted without its CSRF token is refused before anything runs: no row, no change."""
    rows, before = w.audit_ids(), w.snapshot()
    for template in sorted(w.routes - set(EXCLUDED)):
        path = re.sub(r"\{[^}]+\}", str(uuid.UUID(int=7)), template)
        answer = w.client.post(path, data={"csrf_token": "forged"}, follow_redirects=False)
        assert answer.status_code == 403, f"POST {template} without its token -> {answer.status_code}"
    assert w.audit_ids() == rows
    assert _diff(before, w.snapshot()) == {}


def _reconciliation(w: Walk, world: World) -> None:
    vet, account = world.vet, str(world.catalog.partner_center.id)
    memphis = vet.locations["Memphis"].e3
    adopt = {"account": account, "subscription_id": str(vet.parent_e3.id)}
    w.refused("/console/reconciliation/adopt", adopt, 422, "choose the child that takes the difference")
    adopted = w.writes("/console/reconciliation/adopt", adopt | {"child_subscription_id": str(memphis.id)})
    row = adopted.row("subscription.quantity_changed", vet.parent_e3.id)
    assert (row.before, row.after) == ({"quantity": 50}, {"quantity": 53})
    row = adopted.row("subscription.quantity_changed", memphis.id)
    assert (row.before, row.after) == ({"quantity": 15}, {"quantity": 18})
    assert len(adopted.created_ids("license_change")) == 2

    w.refused("/console/reconciliation/push", {"account": account, "subscription_id": str(uuid.UUID(int=7))}, 404)
    pushed = w.writes("/console/reconciliation/push", {"account": account, "subscription_id": str(vet.parent_ems.id)})
    assert pushed.created("license_change").after["subscription_id"] == str(vet.parent_ems.id)  # type: ignore[index]

    atlanta = vet.locations["Atlanta"].contract
    found = {"account": account, "tenant_id": "pine-cone-vet-tenant", "external_id": world.external_id}
    w.refused("/console/reconciliation/import", found, 422, "Choose the contract")
    imported = w.writes(
        "/console/reconciliation/import", found | {"contract_id": str(atlanta.id), "unit_price": "11.00"}
    )
    after = imported.created("subscription").after or {}
    assert (after["external_id"], after["contract_id"], after["quantity"]) == (world.external_id, str(atlanta.id), 4)


def _customers_contacts_contracts(w: Walk, vet: PineConeVet) -> tuple[str, str]:
    w.refused("/console/customers", {"name": "  "}, 422, "Enter name.")
    created = w.writes(
        "/console/customers",
        {"name": "Pine Cone Vet Nashville", "parent_customer_id": str(vet.customer.id), "city": "Nashville"},
    )
    row = created.created("customer_account")
    nashville = row.target_id
    assert created.answer.headers["location"] == f"/console/customers/{nashville}"
    assert (row.after or {})["parent_customer_id"] == str(vet.customer.id)
    assert (row.after or {})["name"] == "Pine Cone Vet Nashville"

    w.refused(
        f"/console/customers/{vet.customer.id}/edit",
        {"name": "Pine Cone Vet", "tenant_id": "pine-cone-vet-tenant", "parent_customer_id": nashville},
        409,
        "accounts form a tree",
    )
    edited = w.writes(
        f"/console/customers/{nashville}/edit",
        {"name": "Pine Cone Vet - Nashville", "parent_customer_id": str(vet.customer.id), "status": "active"},
    )
    row = edited.row("customer_account.updated", nashville)
    assert (row.before or {})["name"] == "Pine Cone Vet Nashville"
    assert (row.after or {})["name"] == "Pine Cone Vet - Nashville"

    contacts = f"/console/customers/{nashville}/contacts"
    w.refused(contacts, {"email": "dana@pinecone.example", "name": "Dana"}, 422, "Choose at least one of the roles.")
    invited = w.writes(
        contacts, {"email": "dana@pinecone.example", "name": "Dana", "roles": ["administrator"]}, status=200
    )
    contact = invited.created("contact")
    link = re.search(r"/portal/invitations/([A-Za-z0-9_\-]+)", invited.answer.text)
    assert link, "the invitation link is shown once"
    assert link.group(1) not in str([(e.before, e.after) for e in invited.entries]), "no token in the log"
    w.refused(f"{contacts}/{contact.target_id}", {"status": "active"}, 422, "Choose at least one of the roles.")
    changed = w.writes(f"{contacts}/{contact.target_id}", {"roles": ["finance_manager"], "status": "disabled"})
    row = changed.row("contact.status_changed", contact.target_id)
    assert ((row.before or {})["roles"], (row.after or {})["roles"]) == (["administrator"], ["finance_manager"])
    assert ((row.before or {})["status"], (row.after or {})["status"]) == ("invited", "disabled")

    contracts = f"/console/customers/{nashville}/contracts"
    child = {"name": "Pine Cone Vet - Nashville", "parent_contract_id": str(vet.parent_contract.id)}
    w.refused(contracts, child | {"start_date": "tomorrow"}, 422, "Enter the start date as YYYY-MM-DD")
    made = w.writes(
        contracts, child | {"start_date": "2026-12-01", "billable": "1", "auto_renew": "1", "payment_terms_days": "30"}
    )
    row = made.created("billing_contract")
    assert ((row.after or {})["parent_contract_id"], (row.after or {})["customer_id"]) == (
        str(vet.parent_contract.id),
        nashville,
    )
    contract = row.target_id
    edit = f"/console/contracts/{contract}/edit"
    w.refused(edit, {"name": "X", "parent_contract_id": contract}, 409, "above itself")
    edited = w.writes(
        edit,
        child
        | {
            "billing_frequency": "monthly",
            "billing_policy": "advance",
            "proration_unit": "days",
            "term_months": "12",
            "payment_terms_days": "45",
            "tax_rate": "0",
            "billable": "1",
            "auto_renew": "1",
            "status": "active",
        },
    )
    row = edited.row("billing_contract.updated", contract)
    assert ((row.before or {})["payment_terms_days"], (row.after or {})["payment_terms_days"]) == (30, 45)
    assert w.get(BillingContract, uuid.UUID(contract)).payment_terms_days == 45
    assert w.get(CustomerAccount, uuid.UUID(nashville)).name == "Pine Cone Vet - Nashville"
    assert w.get(Contact, uuid.UUID(contact.target_id)).roles == ["finance_manager"]
    return nashville, contract


def _subscriptions(w: Walk, world: World, contract: str) -> str:
    catalog = world.catalog
    path = f"/console/contracts/{contract}/subscriptions"
    e3 = {
        "product": str(catalog.e3.id),
        "quantity": "4",
        "plan": "P1Y:monthly",
        "account": str(catalog.do_nothing.id),
        "shown": "1",
        "billable": "1",
        "auto_renew": "1",
    }
    w.refused(path, e3 | {"quantity": "abc", "step": "create"}, 422, "Enter a whole number from 1 to 300.")
    w.shows(path, e3 | {"step": "price"}, "4 x 36.00 = 144.00 USD a month")
    created = w.writes(path, e3 | {"step": "create"})
    row = created.created("subscription")
    assert ((row.after or {})["quantity"], (row.after or {})["product_id"]) == (4, str(catalog.e3.id))
    assert created.created("license_change").after["quantity_after"] == 4  # type: ignore[index]

    contoso = str(world.e5.contract_id)
    bundles = f"/console/contracts/{contoso}/bundles"
    bundle = {"bundle": str(catalog.e5_voice.id)}
    w.refused(bundles, bundle | {"quantity": "0"}, 422, "Enter a whole number from 1 to")
    ordered = w.writes(bundles, bundle | {"quantity": "3"})
    made = ordered.created_ids("subscription")
    assert len(made) == 4, "one subscription per item of the bundle"
    assert len(ordered.created_ids("license_change")) == 4
    return row.target_id


def _subscription_actions(w: Walk, world: World, child: str) -> None:
    vet, catalog = world.vet, world.catalog
    base = f"/console/subscriptions/{child}"
    w.refused(f"{base}/quantity", {"quantity": "4", "when": "now"}, 422, "The quantity is already 4.")
    changed = w.writes(f"{base}/quantity", {"quantity": "6", "when": "now", "reason": "Two more vets."})
    row = changed.row("subscription.quantity_changed", child)
    assert (row.before, row.after) == ({"quantity": 4}, {"quantity": 6})
    change = changed.created("license_change").after or {}
    assert (change["quantity_before"], change["quantity_after"], change["reason"]) == (4, 6, "Two more vets.")
    assert change["requested_by"] == f"console {OPERATOR}"
    later = w.writes(f"{base}/quantity", {"quantity": "5", "when": "renewal", "reason": "One leaves in a year."})
    scheduled = later.created("scheduled_change")
    assert ((scheduled.after or {})["quantity"], (scheduled.after or {})["at_renewal"]) == (5, True)
    w.refused(f"{base}/scheduled/{uuid.UUID(int=7)}/cancel", {}, 404)
    dropped = w.writes(f"{base}/scheduled/{scheduled.target_id}/cancel", {})
    row = dropped.row("scheduled_change.status_changed", scheduled.target_id)
    assert ((row.before or {})["status"], (row.after or {})["status"]) == ("scheduled", "cancelled")

    link = {"target": str(vet.parent_ems.id), "account": str(catalog.linked.id)}
    w.refused(f"{base}/link", link, 422, "must be of the same product")
    linked = w.writes(f"{base}/link", link | {"target": str(vet.parent_e3.id)})
    row = linked.row("subscription.updated", child)
    assert ((row.before or {})["linked_subscription_id"], (row.after or {})["linked_subscription_id"]) == (
        None,
        str(vet.parent_e3.id),
    )
    assert (row.after or {})["provider_account_id"] == str(catalog.linked.id)
    w.refused(f"{base}/unlink", {"account": str(catalog.linked.id)}, 422)  # unlinked onto a linked account
    unlinked = w.writes(f"{base}/unlink", {"account": str(catalog.do_nothing.id)})
    row = unlinked.row("subscription.updated", child)
    assert (row.after or {})["linked_subscription_id"] is None
    assert (row.after or {})["provider_account_id"] == str(catalog.do_nothing.id)

    e5, phone, calling = (str(s.id) for s in (world.e5, world.phone, world.calling))
    w.refused(f"/console/subscriptions/{e5}/reactivate", {}, 409)  # it is active
    w.refused(f"/console/subscriptions/{e5}/suspend", {}, 409, "active add-ons")
    suspended = w.writes(f"/console/subscriptions/{e5}/suspend", {"cascade": "1", "reason": "Unpaid."})
    for each in (e5, phone, calling):
        row = suspended.row("subscription.status_changed", each)
        assert ((row.before or {})["status"], (row.after or {})["status"]) == ("active", "suspended")
    reactivated = w.writes(f"/console/subscriptions/{e5}/reactivate", {})
    row = reactivated.row("subscription.status_changed", e5)
    assert ((row.before or {})["status"], (row.after or {})["status"]) == ("suspended", "active")

    renew = f"/console/subscriptions/{phone}/auto-renew"
    w.refused(renew, {"renew": "maybe"}, 422, "Choose to renew or not.")
    stopped = w.writes(renew, {"renew": "0", "cascade": "1"})
    for each in (phone, calling):
        row = stopped.row("subscription.auto_renew_changed", each)
        assert (row.before, row.after) == ({"auto_renew": True}, {"auto_renew": False})

    w.refused(f"/console/subscriptions/{phone}/cancel", {"reason": "No more calls."}, 409, "ask to cascade")
    cancelled = w.writes(f"/console/subscriptions/{phone}/cancel", {"cascade": "1", "reason": "No more calls."})
    for each in (phone, calling):
        row = cancelled.row("subscription.status_changed", each)
        assert (row.after or {})["status"] == "cancelled"
    assert all(e.operation == "POST /console/subscriptions/{subscription_id}/cancel" for e in cancelled.entries)


def _renewals(w: Walk, world: World) -> None:
    e5 = str(world.e5.id)
    for action in ("dont-renew", "renew", "change", "clear"):
        w.refused(f"/console/renewals/{uuid.UUID(int=7)}/{action}", {"back": "days=60"}, 404)
    stopped = w.writes(f"/console/renewals/{e5}/dont-renew", {"back": "days=60"}, status=303)
    assert (stopped.row("subscription.auto_renew_changed", e5).after or {}) == {"auto_renew": False}
    again = w.writes(f"/console/renewals/{e5}/renew", {"back": "days=60"})
    assert (again.row("subscription.auto_renew_changed", e5).after or {}) == {"auto_renew": True}
    w.refused(f"/console/renewals/{e5}/change", {"quantity": "301"}, 422, "300")
    scheduled = w.writes(f"/console/renewals/{e5}/change", {"quantity": "12", "reason": "Two more at renewal."})
    row = scheduled.created("scheduled_change")
    assert ((row.after or {})["quantity"], (row.after or {})["subscription_id"]) == (12, e5)
    cleared = w.writes(f"/console/renewals/{e5}/clear", {})
    row = cleared.row("scheduled_change.status_changed", row.target_id)
    assert (row.after or {})["status"] == "cancelled"


def _queue(w: Walk, world: World) -> None:
    failed, awaiting = world.failed, world.awaiting
    w.refused(f"/console/queue/{awaiting.id}/requeue", {}, 409, "Only a failed change can be requeued")
    requeued = w.writes(f"/console/queue/{failed.id}/requeue", {})
    row = requeued.row("license_change.provisioning_status_changed", failed.id)
    assert ((row.before or {})["provisioning_status"], (row.after or {})["provisioning_status"]) == (
        "failed",
        "awaiting_provisioning",
    )
    w.refused(f"/console/queue/{awaiting.id}/confirm", {"status": ""}, 422, "Choose provisioned or failed.")
    w.refused(f"/console/queue/{awaiting.id}/confirm", {"status": "failed"}, 422, "Say why it failed")
    confirmed = w.writes(f"/console/queue/{awaiting.id}/confirm", {"status": "provisioned", "message": "By hand."})
    row = confirmed.row("license_change.provisioning_status_changed", awaiting.id)
    assert ((row.before or {})["provisioning_status"], (row.after or {})["provisioning_status"]) == (
        "awaiting_provisioning",
        "provisioned",
    )
    ran = w.writes("/console/queue/run-once", {}, unaudited=frozenset(WORKER_MADE))
    [row] = ran.entries
    assert (row.action, row.target_kind, row.before) == ("worker.run_once", "worker", None)
    assert set(row.after or {}) >= {"provisioned", "failed", "retrying", "waiting", "handed_off", "flowed_back"}


def _billing(w: Walk) -> None:
    w.refused("/console/billing/runs", {"date": "2026-12-02", "expected": "x"}, 422, "cannot be dated after today")
    w.refused("/console/billing/preview", {"date": "12/01/2026"}, 422, "Enter the run's date as YYYY-MM-DD")
    w.shows("/console/billing/preview", {"date": "2026-12-01"}, "nothing was written.")
    w.shows("/console/billing/runs", {"date": "2026-12-01"}, "Confirm the billing run of 2026-12-01")
    shown = w.shows("/console/billing/confirm", {"date": "2026-12-01"}, "The run creates")
    ran = w.writes(
        "/console/billing/runs",
        {"date": "2026-12-01", "expected": _expected(shown.text)},
        unaudited=frozenset(SET_BASED | {"license_change"}),  # the changes it bills, marked in bulk (Core)
    )
    run = ran.created("billing_run")
    assert ran.answer.headers["location"] == f"/console/billing/runs/{run.target_id}"
    assert (run.after or {})["requested_by"] == f"console {OPERATOR}"
    assert (run.after or {})["invoices_created"] >= 3


def _void(w: Walk, vet: PineConeVet) -> None:
    [invoice] = w.scalars(select(Invoice).where(Invoice.contract_id == vet.locations["New York City"].contract.id))
    path = f"/console/invoices/{invoice.id}/void"
    w.refused(path, {"reason": " ", "confirmed": "1"}, 422)
    w.shows(path, {"reason": "Billed on the wrong contract."}, f"Void invoice {invoice.number}?")
    billed = w.scalars(select(LicenseChange.id).where(LicenseChange.invoice_id == invoice.id))
    assert billed, "the invoice billed changes"
    voided = w.writes(
        path, {"reason": "Billed on the wrong contract.", "confirmed": "1"}, unaudited=frozenset({"invoice_line"})
    )
    for change_id in billed:  # open again for the next run: a bulk UPDATE, audited record by record
        row = voided.row("license_change.billing_status_changed", change_id)
        assert ((row.before or {})["billing_status"], (row.after or {})["billing_status"]) == ("invoiced", "open")
        assert ((row.before or {})["invoice_id"], (row.after or {})["invoice_id"]) == (str(invoice.id), None)
    row = voided.row("invoice.status_changed", invoice.id)
    assert ((row.before or {})["status"], (row.after or {})["status"]) == ("issued", "void")
    note = voided.created("invoice").after or {}
    assert (note["kind"], note["credits_invoice_id"]) == ("credit_note", str(invoice.id))
    w.refused(path, {"reason": "Twice.", "confirmed": "1"}, 409, "void already")


def _webhooks(w: Walk) -> None:
    w.refused("/console/webhooks", {"url": "ftp://erp.example/in", "events": ["invoice.issued"]}, 422)
    added = w.writes("/console/webhooks", {"url": "https://psa.example/in", "events": ["invoice.issued"]}, status=201)
    row = added.created("webhook_endpoint")
    endpoint = row.target_id
    assert (row.after or {})["secret"] == "[redacted]"
    secret = re.search(r"whsec_[A-Za-z0-9+/=]+", added.answer.text)
    assert secret, "the secret is shown once"
    assert secret.group(0) not in str([(e.before, e.after) for e in added.entries])

    with Session(w.engine) as session:  # a delivery made as the worker makes them (no scope: not an action)
        emit(
            session, type="invoice.issued", subject_id="inv-1", data={"number": "X-1"}, occurred_at=noon(FACTORY_TODAY)
        )
        fan_out(session, now=noon(FACTORY_TODAY))
        session.commit()
    delivery = w.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == uuid.UUID(endpoint)))[0]
    w.refused(f"/console/webhook-deliveries/{uuid.UUID(int=7)}/replay", {}, 404)
    replayed = w.writes(f"/console/webhook-deliveries/{delivery.id}/replay", {})
    assert (replayed.row("webhook_delivery.replayed", delivery.id).after or {})["status"] == "pending"

    w.refused(f"/console/webhooks/{uuid.UUID(int=7)}/active", {"active": "false"}, 404)
    off = w.writes(f"/console/webhooks/{endpoint}/active", {"active": "false"})
    row = off.row("webhook_endpoint.active_changed", endpoint)
    assert (row.before, row.after) == ({"active": True}, {"active": False})
    w.refused(f"/console/webhooks/{uuid.UUID(int=7)}/remove", {}, 404)
    removed = w.writes(f"/console/webhooks/{endpoint}/remove", {})
    deliveries = [e for e in removed.entries if e.target_kind == "webhook_delivery"]
    assert deliveries, "its deliveries, deleted with it by the database (ON DELETE CASCADE), are in the log"
    for gone in deliveries:
        assert (gone.action, (gone.before or {})["endpoint_id"], gone.after) == (
            "webhook_delivery.deleted",
            endpoint,
            None,
        )
    assert {e.target_kind for e in removed.entries} == {"webhook_endpoint", "webhook_delivery"}
    row = removed.row("webhook_endpoint.deleted", endpoint)
    assert row.after is None
    assert (row.before or {})["url"] == "https://psa.example/in"
    assert w.scalars(select(WebhookEndpoint)) == []
