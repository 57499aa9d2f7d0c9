"""The provisioning queue (SPEC §7): changes by provisioning status, requeue a failed one, confirm a manual one,
run the worker once, and the notifications a manual provider's people act on.

What an action did is shown once on the page it redirects to, from a short-lived cookie the action set and
signed with the session's secret (never from the query string, which any link can write)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from seatflow.audit import recorder as audit
from seatflow.catalog.models import ProviderKind
from seatflow.config import Settings
from seatflow.console import queries
from seatflow.console.web import (
    PREFIX,
    Console,
    ConsoleDep,
    CsrfField,
    FormProblem,
    clean_text,
    error_status,
    now_of,
    redirect,
    render,
    require_id,
    secure,
)
from seatflow.errors import SeatflowError
from seatflow.ids import parse_id
from seatflow.provisioning import queue
from seatflow.provisioning.holds import hold_reasons
from seatflow.provisioning.providers import ProviderRegistry
from seatflow.provisioning.worker import Worker, WorkerConfig, default_worker_id
from seatflow.subscriptions.models import LicenseChange, ProvisioningStatus
from seatflow.web.deps import SessionFactoryDep, SettingsDep, clock_of

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PER_PAGE = 100
DEFAULT_STATUSES = (ProvisioningStatus.AWAITING, ProvisioningStatus.FAILED)
RUN_COUNTS = ("provisioned", "failed", "retrying", "waiting", "handed_off", "flowed_back")
DONE = ("requeued", "provisioned", "failed")
FLASH_COOKIE = "seatflow_console_done"
FLASH_SECONDS = 60


def _filters(statuses: list[str], account: str) -> dict[str, Any]:
    """The queue's filters from the query string, unknown values dropped."""
    chosen = [ProvisioningStatus(s) for s in statuses if s in ProvisioningStatus.__members__.values()]
    return {"statuses": chosen or list(DEFAULT_STATUSES), "account": parse_id(account)}


def _query(filters: dict[str, Any]) -> str:
    pairs = [("status", s.value) for s in filters["statuses"]]
    if filters["account"] is not None:
        pairs.append(("account", str(filters["account"])))
    return urlencode(pairs)


def _back(value: str) -> dict[str, Any]:
    """The filters a form came from (only the queue's own keys: never a URL to redirect anywhere else)."""
    pairs = parse_qsl(value[:2000])
    return _filters([v for k, v in pairs if k == "status"], next((v for k, v in pairs if k == "account"), ""))


def _sign(console: Console, body: str) -> str:
    return hmac.new(console.csrf.encode(), body.encode(), hashlib.sha256).hexdigest()


def _with_flash(
    response: Response, request: Request, console: Console, settings: Settings, what: dict[str, Any]
) -> Response:
    """What an action did, for the page it redirects to (shown once: that page clears it)."""
    body = base64.urlsafe_b64encode(json.dumps(what, separators=(",", ":")).encode()).decode()
    response.set_cookie(
        FLASH_COOKIE,
        f"{body}.{_sign(console, body)}",
        max_age=FLASH_SECONDS,
        httponly=True,
        samesite="lax",
        secure=secure(request, settings),
        path=f"{PREFIX}/queue",
    )
    return response


def _flash(request: Request, console: Console) -> dict[str, Any]:
    """The action's result, if this session's own action set it; nothing for anything else."""
    body, _, signature = request.cookies.get(FLASH_COOKIE, "").partition(".")
    if not body or not hmac.compare_digest(signature, _sign(console, body)):
        return {}
    try:
        found = json.loads(base64.urlsafe_b64decode(body.encode()))
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    result: dict[str, Any] = {}
    if found.get("done") in DONE and isinstance(found.get("count"), int):
        result.update(done=found["done"], count=found["count"])
    ran = found.get("ran")
    if isinstance(ran, dict) and all(isinstance(ran.get(name), int) for name in RUN_COUNTS):
        result["ran"] = {name: ran[name] for name in RUN_COUNTS}
    return result


def _page(request: Request, console: Console, filters: dict[str, Any], status: int = 200, **extra: Any) -> Response:
    after = parse_id(request.query_params.get("after", ""))
    changes, next_after = queries.queue_changes(
        console.db, statuses=filters["statuses"], account_id=filters["account"], after=after, limit=PER_PAGE
    )
    counts = queries.provisioning_counts(console.db)
    notifications = queries.open_notifications(console.db)
    noted = queries.changes_by_id(console.db, {n.license_change_id for n in notifications})
    names = queries.around(
        console.db, {c.subscription_id for c in changes} | {c.subscription_id for c in noted.values()}
    )
    flash = _flash(request, console) if request.method == "GET" else {}
    page = render(
        request,
        "queue.html",
        status,
        console=console,
        active="queue",
        changes=changes,
        names=names,
        actions={c.id: _actions(c, names[c.subscription_id].account.kind) for c in changes},
        holds=hold_reasons(console.db, changes, today=now_of(request).date()),
        next_after=next_after,
        filters=filters,
        query=_query(filters),
        all_statuses=list(ProvisioningStatus),
        accounts=queries.accounts_by_id(console.db),
        awaiting=counts[ProvisioningStatus.AWAITING],
        failed=counts[ProvisioningStatus.FAILED],
        error_in_row=extra.get("error_for") in {str(c.id) for c in changes},
        notifications=notifications,
        noted=noted,
        flash=flash,
        **extra,
    )
    if FLASH_COOKIE in request.cookies:
        page.delete_cookie(FLASH_COOKIE, path=f"{PREFIX}/queue")
    return page


