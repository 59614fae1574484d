"""Run history retention: runs scheduled more than `run_history_days` ago are deleted.

Each schedule keeps its latest finished run (what `GET /api/schedules/{id}` shows as lastRun,
unless a newer one is still running) whatever its age, and a run still running is never deleted
(reconcile fails it once its lease expires; a later pass deletes it then).

A pass walks the history oldest first in batches: each batch is one short statement (its own
transaction, bounded by the database timeouts) that reads at most `batch_size` index entries
past the previous batch's last one and deletes those that may go, skipping rows another
transaction holds locked instead of waiting for them. So a batch holds its row locks for
milliseconds, the API's reads and the runner's writes never queue behind a pass, and a pass stops
between two batches when its time budget is spent: the next one starts again from the oldest
entry, where only what is left remains.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from aws_lambda_powertools.metrics import MetricUnit

from scheduler.observability import logger, metrics
from scheduler.store.audit import AuditQueries
from scheduler.store.exceptions import ExceptionQueries
from scheduler.store.history import HistoryPosition, HistoryQueries

# Rows read (and at most deleted) per statement: a batch takes tens of milliseconds, a million
# expired rows take a few hundred batches (`make bench`'s retention suite).
BATCH_SIZE = 2_000
# A pass starts no batch later than this before its invocation's deadline: one batch takes at
# most the statement timeout plus the connect budget (5 s + 5 s as the template sets them).
STOP_BEFORE_DEADLINE_S = 30
_OLDEST = HistoryPosition(datetime(1, 1, 1, tzinfo=UTC), UUID(int=0))


@dataclass
class RetentionSummary:
    deleted: int = 0
    # runs older than the cutoff read, deleted or not (kept as their schedule's latest, still
    # running, or locked by another transaction)
    scanned: int = 0
    batches: int = 0
    # False: the budget ran out first; the next pass continues
    complete: bool = False


def pass_budget_s(time_left_ms: int) -> float:
    """How long a pass may start batches in an invocation with `time_left_ms` to run."""
    return max(0.0, time_left_ms / 1000 - STOP_BEFORE_DEADLINE_S)


def delete_expired_runs(
    history: HistoryQueries,
    *,
    keep_days: int,
    budget_s: float,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, int | bool]:
    """One pass: delete what has expired, batch by batch, while the budget lasts.

    The clock is read once at the start and once before each batch. A failed batch (a
    timeout) ends the pass with what it deleted so far committed, and raises.
    """
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    summary = RetentionSummary()
    deadline = clock() + budget_s
    after = _OLDEST
    try:
        while clock() < deadline:
            batch = history.delete_expired_run_batch(
                cutoff=cutoff, after=after, batch_size=batch_size
            )
            summary.batches += 1
            summary.scanned += batch.scanned
            summary.deleted += batch.deleted
            if batch.last is None or batch.scanned < batch_size:
                summary.complete = True
                break
            after = batch.last
    finally:
        counts = asdict(summary)
        logger.info("run history retention", extra={"retention": counts, "cutoff": cutoff})
        metrics.add_metric(name="RunsDeleted", unit=MetricUnit.Count, value=summary.deleted)
    if not summary.complete:
        logger.warning("run history retention stopped at its time budget; the next pass goes on")
    return counts


def delete_expired_audit_events(
    audit: AuditQueries,
    *,
    keep_days: int,
    now: datetime,
    more: Callable[[], bool],
    batch_size: int = BATCH_SIZE,
) -> int:
    """Delete the audit events older than `keep_days`, oldest first, a short statement per
    batch while `more()` (the pass's budget): how many went. Nothing keeps an old event (unlike
    a schedule's latest run): the log is a record of the past, kept for its period."""
    cutoff = now - timedelta(days=keep_days)
    deleted = _in_batches(audit.delete_expired_batch, cutoff, more, batch_size)
    metrics.add_metric(name="AuditEventsDeleted", unit=MetricUnit.Count, value=deleted)
    logger.info("audit log retention", extra={"deleted": deleted, "cutoff": cutoff})
    return deleted


def delete_expired_exceptions(
    exceptions: ExceptionQueries,
    *,
    keep_days: int,
    now: datetime,
    more: Callable[[], bool],
    batch_size: int = BATCH_SIZE,
) -> int:
    """Delete the schedules' exceptions whose time (occurrence, and a move's new time) passed
    more than `keep_days` ago (the run history's period), a short statement per batch while
    `more()`: how many went. Nothing reads them then: the missed-fire check and backfill look
    back less far, and the accounting calls a fire time that old outsideRetention unless its
    run says more. Without this they would pile up for as long as a schedule lives."""
    cutoff = now - timedelta(days=keep_days)
    deleted = _in_batches(exceptions.delete_expired_batch, cutoff, more, batch_size)
    metrics.add_metric(name="ExceptionsDeleted", unit=MetricUnit.Count, value=deleted)
    logger.info("exceptions retention", extra={"deleted": deleted, "cutoff": cutoff})
    return deleted


def _in_batches(
    delete_batch: Callable[..., int], cutoff: datetime, more: Callable[[], bool], batch_size: int
) -> int:
    """Call `delete_batch` while `more()` and each batch comes back full: how many went."""
    deleted = 0
    while more():
        batch = delete_batch(cutoff=cutoff, batch_size=batch_size)
        deleted += batch
        if batch < batch_size:
            break
    return deleted
