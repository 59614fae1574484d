"""E2E: a one-time schedule (`at`) made through the API fires once through the local
EventBridge engine (its at(), then deleted as ActionAfterCompletion DELETE says), and a PATCH
of `at` re-arms it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from scheduler.sync.eventbridge import EventBridgeSchedules

from devstack.local_functions import engine_scheduler_client
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
    """The API refuses an `at` in the (real) past: a manual clock that real time overtook is
    moved up to it first."""
    behind = (datetime.now(UTC) - clock_of(stack).now()).total_seconds()
    if behind > 0:
        advance(stack, behind)


def _in_eventbridge(schedule_id: str) -> bool:
    return schedule_id in EventBridgeSchedules(engine_scheduler_client()).list_names()


def test_an_at_schedule_fires_once_and_is_deleted_from_eventbridge(
    stack: Stack, api1: Api, make_workflow: MakeWorkflow
) -> None:
    # Given a one-time schedule at the second minute from now, as a wall time in Berlin
    _not_behind_real_time(stack)
    workflow = make_workflow()
    at = next_minute(stack) + timedelta(minutes=1)
    wall = at.astimezone(ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%dT%H:%M:%S")
    response = api1.request(
        "POST",
        "/api/schedules",
        {"workflowId": str(workflow.id), "at": wall, "timezone": "Europe/Berlin"},
    )
    assert response.status == 201, response.body
    schedule = response.body
    assert parse_time(schedule["nextRunAt"]) == at
    sync_engine(stack)
    assert stack.engine is not None
    assert stack.engine.next_fire(schedule["id"]) == at

    # When the clock passes three minutes
    fired = [advance_to_next_minute(stack) for _ in range(3)]

    # Then it ran once, at `at`, and EventBridge (the engine) deleted its at() schedule
    assert at in fired
    runs = api1.runs(schedule["id"])
    assert [(r["status"], r["trigger"], parse_time(r["scheduledTime"])) for r in runs] == [
        ("succeeded", "schedule", at)
    ]
    assert [h["scheduledTime"] for h in hits_with(stack, workflow.marker)] == [iso(at)]
    assert not _in_eventbridge(schedule["id"])
    detail = api1.request("GET", f"/api/schedules/{schedule['id']}").body
    assert detail["at"] == schedule["at"]
    assert detail["lastRun"]["status"] == "succeeded"

    # When a PATCH moves `at` to a later minute, it is armed again and fires then
    _not_behind_real_time(stack)
    again = next_minute(stack) + timedelta(minutes=1)
    patched = api1.request("PATCH", f"/api/schedules/{schedule['id']}", {"at": iso(again)})
    assert patched.status == 200, patched.body
    assert _in_eventbridge(schedule["id"])
    sync_engine(stack)
    for _ in range(3):
        advance_to_next_minute(stack)
    runs = api1.runs(schedule["id"])
    assert sorted(parse_time(r["scheduledTime"]) for r in runs) == [at, again]
    assert not _in_eventbridge(schedule["id"])


def test_an_at_that_eventbridge_never_delivers_is_caught_up_by_the_missed_fire_check(
    stack: Stack, api1: Api, make_workflow: MakeWorkflow
) -> None:
    # Given a one-time schedule (catch-up latest) whose at() EventBridge lost before it fired
    _not_behind_real_time(stack)
    workflow = make_workflow()
    at = next_minute(stack) + timedelta(minutes=1)
    response = api1.request(
        "POST",
        "/api/schedules",
        {"workflowId": str(workflow.id), "at": iso(at), "catchupPolicy": "latest"},
    )
    assert response.status == 201, response.body
    schedule = response.body
    client = engine_scheduler_client()
    client.delete_schedule(Name=schedule["id"], GroupName=EventBridgeSchedules().group)
    sync_engine(stack)

    # When its minute passes unseen, and the missed-fire check looks after its grace (5 min)
    for _ in range(7):
        advance_to_next_minute(stack)
    assert api1.runs(schedule["id"]) == []
    summary = stack.check_missed_fires()
    assert stack.lambdas is not None
    stack.lambdas.wait_in_flight(0, 30)

    # Then its one slot ran as a catch-up run, once
    assert summary["catchup_queued"] == 1
    runs = api1.runs(schedule["id"])
    assert [(r["status"], r["trigger"], parse_time(r["scheduledTime"])) for r in runs] == [
        ("succeeded", "catchup", at)
    ]
    assert [h["scheduledTime"] for h in hits_with(stack, workflow.marker)] == [iso(at)]
    assert stack.check_missed_fires()["catchup_queued"] == 0
