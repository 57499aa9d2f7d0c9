"""A client for the subset of Microsoft's Partner Center REST API that seatflow uses: customers (paged), the
catalog's availabilities, carts and checkout, orders and subscriptions (GET, and PATCH of the full resource with
an etag). ``client`` speaks HTTP, ``purchases`` and ``subscriptions`` read and build Microsoft's resources,
``errors`` classifies failures; the simulator (``seatflow.simulator``) answers the same paths locally."""
