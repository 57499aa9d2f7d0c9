"""Events (SPEC §17): the outbox, operators' webhook endpoints, and delivering events to them and by mail.

A use case that causes an event writes it as a row of ``outbox_events`` in its own transaction (``outbox.emit``):
the event exists exactly when what caused it was committed. The worker fans each event out to the active endpoints
that chose its type (and, for the types the operator's mail setting names, to that address), then delivers every
due delivery with no transaction open, signed as Standard Webhooks sign (``signing``), at least once, retried with
exponential backoff until delivered or dead (``delivery``). This package imports no other domain: the producers
(subscriptions, provisioning, billing, reconciliation, margin) import it.
"""
