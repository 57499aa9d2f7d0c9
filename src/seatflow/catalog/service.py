"""Products and their possible parents.

Services never commit; the caller's unit of work does. Every rule that needs no database lives in
``rules.py``; this module loads, checks, changes and flushes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from seatflow.catalog import repository
from seatflow.catalog.errors import (
    CatalogCycle,
    DuplicateOffer,
    DuplicateProvisioningId,
    InvalidProduct,
    ParentNotAllowed,
    ProductInUse,
    ProductNotFound,
    ProductRetired,
    TermNotOffered,
)
from seatflow.catalog.models import (
    BillingFrequency,
    BillingPlan,
    CatalogStatus,
    Product,
    ProductKind,
    ProductParent,
    ProductPlan,
    ReductionBehavior,
    Term,
)
from seatflow.catalog.providers import require_provider_account
from seatflow.catalog.rules import (
    DEFAULT_REDUCTION_WINDOW_DAYS,
    ProductShape,
    check_parent_kinds,
    check_plans,
    check_product_shape,
    cycle_if_added,
    is_priced_per_gigabyte,
    not_purchasable_reason,
    plan_key,
    plan_text,
)
from seatflow.catalog.schemas import CatalogProblem, PlanIn, ProductCreate, ProductFields, ProductUpdate, sorted_plans
from seatflow.db.sequences import allocate
from seatflow.ids import parse_id

PRODUCT_CODE_COUNTER = "product_code"


def format_product_code(number: int) -> str:
    return f"P-{number:05d}"


def label(product: Product) -> str:
    return f"{product.name} ({product.product_code})"


def require_product(session: Session, ref: str, *, for_update: bool = False) -> Product:
    """By id, by product code (``P-00012``), or by an offer or provisioning ID that names one product."""
    product_id = parse_id(ref)
    product = repository.get_product(session, product_id, for_update=for_update) if product_id is not None else None
    if product is None:  # offer IDs are GUIDs too: a GUID that is no product's id may still be one's offer ID
        product = repository.product_by_code(session, ref.strip().upper())
        if product is None:
            matches = repository.products_by_key(session, ref.strip())
            if len(matches) > 1:
                raise ProductNotFound(f"{ref!r} names {len(matches)} products: use a product code or id.")
            product = matches[0] if matches else None
    if product is None:
        raise ProductNotFound(f"No product {ref!r}.")
    return product


def refreshed(session: Session, product: Product) -> Product:
    """The product with its parents reloaded after the graph changed."""
    session.flush()
    session.expire(product, ["parents"])
    found = repository.get_product(session, product.id)
    if found is None:  # pragma: no cover - the row was just flushed in this transaction
        raise LookupError(product.id)
    return found


def _check_unique_keys(
    session: Session,
    *,
    account_id: uuid.UUID,
    offer_id: str | None,
    provisioning_id: str | None,
    current: Product | None,
) -> None:
    if offer_id is not None:
        other = repository.product_by_offer(session, account_id, offer_id)
        if other is not None and other is not current:
            raise DuplicateOffer(
                f"Offer ID {offer_id} is already used by {label(other)} in this provider account.",
                existing_product_id=str(other.id),
            )
    if provisioning_id is not None:
        other = repository.product_by_provisioning_id(session, account_id, provisioning_id)
        if other is not None and other is not current:
            raise DuplicateProvisioningId(
                f"Provisioning ID {provisioning_id} is already used by {label(other)} in this provider account.",
                existing_product_id=str(other.id),
            )


def _shape(product: Product) -> ProductShape:
    return ProductShape(
        kind=product.kind,
        unit=product.unit,
        description=product.description,
        assignable_to_users=product.assignable_to_users,
        min_quantity=product.min_quantity,
        max_quantity=product.max_quantity,
        term=product.term,
        billing_frequency=product.billing_frequency,
        reduction_behavior=product.reduction_behavior,
        reduction_window_days=product.reduction_window_days,
    )


def _apply_fields(product: Product, data: ProductFields, sent: set[str]) -> None:
    for name in sent - {"plans"}:
        setattr(product, name, getattr(data, name))
    # The window belongs to allowed_within_window: default it there, drop it when the behaviour leaves it.
    if product.reduction_behavior is ReductionBehavior.ALLOWED_WITHIN_WINDOW:
        if product.reduction_window_days is None:
            product.reduction_window_days = DEFAULT_REDUCTION_WINDOW_DAYS
    elif "reduction_behavior" in sent and "reduction_window_days" not in sent:
        product.reduction_window_days = None


# --- terms and billing plans (SPEC §2) ---------------------------------------------------------------------------

PlanRow = tuple[Term, BillingPlan, Decimal | None, Decimal | None]


def _plan_rows(plans: Sequence[ProductPlan]) -> list[PlanRow]:
    return [(p.term, p.billing_plan, p.list_price, p.cost_price) for p in sorted_plans(list(plans))]


def _default_in(rows: Sequence[PlanRow], term: Term | None, billing: BillingFrequency | None) -> PlanRow | None:
    """The first combination with this term and billing (either may be left open) that a product's default can
    be: its ``billing_frequency`` has no triennial."""
    for row in rows:
        if row[1] is BillingPlan.TRIENNIAL:
            continue
        if (term is None or row[0] is term) and (billing is None or row[1].value == billing.value):
            return row
    return None


def _listed(rows: Sequence[PlanRow]) -> str:
    return ", ".join(plan_text(row[0], row[1]) for row in sorted(rows, key=lambda row: plan_key(row[0], row[1])))


def _stated_plans(
    product: Product,
    plans: list[PlanIn],
    sent: set[str],
    data: ProductFields,
    old_default: tuple[Term, BillingPlan] | None,
) -> tuple[list[PlanRow], PlanRow]:
    """The plans a request lists, and the default among them: the one ``term``/``billing_frequency`` name, else the
    current default if still listed (on an update), else the first listed. ``list_price``/``cost_price`` sent along
    must be the default plan's."""
    rows: list[PlanRow] = [(p.term, p.billing_plan, p.list_price, p.cost_price) for p in plans]
    check_plans(product.kind, [(row[0], row[1]) for row in rows], product.name)
    if sent & {"term", "billing_frequency"}:
        default = _default_in(
            rows,
            data.term if "term" in sent else None,
            data.billing_frequency if "billing_frequency" in sent else None,
        )
        if default is None:
            asked = " ".join(str(getattr(data, name).value) for name in ("term", "billing_frequency") if name in sent)
            raise TermNotOffered(
                f"{product.name}: the default combination ({asked}) is not in plans ({_listed(rows)}); term and "
                "billing_frequency name the default among them."
            )
    else:
        default = None
        if old_default is not None:
            default = _default_in(rows, old_default[0], BillingFrequency(old_default[1].value))
        default = default or _default_in(rows, None, None)
        if default is None:
            raise InvalidProduct(
                f"{product.name} is sold only billed triennially: list a combination billed monthly or annually "
                "too, to be its default."
            )
    for name, index in (("list_price", 2), ("cost_price", 3)):
        if name in sent and getattr(data, name) != default[index]:
            raise InvalidProduct(
                f"{product.name}: {name} is the default plan's ({plan_text(default[0], default[1])}: "
                f"{default[index]}), not {getattr(data, name)}; set prices in plans.",
                field=name,
            )
    return rows, default


