"""The catalog's errors; each has the stable code the API reports."""

from __future__ import annotations

from seatflow.errors import Conflict, InvalidState, NotFound, ValidationFailed


class ProductNotFound(NotFound):
    code = "not_found"


class ProviderAccountNotFound(NotFound):
    code = "not_found"


class BundleNotFound(NotFound):
    code = "not_found"


class DuplicateOffer(Conflict):
    code = "duplicate_offer"


class DuplicateProvisioningId(Conflict):
    code = "duplicate_provisioning_id"


class DuplicateName(Conflict):
    code = "duplicate_name"


class CatalogCycle(Conflict):
    code = "catalog_cycle"


class ProductInUse(Conflict):
    code = "product_in_use"


class ProductRetired(InvalidState):
    code = "product_retired"


class ProviderKindChange(Conflict):
    code = "provider_kind_locked"


class PerGigabyteAssignable(ValidationFailed):
    code = "per_gb_assignable"


class ParentNotAllowed(ValidationFailed):
    code = "parent_not_allowed"


class InvalidProduct(ValidationFailed):
    code = "validation_failed"


class TermNotOffered(ValidationFailed):
    """A term and billing plan the product cannot be sold in (SPEC §2): not a new-commerce combination for a
    license or add-on, billing longer than the term, or not among the product's plans."""

    code = "term_not_offered"


class DuplicatePlan(ValidationFailed):
    code = "duplicate_plan"


class ProductNotPurchasable(InvalidState):
    """A ``partner_center`` product without a new-commerce ``productId:skuId`` offer ID (SPEC §2)."""

    code = "product_not_purchasable"


class InvalidBundle(ValidationFailed):
    code = "invalid_bundle"


class InvalidProviderSettings(ValidationFailed):
    code = "invalid_provider_settings"


class ImportInvalid(ValidationFailed):
    """A catalog import that cannot be read; ``line`` names where (1-based), when known."""

    code = "import_invalid"
