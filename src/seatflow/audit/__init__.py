"""The audit log (SPEC §17): who did what to which record, when, from where, and what it was before and after.

Every write an operator (API key, console, CLI) or a portal contact makes is a row of ``audit_log``, written in
the transaction of the write itself, so an action and its audit row commit or roll back together. Nobody has to
remember to write it: the adapters attach an ``AuditScope`` (who, from where) to the session of the request or
command, and a flush hook (``recorder``) turns every insert, update and delete of an audited table into a row.
A session without a scope (the worker, the demo loader, tests' own sessions) records nothing, deliberately.
See ``recorder`` for the rules and ``docs/events.md`` for the reader's view.
"""
