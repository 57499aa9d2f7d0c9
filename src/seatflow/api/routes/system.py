"""Health, and the test clock of SPEC §13 (mounted only with SEATFLOW_TEST_CLOCK=1; otherwise 404)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from seatflow.clock import EARLIEST, LATEST, DatabaseTestClock
from seatflow.web.deps import ClockDep, SessionDep
from seatflow.web.errors import API_PROBLEMS
from seatflow.web.security import PARAMETER_CHECKS

router = APIRouter(tags=["system"])
test_clock_router = APIRouter(tags=["test clock"], responses=API_PROBLEMS, dependencies=PARAMETER_CHECKS)


class Health(BaseModel):
    status: str
    database: str


@router.get("/healthz", response_model=Health)
def health(session: SessionDep) -> Health:
    session.execute(text("SELECT 1"))
    return Health(status="ok", database=session.get_bind().dialect.name)


class ClockRead(BaseModel):
    now: datetime


class ClockSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    now: datetime = Field(
        description=f"The moment to set; without an offset it is UTC. From {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d}."
    )


@test_clock_router.get("/test/clock", response_model=ClockRead)
def read_clock(clock: ClockDep) -> ClockRead:
    return ClockRead(now=clock.now())


@test_clock_router.post("/test/clock", response_model=ClockRead)
def set_clock(body: ClockSet, session: SessionDep, request: Request) -> ClockRead:
    """A moment outside the range business dates may take is refused (422 ``clock_out_of_range``), the clock
    left as it was."""
    clock: DatabaseTestClock = request.app.state.clock
    return ClockRead(now=clock.set(session, body.now))
