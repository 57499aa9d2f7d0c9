"""What the worker sends for a subscription's awaiting changes (SPEC §7), as pure planning."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from seatflow.provisioning.plan import Backoff, OpKind, Step, held_back, plan
from seatflow.subscriptions.models import ChangeKind, ProvisioningStatus

TODAY = date(2026, 12, 1)
AWAITING, FAILED, PROVISIONED = (
    ProvisioningStatus.AWAITING,
    ProvisioningStatus.FAILED,
    ProvisioningStatus.PROVISIONED,
)


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


NEW_YORK, ATLANTA = uuid.uuid4(), uuid.uuid4()


def child_push(before: int, after: int, child: uuid.UUID, status: ProvisioningStatus = AWAITING) -> Step:
    """A quantity change a linked child caused on its parent (SPEC §5)."""
    return Step(
        uuid.uuid4(), ChangeKind.QUANTITY, after, TODAY, 0, status=status, quantity_before=before, linked_child=child
    )


def test_one_childs_refused_push_does_not_hold_back_another_childs_and_its_delta_is_left_out() -> None:
    refused = child_push(50, 350, NEW_YORK, FAILED)  # the provider refused 350
    atlanta = child_push(350, 355, ATLANTA)

    (op,) = plan([refused, atlanta], external_id="sub-1", today=TODAY)

    assert (op.kind, op.change_ids, op.quantity) == (OpKind.SET_QUANTITY, [atlanta.id], 55)


def test_a_refused_push_holds_back_the_same_childs_later_changes_and_the_others_go_past_them() -> None:
    refused = child_push(50, 350, NEW_YORK, FAILED)
    new_york_again = child_push(350, 340, NEW_YORK)  # assumed the refused 300
    atlanta = child_push(340, 345, ATLANTA)

    (op,) = plan([refused, new_york_again, atlanta], external_id="sub-1", today=TODAY)

    assert (op.change_ids, op.quantity) == ([atlanta.id], 55)
    assert held_back([refused, new_york_again, atlanta]) == {new_york_again.id}


def test_a_change_that_is_no_childs_held_back_holds_back_everything_after_it() -> None:
    refused = child_push(50, 350, NEW_YORK, FAILED)
    suspension = Step(uuid.uuid4(), ChangeKind.SUSPEND, 350, TODAY, 0, quantity_before=350)
    atlanta = child_push(350, 355, ATLANTA)

    assert plan([refused, suspension, atlanta], external_id="sub-1", today=TODAY) == ()
    assert held_back([refused, suspension, atlanta]) == {suspension.id, atlanta.id}


@pytest.mark.parametrize("kind", [ChangeKind.SUSPEND, ChangeKind.QUANTITY])
def test_a_refused_push_holds_back_a_change_that_is_no_childs(kind: ChangeKind) -> None:
    """An operator's forced quantity or a suspension assumes everything before it."""
    refused = child_push(50, 350, NEW_YORK, FAILED)
    operators = Step(uuid.uuid4(), kind, 100, TODAY, 0, quantity_before=350)

    assert plan([refused, operators], external_id="sub-1", today=TODAY) == ()


def test_any_other_failed_change_holds_back_everything_after_it() -> None:
    failed = Step(uuid.uuid4(), ChangeKind.QUANTITY, 60, TODAY, 0, status=FAILED, quantity_before=50)

    assert plan([failed, child_push(60, 65, ATLANTA)], external_id="sub-1", today=TODAY) == ()


def test_a_requeued_push_sends_what_the_others_have_provisioned_since() -> None:
    requeued = child_push(50, 60, NEW_YORK)
    atlanta = child_push(60, 62, ATLANTA, PROVISIONED)  # went while New York's had failed: the provider has 52
    new_york_down = child_push(62, 59, NEW_YORK)

    (op,) = plan([requeued, atlanta, new_york_down], external_id="sub-1", today=TODAY)

    assert (op.change_ids, op.quantity) == ([requeued.id, new_york_down.id], 59)
    (alone,) = plan([requeued, atlanta], external_id="sub-1", today=TODAY)
    assert alone.quantity == 62


@pytest.mark.parametrize(
    ("attempts", "retry_after", "expected"),
    [(1, None, 1.0), (2, None, 2.0), (4, None, 8.0), (20, None, 300.0), (1, 30.0, 30.0), (5, 3.0, 16.0)],
)
def test_backoff_doubles_up_to_its_cap_and_honours_retry_after(
    attempts: int, retry_after: float | None, expected: float
) -> None:
    assert Backoff(1.0, 300.0).delay(attempts, retry_after) == expected
