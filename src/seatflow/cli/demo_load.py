"""``seatflow demo-load``: the demo's data (SPEC §12) loaded into the configured database, for a stack started
piece by piece (``seatflow serve``, ``seatflow worker``, ``seatflow simulator``) rather than by ``seatflow demo``."""

from __future__ import annotations

import typer

from seatflow.cli.context import console, moment, settings, transaction
from seatflow.demo import FINANCE_LOGIN, HEAD_OFFICE_LOGIN, NEW_YORK_LOGIN, OPERATOR_LOGIN
from seatflow.demo import load as load_demo


def demo_load(
    simulator_url: str = typer.Option(
        "http://127.0.0.1:8100",
        "--simulator-url",
        help="Where the Partner Center simulator listens (`seatflow simulator`): the demo's Partner Center "
        "account sends its orders there.",
    ),
) -> None:
    """Load the demo catalog, Pine Cone Vet (three locations linked to the parent contract's E3 and EMS), the
    E5 voice chain, the console operator and the portal logins into the configured database
    (SEATFLOW_DATABASE_URL), dated the clock's today, in one transaction. Migrates nothing: run
    `seatflow db upgrade` first. On a database that holds the demo already only the catalog is brought up to
    date, the Partner Center account pointed at --simulator-url and a new API key made.

    Prints the logins and, alone on the last line, a new API key (shown once)."""
    today, now = moment()
    with transaction() as session:
        loaded = load_demo(
            session, today=today, now=now, simulator_url=simulator_url, currency=settings().default_currency
        )
    line = console.print
    line(
        f"demo loaded for {today}, Partner Center at {simulator_url}"
        if loaded.loaded
        else f"the demo was there already: Partner Center now at {simulator_url}, and a new API key",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    for who, (email, password) in (
        ("console", OPERATOR_LOGIN),
        ("portal, head office", HEAD_OFFICE_LOGIN),
        ("portal, New York", NEW_YORK_LOGIN),
        ("portal, finance", FINANCE_LOGIN),
    ):
        line(f"{who}: {email} / {password}", markup=False, highlight=False, soft_wrap=True)
    line("API key (shown once):")
    print(loaded.api_key, flush=True)
