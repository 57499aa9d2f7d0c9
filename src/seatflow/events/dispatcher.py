"""The worker's events step, one pass: fan out new events, then send the due deliveries.

Transactions follow SPEC §11: a read decides whether there is anything to do (an idle worker never queues for the
write lock); the fan-out and the claims are short writes; every HTTP call and every mail is made with no transaction
open; each outcome is written in a short transaction of its own.
"""

from __future__ import annotations

import email.utils
import logging
import smtplib
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from sqlalchemy.orm import Session, sessionmaker

from seatflow import __version__
from seatflow.clock import Clock
from seatflow.db.session import unit_of_work
from seatflow.events import delivery, signing
from seatflow.events.delivery import Attempt, DeliveryPolicy, Result
from seatflow.events.models import Channel, DeliveryStatus
from seatflow.events.notify import SendMail, digest
from seatflow.events.types import DEFAULT_MAIL_EVENTS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notify:
    """The operator's mail: where, which events, and how it is sent."""

    email: str = ""
    events: frozenset[str] = frozenset(DEFAULT_MAIL_EVENTS)
    console_url: str = ""
    send_mail: SendMail | None = None


@dataclass
class DispatchResult:
    fanned_out: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    mails: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


@dataclass
class Dispatcher:
    session_factory: sessionmaker[Session]
    read_factory: sessionmaker[Session]
    clock: Clock
    worker_id: str
    policy: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    notify: Notify = field(default_factory=Notify)
    stopping: threading.Event = field(default_factory=threading.Event)

    def run_once(self) -> DispatchResult:
        result = DispatchResult()
        now = self.clock.now()
        with unit_of_work(self.read_factory) as session:
            if not delivery.anything_to_do(session, now=now):
                return result
        with unit_of_work(self.session_factory) as session:
            result.fanned_out = delivery.fan_out(
                session, now=now, mail_to=self.notify.email, mail_events=self.notify.events
            )
        with unit_of_work(self.session_factory) as session:
            claimed = delivery.claim(session, now=now, worker_id=self.worker_id, policy=self.policy)
        if not claimed:
            return result
        with unit_of_work(self.read_factory) as session:
            attempts = delivery.load(session, claimed)
        mails: dict[str, list[Attempt]] = defaultdict(list)
        sent: set[object] = set()
        try:
            with self._client() as http:
                for attempt in attempts:
                    if self.stopping.is_set():
                        break
                    if attempt.channel is Channel.EMAIL and attempt.recipient:
                        mails[attempt.recipient].append(attempt)
                        continue
                    self._record(attempt, self._post(http, attempt), result)
                    sent.add(attempt.delivery_id)
            for recipient, batch in mails.items():
                if self.stopping.is_set():
                    break
                outcome = self._mail(recipient, batch)
                result.mails += 1 if outcome.ok else 0
                for attempt in batch:
                    self._record(attempt, outcome, result)
                    sent.add(attempt.delivery_id)
        finally:
            unsent = [a.delivery_id for a in attempts if a.delivery_id not in sent]
            if unsent:
                with unit_of_work(self.session_factory) as session:
                    delivery.release(session, unsent, self.worker_id)
        log.info(
            "webhooks: %d delivered, %d failing, %d dead, %d mail(s) sent",
            result.delivered,
            result.failed,
            result.dead,
            result.mails,
        )
        return result

    # --- one attempt -------------------------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        """One client per pass (its connections are reused within the pass, and closed with it)."""
        return httpx.Client(
            timeout=self.policy.timeout_seconds,
            follow_redirects=False,  # a redirect is a failure: the endpoint's URL is what should change
            headers={"user-agent": f"seatflow/{__version__} (webhooks)"},
        )

    def _post(self, http: httpx.Client, attempt: Attempt) -> Result:
        if not attempt.url or not attempt.secret:
            return Result(ok=False, error="The endpoint is gone.")
        body = signing.body_of(attempt.event_type, attempt.occurred_at.isoformat(), attempt.data)
        # Real time, not the test clock: receivers check it against their own clock (five minutes' tolerance).
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            **signing.headers(attempt.secret, str(attempt.event_id), timestamp, body),
        }
        try:
            with http.stream("POST", attempt.url, content=body, headers=headers) as response:
                status = response.status_code  # the body is not read: a receiver's answer is its status
                retry_after = _retry_after(response.headers.get("retry-after"))
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return Result(ok=False, error=f"{exc.__class__.__name__}: {exc}"[:500])
        if 200 <= status < 300:
            return Result(ok=True, status_code=status)
        return Result(ok=False, status_code=status, error=f"HTTP {status}", retry_after=retry_after, gone=status == 410)

    def _mail(self, recipient: str, batch: list[Attempt]) -> Result:
        if self.notify.send_mail is None:
            return Result(ok=False, error="No mailer is configured.")
        subject, body = digest(batch, console_url=self.notify.console_url)
        try:
            self.notify.send_mail(recipient, subject, body)
        except (smtplib.SMTPException, OSError) as exc:
            return Result(ok=False, error=f"{exc.__class__.__name__}: {exc}"[:500])
        return Result(ok=True)

    def _record(self, attempt: Attempt, outcome: Result, result: DispatchResult) -> None:
        with unit_of_work(self.session_factory) as session:
            status = delivery.record_result(
                session,
                delivery_id=attempt.delivery_id,
                worker_id=self.worker_id,
                result=outcome,
                now=self.clock.now(),
                policy=self.policy,
            )
        if status is None:
            return
        if outcome.ok:
            result.delivered += 1
        elif status is DeliveryStatus.DEAD:
            result.dead += 1
            log.warning(
                "webhook delivery %s is dead after %s: %s", attempt.delivery_id, attempt.event_type, outcome.error
            )
        else:
            result.failed += 1


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds, or as an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
