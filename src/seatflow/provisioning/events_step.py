"""The worker's events step (SPEC §17; issue 15 item 6): each pass fans the outbox out and delivers what is due
(``events.dispatcher``); once a day it looks for the events no single use case causes: ``renewal.upcoming``
(``subscriptions.renewal_events``) and ``margin.leak_found`` (``margin.announcements``), each sent once.

The daily look reads in a reading transaction and writes only the new events, in a short one; the deliveries hold
no transaction while they send.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session, sessionmaker

from seatflow.clock import Clock
from seatflow.config import Settings
from seatflow.db.session import unit_of_work
from seatflow.events.delivery import DeliveryPolicy
from seatflow.events.dispatcher import Dispatcher, DispatchResult, Notify
from seatflow.events.outbox import emit_many
from seatflow.events.types import EVENT_TYPES
from seatflow.mail import send_mail
from seatflow.margin.announcements import find_leaks
from seatflow.subscriptions.renewal_events import find_renewals

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventsConfig:
    policy: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    notify: Notify = field(default_factory=Notify)
    renewal_days: int = 30

    @classmethod
    def from_settings(cls, settings: Settings) -> EventsConfig:
        chosen = {name.strip() for name in settings.notify_events.split(",") if name.strip()}
        unknown = chosen - set(EVENT_TYPES)
        if unknown:
            log.warning("SEATFLOW_NOTIFY_EVENTS names unknown event types, left out: %s", ", ".join(sorted(unknown)))
        return cls(
            policy=DeliveryPolicy(
                max_attempts=settings.webhook_max_attempts,
                backoff_base_seconds=settings.webhook_backoff_base_seconds,
                backoff_max_seconds=settings.webhook_backoff_max_seconds,
                timeout_seconds=settings.webhook_timeout_seconds,
            ),
            notify=Notify(
                email=settings.notify_email.strip(),
                events=frozenset(chosen & set(EVENT_TYPES)),
                console_url=settings.public_base_url,
                send_mail=lambda to, subject, body: send_mail(settings, to=to, subject=subject, body=body),
            ),
            renewal_days=settings.notify_renewal_days,
        )


@dataclass
class AnnounceResult:
    renewals: int = 0
    leaks: int = 0


class EventsStep:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        read_factory: sessionmaker[Session],
        clock: Clock,
        *,
        worker_id: str,
        config: EventsConfig,
        stopping: threading.Event,
    ) -> None:
        self.session_factory = session_factory
        self.read_factory = read_factory
        self.clock = clock
        self.config = config
        self.dispatcher = Dispatcher(
            session_factory, read_factory, clock, worker_id, config.policy, config.notify, stopping
        )
        self._announced_on: date | None = None

    def announce_due(self) -> bool:
        return self._announced_on != self.clock.today()

    def announce(self) -> AnnounceResult:
        """The day's renewals and last month's leaks not announced yet (each event once: they carry keys). Found in
        a reading transaction; only the outbox rows are written, in a short one."""
        now = self.clock.now()
        with unit_of_work(self.read_factory) as session:
            renewals = find_renewals(session, today=now.date(), days=self.config.renewal_days, now=now)
            leaks = find_leaks(session, today=now.date(), now=now)
        result = AnnounceResult()
        if renewals or leaks:
            with unit_of_work(self.session_factory) as session:
                result.renewals = emit_many(session, renewals)
                result.leaks = emit_many(session, leaks)
        self._announced_on = now.date()
        return result

    def deliver(self) -> DispatchResult:
        return self.dispatcher.run_once()


__all__ = ["AnnounceResult", "EventsConfig", "EventsStep"]
