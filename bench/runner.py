"""RunnerFunction's cost per successful scheduled run, beyond the workflow's own steps.

Counts: DynamoDB requests and SQL round trips of one run of a no-step workflow (claim, start,
record, and the hand-on's look for the workflow's next waiting run after the lease is
released), and the
EventBridge PutEvents calls of a successful and of a failed run (its alert), with one
publish's time against in-process moto.
Ratio: the handler's time for that run ÷ the time of the same raw operations issued directly,
over the same backends in the same process: the very statements the handler sent (recorded
from a warm-up run and replayed with fresh values through one psycopg connection) and the
same DynamoDB UpdateItem calls through the same boto3 client. Both sides alternate.
"""

from __future__ import annotations

import json
import secrets
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import backends

ROUNDS = backends.sized(300, 3)
OWNER = uuid.UUID("00000000-0000-4000-8000-0000000be4c4")
FIRST_FIRE = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
# The statements of a successful run with nothing waiting behind it, in order.
REPLAYED = ("claim", "start", "record", "next waiting run")
LEASE_S = 330.0  # what the runner takes in a fresh 300 s invocation: remaining time + margin


def _fire_event(schedule: dict[str, Any], index: int) -> dict[str, Any]:
    """EventBridge's Input for the index-th fire of an every-minute schedule."""
    scheduled = FIRST_FIRE + timedelta(minutes=index)
    return {
        "scheduleId": str(schedule["id"]),
        "workflowId": str(schedule["workflow_id"]),
        "scheduledTime": scheduled.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "attempt": "1",
    }


class RawRun:
    """The runner's operations issued directly, in the handler's order: the recorded SQL and the
    two UpdateItem calls (acquire, release) with fresh values."""

    def __init__(
        self,
        connection: Any,
        dynamodb: Any,
        schedule: dict[str, Any],
        statements: list[tuple[Any, dict[str, Any]]],
        acquire: dict[str, Any],
        release: dict[str, Any],
    ) -> None:
        if len(statements) != len(REPLAYED):
            # the replay must issue what the handler sent, no more, no less: a changed count
            # means the runner changed and this replay (and the README's figure) must follow
            raise RuntimeError(
                f"the runner sent {len(statements)} SQL statements, the replay knows {REPLAYED}"
            )
        claim, start, record, next_waiting = statements
        self.connection = connection
        self.dynamodb = dynamodb
        self.schedule = schedule
        self.claim, self.start, self.record = claim, start, record
        self.next_waiting = next_waiting
        self.acquire, self.release = acquire, release
        self.index = 0

    def __call__(self) -> float:
        self.index += 1
        ids = {"schedule_id": self.schedule["id"], "workflow_id": self.schedule["workflow_id"]}
        started = time.perf_counter()
        now = datetime.now(UTC)
        now_ms = int(now.timestamp() * 1000)
        expires = now + timedelta(seconds=LEASE_S)
        expires_ms = str(int(expires.timestamp() * 1000))
        claimed = self.connection.execute(
            self.claim[0],
            {
                **self.claim[1],
                **ids,
                "scheduled_time": FIRST_FIRE + timedelta(minutes=self.index),
                "started_at": now,
                "lease_expires_at": expires,
            },
        ).fetchone()
        owner = {"S": secrets.token_hex(16)}
        # the update and condition LeaseLock.acquire sends, with its default 5 s clock skew
        acquired = self.dynamodb.update_item(
            **{
                **self.acquire,
                "ExpressionAttributeValues": {
                    **self.acquire["ExpressionAttributeValues"],
                    ":owner": owner,
                    ":expires_at": {"N": expires_ms},
                    ":ttl": {"N": str(int(expires.timestamp()) + 6)},
                    ":first_fence_before": {"N": str(now_ms - 1)},
                    ":expired_before": {"N": str(now_ms - 5000)},
                },
            }
        )
        fence = int(acquired["Attributes"]["fence"]["N"])
        run = {"run_id": claimed["run_id"], "fence": fence}
        started_row = self.connection.execute(
            self.start[0],
            {**self.start[1], **ids, **run, "lease_expires_at": expires, "now": now},
        ).fetchone()
        recorded = self.connection.execute(
            self.record[0],
            {**self.record[1], **ids, **run, "started_at": now, "finished_at": datetime.now(UTC)},
        ).fetchone()
        self.dynamodb.update_item(
            **{
                **self.release,
                "ExpressionAttributeValues": {
                    **self.release["ExpressionAttributeValues"],
                    ":owner": owner,
                },
            }
        )
        # the hand-on after the lease is released: is a run of this workflow waiting?
        waiting = self.connection.execute(
            self.next_waiting[0], _for_workflow(self.next_waiting[1], ids["workflow_id"])
        ).fetchone()
        elapsed = time.perf_counter() - started
        did_it = (
            claimed["run_id"]
            and started_row["started"]
            and recorded["result"] == "recorded"
            and waiting is None
        )
        if not did_it:
            raise RuntimeError("the replay did not do what the runner did: no comparison")
        return elapsed