def _resolve_plans(
    product: Product,
    data: ProductFields,
    sent: set[str],
    *,
    old_default: tuple[Term, BillingPlan] | None,
) -> None:
    """Make ``product.plans`` and the default combination (``term``, ``billing_frequency``, ``list_price``,
    ``cost_price``) agree, after ``_apply_fields`` set what the request sent. ``old_default`` is the default before
    an update (None on create).

    With ``plans`` the request states every combination. Without, a product sold in one combination keeps it in
    step with its fields, as before products had plans (changing its term changes that combination); one sold in
    several moves its default to another of them (``term_not_offered`` if not listed) and the prices sent are the
    default plan's."""
    wanted_default = (product.term, BillingPlan(product.billing_frequency.value))
    if data.plans is not None and "plans" in sent:
        rows, default = _stated_plans(product, data.plans, sent, data, old_default)
    else:
        current = _plan_rows(product.plans) if old_default is not None else []
        if len(current) <= 1:
            rows = [(*wanted_default, product.list_price, product.cost_price)]
            default = rows[0]
        else:
            found = next((row for row in current if (row[0], row[1]) == wanted_default), None)
            if found is None:
                raise TermNotOffered(
                    f"{product.name} is not sold as {plan_text(*wanted_default)}; its plans are {_listed(current)}: "
                    "add the combination to plans first."
                )
            prices = (
                product.list_price if "list_price" in sent else found[2],
                product.cost_price if "cost_price" in sent else found[3],
            )
            default = (found[0], found[1], *prices)
            rows = [default if row is found else row for row in current]
        check_plans(product.kind, [(row[0], row[1]) for row in rows], product.name)
    product.term, product.billing_frequency = default[0], BillingFrequency(default[1].value)
    product.list_price, product.cost_price = default[2], default[3]
    _set_plans(product, rows)


