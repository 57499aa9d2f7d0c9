"""``seatflow simulator``: the Partner Center simulator (SPEC §10) on a local port."""

from __future__ import annotations

from pathlib import Path

import typer

from seatflow.cli.context import console
from seatflow.errors import InvalidState, ValidationFailed


def simulator(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8100, help="Port to listen on."),
    state: Path | None = typer.Option(
        None,
        "--state",
        dir_okay=False,
        help="Seed JSON: offers, customers and optionally subscriptions, faults, clock. Default: the demo seed.",
    ),
) -> None:
    """Serve the Partner Center simulator: Partner Center's paths under /v1, control paths under /_sim. Ctrl-C stops."""
    from seatflow.simulator import SimulatorServer, SimulatorState
    from seatflow.simulator.faults import ControlError

    try:
        sim_state = SimulatorState.load(state) if state is not None else SimulatorState.demo()
    except (OSError, ValueError) as exc:
        raise _bad_seed(state, exc) from exc
    try:
        server = SimulatorServer(sim_state, host=host, port=port)
    except ControlError as exc:  # the seed names a route the server does not have
        raise _bad_seed(state, exc) from exc
    except OSError as exc:
        raise InvalidState(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}", code="address_unavailable"
        ) from exc
    console.print(f"[bold]Partner Center simulator[/] on {server.url}  (seed: {state or 'the demo seed'})")
    console.print(f"API:      {server.url}/v1  (any Bearer token, or none)")
    console.print(f"control:  {server.url}/_sim/offers, /_sim/faults, /_sim/clock, /_sim/state, /_sim/stats")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        console.print("stopped")


def _bad_seed(path: Path | None, error: Exception) -> ValidationFailed:
    return ValidationFailed(f"Cannot load the simulator seed {path}: {error}", code="invalid_simulator_seed")
