"""The Partner Center simulator (SPEC §10): a local HTTP server speaking the subset of the Partner Center REST API
that seatflow uses, with Microsoft's rules and fault injection.

It owns offers, customer tenants, orders and subscriptions in memory. Its invariants are Partner Center's: an
add-on needs an active parent of one of its prerequisite offers on the same customer; seats may be reduced only
within 168 hours of buying them and a subscription cancelled only within 7 days of its term's start; quantities
stay within the offer's limits; an order is all or nothing; a repeated ``MS-RequestId`` replays the first answer.
seatflow's Partner Center client talks to it over HTTP and cannot tell it from the real service.
"""

from seatflow.simulator.server import SimulatorServer
from seatflow.simulator.state import SimulatorState

__all__ = ["SimulatorServer", "SimulatorState"]
