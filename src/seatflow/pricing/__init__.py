"""Pricing (SPEC §15): Microsoft's new-commerce price sheet (cost and ERP per product key, term, billing plan,
market and currency, with effective dates) and, later, the price rules that read it."""
