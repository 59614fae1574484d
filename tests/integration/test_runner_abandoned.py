"""Runs whose lease expired unrecorded (real Postgres, moto DynamoDB and EventBridge, fake
time): a claim that never started is a missed slot (Run Missed, catch-up policy), a run that
started and died is failed (Run Failed), each alerted once, whoever settles it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from scheduler.errors import DatabaseUnavailable, LockUnavailable
from scheduler.policies.abandoned_runs import UNSTARTED_CAUSE
from scheduler.policies.catchup import PAUSED
from scheduler.policies.periodic_pass import run_invocation
from scheduler.run.event import RunnerEvent
from scheduler.run.fire import RunnerQueries
from scheduler.run.lock import Lease, LeaseLock
from scheduler.run.runner import RunReport, run_fire
from scheduler.steps.engine import RunContext
from scheduler.store.fire_checks import MissedRow
from scheduler.store.runs import ABANDONED_RUN_ERROR, RunQueries
from scheduler.sync.eventbridge import EventBridgeSchedules

from tests.integration.policy_fixtures import (
    HandOns,
    event_for,
    iso,
    make_policy_schedule,
    runs_by_time,
)
from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    LEASE_OVER_S,
    LOCKS_TABLE,
    OWNER,
    REMAINING_S,
    SEVEN,
    Crash,
    LoopbackServer,
    Runner,
    allow_private_http_fixture,
    clock_fixture,
    dynamodb_fixture,
    hooks_fixture,
    http_server_fixture,
    http_steps,
    runner_fixture,
    short_retry_budget_fixture,
)
from tests.integration.test_alerts import AlertQueue, alert_queue_fixture  # noqa: F401

INVOCATION = "c0ffee00-0000-4000-8000-0000000000ab"
LAMBDA_RETRY_S = 60  # Lambda retries an async invocation after 1, then 2 minutes


class _LockDown(LeaseLock):
    """DynamoDB throttled or down: every acquire fails before its effect."""

    def acquire(self, workflow_id: Any, lease_s: float, owner: str | None = None) -> Lease:
        raise LockUnavailable("injected: DynamoDB throttled")


def _never_starts(runner: Runner, schedule: dict[str, Any], dynamodb: Any) -> None:
    """The fire's invocation and Lambda's two retries of it each claim (or resume) the slot
    and cannot take the lease."""
    lock = _LockDown(dynamodb, table=LOCKS_TABLE, clock=runner.clock)
    for retry in range(3):
        with pytest.raises(LockUnavailable):
            run_fire(
                RunnerEvent.model_validate(event_for(schedule, SEVEN)),
                remaining_time_s=REMAINING_S,
                invocation_id=INVOCATION,
                queries=runner.queries.runner,
                lock=lock,
                now=runner.clock,
            )
        runner.clock.advance(LAMBDA_RETRY_S * (retry + 1))


def _reconcile_pass(runner: Runner, hand_ons: list[dict[str, Any]]) -> dict[str, int]:
    """ReconcileFunction's scheduled invocation (the coordinator: it starts the shards)."""
    return run_invocation(
        runner.queries.periodic_pass,
        EventBridgeSchedules(),
        None,
        shards=16,
        start=lambda task: None,
        remaining_s=lambda: 900.0,
        hand_on=hand_ons.append,
        now=runner.clock,
    )


@pytest.mark.usefixtures("short_retry_budget")  # the fault never clears: see SHORT_RETRY_S
def test_a_claim_that_never_started_is_missed_and_alerted_not_failed(
    runner: Runner, http_server: LoopbackServer, dynamodb: Any, alert_queue: AlertQueue
) -> None:
    # Given a schedule (catchupPolicy skip) whose fire never got past the claim
    schedule = make_policy_schedule(runner.queries, http_steps(http_server), cron="*/5 * * * *")
    _never_starts(runner, schedule, dynamodb)  # raises each time: Lambda retries, then gives up

    # When the claim's lease has expired and reconcile settles the runs left over
    runner.clock.advance(LEASE_OVER_S)
    hand_ons: list[dict[str, Any]] = []
    summary = _reconcile_pass(runner, hand_ons)

    # Then the slot is missed, with its cause, and one Run Missed alert says so
    [run] = runs_by_time(runner.queries, schedule["id"])
    assert (run["status"], run["trigger"], run["error"]) == ("missed", "schedule", UNSTARTED_CAUSE)
    assert run["finished_at"] == runner.clock()
    assert (summary["abandoned_claims_missed"], summary["abandoned_runs_failed"]) == (1, 0)
    [event] = alert_queue.received()
    assert event["detail-type"] == "Run Missed"
    assert (event["detail"]["runId"], event["detail"]["error"]) == (str(run["id"]), run["error"])
    assert event["detail"]["scheduledTime"] == iso(SEVEN)
    assert hand_ons == []
    assert http_server.requests == []
    assert runner.workflow(schedule)["status"] == "idle"

    # and a later pass settles (and alerts) nothing more
    runner.clock.advance(60)
    again = _reconcile_pass(runner, hand_ons)
    assert (again["abandoned_claims_missed"], again["abandoned_runs_failed"]) == (0, 0)
    assert alert_queue.received() == []


