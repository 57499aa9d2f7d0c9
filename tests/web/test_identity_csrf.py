"""The signed double-submit of forms shown before login (seatflow.web.identity)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def test_a_cookie_that_is_not_ours_is_replaced_and_the_form_still_works(app_client: TestClient) -> None:
    app_client.cookies.set("seatflow_console_csrf", "not.ours", path="/console")
    page = app_client.get("/console/login")
    found = TOKEN.search(page.text)
    assert found
    nonce, signature = found.group(1).split(".")  # one dot: the planted '.' did not spoil the token
    assert nonce != "not"
    assert len(signature) == 64
    assert page.cookies.get("seatflow_console_csrf") == nonce
    app_client.cookies.set("seatflow_console_csrf", nonce, path="/console")
    answer = app_client.post(
        "/console/login",
        data={"email": "nobody@example.com", "password": "wrong password", "csrf_token": found.group(1)},
        follow_redirects=False,
    )
    assert answer.status_code == 401  # the form was accepted; only the password was wrong


def test_a_token_signed_for_another_nonce_is_refused(app_client: TestClient) -> None:
    page = app_client.get("/portal/login")
    found = TOKEN.search(page.text)
    assert found
    _, signature = found.group(1).split(".")
    app_client.cookies.set("seatflow_portal_csrf", "another-nonce", path="/portal")
    answer = app_client.post(
        "/portal/login",
        data={"email": "x@example.com", "password": "whatever it is", "csrf_token": f"another-nonce.{signature}"},
        follow_redirects=False,
    )
    assert answer.status_code == 403