def _set_plans(product: Product, rows: Sequence[PlanRow]) -> None:
    """Update the combinations in place (their key is the product, term and plan), add new ones, drop the rest."""
    current = {(plan.term, plan.billing_plan): plan for plan in product.plans}
    kept: list[ProductPlan] = []
    for term, billing_plan, list_price, cost_price in rows:
        plan = current.get((term, billing_plan)) or ProductPlan(term=term, billing_plan=billing_plan)
        plan.list_price, plan.cost_price = list_price, cost_price
        kept.append(plan)
    if [id(p) for p in kept] != [id(p) for p in product.plans]:
        product.plans = kept


def create_product(session: Session, *, data: ProductCreate, default_currency: str) -> Product:
    """Raises DuplicateOffer/DuplicateProvisioningId, PerGigabyteAssignable, CatalogCycle, NotFound."""
    account = require_provider_account(session, data.provider_account_id)
    _check_unique_keys(
        session,
        account_id=account.id,
        offer_id=data.offer_id,
        provisioning_id=data.provisioning_id,
        current=None,
    )
    sent = {name for name in data.model_fields_set if name in ProductFields.model_fields}
    sent -= {name for name in sent if getattr(data, name) is None}
    product = Product(
        provider_account_id=account.id,
        kind=data.kind,
        name=data.name,
        description="",
        unit="license",
        min_quantity=1,
        term=Term.P1M,
        billing_frequency=BillingFrequency.MONTHLY,
        reduction_behavior=ReductionBehavior.ALLOWED,
        portal_enabled=True,
        currency=default_currency,
        service_plans=[],
    )
    _apply_fields(product, data, sent)
    if "assignable_to_users" not in sent:
        product.assignable_to_users = not is_priced_per_gigabyte(product.unit, product.description)
    check_product_shape(_shape(product))
    _resolve_plans(product, data, sent, old_default=None)
    product.product_code = format_product_code(allocate(session, PRODUCT_CODE_COUNTER))
    session.add(product)
    product = refreshed(session, product)  # loads the (empty) parents that set_parents reads
    if data.parent_product_ids:
        parents = [require_product(session, ref) for ref in data.parent_product_ids]
        product = set_parents(session, product=product, parents=parents)
    return refreshed(session, product)


def update_product(session: Session, *, product: Product, data: ProductUpdate) -> Product:
    sent = {name for name in data.model_fields_set if name in ProductFields.model_fields}
    nullable = {
        "offer_id",
        "provisioning_id",
        "sku_id",
        "max_quantity",
        "list_price",
        "cost_price",
        "reduction_window_days",
    }
    for name in list(sent):
        if getattr(data, name) is None and name not in nullable:
            sent.discard(name)  # null for a required field means "leave as is"
    _check_unique_keys(
        session,
        account_id=product.provider_account_id,
        offer_id=data.offer_id if "offer_id" in sent else None,
        provisioning_id=data.provisioning_id if "provisioning_id" in sent else None,
        current=product,
    )
    old_default = (product.term, BillingPlan(product.billing_frequency.value))
    if data.kind is not None and data.kind is not product.kind:
        _check_kind_change(session, product=product, kind=data.kind)
        product.kind = data.kind
    with session.no_autoflush:
        _apply_fields(product, data, sent)
        check_product_shape(_shape(product))
        _resolve_plans(product, data, sent, old_default=old_default)
    session.flush()
    return refreshed(session, product)


def _check_kind_change(session: Session, *, product: Product, kind: ProductKind) -> None:
    if repository.uses_elsewhere(session, product.id):
        raise ProductInUse(f"{label(product)} has subscriptions: its kind can no longer change.")
    bundles = repository.bundles_using(session, product.id)
    if bundles:
        names = ", ".join(repr(b.name) for b in bundles)
        raise ProductInUse(f"{label(product)} is in the bundle(s) {names}: its kind cannot change while it is.")
    if kind is not ProductKind.ADDON and product.parents:
        raise ParentNotAllowed(f"{label(product)} has possible parents; remove them before making it a {kind.value}.")
    if kind is ProductKind.SERVICE and repository.children_of(session, product.id):
        raise ParentNotAllowed(f"{label(product)} is a possible parent of add-ons; a service cannot be one.")