@pytest.mark.usefixtures("short_retry_budget")  # the fault never clears: see SHORT_RETRY_S
def test_a_claim_that_never_started_is_caught_up_under_catchup_policy_all(
    runner: Runner, http_server: LoopbackServer, dynamodb: Any, alert_queue: AlertQueue
) -> None:
    # Given a catchupPolicy all schedule whose fire never got past the claim
    schedule = make_policy_schedule(
        runner.queries, http_steps(http_server), cron="*/5 * * * *", catchup_policy="all"
    )
    _never_starts(runner, schedule, dynamodb)

    # When reconcile settles it once its lease has expired (inside the catch-up window)
    runner.clock.advance(LEASE_OVER_S)
    chain = HandOns(runner)
    _reconcile_pass(runner, chain.pending)

    # Then it waits to run again as a catch-up run, is handed on, and runs, once
    [waiting] = runs_by_time(runner.queries, schedule["id"])
    assert (waiting["status"], waiting["trigger"]) == ("buffered", "catchup")
    assert waiting["error"] == f"{UNSTARTED_CAUSE}; caught up (catchupPolicy all)"
    [event] = alert_queue.received()
    assert (event["detail-type"], event["detail"]["trigger"]) == ("Run Missed", "catchup")
    assert chain.pending == [event_for(schedule, SEVEN, "catchup")]
    assert [r.outcome for _, r in chain.drain()] == ["succeeded"]
    [run] = runs_by_time(runner.queries, schedule["id"])
    assert (run["status"], run["trigger"]) == ("succeeded", "catchup")
    assert [r.headers["x-scheduled-time"] for r in http_server.requests] == [iso(SEVEN)]


@pytest.mark.usefixtures("short_retry_budget")  # the fault never clears: see SHORT_RETRY_S
def test_a_claim_of_a_paused_schedule_is_only_recorded_missed_never_left_waiting(
    runner: Runner, http_server: LoopbackServer, dynamodb: Any, alert_queue: AlertQueue
) -> None:
    schedule = make_policy_schedule(
        runner.queries, http_steps(http_server), cron="*/5 * * * *", catchup_policy="all"
    )
    _never_starts(runner, schedule, dynamodb)
    runner.queries.schedules.update_schedule(schedule["id"], None, {"enabled": False})
    runner.clock.advance(LEASE_OVER_S)
    hand_ons: list[dict[str, Any]] = []

    _reconcile_pass(runner, hand_ons)

    [run] = runs_by_time(runner.queries, schedule["id"])
    assert (run["status"], run["trigger"]) == ("missed", "schedule")
    assert run["error"] == f"{UNSTARTED_CAUSE}; {PAUSED}"
    assert [e["detail-type"] for e in alert_queue.received()] == ["Run Missed"]
    assert hand_ons == []


@pytest.mark.usefixtures("short_retry_budget")  # the fault never clears: see SHORT_RETRY_S
def test_a_claim_past_the_catchup_window_is_only_recorded_missed(
    runner: Runner, http_server: LoopbackServer, dynamodb: Any, alert_queue: AlertQueue
) -> None:
    schedule = make_policy_schedule(
        runner.queries,
        http_steps(http_server),
        cron="*/5 * * * *",
        catchup_policy="latest",
        catchup_window_seconds=60,
    )
    _never_starts(runner, schedule, dynamodb)
    runner.clock.advance(LEASE_OVER_S)
    hand_ons: list[dict[str, Any]] = []

    _reconcile_pass(runner, hand_ons)

    [run] = runs_by_time(runner.queries, schedule["id"])
    assert run["status"] == "missed"
    assert run["error"] == f"{UNSTARTED_CAUSE}; older than the catch-up window: not run"
    assert [e["detail-type"] for e in alert_queue.received()] == ["Run Missed"]
    assert hand_ons == []


# --- a run that started and died is failed, with one Run Failed alert


