"""One-time schedules (`at`) in the runner, the missed-fire check and backfill, on real Postgres
and moto: the fire's slot is the `at` instant (run once, a redelivery is a duplicate, a stale
at() is ignored, either instant of a repeated wall time is the slot), a missed one-time fire is
caught up per the schedule's catch-up policy, and a backfill over it queues its one slot."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from scheduler.policies.missed_fires import check_missed_fires

from tests.integration.policy_fixtures import (
    HandOns,
    checking_since,
    event_for,
    fire_check,
    iso,
    make_policy_schedule,
    runs_by_time,
)
from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    OWNER,
    SEVEN,
    LoopbackServer,
    Runner,
    allow_private_http_fixture,
    clock_fixture,
    dynamodb_fixture,
    http_server_fixture,
    http_steps,
    runner_fixture,
)
from tests.integration.test_alerts import AlertQueue, alert_queue_fixture  # noqa: F401
from tests.integration.test_api import (  # noqa: F401  (fixtures)
    Api,
    api,
    eventbridge,
    lambda_endpoint,
)
from tests.queries import AllQueries, process_queries

T0 = datetime(2026, 11, 27, 6, 0, 30, tzinfo=UTC)
AT = datetime(2026, 11, 27, 6, 30, tzinfo=UTC)
NOW = datetime(2026, 11, 27, 7, 6, tzinfo=UTC)


def _one_time(
    queries: AllQueries,
    server: LoopbackServer,
    run_at: datetime = AT,
    timezone: str = "UTC",
    **fields: Any,
) -> dict[str, Any]:
    schedule = make_policy_schedule(
        queries, http_steps(server), cron=None, run_at=run_at, timezone=timezone, **fields
    )
    checking_since(queries, schedule["id"], T0)
    return schedule


def _check(queries: AllQueries, at: datetime, hand_ons: list[dict[str, Any]]) -> Any:
    return check_missed_fires(queries.missed_fires, hand_on=hand_ons.append, now=lambda: at)


# --- the runner


def test_the_one_fire_runs_once_and_a_redelivery_is_a_duplicate(
    runner: Runner, http_server: LoopbackServer
) -> None:
    schedule = _one_time(runner.queries, http_server, run_at=SEVEN, input={"who": "ops"})

    first = runner.fire(schedule, SEVEN)
    again = runner.fire(schedule, SEVEN)  # EventBridge delivers at least once
    retried = runner.fire(schedule, SEVEN, attempt=2)

    assert first.outcome == "succeeded"
    assert (again.outcome, retried.outcome) == ("duplicate", "duplicate")
    [run] = runner.runs(schedule)
    assert (run["scheduled_time"], run["status"]) == (SEVEN, "succeeded")
    assert run["trigger"] == "schedule"
    assert len(http_server.requests) == 1
    assert http_server.requests[0].headers["x-scheduled-time"] == "2026-11-27T07:00:00Z"
    stored = runner.queries.schedules.get_schedule(schedule["id"])
    assert stored["last_run_at"] is not None  # its record, as for a cron's fire


def test_a_fire_at_another_time_is_stale_and_runs_nothing(
    runner: Runner, http_server: LoopbackServer
) -> None:
    # Given a one-time schedule whose `at` was moved from 07:00 to 07:30 (its old at() still
    # delivered by EventBridge, e.g. a change that raced the fire)
    schedule = _one_time(runner.queries, http_server, run_at=SEVEN + timedelta(minutes=30))

    report = runner.fire(schedule, SEVEN)

    assert (report.outcome, report.reason) == ("ignored", "stale fire time")
    assert runner.runs(schedule) == []
    assert http_server.requests == []


def test_either_instant_of_a_repeated_wall_time_is_the_one_slot(
    runner: Runner, http_server: LoopbackServer
) -> None:
    # 02:30 in Berlin on 2026-10-25 is 00:30Z (CEST), then 01:30Z (CET); `at` is the first
    first_occurrence = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    schedule = _one_time(
        runner.queries, http_server, run_at=first_occurrence, timezone="Europe/Berlin"
    )

    # EventBridge delivers at the second occurrence, then (a duplicate) at the first
    second = runner.fire(schedule, first_occurrence + timedelta(hours=1))
    first = runner.fire(schedule, first_occurrence)

    assert (second.outcome, first.outcome) == ("succeeded", "duplicate")
    [run] = runner.runs(schedule)
    assert run["scheduled_time"] == first_occurrence


# --- the missed-fire check and catch-up


@pytest.mark.parametrize("policy", ["latest", "all"])
def test_a_missed_one_time_fire_is_caught_up_per_the_policy(
    runner: Runner, http_server: LoopbackServer, policy: str
) -> None:
    queries = runner.queries
    schedule = _one_time(queries, http_server, catchup_policy=policy)
    hand_ons: list[dict[str, Any]] = []

    # When EventBridge never delivered the one fire and the check passes after its grace
    summary = _check(queries, NOW, hand_ons)

    # Then its one slot is queued as a catch-up run and handed on to the runner
    [run] = runs_by_time(queries, schedule["id"])
    assert (run["scheduled_time"], run["status"], run["trigger"]) == (AT, "buffered", "catchup")
    assert hand_ons == [event_for(schedule, AT, "catchup")]
    assert (summary.catchup_queued, summary.handed_on) == (1, 1)
    runner.clock.current = NOW
    [(_, report)] = HandOns(runner, hand_ons).drain()
    assert report.outcome == "succeeded"
    [run] = runs_by_time(queries, schedule["id"])
    assert (run["status"], run["trigger"]) == ("succeeded", "catchup")
    # And the check has nothing more to look at: the schedule fires no more
    assert fire_check(queries, schedule["id"])["next_check_at"] is None
    assert _check(queries, NOW + timedelta(days=1), []).missed_fires == 0
    assert len(runs_by_time(queries, schedule["id"])) == 1


def test_a_missed_one_time_fire_with_policy_skip_is_only_recorded(
    runner: Runner, http_server: LoopbackServer, alert_queue: AlertQueue
) -> None:
    queries = runner.queries
    schedule = _one_time(queries, http_server, catchup_policy="skip")
    hand_ons: list[dict[str, Any]] = []

    summary = _check(queries, NOW, hand_ons)

    [run] = runs_by_time(queries, schedule["id"])
    assert (run["scheduled_time"], run["status"]) == (AT, "missed")
    assert hand_ons == []
    assert summary.missed_fires == 1
    assert fire_check(queries, schedule["id"])["next_check_at"] is None


def test_a_one_time_fire_that_ran_is_not_missed_and_ends_the_checks(
    runner: Runner, http_server: LoopbackServer
) -> None:
    queries = runner.queries
    schedule = _one_time(queries, http_server, catchup_policy="all")
    runner.clock.current = AT
    assert runner.fire(schedule, AT).outcome == "succeeded"
    hand_ons: list[dict[str, Any]] = []

    summary = _check(queries, NOW, hand_ons)

    assert (summary.missed_fires, hand_ons) == (0, [])
    [run] = runs_by_time(queries, schedule["id"])
    assert (run["status"], run["trigger"]) == ("succeeded", "schedule")
    check = fire_check(queries, schedule["id"])
    assert (check["checked_through"], check["next_check_at"]) == (AT, None)


def test_a_one_time_fire_still_to_come_is_checked_once_it_is_due(
    runner: Runner, http_server: LoopbackServer
) -> None:
    queries = runner.queries
    schedule = _one_time(queries, http_server, run_at=NOW + timedelta(hours=2))

    assert _check(queries, NOW, []).missed_fires == 0

    # due at `at` plus the grace (5 min): the check comes back then, not before
    check = fire_check(queries, schedule["id"])
    assert check["next_check_at"] == NOW + timedelta(hours=2, minutes=5)
    assert runs_by_time(queries, schedule["id"]) == []


# --- backfill


@pytest.fixture(name="workflow_id")
def workflow_id_fixture(api: Api, http_server: LoopbackServer) -> uuid.UUID:
    steps = http_steps(http_server)
    return process_queries().workflows.create_workflow(OWNER, "once", {"steps": steps})["id"]


def test_a_backfill_of_a_one_time_schedule_queues_its_one_slot(
    api: Api, workflow_id: uuid.UUID, lambda_endpoint: list[dict[str, Any]]
) -> None:
    future = (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)
    status, created = api.call(
        "POST", "/api/schedules", body={"workflowId": str(workflow_id), "at": iso(future)}
    )
    assert status == 201, created
    # its `at` passed three hours ago, and it never ran
    fired = (datetime.now(UTC) - timedelta(hours=3)).replace(second=0, microsecond=0)
    process_queries().db.execute(
        "update schedules set run_at = %s where id = %s", (fired, created["id"])
    )
    path = f"/api/schedules/{created['id']}/backfill"

    before = api.call(
        "POST",
        path,
        body={"from": iso(fired - timedelta(hours=2)), "to": iso(fired - timedelta(hours=1))},
    )
    status, body = api.call(
        "POST",
        path,
        body={"from": iso(fired - timedelta(hours=1)), "to": iso(fired + timedelta(hours=1))},
    )

    assert before[0] == 202, before
    assert (before[1]["fires"], before[1]["queued"]) == (0, 0)
    assert status == 202, body
    assert (body["fires"], body["queued"]) == (1, 1)
    [run] = runs_by_time(process_queries(), uuid.UUID(created["id"]))
    assert (run["scheduled_time"], run["status"], run["trigger"]) == (fired, "buffered", "backfill")
    schedule = {"id": uuid.UUID(created["id"]), "workflow_id": workflow_id}
    assert [call["payload"] for call in lambda_endpoint] == [event_for(schedule, fired, "backfill")]
