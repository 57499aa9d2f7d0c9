"""Provisioning (SPEC §7): the providers, the worker that sends every license change to its provider exactly
once and in order, and the operator's queue (requeue, confirm)."""
