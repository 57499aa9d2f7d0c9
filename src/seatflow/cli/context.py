"""What every command shares: settings, one unit of work per command, errors as one line and an exit code."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, NoReturn

from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from seatflow.clock import Clock, DatabaseTestClock, SystemClock
from seatflow.config import Settings, get_settings
from seatflow.db.engine import make_engine
from seatflow.db.session import make_sessionmaker, unit_of_work
from seatflow.errors import (
    Conflict,
    Forbidden,
    InvalidState,
    NotFound,
    ProviderError,
    SeatflowError,
    Unauthorized,
    ValidationFailed,
)

console = Console()
err_console = Console(stderr=True)

EXIT_CODES: list[tuple[type[SeatflowError], int]] = [
    (NotFound, 3),
    (Conflict, 4),
    (InvalidState, 4),
    (ValidationFailed, 5),
    (Unauthorized, 6),
    (Forbidden, 6),
    (ProviderError, 7),
]


def settings() -> Settings:
    return get_settings()


@lru_cache
def session_factory() -> sessionmaker[Session]:
    return make_sessionmaker(make_engine(settings().database_url, echo=settings().sql_echo))


def clock() -> Clock:
    return DatabaseTestClock(session_factory()) if settings().test_clock else SystemClock()


@contextmanager
def transaction() -> Iterator[Session]:
    with unit_of_work(session_factory()) as session:
        yield session


def fail(error: SeatflowError) -> NoReturn:
    """One line on stderr (``error [code]: message``) and the exit code of the error's kind."""
    err_console.print(f"error [{error.code}]: {error.message}", markup=False, highlight=False, soft_wrap=True)
    code = next((c for cls, c in EXIT_CODES if isinstance(error, cls)), 1)
    sys.exit(code)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
