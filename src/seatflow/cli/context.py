"""What every command shares: settings, one unit of work per command, errors as one line and an exit code."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from functools import lru_cache
from typing import Any, NoReturn

from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

import seatflow.models  # noqa: F401  (every model mapped before the first session)
from seatflow.audit.scope import ActorKind, AuditActor, AuditScope, Origin, attach
from seatflow.clock import Clock, DatabaseTestClock, SystemClock
from seatflow.config import Settings, get_settings
from seatflow.db import migrate
from seatflow.db.engine import make_engine, read_only
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
from seatflow.subscriptions.models import ChangeOrigin
from seatflow.subscriptions.schemas import Actor

# Piped output (scripts, CI logs) gets wide tables rather than Rich's 80-column default; a terminal keeps its width.
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

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
    """Sessions on the configured database, once it is known to be migrated to the current schema."""
    url = settings().database_url
    try:
        revision = migrate.current(url)
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(f"Cannot open the database {_safe(url)}: {exc.__class__.__name__}.") from exc
    if revision != migrate.head():
        raise InvalidState(
            f"The database {_safe(url)} is not migrated to the current schema: run `seatflow db upgrade`."
        )
    return make_sessionmaker(make_engine(url, echo=settings().sql_echo))


class DatabaseUnavailable(SeatflowError):
    code = "database_unavailable"


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@lru_cache
def clock() -> Clock:
    factory = session_factory()
    return DatabaseTestClock(factory.kw["bind"]) if settings().test_clock else SystemClock()


def moment() -> tuple[date, datetime]:
    """(today, now) from one reading of the clock, so the two never straddle midnight (as the API does)."""
    now = clock().now()
    return now.date(), now


def audit_scope() -> AuditScope:
    """Who the command's writes are audited as (SPEC §17): the shell user, and the command's words (no options or
    arguments: they may hold a password)."""
    words = [word for word in sys.argv[1:3] if word and not word.startswith("-") and "=" not in word]
    operation = " ".join(["seatflow", *words])[:200]
    return AuditScope(Origin.CLI, AuditActor(ActorKind.CLI, None, getpass.getuser()), operation=operation)


@contextmanager
def transaction() -> Iterator[Session]:
    with unit_of_work(session_factory()) as session:
        attach(session, audit_scope())
        yield session


@contextmanager
def read_transaction() -> Iterator[Session]:
    """A transaction that only reads: on SQLite it never takes the write lock (for commands that call a
    provider, which must not hold up the server and the workers meanwhile)."""
    engine = session_factory().kw["bind"]
    with unit_of_work(make_sessionmaker(read_only(engine))) as session:
        yield session


def fail(error: SeatflowError) -> NoReturn:
    """One line on stderr (``error [code]: message``) and the exit code of the error's kind."""
    err_console.print(f"error [{error.code}]: {error.message}", markup=False, highlight=False, soft_wrap=True)
    code = next((c for cls, c in EXIT_CODES if isinstance(error, cls)), 1)
    sys.exit(code)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def operator_actor() -> Actor:
    """Changes made from the CLI are the operator's, named after the shell user."""
    return Actor(ChangeOrigin.OPERATOR, f"cli {getpass.getuser()}")
