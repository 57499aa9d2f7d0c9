"""Customer accounts and their contacts.

Accounts form a tree (organizations with locations, franchises, departments); an account may be mapped to
a provider tenant (one account per tenant). An account's tenant for provisioning is its own, or that of
the nearest ancestor that has one. Contacts are the people who may use the portal, each with roles.
"""
