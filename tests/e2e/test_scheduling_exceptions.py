"""E2E: exceptions through the local stack (API, the local EventBridge engine, the runner): a
skipped fire time runs nothing and is recorded skipped; a moved one runs once, at its new time,
from its at() schedule, under its original slot (the step sees the original scheduledTime)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
    parse_time,
    sync_engine,
)


def test_a_skipped_and_a_moved_fire_time_through_the_engine(
    stack: Stack, api1: Api, make_workflow: MakeWorkflow
) -> None:
    # Given a schedule every ten minutes, the engine's clock not behind real time (the API's)
    behind = (datetime.now(UTC) - clock_of(stack).now()).total_seconds()
    if behind > 0:
        advance(stack, behind)
    workflow = make_workflow()
    response = api1.request(
        "POST", "/api/schedules", {"workflowId": str(workflow.id), "cron": "*/10 * * * *"}
    )
    assert response.status == 201, response.body
    schedule = response.body
    # its first fire time after the engine's clock too (the tests before this one on the same
    # stack may have moved that clock ahead of real time): nothing fires before it, the engine's
    # clock moving only when the test moves it
    first = parse_time(schedule["nextRunAt"])
    while first <= clock_of(stack).now():
        first += timedelta(minutes=10)
    second = first + timedelta(minutes=10)
    moved_to = first + timedelta(minutes=3)
    path = f"/api/schedules/{schedule['id']}/exceptions"
    # When the first fire time is moved 3 minutes later and the second is skipped
    moved = api1.request(
        "POST", path, {"occurrence": iso(first), "action": "move", "moveTo": iso(moved_to)}
    )
    skipped = api1.request(
        "POST", path, {"occurrence": iso(second), "action": "skip", "note": "maintenance"}
    )
    assert (moved.status, skipped.status) == (201, 201), (moved.body, skipped.body)
    names = EventBridgeSchedules(engine_scheduler_client()).list_names()
    assert f"move-{moved.body['id']}" in names
    sync_engine(stack)

    # And the clock passes the first fire time: its cron delivery runs nothing
    fired = []
    while clock_of(stack).now() < first + timedelta(minutes=1):
        fired.append(advance_to_next_minute(stack))
    assert first in fired
    assert api1.runs(schedule["id"]) == []
    # And then the new time, and the second fire time
    while clock_of(stack).now() < second + timedelta(minutes=1):
        fired.append(advance_to_next_minute(stack))

    # Then the moved one ran once, at its new time, as the original slot; the skipped one not
    assert {moved_to, second} <= set(fired)
    runs = api1.runs(schedule["id"])
    by_slot = {parse_time(r["scheduledTime"]): r for r in runs}
    assert set(by_slot) == {first, second}
    assert by_slot[first]["status"] == "succeeded"
    assert by_slot[second]["status"] == "skipped"
    assert by_slot[second]["error"] == "skipped by exception: maintenance"
    assert [h["scheduledTime"] for h in hits_with(stack, workflow.marker)] == [iso(first)]
    # and EventBridge (the engine) deleted the at() once it fired
    names = EventBridgeSchedules(engine_scheduler_client()).list_names()
    assert f"move-{moved.body['id']}" not in names
