"""Identity in one place (SPEC §10, §17; issue 15): who may call seatflow, and the one implementation of what
proves it.

- ``service``: the API's keys (256-bit random, only their SHA-256 stored; shown once).
- ``passwords``: argon2id hashing, the password rule, and equal time for unknown addresses.
- ``tokens``: random tokens and their hashes (session cookies, invitation and reset links), HMAC signing with the
  instance's key (``signing``).
- ``throttle``: failed logins counted per address and per client address, serialized on PostgreSQL.
- ``sessions``: login sessions of operators and of contacts (one store, two tables).
- ``operators``: the console's people (operators, their roles, logins).

Contacts' own rules (invitations, revoking, roles) are the customers domain's (``seatflow.customers``), built on
these; the web surfaces' cookies and CSRF checks are ``seatflow.web.identity``.
"""
