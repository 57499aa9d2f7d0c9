"""What several benchmark scripts share (they run as scripts, so this folder is on their import path)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url


def copy_sqlite_database(url: str, target: Path) -> None:
    """A consistent copy of a seeded SQLite database, for a floor to work on (the backup API: WAL content
    included)."""
    source = sqlite3.connect(str(make_url(url).database))
    try:
        dest = sqlite3.connect(target)
        try:
            source.backup(dest)
        finally:
            dest.close()
    finally:
        source.close()
