"""Reconcile at scale: a pass with nothing to repair, over 1,000 and over 10,000 schedules.

Each size has its own database (same server, migrations applied) and its own schedule group,
so the passes alternate. Rows are seeded with one `insert ... select generate_series`, their
EventBridge schedules with one CreateSchedule each (what reconcile itself would ask for).
`reconcile.noop_writes` counts, for a pass over 10,000: Scheduler write calls (anything but
Get*/List*) plus database rows the pass wrote (rows whose xmin changed, or that disappeared).
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from typing import Any

from bench import backends

SMALL, LARGE = 1_000, 10_000
ROUNDS = 3
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

        started = time.perf_counter()
        summary = reconcile(self.store, self.schedules)
        elapsed = time.perf_counter() - started
        if summary["unchanged"] != self.size or any(
            count for name, count in summary.items() if name != "unchanged"
        ):
            raise RuntimeError(f"not a no-op pass over {self.size} schedules: {summary}")
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
        large_times, small_times = backends.interleaved(large.reconcile, small.reconcile, ROUNDS)
    finally:
        small.close()
        large.close()
    results.update(backends.ratio_of_medians("reconcile.scaling", large_times, small_times))
    results["reconcile.noop_s.1000"] = statistics.median(small_times)
    results["reconcile.noop_s.10000"] = statistics.median(large_times)
    return results


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
