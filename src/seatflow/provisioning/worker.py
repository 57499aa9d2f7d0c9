"""The provisioning worker (SPEC §7): ``seatflow worker`` runs it in a loop, ``POST /api/v1/worker/run-once``
once. Each pass claims subscriptions with due work, carries out their changes through their provider with no
transaction open, and writes each outcome in a short transaction of its own.

Crash safety rests on three things: a claim is a lease that runs out; an order's MS-RequestId is committed
before it is first sent, and before any re-send the provider's subscriptions are searched for it; every
quantity is sent as the absolute target. A worker killed at any point leaves work another run finishes,
without buying twice.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TypeGuard

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from seatflow.clock import Clock
from seatflow.config import Settings
from seatflow.db.engine import read_only, write_first
from seatflow.db.session import make_sessionmaker, unit_of_work
from seatflow.events.dispatcher import DispatchResult
from seatflow.provisioning import queue
from seatflow.provisioning.events_step import AnnounceResult, EventsConfig, EventsStep
from seatflow.provisioning.outcomes import Outcome
from seatflow.provisioning.plan import Backoff, Job, Op, OpKind, replace_external_id
from seatflow.provisioning.providers import Done, ProviderRegistry
from seatflow.subscriptions.renewals import RenewalResult, anything_due, run_renewals

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    batch_size: int = 20
    """Subscriptions claimed per transaction."""
    lease_seconds: float = 120.0
    """How long a claim holds; a worker that dies frees its subscriptions after this."""
    max_attempts: int = 10
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    order_poll_seconds: float = 5.0
    idle_seconds: float = 2.0
    """How long the loop sleeps when there was nothing to do."""
    events: EventsConfig = field(default_factory=EventsConfig)
    """Webhook deliveries, the operator's mail and the daily announcements (``events_step``)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerConfig:
        return cls(
            batch_size=settings.worker_batch_size,
            lease_seconds=settings.worker_lease_seconds,
            max_attempts=settings.worker_max_attempts,
            backoff_base_seconds=settings.worker_backoff_base_seconds,
            backoff_max_seconds=settings.worker_backoff_max_seconds,
            order_poll_seconds=settings.worker_order_poll_seconds,
            idle_seconds=settings.worker_idle_seconds,
            events=EventsConfig.from_settings(settings),
        )

    @property
    def policy(self) -> queue.Policy:
        return queue.Policy(self.max_attempts, Backoff(self.backoff_base_seconds, self.backoff_max_seconds))


