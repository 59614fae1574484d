"""Claims that never started, by why the run was asked for (real Postgres, moto DynamoDB and
EventBridge, fake time): a catch-up is queued again only inside its window and alerted once,
a backfill is queued again, a manual run is failed and said; under `latest` only the newest
catch-up runs whoever queued it; a Run Missed alert EventBridge did not take stays pending."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from scheduler.errors import LockUnavailable
from scheduler.policies.abandoned_runs import MANUAL_NOT_RUN, REQUEUED, settle_abandoned_runs
from scheduler.policies.catchup import SUPERSEDED
from scheduler.policies.missed_fires import check_missed_fires
from scheduler.run.event import RunnerEvent
from scheduler.run.queue import QUEUED_PATIENCE
from scheduler.run.runner import run_fire

from tests.integration.policy_fixtures import (
    HandOns,
    checking_since,
    event_for,
    iso,
    make_policy_schedule,
    runs_by_time,
)
from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    LEASE_OVER_S,
    LOCKS_TABLE,
    REMAINING_S,
    SEVEN,
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
from tests.integration.test_runner_abandoned import (
    INVOCATION,
    LAMBDA_RETRY_S,
    _LockDown,
    _never_starts,
    _reconcile_pass,
)

pytestmark = pytest.mark.usefixtures("short_retry_budget")  # the faults never clear


def _claim_never_starts(
    runner: Runner, dynamodb: Any, event: dict[str, Any], invocation: str = INVOCATION
) -> None:
    """The invocation with `event` and Lambda's two retries of it each claim (or resume) the
    slot and cannot take the lease."""
    lock = _LockDown(dynamodb, table=LOCKS_TABLE, clock=runner.clock)
    for retry in range(3):
        with pytest.raises(LockUnavailable):
            run_fire(
                RunnerEvent.model_validate(event),
                remaining_time_s=REMAINING_S,
                invocation_id=invocation,
                queries=runner.queries.runner,
                lock=lock,
                now=runner.clock,
            )
        runner.clock.advance(LAMBDA_RETRY_S * (retry + 1))


def test_a_catchup_whose_claim_keeps_failing_runs_again_only_inside_its_window_alerted_once(
    runner: Runner, http_server: LoopbackServer, dynamodb: Any, alert_queue: AlertQueue
) -> None:
    # Given an hourly catchupPolicy all schedule (window 1 h) whose 07:00 fire never started
    schedule = make_policy_schedule(
        runner.queries,
        http_steps(http_server),
        cron="0 * * * *",
        catchup_policy="all",
        catchup_window_seconds=3600,
    )
    trigger = "schedule"
    statuses: list[tuple[str, str]] = []
    hand_ons: list[dict[str, Any]] = []
    # When each catch-up of it never starts either, pass after pass, for two hours
    for cycle in range(10):
        if runner.clock() >= SEVEN + timedelta(hours=2):
            break
        invocation = f"{INVOCATION[:-2]}{cycle:02d}"  # each hand-on: an invocation of its own
        _claim_never_starts(runner, dynamodb, event_for(schedule, SEVEN, trigger), invocation)
        runner.clock.advance(LEASE_OVER_S)
        hand_ons = []
        _reconcile_pass(runner, hand_ons)
        [run] = runs_by_time(runner.queries, schedule["id"])
        statuses.append((run["status"], run["trigger"]))
        if run["status"] != "buffered":
            break
        trigger = "catchup"

    # Then it was queued again while its window (from the slot's due) lasted, then recorded
    # missed; one Run Missed alert was sent for the slot, and nothing more is handed on
    assert statuses[0] == ("buffered", "catchup")
    assert statuses[-1] == ("missed", "catchup")
    assert set(statuses[:-1]) == {("buffered", "catchup")}
    assert run["error"].endswith("older than the catch-up window: not run")
    assert runner.clock() < SEVEN + timedelta(hours=2)
    assert [e["detail-type"] for e in alert_queue.received()] == ["Run Missed"]
    assert hand_ons == []
    assert http_server.requests == []


def test_a_backfill_whose_claim_never_started_is_queued_again_and_runs(
    runner: Runner, http_server: LoopbackServer, dynamodb: Any, alert_queue: AlertQueue
) -> None:
    # Given a backfilled fire time (two days back) whose claim never started
    schedule = make_policy_schedule(runner.queries, http_steps(http_server), cron="*/5 * * * *")
    slot = SEVEN - timedelta(days=2)
    now = runner.clock()
    runner.queries.queue.queue_runs(
        schedule["id"],
        schedule["workflow_id"],
        [slot],
        trigger="backfill",
        now=now,
        wait_until=now + QUEUED_PATIENCE,
    )
    _claim_never_starts(runner, dynamodb, event_for(schedule, slot, "backfill"))

    # When reconcile settles it once its lease has expired
    runner.clock.advance(LEASE_OVER_S)
    chain = HandOns(runner)
    _reconcile_pass(runner, chain.pending)

    # Then it waits to run again as the backfill it is (no Run Missed: nothing was missed),
    # is handed on, and runs
    [waiting] = runs_by_time(runner.queries, schedule["id"])
    assert (waiting["status"], waiting["trigger"], waiting["error"]) == (
        "buffered",
        "backfill",
        REQUEUED,
    )
    assert alert_queue.received() == []
    assert chain.pending == [event_for(schedule, slot, "backfill")]
    assert [r.outcome for _, r in chain.drain()] == ["succeeded"]
    assert [r.headers["x-scheduled-time"] for r in http_server.requests] == [iso(slot)]


def test_a_manual_run_whose_claim_never_started_is_failed_with_a_run_failed_alert(
    runner: Runner, http_server: LoopbackServer, dynamodb: Any, alert_queue: AlertQueue
) -> None:
    schedule = make_policy_schedule(
        runner.queries, http_steps(http_server), cron="*/5 * * * *", catchup_policy="all"
    )
    _claim_never_starts(runner, dynamodb, event_for(schedule, SEVEN, "manual"))
    runner.clock.advance(LEASE_OVER_S)
    hand_ons: list[dict[str, Any]] = []

    summary = _reconcile_pass(runner, hand_ons)

    # Then the run the user asked for is failed, saying why, not turned into a missed slot
    [run] = runs_by_time(runner.queries, schedule["id"])
    assert (run["status"], run["trigger"], run["error"]) == ("failed", "manual", MANUAL_NOT_RUN)
    [event] = alert_queue.received()
    assert (event["detail-type"], event["detail"]["trigger"]) == ("Run Failed", "manual")
    assert event["detail"]["error"] == MANUAL_NOT_RUN
    assert summary["abandoned_runs_failed"] == 1
    assert hand_ons == []
    assert http_server.requests == []


def test_under_latest_a_claim_settled_after_a_newer_catchup_was_queued_does_not_run(
    runner: Runner, http_server: LoopbackServer, dynamodb: Any, alert_queue: AlertQueue
) -> None:
    # Given a catchupPolicy latest schedule whose 07:00 claim never started, and whose 07:05
    # fire was not delivered: the check queued 07:05 as the catch-up
    queries = runner.queries
    schedule = make_policy_schedule(
        queries,
        http_steps(http_server),
        cron="*/5 * * * *",
        catchup_policy="latest",
        catchup_window_seconds=86400,
    )
    checking_since(queries, schedule["id"], SEVEN - timedelta(seconds=1))
    _never_starts(runner, schedule, dynamodb)
    runner.clock.advance((SEVEN + timedelta(minutes=11) - runner.clock()).total_seconds())
    chain = HandOns(runner)
    check_missed_fires(queries.missed_fires, hand_on=chain.pending.append, now=runner.clock)

    # When the sweep settles the 07:00 claim afterwards (its lease expired)
    runner.clock.advance(LEASE_OVER_S)
    _reconcile_pass(runner, chain.pending)

    # Then 07:00 is recorded missed as superseded, and only the newest slot (07:05) runs
    older, newer = (
        r
        for r in runs_by_time(queries, schedule["id"])
        if r["scheduled_time"]
        in {
            SEVEN,
            SEVEN + timedelta(minutes=5),
        }
    )
    assert (older["status"], older["error"]) == ("missed", f"missed: {SUPERSEDED}")
    assert (newer["status"], newer["trigger"]) == ("buffered", "catchup")
    chain.pending[:] = chain.pending[-1:]  # the hand-ons of one workflow: its newest stands
    ran = [slot for slot, report in chain.drain() if report.outcome == "succeeded"]
    assert ran == [iso(SEVEN + timedelta(minutes=5))]
    assert [r.headers["x-scheduled-time"] for r in http_server.requests] == [
        iso(SEVEN + timedelta(minutes=5))
    ]


def test_a_sweep_run_missed_alert_eventbridge_did_not_take_is_sent_by_the_next_check(
    runner: Runner, http_server: LoopbackServer, dynamodb: Any, alert_queue: AlertQueue
) -> None:
    # Given a claim that never started, settled by a sweep short of time to publish
    schedule = make_policy_schedule(runner.queries, http_steps(http_server), cron="*/5 * * * *")
    _never_starts(runner, schedule, dynamodb)
    runner.clock.advance(LEASE_OVER_S)
    settle_abandoned_runs(
        runner.queries.abandoned_runs, runner.clock(), hand_on=None, remaining_s=lambda: 1.0
    )
    assert alert_queue.received() == []
    [run] = runs_by_time(runner.queries, schedule["id"])
    assert (run["status"], run["missed_alert_pending"]) == ("missed", True)

    # When the missed-fire check's next pass runs
    check_missed_fires(runner.queries.missed_fires, hand_on=lambda event: None, now=runner.clock)

    # Then the alert is sent, once, and no longer pending
    [event] = alert_queue.received()
    assert (event["detail-type"], event["detail"]["runId"]) == ("Run Missed", str(run["id"]))
    [run] = runs_by_time(runner.queries, schedule["id"])
    assert run["missed_alert_pending"] is None
    check_missed_fires(runner.queries.missed_fires, hand_on=lambda event: None, now=runner.clock)
    assert alert_queue.received() == []


def test_under_latest_a_slot_the_check_queues_after_the_sweep_queued_a_newer_one_does_not_run(
    runner: Runner, http_server: LoopbackServer, dynamodb: Any, alert_queue: AlertQueue
) -> None:
    # Given a catchupPolicy latest schedule: 07:00 was not delivered, 07:05's claim never
    # started, and the check was down meanwhile, so the sweep queued 07:05 as the catch-up first
    queries = runner.queries
    schedule = make_policy_schedule(
        queries,
        http_steps(http_server),
        cron="*/5 * * * *",
        catchup_policy="latest",
        catchup_window_seconds=86400,
    )
    checking_since(queries, schedule["id"], SEVEN - timedelta(seconds=1))
    five_past = SEVEN + timedelta(minutes=5)
    runner.clock.advance((five_past - runner.clock()).total_seconds())
    _claim_never_starts(runner, dynamodb, event_for(schedule, five_past))
    runner.clock.advance(LEASE_OVER_S)
    chain = HandOns(runner)
    settle_abandoned_runs(queries.abandoned_runs, runner.clock(), hand_on=chain.pending.append)

    # When the check comes back and finds 07:00 missed (it has no row)
    check_missed_fires(queries.missed_fires, hand_on=chain.pending.append, now=runner.clock)

    # Then 07:00 is recorded missed as superseded, and only 07:05 runs
    older, newer = (
        r
        for r in runs_by_time(queries, schedule["id"])
        if r["scheduled_time"] in {SEVEN, five_past}
    )
    assert older["status"] == "missed"
    assert older["error"].endswith(SUPERSEDED)
    assert (newer["status"], newer["trigger"]) == ("buffered", "catchup")
    chain.pending[:] = chain.pending[-1:]  # the hand-ons of one workflow: its newest stands
    ran = [slot for slot, report in chain.drain() if report.outcome == "succeeded"]
    assert ran == [iso(five_past)]
    assert [r.headers["x-scheduled-time"] for r in http_server.requests] == [iso(five_past)]
