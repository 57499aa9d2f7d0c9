"""Operator API keys. A key is shown once when created; only its SHA-256 hash is stored.

Keys are 256-bit random tokens, so a plain (unsalted) hash is enough to make a stolen table useless and
lets a request be checked with one indexed lookup.
"""