@dataclass
class RunResult:
    """Counts by outcome (changes), for ``run-once`` and the worker's log."""

    tally: queue.Tally = field(default_factory=queue.Tally)
    renewals: RenewalResult | None = None
    provider_calls: int = 0
    announced: AnnounceResult | None = None
    webhooks: DispatchResult | None = None

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {name: getattr(self.tally, name) for name in queue.Tally.__dataclass_fields__}
        data["provider_calls"] = self.provider_calls
        if self.renewals is not None:
            data["renewals"] = dict(vars(self.renewals))
        if self.announced is not None:
            data["announced"] = dict(vars(self.announced))
        if self.webhooks is not None:
            data["webhooks"] = self.webhooks.as_dict()
        return data


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock,
        *,
        config: WorkerConfig | None = None,
        registry: ProviderRegistry | None = None,
        worker_id: str | None = None,
    ) -> None:
        bind = session_factory.kw.get("bind")
        engine = bind if isinstance(bind, Engine) else None
        self.session_factory = (
            sessionmaker(class_=session_factory.class_, **{**session_factory.kw, "bind": write_first(engine)})
            if engine
            else session_factory
        )
        """The worker's claims, outcomes and releases hold SQLite's write lock for milliseconds and everyone's
        provisioning waits on them: in a server process they go ahead of the requests waiting for it."""
        self.read_factory = make_sessionmaker(read_only(engine)) if engine else session_factory
        """For the reads that decide whether there is work at all: on SQLite they never wait for the write lock,
        so a pass with nothing to do does not queue behind the API's writers."""
        self.clock = clock
        self.config = config or WorkerConfig()
        self.registry = registry or ProviderRegistry(order_poll_seconds=self.config.order_poll_seconds)
        self.worker_id = worker_id or default_worker_id()
        self.stopping = threading.Event()
        """Set by SIGTERM: the item in hand is finished, nothing new is started."""
        self._renewed_on: date | None = None
        self.events = EventsStep(
            self.session_factory,
            self.read_factory,
            clock,
            worker_id=self.worker_id,
            config=self.config.events,
            stopping=self.stopping,
        )

    # --- entry points ------------------------------------------------------------------------------------

    def run_once(self, *, renewals: bool = True) -> RunResult:
        """One pass: the day's renewals and scheduled changes, then every subscription with due work, once; then
        the events (SPEC §17): the day's announcements with the renewals, and the deliveries that are due."""
        result = RunResult()
        calls_before = self.registry.partner_center_calls()
        if renewals:
            result.renewals = self.renew()
        seen: set[uuid.UUID] = set()
        while not self.stopping.is_set():
            now = self.clock.now()
            with unit_of_work(self.read_factory) as session:
                if not queue.anything_claimable(session, now=now, today=now.date(), exclude=seen):
                    break
            with unit_of_work(self.session_factory) as session:
                claimed = queue.claim(
                    session,
                    worker_id=self.worker_id,
                    now=now,
                    today=now.date(),
                    limit=self.config.batch_size,
                    lease_seconds=self.config.lease_seconds,
                    exclude=seen,
                )
            if not claimed:
                break
            seen.update(claimed)
            self.process_batch(claimed, result.tally, claimed_at=now)
        result.provider_calls = self.registry.partner_center_calls() - calls_before
        if renewals and self.events.announce_due():
            result.announced = self.events.announce()
        if not self.stopping.is_set():
            result.webhooks = self.events.deliver()
        return result

    def drain(self, *, max_wait_seconds: float = 120.0) -> RunResult:
        """Passes until nothing the worker can do is left, sleeping through backoffs and orders being
        completed (up to ``max_wait_seconds`` in all). For tests, benchmarks and ``run-once?drain=true``."""
        total = RunResult()
        calls_before = self.registry.partner_center_calls()
        deadline = time.monotonic() + max_wait_seconds
        first = True
        while not self.stopping.is_set():
            result = self.run_once(renewals=first)
            if first:
                total.renewals = result.renewals
                first = False
            total.tally.add(result.tally)
            now = self.clock.now()
            with unit_of_work(self.session_factory) as session:
                wakeup = queue.next_wakeup(session, now=now, today=now.date())
            if wakeup is None:
                break
            pause = max(0.0, (wakeup - now).total_seconds())
            if time.monotonic() + pause > deadline:
                break
            self.stopping.wait(min(pause, 1.0) if pause > 0 else 0.01)
        total.provider_calls = self.registry.partner_center_calls() - calls_before
        return total

    def run_forever(self) -> None:
        """The loop of ``seatflow worker``, until ``stopping`` is set."""
        log.info("worker %s started", self.worker_id)
        while not self.stopping.is_set():
            try:
                result = self.run_once(renewals=self._renewal_due())
            except Exception:  # a database outage must not end the worker; it logs and tries again
                log.exception("worker pass failed")
                self.stopping.wait(self.config.idle_seconds * 5)
                continue
            tally = result.tally
            if tally.subscriptions:
                log.info(
                    "provisioned %d, failed %d, retrying %d, waiting %d, handed off %d (%d provider calls)",
                    tally.provisioned,
                    tally.failed,
                    tally.retrying,
                    tally.waiting,
                    tally.handed_off,
                    result.provider_calls,
                )
            else:
                self.stopping.wait(self.config.idle_seconds)
        self.registry.close()
        log.info("worker %s stopped", self.worker_id)

    # --- one subscription --------------------------------------------------------------------------------

    def process_batch(self, claimed: list[uuid.UUID], tally: queue.Tally, *, claimed_at: datetime) -> None:
        """Carry out a claimed batch: its jobs read together (``queue.load_jobs``, a few statements for the
        batch), then each job's ops in turn. The outcome of a job whose last op the provider did (``Done``, no
        purchase) is written with the others' and their releases in one transaction at the end of the batch
        (``queue.record_done_many``), or as soon as a quarter of the lease has run: until then a crash leaves
        those changes awaiting under a lease that runs out, as a crash between the call and its write always
        did, and the next worker sends the same absolute quantities again. Every other outcome is written at
        once, one job at a time, as before. A job that fails (an error loading or writing it) leaves the
        others' outcomes to be written."""
        now = self.clock.now()
        preloaded: dict[uuid.UUID, queue.Loaded] = {}
        if self._fresh(claimed_at, now):
            with unit_of_work(self.read_factory) as session:
                preloaded = queue.load_jobs(session, claimed, now.date())
        pending: list[queue.Settled] = []
        try:
            for position, subscription_id in enumerate(claimed):
                if self.stopping.is_set():
                    self._release(claimed[position:])
                    break
                if not self._fresh(claimed_at, self.clock.now()):
                    # A quarter of the lease has run: write what is done, and read each job afresh from now on.
                    self._write_done(pending, tally)
                    preloaded = {}
                self.process(
                    subscription_id,
                    tally,
                    claimed_at=claimed_at,
                    loaded=preloaded.pop(subscription_id, None),
                    pending=pending,
                )
        finally:
            self._write_done(pending, tally)

    def _fresh(self, claimed_at: datetime | None, now: datetime) -> bool:
        return claimed_at is not None and (now - claimed_at).total_seconds() < self.config.lease_seconds / 4

    def _write_done(self, pending: list[queue.Settled], tally: queue.Tally) -> None:
        """The batch's ``Done`` outcomes and their releases, in one transaction; if that fails, one job at a time
        (each in its own, as ``process`` writes them), so that one job's failure does not lose the others'."""
        if not pending:
            return
        settled = list(pending)
        pending.clear()
        counted = queue.Tally()
        try:
            with unit_of_work(self.session_factory) as session:
                queue.record_done_many(session, settled, tally=counted)
                queue.release_many(session, [item.job.subscription_id for item in settled], self.worker_id)
        except Exception:
            log.exception("writing %d outcomes together failed: writing them one at a time", len(settled))
        else:
            tally.add(counted)
            return
        failure: Exception | None = None
        for item in settled:
            try:
                with unit_of_work(self.session_factory) as session:
                    queue.record_outcome(
                        session,
                        job=item.job,
                        op=item.op,
                        outcome=item.outcome,
                        now=item.at,
                        policy=self.config.policy,
                        tally=tally,
                    )
                    queue.release(session, item.job.subscription_id, self.worker_id)
            except Exception as error:  # the others' outcomes are still written; the first error is raised after
                failure = failure or error
        if failure is not None:
            raise failure

    def process(
        self,
        subscription_id: uuid.UUID,
        tally: queue.Tally,
        *,
        claimed_at: datetime | None = None,
        loaded: queue.Loaded | None = None,
        pending: list[queue.Settled] | None = None,
    ) -> None:
        """Carry out one claimed subscription's due ops. The lease is renewed before the job is read (unless it
        was taken moments ago: less than a quarter of it has run) and before each later op: a worker whose lease
        ran out (a slow provider, a long batch) leaves the subscription to the worker that took it over, instead
        of both working on it. The last op's outcome and the release are one transaction: at once, or, given
        ``pending``, with the batch's other ``Done`` outcomes (``process_batch``). ``loaded`` is the job as
        the batch read it, moments ago."""
        now = self.clock.now()
        if loaded is not None and _purchases(loaded):
            # Read again: a purchase's job lists the tenant's subscriptions seatflow knows (an order found after a
            # lost answer must be none of them), and the batch's jobs before it may have bought some.
            loaded = None
        if loaded is not None and self._fresh(claimed_at, now):
            if loaded.error is not None:
                raise loaded.error
        elif self._fresh(claimed_at, now):
            with unit_of_work(self.read_factory) as session:
                loaded = queue.load_job(session, subscription_id, now.date())
        else:
            with unit_of_work(self.session_factory) as session:
                if not self._renew(session, subscription_id, now):
                    return
                loaded = queue.load_job(session, subscription_id, now.date())
        job = loaded.job
        if job is None or not job.ops:
            self._release([subscription_id], retry_at=loaded.not_before)
            return
        tally.subscriptions += 1
        provider = self.registry.for_job(job)
        ledger = _Ledger(self)
        released = False
        try:
            for position, op in enumerate(job.ops):
                if position and not self._still_mine(subscription_id):
                    return
                outcome = provider.execute(job, op, ledger)
                last = position == len(job.ops) - 1
                if pending is not None and last and _deferrable(outcome, op):
                    pending.append(queue.Settled(job, op, outcome, self.clock.now()))
                    released = True  # with the batch's outcomes
                    break
                with unit_of_work(self.session_factory) as session:
                    go_on = queue.record_outcome(
                        session,
                        job=job,
                        op=op,
                        outcome=outcome,
                        now=self.clock.now(),
                        policy=self.config.policy,
                        tally=tally,
                    )
                    if last or not go_on:
                        queue.release(session, subscription_id, self.worker_id)
                        released = True
                if isinstance(outcome, Done) and outcome.external_id is not None:
                    job = replace_external_id(job, outcome.external_id)
                if not go_on:
                    break
        finally:
            if not released:
                self._release([subscription_id])

    def _renew(self, session: Session, subscription_id: uuid.UUID, now: datetime) -> bool:
        return queue.renew(session, subscription_id, self.worker_id, now=now, lease_seconds=self.config.lease_seconds)

    def _still_mine(self, subscription_id: uuid.UUID) -> bool:
        with unit_of_work(self.session_factory) as session:
            return self._renew(session, subscription_id, self.clock.now())

    def renew(self) -> RenewalResult:
        """One capped batch of the day's renewals; the day counts as done only when nothing was left."""
        now = self.clock.now()
        with unit_of_work(self.read_factory) as session:
            due = anything_due(session, today=now.date())
        if not due:
            self._renewed_on = now.date()
            return RenewalResult()
        with unit_of_work(self.session_factory) as session:
            result = run_renewals(session, today=now.date(), now=now)
        if not result.more:
            self._renewed_on = now.date()
        return result

    def _renewal_due(self) -> bool:
        return self._renewed_on != self.clock.today()

    def _release(self, subscription_ids: list[uuid.UUID], *, retry_at: datetime | None = None) -> None:
        with unit_of_work(self.session_factory) as session:
            for subscription_id in subscription_ids:
                queue.release(session, subscription_id, self.worker_id, retry_at=retry_at)


_NOT_DEFERRED = frozenset({OpKind.CREATE, OpKind.AWAIT_ORDER})


def _purchases(loaded: queue.Loaded) -> bool:
    return loaded.job is not None and any(op.kind in _NOT_DEFERRED for op in loaded.job.ops)


def _deferrable(outcome: Outcome, op: Op) -> TypeGuard[Done]:
    """A ``Done`` whose write may wait for the batch's: not a purchase's (its new subscription id is written at
    once), so that after a crash before the write the next worker finds the change made and settles it."""
    return isinstance(outcome, Done) and outcome.external_id is None and op.kind not in _NOT_DEFERRED


class _Ledger:
    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def remember_request_id(self, change_id: uuid.UUID, request_id: str) -> None:
        with unit_of_work(self.worker.session_factory) as session:
            queue.remember_request_id(session, change_id, request_id, self.worker.clock.now())

    def remember_cart_id(self, change_id: uuid.UUID, cart_id: str) -> None:
        with unit_of_work(self.worker.session_factory) as session:
            queue.remember_cart_id(session, change_id, cart_id, self.worker.clock.now())


__all__ = ["Job", "RunResult", "Worker", "WorkerConfig"]
