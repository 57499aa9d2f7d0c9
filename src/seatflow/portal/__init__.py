"""The customer self-service portal (SPEC §3, §6, §10): server-rendered pages under ``/portal``."""
