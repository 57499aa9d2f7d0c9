"""The Partner Center simulator (SPEC §10): a local HTTP server speaking the subset of the Partner Center REST API
that seatflow uses, with Microsoft's rules and fault injection.

It owns offers, customer tenants, carts, orders and subscriptions in memory. It sells as Partner Center does now,
through new commerce (the catalog of products, SKUs and availabilities; carts and their idempotent checkout, or an
order of catalog items; NCE subscriptions changed by a PATCH of the full resource with an etag), and still through
legacy orders (``/v1/customers/{id}/orders``, add-ons on a parent subscription) for a legacy offer seeded as
``isAvailableForPurchase`` (Microsoft stopped selling them: one that is not is refused with 2091, or 500600 in a
cart). Its invariants are Partner Center's: a legacy add-on needs an active parent of one
of its prerequisite offers, an NCE add-on a prerequisite SKU active on the tenant (400041); seats may be reduced only
within 168 hours of buying them, batch by batch, and a subscription cancelled only within 7 days of its term's start;
quantities stay within the offer's limits; a legacy order is all or nothing, a cart fails line by line; a repeated
``MS-RequestId`` replays the first answer; terms renew on the simulator's clock, applying their scheduled changes, or
expire. It bills what it does as Microsoft does: a reconciliation line per charge of a new-commerce subscription
(``new``, ``cycleCharge``, ``renew``, ``addQuantity``, ``removeQuantity``, ``cancelImmediate``; charges.py), priced from
its own price sheet, closed into invoices by a control path and served on the invoice line item paths (invoices.py).
seatflow's Partner Center client talks to it over HTTP and cannot tell it from the real service.
"""

from seatflow.simulator.server import SimulatorServer
from seatflow.simulator.state import SimulatorState

__all__ = ["SimulatorServer", "SimulatorState"]
