"""Run history retention at scale: deleting 1,000,000 expired runs, and the API's reads meanwhile.

A database of its own holds 10,000 hourly schedules with 100 expired runs each (1,000,000 rows,
100 days old and more) and a recent latest run each; 100 of them have 20 recent runs, a full
first page of `GET /api/schedules/{id}/runs`. The real retention pass (scheduler.policies.retention,
its default batch size, the RetentionFunction's database timeouts) deletes the expired rows while a
second thread reads those pages through ApiFunction's handler, round robin; the same reads
before and after the pass (no other load) are the baseline (`read_ms_before`). Per batch: the
one statement's time. Reads: handler time.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import backends

DATABASE = "bench_retention"
SCHEDULES = backends.sized(10_000, 100)
WORKFLOWS = backends.sized(100, 10)
EXPIRED_PER_SCHEDULE = backends.sized(100, 5)
READ_SCHEDULES = backends.sized(100, 5)
RECENT_PER_READ_SCHEDULE = 20  # the API's default page
READS_BEFORE = backends.sized(400, 10)
OWNER = uuid.UUID("00000000-0000-4000-8000-0000000e7e17")
KEEP_DAYS = 90


def measure(batch_size: int | None = None) -> dict[str, float]:
    backends.configure_environment()
    with backends.own_database(DATABASE) as url, backends.quiet_logs():
        return _measure(url, batch_size)


def _fill(url: str, now: datetime) -> list[uuid.UUID]:
    """The rows; the ids of the schedules whose recent history is read."""
    import psycopg

    expired_from = now - timedelta(days=100)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """insert into workflows (owner_id, name)
               select %s, 'retention ' || g from generate_series(1, %s) g""",
            (OWNER, WORKFLOWS),
        )
        conn.execute(
            """insert into schedules (workflow_id, cron)
               select w.id, '0 * * * *' from workflows w, generate_series(1, %s)""",
            (SCHEDULES // WORKFLOWS,),
        )
        # Every schedule fires at the same hours: each scheduled_time is shared by 10,000 rows.
        conn.execute(
            """insert into schedule_runs (schedule_id, workflow_id, scheduled_time, status,
                                          started_at, finished_at)
               select s.id, s.workflow_id, t, 'succeeded', t, t + interval '2 seconds'
               from generate_series(0, %s - 1) h
               cross join lateral (select %s::timestamptz - h * interval '1 hour' as t) x
               cross join schedules s""",
            (EXPIRED_PER_SCHEDULE, expired_from),
        )
        read = [
            row[0]
            for row in conn.execute(
                "select id from schedules order by id limit %s", (READ_SCHEDULES,)
            ).fetchall()
        ]
        conn.execute(
            """insert into schedule_runs (schedule_id, workflow_id, scheduled_time, status,
                                          started_at, finished_at)
               select s.id, s.workflow_id, t, 'succeeded', t, t + interval '2 seconds'
               from schedules s
               cross join generate_series(1, case when s.id = any(%s) then %s else 1 end) h
               cross join lateral (select %s::timestamptz - h * interval '1 hour' as t) x""",
            (read, RECENT_PER_READ_SCHEDULE, now),
        )
        # As autovacuum would have left a table this old: visibility map set, statistics fresh.
        conn.execute("vacuum analyze workflows, schedules, schedule_runs")
    return read


def _measure(url: str, batch_size: int | None) -> dict[str, float]:
    from scheduler.policies.retention import BATCH_SIZE, delete_expired_runs
    from scheduler.store.db import Database
    from scheduler.store.history import HistoryQueries

    from devstack.apigw import LambdaContext, build_http_api_event
    from functions.api.app import lambda_handler

    now = datetime.now(UTC)
    read = _fill(url, now)
    claims = {"sub": str(OWNER), "role": "authenticated", "aud": "authenticated"}

    def read_page(schedule_id: uuid.UUID) -> float:
        event = build_http_api_event(
            "GET", f"/api/schedules/{schedule_id}/runs", "", {}, None, claims
        )
        started = time.perf_counter()
        response = lambda_handler(event, LambdaContext())
        elapsed = time.perf_counter() - started
        page = json.loads(response["body"]) if response["statusCode"] == 200 else None
        if page is None or len(page["items"]) != RECENT_PER_READ_SCHEDULE:
            raise RuntimeError(f"unexpected answer: {response}")
        return elapsed

    for schedule_id in read[:20]:  # warm: the handler's connection, imports, caches
        read_page(schedule_id)
    before = [read_page(read[index % len(read)]) for index in range(READS_BEFORE)]

    during: list[float] = []
    failures: list[BaseException] = []
    done = threading.Event()

    def reader() -> None:
        # the handler's connection, opened in the warm-up, is used by this thread alone now
        index = 0
        try:
            while not done.is_set():
                during.append(read_page(read[index % len(read)]))
                index += 1
        except BaseException as exc:
            failures.append(exc)

    # The RetentionFunction's database timeouts (template.yaml).
    history = HistoryQueries(Database(url, statement_timeout_ms=5_000, lock_timeout_ms=3_000))
    batch_times: list[float] = []
    delete_batch = history.delete_expired_run_batch

    def timed_batch(**kwargs: Any) -> Any:
        started = time.perf_counter()
        batch = delete_batch(**kwargs)
        batch_times.append(time.perf_counter() - started)
        return batch

    history.delete_expired_run_batch = timed_batch  # type: ignore[method-assign]
    thread = threading.Thread(target=reader, name="api-reads")
    thread.start()
    try:
        started = time.perf_counter()
        summary = delete_expired_runs(
            history,
            keep_days=KEEP_DAYS,
            budget_s=600,
            now=now,
            batch_size=batch_size or backends.sized(BATCH_SIZE, 100),
        )
        total_s = time.perf_counter() - started
    finally:
        done.set()
        thread.join()
    if failures:
        raise failures[0]
    expected = SCHEDULES * EXPIRED_PER_SCHEDULE
    if summary["deleted"] != expected or not summary["complete"]:
        raise RuntimeError(f"deleted {summary}, expected {expected}")
    # A pass right after, over the dead index entries the big one left before any vacuum.
    batch_times_of_big_pass = list(batch_times)
    started = time.perf_counter()
    again = delete_expired_runs(history, keep_days=KEEP_DAYS, budget_s=60, now=now)
    noop_s = time.perf_counter() - started
    history.db.close()
    if again["deleted"]:
        raise RuntimeError(f"a second pass deleted {again}")
    after = [read_page(read[index % len(read)]) for index in range(READS_BEFORE)]
    # The baseline is the reads before and after the pass: a slow spell of the shared machine
    # during one of them does not weigh alone.
    baseline = before + after

    results: dict[str, float] = {
        "retention.rows": summary["deleted"],
        "retention.batches": summary["batches"],
        "retention.total_s": total_s,
        "retention.rows_per_s": summary["deleted"] / total_s,
        "retention.noop_pass_ms": 1000 * noop_s,
        "retention.reads_during": len(during),
    }
    results.update(backends.spread("retention.batch_ms", _ms(batch_times_of_big_pass)))
    results.update(backends.spread("retention.read_ms_before", _ms(baseline)))
    results.update(backends.spread("retention.read_ms_during", _ms(during)))
    results["retention.read_ratio"] = statistics.median(during) / statistics.median(baseline)
    results["retention.read_ratio_p90"] = (
        results["retention.read_ms_during.p90"] / results["retention.read_ms_before.p90"]
    )
    return results


def _ms(samples: list[float]) -> list[float]:
    return [1000 * s for s in samples]


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
