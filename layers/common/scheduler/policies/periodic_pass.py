"""One ReconcileFunction pass, as its coordinator runs it: settle the abandoned runs, run the
missed-fire check, keep the moved occurrences' at() schedules (scheduler.sync.moves), then the
reconcile of every shard (scheduler.sync.reconcile), each one's failure kept from stopping the
others.

The coordinator is an invocation without a shard; it starts the shards as asynchronous
invocations of the function (or runs the only one itself). A shard invocation runs its shard and
starts its continuation when it stops short.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools.metrics import MetricUnit

from scheduler.errors import DomainError
from scheduler.observability import logger, metrics
from scheduler.policies import heartbeat
from scheduler.policies.abandoned_runs import AbandonedRunQueries, settle_abandoned_runs
from scheduler.policies.missed_fires import MissedFireQueries, check_missed_fires
from scheduler.run.queue import HandOn
from scheduler.store.db import Database
from scheduler.store.exceptions import ExceptionQueries
from scheduler.sync.eventbridge import EventBridgeSchedules
from scheduler.sync.moves import reconcile_moves
from scheduler.sync.pending import DrainQueries, drain_pending
from scheduler.sync.reconcile import (
    RESERVE_S,
    Clock,
    ReconcileQueries,
    ReconcileSummary,
    finish,
    reconcile_shard,
    utc_now,
)
from scheduler.sync.shards import MAX_HOPS, ShardTask, shard_prefixes


@dataclass(frozen=True)
class PeriodicPassQueries:
    """What the pass passes on: the sweep's, the missed-fire check's and reconcile's queries."""

    abandoned_runs: AbandonedRunQueries
    missed_fires: MissedFireQueries
    reconcile: ReconcileQueries

    @classmethod
    def over(cls, db: Database) -> PeriodicPassQueries:
        return cls(
            AbandonedRunQueries.over(db), MissedFireQueries.over(db), ReconcileQueries.over(db)
        )


def reconcile(
    queries: PeriodicPassQueries,
    schedules: EventBridgeSchedules,
    *,
    shards: int = 1,
    now: Clock = utc_now,
    hand_on: HandOn | None = None,
) -> dict[str, int]:
    """One whole pass in this process, every shard to its end (the local stack, tests)."""
    summary = ReconcileSummary()
    _drain_pending(queries, schedules, lambda: 1.0, summary)
    _settle_abandoned_runs(queries.abandoned_runs, now(), hand_on, None, summary)
    _reconcile_moves(queries, schedules, now, summary)
    for prefix in shard_prefixes(shards):
        summary.add(
            reconcile_shard(queries.reconcile, schedules, ShardTask(prefix), now=now).summary
        )
    return finish(summary)


def run_invocation(
    queries: PeriodicPassQueries,
    schedules: EventBridgeSchedules,
    task: ShardTask | None,
    *,
    shards: int,
    start: Callable[[ShardTask], None],
    remaining_s: Callable[[], float],
    hand_on: HandOn,
    now: Clock = utc_now,
    heartbeat_url: str | None = None,
) -> dict[str, int]:
    """One ReconcileFunction invocation. Without a task it coordinates a pass: it settles the
    abandoned runs, runs the missed-fire check (handing catch-up runs to the runner with
    `hand_on`, for both), then starts every shard with `start` (an asynchronous invocation), or runs
    the only one itself, and pings `heartbeat_url` (scheduler.policies.heartbeat): the URL when
    all of that completed, its /fail when a part failed. With a task it runs that shard, and
    starts its continuation if it stopped short."""
    if task is not None:
        return _run_shard(queries, schedules, task, ReconcileSummary(), start, remaining_s, now)
    passed = True
    try:
        summary = ReconcileSummary()
        keep = remaining_s() * 2 / 3
        _drain_pending(queries, schedules, lambda: remaining_s() - keep, summary)
        passed &= _settle_abandoned_runs(
            queries.abandoned_runs, now(), hand_on, remaining_s, summary
        )
        missed = _check_missed_fires(queries.missed_fires, hand_on, now, remaining_s)
        passed &= missed is not None
        _reconcile_moves(queries, schedules, now, summary)
        if shards > 1:
            for prefix in shard_prefixes(shards):
                _start(start, ShardTask(prefix), summary)
            counts = finish(summary)
        else:
            counts = _run_shard(queries, schedules, ShardTask(), summary, start, remaining_s, now)
    except Exception:  # ReconcileIncomplete, or anything that ends the invocation: a failed pass
        heartbeat.ping(heartbeat_url, passed=False)
        raise
    heartbeat.ping(heartbeat_url, passed=passed)
    return {**counts, **(missed or {})}


