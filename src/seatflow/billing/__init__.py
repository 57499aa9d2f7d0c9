"""Billing (SPEC §8): cycles, billing runs, invoices with recurring and prorated lines, PDF and CSV."""
