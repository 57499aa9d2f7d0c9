"""Linked subscriptions (SPEC §5): linking, unlinking and the setup check of a parent/child setup."""

from __future__ import annotations

from sqlalchemy.orm import Session

from seatflow.catalog import repository as catalog_repository
from seatflow.catalog.models import ProviderAccount, ProviderKind
from seatflow.catalog.providers import require_provider_account
from seatflow.contracts.models import BillingContract
from seatflow.contracts.schemas import SetupProblem
from seatflow.contracts.service import child_contracts
from seatflow.subscriptions import repository
from seatflow.subscriptions.errors import InvalidLink
from seatflow.subscriptions.models import Subscription


def _product_name(session: Session, subscription: Subscription) -> str:
    product = catalog_repository.get_product(session, subscription.product_id)
    return product.name if product else str(subscription.product_id)


def check_link(session: Session, *, child: Subscription, child_contract: BillingContract, target: Subscription) -> None:
    """A child links to the same product's subscription on its contract's parent contract, one level only."""
    if target.id == child.id:
        raise InvalidLink("A subscription cannot be linked to itself.")
    if target.product_id != child.product_id:
        raise InvalidLink(
            f"Linked subscriptions must be of the same product: {_product_name(session, child)} cannot link to "
            f"{_product_name(session, target)}."
        )
    if child_contract.parent_contract_id != target.contract_id:
        raise InvalidLink("The subscription to link to must be on the parent contract of this subscription's contract.")
    if target.linked_subscription_id is not None:
        raise InvalidLink("That subscription is itself linked to another: links are one level only.")
    if child.id is not None and repository.linked_children(session, child.id):
        raise InvalidLink("This subscription has linked children of its own: links are one level only.")
    if target.status not in repository.LIVE:
        raise InvalidLink(f"The subscription to link to is {target.status.value}.")


def link(
    session: Session, *, subscription: Subscription, target: Subscription, account: ProviderAccount
) -> Subscription:
    """Record the link and switch to the linked provider. Nothing is pushed: the setup check reports any
    difference between the parent and its children's sum."""
    if account.kind is not ProviderKind.LINKED:
        raise InvalidLink(f"{account.name!r} is a {account.kind.value} provider account, not a linked one.")
    if subscription.status not in repository.NOT_CANCELLED:
        raise InvalidLink("A cancelled subscription cannot be linked.")
    contract = session.get(BillingContract, subscription.contract_id)
    assert contract is not None  # noqa: S101 - a foreign key guarantees it
    check_link(session, child=subscription, child_contract=contract, target=target)
    subscription.linked_subscription_id = target.id
    subscription.provider_account_id = account.id
    session.flush()
    return subscription


def unlink(session: Session, *, subscription: Subscription, account_ref: str | None) -> Subscription:
    """Back to a do-nothing provider; pushes nothing."""
    if subscription.linked_subscription_id is None:
        raise InvalidLink("The subscription is not linked.")
    if account_ref:
        account = require_provider_account(session, account_ref)
    else:
        accounts = [a for a in catalog_repository.all_provider_accounts(session) if a.kind is ProviderKind.DO_NOTHING]
        if not accounts:
            raise InvalidLink("There is no do_nothing provider account to move the subscription to: create one.")
        account = accounts[0]
    if account.kind is not ProviderKind.DO_NOTHING:
        raise InvalidLink(f"{account.name!r} is not a do_nothing provider account.")
    subscription.linked_subscription_id = None
    subscription.provider_account_id = account.id
    session.flush()
    return subscription


def setup_check(session: Session, contract: BillingContract) -> list[SetupProblem]:
    """Every problem of the linked setup around ``contract`` (as parent, and as a child of its parent)."""
    problems = _check_as_parent(session, contract)
    if contract.parent_contract_id is not None:
        parent = session.get(BillingContract, contract.parent_contract_id)
        assert parent is not None  # noqa: S101
        mine = repository.on_contracts(session, [contract.id])
        # This location's subscriptions, and the parents they are linked to (a sum mismatch is reported there).
        relevant = {str(s.id) for s in mine} | {str(s.linked_subscription_id) for s in mine if s.linked_subscription_id}
        problems += [p for p in _check_as_parent(session, parent) if p.subscription_id in relevant]
    return problems


def _check_as_parent(session: Session, contract: BillingContract) -> list[SetupProblem]:
    problems: list[SetupProblem] = []
    parents = repository.on_contracts(session, [contract.id])
    children_contracts = child_contracts(session, contract.id)
    child_contract_ids = {c.id for c in children_contracts}
    parent_by_product = {s.product_id: s for s in parents}
    has_links = False
    for parent in parents:
        name = _product_name(session, parent)
        children = repository.linked_children(session, parent.id)
        if not children:
            continue
        has_links = True
        total = sum(c.quantity for c in children)
        if total != parent.quantity:
            problems.append(
                SetupProblem(
                    code="children_sum_mismatch",
                    subscription_id=str(parent.id),
                    detail=f"{name}: the parent holds {parent.quantity}, its linked children add up to {total} "
                    f"(difference {parent.quantity - total:+d}).",
                )
            )
        if parent.allow_end_user_modification:
            problems.append(
                SetupProblem(
                    code="parent_open_to_end_users",
                    subscription_id=str(parent.id),
                    detail=f"{name} on the parent contract allows end-user modification: turn it off so the portal "
                    "changes only the children.",
                )
            )
        for child in children:
            if child.product_id != parent.product_id:
                problems.append(
                    SetupProblem(
                        code="child_wrong_product",
                        subscription_id=str(child.id),
                        detail=f"A child of {name} is a {_product_name(session, child)} subscription.",
                    )
                )
            if child.contract_id not in child_contract_ids:
                problems.append(
                    SetupProblem(
                        code="child_contract_not_child",
                        subscription_id=str(child.id),
                        detail=f"A child of {name} is on a contract that is not a child of the parent contract.",
                    )
                )
    for child in repository.on_contracts(session, list(child_contract_ids)):
        if child.linked_subscription_id is not None or child.product_id not in parent_by_product:
            continue
        account = session.get(ProviderAccount, child.provider_account_id)
        if account is not None and account.kind in (ProviderKind.PARTNER_CENTER, ProviderKind.MANUAL):
            problems.append(
                SetupProblem(
                    code="child_on_automatic_provider",
                    subscription_id=str(child.id),
                    detail=f"{_product_name(session, child)} on a child contract provisions with {account.name!r} "
                    "instead of being linked: it would buy extra licenses on the tenant. Link it, or move it to a "
                    "do_nothing provider.",
                )
            )
    if (has_links or children_contracts) and contract.billable and parents:
        problems.append(
            SetupProblem(
                code="parent_contract_billable",
                subscription_id=None,
                detail=f"The parent contract {contract.name!r} is billable: it would invoice the licenses its children "
                "already bill.",
            )
        )
    return problems
