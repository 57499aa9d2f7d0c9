"""``seatflow worker`` and the operator's queue: ``seatflow changes requeue|confirm`` (SPEC §7, §14)."""

from __future__ import annotations

import signal
from enum import StrEnum
from types import FrameType

import typer

from seatflow.cli.context import (
    clock,
    console,
    err_console,
    moment,
    operator_actor,
    print_json,
    session_factory,
    settings,
    transaction,
)
from seatflow.errors import ValidationFailed
from seatflow.ids import parse_id
from seatflow.provisioning import queue
from seatflow.provisioning.worker import Worker, WorkerConfig
from seatflow.subscriptions.models import LicenseChange, ProvisioningStatus
from seatflow.subscriptions.schemas import LicenseChangeRead


def worker(
    once: bool = typer.Option(False, "--once", help="One pass over the due work, then exit."),
    drain: bool = typer.Option(
        False, "--drain", help="Work until nothing is left, waiting through retries (at most --max-wait), then exit."
    ),
    max_wait: float = typer.Option(300.0, "--max-wait", min=1, help="Seconds --drain may wait in all."),
) -> None:
    """Provision license changes with their providers: Partner Center, manual (a notification), linked
    (through the parent). Runs until SIGTERM or Ctrl-C, which finish the subscription in hand first.

    Tune with SEATFLOW_WORKER_* (max attempts, backoff, lease, batch size); see docs/provisioning.md."""
    the_worker = Worker(session_factory(), clock(), config=WorkerConfig.from_settings(settings()))

    def _stop(signum: int, _frame: FrameType | None) -> None:
        err_console.print(f"{signal.Signals(signum).name}: finishing the subscription in hand, then stopping.")
        the_worker.stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if once or drain:
        result = the_worker.drain(max_wait_seconds=max_wait) if drain else the_worker.run_once()
        the_worker.registry.close()
        print_json(result.as_dict())
        return
    console.print(f"worker {the_worker.worker_id}: provisioning; Ctrl-C to stop.")
    the_worker.run_forever()


def _print(changes: list[LicenseChange], as_json: bool) -> None:
    if as_json:
        print_json([LicenseChangeRead.from_model(c).model_dump(mode="json") for c in changes])
        return
    for change in changes:
        console.print(
            f"{change.id}  {change.kind.value} {change.quantity_before}→{change.quantity_after}  "
            f"{change.provisioning_status.value}" + (f"  {change.message}" if change.message else ""),
            markup=False,
            highlight=False,
        )


def requeue(change: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Put a failed change back in the queue (a linked parent's takes its children along)."""
    with transaction() as session:
        _, now = moment()
        parsed = parse_id(change)
        if parsed is None:
            raise queue.ChangeNotFound(f"No license change {change!r}.")
        changes = queue.requeue(session, change_id=parsed, actor=operator_actor(), now=now)
        _print(changes, as_json)


class ConfirmStatus(StrEnum):
    PROVISIONED = "provisioned"
    FAILED = "failed"


def confirm(
    change: str,
    status: ConfirmStatus = typer.Option(..., "--status", help="provisioned, or failed (with --message)."),
    message: str | None = typer.Option(None, "--message", help="What was done, or why it failed."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Say how a manual provider's change went, or that a failed change was put right by hand."""
    if status is ConfirmStatus.FAILED and not (message and message.strip()):
        raise ValidationFailed("Say why it failed: --message is required.", code="message_required")
    with transaction() as session:
        _, now = moment()
        parsed = parse_id(change)
        if parsed is None:
            raise queue.ChangeNotFound(f"No license change {change!r}.")
        settled = queue.confirm(
            session,
            change_id=parsed,
            status=ProvisioningStatus(status.value),
            message=message,
            actor=operator_actor(),
            now=now,
        )
        _print(settled, as_json)
