"""Reconcile: make EventBridge Scheduler hold exactly the schedules the database describes.

The serverless form of "on startup, register every enabled schedule": the database is the source
of truth. One pass lists every schedule of the group, then streams the rows past it, comparing
each schedule's full description (GetSchedule; ListSchedules returns only summaries) with what
its row maps to, and repairs only what differs: missing schedules are created, changed ones
updated, orphans and surplus day-of-week halves deleted. A pass that finds nothing to repair makes
no write call; its memory holds names, not every row's or schedule's description.
It also fails runs left `running` by a runner that died (their lease expired).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

from aws_lambda_powertools.metrics import MetricUnit

from scheduler.errors import DomainError, ReconcileIncomplete, ScheduleNotFound
from scheduler.eventbridge import EventBridgeSchedules, desired_schedules, schedule_id_of
from scheduler.observability import logger, metrics
from scheduler.store import Row, Store

# An API create inserts its row and creates the schedule before it commits: a schedule this new
# may belong to a row we cannot see yet, so it is not an orphan until the next pass.
ORPHAN_GRACE = timedelta(minutes=5)
# GetSchedule calls in flight at once: enough to make a pass fast, few enough to avoid throttling.
GET_CONCURRENCY = 4
# Calls queued ahead of the one whose answer is compared next: enough that no worker waits for the
# comparing thread, few enough that a pass holds a handful of descriptions, not one per schedule.
_QUEUED_GETS = 2 * GET_CONCURRENCY
# Fields of a schedule that the row decides; anything else AWS returns is not ours to compare.
_COMPARED_FIELDS = (
    "ScheduleExpression",
    "ScheduleExpressionTimezone",
    "State",
    "Description",
    "FlexibleTimeWindow",
)


@dataclass
class ReconcileSummary:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    # an orphan younger than ORPHAN_GRACE, left for the next pass
    deferred: int = 0
    # rows whose cron or timezone cannot be mapped (written around the API); left alone
    invalid_rows: int = 0
    # schedules whose repair failed (EventBridge or the database); the next pass retries them
    failed: int = 0
    abandoned_runs_failed: int = 0


def reconcile(
    store: Store,
    schedules: EventBridgeSchedules,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, int]:
    """One full pass; returns the counts. ReconcileIncomplete if some repairs failed."""
    summary = ReconcileSummary(abandoned_runs_failed=store.fail_abandoned_runs(now()))

    # Listed first, so each row is compared as it streams past. A name and its change time are
    # all the orphan check needs: the pass never holds every row or every description at once.
    listed = {brief["Name"]: _changed_at(brief) for brief in schedules.iter_schedules()}
    scan = _RowScan()
    to_compare = scan.listed_schedules(store.iter_all_schedules(), listed)
    for want, description in _describe(schedules, to_compare):
        if description is None:  # deleted since it was listed
            scan.rows_to_apply[want.schedule_id].append("created")
        elif not _matches(description, want.kwargs):
            scan.rows_to_apply[want.schedule_id].append("updated")
        else:
            summary.unchanged += 1

    orphans: dict[UUID, int] = defaultdict(int)  # id of a row that is gone -> its names
    cutoff = now() - ORPHAN_GRACE
    for name, changed_at in listed.items():
        schedule_id = schedule_id_of(name)
        if name in scan.wanted or schedule_id is None or schedule_id in scan.invalid_rows:
            continue  # wanted, not a name we ever make, or a row we cannot map
        if schedule_id in scan.known_rows:
            # the day-of-week half of a row that no longer splits: applying the row drops it
            scan.rows_to_apply[schedule_id].append("deleted")
        elif changed_at is not None and changed_at > cutoff:
            summary.deferred += 1
        else:
            orphans[schedule_id] += 1

    for schedule_id, changes in scan.rows_to_apply.items():
        if _repair(store, schedules, schedule_id):
            for change in changes:
                setattr(summary, change, getattr(summary, change) + 1)
        else:
            summary.failed += 1
    for schedule_id, names in orphans.items():
        if _repair(store, schedules, schedule_id):
            summary.deleted += names
        else:
            summary.failed += 1

    summary.invalid_rows = len(scan.invalid_rows)
    counts = asdict(summary)
    logger.info("reconciled", extra={"summary": counts})  # "created" is a LogRecord field
    metrics.add_metric(
        name="SchedulesRepaired",
        unit=MetricUnit.Count,
        value=summary.created + summary.updated + summary.deleted,
    )
    metrics.add_metric(name="RepairsFailed", unit=MetricUnit.Count, value=summary.failed)
    if summary.failed:
        raise ReconcileIncomplete(counts)
    return counts


class _Wanted(NamedTuple):
    name: str
    schedule_id: UUID
    kwargs: dict[str, Any]  # what Create/UpdateSchedule would be sent


@dataclass
class _RowScan:
    """What a pass keeps of the rows it streams past: names and ids."""

    wanted: set[str] = field(default_factory=set)  # every schedule name the rows map to
    known_rows: set[UUID] = field(default_factory=set)
    invalid_rows: set[UUID] = field(default_factory=set)
    # row id -> what applying it fixes
    rows_to_apply: defaultdict[UUID, list[str]] = field(default_factory=lambda: defaultdict(list))

    def listed_schedules(self, rows: Iterable[Row], listed: Container[str]) -> Iterator[_Wanted]:
        """Yields each schedule the rows map to that EventBridge lists; the others are created."""
        for row in rows:
            self.known_rows.add(row["id"])
            try:
                desired = desired_schedules(row)
            except ValueError:  # CronError or InvalidTimezone: left as it is, reported
                self.invalid_rows.add(row["id"])
                logger.warning(
                    "schedule row has an unmappable cron or timezone",
                    extra={"schedule_id": row["id"]},
                )
                continue
            for name, kwargs in desired.items():
                self.wanted.add(name)
                if name in listed:
                    yield _Wanted(name, row["id"], kwargs)
                else:
                    self.rows_to_apply[row["id"]].append("created")


def _describe(
    schedules: EventBridgeSchedules, wanted: Iterable[_Wanted]
) -> Iterator[tuple[_Wanted, dict[str, Any] | None]]:
    """Each of `wanted` with its GetSchedule description (None: gone), in order, a few at a time."""
    pool = ThreadPoolExecutor(max_workers=GET_CONCURRENCY)
    in_flight: deque[tuple[_Wanted, Future[dict[str, Any] | None]]] = deque()
    try:
        for item in wanted:
            in_flight.append((item, pool.submit(schedules.get, item.name)))
            if len(in_flight) > _QUEUED_GETS:
                done, future = in_flight.popleft()
                yield done, future.result()
        for done, future in in_flight:
            yield done, future.result()
    finally:
        pool.shutdown(cancel_futures=True)  # after a failure, the queued calls are not made


def _matches(actual: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    if any(actual.get(field) != wanted[field] for field in _COMPARED_FIELDS):
        return False
    target = actual.get("Target") or {}
    if any(target.get(key) != value for key, value in wanted["Target"].items()):
        return False
    # a start or end date would silence the schedule outside a window the row knows nothing of
    return not actual.get("StartDate") and not actual.get("EndDate")


def _changed_at(listed: Mapping[str, Any]) -> datetime | None:
    changed = listed.get("LastModificationDate") or listed.get("CreationDate")
    return changed if isinstance(changed, datetime) else None


def _repair(store: Store, schedules: EventBridgeSchedules, schedule_id: UUID) -> bool:
    """Make one row's schedules match the row as it is NOW; True on success.

    The schedule's writer lock serialises with an API write in flight, so a pass working from an
    older snapshot never resurrects a schedule the API just deleted or undoes one it just changed;
    it is not a row lock, so the runner never waits on the EventBridge calls made under it.
    """
    try:
        with store.transaction():
            try:
                row = store.lock_schedule(schedule_id)
            except ScheduleNotFound:
                schedules.remove(schedule_id)
            else:
                schedules.apply(row)
    except DomainError:
        logger.exception(
            "reconcile could not repair a schedule", extra={"schedule_id": schedule_id}
        )
        return False
    return True
