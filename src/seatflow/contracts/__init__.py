"""Billing contracts.

A contract belongs to a customer account; a child contract's parent belongs to the same account or an
ancestor account, and contract parents never form a cycle. A parent contract of linked subscriptions
provisions with the provider and is normally non-billable; its child contracts (one per location) bill.
"""
