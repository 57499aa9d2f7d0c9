"""Signatures as Standard Webhooks makes them: the reference library verifies seatflow's, and refuses a changed one."""

from __future__ import annotations

import base64
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from seatflow.events import signing

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def test_a_new_secret_is_whsec_and_32_random_bytes() -> None:
    one, two = signing.new_secret(), signing.new_secret()
    assert one.startswith("whsec_")
    assert one != two
    assert len(signing.key_of(one)) == 32


def test_the_signature_is_hmac_sha256_over_id_timestamp_and_body() -> None:
    # Computed by hand: base64(HMAC-SHA256(key=b"k"*32, "msg-1.1700000000.{}")).
    import hashlib
    import hmac

    expected = base64.b64encode(hmac.new(b"k" * 32, b"msg-1.1700000000.{}", hashlib.sha256).digest()).decode()
    assert signing.signature(SECRET, "msg-1", 1700000000, b"{}") == f"v1,{expected}"


@given(
    data=st.dictionaries(st.text(max_size=10), st.one_of(st.text(max_size=20), st.integers(), st.none()), max_size=5)
)
def test_the_reference_library_verifies_what_seatflow_signs(data: dict[str, object]) -> None:
    now = int(time.time())
    body = signing.body_of("license_change.failed", "2026-12-01T12:00:00+00:00", data)
    headers = signing.headers(SECRET, "01a2-event", now, body)
    assert Webhook(SECRET).verify(body, headers) == {
        "type": "license_change.failed",
        "timestamp": "2026-12-01T12:00:00+00:00",
        "data": data,
    }
    signing.verify(SECRET, headers, body, now=now)


@pytest.mark.parametrize("tamper", ["body", "id", "timestamp", "secret"])
def test_anything_changed_fails_verification(tamper: str) -> None:
    now = int(time.time())
    body = signing.body_of("invoice.issued", "2026-12-01T12:00:00+00:00", {"number": "INV-000001"})
    headers = signing.headers(SECRET, "event-1", now, body)
    secret = SECRET
    if tamper == "body":
        body = body.replace(b"000001", b"000002")
    elif tamper == "id":
        headers["webhook-id"] = "event-2"
    elif tamper == "timestamp":
        headers["webhook-timestamp"] = str(now - 1)
    else:
        secret = "whsec_" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)
    with pytest.raises(signing.SignatureInvalid):
        signing.verify(secret, headers, body, now=now)


def test_an_old_timestamp_is_refused_by_receivers() -> None:
    now = int(time.time())
    body = b"{}"
    headers = signing.headers(SECRET, "event-1", now - 600, body)
    with pytest.raises(signing.SignatureInvalid, match="too far"):
        signing.verify(SECRET, headers, body, now=now)
