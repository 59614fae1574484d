"""GET /api/schedules/{id}/accounting at its bound: an every-minute schedule, 31 days old, with a
run for each of its last 5,000 minutes (succeeded, one in 20 failed, one in 50 skipped) and a
pause in the middle (its audit events).

Through ApiFunction's handler (API Gateway v2 events built outside the timing):
- `accounting.max_fires_ms`: the interval of exactly 5,000 fire times (ACCOUNTING_MAX_FIRES), every
  one matched to its run, serialised;
- `accounting.refused_31_days_ms`: 31 days of it (44,640 fire times), refused with a 422 once the
  walk passes 5,000: what a too-wide request costs;
- `accounting.use_case_ms`: the use case alone on the 5,000 (reads and classification, no JSON).
"""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench import backends

ROUNDS = backends.sized(15, 2)
FIRES = backends.sized(5000, 60)
ALICE = uuid.UUID("00000000-0000-4000-8000-00000000a11c")


def measure() -> dict[str, float]:
    backends.configure_environment()
    with backends.fresh_backends(), backends.quiet_logs():
        return _measure()


def _measure() -> dict[str, float]:
    from scheduler.policies import fire_times
    from scheduler.policies.accounting import AccountingQueryset, schedule_accounting
    from scheduler.run.overlap import OVERLAP_REASON
    from scheduler.store.audit import AuditContext, AuditQueries
    from scheduler.store.db import database
    from scheduler.store.schedules import ScheduleQueries
    from scheduler.store.workflows import WorkflowQueries

    from devstack.apigw import LambdaContext, build_http_api_event
    from functions.api.app import lambda_handler

    db = database()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    workflow = WorkflowQueries(db).create_workflow(ALICE, "every minute")["id"]
    schedule = ScheduleQueries(db).create_schedule(
        ALICE, workflow_id=workflow, cron="* * * * *", timezone="UTC", enabled=True
    )
    with db.transaction():  # 31 days old: past the trigger that keeps created_at as inserted
        db.execute("set local session_replication_role = replica")
        db.execute(
            "update schedules set created_at = %s where id = %s",
            (now - timedelta(days=32), schedule["id"]),
        )
    db.execute(
        """insert into schedule_runs (schedule_id, workflow_id, trigger, scheduled_time, status,
                                      started_at, finished_at, error)
           select %(id)s, %(workflow)s, 'schedule', t,
                  case when n %% 20 = 0 then 'failed' when n %% 50 = 1 then 'skipped'
                       else 'succeeded' end,
                  t, t + interval '2 seconds',
                  case when n %% 20 = 0 then 'step 1: HTTP 500'
                       when n %% 50 = 1 then %(overlap)s end
           from generate_series(1, %(fires)s) as n,
                lateral (select %(now)s - n * interval '1 minute' as t) slot""",
        {
            "id": schedule["id"],
            "workflow": workflow,
            "fires": FIRES,
            "now": now,
            "overlap": OVERLAP_REASON,
        },
    )
    audit = AuditQueries(db)
    for action, minutes_ago in (("paused", FIRES // 2 + 10), ("resumed", FIRES // 2 - 10)):
        audit.record(AuditContext("user:bench"), "schedule", [schedule["id"]], action)
        db.execute(
            """update audit_events set occurred_at = %s
               where id = (select id from audit_events order by occurred_at desc limit 1)""",
            (now - timedelta(minutes=minutes_ago),),
        )

    def iso(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    path = f"/api/schedules/{schedule['id']}/accounting"
    claims = {"sub": str(ALICE), "role": "authenticated", "aud": "authenticated"}
    # the FIRES minutes up to now: (now - FIRES minutes, now]
    bounded = f"from={iso(now - timedelta(minutes=FIRES))}&to={iso(now)}"
    too_wide = f"from={iso(now - timedelta(days=31))}&to={iso(now)}"

    def forget_fire_times() -> None:
        """A request's `to` defaults to now, so a real one finds no walk remembered."""
        fire_times._short_answers.cache_clear()
        fire_times._long_answers.cache_clear()

    def handler_ms(query: str, status: int) -> float:
        forget_fire_times()
        event = build_http_api_event("GET", path, query, {}, None, claims)
        started = time.perf_counter()
        response = lambda_handler(event, LambdaContext())
        elapsed = time.perf_counter() - started
        if response["statusCode"] != status:
            raise RuntimeError(f"GET {path}?{query} answered {response['statusCode']}")
        return 1000 * elapsed

    def use_case_ms() -> float:
        forget_fire_times()
        started = time.perf_counter()
        answer = schedule_accounting(
            AccountingQueryset.over(db),
            ALICE,
            schedule["id"],
            start=now - timedelta(minutes=FIRES),
            end=now,
            now=now + timedelta(minutes=1),
        )
        elapsed = time.perf_counter() - started
        if answer.totals.expected != FIRES:
            raise RuntimeError(f"{answer.totals.expected} fire times, not {FIRES}")
        return 1000 * elapsed

    handler_ms(bounded, 200)  # warm-up: the connection, the imports, croniter's compile
    results: dict[str, float] = {"accounting.fires": float(FIRES)}
    for key, sample in (
        ("accounting.max_fires_ms", lambda: handler_ms(bounded, 200)),
        ("accounting.refused_31_days_ms", lambda: handler_ms(too_wide, 422)),
        ("accounting.use_case_ms", use_case_ms),
    ):
        samples = [sample() for _ in range(ROUNDS)]
        results[key] = statistics.median(samples)
        results[f"{key}.p90"] = max(samples) if len(samples) < 10 else _p90(samples)
    return results


def _p90(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=10, method="inclusive")[-1]


if __name__ == "__main__":
    print(measure())
