"""The operator console (SPEC §10): catalog, customers and contract trees, subscriptions and their change
logs, the provisioning queue, billing, reconciliation; server-rendered pages under ``/console``."""
