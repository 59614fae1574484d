"""E2E: the stack keeps its data across a restart, and refuses a second start on the same data;
a restart on another port points the demo workflows at it."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import boto3
import pytest
from scheduler.steps.definitions import with_loaded_definition
from scheduler.store.db import Database

from devstack.clock import ManualClock
from devstack.demo import DEMO_USERS, DEMO_WORKFLOW_NAME, ensure_demo_workflow
from devstack.stack import Stack, StackAlreadyRunning
from tests.e2e.conftest import (
    Api,
    advance_to_next_minute,
    manual_clock_start,
    parse_time,
    start_stack,
    sync_engine,
)
from tests.queries import AllQueries


@pytest.fixture(autouse=True)
def no_schedules_left() -> None:
    """This module runs stacks of its own: the shared one's cleanup does not apply."""
    return None


def test_a_restart_keeps_schedules_and_history_and_fires_the_next_slot(data_dir: Path) -> None:
    clock = ManualClock(manual_clock_start())
    first = start_stack(data_dir, clock)
    try:
        # Given a schedule that has run once
        user = first.users[0]
        api = Api(first.api_url, user.token)
        schedule = api.create_schedule(user.workflow_id, "* * * * *")
        sync_engine(first)
        first_fire = advance_to_next_minute(first)
        assert [r["status"] for r in api.runs(schedule["id"])] == ["succeeded"]
        # and a second start on the same data directory is refused, touching nothing
        with pytest.raises(StackAlreadyRunning):
            Stack(data_dir, port=0, clock=clock).start()
        assert api.request("GET", f"/api/schedules/{schedule['id']}").status == 200
        service_key = first.service_key
    finally:
        first.stop()

    # When the stack starts again on its port (moto's EventBridge schedules went with the old one)
    second = start_stack(data_dir, clock, port=int(first.api_url.rsplit(":", 1)[1]))
    try:
        state = json.loads(second.state_file.read_text())
        assert [u["workflowId"] for u in state["users"]] == [
            str(u.workflow_id) for u in second.users
        ]
        assert second.users[0].workflow_id == user.workflow_id  # the demo data is reused
        # and so is the demo service key: a script that saved it keeps working
        assert state["serviceKey"] == second.service_key == service_key
        assert Api(second.api_url, service_key).request("GET", "/api/keys").status == 200
        api = Api(second.api_url, second.users[0].token)

        # Then the schedule, its history and its EventBridge schedule are back
        detail = api.request("GET", f"/api/schedules/{schedule['id']}")
        assert detail.status == 200
        assert detail.body["lastRunAt"] is not None
        scheduler = boto3.client("scheduler", endpoint_url=second.aws_url)
        names = [
            s["Name"] for s in scheduler.list_schedules(GroupName="workflow-scheduler")["Schedules"]
        ]
        assert names == [schedule["id"]]
        # and the next slot fires (and only it: no catch-up of the time the stack was down)
        next_fire = advance_to_next_minute(second)
        runs = api.runs(schedule["id"])
        assert [(r["status"], parse_time(r["scheduledTime"])) for r in runs] == [
            ("succeeded", next_fire),
            ("succeeded", first_fire),
        ]
    finally:
        second.stop()


def _free_port_other_than(taken: int) -> int:
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port != taken:
            return port


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_a_restart_on_another_port_points_the_demo_workflows_at_it(data_dir: Path) -> None:
    clock = ManualClock(manual_clock_start())
    first = start_stack(data_dir, clock)
    try:
        # Given a schedule of demo user 1's workflow, and two workflows of the user's own that
        # call the same hook: one named otherwise, one named like the demo but edited
        user = first.users[0]
        schedule = Api(first.api_url, user.token).create_schedule(user.workflow_id, "* * * * *")
        old_hook = f"{first.api_url}/demo/hook"
        database = Database(first.database_url)
        queries = AllQueries.over(database)
        own = queries.workflows.create_workflow(
            user.sub, "mine", {"steps": [{"type": "http", "method": "POST", "url": old_hook}]}
        )
        edited_step = {"type": "http", "method": "POST", "url": old_hook, "body": {"mine": True}}
        edited = queries.workflows.create_workflow(
            user.sub, DEMO_WORKFLOW_NAME, {"steps": [edited_step]}
        )
        database.close()
    finally:
        first.stop()

    # When the stack starts again on another port
    second = start_stack(data_dir, clock, port=_free_port_other_than(_port(first.api_url)))
    database = Database(second.database_url)
    try:
        queries = AllQueries.over(database)
        # Then the demo workflow is the same one, its http step calling the new port
        assert second.users[0].workflow_id == user.workflow_id
        # (the store hands the definition over as its text: scheduler.steps.definitions)
        demo = with_loaded_definition(queries.workflows.get_workflow(user.workflow_id))
        assert demo["definition"]["steps"][0]["url"] == f"{second.api_url}/demo/hook"
        # and the user's own workflows are untouched
        assert queries.workflows.get_workflow(own["id"]) == own
        assert queries.workflows.get_workflow(edited["id"]) == edited
        # and making sure again writes nothing
        again = ensure_demo_workflow(
            queries.workflows, DEMO_USERS[0], f"{second.api_url}/demo/hook"
        )
        assert again == user.workflow_id
        assert queries.workflows.get_workflow(user.workflow_id)["updated_at"] == demo["updated_at"]

        # and the schedule's next run calls the new port, and succeeds
        sync_engine(second)
        fire = advance_to_next_minute(second)
        (run,) = Api(second.api_url, second.users[0].token).runs(schedule["id"])
        assert (run["status"], parse_time(run["scheduledTime"])) == ("succeeded", fire)
        assert [hit["runId"] for hit in second.demo.hits("/demo/hook")] == [run["id"]]
    finally:
        database.close()
        second.stop()
