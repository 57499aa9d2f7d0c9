"""The dashboard's business figures (issue 15 item 3): MRR and Microsoft's monthly cost at today's prices, failed and
stuck changes with their age, linked parents out of step. Pine Cone Vet (seed 003) on the demo catalog: Microsoft
365 E3 36.00 (cost 28.80), EMS E3 10.60 (cost 8.48) per seat a month."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.subscriptions.models import LicenseChange, ProvisioningStatus
from tests.api.subscription_helpers import FrozenClock
from tests.console.conftest import OPERATOR, Login
from tests.factories import FACTORY_TODAY, noon
from tests.subscriptions.helpers import PineConeVet


def test_the_dashboard_shows_the_recurring_money_and_what_is_held_up(
    session: Session, vet: PineConeVet, login: Login, app_client: TestClient
) -> None:
    now = noon(FACTORY_TODAY) + timedelta(days=3)
    changes = list(session.scalars(select(LicenseChange).order_by(LicenseChange.created_at)))
    assert len(changes) >= 2
    changes[0].provisioning_status = ProvisioningStatus.FAILED  # failed on the first day, 3 days ago
    changes[0].message = "Partner Center refused it"
    awaiting = [c for c in changes if c.provisioning_status is ProvisioningStatus.AWAITING]
    assert awaiting, "the demo's parents are awaiting provisioning"
    vet.parent_e3.quantity = 51  # out of step with its locations' 10 + 25 + 15 = 50
    session.commit()
    app_client.app.state.clock = FrozenClock(now)  # type: ignore[attr-defined]

    page = login(OPERATOR).get("/console/")

    assert page.status_code == 200
    # Billed: the locations' E3 50 x 36.00 = 1,800.00 and EMS 20 x 10.60 = 212.00: 2,012.00 a month.
    assert 'data-figure="mrr">2012.00<' in page.text
    # Held by Microsoft: the parents' E3 51 x 28.80 = 1,468.80 and EMS 20 x 8.48 = 169.60: 1,638.40.
    assert 'data-figure="monthly-cost">1638.40<' in page.text
    assert 'data-figure="monthly-margin">373.60<' in page.text  # 2,012.00 - 1,638.40
    assert 'data-count="failed-changes">1<' in page.text
    assert 'data-age="failed">3 d<' in page.text
    assert f'data-count="stuck">{len(awaiting)}<' in page.text  # recorded 3 days ago, still awaiting
    assert 'data-count="drift">1<' in page.text