def add_parent(session: Session, *, product: Product, parent: Product) -> Product:
    """Idempotent; refuses a parent of another provider account, a retired parent and any cycle."""
    check_parent_kinds(product.kind, parent.kind, label(product), label(parent))
    if parent.provider_account_id != product.provider_account_id:
        raise ParentNotAllowed(f"{label(parent)} belongs to another provider account than {label(product)}.")
    if parent.status is CatalogStatus.RETIRED:
        raise ProductRetired(f"{label(parent)} is retired and cannot become a parent.")
    if any(p.id == parent.id for p in product.parents):
        return product
    graph = repository.parent_graph(session, product.provider_account_id)
    cycle = cycle_if_added(graph, product.id, parent.id)
    if cycle is not None:
        names = repository.product_names(session, cycle)
        path = " → ".join(names[pid] for pid in cycle)
        raise CatalogCycle(
            f"{parent.name} cannot be a parent of {product.name}: it would close the cycle {path}.",
            cycle=[str(pid) for pid in cycle],
        )
    session.execute(insert(ProductParent).values(product_id=product.id, parent_product_id=parent.id))
    return refreshed(session, product)


def remove_parent(session: Session, *, product: Product, parent: Product) -> Product:
    if not any(p.id == parent.id for p in product.parents):
        raise ProductNotFound(f"{label(parent)} is not a possible parent of {label(product)}.")
    bundles = repository.bundles_hanging(session, product.id, parent.id)
    if bundles:
        raise ProductInUse(
            f"{', '.join(repr(b) for b in bundles)} hang(s) {product.name} under {parent.name}: change the bundle "
            "first.",
            uses=[f"bundle {b!r}" for b in bundles],
        )
    session.execute(
        delete(ProductParent).where(
            ProductParent.product_id == product.id, ProductParent.parent_product_id == parent.id
        )
    )
    return refreshed(session, product)


def set_parents(session: Session, *, product: Product, parents: Iterable[Product]) -> Product:
    """Make ``parents`` exactly the possible parents (catalog documents state the whole set)."""
    wanted = {p.id: p for p in parents}
    for current in list(product.parents):
        if current.id not in wanted:
            product = remove_parent(session, product=product, parent=current)
    for parent in wanted.values():
        product = add_parent(session, product=product, parent=parent)
    return product


def retire_product(session: Session, *, product: Product, now: datetime) -> Product:
    """A retired product is kept (subscriptions and history refer to it) but can no longer be sold."""
    if product.status is not CatalogStatus.RETIRED:
        product.status = CatalogStatus.RETIRED
        product.retired_at = now
        session.flush()
    return product


def reactivate_product(session: Session, *, product: Product) -> Product:
    product.status = CatalogStatus.ACTIVE
    product.retired_at = None
    session.flush()
    return product


def catalog_problems(session: Session) -> list[CatalogProblem]:
    """Every active product that cannot be bought at its provider or sold at all, by product code."""
    problems: list[CatalogProblem] = []
    for product in repository.all_products(session):
        if product.status is not CatalogStatus.ACTIVE:
            continue
        found = []
        reason = not_purchasable_reason(product.provider_account.kind, product.offer_id)
        if reason is not None:
            found.append(("product_not_purchasable", reason))
        if product.kind is ProductKind.ADDON and not product.parents:
            found.append(("addon_without_parents", "An add-on without possible parents cannot be sold: add one."))
        problems += [
            CatalogProblem(
                code=code,
                detail=f"{label(product)}: {detail}",
                product_id=str(product.id),
                product_code=product.product_code,
            )
            for code, detail in found
        ]
    return problems


def product_usage(session: Session, product: Product) -> list[str]:
    """Where the product is used; a used product can only be retired."""
    uses = [f"bundle {bundle.name!r}" for bundle in repository.bundles_using(session, product.id)]
    for table, count in repository.uses_elsewhere(session, product.id).items():
        uses.append(f"{count} {table.replace('_', ' ').removesuffix('s')}(s)")
    uses += [f"possible parent of {label(child)}" for child in repository.children_of(session, product.id)]
    return uses


def delete_product(session: Session, *, product: Product) -> None:
    uses = product_usage(session, product)
    if uses:
        raise ProductInUse(f"{label(product)} is in use ({'; '.join(uses)}): retire it instead.", uses=uses)
    session.execute(delete(ProductParent).where(ProductParent.product_id == product.id))
    session.delete(product)
    session.flush()
