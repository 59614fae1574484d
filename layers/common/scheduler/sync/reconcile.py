"""Reconcile: make EventBridge Scheduler hold exactly the schedules the database describes.

The serverless form of "on startup, register every enabled schedule": the database is the source
of truth. A pass lists the schedules by name prefix and streams the rows of the same id range
past them, in id order, repairing what differs: missing schedules are created, changed ones
updated, orphans and surplus day-of-week halves deleted.

A pass costs calls per page, not per schedule. Every writer records, with the row, what it wrote
to EventBridge and when (store.sync_state): a schedule whose row still maps to the recorded
fingerprint, whose listed State is the row's and whose LastModificationDate is not newer than
the record (beyond clock skew) was last written by us, as the row says: ListSchedules' summary
is enough. Anything else (no record, a row changed around the API, a schedule changed out of
band, a redeploy that changed the target) is fetched with GetSchedule and compared in full as
before; one found in step gets a record, so the next pass need not fetch it again.

A pass can be split into shards (scheduler.sync.shards) that run as parallel invocations;
one whose time runs out stops after a batch and hands where it stopped to a continuation. The
pass as a whole (the sweep of abandoned runs, the missed-fire check, then the shards) is
scheduler.policies.periodic_pass.
"""

from __future__ import annotations

import bisect
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

from aws_lambda_powertools.metrics import MetricUnit

from scheduler.config import get_settings
from scheduler.errors import DomainError, ReconcileIncomplete, ScheduleNotFound
from scheduler.observability import logger, metrics
from scheduler.store.db import Database
from scheduler.store.schedules import ScheduleQueries
from scheduler.store.sql import Row
from scheduler.store.sync_state import SyncStateQueries, Written
from scheduler.sync.dst_schedules import row_names, split_dst_name
from scheduler.sync.eventbridge import (
    EventBridgeSchedules,
    desired_schedules,
    fingerprint,
    keeps_leftover,
    schedule_id_of,
    schedule_names,
)
from scheduler.sync.schedule_compare import Listed, as_time, listed, matches, state_in_step
from scheduler.sync.shards import ShardTask, id_range, sub_prefixes

Clock = Callable[[], datetime]
# An API create inserts its row and creates the schedule before it commits: a schedule this new
# may belong to a row we cannot see yet, so it is not an orphan until the next pass.
ORPHAN_GRACE = timedelta(minutes=5)
# GetSchedule calls in flight at once: enough to make a pass fast, few enough to avoid throttling
# (shards running at once multiply it: see ReconcileConcurrency in the template).
GET_CONCURRENCY = 4
# Calls queued ahead of the one whose answer is compared next: enough that no worker waits for the
# comparing thread, few enough that a pass holds a handful of descriptions, not one per schedule.
_QUEUED_GETS = 2 * GET_CONCURRENCY
# Rows compared, and repaired, between two looks at the clock.
ROW_BATCH = 500
# A listing held at once covers one chunk: a sub-prefix of the shard holding about this many rows
# or more, so a chunk's last, partial page adds at most 1/500 of a call per schedule, and memory
# and what a continuation lists again stay a few thousand names.
CHUNK_MIN_ROWS = 500
# Time left at which an invocation stops after its batch and hands on: a batch of repairs and
# the listing of a chunk fit in it with room, even throttled.
RESERVE_S = 90.0


def utc_now() -> datetime:
    return datetime.now(UTC)


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
    # claims whose lease expired before they started: recorded missed, or caught up
    abandoned_claims_missed: int = 0
    # schedules fetched with GetSchedule (no record, or the summary shows a change)
    described: int = 0
    # pending EventBridge updates of bulk changes written first (scheduler.sync.pending)
    drained: int = 0
    # 1 when this invocation stopped short and handed the rest of its shard on
    continued: int = 0
    # shards or continuations that could not be started (the next pass covers them)
    unstarted: int = 0

    def add(self, other: ReconcileSummary) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


class ShardOutcome(NamedTuple):
    summary: ReconcileSummary
    # the continuation of the shard when it stopped short; None when it is done
    resume: ShardTask | None


@dataclass(frozen=True)
class ReconcileQueries:
    """What reconcile reads and writes: the rows with what was last written to EventBridge for
    them, and the schedule's writer lock a repair holds (in a transaction of `db`)."""

    db: Database
    schedules: ScheduleQueries
    sync_state: SyncStateQueries

    @classmethod
    def over(cls, db: Database) -> ReconcileQueries:
        return cls(db, ScheduleQueries(db), SyncStateQueries(db))


