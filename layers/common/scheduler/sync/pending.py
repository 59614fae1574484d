"""The drain of pending EventBridge updates: make EventBridge follow the rows a bulk change
committed (store.sync_pending), oldest first, at a bounded rate, within a time budget.

A bulk pause or resume of thousands of schedules commits every row in one transaction and cannot
update as many EventBridge schedules inside one API request (UpdateSchedule's quota is tens of
calls per second, the request has 30 s). The database is the truth from the commit on: the
runner claims no fire of a disabled row, so a pause is in force before EventBridge hears of it.
What the request had no time for stays marked, and any drain finishes it: the request's retry,
the drain invocation it starts, the reconcile pass (which drains before its shards), or, for a
marker lost somehow, reconcile's comparison (the row's fingerprint no longer matches the record).

Each schedule is written as _repair does (sync.reconcile): under its writer lock, from the row
as committed now, recorded with the row, and its marker removed in the same transaction. A
drain stops at the first EventBridge or database failure: the rest stays marked for the next.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from scheduler.config import get_settings
from scheduler.errors import DependencyUnavailable, InvalidInput
from scheduler.observability import logger
from scheduler.store.db import Database
from scheduler.store.schedules import ScheduleQueries
from scheduler.store.sql import Row
from scheduler.store.sync_pending import PendingMarker, PendingSyncQueries
from scheduler.store.sync_state import SyncStateQueries
from scheduler.sync.eventbridge import EventBridgeSchedules, desired_schedules
from scheduler.sync.reconcile import ReconcileQueries

# Markers read per query.
BATCH = 200
# The event of a ReconcileFunction invocation that only drains (sync.shards.invoke_drain).
DRAIN_EVENT_KEY, DRAIN_PENDING = "drain", "pending"


@dataclass(frozen=True)
class DrainQueries:
    """What a drain reads and writes: the markers, the rows under their writer locks, and the
    record of each write (all in one transaction of `db` per schedule)."""

    db: Database
    schedules: ScheduleQueries
    sync_state: SyncStateQueries
    pending: PendingSyncQueries

    @classmethod
    def over(cls, db: Database) -> DrainQueries:
        return cls(db, ScheduleQueries(db), SyncStateQueries(db), PendingSyncQueries(db))

    @classmethod
    def of(cls, reconcile: ReconcileQueries) -> DrainQueries:
        """Reconcile's queries and the markers, over reconcile's Database."""
        return cls(
            reconcile.db,
            reconcile.schedules,
            reconcile.sync_state,
            PendingSyncQueries(reconcile.db),
        )


@dataclass
class DrainSummary:
    # schedules whose EventBridge schedule(s) now follow the row
    written: int = 0
    # rows EventBridge cannot take as they are (left to reconcile, which reports them)
    invalid: int = 0
    # True when a failure stopped the drain (the rest stays marked)
    interrupted: bool = False


class Pacer:
    """At most `rate` schedules a second: each call to `wait` returns no sooner than its turn."""

    def __init__(self, rate: float) -> None:
        self.interval = 1 / rate
        self.next_at = time.monotonic()

    def wait(self, calls: int = 1) -> None:
        delay = self.next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self.next_at = max(self.next_at, time.monotonic()) + calls * self.interval


def drain_pending(
    queries: DrainQueries,
    eventbridge: EventBridgeSchedules,
    *,
    owner: UUID | None,
    time_left_s: Callable[[], float],
    rate: float | None = None,
) -> DrainSummary:
    """Write the owner's marked schedules (None: everyone's) to EventBridge, oldest first, at
    `rate` schedules a second (the setting's by default), while `time_left_s()` is positive."""
    summary = DrainSummary()
    pacer = Pacer(rate or get_settings().eventbridge_drain_rate)
    while time_left_s() > 0:
        markers = queries.pending.oldest_pending(owner, BATCH)
        progress = False
        for marker in markers:
            if time_left_s() <= 0:
                return summary
            pacer.wait()
            try:
                outcome = _write_one(queries, eventbridge, marker)
            except DependencyUnavailable:
                logger.exception(
                    "drain of pending EventBridge updates stopped; the next drain continues",
                    extra={"schedule_id": str(marker.schedule_id)},
                )
                summary.interrupted = True
                return summary
            if outcome == "written":
                summary.written += 1
            elif outcome == "invalid":
                summary.invalid += 1
            progress = progress or outcome != "skipped"
        if len(markers) < BATCH or not progress:
            return summary
    return summary


def _write_one(
    queries: DrainQueries, eventbridge: EventBridgeSchedules, marker: PendingMarker
) -> str:
    """Make one marked schedule follow its row; "written", "invalid", or "skipped" (the marker
    is no longer this one: done by another drain, or the row changed again since)."""
    with queries.db.transaction():
        queries.schedules.lock_schedule_writers(marker.schedule_id)
        row = queries.pending.pending_row(marker)
        if row is None:
            return "skipped"
        try:
            # a bulk change touches `enabled` only: the names are those EventBridge has, so one
            # UpdateSchedule per name (a missing one is created: EventBridgeSchedules._put)
            names = desired_schedules(row).keys()
        except ValueError:  # CronError or InvalidTimezone: written around the API
            names = None
        try:
            written = eventbridge.apply(row, existing=names)
        except InvalidInput:
            outcome = _unwritable(queries, eventbridge, row)
        else:
            queries.sync_state.record_eventbridge_state(marker.schedule_id, written)
            outcome = "written"
        queries.pending.clear_pending(marker)
    return outcome


def _unwritable(queries: DrainQueries, eventbridge: EventBridgeSchedules, row: Row) -> str:
    """A row EventBridge cannot take as it is. A disabled one needs no schedule: its schedules
    are removed, as a pause of such a row through the API does ("written"). An enabled one is
    left to reconcile, which reports it (invalid_rows) and leaves it alone ("invalid")."""
    if not row["enabled"]:
        eventbridge.remove(row["id"])
        queries.sync_state.forget_eventbridge_state(row["id"])
        return "written"
    logger.warning(
        "pending schedule cannot be written to EventBridge",
        extra={"schedule_id": str(row["id"])},
    )
    return "invalid"
