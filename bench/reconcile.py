"""Reconcile at scale: a pass with nothing to repair, over 1,000 and over 10,000 schedules, and
what the calls it makes project to for 1,000,000 at AWS's documented quotas.

Each size has its own database (same server, migrations applied) and its own schedule group
(moto lists a group without touching the other's schedules), so the passes alternate. Rows are
seeded with one `insert ... select generate_series`, their EventBridge schedules as the API writes
them: one apply each, its record (fingerprint, time) stored with the row.
`reconcile.noop_writes` counts, for a pass over 10,000: Scheduler write calls (anything but
Get*/List*) plus database rows the pass wrote (rows whose xmin changed, or that disappeared).
`reconcile.noop_calls_per_schedule` is the Scheduler calls of a no-op pass over its schedules
(the larger of the two sizes). `reconcile.scaling` is a 10,000 pass over the mean of the 1,000
passes right around it (median of ROUNDS such pairs), each pass timed without the time spent
inside Scheduler calls: moto's paginator rebuilds and scans the whole group for every page, so
its part grows with the square, where EventBridge's grows with the calls (linear, counted).
`reconcile.scaling_with_moto` is the same ratio of wall times; `reconcile.listing_s.*` times
ListSchedules alone.
`reconcile.projection_1m.*`: see `project()` for the model and its assumptions.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench import backends

SMALL, LARGE = backends.sized(1_000, 20), backends.sized(10_000, 200)
# passes over 10,000 (~20 s each); they vary most, so the median needs several
ROUNDS = backends.sized(4, 2)
SMALL_PER_SLOT = 2  # passes over 1,000 between two of them, and before the first and after the last
OWNER = uuid.UUID("00000000-0000-4000-8000-0000000be4c4")
# Simple crons (one EventBridge schedule per row) in a few timezones, a tenth disabled.
_SEED = """
insert into schedules (workflow_id, cron, timezone, enabled)
select %(workflow_id)s,
       (array['0 7 * * *', '*/15 * * * *', '30 2 * * 1-5', '0 0 1 * *'])[1 + i %% 4],
       (array['UTC', 'Europe/Berlin', 'America/New_York'])[1 + i %% 3],
       i %% 10 <> 0
