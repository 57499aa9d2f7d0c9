"""The console's customer, contact and contract forms (issue 15 item 2) over HTTP: each through the service the API
uses, a refusal or bad input shown on the form with a plain message and nothing changed."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatflow.contracts.models import BillingContract, BillingPolicy
from seatflow.customers.models import AccountStatus, Contact, ContactStatus, CustomerAccount
from tests.console.conftest import OPERATOR, LoginOn
from tests.console.forms import alert, follow, send
from tests.subscriptions.helpers import PineConeVet


def _count(session: Session, model: type[object]) -> int:
    session.expire_all()
    return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def _customer(session: Session, name: str) -> CustomerAccount:
    session.expire_all()
    return session.scalars(select(CustomerAccount).where(CustomerAccount.name == name)).one()


# --- customers ----------------------------------------------------------------------------------------------


def test_an_operator_creates_a_customer_below_its_parent(session: Session, login_on: LoginOn, vet: PineConeVet) -> None:
    client = login_on(OPERATOR)
    form = client.get(f"/console/customers/new?parent={vet.customer.id}")
    assert form.status_code == 200
    assert f'<option value="{vet.customer.id}" selected>Pine Cone Vet</option>' in form.text
    for label in ("Name", "Parent account", "Tenant", "Currency", "Tax ID", "Address line 1", "Postal code"):
        assert f">{label}</label>" in form.text, label

    created = send(
        client,
        "/console/customers",
        {
            "name": "Pine Cone Vet Nashville",
            "parent_customer_id": str(vet.customer.id),
            "tax_id": "US-12-3456789",
            "line1": "1 Broadway",
            "city": "Nashville",
            "country": "US",
        },
        follow_redirects=False,
    )

    nashville = _customer(session, "Pine Cone Vet Nashville")
    assert created.headers["location"] == f"/console/customers/{nashville.id}"
    assert (nashville.parent_customer_id, nashville.currency, nashville.tax_id) == (
        vet.customer.id,
        "USD",
        "US-12-3456789",
    )
    assert nashville.billing_address["city"] == "Nashville"
    page = follow(client, created)
    assert "Created the customer account Pine Cone Vet Nashville." in page.text
    assert f'<a href="/console/customers/{vet.customer.id}">Pine Cone Vet</a>' in page.text, "its parent in the crumbs"
    assert "Created the customer account" not in client.get(page.url).text, "the notice is shown once"


def test_bad_customer_input_shows_the_form_again_and_creates_nothing(
    session: Session, login_on: LoginOn, vet: PineConeVet
) -> None:
    client = login_on(OPERATOR)
    before = _count(session, CustomerAccount)
    cases = [
        ({"name": "  "}, 422, "Enter name."),
        ({"name": "Bad\x00name"}, 422, "Name holds a character that is not allowed."),
        ({"name": "X" * 301}, 422, "Name is too long: 300 characters at most."),
        ({"name": "Other", "tenant_id": "PINE-CONE-VET-TENANT"}, 409, "is already mapped to 'Pine Cone Vet'"),
        ({"name": "Other", "tenant_id": "has space"}, 422, "Tenant is not in the expected form."),
        ({"name": "Other", "currency": "dollars"}, 422, "Currency"),
        ({"name": "Other", "parent_customer_id": str(uuid.UUID(int=7))}, 404, "No parent customer"),
        ({"name": "Other", "country": "USA"}, 422, "Country (two letters) is too long"),
    ]
    for data, status, message in cases:
        answer = send(client, "/console/customers", data)
        assert answer.status_code == status, (data, answer.text[-2000:])
        assert message in alert(answer.text), (data, alert(answer.text))
        assert 'action="/console/customers"' in answer.text, "the form is shown again"
    assert _count(session, CustomerAccount) == before
    kept = send(client, "/console/customers", {"name": "  ", "city": "Memphis"})
    assert 'value="Memphis"' in kept.text, "what was typed stays in the form"


def test_an_operator_edits_a_customer_and_a_cycle_is_refused(
    session: Session, login_on: LoginOn, vet: PineConeVet
) -> None:
    client = login_on(OPERATOR)
    edit = client.get(f"/console/customers/{vet.customer.id}/edit")
    assert edit.status_code == 200
    assert 'value="Pine Cone Vet"' in edit.text
    child = send(client, "/console/customers", {"name": "Memphis clinic", "parent_customer_id": str(vet.customer.id)})
    assert child.status_code == 303
    memphis = _customer(session, "Memphis clinic")
    assert f'value="{memphis.id}"' not in client.get(f"/console/customers/{vet.customer.id}/edit").text, (
        "an account below is not offered as the parent"
    )

    cycle = send(
        client,
        f"/console/customers/{vet.customer.id}/edit",
        {"name": "Pine Cone Vet", "tenant_id": "pine-cone-vet-tenant", "parent_customer_id": str(memphis.id)},
    )
    assert cycle.status_code == 409
    assert "accounts form a tree" in alert(cycle.text)
    assert _customer(session, "Pine Cone Vet").parent_customer_id is None

    saved = send(
        client,
        f"/console/customers/{memphis.id}/edit",
        {"name": "Pine Cone Vet Memphis", "parent_customer_id": str(vet.customer.id), "status": "inactive"},
    )
    assert "Saved Pine Cone Vet Memphis." in follow(client, saved).text
    renamed = session.get_one(CustomerAccount, memphis.id)
    assert (renamed.name, renamed.status) == ("Pine Cone Vet Memphis", AccountStatus.INACTIVE)


# --- contacts -----------------------------------------------------------------------------------------------


def test_an_operator_invites_a_contact_and_changes_its_roles(
    session: Session, login_on: LoginOn, vet: PineConeVet
) -> None:
    client = login_on(OPERATOR)
    path = f"/console/customers/{vet.customer.id}/contacts"
    assert "No contacts yet." in client.get(path).text

    invited = send(
        client,
        path,
        {"email": "Dana@PineCone.example", "name": "Dana Vet", "roles": ["administrator", "finance_manager"]},
    )

    assert invited.status_code == 200
    assert "Invited Dana Vet (dana@pinecone.example)" in invited.text
    assert "/portal/invitations/" in invited.text, "the link is shown once, as the API answers it"
    session.expire_all()
    contact = session.scalars(select(Contact).where(Contact.customer_id == vet.customer.id)).one()
    assert (contact.email, contact.roles, contact.status) == (
        "dana@pinecone.example",
        ["administrator", "finance_manager"],
        ContactStatus.INVITED,
    )
    assert "/portal/invitations/" not in client.get(path).text, "and never again"

    saved = send(client, f"{path}/{contact.id}", {"roles": ["subscription_manager"], "status": "disabled"})
    assert "Saved Dana Vet&#39;s access." in follow(client, saved).text
    session.expire_all()
    contact = session.get_one(Contact, contact.id)
    assert (contact.roles, contact.status) == (["subscription_manager"], ContactStatus.DISABLED)


def test_bad_contact_input_is_refused_with_a_message(session: Session, login_on: LoginOn, vet: PineConeVet) -> None:
    client = login_on(OPERATOR)
    path = f"/console/customers/{vet.customer.id}/contacts"
    assert (
        send(client, path, {"email": "dana@pinecone.example", "name": "Dana", "roles": ["administrator"]}).status_code
        == 200
    )
    one = {"email": "a@b.example", "name": "A"}
    cases = [
        (one | {"email": "not-an-address", "roles": ["administrator"]}, 422, "E-mail address is not in the expected"),
        (one, 422, "Choose at least one of the roles."),
        (one | {"roles": ["owner"]}, 422, "Choose roles from the list."),
        (one | {"email": "dana@pinecone.example", "roles": ["administrator"]}, 409, "already a contact"),
    ]
    for data, status, message in cases:
        answer = send(client, path, data)
        assert answer.status_code == status, (data, answer.text[-2000:])
        assert message in alert(answer.text), data
    assert _count(session, Contact) == 1
    contact = session.scalars(select(Contact)).one()
    empty = send(client, f"{path}/{contact.id}", {"status": "active"})
    assert empty.status_code == 422
    assert "Choose at least one of the roles." in empty.text
    assert session.get_one(Contact, contact.id).roles == ["administrator"]
    assert send(client, f"{path}/{uuid.UUID(int=7)}", {"roles": ["administrator"]}).status_code == 404


# --- contracts ----------------------------------------------------------------------------------------------


def test_an_operator_creates_a_parent_and_a_child_contract(
    session: Session, login_on: LoginOn, vet: PineConeVet
) -> None:
    client = login_on(OPERATOR)
    form = client.get(f"/console/customers/{vet.customer.id}/contracts/new")
    assert form.status_code == 200
    assert 'value="2026-12-01"' in form.text, "the start defaults to the console's today"
    parent = send(
        client,
        f"/console/customers/{vet.customer.id}/contracts",
        {"name": "Head office licenses", "start_date": "2026-12-01", "term_months": "12", "auto_renew": "1"},
    )
    head = session.scalars(select(BillingContract).where(BillingContract.name == "Head office licenses")).one()
    assert not head.billable, "an unchecked box is false"
    assert "Created the contract Head office licenses." in follow(client, parent).text

    child = send(
        client,
        f"/console/customers/{vet.customer.id}/contracts",
        {
            "name": "Nashville",
            "parent_contract_id": str(head.id),
            "start_date": "2026-12-01",
            "billable": "1",
            "billing_policy": "arrears",
            "tax_rate": "8.875",
            "payment_terms_days": "14",
        },
        follow_redirects=False,
    )

    nashville = session.scalars(select(BillingContract).where(BillingContract.name == "Nashville")).one()
    assert child.headers["location"] == f"/console/customers/{vet.customer.id}#k-{nashville.id}"
    assert (nashville.parent_contract_id, nashville.billable, nashville.billing_policy) == (
        head.id,
        True,
        BillingPolicy.ARREARS,
    )
    assert (nashville.tax_rate, nashville.payment_terms_days, nashville.currency) == (Decimal("0.08875"), 14, "USD")
    page = follow(client, child).text
    assert "Created the child contract Nashville." in page
    assert f'id="k-{nashville.id}"' in page
    assert "parent contract billable" not in page, "a parent contract that is not billable is sound"


def test_bad_contract_input_is_refused_and_creates_nothing(
    session: Session, login_on: LoginOn, vet: PineConeVet
) -> None:
    client = login_on(OPERATOR)
    other = send(client, "/console/customers", {"name": "Birch Dental"})
    assert other.status_code == 303
    birch = _customer(session, "Birch Dental")
    birch_contract = send(
        client, f"/console/customers/{birch.id}/contracts", {"name": "Main", "start_date": "2026-12-01"}
    )
    assert birch_contract.status_code == 303
    foreign = session.scalars(select(BillingContract).where(BillingContract.customer_id == birch.id)).one()
    before = _count(session, BillingContract)
    path = f"/console/customers/{vet.customer.id}/contracts"
    x = {"name": "X", "start_date": "2026-12-01"}
    cases = [
        (x | {"start_date": "tomorrow"}, 422, "Enter the start date as YYYY-MM-DD"),
        (x | {"tax_rate": "abc"}, 422, "Enter the tax rate as a percentage"),
        (x | {"tax_rate": "101"}, 422, "Enter the tax rate as a percentage"),
        (x | {"term_months": "0"}, 422, "the term in months as a whole number from 1 to 120"),
        (x | {"billing_frequency": "weekly"}, 422, "Choose billing frequency from the list."),
        (x | {"name": ""}, 422, "Enter name."),
        (x | {"parent_contract_id": str(foreign.id)}, 422, "belongs to another customer"),
    ]
    for data, status, message in cases:
        answer = send(client, path, data)
        assert answer.status_code == status, (data, answer.text[-2000:])
        assert message in alert(answer.text), (data, alert(answer.text))
    assert _count(session, BillingContract) == before


def test_an_operator_edits_a_contract(session: Session, login_on: LoginOn, vet: PineConeVet) -> None:
    client = login_on(OPERATOR)
    memphis = vet.locations["Memphis"].contract
    form = client.get(f"/console/contracts/{memphis.id}/edit")
    assert form.status_code == 200
    assert f'<option value="{vet.parent_contract.id}" selected>' in form.text
    saved = send(
        client,
        f"/console/contracts/{memphis.id}/edit",
        {
            "name": "Pine Cone Vet - Memphis (Poplar Ave)",
            "parent_contract_id": str(vet.parent_contract.id),
            "billing_frequency": "monthly",
            "billing_policy": "advance",
            "proration_unit": "days",
            "term_months": "12",
            "payment_terms_days": "45",
            "tax_rate": "9.25",
            "billable": "1",
            "auto_renew": "1",
            "status": "active",
        },
    )
    assert "Saved Pine Cone Vet - Memphis (Poplar Ave)." in follow(client, saved).text
    session.expire_all()
    contract = session.get_one(BillingContract, memphis.id)
    assert (contract.payment_terms_days, contract.tax_rate) == (45, Decimal("0.0925"))
    refused = send(
        client, f"/console/contracts/{memphis.id}/edit", {"name": "X", "parent_contract_id": str(memphis.id)}
    )
    assert refused.status_code == 409, refused.text[-2000:]
    assert "above itself" in alert(refused.text)
