"""The runner against real Postgres and moto DynamoDB, with fake time.

At most one run per fire time, never two runs of a workflow at once, an honest record.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from scheduler.errors import DatabaseUnavailable, LockUnavailable
from scheduler.run.fire import RunnerQueries
from scheduler.run.overlap import OVERLAP_REASON
from scheduler.run.runner import RunReport
from scheduler.steps.engine import RunContext
from scheduler.store.db import Database
from scheduler.store.runs import ABANDONED_RUN_ERROR

from tests.conftest import drop_connection
from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    LEASE_OVER_S,
    LOCKS_TABLE,
    OWNER,
    SEVEN,
    WAIT_S,
    Crash,
    LoopbackServer,
    Runner,
    allow_private_http_fixture,
    clock_fixture,
    dynamodb_fixture,
    hooks_fixture,
    http_server_fixture,
    http_steps,
    join,
    make_schedule,
    runner_fixture,
    short_retry_budget_fixture,
)

# --- the seed's list


def test_a_fire_runs_the_workflow_and_records_success(
    runner: Runner, http_server: LoopbackServer
) -> None:
    schedule = make_schedule(runner.queries, http_steps(http_server))
    started = runner.clock()

    report = runner.fire(schedule)

    assert report.outcome == "succeeded"
    [request] = http_server.requests
    assert request.headers["x-workflow-run-id"] == str(report.run_id)
    assert request.headers["x-scheduled-time"] == "2026-11-27T07:00:00Z"
    assert request.body == {"report": "daily"}
    [run] = runner.runs(schedule)
    assert run["id"] == report.run_id
    assert (run["status"], run["trigger"], run["attempt"]) == ("succeeded", "schedule", 1)
    assert (run["scheduled_time"], run["started_at"]) == (SEVEN, started)
    assert run["finished_at"] == started
    assert run["error"] is None
    assert run["output"]["steps"][0]["detail"]["status"] == 200
    workflow = runner.workflow(schedule)
    assert (workflow["status"], workflow["run_count"]) == ("idle", 1)
    assert (workflow["last_run_at"], workflow["last_run_status"]) == (started, "succeeded")
    assert runner.schedule(schedule)["last_run_at"] == started


def test_a_failed_run_is_recorded_and_leaves_last_run_at_alone(
    runner: Runner, http_server: LoopbackServer
) -> None:
    schedule = make_schedule(runner.queries, http_steps(http_server))
    runner.fire(schedule)
    first_success = runner.clock()
    http_server.status = 500
    runner.clock.advance(300)

    report = runner.fire(schedule, SEVEN + timedelta(minutes=5))

    assert report.outcome == "failed"
    failed = runner.runs(schedule)[-1]
    assert failed["status"] == "failed"
    assert "HTTP 500" in failed["error"]
    assert failed["finished_at"] is not None
    after = runner.schedule(schedule)
    assert after["last_run_at"] == first_success
    assert after["enabled"] is True  # an ordinary failure never disables
    workflow = runner.workflow(schedule)
    assert (workflow["run_count"], workflow["last_run_status"]) == (2, "failed")
    assert workflow["status"] == "idle"


def test_a_disabled_schedule_is_a_no_op_until_enabled_again(
    runner: Runner, http_server: LoopbackServer
) -> None:
    schedule = make_schedule(runner.queries, http_steps(http_server))
    runner.queries.schedules.update_schedule(schedule["id"], None, {"enabled": False})

    assert runner.fire(schedule).outcome == "ignored"
    assert runner.runs(schedule) == []
    assert http_server.requests == []

    runner.queries.schedules.update_schedule(schedule["id"], None, {"enabled": True})
    assert runner.fire(schedule).outcome == "succeeded"
    assert len(http_server.requests) == 1


def test_a_deleted_schedule_or_a_foreign_workflow_id_is_a_no_op(
    runner: Runner, http_server: LoopbackServer
) -> None:
    schedule = make_schedule(runner.queries, http_steps(http_server))
    other = make_schedule(runner.queries, http_steps(http_server))

    assert runner.fire({**schedule, "workflow_id": other["workflow_id"]}).outcome == "ignored"
    runner.queries.schedules.delete_schedule(schedule["id"])
    assert runner.fire(schedule).outcome == "ignored"

    assert http_server.requests == []
    assert runner.queries.db.execute("select count(*) as n from schedule_runs").fetchone() == {
        "n": 0
    }


def test_a_stale_fire_time_never_runs_but_a_manual_run_does(
    runner: Runner, http_server: LoopbackServer
) -> None:
    schedule = make_schedule(runner.queries, http_steps(http_server), cron="0 7 * * *")

    stale = runner.fire(schedule, SEVEN + timedelta(minutes=5))
    manual = runner.fire(schedule, datetime(2026, 11, 27, 9, 41, 12, tzinfo=UTC), trigger="manual")

    assert stale.outcome == "ignored"
    assert manual.outcome == "succeeded"
    [run] = runner.runs(schedule)
    assert (run["trigger"], run["status"]) == ("manual", "succeeded")
    assert len(http_server.requests) == 1


def test_a_repeated_autumn_time_runs_once_whichever_instant_it_is_delivered_at(
    runner: Runner, http_server: LoopbackServer
) -> None:
    # Given 02:30 in Berlin, which 2026-10-25 has twice: 00:30Z (CEST) and 01:30Z (CET)
    workflow = runner.queries.workflows.create_workflow(
        OWNER, "berlin", {"steps": http_steps(http_server)}
    )
    schedule = runner.queries.schedules.create_schedule(
        None, workflow_id=workflow["id"], cron="30 2 * * *", timezone="Europe/Berlin", enabled=True
    )
    first, second = (datetime(2026, 10, 25, h, 30, tzinfo=UTC) for h in (0, 1))
    runner.clock.current = second

    # When EventBridge delivers it at the second instant, and then (say) at the first too
    late = runner.fire(schedule, second)
    early = runner.fire(schedule, first)

    # Then it ran once, under one slot: the wall time's first occurrence
    assert (late.outcome, early.outcome) == ("succeeded", "duplicate")
    [run] = runner.runs(schedule)
    assert (run["scheduled_time"], run["status"]) == (first, "succeeded")
    assert http_server.requests[0].headers["x-scheduled-time"] == "2026-10-25T00:30:00Z"
    assert len(http_server.requests) == 1


def test_an_invalid_definition_fails_the_run_and_disables_the_schedule(runner: Runner) -> None:
    schedule = make_schedule(runner.queries, [{"type": "http", "url": "ftp://files"}])

    report = runner.fire(schedule)
    later = runner.fire(schedule, SEVEN + timedelta(minutes=5))

    assert report.outcome == "failed"
    [run] = runner.runs(schedule)
    assert run["status"] == "failed"
    assert "absolute http" in run["error"]
    after = runner.schedule(schedule)
    assert after["enabled"] is False
    assert "absolute http" in after["disabled_reason"]
    assert after["last_run_at"] is None
    assert later.outcome == "ignored"


# --- duplicate delivery


def test_a_duplicate_delivery_is_a_no_op(runner: Runner, http_server: LoopbackServer) -> None:
    schedule = make_schedule(runner.queries, http_steps(http_server))

    first = runner.fire(schedule)
    again = runner.fire(schedule, attempt=2)

    assert (first.outcome, again.outcome) == ("succeeded", "duplicate")
    assert len(runner.runs(schedule)) == 1
    assert len(http_server.requests) == 1
    assert runner.workflow(schedule)["run_count"] == 1


def test_twenty_concurrent_deliveries_run_the_workflow_once(
    runner: Runner, http_server: LoopbackServer, clean_db: str
) -> None:
    schedule = make_schedule(runner.queries, http_steps(http_server))
    start = threading.Barrier(20)
    reports: list[RunReport] = []

    def deliver() -> None:
        database = Database(clean_db)  # one connection per concurrent Lambda
        try:
            start.wait()
            reports.append(runner.fire(schedule, queries=RunnerQueries.over(database)))
        finally:
            database.close()

    threads = [threading.Thread(target=deliver) for _ in range(20)]
    for thread in threads:
        thread.start()
    join(*threads)

    outcomes = sorted(report.outcome for report in reports)
    assert outcomes == ["duplicate"] * 19 + ["succeeded"]
    assert len(runner.runs(schedule)) == 1
    assert len(http_server.requests) == 1
    assert runner.workflow(schedule)["run_count"] == 1


# --- overlap


def _in_background(fire: Any) -> tuple[threading.Thread, list[RunReport]]:
    reports: list[RunReport] = []
    thread = threading.Thread(target=lambda: reports.append(fire()))
    thread.start()
    return thread, reports


def test_an_overlapping_fire_is_skipped_and_the_next_one_runs(
    runner: Runner, http_server: LoopbackServer
) -> None:
    first = make_schedule(runner.queries, http_steps(http_server))
    second = make_schedule(runner.queries, [], workflow_id=first["workflow_id"])
    http_server.hold, http_server.hold_first = threading.Event(), 1
    thread, first_reports = _in_background(lambda: runner.fire(first))
    assert http_server.received.wait(WAIT_S)  # the first run is inside its step

    overlapping = runner.fire(second)
    http_server.hold.set()
    join(thread)
    runner.clock.advance(300)
    next_fire = runner.fire(second, SEVEN + timedelta(minutes=5))

    assert overlapping.outcome == "skipped"
    [skipped, later] = runner.runs(second)
    assert (skipped["status"], skipped["error"]) == ("skipped", OVERLAP_REASON)
    assert skipped["finished_at"] is not None
    assert first_reports[0].outcome == "succeeded"
    assert (later["status"], next_fire.outcome) == ("succeeded", "succeeded")
    assert runner.workflow(first)["run_count"] == 2


# --- faults


def test_a_runner_that_crashed_holding_the_lease_is_recorded_failed_and_the_next_fire_runs(
    runner: Runner, hooks: dict[str, Any]
) -> None:
    crashing = iter([True])

    def maybe_crash(_: RunContext) -> None:
        if next(crashing, False):
            raise Crash

    hooks["crash"] = maybe_crash
    schedule = make_schedule(runner.queries, [{"type": "hook", "name": "crash"}], cron="* * * * *")
    with pytest.raises(Crash):
        runner.fire(schedule)
    assert runner.workflow(schedule)["status"] == "running"

    runner.clock.advance(30)  # lease still live: the next fire overlaps
    assert runner.fire(schedule, SEVEN + timedelta(minutes=1)).outcome == "skipped"
    runner.clock.advance(LEASE_OVER_S)
    report = runner.fire(schedule, SEVEN + timedelta(minutes=5))

    assert report.outcome == "succeeded"
    crashed, skipped, recovered = runner.runs(schedule)
    assert (crashed["status"], crashed["error"]) == ("failed", ABANDONED_RUN_ERROR)
    assert crashed["finished_at"] == runner.clock()
    assert skipped["status"] == "skipped"
    assert recovered["status"] == "succeeded"
    workflow = runner.workflow(schedule)
    assert (workflow["status"], workflow["run_count"]) == ("idle", 1)


def test_a_run_that_outlives_its_lease_cannot_overwrite_the_newer_run(
    runner: Runner, http_server: LoopbackServer
) -> None:
    schedule = make_schedule(runner.queries, http_steps(http_server))
    http_server.hold, http_server.hold_first = threading.Event(), 1
    thread, slow_reports = _in_background(lambda: runner.fire(schedule))
    assert http_server.received.wait(WAIT_S)

    runner.clock.advance(LEASE_OVER_S)  # the slow run's lease is gone
    newer = runner.fire(schedule, SEVEN + timedelta(minutes=5))
    newer_started = runner.clock()
    runner.clock.advance(60)
    http_server.hold.set()  # the slow run finishes and tries to record success
    join(thread)

    assert newer.outcome == "succeeded"
    assert slow_reports[0].outcome == "unrecorded"
    slow, fresh = runner.runs(schedule)
    assert (slow["status"], slow["error"]) == ("failed", ABANDONED_RUN_ERROR)
    assert fresh["status"] == "succeeded"
    workflow = runner.workflow(schedule)
    assert (workflow["run_count"], workflow["last_run_at"]) == (1, newer_started)
    assert runner.schedule(schedule)["last_run_at"] == newer_started


def _inject(client: Any, event: str, code: str, *, let_through: int = 0) -> list[bool]:
    """Fail `event` calls (after the first `let_through`) with `code` while the switch is on."""
    switch = [True]
    calls = [0]

    def handler(**_: Any) -> None:
        calls[0] += 1
        if switch[0] and calls[0] > let_through:
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, "Injected")

    client.meta.events.register(event, handler)
    return switch


@pytest.mark.usefixtures("short_retry_budget")  # the fault never clears: see SHORT_RETRY_S
def test_a_throttled_acquire_runs_nothing_and_the_retry_runs(
    runner: Runner, http_server: LoopbackServer, dynamodb: Any
) -> None:
    schedule = make_schedule(runner.queries, http_steps(http_server))
    switch = _inject(
        dynamodb, "before-call.dynamodb.UpdateItem", "ProvisionedThroughputExceededException"
    )

    with pytest.raises(LockUnavailable):
        runner.fire(schedule, invocation="request-1")
    [claimed] = runner.runs(schedule)  # claimed, never started: kept for the retry to resume
    assert (claimed["status"], claimed["fence"]) == ("running", None)
    assert http_server.requests == []

    switch[0] = False
    assert runner.fire(schedule, attempt=2).outcome == "duplicate"  # another invocation
    retry = runner.fire(schedule, invocation="request-1")  # Lambda's retry of the first
    assert retry.outcome == "succeeded"
    [run] = runner.runs(schedule)
    assert (run["id"], run["status"]) == (claimed["id"], "succeeded")
    assert len(http_server.requests) == 1


@pytest.mark.usefixtures("short_retry_budget")  # the fault never clears: see SHORT_RETRY_S
def test_a_failing_release_still_records_the_result(
    runner: Runner, http_server: LoopbackServer, dynamodb: Any
) -> None:
    schedule = make_schedule(runner.queries, http_steps(http_server))
    # the first UpdateItem acquires the lease, the second (failing) releases it
    _inject(dynamodb, "before-call.dynamodb.UpdateItem", "InternalServerError", let_through=1)

    report = runner.fire(schedule)

    assert report.outcome == "succeeded"
    assert runner.runs(schedule)[0]["status"] == "succeeded"
    assert runner.schedule(schedule)["last_run_at"] == runner.clock()


@pytest.mark.usefixtures("short_retry_budget")  # the fault never clears: see SHORT_RETRY_S
def test_an_unreachable_database_before_the_claim_raises_for_a_retry(
    runner: Runner, http_server: LoopbackServer, dynamodb: Any
) -> None:
    schedule = make_schedule(runner.queries, http_steps(http_server))
    down = RunnerQueries.over(
        Database("postgresql://postgres@127.0.0.1:1/postgres", connect_timeout_s=1)
    )

    with pytest.raises(DatabaseUnavailable):
        runner.fire(schedule, queries=down)

    assert http_server.requests == []
    assert dynamodb.scan(TableName=LOCKS_TABLE)["Items"] == []


def test_a_database_outage_at_the_final_write_never_runs_the_workflow_twice(
    runner: Runner, http_server: LoopbackServer, hooks: dict[str, Any], clean_db: str
) -> None:
    healthy = [True]
    database = Database(lambda: clean_db if healthy[0] else "postgresql://x@127.0.0.1:1/x")
    flaky = RunnerQueries.over(database)

    def outage(_: RunContext) -> None:  # the connection drops and cannot be reopened
        healthy[0] = False
        drop_connection(database.connection())

    hooks["outage"] = outage
    steps = [*http_steps(http_server), {"type": "hook", "name": "outage"}]
    schedule = make_schedule(runner.queries, steps)

    report = runner.fire(schedule, queries=flaky, remaining_s=3)  # records retry ~2 s, not 59
    healthy[0] = True
    redelivered = runner.fire(schedule, attempt=2, queries=flaky)

    assert report.outcome == "unrecorded"  # and no exception: Lambda does not retry
    assert redelivered.outcome == "duplicate"
    assert len(http_server.requests) == 1
    [run] = runner.runs(schedule)
    assert run["status"] == "running"
    # once its lease has expired, reconcile fails the run that was never recorded
    assert runner.queries.runs.fail_abandoned_runs(runner.clock()) == []
    runner.clock.advance(LEASE_OVER_S)
    assert len(runner.queries.runs.fail_abandoned_runs(runner.clock())) == 1
    [run] = runner.runs(schedule)
    assert (run["status"], run["error"]) == ("failed", ABANDONED_RUN_ERROR)
    assert runner.workflow(schedule)["status"] == "idle"
    database.close()


# --- cost


class CountingDatabase(Database):
    """Counts SQL statements sent over the connection (each is one round trip)."""

    statements = 0

    def _open(self) -> Any:
        conn = super()._open()
        execute = conn.execute

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.statements += 1
            return execute(*args, **kwargs)

        conn.execute = counting  # type: ignore[method-assign]
        return conn


def test_a_scheduled_run_costs_two_dynamodb_requests_and_three_sql_round_trips(
    runner: Runner, dynamodb: Any, clean_db: str
) -> None:
    schedule = make_schedule(runner.queries, [])
    database = CountingDatabase(clean_db)
    database.connection()  # connected before counting, as in a warm Lambda
    database.statements = 0
    requests: list[str] = []
    dynamodb.meta.events.register_first(
        "before-send.dynamodb", lambda request, **_: requests.append(request.url)
    )

    report = runner.fire(schedule, queries=RunnerQueries.over(database))

    assert report.outcome == "succeeded"
    assert len(requests) == 2
    assert database.statements == 3
    database.close()


def test_failing_abandoned_runs_keeps_a_workflow_running_while_another_run_is_live(
    runner: Runner, hooks: dict[str, Any]
) -> None:
    def crash(_: RunContext) -> None:
        raise Crash

    hooks["crash"] = crash
    schedule = make_schedule(runner.queries, [{"type": "hook", "name": "crash"}], cron="* * * * *")
    with pytest.raises(Crash):
        runner.fire(schedule)
    runner.clock.advance(LEASE_OVER_S)
    live = runner.queries.runs.claim_run_slot(  # claimed just now by another runner
        schedule["id"],
        schedule["workflow_id"],
        SEVEN + timedelta(minutes=1),
        trigger="schedule",
        attempt=1,
        claim_token="another-runner",
        started_at=runner.clock(),
        lease_expires_at=runner.clock() + timedelta(seconds=40),
    )

    assert len(runner.queries.runs.fail_abandoned_runs(runner.clock())) == 1

    crashed, still_running = runner.runs(schedule)
    assert (crashed["status"], crashed["error"]) == ("failed", ABANDONED_RUN_ERROR)
    assert (still_running["id"], still_running["status"]) == (live["run_id"], "running")
    assert runner.workflow(schedule)["status"] == "running"
