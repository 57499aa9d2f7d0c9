"""What the worker sends for a subscription's awaiting changes (SPEC §7), as pure planning."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from seatflow.provisioning.plan import Backoff, OpKind, Step, plan
from seatflow.subscriptions.models import ChangeKind

TODAY = date(2026, 12, 1)


def step(
    kind: ChangeKind, quantity: int, *, on: date = TODAY, request_id: str | None = None, order: str | None = None
) -> Step:
    return Step(uuid.uuid4(), kind, quantity, on, 0, provider_request_id=request_id, provider_order_id=order)


def test_consecutive_quantity_changes_go_out_as_one_call_with_the_last_absolute_quantity() -> None:
    steps = [step(ChangeKind.QUANTITY, 60), step(ChangeKind.QUANTITY, 62), step(ChangeKind.QUANTITY, 58)]
    (op,) = plan(steps, external_id="sub-1", today=TODAY)
    assert op.kind is OpKind.SET_QUANTITY
    assert op.quantity == 58
    assert op.change_ids == [s.id for s in steps]


def test_a_status_change_keeps_its_place_between_quantity_calls() -> None:
    steps = [step(ChangeKind.QUANTITY, 60), step(ChangeKind.SUSPEND, 60), step(ChangeKind.REACTIVATE, 60)]
    steps.append(step(ChangeKind.QUANTITY, 70))
    ops = plan(steps, external_id="sub-1", today=TODAY)
    assert [(op.kind, op.quantity) for op in ops] == [
        (OpKind.SET_QUANTITY, 60),
        (OpKind.SUSPEND, 60),
        (OpKind.REACTIVATE, 60),
        (OpKind.SET_QUANTITY, 70),
    ]


def test_an_order_not_yet_sent_buys_the_latest_quantity_in_one_call() -> None:
    steps = [step(ChangeKind.CREATE, 10), step(ChangeKind.QUANTITY, 15)]
    (op,) = plan(steps, external_id=None, today=TODAY)
    assert (op.kind, op.quantity, len(op.steps)) == (OpKind.CREATE, 15, 2)


def test_an_order_already_sent_is_not_changed_so_its_resend_is_the_same_request() -> None:
    steps = [step(ChangeKind.CREATE, 10, request_id="rid-1"), step(ChangeKind.QUANTITY, 15)]
    ops = plan(steps, external_id=None, today=TODAY)
    assert [(op.kind, op.quantity) for op in ops] == [(OpKind.CREATE, 10), (OpKind.SET_QUANTITY, 15)]


def test_an_order_the_provider_is_completing_is_looked_at_not_sent_again() -> None:
    steps = [step(ChangeKind.CREATE, 10, request_id="rid-1", order="order-1")]
    (op,) = plan(steps, external_id=None, today=TODAY)
    assert op.kind is OpKind.AWAIT_ORDER


def test_cancelled_before_it_was_ordered_buys_nothing() -> None:
    steps = [step(ChangeKind.CREATE, 10), step(ChangeKind.CANCEL, 0)]
    (op,) = plan(steps, external_id=None, today=TODAY)
    assert op.kind is OpKind.NOTHING
    assert len(op.steps) == 2


def test_nothing_provisions_before_its_effective_date_and_nothing_overtakes_it() -> None:
    later = date(2026, 12, 15)
    steps = [step(ChangeKind.QUANTITY, 60), step(ChangeKind.QUANTITY, 70, on=later), step(ChangeKind.QUANTITY, 80)]
    (op,) = plan(steps, external_id="sub-1", today=TODAY)
    assert (op.kind, op.quantity, len(op.steps)) == (OpKind.SET_QUANTITY, 60, 1)
    assert plan(steps[1:], external_id="sub-1", today=TODAY) == ()


@pytest.mark.parametrize(
    ("attempts", "retry_after", "expected"),
    [(1, None, 1.0), (2, None, 2.0), (4, None, 8.0), (20, None, 300.0), (1, 30.0, 30.0), (5, 3.0, 16.0)],
)
def test_backoff_doubles_up_to_its_cap_and_honours_retry_after(
    attempts: int, retry_after: float | None, expected: float
) -> None:
    assert Backoff(1.0, 300.0).delay(attempts, retry_after) == expected
