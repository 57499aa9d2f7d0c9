"""``seatflow webhooks …`` and ``seatflow audit list`` in subprocesses: a terminal user's writes are audited as
theirs."""

from __future__ import annotations

import getpass
import json

from tests.cli.conftest import Run


def test_webhooks_and_the_audit_log_from_a_terminal(run: Run) -> None:
    assert run("db", "upgrade").returncode == 0
    added = run(
        "webhooks", "add", "https://erp.example/hooks", "--event", "license_change.failed", "-e", "invoice.issued"
    )
    assert added.returncode == 0, added.stderr
    secret = added.stdout.strip().splitlines()[-1]
    assert secret.startswith("whsec_")
    [endpoint] = json.loads(run("webhooks", "list", "--json").stdout)
    assert (endpoint["url"], endpoint["events"]) == (
        "https://erp.example/hooks",
        ["license_change.failed", "invoice.issued"],
    )
    assert "secret" not in endpoint
    assert json.loads(run("webhooks", "deliveries", "--json").stdout) == []

    [entry] = json.loads(run("audit", "list", "--json", "--action", "webhook_endpoint.*").stdout)
    assert (entry["action"], entry["actor_kind"], entry["actor"], entry["origin"]) == (
        "webhook_endpoint.created",
        "cli",
        getpass.getuser(),
        "cli",
    )
    assert entry["operation"] == "seatflow webhooks add"
    assert entry["after"]["secret"] == "[redacted]"

    assert run("webhooks", "remove", endpoint["id"]).returncode == 0
    assert json.loads(run("webhooks", "list", "--json").stdout) == []
    actions = [e["action"] for e in json.loads(run("audit", "list", "--json", "--entity", "webhook_endpoint").stdout)]
    assert actions == ["webhook_endpoint.deleted", "webhook_endpoint.created"]

    unknown = run("webhooks", "replay", "01a24ab6-08bb-7000-b255-07def28afe37")
    assert (unknown.returncode, unknown.stderr.split("]")[0]) == (3, "error [not_found")
    bad = run("webhooks", "add", "https://x.example", "--event", "invoice.paid")
    assert bad.returncode == 5
    assert "unknown_event_type" in bad.stderr
