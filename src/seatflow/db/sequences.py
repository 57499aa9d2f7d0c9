"""Gap-free counters (product codes now, invoice numbers later).

``UPDATE … SET value = value + n … RETURNING`` takes the row lock until the transaction ends, so two
transactions never get the same numbers, and a rolled-back one gives its numbers back: no gaps.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, String, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from seatflow.db.base import Base


class Counter(Base):
    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


def allocate(session: Session, name: str, count: int = 1) -> int:
    """Reserve ``count`` consecutive numbers of counter ``name``; returns the first."""
    stmt = update(Counter).where(Counter.name == name).values(value=Counter.value + count)
    result = session.execute(stmt.returning(Counter.value)).scalar_one_or_none()
    if result is None:
        try:
            with session.begin_nested():
                session.execute(insert(Counter).values(name=name, value=0))
        except IntegrityError:
            pass  # another transaction created it first; the update below waits for its lock
        result = session.execute(stmt.returning(Counter.value)).scalar_one()
    return int(result) - count + 1
