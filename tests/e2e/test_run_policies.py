"""E2E: overlapPolicy buffer_one and backfill on the local stack, through the real runner."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from devstack.stack import Stack
from tests.e2e.conftest import (
    WAIT_S,
    Api,
    MakeWorkflow,
    clock_of,
    hits_with,
    iso,
    next_minute,
    parse_time,
    sync_engine,
)


def _wait_for_runs(stack: Stack) -> None:
    assert stack.lambdas is not None
    stack.lambdas.wait_in_flight(0, WAIT_S)


def test_buffer_one_keeps_one_fire_waiting_and_runs_it_when_the_workflow_is_free(
    stack: Stack, api1: Api, make_workflow: MakeWorkflow
) -> None:
    # Given a workflow whose step blocks until released, and a buffer_one schedule of it
    workflow = make_workflow("/demo/slow", timeout_s=60)
    schedule = api1.create_schedule(workflow.id, "* * * * *", overlapPolicy="buffer_one")
    assert schedule["overlapPolicy"] == "buffer_one"
    sync_engine(stack)
    assert stack.engine is not None
    assert stack.lambdas is not None
    stack.demo.hold_slow()
    try:
        # When its fire is inside the step
        now = clock_of(stack).advance((next_minute(stack) - clock_of(stack).now()).total_seconds())
        stack.engine.wait_until_processed(now, WAIT_S)
        stack.demo.wait_for_hit(lambda hit: hit["body"] == {"marker": workflow.marker}, WAIT_S)
        # and two run-now requests come while it runs
        path = f"/api/schedules/{schedule['id']}/run"
        assert api1.request("POST", path).status == 202
        stack.lambdas.wait_in_flight(at_most=1, timeout_s=WAIT_S)
        assert api1.request("POST", path).status == 202
        stack.lambdas.wait_in_flight(at_most=1, timeout_s=WAIT_S)
        statuses = sorted(r["status"] for r in api1.runs(schedule["id"]))
        # Then the first waits and the second is skipped (at most one waits)
        assert statuses == ["buffered", "running", "skipped"]
    finally:
        stack.demo.release_slow()
    _wait_for_runs(stack)

    # and once the running one ended, the waiting one ran (after it, never beside it)
    runs = sorted(api1.runs(schedule["id"]), key=lambda r: r["startedAt"])
    assert [(r["trigger"], r["status"]) for r in runs if r["status"] != "skipped"] == [
        ("schedule", "succeeded"),
        ("manual", "succeeded"),
    ]
    first, waited = (r for r in runs if r["status"] == "succeeded")
    assert parse_time(first["finishedAt"]) <= parse_time(waited["startedAt"])
    assert len(hits_with(stack, workflow.marker)) == 2


def test_a_backfill_runs_each_fire_time_of_the_interval_once_oldest_first(
    stack: Stack, api1: Api, make_workflow: MakeWorkflow
) -> None:
    # Given an hourly schedule that already ran one of the last five hours
    workflow = make_workflow()
    schedule = api1.create_schedule(workflow.id, "0 * * * *")
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    hours = [hour - timedelta(hours=n) for n in (4, 3, 2, 1, 0)]
    done = api1.request(
        "POST",
        f"/api/schedules/{schedule['id']}/backfill",
        {"from": iso(hours[2]), "to": iso(hours[2])},
    )
    assert done.status == 202
    assert done.body["fires"] == done.body["queued"] == 1
    _wait_for_runs(stack)

    # When the five hours are backfilled
    answer = api1.request(
        "POST",
        f"/api/schedules/{schedule['id']}/backfill",
        {"from": iso(hours[0]), "to": iso(datetime.now(UTC))},
    )

    # Then all five are fire times, four of them new, and they ran oldest first, one at a time
    assert answer.status == 202
    assert answer.body["fires"] == 5
    assert answer.body["queued"] == 4
    _wait_for_runs(stack)
    runs = sorted(api1.runs(schedule["id"]), key=lambda r: r["startedAt"])
    assert [(r["trigger"], r["status"]) for r in runs] == [("backfill", "succeeded")] * 5
    later = [r for r in runs if parse_time(r["scheduledTime"]) != hours[2]]
    assert [parse_time(r["scheduledTime"]) for r in later] == [h for h in hours if h != hours[2]]
    for earlier, next_run in itertools.pairwise(runs):
        assert parse_time(earlier["finishedAt"]) <= parse_time(next_run["startedAt"])
    assert sorted(h["scheduledTime"] for h in hits_with(stack, workflow.marker)) == [
        iso(h) for h in hours
    ]
    # and more than 1,000 fire times is refused, queueing nothing
    every_minute = api1.create_schedule(workflow.id, "* * * * *")
    too_many = api1.request(
        "POST",
        f"/api/schedules/{every_minute['id']}/backfill",
        {"from": iso(hour - timedelta(days=1)), "to": iso(hour)},
    )
    assert too_many.status == 422
    assert "more than 1000 fire times" in too_many.body["error"]["message"]
    assert api1.runs(every_minute["id"]) == []
