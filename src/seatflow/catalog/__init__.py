"""The catalog: provider accounts, the products they offer, the add-on graph and bundles.

Invariants: one product per offer ID and per provisioning ID within a provider account; only add-ons have
possible parents, and the parent graph is acyclic; an add-on priced per gigabyte is never assignable to
users; an add-on without parents, a retired product, or a bundle holding one is not sellable; a product
that is used anywhere is retired, never deleted.
"""
