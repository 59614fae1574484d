"""The missed-fire check at scale: can one reconcile coordinator keep up with 1,000,000 hourly
schedules, all firing at the top of the hour?

A database of its own holds SCHEDULES hourly (`0 * * * *`, UTC) schedules on WORKFLOWS
workflows, generated with SQL. Their last hour fired: each has a run row for it, but MISSED_SHARE
of them (no row: they were missed, and get a `missed` row and a `Run Missed` alert). Every
schedule's check stands where the previous hour left it, so the whole million is due to be
checked at once, 5 minutes (the grace) after the top of the hour: the burst, and also the whole
hour's work (a million fire times to account for every hour, however they are spread).

The real check (scheduler.policies.missed_fires, its batch size and its stop rule) then runs PASSES
passes, each given PASS_S seconds of batches instead of the coordinator's ~240 (a third of the
900 s invocation, less the 60 s it keeps), against moto for the alerts. Measured: the time of
each batch (`batch_ms`), the time per checked schedule, how much of it is SQL, the SQL
statements and PutEvents calls per batch, and the schedules still due after each pass (the
backlog must shrink). Extrapolated (figures not measured, named `projected_*`): the schedules a
production pass checks (a 512 MB Lambda has about a third of this machine's vCPU: the pass's
process CPU time per schedule times 3, as the reconcile projection does, plus each statement's
time here and PROJECTED_ROUND_TRIP_S through the pooler, and PROJECTED_PUT_EVENTS_S a
PutEvents), the passes per hour (ReconcileSchedule, 15 minutes by default), and from them
`missed_fires.load_ratio`: an hour's fire times over what the check can account for in an hour;
above 1 one coordinator falls behind, and the backlog grows without end.

Every schedule here asks the same fire-time questions (one cron, zone and hour), which the
check answers once (scheduler.policies.fire_times). So the deciding alone is also timed on
DECIDE_SAMPLE due schedules each asking its own (`decide_cpu_us_own`, against
`decide_cpu_us_shared`), and `load_ratio_distinct` projects the pass with that difference: the
worst case, no two due schedules sharing a question.

`BENCH_MISSED_FIRE_SCHEDULES` sets the size (the smoke runs it tiny).
"""

from __future__ import annotations

import itertools
import json
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import backends