def _dies_mid_run(runner: Runner, hooks: dict[str, Any]) -> dict[str, Any]:
    def crash(_: RunContext) -> None:
        raise Crash

    hooks["crash"] = crash
    schedule = make_policy_schedule(
        runner.queries, [{"type": "hook", "name": "crash"}], cron="*/5 * * * *"
    )
    with pytest.raises(Crash):
        runner.fire(schedule)
    hooks["crash"] = lambda _: None  # the next run of the workflow lives
    return schedule


def test_a_started_run_that_died_is_failed_by_the_sweep_with_one_run_failed_alert(
    runner: Runner, hooks: dict[str, Any], alert_queue: AlertQueue
) -> None:
    schedule = _dies_mid_run(runner, hooks)
    runner.clock.advance(LEASE_OVER_S)

    summary = _reconcile_pass(runner, [])
    _reconcile_pass(runner, [])

    [run] = runs_by_time(runner.queries, schedule["id"])
    assert (run["status"], run["error"]) == ("failed", ABANDONED_RUN_ERROR)
    [event] = alert_queue.received()
    assert event["detail-type"] == "Run Failed"
    assert event["detail"]["runId"] == str(run["id"])
    assert event["detail"]["error"] == ABANDONED_RUN_ERROR
    assert (event["detail"]["attempt"], event["detail"]["ownerId"]) == (1, str(OWNER))
    assert runner.workflow(schedule)["status"] == "idle"
    assert (summary["abandoned_runs_failed"], summary["abandoned_claims_missed"]) == (1, 0)


def test_a_started_run_that_died_failed_by_the_next_start_is_alerted_once(
    runner: Runner, hooks: dict[str, Any], alert_queue: AlertQueue
) -> None:
    schedule = _dies_mid_run(runner, hooks)
    runner.clock.advance(LEASE_OVER_S)

    # When the workflow's next fire starts (its start fails the dead run), then reconcile runs
    report: RunReport = runner.fire(schedule, SEVEN + timedelta(minutes=5))
    _reconcile_pass(runner, [])

    assert report.outcome == "succeeded"
    dead, ran = runs_by_time(runner.queries, schedule["id"])
    assert (dead["status"], dead["error"]) == ("failed", ABANDONED_RUN_ERROR)
    assert ran["status"] == "succeeded"
    [event] = alert_queue.received()
    assert event["detail-type"] == "Run Failed"
    assert (event["detail"]["runId"], event["detail"]["error"]) == (
        str(dead["id"]),
        ABANDONED_RUN_ERROR,
    )
    assert event["detail"]["scheduledTime"] == iso(SEVEN)
    assert event["detail"]["workflowName"] == "nightly report"


# --- a claim the runner gives back is never left to expire (it would be settled as missed)


class _UnclaimDown(RunQueries):
    """The database refuses every delete of a claim (before its effect)."""

    def unclaim_run_slot(self, run_id: Any) -> None:
        raise DatabaseUnavailable("injected: database down")


@pytest.mark.usefixtures("short_retry_budget")  # the fault never clears: see SHORT_RETRY_S
def test_a_stale_fire_whose_claim_cannot_be_given_back_is_retried_not_left_to_expire(
    runner: Runner, http_server: LoopbackServer, alert_queue: AlertQueue
) -> None:
    # Given a fire delivered for 07:03, no fire time of the schedule's cron (*/5) any more
    schedule = make_policy_schedule(
        runner.queries, http_steps(http_server), cron="*/5 * * * *", catchup_policy="all"
    )
    stale = RunnerEvent.model_validate(event_for(schedule, SEVEN + timedelta(minutes=3)))

    def attempt(queries: RunnerQueries) -> RunReport:
        return run_fire(
            stale,
            remaining_time_s=REMAINING_S,
            invocation_id=INVOCATION,
            queries=queries,
            lock=runner.lock,
            now=runner.clock,
        )

    # When its claim cannot be given back, the invocation raises for Lambda's retry
    with pytest.raises(DatabaseUnavailable):
        attempt(RunnerQueries(_UnclaimDown(runner.queries.db), runner.queries.queue))
    # and the retry, the database back, gives it back
    runner.clock.advance(LAMBDA_RETRY_S)
    assert attempt(runner.queries.runner).outcome == "ignored"

    # Then no claim is left to expire into a missed (and caught up) stale fire time
    runner.clock.advance(LEASE_OVER_S)
    _reconcile_pass(runner, [])
    assert runs_by_time(runner.queries, schedule["id"]) == []
    assert alert_queue.received() == []
    assert http_server.requests == []


