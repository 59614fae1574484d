"""Bulk pause and resume at 10,000 schedules: the request's database transaction, and what the
drain of its EventBridge updates costs per schedule.

A database of its own holds 10,000 schedules of one owner labelled team=billing, and 1,000 of
another label. `bulk.pause_10k_ms` and `bulk.resume_10k_ms`: one bulk pause (then resume) of the
10,000 by label through the real use case (count, lock, update, mark pending, commit), without
EventBridge (its time budget 0: the whole change is left to the drain, as for a request that
gets none of its updates in). Then the drain (scheduler.sync.pending) writes a sample of them to
moto's Scheduler: its SQL round trips and Scheduler calls per schedule, counted, and its own time
per schedule without the time spent inside Scheduler calls (moto's is not AWS's).
How long 10,000 take to reach EventBridge is quota arithmetic: docs/reliability.md.
"""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

from bench import backends

DATABASE = "bench_bulk"
SCHEDULES = backends.sized(10_000, 50)
OTHERS = backends.sized(1_000, 10)
DRAINED = backends.sized(500, 20)
REPEATS = backends.sized(3, 1)
OWNER = uuid.UUID("00000000-0000-4000-8000-0000000b0c1c")


def measure() -> dict[str, float]:
    backends.configure_environment()
    with backends.own_database(DATABASE) as url, backends.quiet_logs():
        return _measure(url)


def _fill(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "insert into workflows (owner_id, name) values (%s, 'billing'), (%s, 'search')",
            (OWNER, OWNER),
        )
        for name, label, count in (("billing", "billing", SCHEDULES), ("search", "search", OTHERS)):
            conn.execute(
                """insert into schedules (workflow_id, cron, labels)
                   select w.id, '*/5 * * * *', jsonb_build_object('team', %s::text)
                   from workflows w, generate_series(1, %s) where w.name = %s""",
                (label, count, name),
            )
        conn.execute("vacuum analyze workflows, schedules")


def _measure(url: str) -> dict[str, float]:
    from scheduler.api.bulk_changes import BulkChanges, BulkChangeServiceQueries
    from scheduler.models.bulk_changes import BulkPause, BulkResume
    from scheduler.store.db import Database
    from scheduler.sync.eventbridge import EventBridgeSchedules

    _fill(url)
    # the API's database timeouts (template.yaml: ApiFunction)
    db = Database(url, statement_timeout_ms=5_000, lock_timeout_ms=3_000)
    bulk = BulkChanges(BulkChangeServiceQueries.over(db), EventBridgeSchedules(), budget_s=0)
    selected = {"label": ["team=billing"]}
    pause = BulkPause.model_validate({"filter": selected, "note": "INC-1", "limit": 10_000})
    resume = BulkResume.model_validate({"filter": selected, "limit": 10_000})
    paused_ms, resumed_ms = [], []
    for _ in range(REPEATS):
        started = time.perf_counter()
        result = bulk.pause(OWNER, pause)
        paused_ms.append((time.perf_counter() - started) * 1000)
        if result.changed != SCHEDULES:
            raise RuntimeError(f"paused {result.changed} of {SCHEDULES}")
        started = time.perf_counter()
        result = bulk.resume(OWNER, resume)
        resumed_ms.append((time.perf_counter() - started) * 1000)
        if result.changed != SCHEDULES:
            raise RuntimeError(f"resumed {result.changed} of {SCHEDULES}")
    drained = _drain(db)
    db.close()
    return {
        "bulk.pause_10k_ms": statistics.median(paused_ms),
        "bulk.resume_10k_ms": statistics.median(resumed_ms),
        **drained,
    }


def _drain(db: Any) -> dict[str, float]:
    """Leave only DRAINED schedules marked, give them EventBridge schedules, drain them."""
    from moto import mock_aws
    from scheduler import clients
    from scheduler.config import get_settings
    from scheduler.sync.eventbridge import EventBridgeSchedules
    from scheduler.sync.pending import DrainQueries, drain_pending

    db.execute(
        """delete from schedule_eventbridge_pending
           where schedule_id not in (select schedule_id from schedule_eventbridge_pending
                                     order by schedule_id limit %s)""",
        (DRAINED,),
    )
    with mock_aws():
        clients.reset()
        client = clients.aws_client("scheduler")
        client.create_schedule_group(Name=get_settings().schedule_group)
        schedules = EventBridgeSchedules(client)
        rows = db.execute(
            """select s.* from schedules s
               join schedule_eventbridge_pending p on p.schedule_id = s.id"""
        ).fetchall()
        for row in rows:  # as the API created them, before the bulk change
            schedules.apply({**row, "enabled": not row["enabled"]}, existing=())
        in_calls = [0.0]

        def before(**_: Any) -> None:
            in_calls.append(-time.perf_counter())

        def after(**_: Any) -> None:
            in_calls[-1] += time.perf_counter()

        client.meta.events.register("before-call.scheduler", before)
        client.meta.events.register("after-call.scheduler", after)
        with (
            backends.recorded_statements(db.connection()) as statements,
            backends.recorded_requests(client) as requests,
        ):
            started = time.perf_counter()
            summary = drain_pending(
                DrainQueries.over(db), schedules, owner=None, time_left_s=lambda: 60.0, rate=1e6
            )
            elapsed = time.perf_counter() - started
        clients.reset()
    if summary.written != DRAINED:
        raise RuntimeError(f"drained {summary.written} of {DRAINED}")
    return {
        "bulk.drain_sql_per_schedule": len(statements) / DRAINED,
        "bulk.drain_scheduler_calls_per_schedule": len(requests) / DRAINED,
        "bulk.drain_own_ms_per_schedule": (elapsed - sum(in_calls)) * 1000 / DRAINED,
    }
