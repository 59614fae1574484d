"""Reconcile at scale: a pass with nothing to repair, over 1,000 and over 10,000 schedules.

Each size has its own database (same server, migrations applied) and its own schedule group
(moto lists a group without touching the other's schedules), so the passes alternate. Rows are
seeded with one `insert ... select generate_series`, their EventBridge schedules with one
CreateSchedule each (what reconcile itself would ask for).
`reconcile.noop_writes` counts, for a pass over 10,000: Scheduler write calls (anything but
Get*/List*) plus database rows the pass wrote (rows whose xmin changed, or that disappeared).
`reconcile.scaling` is a 10,000 pass over the mean of the 1,000 passes right around it (median
of ROUNDS such pairs). `reconcile.listing_s.*` times ListSchedules alone: moto's paginator
rebuilds and scans the whole group for every page, so that part grows with the square.
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

SMALL, LARGE = 1_000, 10_000
ROUNDS = 4  # passes over 10,000 (~20 s each); they vary most, so the median needs several
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


class Dataset:
    """`size` schedule rows in their own database, in step with their own schedule group."""

    def __init__(self, size: int) -> None:
        from scheduler import clients
        from scheduler.db import Database
        from scheduler.eventbridge import EventBridgeSchedules
        from scheduler.store import Store

        self.size = size
        self.store = Store(Database(backends.create_database(f"bench_reconcile_{size}")))
        self.schedules = EventBridgeSchedules(group=f"bench-reconcile-{size}")
        clients.aws_client("scheduler").create_schedule_group(Name=self.schedules.group)

    def seed(self) -> None:
        from scheduler import clients
        from scheduler.eventbridge import desired_schedules

        workflow = self.store.create_workflow(OWNER, f"{self.size} schedules")
        self.store.db.execute(_SEED, {"workflow_id": workflow["id"], "count": self.size})
        client = clients.aws_client("scheduler")
        for row in self.store.iter_all_schedules():
            for kwargs in desired_schedules(row).values():
                client.create_schedule(**{**kwargs, "GroupName": self.schedules.group})

    def reconcile(self) -> float:
        """One pass, timed; it must find everything in step."""
        from scheduler.reconcile import reconcile

        gc.collect()  # the garbage of earlier passes is not this pass's to collect
        started = time.perf_counter()
        summary = reconcile(self.store, self.schedules)
        elapsed = time.perf_counter() - started
        if summary["unchanged"] != self.size or any(
            count for name, count in summary.items() if name != "unchanged"
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
        rows = self.store.db.execute(_ROW_VERSIONS).fetchall()
        return {(row["kind"], row["id"], row["version"]) for row in rows}

    def close(self) -> None:
        self.store.db.close()


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

        before = large.row_versions()
        with backends.recorded_requests(clients.aws_client("scheduler")) as requests:
            large.reconcile()
        after = large.row_versions()
        scheduler_writes = [op for op, _ in requests if not op.startswith(("Get", "List"))]
        rows_written = {(kind, row_id) for kind, row_id, _ in before ^ after}
        results: dict[str, float] = {
            "reconcile.noop_writes": len(scheduler_writes) + len(rows_written),
            "reconcile.noop_scheduler_calls": len(requests),
        }

        small.reconcile()  # warm-up
        large_times, small_slots = _sandwiched(large.reconcile, small.reconcile, ROUNDS)
        results["reconcile.listing_s.1000"] = small.listing()
        results["reconcile.listing_s.10000"] = large.listing()
    finally:
        small.close()
        large.close()
    # The mean, not the median, of the small passes: a slow spell that a long pass cannot escape
    # must weigh on its baseline too, not be filtered out of the short ones alone.
    paired = [
        large_time / statistics.mean(before + after)
        for large_time, before, after in zip(
            large_times, small_slots[:-1], small_slots[1:], strict=True
        )
    ]
    results.update(backends.spread("reconcile.scaling", paired))
    results["reconcile.noop_s.1000"] = statistics.median([t for slot in small_slots for t in slot])
    results["reconcile.noop_s.10000"] = statistics.median(large_times)
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
