"""Subscriptions, their add-on trees and links, and the license change log.

Invariants: an add-on subscription's parent is a live subscription of one of its possible parent products
on the same tenant, and its chain of parents reaches a license; a linked child is linked to the
subscription of the same product on its contract's parent contract, one level only; once settled a linked
parent's quantity is the sum of its linked children's. Every change is a license change row, never
deleted; a child's change and the parent change it pushes up are written in one transaction, joined by
``caused_by_change_id``.
"""
