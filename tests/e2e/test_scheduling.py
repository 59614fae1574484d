"""E2E: schedules made through the API fire the runner through the local EventBridge engine."""

from __future__ import annotations

from datetime import timedelta

import pytest

from devstack.demo import DEMO_USERS, DEMO_WORKFLOW_NAME, DemoUser
from devstack.stack import Stack, StackUser
from tests.e2e.conftest import (
    WAIT_S,
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


def _demo_hits(stack: Stack, user: DemoUser) -> list[dict[str, object]]:
    return [
        hit
        for hit in stack.demo.hits("/demo/hook")
        if isinstance(hit["body"], dict) and hit["body"].get("demoUser") == user.name
    ]


def test_a_schedule_fires_its_workflow_and_records_the_run(
    stack: Stack, api1: Api, user1: StackUser
) -> None:
    # Given the demo workflow of user 1, never run, and an every-minute schedule for it
    workflow = api1.request("GET", f"/api/workflows/{user1.workflow_id}").body
    assert workflow["name"] == DEMO_WORKFLOW_NAME
    hits_before = len(_demo_hits(stack, DEMO_USERS[0]))
    schedule = api1.create_schedule(user1.workflow_id, "* * * * *")
    assert schedule["lastRunAt"] is None
    sync_engine(stack)

    # When the clock passes the next minute
    fire_time = advance_to_next_minute(stack)

    # Then one run of that fire time succeeded and the workflow's state moved on
    runs = api1.runs(schedule["id"])
    assert [(r["status"], parse_time(r["scheduledTime"])) for r in runs] == [
        ("succeeded", fire_time)
    ]
    assert runs[0]["trigger"] == "schedule"
    detail = api1.request("GET", f"/api/schedules/{schedule['id']}").body
    assert detail["lastRunAt"] is not None
    after = api1.request("GET", f"/api/workflows/{user1.workflow_id}").body
    assert after["runCount"] == workflow["runCount"] + 1
    assert after["lastRunStatus"] == "succeeded"
    # and the demo endpoint was called exactly once, for that fire time
    new_hits = _demo_hits(stack, DEMO_USERS[0])[hits_before:]
    assert [hit["scheduledTime"] for hit in new_hits] == [iso(fire_time)]


def test_a_disabled_schedule_does_not_fire_and_fires_again_when_enabled(
    stack: Stack, api1: Api, make_workflow: MakeWorkflow
) -> None:
    workflow = make_workflow()
    schedule = api1.create_schedule(workflow.id, "* * * * *", enabled=False)
    sync_engine(stack)

    advance_to_next_minute(stack)
    assert api1.runs(schedule["id"]) == []
    assert hits_with(stack, workflow.marker) == []

    patched = api1.request("PATCH", f"/api/schedules/{schedule['id']}", {"enabled": True})
    assert patched.status == 200
    assert patched.body["enabled"] is True
    sync_engine(stack)
    fire_time = advance_to_next_minute(stack)

    assert [r["status"] for r in api1.runs(schedule["id"])] == ["succeeded"]
    assert [h["scheduledTime"] for h in hits_with(stack, workflow.marker)] == [iso(fire_time)]

    api1.request("PATCH", f"/api/schedules/{schedule['id']}", {"enabled": False})
    sync_engine(stack)
    advance_to_next_minute(stack)
    assert len(hits_with(stack, workflow.marker)) == 1


def test_a_deleted_schedule_never_fires_again(
    stack: Stack, api1: Api, make_workflow: MakeWorkflow
) -> None:
    workflow = make_workflow()
    schedule = api1.create_schedule(workflow.id, "* * * * *")
    sync_engine(stack)
    advance_to_next_minute(stack)
    assert len(hits_with(stack, workflow.marker)) == 1

    assert api1.request("DELETE", f"/api/schedules/{schedule['id']}").status == 204
    sync_engine(stack)
    advance_to_next_minute(stack)
    advance_to_next_minute(stack)

    assert len(hits_with(stack, workflow.marker)) == 1
    assert api1.request("GET", f"/api/schedules/{schedule['id']}").status == 404


def test_a_cron_change_moves_the_next_fire(
    stack: Stack, api1: Api, make_workflow: MakeWorkflow
) -> None:
    # Given a schedule for the minute two minutes ahead
    workflow = make_workflow()
    first = next_minute(stack) + timedelta(minutes=1)
    moved = first + timedelta(minutes=2)
    schedule = api1.create_schedule(workflow.id, f"{first.minute} * * * *")
    sync_engine(stack)
    assert stack.engine is not None
    assert stack.engine.next_fire(schedule["id"]) == first

    # When its cron moves to two minutes later
    patched = api1.request(
        "PATCH", f"/api/schedules/{schedule['id']}", {"cron": f"{moved.minute} * * * *"}
    )
    assert patched.status == 200
    sync_engine(stack)

    # Then the old minute passes without a run and the new one fires
    assert stack.engine.next_fire(schedule["id"]) == moved
    advance(stack, (first - clock_of(stack).now()).total_seconds() + 1)
    assert hits_with(stack, workflow.marker) == []
    advance(stack, (moved - clock_of(stack).now()).total_seconds() + 1)
    assert [h["scheduledTime"] for h in hits_with(stack, workflow.marker)] == [iso(moved)]
    assert [parse_time(r["scheduledTime"]) for r in api1.runs(schedule["id"])] == [moved]


def test_run_now_runs_the_workflow_at_once(
    stack: Stack, api1: Api, make_workflow: MakeWorkflow
) -> None:
    # Given a schedule that will not fire for months
    workflow = make_workflow()
    schedule = api1.create_schedule(workflow.id, "0 0 1 1 *")

    accepted = api1.request("POST", f"/api/schedules/{schedule['id']}/run")
    assert accepted.status == 202, accepted.body
    assert stack.lambdas is not None
    stack.lambdas.wait_in_flight(0, WAIT_S)

    runs = api1.runs(schedule["id"])
    assert [(r["trigger"], r["status"]) for r in runs] == [("manual", "succeeded")]
    assert len(hits_with(stack, workflow.marker)) == 1


def test_two_schedules_of_a_busy_workflow_give_one_run_and_one_skip(
    stack: Stack, api1: Api, make_workflow: MakeWorkflow
) -> None:
    # Given a workflow whose step blocks until released, with two schedules firing together
    workflow = make_workflow("/demo/slow", timeout_s=60)
    first = api1.create_schedule(workflow.id, "* * * * *")
    second = api1.create_schedule(workflow.id, "* * * * *")
    sync_engine(stack)
    assert stack.engine is not None
    assert stack.lambdas is not None
    stack.demo.hold_slow()
    try:
        # When both fire: one run is inside the step, the other has finished
        now = clock_of(stack).advance((next_minute(stack) - clock_of(stack).now()).total_seconds())
        stack.engine.wait_until_processed(now, WAIT_S)
        stack.demo.wait_for_hit(lambda hit: hit["body"] == {"marker": workflow.marker}, WAIT_S)
        stack.lambdas.wait_in_flight(at_most=1, timeout_s=WAIT_S)
    finally:
        stack.demo.release_slow()
    stack.lambdas.wait_in_flight(0, WAIT_S)

    # Then one run succeeded and the other was skipped as an overlap
    statuses = sorted(r["status"] for s in (first, second) for r in api1.runs(s["id"]))
    assert statuses == ["skipped", "succeeded"]
    assert len(hits_with(stack, workflow.marker)) == 1


@pytest.mark.usefixtures("slow_dynamodb_writes")
def test_fifty_schedules_of_one_workflow_firing_together_fail_no_run(
    stack: Stack, api1: Api, make_workflow: MakeWorkflow
) -> None:
    # Given one workflow with 50 every-minute schedules, and moto slowed between a conditional
    # write's check and its write (so concurrent runners' lease requests overlap)
    workflow = make_workflow()
    schedules = [api1.create_schedule(workflow.id, "* * * * *") for _ in range(50)]
    sync_engine(stack)

    # When they all fire in the same minute
    fire_time = advance_to_next_minute(stack)

    # Then every fire has its run, which ran or was skipped as an overlap; none failed
    runs = [run for schedule in schedules for run in api1.runs(schedule["id"])]
    assert [parse_time(run["scheduledTime"]) for run in runs] == [fire_time] * 50
    failed = [run["error"] for run in runs if run["status"] not in ("succeeded", "skipped")]
    assert failed == []
    succeeded = sum(run["status"] == "succeeded" for run in runs)
    assert succeeded >= 1
    assert len(hits_with(stack, workflow.marker)) == succeeded


def test_another_users_token_sees_404_for_the_first_users_schedule(
    api1: Api, api2: Api, user1: StackUser
) -> None:
    schedule = api1.create_schedule(user1.workflow_id, "0 0 1 1 *")
    path = f"/api/schedules/{schedule['id']}"

    assert api2.request("GET", path).status == 404
    assert api2.request("PATCH", path, {"enabled": False}).status == 404
    assert api2.request("POST", f"{path}/run").status == 404
    assert api2.request("GET", f"{path}/runs").status == 404
    assert api2.request("DELETE", path).status == 404
    assert schedule["id"] not in [
        s["id"] for s in api2.request("GET", "/api/schedules").body["items"]
    ]

    still = api1.request("GET", path)
    assert still.status == 200
    assert still.body["enabled"] is True


def test_the_docs_are_public_and_everything_else_needs_a_valid_token(stack: Stack) -> None:
    anonymous = Api(stack.api_url, "not-a-token")

    document = anonymous.request("GET", "/api/openapi.json")
    assert document.status == 200
    assert "/api/schedules" in document.body["paths"]
    # a token the authorizer refuses: API Gateway's 403 (a missing header would be its 401)
    assert anonymous.request("GET", "/api/schedules").status == 403
    assert anonymous.request("POST", "/api/openapi.json").status == 403
