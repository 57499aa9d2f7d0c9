"""What Microsoft bills the reseller (SPEC §16): the new-commerce reconciliation line items, billed per invoice and
unbilled for the current or previous period, imported from Microsoft's CSV (``reconfile``) or read from Partner
Center (``fetch``), idempotently (``service``). Each charge is counted once: a line is *in force* until a later
unbilled import replaces it or a billed line supersedes it (``models.CostLine``, ``service.lines_in_force``)."""
