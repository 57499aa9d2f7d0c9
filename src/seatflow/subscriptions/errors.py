"""Subscription errors; each has the stable code the API reports."""

from __future__ import annotations

from seatflow.errors import Conflict, InvalidState, NotFound, ValidationFailed


class SubscriptionNotFound(NotFound):
    code = "not_found"


class AddonParentMissing(ValidationFailed):
    """The add-on has no live parent chain up to a license; the message names the missing ancestor."""

    code = "addon_parent_missing"


class AddonParentInvalid(ValidationFailed):
    code = "addon_parent_invalid"


class AddonParentIsBundle(ValidationFailed):
    code = "addon_parent_is_bundle"


class HasActiveAddons(Conflict):
    code = "has_active_addons"


class LinkedParentLocked(Conflict):
    code = "linked_parent_locked"


class ReductionOutsideWindow(Conflict):
    code = "reduction_outside_window"


class ReductionDisallowed(Conflict):
    code = "reduction_disallowed"


class QuantityOutOfRange(ValidationFailed):
    code = "quantity_out_of_range"


class QuantityInvalid(ValidationFailed):
    """Not a plain whole number (letters, a sign, a decimal point, digits of another script)."""

    code = "quantity_invalid"


class InvalidLink(ValidationFailed):
    code = "invalid_link"


class ProductNotSellable(InvalidState):
    code = "product_not_sellable"


class SubscriptionNotLive(InvalidState):
    code = "subscription_not_live"


class ContractNotActive(InvalidState):
    code = "contract_not_active"


class TermNotOffered(ValidationFailed):
    """The product is not sold in that term and billing plan (SPEC §2)."""

    code = "term_not_offered"


class CoTermInvalid(ValidationFailed):
    """The subscription to co-term with cannot give this one its term end (another tenant, ended, too far)."""

    code = "co_term_invalid"


class CancellationWindowClosed(Conflict):
    """A new-commerce subscription can be cancelled only in the days after its purchase or renewal (SPEC §7);
    after that, it can be set not to renew, and it expires at its term end."""

    code = "cancellation_window_closed"


class ProductSwitchInvalid(ValidationFailed):
    """A subscription renews only on another SKU of the same provider account and kind (SPEC §7, changes at
    renewal)."""

    code = "product_switch_invalid"