def _attempt_once(
    runner: Runner, schedule: dict[str, Any], dynamodb: Any, slot: Any, invocation: str
) -> None:
    """One invocation of the fire at `slot` claims it and cannot take the lease."""
    with pytest.raises(LockUnavailable):
        run_fire(
            RunnerEvent.model_validate(event_for(schedule, slot)),
            remaining_time_s=REMAINING_S,
            invocation_id=invocation,
            queries=runner.queries.runner,
            lock=_LockDown(dynamodb, table=LOCKS_TABLE, clock=runner.clock),
            now=runner.clock,
        )


@pytest.mark.usefixtures("short_retry_budget")  # the fault never clears: see SHORT_RETRY_S
def test_under_latest_an_outage_of_unstarted_claims_catches_up_once_the_newest(
    runner: Runner, http_server: LoopbackServer, dynamodb: Any, alert_queue: AlertQueue
) -> None:
    # Given a catchupPolicy latest schedule whose 07:00 fire never started (its lease is over)
    # while the 07:05 fire, in the same DynamoDB outage, is claimed and its lease still live
    schedule = make_policy_schedule(
        runner.queries, http_steps(http_server), cron="*/5 * * * *", catchup_policy="latest"
    )
    _never_starts(runner, schedule, dynamodb)
    five_past = SEVEN + timedelta(minutes=5)
    _attempt_once(runner, schedule, dynamodb, five_past, "c0ffee00-0000-4000-8000-0000000000ac")
    runner.clock.advance(5)

    # When a coordinator pass comes now (its hand-ons run at once), and another once the
    # newer claim's lease is over too
    chain = HandOns(runner)
    _reconcile_pass(runner, chain.pending)
    first = [r.outcome for _, r in chain.drain()]
    runner.clock.advance(LEASE_OVER_S)
    _reconcile_pass(runner, chain.pending)
    second = [r.outcome for _, r in chain.drain()]

    # Then one catch-up ran, of the newest missed slot: 07:00's waited for 07:05 and was
    # superseded (before, the first pass ran 07:00 and the second 07:05: two, the first stale)
    assert (first, second) == (["ignored"], ["succeeded"])
    runs = runs_by_time(runner.queries, schedule["id"])
    assert [(r["scheduled_time"], r["status"], r["trigger"]) for r in runs] == [
        (SEVEN, "missed", "catchup"),
        (five_past, "succeeded", "catchup"),
    ]
    assert [r.headers["x-scheduled-time"] for r in http_server.requests] == [iso(five_past)]
    assert [e["detail-type"] for e in alert_queue.received()] == ["Run Missed", "Run Missed"]


@pytest.mark.usefixtures("short_retry_budget")  # the fault never clears: see SHORT_RETRY_S
def test_under_latest_a_catchup_waits_while_a_newer_fire_of_the_outage_is_unsettled(
    runner: Runner, http_server: LoopbackServer, dynamodb: Any, alert_queue: AlertQueue
) -> None:
    # Given a catchupPolicy latest schedule whose 07:00 fire EventBridge never delivered (the
    # check queued it as a catch-up) and whose 07:05 fire, in the same DynamoDB outage, is
    # claimed and not started
    schedule = make_policy_schedule(
        runner.queries, http_steps(http_server), cron="*/5 * * * *", catchup_policy="latest"
    )
    runner.queries.fire_checks.record_missed(
        [MissedRow(schedule["id"], schedule["workflow_id"], SEVEN, "buffered", "missed")],
        now=runner.clock(),
        wait_until=runner.clock() + timedelta(minutes=10),
        paused_error="not run: paused",
    )
    five_past = SEVEN + timedelta(minutes=5)
    _attempt_once(runner, schedule, dynamodb, five_past, "c0ffee00-0000-4000-8000-0000000000ad")

    # When the 07:00 catch-up is handed on while DynamoDB is back, before the 07:05 claim settles
    chain = HandOns(runner)
    report = chain.run(event_for(schedule, SEVEN, "catchup"))

    # Then it waits (the newer fire may be the outage's latest) and nothing ran
    assert report.outcome == "ignored"
    assert http_server.requests == []

    # and once the 07:05 claim has expired, the sweep catches up 07:05 alone: 07:00 superseded
    runner.clock.advance(LEASE_OVER_S)
    _reconcile_pass(runner, chain.pending)
    assert [r.outcome for _, r in chain.drain()] == ["succeeded"]
    runs = runs_by_time(runner.queries, schedule["id"])
    assert [(r["scheduled_time"], r["status"], r["trigger"]) for r in runs] == [
        (SEVEN, "missed", "catchup"),
        (five_past, "succeeded", "catchup"),
    ]
    assert [r.headers["x-scheduled-time"] for r in http_server.requests] == [iso(five_past)]
