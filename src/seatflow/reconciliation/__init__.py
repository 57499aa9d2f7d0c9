"""Reconciliation (SPEC §9): what the provider holds against what seatflow holds, and the fixes."""
