"""One invocation of the runner: its fire, token, dependencies and time, and the retries of
the steps that are safe to repeat (see scheduler.run.runner for the retry contract)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from scheduler.config import get_settings
from scheduler.errors import DependencyUnavailable
from scheduler.observability import logger
from scheduler.run import queue as run_queue
from scheduler.run.event import RunnerEvent
from scheduler.run.lock import Lease, LeaseLock
from scheduler.store.db import Database
from scheduler.store.queue import QueueQueries
from scheduler.store.runs import RunQueries

Clock = Callable[[], datetime]
Outcome = Literal[
    "succeeded", "failed", "skipped", "buffered", "duplicate", "ignored", "unrecorded"
]

# Seconds of the invocation kept back from the steps to record the outcome and release the
# lease (at most a quarter of what is left).
RECORDING_RESERVE_S = 10
# Of that reserve, what the release keeps for itself after the record's retries (at most half).
RELEASE_RESERVE_S = 1.0


@dataclass(frozen=True)
class Deadlines:
    """One invocation's time, as time.monotonic() instants fixed at its entry."""

    end: float  # when Lambda ends the invocation
    steps: float  # the steps must be done by then: the rest is kept to record and release
    record: float  # the record's retries stop here, leaving the release a moment

    @classmethod
    def from_remaining(cls, remaining_s: float) -> Deadlines:
        end = time.monotonic() + remaining_s
        reserve = min(RECORDING_RESERVE_S, remaining_s / 4)
        return cls(end, end - reserve, end - min(RELEASE_RESERVE_S, reserve / 2))


@dataclass(frozen=True)
class RunReport:
    outcome: Outcome
    run_id: UUID | None = None
    reason: str | None = None


@dataclass(frozen=True)
class RunnerQueries:
    """The runner's statements: its runs' (claim, start, record) and the queue's (wait, hand on,
    the queue's order)."""

    runs: RunQueries
    queue: QueueQueries

    @classmethod
    def over(cls, db: Database) -> RunnerQueries:
        return cls(RunQueries(db), QueueQueries(db))


@dataclass(frozen=True)
class Fire:
    """One invocation of the runner: its fire, its token, its dependencies and its time."""

    event: RunnerEvent
    token: str
    queries: RunnerQueries
    lock: LeaseLock
    now: Clock
    deadlines: Deadlines
    started_at: datetime
    lease_s: float
    prestart_until: float
    hand_on: run_queue.HandOn | None


def retrying[T](what: str, until: float, call: Callable[[], T]) -> T:
    """`call()`, repeated with jittered backoff on DependencyUnavailable until `until`
    (time.monotonic()); only for calls that are safe to repeat."""
    delay = 0.05
    while True:
        try:
            return call()
        except DependencyUnavailable as exc:
            if time.monotonic() + delay >= until:
                raise
            logger.warning(f"{what} failed; retrying", error=str(exc))
            time.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, 2.0)


def release(fire: Fire, lease: Lease) -> None:
    """Free the lease, retrying for a while; never raises (it expires on its own)."""
    until = min(fire.deadlines.end, time.monotonic() + get_settings().runner_retry_s)
    try:
        retrying("lease release", until, lambda: fire.lock.release(lease))
    except Exception:
        logger.exception("cannot release the workflow lease; it expires on its own")
