from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def unit_of_work(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction per use case: commit when the block ends normally, roll back on any exception."""
    session = session_factory()
    try:
        yield session
    except BaseException:
        end(session, commit=False)
        raise
    end(session, commit=True)


def end(session: Session, *, commit: bool) -> None:
    """Ends a unit of work's session: commits it (rolled back if the commit fails) or rolls it back; closes it
    either way."""
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
