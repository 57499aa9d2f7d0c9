"""Reading an NCE subscription, and changing one as Microsoft documents: GET, change the field, PATCH the full
resource with If-Match; a 202 is polled, a stale etag is read again (SPEC §7 "change")."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from seatflow.partner_center.client import PartnerCenterError
from seatflow.partner_center.errors import SubscriptionEtagStale
from seatflow.partner_center.subscriptions import (
    NextTermInstructions,
    NextTermProduct,
    SubscriptionUpdated,
    UpdatePending,
    read_subscription,
    with_auto_renew,
    with_next_term,
    with_quantity,
    with_status,
)
from tests.partner_center.helpers import Script, answer, assert_partner_center_headers, body_of, documented

TENANT = "d8202a51-69f9-4228-b900-d0e081af17d7"
SUBSCRIPTION = "a4c1340d-6911-4758-bba3-0c4c6007d161"
PATH = f"/v1/customers/{TENANT}/subscriptions/{SUBSCRIPTION}"
ETAG = "eyJpZCI6ImE0YzEzNDBkLTY5MTEtNDc1OC1iYmEzLTBjNGM2MDA3ZDE2MSIsInZlcnNpb24iOjJ9"


def test_an_nce_subscription_reads_into_its_parts() -> None:
    subscription = read_subscription(documented("client_subscription_nce"))

    assert subscription.id == SUBSCRIPTION
    assert (subscription.product_id, subscription.sku_id, subscription.availability_id) == (
        "CFQ7TTC0LH18",
        "0001",
        "CFQ7TTC0K971",
    )
    assert subscription.quantity == 15
    assert subscription.status == "expired"
    assert subscription.ended is True
    assert (subscription.term_duration, subscription.billing_cycle) == ("P1Y", "monthly")
    assert subscription.auto_renew_enabled is False
    assert subscription.commitment_end_date == datetime(2022, 1, 13, tzinfo=UTC)
    refundable = subscription.refundable_quantity
    assert refundable is not None
    assert refundable.total == 10
    assert [(b.quantity, b.allowed_until) for b in refundable.batches] == [
        (10, datetime(2021, 1, 24, 20, 39, 17, 182697, tzinfo=UTC))
    ]
    assert refundable.reducible_at(datetime(2021, 1, 20, tzinfo=UTC)) == 10
    assert refundable.reducible_at(datetime(2021, 1, 25, tzinfo=UTC)) == 0
    assert subscription.next_term is None
    assert subscription.etag is None, "Microsoft's NCE example carries no etag"


def test_scheduled_next_term_instructions_and_the_cancellation_window_are_read() -> None:
    scheduled = read_subscription(documented("client_subscription_scheduled"))
    windowed = read_subscription(documented("client_subscription_with_etag"))

    assert scheduled.next_term == NextTermInstructions(
        product=NextTermProduct(
            product_id="DG7GMGF0DVSV",
            sku_id="000P",
            availability_id="DG7GMGF0F3Q9",
            billing_cycle="annual",
            term_duration="P3Y",
            promotion_id="39NFJQT1PFPJ:000H:39NFJQT1Q5DK",
        ),
        quantity=1,
        custom_term_end_date=datetime(2019, 1, 9, 0, 21, 45, 926372, tzinfo=UTC),
    )
    assert windowed.cancellation_allowed_until == datetime(2021, 1, 15, tzinfo=UTC)
    assert windowed.etag == ETAG


@pytest.mark.parametrize("status", ["disabled", "deleted", "suspended", "active", "pending"])
def test_every_documented_status_is_read(status: str) -> None:
    resource = documented("client_subscription_nce")
    resource["status"] = status

    assert read_subscription(resource).status == status
    assert read_subscription(resource).ended is (status in {"disabled", "deleted"})


def test_an_unknown_status_or_a_missing_quantity_is_a_garbled_answer() -> None:
    unknown, no_quantity = documented("client_subscription_nce"), documented("client_subscription_nce")
    unknown["status"] = "paused"
    del no_quantity["quantity"]

    with pytest.raises(PartnerCenterError, match="status 'paused'"):
        read_subscription(unknown)
    with pytest.raises(PartnerCenterError, match="without a valid quantity") as garbled:
        read_subscription(no_quantity)
    assert garbled.value.retryable is True


def test_a_quantity_change_is_the_full_resource_sent_with_if_match() -> None:
    script = Script(answer("client_subscription_with_etag"), answer("client_subscription_nce"))
    client = script.client()

    resource, etag = client.get_subscription_with_etag(TENANT, SUBSCRIPTION)
    outcome = client.update_subscription_with_etag(TENANT, SUBSCRIPTION, with_quantity(resource, 1), etag)

    read, patch = script.requests
    assert (read.method, read.url.path) == ("GET", PATH)
    assert (patch.method, patch.url.path) == ("PATCH", PATH)
    assert patch.headers["If-Match"] == ETAG
    assert_partner_center_headers(patch)
    sent = body_of(patch)
    assert sent == {**documented("client_subscription_with_etag"), "quantity": 1}, (
        "the full resource, one field changed"
    )
    assert isinstance(outcome, SubscriptionUpdated)
    assert outcome.subscription.id == SUBSCRIPTION


def test_a_slow_change_answers_202_and_is_polled_at_its_location_never_re_sent() -> None:
    script = Script(answer("client_patch_accepted"), answer("client_subscription_nce"))
    client = script.client()
    resource = documented("client_subscription_with_etag")

    outcome = client.update_subscription_with_etag(TENANT, SUBSCRIPTION, with_status(resource, "suspended"), ETAG)

    assert isinstance(outcome, UpdatePending)
    assert outcome.location == f"/customers/{TENANT}/subscriptions/{SUBSCRIPTION}"
    assert body_of(script.requests[0])["status"] == "suspended"

    polled = client.poll(outcome.location)

    assert [(r.method, r.url.path) for r in script.requests] == [("PATCH", PATH), ("GET", PATH)]
    assert polled["id"] == SUBSCRIPTION


def test_a_202_without_location_is_polled_at_the_subscription() -> None:
    script = Script(httpx.Response(202))

    outcome = script.client().update_subscription_with_etag(
        TENANT, SUBSCRIPTION, documented("client_subscription_with_etag"), ETAG
    )

    assert outcome == UpdatePending(location=PATH, retry_after=None)


def test_polling_follows_only_partner_centers_own_host() -> None:
    script = Script(answer("client_subscription_nce"))
    client = script.client()

    with pytest.raises(PartnerCenterError, match="not followed") as foreign:
        client.poll(f"https://elsewhere.example.test{PATH}")
    assert foreign.value.retryable is False
    assert script.requests == []

    client.poll(f"https://api.partnercenter.example.test{PATH}")
    assert script.requests[0].url.path == PATH


def test_a_stale_etag_is_a_distinct_retryable_error_and_a_fresh_read_succeeds() -> None:
    fresh = documented("client_subscription_with_etag")
    fresh["attributes"]["etag"] = "etag-after-someone-else"
    script = Script(
        answer("client_subscription_with_etag"),
        answer("client_stale_etag"),
        answer("client_subscription_with_etag", body=fresh),
        answer("client_subscription_nce"),
    )
    client = script.client()
    resource, etag = client.get_subscription_with_etag(TENANT, SUBSCRIPTION)

    with pytest.raises(SubscriptionEtagStale) as stale:
        client.update_subscription_with_etag(TENANT, SUBSCRIPTION, with_auto_renew(resource, False), etag)
    assert stale.value.retryable is True
    assert (stale.value.status, stale.value.provider_code) == (400, "2055")
    assert "Etag is no longer valid" in stale.value.message

    resource, etag = client.get_subscription_with_etag(TENANT, SUBSCRIPTION)
    outcome = client.update_subscription_with_etag(TENANT, SUBSCRIPTION, with_auto_renew(resource, False), etag)

    assert isinstance(outcome, SubscriptionUpdated)
    assert [r.headers.get("If-Match") for r in script.requests if r.method == "PATCH"] == [
        ETAG,
        "etag-after-someone-else",
    ]
    assert body_of(script.requests[-1])["autoRenewEnabled"] is False


def test_a_412_precondition_failed_is_a_stale_etag_too() -> None:
    script = Script(httpx.Response(412, json={"code": "412", "description": "Precondition failed"}))

    with pytest.raises(SubscriptionEtagStale):
        script.client().update_subscription_with_etag(TENANT, SUBSCRIPTION, {"id": SUBSCRIPTION}, "old")


def test_a_reduction_outside_the_window_is_permanent() -> None:
    script = Script(answer("client_quantity_not_decreasable"))

    with pytest.raises(PartnerCenterError) as refused:
        script.client().update_subscription_with_etag(
            TENANT, SUBSCRIPTION, with_quantity(documented("client_subscription_with_etag"), 5), ETAG
        )

    assert refused.value.retryable is False
    assert refused.value.message == "Partner Center 800090: Subscription quantity cannot be decreased."


def test_without_an_etag_the_patch_goes_without_if_match() -> None:
    script = Script(answer("client_subscription_nce"), answer("client_subscription_nce"))
    client = script.client()

    resource, etag = client.get_subscription_with_etag(TENANT, SUBSCRIPTION)
    client.update_subscription_with_etag(TENANT, SUBSCRIPTION, resource, etag)

    assert etag is None
    assert "If-Match" not in script.requests[1].headers


def test_changes_at_renewal_are_sent_in_the_documented_shape() -> None:
    resource = documented("client_subscription_with_etag")
    instructions = NextTermInstructions(
        product=NextTermProduct("CFQ7TTC0LH18", "0001", "CFQ7TTC0K971", "annual", "P1Y"),
        quantity=7,
        custom_term_end_date=datetime(2023, 1, 31, tzinfo=UTC),
    )

    body = with_next_term(resource, instructions)

    assert body["scheduledNextTermInstructions"] == {
        "product": {
            "productId": "CFQ7TTC0LH18",
            "skuId": "0001",
            "availabilityId": "CFQ7TTC0K971",
            "billingCycle": "annual",
            "termDuration": "P1Y",
        },
        "quantity": 7,
        "customTermEndDate": "2023-01-31T00:00:00Z",
    }
    assert body["quantity"] == 10, "the current term is untouched"
    assert read_subscription(body).next_term == instructions
    assert "scheduledNextTermInstructions" not in resource, "the resource as read is not changed"
    assert with_next_term(body, None)["scheduledNextTermInstructions"] is None


def test_changes_at_renewal_need_auto_renew_on() -> None:
    not_renewing = with_auto_renew(documented("client_subscription_with_etag"), False)
    instructions = NextTermInstructions(NextTermProduct("CFQ7TTC0LH18", "0001", "CFQ7TTC0K971", "monthly", "P1Y"), 3)

    with pytest.raises(PartnerCenterError, match="auto-renew is off") as refused:
        with_next_term(not_renewing, instructions)
    assert refused.value.retryable is False


@pytest.mark.parametrize(
    ("change", "text"),
    [
        (lambda r: with_status(r, "expired"), "status 'expired'"),
        (lambda r: with_quantity(r, 0), "a quantity of 0"),
    ],
)
def test_changes_microsoft_does_not_take_are_not_built(change: object, text: str) -> None:
    with pytest.raises(PartnerCenterError, match=text) as refused:
        change(documented("client_subscription_with_etag"))  # type: ignore[operator]
    assert refused.value.retryable is False