def _actions(change: LicenseChange, kind: ProviderKind) -> set[str]:
    """What an operator can do with a change, as the queue's rules allow (SPEC §5, §7)."""
    found = set()
    if change.provisioning_status is ProvisioningStatus.FAILED:
        found.add("requeue")
    if kind is not ProviderKind.LINKED and (
        change.provisioning_status is ProvisioningStatus.FAILED
        or (change.provisioning_status is ProvisioningStatus.AWAITING and kind is ProviderKind.MANUAL)
    ):
        found.add("confirm")
    return found


@router.get("/queue", response_class=HTMLResponse)
def queue_page(
    request: Request,
    console: ConsoleDep,
    status: Annotated[list[str] | None, Query()] = None,
    account: str = "",
) -> Response:
    return _page(request, console, _filters(status or [], account))


BackField = Annotated[str, Form(max_length=2000)]


@router.post("/queue/{change_id}/requeue", response_class=HTMLResponse)
def requeue(
    change_id: str,
    request: Request,
    console: ConsoleDep,
    settings: SettingsDep,
    back: BackField = "",
    csrf_token: CsrfField = None,
) -> Response:
    console.authorize(csrf_token)
    filters = _back(back)
    try:
        with console.attempt():
            changes = queue.requeue(
                console.db, change_id=require_id(change_id, "change"), actor=console.actor, now=now_of(request)
            )
    except SeatflowError as error:
        return _page(request, console, filters, error_status(error), error=error.message, error_for=change_id)
    done = {"done": "requeued", "count": len(changes)}
    return _with_flash(redirect(f"{PREFIX}/queue?{_query(filters)}"), request, console, settings, done)


@router.post("/queue/{change_id}/confirm", response_class=HTMLResponse)
def confirm(
    change_id: str,
    request: Request,
    console: ConsoleDep,
    settings: SettingsDep,
    outcome: Annotated[str, Form(alias="status", max_length=20)] = "",
    message: Annotated[str, Form(max_length=2000)] = "",
    back: BackField = "",
    csrf_token: CsrfField = None,
) -> Response:
    console.authorize(csrf_token)
    filters = _back(back)
    try:
        if outcome not in (ProvisioningStatus.PROVISIONED.value, ProvisioningStatus.FAILED.value):
            raise FormProblem("Choose provisioned or failed.")
        text = clean_text(message, field="The message")
        with console.attempt():
            settled = queue.confirm(
                console.db,
                change_id=require_id(change_id, "change"),
                status=ProvisioningStatus(outcome),
                message=text or None,
                actor=console.actor,
                now=now_of(request),
            )
    except FormProblem as problem:
        return _page(request, console, filters, 422, error=problem.message, error_for=change_id)
    except SeatflowError as error:
        return _page(request, console, filters, error_status(error), error=error.message, error_for=change_id)
    done = {"done": outcome, "count": len(settled)}
    return _with_flash(redirect(f"{PREFIX}/queue?{_query(filters)}"), request, console, settings, done)


@router.post("/queue/run-once", response_class=HTMLResponse)
def run_once(
    request: Request,
    console: ConsoleDep,
    session_factory: SessionFactoryDep,
    settings: SettingsDep,
    back: BackField = "",
    csrf_token: CsrfField = None,
) -> Response:
    """The worker's pass, in this request, as ``POST /api/v1/worker/run-once`` does it."""
    console.authorize(csrf_token)
    filters = _back(back)
    # The worker commits in sessions of its own: this request's transaction (on SQLite it holds the write lock
    # from BEGIN) ends first, and the session is not used again until the response.
    console.db.commit()
    registry: ProviderRegistry = request.app.state.provider_registry
    worker = Worker(
        session_factory,
        clock_of(request),
        config=WorkerConfig.from_settings(settings),
        registry=registry,
        worker_id=f"console:{default_worker_id()}",
    )
    result = worker.run_once()
    # The pass's own changes are seatflow's (the worker's sessions carry no audit scope: docs/events.md); the
    # operator's asking for it is theirs, one row in this request's session with what the pass did (SPEC §17).
    audit.record(
        console.db, action="worker.run_once", target_kind="worker", target_id=worker.worker_id, after=result.as_dict()
    )
    tally = result.tally
    ran = {"ran": {name: getattr(tally, name) for name in RUN_COUNTS}}
    return _with_flash(redirect(f"{PREFIX}/queue?{_query(filters)}"), request, console, settings, ran)
