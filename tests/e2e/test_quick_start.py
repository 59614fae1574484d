"""E2E: the README's quick start over HTTP: a workflow created through the API, scheduled every
minute, runs at the next minute; deleting it with its schedule stops it."""

from __future__ import annotations

import uuid

from devstack.stack import Stack
from tests.e2e.conftest import (
    Api,
    advance_to_next_minute,
    hits_with,
    iso,
    parse_time,
    sync_engine,
)


def test_a_workflow_created_through_the_api_runs_on_its_schedule(stack: Stack, api1: Api) -> None:
    # Given a workflow created as the quick start does, and an every-minute schedule for it
    marker = uuid.uuid4().hex
    step = {"type": "http", "url": f"{stack.api_url}/demo/hook", "body": {"marker": marker}}
    created = api1.request(
        "POST", "/api/workflows", {"name": "my first workflow", "definition": {"steps": [step]}}
    )
    assert created.status == 201, created.body
    schedule = api1.create_schedule(created.body["id"], "* * * * *")
    sync_engine(stack)

    # When the clock passes the next minute
    fire_time = advance_to_next_minute(stack)

    # Then it ran its step once, for that fire time, and says so
    runs = api1.runs(schedule["id"])
    assert [(r["status"], parse_time(r["scheduledTime"])) for r in runs] == [
        ("succeeded", fire_time)
    ]
    assert [hit["scheduledTime"] for hit in hits_with(stack, marker)] == [iso(fire_time)]
    workflow = api1.request("GET", f"/api/workflows/{created.body['id']}").body
    assert (workflow["runCount"], workflow["lastRunStatus"]) == (1, "succeeded")

    # and deleted with its schedule, it never fires again
    path = f"/api/workflows/{created.body['id']}"
    assert api1.request("DELETE", path).status == 409
    assert api1.request("DELETE", f"{path}?schedules=delete").status == 204
    sync_engine(stack)
    advance_to_next_minute(stack)
    assert len(hits_with(stack, marker)) == 1
    assert api1.request("GET", f"/api/schedules/{schedule['id']}").status == 404
