"""Identity in one place (issue 15), as it runs: ``seatflow serve --workers 2`` on a committed database, browsers'
requests landing on either process, the CLI in its own process.

- A login form shown by one process is accepted by the other: the signed double-submit's key is the database's
  (``instance_keys``), not a process's.
- A forged pre-login form (a planted cookie with a token of its own, or the portal's token on the console) is
  refused with the page's 403 and logs nobody in.
- Operators' and contacts' logins and logouts are in the audit log as theirs.
- Revoking a contact through the API ends its portal session at once; restoring lets it log in again with the
  password it had. Disabling an operator with the CLI ends its console session.
- An API key revoked with the CLI is refused by both processes from the next request on, after both had served it
  (the check reads the key's row for each request; nothing is cached).
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from seatflow.demo import NEW_YORK_LOGIN, OPERATOR_LOGIN
from tests.e2e.checks import every
from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _browser(stack: Stack) -> httpx.Client:
    """A client that opens a new connection for every request, so that requests spread over both processes."""
    return httpx.Client(
        base_url=stack.api_url,
        limits=httpx.Limits(max_keepalive_connections=0),
        timeout=httpx.Timeout(60, connect=5),
        follow_redirects=False,
    )


def _token(page: httpx.Response) -> str:
    found = TOKEN.search(page.text)
    assert found, f"no csrf_token field on {page.request.url}"
    return found.group(1)


def _log_in(http: httpx.Client, surface: str, email: str, password: str) -> httpx.Response:
    form = http.get(f"/{surface}/login")
    assert form.status_code == 200
    return http.post(f"/{surface}/login", data={"email": email, "password": password, "csrf_token": _token(form)})


def _audit(stack: Stack, action: str, actor: str) -> list[dict[str, Any]]:
    return every(stack.api, "/api/v1/audit-log", action=action, actor=actor)


def test_logins_are_accepted_by_either_process_and_audited(stack: Stack) -> None:
    email, password = OPERATOR_LOGIN
    logins = 12
    for n in range(logins):
        with _browser(stack) as http:
            answer = _log_in(http, "console", email, password)
            assert answer.status_code == 303, f"login {n}: {answer.status_code} {answer.text[:300]}"
            assert answer.headers["location"] == "/console/"
            home = http.get("/console/")
            assert home.status_code == 200, f"login {n}: the dashboard answered {home.status_code}"
            if n == 0:
                out = http.post("/console/logout", data={"csrf_token": _token(home)})
                assert out.status_code == 303
                assert http.get("/console/").status_code in (302, 303, 307)  # to the login page: logged out
    assert len(_audit(stack, "operator.logged_in", email)) == logins
    (logged_out,) = _audit(stack, "operator.logged_out", email)
    assert logged_out["actor"] == email
    assert logged_out["origin"] == "console"


def test_a_forged_login_form_is_refused_and_logs_nobody_in(stack: Stack) -> None:
    email, password = OPERATOR_LOGIN
    with _browser(stack) as http:
        portal_token = _token(http.get("/portal/login"))
        forgeries = {
            "a planted cookie with itself as the token (plain double-submit)": ("planted-nonce", "planted-nonce"),
            "a planted cookie with a made-up signature": ("planted-nonce", "planted-nonce." + "0" * 64),
            "the portal's signed token on the console": (portal_token.split(".")[0], portal_token),
            "no token at all": ("planted-nonce", ""),
        }
        for what, (cookie, token) in forgeries.items():
            http.cookies.clear()
            http.cookies.set("seatflow_console_csrf", cookie, path="/console")
            answer = http.post("/console/login", data={"email": email, "password": password, "csrf_token": token})
            assert answer.status_code == 403, f"{what}: {answer.status_code}"
            assert "did not come from seatflow" in answer.text, what
            assert "seatflow_console" not in answer.cookies, what
    assert _audit(stack, "operator.logged_in", email) == []


def test_revoking_a_contact_through_the_api_ends_its_portal_session(stack: Stack) -> None:
    email, password = NEW_YORK_LOGIN
    with _browser(stack) as http:
        assert _log_in(http, "portal", email, password).status_code == 303
        assert http.get("/portal/").status_code == 200
        (contact,) = [
            c
            for customer in every(stack.api, "/api/v1/customers")
            for c in every(stack.api, f"/api/v1/customers/{customer['id']}/contacts")
            if c["email"] == email
        ]
        path = f"/api/v1/customers/{contact['customer_id']}/contacts/{contact['id']}"
        assert stack.api.ok("PATCH", path, json={"status": "disabled"})["status"] == "disabled"
        assert http.get("/portal/").status_code in (302, 303, 307)  # the session ended with the access
        assert _log_in(http, "portal", email, password).status_code == 401
        # Restored, the contact logs in with the password it had (active, not invited again).
        assert stack.api.ok("PATCH", path, json={"status": "active"})["status"] == "active"
        assert _log_in(http, "portal", email, password).status_code == 303
        assert http.get("/portal/").status_code == 200
    assert len(_audit(stack, "contact.logged_in", email)) == 2
    changes = every(stack.api, "/api/v1/audit-log", entity="contact", entity_id=contact["id"])
    assert [c["after"]["status"] for c in changes if c["action"] == "contact.status_changed"] == ["active", "disabled"]


def test_disabling_an_operator_with_the_cli_ends_its_console_session(stack: Stack) -> None:
    night = ("night@reseller.example", "night shift pass")
    stack.launcher.run("operators", "create", night[0], "--role", "operator", "--password", night[1])
    with _browser(stack) as http:
        assert _log_in(http, "console", *night).status_code == 303
        assert http.get("/console/").status_code == 200
        stack.launcher.run("operators", "disable", night[0])
        assert http.get("/console/").status_code in (302, 303, 307)
        assert _log_in(http, "console", *night).status_code == 401


def test_an_api_key_revoked_with_the_cli_is_refused_at_once_by_both_processes(stack: Stack) -> None:
    created = stack.launcher.run("apikey", "create", "leaver")
    key = created.strip().splitlines()[-1]  # ``create`` prints the key alone on its last line
    with _browser(stack) as http:
        http.headers["Authorization"] = f"Bearer {key}"
        # Both processes have served the key (new connections land on either): twelve answers in a row.
        for _ in range(12):
            assert http.get("/api/v1/products").status_code == 200
        changed = http.post("/api/v1/provider-accounts", json={"name": "Leaver's", "kind": "manual"})
        assert changed.status_code == 201
        stack.launcher.run("apikey", "revoke", "leaver")
        for _ in range(12):
            refused = http.get("/api/v1/products")
            assert refused.status_code == 401
            assert refused.json()["code"] == "unauthorized"
        assert http.post("/api/v1/provider-accounts", json={"name": "Too late", "kind": "manual"}).status_code == 401
    (entry,) = every(stack.api, "/api/v1/audit-log", action="provider_account.created", actor="leaver")
    assert entry["actor_kind"] == "api_key"
    assert [a["name"] for a in every(stack.api, "/api/v1/provider-accounts")].count("Too late") == 0


def test_an_api_key_asking_the_worker_to_run_is_in_the_audit_log(stack: Stack) -> None:
    ran = stack.api.ok("POST", "/api/v1/worker/run-once", json={})
    (entry,) = every(stack.api, "/api/v1/audit-log", action="worker.run_once")
    assert entry["actor_kind"] == "api_key"
    assert entry["origin"] == "api"
    assert entry["operation"] == "POST /api/v1/worker/run-once"
    assert entry["after"]["provisioned"] == ran["provisioned"]  # what the pass did, as the answer said
    assert entry["after"]["provider_calls"] == ran["provider_calls"]