def _for_workflow(params: Any, workflow_id: Any) -> Any:
    """The hand-on's parameters for this side's workflow: named or its one positional."""
    if isinstance(params, dict):
        return {**params, "workflow_id": workflow_id}
    if len(params) != 1:
        raise RuntimeError(f"the hand-on's statement changed its parameters: {params!r}")
    return (workflow_id,)


def measure() -> dict[str, float]:
    backends.configure_environment()
    with backends.fresh_backends(), backends.quiet_logs():
        return _measure()


def _measure() -> dict[str, float]:
    import psycopg
    from psycopg.rows import dict_row
    from scheduler import clients
    from scheduler.store.db import database
    from scheduler.store.schedules import ScheduleQueries
    from scheduler.store.workflows import WorkflowQueries

    from devstack.apigw import LambdaContext
    from functions.runner.app import lambda_handler

    db = database()
    workflows, schedules = WorkflowQueries(db), ScheduleQueries(db)
    handler_schedule, raw_schedule = (
        schedules.create_schedule(
            None,
            workflow_id=workflows.create_workflow(OWNER, name, {"steps": []})["id"],
            cron="* * * * *",
            timezone="UTC",
            enabled=True,
        )
        for name in ("handler side", "raw side")
    )
    runs = 0

    def handler_run() -> float:
        nonlocal runs
        runs += 1
        event = _fire_event(handler_schedule, runs)
        context = LambdaContext(function_name="RunnerFunction", timeout_s=300)
        started = time.perf_counter()
        result = lambda_handler(event, context)
        elapsed = time.perf_counter() - started
        if result["outcome"] != "succeeded":
            raise RuntimeError(f"the benchmarked run did not succeed: {result}")
        return elapsed

    dynamodb = clients.aws_client("dynamodb")
    connection = db.connection()  # connected before counting, as in a warm Lambda
    counted_runs = backends.sized(20, 2)
    with (
        backends.recorded_statements(connection) as statements,
        backends.recorded_requests(dynamodb) as requests,
        backends.recorded_requests(clients.events_client()) as alerts_sent,
    ):
        handler_run()  # warm-up: first-call caches, and the requests to replay
        replayed = list(statements)
        acquire, release = [params for operation, params in requests if operation == "UpdateItem"]
        statements.clear()
        requests.clear()
        alerts_sent.clear()
        for _ in range(counted_runs):
            handler_run()
    results = {
        "runner.dynamodb_requests": len(requests) / counted_runs,
        "runner.sql_round_trips": len(statements) / counted_runs,
        "runner.put_events_per_success": len(alerts_sent) / counted_runs,
    }
    results.update(_failure_alerts(workflows, schedules))

    url = backends.database_url()
    with psycopg.connect(url, autocommit=True, prepare_threshold=None, row_factory=dict_row) as raw:
        raw_run = RawRun(raw, dynamodb, raw_schedule, replayed, acquire, release)
        raw_run()  # warm-up
        handler_times, raw_times = backends.interleaved(handler_run, raw_run, ROUNDS)
    results.update(backends.ratio_of_medians("runner.overhead_ratio", handler_times, raw_times))
    results["runner.handler_ms"] = 1000 * statistics.median(handler_times)
    return results


def _failure_alerts(workflows: Any, schedules: Any) -> dict[str, float]:
    """PutEvents calls of a failed run (its Run Failed alert), and one publish's time against
    in-process moto: what a failure adds to the runner's time after the lease is released."""
    from scheduler import clients
    from scheduler.run import alerts

    from devstack.apigw import LambdaContext
    from functions.runner.app import lambda_handler

    missing = "arn:aws:lambda:us-east-1:000000000000:function:bench-missing"
    workflow = workflows.create_workflow(
        OWNER, "failing", {"steps": [{"type": "lambda", "functionArn": missing}]}
    )
    schedule = schedules.create_schedule(
        None, workflow_id=workflow["id"], cron="* * * * *", timezone="UTC", enabled=True
    )
    failed_runs = backends.sized(5, 1)
    with backends.recorded_requests(clients.events_client()) as sent:
        for index in range(1, failed_runs + 1):
            context = LambdaContext(function_name="RunnerFunction", timeout_s=300)
            if lambda_handler(_fire_event(schedule, index), context)["outcome"] != "failed":
                raise RuntimeError("the benchmarked failing run did not fail")
    run = alerts.RunRef(uuid.uuid4(), schedule["id"], workflow["id"], FIRST_FIRE, "schedule", 1)
    times = []
    for _ in range(backends.sized(100, 3)):
        started = time.perf_counter()
        failed = alerts.run_failed(run, "bench", occurred_at=FIRST_FIRE)
        if not alerts.publish(failed, time_left_s=60):
            raise RuntimeError("the benchmarked publish failed")
        times.append(time.perf_counter() - started)
    return {
        "runner.put_events_per_failure": len(sent) / failed_runs,
        "runner.alert_publish_ms": 1000 * statistics.median(times),
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
