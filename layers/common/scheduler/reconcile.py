"""Reconcile: make EventBridge Scheduler hold exactly the schedules the database describes.

The serverless form of "on startup, register every enabled schedule": the database is the source
of truth. One pass reads every row and every schedule of the group, compares each schedule's
full description (GetSchedule; ListSchedules returns only summaries) with what the row maps to,
and repairs only what differs: missing schedules are created, changed ones updated, orphans and
surplus day-of-week halves deleted. A pass that finds nothing to repair makes no write call.
It also fails runs left `running` by a runner that died (their lease expired).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from aws_lambda_powertools.metrics import MetricUnit

from scheduler.errors import DomainError, ReconcileIncomplete, ScheduleNotFound
from scheduler.eventbridge import EventBridgeSchedules, desired_schedules, schedule_id_of
from scheduler.observability import logger, metrics
from scheduler.store import Store

# An API create inserts its row and creates the schedule before it commits: a schedule this new
# may belong to a row we cannot see yet, so it is not an orphan until the next pass.
ORPHAN_GRACE = timedelta(minutes=5)
# GetSchedule calls in flight at once: enough to make a pass fast, few enough to avoid throttling.
GET_CONCURRENCY = 4
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

    wanted: dict[str, dict[str, Any]] = {}  # schedule name -> Create/UpdateSchedule kwargs
    owner_of: dict[str, UUID] = {}  # schedule name -> row id, for names the rows want
    known_rows: set[UUID] = set()
    invalid_rows: set[UUID] = set()
    for row in store.iter_all_schedules():
        known_rows.add(row["id"])
        try:
            for name, kwargs in desired_schedules(row).items():
                wanted[name] = kwargs
                owner_of[name] = row["id"]
        except ValueError:  # CronError or InvalidTimezone: left as it is, reported
            invalid_rows.add(row["id"])
            logger.warning(
                "schedule row has an unmappable cron or timezone",
                extra={"schedule_id": row["id"]},
            )

    existing = {listed["Name"]: listed for listed in schedules.iter_schedules()}
    actual = _describe(schedules, [name for name in existing if name in wanted])

    rows_to_apply: dict[UUID, list[str]] = defaultdict(list)  # row id -> what applying it fixes
    orphans: dict[UUID, int] = defaultdict(int)  # id of a row that is gone -> its names
    for name, kwargs in wanted.items():
        description = actual.get(name)
        if description is None:
            rows_to_apply[owner_of[name]].append("created")
        elif not _matches(description, kwargs):
            rows_to_apply[owner_of[name]].append("updated")
        else:
            summary.unchanged += 1
    cutoff = now() - ORPHAN_GRACE
    for name, listed in existing.items():
        schedule_id = schedule_id_of(name)
        if name in wanted or schedule_id is None or schedule_id in invalid_rows:
            continue  # wanted, not a name we ever make, or a row we cannot map
        if schedule_id in known_rows:
            # the day-of-week half of a row that no longer splits: applying the row drops it
            rows_to_apply[schedule_id].append("deleted")
        elif _modified_after(listed, cutoff):
            summary.deferred += 1
        else:
            orphans[schedule_id] += 1

    for schedule_id, changes in rows_to_apply.items():
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

    summary.invalid_rows = len(invalid_rows)
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


def _describe(schedules: EventBridgeSchedules, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Full descriptions of `names` (GetSchedule each, a few at a time); gone ones are absent."""
    ordered = list(names)
    with ThreadPoolExecutor(max_workers=GET_CONCURRENCY) as pool:
        descriptions = pool.map(schedules.get, ordered)
        return {
            name: description
            for name, description in zip(ordered, descriptions, strict=True)
            if description is not None
        }


def _matches(actual: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    if any(actual.get(field) != wanted[field] for field in _COMPARED_FIELDS):
        return False
    target = actual.get("Target") or {}
    if any(target.get(key) != value for key, value in wanted["Target"].items()):
        return False
    # a start or end date would silence the schedule outside a window the row knows nothing of
    return not actual.get("StartDate") and not actual.get("EndDate")


def _modified_after(listed: Mapping[str, Any], cutoff: datetime) -> bool:
    modified = listed.get("LastModificationDate") or listed.get("CreationDate")
    return isinstance(modified, datetime) and modified > cutoff


def _repair(store: Store, schedules: EventBridgeSchedules, schedule_id: UUID) -> bool:
    """Make one row's schedules match the row as it is NOW; True on success.

    The row lock serialises with an API write in flight, so a pass working from an older
    snapshot never resurrects a schedule the API just deleted or undoes one it just changed.
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