from generate_series(1, %(count)s) as i
"""
_ROW_VERSIONS = """
select 'schedules' as kind, id, xmin::text as version from schedules
union all select 'workflows', id, xmin::text from workflows
union all select 'schedule_runs', id, xmin::text from schedule_runs
"""


class CallTimer:
    """Seconds a boto3 client spends inside its calls (signing, moto serving it, parsing)."""

    def __init__(self, client: Any) -> None:
        self.total = 0.0
        client.meta.events.register("before-call.scheduler", self._started)
        client.meta.events.register("after-call.scheduler", self._ended)

    def _started(self, context: dict[str, Any], **_: Any) -> None:
        context["bench_started"] = time.perf_counter()

    def _ended(self, context: dict[str, Any], **_: Any) -> None:
        self.total += time.perf_counter() - context.pop("bench_started")


class Dataset:
    """`size` schedule rows in their own database, in step with their own schedule group."""

    def __init__(self, size: int) -> None:
        from scheduler import clients
        from scheduler.policies.periodic_pass import PeriodicPassQueries
        from scheduler.store.db import Database
        from scheduler.store.schedules import ScheduleQueries
        from scheduler.store.sync_state import SyncStateQueries
        from scheduler.store.workflows import WorkflowQueries
        from scheduler.sync.eventbridge import EventBridgeSchedules

        self.size = size
        self.db = Database(backends.create_database(f"bench_reconcile_{size}"))
        self.workflows = WorkflowQueries(self.db)
        self.rows = ScheduleQueries(self.db)
        self.sync_state = SyncStateQueries(self.db)
        self.queries = PeriodicPassQueries.over(self.db)
        self.schedules = EventBridgeSchedules(group=f"bench-reconcile-{size}")
        clients.aws_client("scheduler").create_schedule_group(Name=self.schedules.group)
        self.timer: CallTimer | None = None
        # per pass: the wall time less the time inside Scheduler calls
        self.own_times: list[float] = []

    def seed(self) -> None:
        """Rows, and their schedules written and recorded as an API create does."""
        workflow = self.workflows.create_workflow(OWNER, f"{self.size} schedules")
        self.db.execute(_SEED, {"workflow_id": workflow["id"], "count": self.size})
        written = [
            (row["id"], self.schedules.apply(row, existing=()))
            for row in self.rows.iter_all_schedules()
        ]
        self.sync_state.record_eventbridge_states(written)

    def reconcile(self) -> float:
        """One pass, timed; it must find everything in step."""
        from scheduler.policies.periodic_pass import reconcile

        gc.collect()  # the garbage of earlier passes is not this pass's to collect
        in_calls = self.timer.total if self.timer else 0.0
        started = time.perf_counter()
        summary = reconcile(self.queries, self.schedules)
        elapsed = time.perf_counter() - started
        if self.timer:
            self.own_times.append(elapsed - (self.timer.total - in_calls))
        if summary["unchanged"] != self.size or any(
            count for name, count in summary.items() if name not in ("unchanged", "described")
        ):
            raise RuntimeError(f"not a no-op pass over {self.size} schedules: {summary}")
        return elapsed

    def listing(self) -> float:
        """ListSchedules over the whole group, timed."""
        started = time.perf_counter()
        listed = sum(1 for _ in self.schedules.iter_schedules())
        elapsed = time.perf_counter() - started
        if listed != self.size:
            raise RuntimeError(f"listed {listed} of {self.size} schedules")
        return elapsed

    def row_versions(self) -> set[tuple[str, Any, str]]:
        rows = self.db.execute(_ROW_VERSIONS).fetchall()
        return {(row["kind"], row["id"], row["version"]) for row in rows}

    def close(self) -> None:
        self.db.close()


def measure() -> dict[str, float]:
    backends.configure_environment()
    with backends.fresh_backends(), backends.quiet_logs():
        return _measure()


def _measure() -> dict[str, float]:
    from scheduler import clients

    small, large = Dataset(SMALL), Dataset(LARGE)
    try:
        small.seed()
        large.seed()

        with backends.recorded_requests(clients.aws_client("scheduler")) as small_requests:
            small.reconcile()
        before = large.row_versions()
        with backends.recorded_requests(clients.aws_client("scheduler")) as requests:
            large.reconcile()
        after = large.row_versions()
        scheduler_writes = [op for op, _ in requests if not op.startswith(("Get", "List"))]
        rows_written = {(kind, row_id) for kind, row_id, _ in before ^ after}
        results: dict[str, float] = {
            "reconcile.noop_writes": len(scheduler_writes) + len(rows_written),
            f"reconcile.noop_calls.{SMALL}": len(small_requests),
            f"reconcile.noop_calls.{LARGE}": len(requests),
            "reconcile.noop_calls_per_schedule": max(
                len(small_requests) / SMALL, len(requests) / LARGE
            ),
            "reconcile.noop_get_schedule_calls": sum(op == "GetSchedule" for op, _ in requests),
        }

        small.reconcile()  # warm-up
        small.timer = large.timer = CallTimer(clients.aws_client("scheduler"))
        large_times, small_slots = _sandwiched(large.reconcile, small.reconcile, ROUNDS)
        results[f"reconcile.listing_s.{SMALL}"] = small.listing()
        results[f"reconcile.listing_s.{LARGE}"] = large.listing()
    finally:
        small.close()
        large.close()
    # The same sandwich, without the time inside Scheduler calls: what the pass itself costs.
    # A real pass adds a constant per call (latency), so it scales as its calls do (linearly);
    # moto's paginator instead rescans the group on every page, which grows with the square.
    large_own = large.own_times
    small_own = _slots(small.own_times)
    results.update(backends.spread("reconcile.scaling", _paired(large_own, small_own)))
    results.update(
        backends.spread("reconcile.scaling_with_moto", _paired(large_times, small_slots))
    )
    small_times = [t for slot in small_slots for t in slot]
    results[f"reconcile.noop_s.{SMALL}"] = statistics.median(small_times)
    results[f"reconcile.noop_s.{LARGE}"] = statistics.median(large_times)
    results[f"reconcile.noop_own_s.{SMALL}"] = statistics.median(small.own_times)
    results[f"reconcile.noop_own_s.{LARGE}"] = statistics.median(large_own)
    results.update(
        project(
            calls_per_schedule=len(requests) / LARGE,
            row_cpu_s=results[f"reconcile.noop_own_s.{LARGE}"] / LARGE,
        )
    )
    return results


def _slots(times: list[float]) -> list[list[float]]:
    return [times[i : i + SMALL_PER_SLOT] for i in range(0, len(times), SMALL_PER_SLOT)]


def _paired(large_times: list[float], small_slots: list[list[float]]) -> list[float]:
    """Each large pass over the mean of the small ones right before and after it. The mean, not
    the median: a slow spell that a long pass cannot escape must weigh on its baseline too."""
    return [
        large_time / statistics.mean(before + after)
        for large_time, before, after in zip(
            large_times, small_slots[:-1], small_slots[1:], strict=True
        )
    ]


# --- the 1,000,000-schedule projection
#
# Quotas: AWS's EventBridge Scheduler quotas page (docs.aws.amazon.com/scheduler/latest/UserGuide/
# scheduler-quotas.html). Its current English version gives CreateSchedule 5,000 TPS in the
# primary Regions (250 elsewhere); versions of the same page list 1,000, and the request-rate
# quotas of ListSchedules and GetSchedule as 50 TPS per Region (adjustable). The projection takes
# the lowest documented defaults, so it errs long.
PROJECTED_SCHEDULES = 1_000_000
LIST_TPS = 50.0
GET_TPS = 50.0
CREATE_TPS = 1_000.0
# Latency assumptions (in-Region, from Lambda; not measured here): a ListSchedules page of 100,
# 100 ms; a CreateSchedule, 50 ms; a database round trip through the Supabase pooler, 2 ms, and
# a repair (lock, read, record, commit) 5 of them; a batch read of 500 rows, 20 ms.
LIST_LATENCY_S = 0.100
CREATE_LATENCY_S = 0.050
REPAIR_DB_S = 5 * 0.002
BATCH_READ_S = 0.020
LAMBDA_LIMIT_S = 900.0


def project(*, calls_per_schedule: float, row_cpu_s: float) -> dict[str, float]:
    """A no-op pass and a full re-create (EventBridge empty) over PROJECTED_SCHEDULES, by shards.

    Shards run at once (ReconcileConcurrency = shards). Within a shard the pages, batches and
    repairs are sequential; across shards, the calls per second are capped by the quota.
    `row_cpu_s` is this machine's cost of comparing a row (a Lambda with 512 MB has about a
    third of a vCPU: times 3). A shard longer than the Lambda limit continues in new invocations.
    """
    from scheduler.sync.reconcile import RESERVE_S, ROW_BATCH

    n = PROJECTED_SCHEDULES
    calls = calls_per_schedule * n
    per_row = 3 * row_cpu_s + BATCH_READ_S / ROW_BATCH
    results = {"reconcile.projection_1m.noop_calls": calls}
    for shards in (1, 16, 256):
        shard_s = calls / shards * LIST_LATENCY_S + n / shards * per_row
        noop_s = max(shard_s, calls / LIST_TPS)
        create_shard_s = n / shards * (CREATE_LATENCY_S + REPAIR_DB_S + per_row)
        recreate_s = max(create_shard_s, n / CREATE_TPS)
        invocations = -(-max(noop_s, 1.0) // (LAMBDA_LIMIT_S - RESERVE_S))
        results[f"reconcile.projection_1m.noop_s.shards_{shards}"] = noop_s
        results[f"reconcile.projection_1m.noop_invocations_per_shard.shards_{shards}"] = invocations
        results[f"reconcile.projection_1m.recreate_s.shards_{shards}"] = recreate_s
    # before: one GetSchedule per schedule, at its quota
    results["reconcile.projection_1m.get_per_schedule_s"] = n / GET_TPS
    return results


def _sandwiched(
    large: Callable[[], float], small: Callable[[], float], rounds: int
) -> tuple[list[float], list[list[float]]]:
    """`rounds` large passes, each between slots of SMALL_PER_SLOT small ones: the slots right
    around a large pass are its baseline, so a slow spell of the shared machine hits both."""
    # In-process moto and the setup fill the heap with objects a Lambda would not hold; frozen,
    # they no longer make each full collection (whichever pass triggers it) pay to scan them.
    gc.collect()
    gc.freeze()
    try:
        slots = [[small() for _ in range(SMALL_PER_SLOT)]]
        large_times = []
        for _ in range(rounds):
            large_times.append(large())
            slots.append([small() for _ in range(SMALL_PER_SLOT)])
    finally:
        gc.unfreeze()
    return large_times, slots


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