def reconcile_shard(
    queries: ReconcileQueries,
    schedules: EventBridgeSchedules,
    task: ShardTask,
    *,
    now: Clock = utc_now,
    remaining_s: Callable[[], float] | None = None,
) -> ShardOutcome:
    """Reconcile the rows and schedules of one shard, from `task.after` on, a chunk at a time.

    With `remaining_s`, it stops once that falls under RESERVE_S (after at least one batch,
    so every invocation makes progress) and returns the continuation.
    """
    summary = ReconcileSummary()
    low, high = id_range(task.prefix)
    rows = queries.sync_state.count_schedules_between(task.after or low, high)
    digits = 0
    while len(task.prefix) + digits < 4 and rows // 16 ** (digits + 1) >= CHUNK_MIN_ROWS:
        digits += 1
    done_upto, worked = task.after, False

    def out_of_time() -> bool:
        return worked and remaining_s is not None and remaining_s() < RESERVE_S

    for prefix in sub_prefixes(task.prefix, digits):
        chunk_low, chunk_high = id_range(prefix)
        if task.after is not None and chunk_high <= task.after:
            continue
        if out_of_time():
            return ShardOutcome(summary, _continuation(task, done_upto))
        after = task.after if task.after is not None and task.after >= chunk_low else None
        chunk = _Chunk(queries, schedules, prefix, after, summary, now)
        for last in chunk.batches():
            worked, done_upto = True, last
            if out_of_time():
                return ShardOutcome(summary, _continuation(task, done_upto))
        worked, done_upto = True, chunk_high
    return ShardOutcome(summary, None)


def _continuation(task: ShardTask, done_upto: UUID | None) -> ShardTask:
    assert done_upto is not None  # out_of_time() needs a batch done
    return task.continued_after(done_upto)


class _Wanted(NamedTuple):
    name: str
    schedule_id: UUID
    kwargs: dict[str, Any]  # what Create/UpdateSchedule would be sent


