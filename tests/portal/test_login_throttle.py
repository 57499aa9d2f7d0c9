"""The login throttle holds under parallel attempts (SPEC §10): 30 wrong passwords for one address at the same
moment are at most the limit evaluated, the rest refused as throttled, for contacts and operators alike."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from seatflow.auth import operators as operator_accounts
from seatflow.auth import throttle
from seatflow.auth.models import LoginAttempt, OperatorRole
from seatflow.customers import logins as accounts
from seatflow.customers.models import ContactRole
from seatflow.db import migrate
from seatflow.db.engine import make_engine
from seatflow.db.session import make_sessionmaker
from tests.factories import FACTORY_TODAY, create_customer, noon
from tests.portal.conftest import PASSWORD, make_contact

PARALLEL = 30
NOW = noon(FACTORY_TODAY)
EMAIL = "manager@ny.example"


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'throttle.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


Login = Callable[[Session, str], object]


def _contact_login(db: Session, password: str) -> object:
    return accounts.login(db, email=EMAIL, password=password, ip="198.51.100.7", now=NOW)


def _operator_login(db: Session, password: str) -> object:
    return operator_accounts.login(db, email=EMAIL, password=password, ip="198.51.100.7", now=NOW)


def _set_up(engine: Engine, login: Login) -> None:
    with make_sessionmaker(engine)() as db:
        if login is _contact_login:
            make_contact(
                db, create_customer(db, name="Pine Cone Vet New York"), EMAIL, ContactRole.SUBSCRIPTION_MANAGER
            )
        else:
            operator_accounts.create_operator(
                db, email=EMAIL, name="Ops", role=OperatorRole.OPERATOR, password=PASSWORD
            )
        db.commit()


def _wrong_passwords_at_once(engine: Engine, login: Login) -> Counter[str]:
    """Each attempt in a transaction of its own, committed whatever the answer, as the login page does."""
    factory = make_sessionmaker(engine)
    start = threading.Barrier(PARALLEL)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt() -> None:
        start.wait()
        with factory() as db:
            try:
                login(db, "not the password")
                outcome = "logged in"
            except throttle.LoginThrottled:
                outcome = "throttled"
            except throttle.LoginFailed:
                outcome = "evaluated"
            db.commit()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attempt) for _ in range(PARALLEL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return Counter(outcomes)


def _recorded(engine: Engine) -> int:
    with make_sessionmaker(engine)() as db:
        return int(db.execute(select(func.count()).select_from(LoginAttempt)).scalar_one())


LOGINS = [pytest.param(_contact_login, id="contact"), pytest.param(_operator_login, id="operator")]


@pytest.mark.postgres
@pytest.mark.parametrize("login", LOGINS)
def test_parallel_wrong_passwords_on_postgresql_are_evaluated_at_most_the_limit(
    committed_engine: Engine, login: Login
) -> None:
    _set_up(committed_engine, login)

    outcomes = _wrong_passwords_at_once(committed_engine, login)

    assert outcomes == Counter(evaluated=throttle.PER_NAME, throttled=PARALLEL - throttle.PER_NAME)
    assert _recorded(committed_engine) == throttle.PER_NAME


@pytest.mark.parametrize("login", LOGINS)
def test_parallel_wrong_passwords_on_sqlite_are_evaluated_at_most_the_limit(
    sqlite_engine: Engine, login: Login
) -> None:
    _set_up(sqlite_engine, login)

    outcomes = _wrong_passwords_at_once(sqlite_engine, login)

    assert outcomes == Counter(evaluated=throttle.PER_NAME, throttled=PARALLEL - throttle.PER_NAME)
    assert _recorded(sqlite_engine) == throttle.PER_NAME
