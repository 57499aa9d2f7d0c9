"""``seatflow operators …``: the people who log in to the console."""

from __future__ import annotations

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.auth import operators
from seatflow.auth.models import Operator, OperatorRole
from seatflow.cli.context import console, transaction
from seatflow.errors import NotFound

app = typer.Typer(help="Console operators: create, list, disable, set a password.", no_args_is_help=True)


def _require(session: Session, email: str) -> Operator:
    found = session.execute(select(Operator).where(Operator.email == email.strip().lower())).scalar_one_or_none()
    if found is None:
        raise NotFound(f"No operator {email}.")
    return found


@app.command("create")
def create(
    email: str,
    name: str = typer.Option("", help="Shown in the console; the e-mail address when absent."),
    role: OperatorRole = typer.Option(OperatorRole.OPERATOR, help="admin, operator or read_only."),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True, help="10+ characters."),
) -> None:
    """Create an operator who logs in to /console."""
    with transaction() as session:
        operator = operators.create_operator(session, email=email, name=name, role=role, password=password)
        console.print(f"operator {operator.email} ({operator.role.value}) created")


@app.command("list")
def list_() -> None:
    with transaction() as session:
        table = Table("email", "name", "role", "status")
        for operator in session.execute(select(Operator).order_by(Operator.email)).scalars():
            table.add_row(operator.email, operator.name, operator.role.value, operator.status.value)
    console.print(table)


@app.command("disable")
def disable(email: str) -> None:
    """The operator can no longer log in (their sessions end)."""
    with transaction() as session:
        operator = _require(session, email)
        operators.disable(session, operator)
        console.print(f"operator {operator.email} disabled")


@app.command("password")
def password(
    email: str,
    new_password: str = typer.Option(..., "--password", prompt=True, hide_input=True, confirmation_prompt=True),
) -> None:
    """Set a new password (other sessions end)."""
    with transaction() as session:
        operators.set_password(session, _require(session, email), new_password)
        console.print("password set")