@dataclass
class _Chunk:
    """The rows and schedules of one name prefix: one listing, then the rows in batches."""

    queries: ReconcileQueries
    schedules: EventBridgeSchedules
    prefix: str
    after: UUID | None  # rows up to it are done (a continuation)
    summary: ReconcileSummary
    now: Clock
    listed: dict[str, Listed] = field(default_factory=dict)
    # ids our listed names belong to, sorted, and how far the orphan sweep has gone
    listed_ids: list[UUID] = field(default_factory=list)
    swept: int = 0
    # row id -> the names of its DST at() schedules listed (scheduler.sync.dst_schedules)
    listed_dst: defaultdict[UUID, list[str]] = field(default_factory=lambda: defaultdict(list))

    def _names_of(self, schedule_id: UUID, desired: Iterable[str] = ()) -> list[str]:
        return row_names(schedule_names(schedule_id), self.listed_dst[schedule_id], desired)

    def batches(self) -> Iterator[UUID]:
        """Compare and repair a batch of rows at a time; yields the last id of each."""
        for brief in self.schedules.iter_schedules(self.prefix):
            self.listed[brief["Name"]] = listed(brief)
            dst = split_dst_name(brief["Name"])
            if dst is not None and (schedule_id := schedule_id_of(brief["Name"])) is not None:
                self.listed_dst[schedule_id].append(brief["Name"])
        ids = {schedule_id_of(name) for name in self.listed}
        self.listed_ids = sorted(i for i in ids if i and (self.after is None or i > self.after))
        low, high = id_range(self.prefix)
        self.cutoff = self.now() - ORPHAN_GRACE
        batches = self.queries.sync_state.schedule_batches_with_state(
            low, high, after=self.after, batch=ROW_BATCH
        )
        for rows in batches:
            self._compare(rows)
            self._sweep_orphans({row["id"] for row in rows}, upto=rows[-1]["id"])
            yield rows[-1]["id"]
        self._sweep_orphans(set(), upto=None)

    def _compare(self, rows: list[Row]) -> None:
        to_apply: defaultdict[UUID, list[str]] = defaultdict(list)  # row id -> what it fixes
        to_describe: list[_Wanted] = []
        fingerprints: dict[UUID, str] = {}
        # row id -> the modification times of its schedules (None: not given), listed or fetched
        stamps: defaultdict[UUID, list[datetime | None]] = defaultdict(list)
        tolerance = timedelta(seconds=get_settings().reconcile_clock_tolerance_s)
        now = self.now()
        for row in rows:
            try:
                desired = desired_schedules(row, now)
            except ValueError:  # CronError or InvalidTimezone: left as it is, reported
                self.summary.invalid_rows += 1
                logger.warning(
                    "schedule row has an unmappable cron or timezone",
                    extra={"schedule_id": row["id"]},
                )
                continue
            schedule_id, print_ = row["id"], fingerprint(desired)
            fingerprints[schedule_id] = print_
            recorded = row["sync_written_at"] if row["sync_fingerprint"] == print_ else None
            for name in self._names_of(schedule_id, desired):
                brief = self.listed.get(name)
                if name not in desired:
                    # the day-of-week half of a row that no longer splits, or a one-time
                    # schedule's at() past its delivery (EventBridge deletes it; one left is ours),
                    # or a DST at() the row no longer wants (its instant passed, or its policy
                    # or cron changed)
                    if brief is not None and not keeps_leftover(row, now, name):
                        to_apply[schedule_id].append("deleted")
                    continue
                if brief is None:
                    to_apply[schedule_id].append("created")
                    continue
                stamps[schedule_id].append(brief.modified_at)
                if (
                    recorded is not None
                    and brief.modified_at is not None
                    and brief.modified_at <= recorded + tolerance
                    and state_in_step(brief.state, desired[name], now)
                ):
                    self.summary.unchanged += 1  # last written by us, as the row still says
                else:
                    to_describe.append(_Wanted(name, schedule_id, desired[name]))

        described: set[UUID] = set()
        for want, description in _describe(self.schedules, to_describe):
            self.summary.described += 1
            described.add(want.schedule_id)
            if description is None:  # deleted since it was listed
                to_apply[want.schedule_id].append("created")
            elif not matches(description, want.kwargs, now):
                to_apply[want.schedule_id].append("updated")
            else:
                self.summary.unchanged += 1
                stamps[want.schedule_id].append(as_time(description.get("LastModificationDate")))

        # Rows found in step by GetSchedule get a record in AWS's own time: no call next pass.
        verified = []
        for schedule_id in described - to_apply.keys():
            times = [t for t in stamps[schedule_id] if t is not None]
            if len(times) == len(stamps[schedule_id]):  # AWS gave every time
                verified.append((schedule_id, Written(fingerprints[schedule_id], max(times))))
        self.queries.sync_state.record_eventbridge_states(verified)
        for schedule_id, changes in to_apply.items():
            if _repair(self.queries, self.schedules, schedule_id, self.listed_dst[schedule_id]):
                for change in changes:
                    setattr(self.summary, change, getattr(self.summary, change) + 1)
            else:
                self.summary.failed += 1

    def _sweep_orphans(self, row_ids: set[UUID], *, upto: UUID | None) -> None:
        """Listed ids up to `upto` (every one left for None) that no row has: orphans."""
        end = len(self.listed_ids) if upto is None else bisect.bisect_right(self.listed_ids, upto)
        for schedule_id in self.listed_ids[self.swept : end]:
            if schedule_id in row_ids:
                continue
            names = [self.listed[n] for n in self._names_of(schedule_id) if n in self.listed]
            young = sum(1 for b in names if b.changed_at is not None and b.changed_at > self.cutoff)
            if young == len(names):
                self.summary.deferred += young
            elif _repair(self.queries, self.schedules, schedule_id, self.listed_dst[schedule_id]):
                self.summary.deleted += len(names)
            else:
                self.summary.failed += 1
        self.swept = max(self.swept, end)


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


def _repair(
    queries: ReconcileQueries,
    schedules: EventBridgeSchedules,
    schedule_id: UUID,
    dst_listed: list[str],
) -> bool:
    """Make one row's schedules match the row as it is NOW, and record it; True on success.

    The schedule's writer lock serialises with an API write in flight, so a pass working from an
    older snapshot never resurrects a schedule the API just deleted or undoes one it just changed;
    it is not a row lock, so the runner never waits on the EventBridge calls made under it.
    """
    try:
        with queries.db.transaction():
            try:
                row = queries.schedules.lock_schedule(schedule_id)
            except ScheduleNotFound:
                schedules.remove(schedule_id, dst_known=dst_listed)
            else:
                written = schedules.apply(row, dst_known=dst_listed)
                queries.sync_state.record_eventbridge_state(schedule_id, written)
    except DomainError:
        logger.exception(
            "reconcile could not repair a schedule", extra={"schedule_id": schedule_id}
        )
        return False
    return True


def finish(summary: ReconcileSummary) -> dict[str, int]:
    counts = asdict(summary)
    logger.info("reconciled", extra={"summary": counts})  # "created" is a LogRecord field
    metrics.add_metric(
        name="SchedulesRepaired",
        unit=MetricUnit.Count,
        value=summary.created + summary.updated + summary.deleted,
    )
    metrics.add_metric(name="RepairsFailed", unit=MetricUnit.Count, value=summary.failed)
    if summary.failed or summary.unstarted:
        raise ReconcileIncomplete(counts)
    return counts
