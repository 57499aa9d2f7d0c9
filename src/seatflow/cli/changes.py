"""``seatflow changes``: the change log's commands (cli/subscriptions.py) and the provisioning ones that act on one
change (cli/provisioning.py)."""

from __future__ import annotations

from seatflow.cli import provisioning
from seatflow.cli.subscriptions import changes_app as app

app.command("requeue")(provisioning.requeue)
app.command("confirm")(provisioning.confirm)

__all__ = ["app"]