DATABASE = "bench_missed_fires"
SCHEDULES = int(os.environ.get("BENCH_MISSED_FIRE_SCHEDULES") or backends.sized(1_000_000, 1_000))
WORKFLOWS = max(1, SCHEDULES // 100)
MISSED_SHARE = 0.01
PASSES = 3
PASS_S = float(backends.sized(20, 1))
OWNER = uuid.UUID("00000000-0000-4000-8000-0000000f1e55")
# What a production pass is given: a third of ReconcileFunction's 900 s, less RESERVE_S.
LAMBDA_TIMEOUT_S = 900.0
PASSES_PER_HOUR = 4.0  # ReconcileSchedule's default, rate(15 minutes)
LAMBDA_CPU_FACTOR = 3.0  # 512 MB: about a third of a vCPU
PROJECTED_ROUND_TRIP_S = 0.002  # one statement through the Supabase pooler (assumed, as reconcile)
PROJECTED_PUT_EVENTS_S = 0.020  # one PutEvents of up to ten alerts, in-Region (assumed)
# The statements of a pass (the check's and the queue's queries), timed each (the breakdown
# of the SQL share).
STORE_METHODS = (
    "due_fire_checks",
    "slots_with_runs",
    "record_missed",
    "advance_fire_checks",
    "supersede_catchups",
    "next_buffered_run",
    "stalled_buffered_runs",
)
HOURLY_FIRES = 1_000_000
# Due schedules decided on their own, outside the passes, to time the deciding alone.
DECIDE_SAMPLE = 2_000


def measure() -> dict[str, float]:
    backends.configure_environment()
    with backends.own_database(DATABASE) as url, backends.fresh_backends(), backends.quiet_logs():
        return _measure(url)


def _fill(url: str, last_hour: datetime, grace: timedelta) -> float:
    """The rows, as the hour after `last_hour`'s fire leaves them; the seconds it took."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        # Triggers (and the foreign keys' checks) off while filling: the fire checks are
        # written below as the previous hour's pass left them, in one statement.
        conn.execute("set session_replication_role = replica")
        conn.execute(
            """insert into workflows (owner_id, name)
               select %s, 'missed fires ' || g from generate_series(1, %s) g""",
            (OWNER, WORKFLOWS),
        )
        conn.execute(
            """insert into schedules (workflow_id, cron, fires_from, created_at)
               select w.id, '0 * * * *', %(since)s, %(since)s
               from (select id, row_number() over () - 1 as n from workflows) w
               cross join generate_series(0, %(per)s - 1) g
               where w.n * %(per)s + g < %(total)s""",
            {
                "since": last_hour - timedelta(days=1),
                "per": -(-SCHEDULES // WORKFLOWS),
                "total": SCHEDULES,
            },
        )
        # Every fire time up to the hour before was checked; the last one is due now.
        conn.execute(
            """insert into schedule_fire_checks (schedule_id, fires_from, checked_through,
                                                 next_check_at)
               select id, fires_from, %s, %s from schedules""",
            (last_hour - timedelta(hours=1), last_hour + grace),
        )
        # The hour's fire ran for all but MISSED_SHARE of them (every 1/MISSED_SHARE-th one).
        conn.execute(
            """insert into schedule_runs (schedule_id, workflow_id, scheduled_time, status,
                                          started_at, finished_at)
               select id, workflow_id, %(slot)s, 'succeeded', %(slot)s,
                      %(slot)s + interval '2 seconds'
               from (select id, workflow_id, row_number() over () as n from schedules) s
               where s.n %% %(every)s <> 0""",
            {"slot": last_hour, "every": round(1 / MISSED_SHARE)},
        )
        conn.execute("analyze")
    return time.perf_counter() - started


def _measure(url: str) -> dict[str, float]:
    from scheduler import clients
    from scheduler.config import get_settings
    from scheduler.policies.missed_fires import (
        BATCH,
        RESERVE_S,
        MissedFireQueries,
        check_missed_fires,
    )
    from scheduler.store.db import database

    grace = timedelta(seconds=get_settings().missed_fire_grace_s)
    # the top of an hour in the past, so the rows look like any other day's
    last_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    at = last_hour + grace + timedelta(seconds=1)
    fill_s = _fill(url, last_hour, grace)
    queries = MissedFireQueries.over(database())
    queries.fire_checks.db.connection()  # connected before counting, as in a warm Lambda
    calls: dict[str, list[tuple[float, float]]] = {name: [] for name in STORE_METHODS}
    for name in STORE_METHODS:
        owner = queries.fire_checks if hasattr(queries.fire_checks, name) else queries.queue
        _time_calls(owner, name, calls[name])
    put_events = _CallTimer(clients.events_client())
    decide_own_us, decide_shared_us = _decide_cpu_us(
        queries.fire_checks.due_fire_checks(at, min(DECIDE_SAMPLE, SCHEDULES)), at, grace
    )
    backlog = [_still_due(url, at)]
    batch_s: list[float] = []
    checked = missed = 0
    check_s = process_s = 0.0
    with TimedStatements(queries.fire_checks.db) as sql_times:
        for _ in range(PASSES):
            first_batch = len(calls["due_fire_checks"])
            started, started_cpu = time.perf_counter(), time.process_time()
            summary = check_missed_fires(
                queries,
                hand_on=lambda _event: None,  # no runner here; the check's own work is timed
                now=lambda: at,
                remaining_s=_budget(started, RESERVE_S + PASS_S),
            )
            ended = time.perf_counter()
            check_s += ended - started
            process_s += time.process_time() - started_cpu
            # a batch: from its read to the next one's (the last one's: to the pass's end,
            # which adds the pass's one look for stalled waiting runs)
            starts = [begun for begun, _ in calls["due_fire_checks"][first_batch:]]
            batch_s += [b - a for a, b in itertools.pairwise([*starts, ended])]
            checked += summary.fire_checks
            missed += summary.missed_fires
            backlog.append(_still_due(url, at))
    if not checked:
        raise RuntimeError("the check checked no schedule: nothing to measure")
    expected_missed = SCHEDULES // round(1 / MISSED_SHARE)
    if backlog[-1] == 0 and missed != expected_missed:
        raise RuntimeError(f"the check recorded {missed} missed fire times of {expected_missed}")
    batches = len(calls["due_fire_checks"])
    statements = len(sql_times)
    sql_s = sum(sql_times)
    # Production: this process's CPU time (not its wall time, which the shared machine's other
    # work stretches; without the in-process moto's PutEvents) times LAMBDA_CPU_FACTOR; each
    # statement its time here plus PROJECTED_ROUND_TRIP_S; each PutEvents PROJECTED_PUT_EVENTS_S.
    cpu_s = process_s - put_events.cpu
    projected_per_schedule_s = (
        LAMBDA_CPU_FACTOR * cpu_s
        + sql_s
        + statements * PROJECTED_ROUND_TRIP_S
        + put_events.calls * PROJECTED_PUT_EVENTS_S
    ) / checked
    pass_budget_s = LAMBDA_TIMEOUT_S / 3 - RESERVE_S
    projected_pass = pass_budget_s / projected_per_schedule_s
    projected_hour = PASSES_PER_HOUR * projected_pass
    # the same pass if no two schedules shared a fire-time question (scheduler.policies.fire_times)
    projected_distinct_s = projected_per_schedule_s + LAMBDA_CPU_FACTOR * 1e-6 * max(
        0.0, decide_own_us - decide_shared_us
    )
    projected_distinct_hour = PASSES_PER_HOUR * pass_budget_s / projected_distinct_s
    results = {
        "missed_fires.schedules": float(SCHEDULES),
        "missed_fires.fill_s": fill_s,
        "missed_fires.batch_size": float(BATCH),
        "missed_fires.batches": float(batches),
        **backends.spread("missed_fires.batch_ms", [1000 * s for s in batch_s]),
        "missed_fires.checked": float(checked),
        "missed_fires.missed_recorded": float(missed),
        "missed_fires.us_per_due_schedule": 1e6 * check_s / checked,
        "missed_fires.cpu_us_per_due_schedule": 1e6 * cpu_s / checked,
        "missed_fires.sql_share": sql_s / check_s,
        "missed_fires.statements_per_batch": statements / batches,
        "missed_fires.put_events_per_batch": put_events.calls / batches,
        "missed_fires.schedules_per_s": checked / check_s,
        "missed_fires.projected_us_per_due_schedule": 1e6 * projected_per_schedule_s,
        "missed_fires.projected_pass_schedules": projected_pass,
        "missed_fires.projected_hourly_capacity": projected_hour,
        # an hour of HOURLY_FIRES fire times over what one coordinator checks in an hour
        "missed_fires.load_ratio": HOURLY_FIRES / projected_hour,
        # deciding one schedule (its fire times, no SQL): sharing its questions with the
        # others, as here, and asking its own (every schedule a different cron or zone)
        "missed_fires.decide_cpu_us_shared": decide_shared_us,
        "missed_fires.decide_cpu_us_own": decide_own_us,
        "missed_fires.projected_hourly_capacity_distinct": projected_distinct_hour,
        "missed_fires.load_ratio_distinct": HOURLY_FIRES / projected_distinct_hour,
        # from the burst's due time until the last of HOURLY_FIRES is checked
        "missed_fires.projected_burst_clear_min": _burst_clear_min(projected_pass),
        # every pass leaves fewer due than it found, or none
        "missed_fires.backlog_shrinks": float(
            all(b < a or b == 0 for a, b in itertools.pairwise(backlog))
        ),
    }
    results.update({f"missed_fires.backlog.pass_{i}": float(b) for i, b in enumerate(backlog)})
    # where a batch's SQL time goes: each statement's milliseconds per batch
    results.update(
        {
            f"missed_fires.sql_ms_per_batch.{name}": 1000 * sum(t for _, t in timed) / batches
            for name, timed in calls.items()
            if timed
        }
    )
    return results


def _decide_cpu_us(
    rows: list[dict[str, Any]], at: datetime, grace: timedelta
) -> tuple[float, float]:
    """Process CPU µs of deciding one of these due schedules
    (scheduler.policies.missed_fires._decide, no SQL): asking its own fire-time questions (each row
    checked through a microsecond earlier than the one before, which gives the same fire times but a
    question no earlier row asked, and no slot remembered), then sharing them (the rows as they are,
    answers warm)."""
    from scheduler.policies import fire_times as fire_time_answers
    from scheduler.policies.missed_fires import _decide

    if not rows:
        return 0.0, 0.0
    own_rows = [
        {**row, "checked_through": row["checked_through"] - timedelta(microseconds=i + 1)}
        for i, row in enumerate(rows)
    ]
    started = time.process_time()
    for row in own_rows:
        fire_time_answers.last_occurrence.cache_clear()
        _decide(row, at, at, grace, None)
    own = time.process_time() - started
    _decide(rows[0], at, at, grace, None)  # the shared answers, once
    started = time.process_time()
    for row in rows:
        _decide(row, at, at, grace, None)
    shared = time.process_time() - started
    return 1e6 * own / len(rows), 1e6 * shared / len(rows)


def _time_calls(queries: Any, name: str, calls: list[tuple[float, float]]) -> None:
    """Record (start, seconds) of every call of the query object's method `name`."""
    method = getattr(queries, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            calls.append((started, time.perf_counter() - started))

    setattr(queries, name, timed)


class _CallTimer:
    """The calls a boto3 client makes, and the process's CPU seconds inside them (moto,
    in-process: the caller's thread is the only one working meanwhile)."""

    def __init__(self, client: Any) -> None:
        self.calls = 0
        self.cpu = 0.0
        client.meta.events.register("before-call", self._started)
        client.meta.events.register("after-call", self._ended)

    def _started(self, context: dict[str, Any], **_: Any) -> None:
        self.calls += 1
        context["bench_started"] = time.process_time()

    def _ended(self, context: dict[str, Any], **_: Any) -> None:
        self.cpu += time.process_time() - context.pop("bench_started")


def _burst_clear_min(per_pass: float) -> float:
    """Minutes from the burst's due time to the end of the pass that checks the last of it
    (passes every 60/PASSES_PER_HOUR minutes, each working its budget)."""
    full_passes = int(HOURLY_FIRES // per_pass)
    period_min = 60 / PASSES_PER_HOUR
    budget_min = (LAMBDA_TIMEOUT_S / 3 - 60) / 60
    rest = HOURLY_FIRES / per_pass - full_passes
    return (
        full_passes * period_min + rest * budget_min
        if rest
        else ((full_passes - 1) * period_min + budget_min)
    )


def _budget(started: float, seconds: float) -> Callable[[], float]:
    """The pass's `remaining_s`: `seconds` from `started` on."""
    return lambda: seconds - (time.perf_counter() - started)


def _still_due(url: str, at: datetime) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "select count(*) from schedule_fire_checks where next_check_at <= %s", (at,)
        ).fetchone()
    return int(row[0]) if row else 0


class TimedStatements:
    """The time of every statement the queries send inside the block. Each `Database.execute`
    is one round trip (its timeouts go in the same pipeline), and it returns once the answer
    is in, so its time is the statement's."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self.times: list[float] = []

    def __enter__(self) -> list[float]:
        execute = self._db.execute
        times = self.times

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return execute(*args, **kwargs)
            finally:
                times.append(time.perf_counter() - started)

        self._db.execute = timed
        return times

    def __exit__(self, *_: object) -> None:
        del self._db.execute  # the class's own method again


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
