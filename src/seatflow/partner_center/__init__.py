"""A client for the subset of Microsoft's Partner Center REST API that seatflow uses (orders, subscriptions,
customers); the simulator (``seatflow.simulator``) answers the same paths locally."""
