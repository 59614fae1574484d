"""E2E: a schedule's startAt / endAt on the local stack, as EventBridge's StartDate / EndDate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from devstack.stack import Stack
from tests.e2e.conftest import (
    Api,
    MakeWorkflow,
    advance,
    advance_to_next_minute,
    clock_of,
    hits_with,
    iso,
    next_minute,
    parse_time,
    sync_engine,
)


def _not_behind_real_time(stack: Stack) -> None:
    """The API refuses an endAt in the (real) past: a manual clock that real time overtook
    (tests that spent time without moving it) is moved up to it first."""
    behind = (datetime.now(UTC) - clock_of(stack).now()).total_seconds()
    if behind > 0:
        advance(stack, behind)


def test_a_schedule_fires_until_its_end_and_not_after(
    stack: Stack, api1: Api, make_workflow: MakeWorkflow
) -> None:
    # Given an every-minute schedule whose window ends at the second minute from now
    _not_behind_real_time(stack)
    workflow = make_workflow()
    first = next_minute(stack)
    end = first + timedelta(minutes=1)
    schedule = api1.create_schedule(workflow.id, "* * * * *", endAt=iso(end), note="e2e: ends")
    assert parse_time(schedule["endAt"]) == end
    sync_engine(stack)

    # When the clock passes four minutes
    fired = [advance_to_next_minute(stack) for _ in range(4)]

    # Then it fired at the first two (the end is inclusive) and never after
    assert fired[:2] == [first, end]
    runs = api1.runs(schedule["id"])
    assert sorted(parse_time(r["scheduledTime"]) for r in runs) == [first, end]
    assert [h["scheduledTime"] for h in hits_with(stack, workflow.marker)] == [
        iso(first),
        iso(end),
    ]
    # (the API reads by the real clock, behind the test's manual one: its previews are not
    # checked here)
    assert api1.request("GET", f"/api/schedules/{schedule['id']}").body["note"] == "e2e: ends"


def test_a_schedule_does_not_fire_before_its_start(
    stack: Stack, api1: Api, make_workflow: MakeWorkflow
) -> None:
    # Given an every-minute schedule that starts at the third minute from now
    _not_behind_real_time(stack)
    workflow = make_workflow()
    start = next_minute(stack) + timedelta(minutes=2)
    schedule = api1.create_schedule(workflow.id, "* * * * *", startAt=iso(start))
    assert parse_time(schedule["nextRunAt"]) == start
    sync_engine(stack)

    # When the clock passes the two minutes before it, Then nothing fires
    advance_to_next_minute(stack)
    advance_to_next_minute(stack)
    assert api1.runs(schedule["id"]) == []
    assert hits_with(stack, workflow.marker) == []

    # And from the start on it fires
    assert advance_to_next_minute(stack) == start
    assert [parse_time(r["scheduledTime"]) for r in api1.runs(schedule["id"])] == [start]
    assert [h["scheduledTime"] for h in hits_with(stack, workflow.marker)] == [iso(start)]