def _run_shard(
    queries: PeriodicPassQueries,
    schedules: EventBridgeSchedules,
    task: ShardTask,
    summary: ReconcileSummary,
    start: Callable[[ShardTask], None],
    remaining_s: Callable[[], float],
    now: Clock,
) -> dict[str, int]:
    """Reconcile `task`'s shard into `summary`, handing on what does not fit; its counts."""
    outcome = reconcile_shard(queries.reconcile, schedules, task, now=now, remaining_s=remaining_s)
    summary.add(outcome.summary)
    if outcome.resume is None:
        # reconcile's heartbeat: a shard (with one shard, the pass) reconciled to its end
        metrics.add_metric(name="ReconcileCompleted", unit=MetricUnit.Count, value=1)
    else:
        summary.continued = 1
        if outcome.resume.hops > MAX_HOPS:
            logger.error("reconcile shard gave up continuing", extra={"task": str(task)})
            summary.unstarted += 1
        else:
            _start(start, outcome.resume, summary)
    return finish(summary)


def drain_invocation(
    queries: PeriodicPassQueries,
    schedules: EventBridgeSchedules,
    *,
    remaining_s: Callable[[], float],
) -> dict[str, int]:
    """A ReconcileFunction invocation that only drains the pending EventBridge updates (started
    by a bulk change that left some): as many as fit before its reserve; the next pass's
    coordinator drains what is left."""
    summary = ReconcileSummary()
    _drain_pending(queries, schedules, lambda: remaining_s() - RESERVE_S, summary)
    return finish(summary)


def _drain_pending(
    queries: PeriodicPassQueries,
    schedules: EventBridgeSchedules,
    time_left_s: Callable[[], float],
    summary: ReconcileSummary,
) -> None:
    """The pending EventBridge updates of bulk changes first (scheduler.sync.pending): a
    resumed schedule fires again once written. A failure never stops the pass: its shards
    compare every row anyway."""
    try:
        drained = drain_pending(
            DrainQueries.of(queries.reconcile), schedules, owner=None, time_left_s=time_left_s
        )
    except DomainError:
        logger.exception("pending EventBridge updates not drained; the next pass drains them")
        summary.failed += 1
        return
    summary.drained = drained.written
    summary.invalid_rows += drained.invalid
    if drained.interrupted:
        summary.failed += 1


def _reconcile_moves(
    queries: PeriodicPassQueries,
    schedules: EventBridgeSchedules,
    now: Clock,
    summary: ReconcileSummary,
) -> None:
    """The at() schedules of moved occurrences (scheduler.sync.moves), counted with the rows'
    repairs; a failure is counted, never stops the pass."""
    try:
        moves = reconcile_moves(ExceptionQueries(queries.reconcile.db), schedules, now=now)
    except DomainError:
        logger.exception("could not reconcile the moved occurrences' at() schedules")
        summary.failed += 1
        return
    summary.created += moves.created
    summary.deleted += moves.deleted
    summary.failed += moves.failed


def _settle_abandoned_runs(
    queries: AbandonedRunQueries,
    at: datetime,
    hand_on: HandOn | None,
    remaining_s: Callable[[], float] | None,
    summary: ReconcileSummary,
) -> bool:
    """Fail the abandoned started runs, and settle the claims that never started as missed
    (catching them up under their schedule's policy): scheduler.policies.abandoned_runs. A failure
    of it never stops the pass; False then."""
    try:
        settled = settle_abandoned_runs(queries, at, hand_on=hand_on, remaining_s=remaining_s)
    except DomainError:  # like the check's: the check, heartbeat and shards still run
        logger.exception("abandoned runs not settled; the next pass settles them")
        metrics.add_metric(name="AbandonedRunSweepFailed", unit=MetricUnit.Count, value=1)
        return False
    summary.abandoned_runs_failed = settled.failed
    summary.abandoned_claims_missed = settled.missed + settled.caught_up
    return True


def _check_missed_fires(
    queries: MissedFireQueries, hand_on: HandOn, now: Clock, remaining_s: Callable[[], float]
) -> dict[str, int] | None:
    """The coordinator's missed-fire check, in at most a third of the invocation's time (the
    rest is the reconcile's); a failure of it never stops the reconcile: None then, and counted
    (MissedFireCheckFailed: the invocation itself succeeds, so Lambda's Errors never shows it)."""
    keep = remaining_s() * 2 / 3
    try:
        return check_missed_fires(
            queries, hand_on=hand_on, now=now, remaining_s=lambda: remaining_s() - keep
        ).as_dict()
    except DomainError:
        logger.exception("missed-fire check incomplete; the next pass continues it")
        metrics.add_metric(name="MissedFireCheckFailed", unit=MetricUnit.Count, value=1)
        return None


def _start(start: Callable[[ShardTask], None], task: ShardTask, summary: ReconcileSummary) -> None:
    try:
        start(task)
    except DomainError:
        logger.exception("could not start a reconcile shard", extra={"task": str(task)})
        summary.unstarted += 1
