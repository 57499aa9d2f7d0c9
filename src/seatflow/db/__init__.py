"""Database plumbing: the declarative base, column types, engines, sessions and migrations."""
