"""Deleting a workflow through the API: a workflow with schedules only with `?schedules=delete`,
and then with its schedules, their runs and their EventBridge schedules, all or nothing; a run
in progress finishes and records nothing. Real Postgres, moto, injected Scheduler failures.
"""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from scheduler import clients
from scheduler.api.schedules import ScheduleService, ScheduleServiceQueries
from scheduler.models.schedules import ScheduleCreate
from scheduler.observability import metrics
from scheduler.policies.periodic_pass import reconcile
from scheduler.run.runner import RunReport
from scheduler.store.db import Database
from scheduler.sync.eventbridge import EventBridgeSchedules

from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    WAIT_S,
    LoopbackServer,
    Runner,
    allow_private_http_fixture,
    clock_fixture,
    dynamodb_fixture,
    http_server_fixture,
    join,
    runner_fixture,
)
from tests.integration.test_api import (  # noqa: F401  (fixtures)
    ALICE,
    Api,
    _create,
    api,
    eventbridge,
    eventbridge_state,
)
from tests.integration.test_api_consistency import (  # noqa: F401  (fixtures)
    Hook,
    _fail_with,
    _kill_api_connection,
    hooks,
)
from tests.integration.test_api_workflows import _create_workflow, _rows, _workflow_rows
from tests.queries import process_queries


def test_a_workflow_without_schedules_is_deleted(api: Api, clean_db: str) -> None:
    workflow = _create_workflow(api)
    path = f"/api/workflows/{workflow['id']}"

    assert api.call("DELETE", path) == (204, None)
    assert api.call("GET", path)[0] == 404
    assert api.call("DELETE", path)[0] == 404
    assert _workflow_rows(clean_db) == []


def test_a_workflow_with_schedules_is_deleted_only_with_them(
    api: Api, clean_db: str, eventbridge: EventBridgeSchedules
) -> None:
    workflow = _create_workflow(api)
    kept = _create_workflow(api, name="kept")
    path = f"/api/workflows/{workflow['id']}"
    # one schedule split in two EventBridge schedules (day of month OR day of week)
    for cron in ("0 7 * * *", "0 9 1 * MON"):
        _create(api, uuid.UUID(workflow["id"]), cron=cron)
    kept_schedule = _create(api, uuid.UUID(kept["id"]))
    process_queries().db.execute(
        "insert into schedule_runs (schedule_id, workflow_id, scheduled_time, status,"
        " finished_at) select id, workflow_id, now(), 'succeeded', now() from schedules"
    )
    rows_before, eventbridge_before = _rows(clean_db), eventbridge_state(eventbridge)
    assert len(eventbridge_before) == 4

    refused = api.call("DELETE", path)
    bad_choice = api.call("DELETE", path, query="schedules=keep")

    assert refused[0] == 409
    assert "?schedules=delete" in refused[1]["error"]["message"]
    assert bad_choice[0] == 422
    assert (_rows(clean_db), eventbridge_state(eventbridge)) == (rows_before, eventbridge_before)

    assert api.call("DELETE", path, query="schedules=delete") == (204, None)

    after = _rows(clean_db)
    assert [w["id"] for w in after["workflows"]] == [uuid.UUID(kept["id"])]
    assert [s["id"] for s in after["schedules"]] == [uuid.UUID(kept_schedule["id"])]
    assert {r["schedule_id"] for r in after["schedule_runs"]} == {uuid.UUID(kept_schedule["id"])}
    assert [name for name in eventbridge_state(eventbridge)] == [
        name for name in eventbridge_before if kept_schedule["id"] in name
    ]
    assert api.call("GET", path)[0] == 404


@pytest.mark.parametrize(
    ("event_name", "make_hook"),
    [
        # the second of four DeleteSchedule calls fails: the first schedule is half removed
        pytest.param(
            "before-call.scheduler.DeleteSchedule",
            lambda: _fail_with("ThrottlingException", after_calls=1),
            id="eventbridge-fails-half-way-through-a-schedule",
        ),
        # the third fails: the first schedule is removed, the second not yet
        pytest.param(
            "before-call.scheduler.DeleteSchedule",
            lambda: _fail_with("InternalServerException", after_calls=2),
            id="eventbridge-fails-between-schedules",
        ),
        # every EventBridge schedule removed, then the commit fails
        pytest.param(
            "after-call.scheduler.DeleteSchedule",
            lambda: _commit_fails_after(4),
            id="commit-fails-after-eventbridge",
        ),
    ],
)
def test_a_failure_during_the_delete_leaves_workflow_schedules_and_eventbridge_as_they_were(
    api: Api,
    clean_db: str,
    eventbridge: EventBridgeSchedules,
    hooks: Callable[[str, Hook], None],
    event_name: str,
    make_hook: Callable[[], Hook],
) -> None:
    workflow = _create_workflow(api)
    # two schedules split in two EventBridge schedules each: their undo only puts (a surplus
    # half to delete would meet the failing DeleteSchedule again: see the next test)
    for cron in ("0 9 1 * MON", "0 9 15 * FRI"):
        _create(api, uuid.UUID(workflow["id"]), cron=cron)
    before = _rows(clean_db), eventbridge_state(eventbridge)
    assert len(before[1]) == 4
    hook = make_hook()
    hooks(event_name, hook)
    path = f"/api/workflows/{workflow['id']}"

    status, body = api.call("DELETE", path, query="schedules=delete")

    assert (status, body["error"]["code"]) == (503, "unavailable")
    assert "nothing was changed" in body["error"]["message"]
    assert (_rows(clean_db), eventbridge_state(eventbridge)) == before
    # and once EventBridge answers again, the same request deletes it all
    clients.aws_client("scheduler").meta.events.unregister(event_name, hook)
    assert api.call("DELETE", path, query="schedules=delete") == (204, None)
    assert _rows(clean_db) == {"workflows": [], "schedules": [], "schedule_runs": []}
    assert eventbridge.list_names() == []


def test_an_eventbridge_outage_that_outlasts_the_undo_is_repaired_by_reconcile(
    api: Api,
    clean_db: str,
    eventbridge: EventBridgeSchedules,
    hooks: Callable[[str, Hook], None],
) -> None:
    workflow = _create_workflow(api)
    for cron in ("0 7 * * *", "0 8 * * *"):
        _create(api, uuid.UUID(workflow["id"]), cron=cron)
    before = _rows(clean_db), eventbridge_state(eventbridge)
    # the first schedule's removal goes through, then every Scheduler write fails
    failing = _fail_with("ThrottlingException", after_calls=1)
    hooks("before-call.scheduler.DeleteSchedule", failing)
    hooks("before-call.scheduler.CreateSchedule", failing)
    hooks("before-call.scheduler.UpdateSchedule", failing)

    status, _ = api.call("DELETE", f"/api/workflows/{workflow['id']}", query="schedules=delete")

    # the database is all or nothing: nothing was deleted; EventBridge lost what the undo could
    # not put back (one schedule)
    assert status == 503
    assert _rows(clean_db) == before[0]
    assert len(eventbridge_state(eventbridge)) < len(before[1])
    # the next reconcile pass puts it back from the rows
    for event_name in ("DeleteSchedule", "CreateSchedule", "UpdateSchedule"):
        clients.aws_client("scheduler").meta.events.unregister(
            f"before-call.scheduler.{event_name}", failing
        )
    try:
        reconcile(process_queries().periodic_pass, eventbridge)
    finally:
        metrics.clear_metrics()  # a pass adds metrics only a handler flushes
    assert eventbridge_state(eventbridge) == before[1]


def _commit_fails_after(calls: int) -> Hook:
    """After the `calls`-th DeleteSchedule, the API's database connection drops: the commit
    that follows fails."""
    seen = {"n": 0}
    kill = _kill_api_connection()

    def hook(**kwargs: Any) -> None:
        seen["n"] += 1
        if seen["n"] == calls:
            kill(**kwargs)

    return hook


def test_a_workflow_deleted_mid_run_lets_the_run_finish_and_records_nothing(
    api: Api, clean_db: str, runner: Runner, http_server: LoopbackServer
) -> None:
    # Given a run of the workflow whose http step is still waiting for its answer
    step = {"type": "http", "url": f"{http_server.url}/run"}
    workflow = _create_workflow(api, definition={"steps": [step]})
    schedule = _create(api, uuid.UUID(workflow["id"]))
    http_server.hold, http_server.hold_first = threading.Event(), 1
    reports: list[RunReport] = []
    row = {"id": uuid.UUID(schedule["id"]), "workflow_id": uuid.UUID(workflow["id"])}
    firing = threading.Thread(target=lambda: reports.append(runner.fire(row, trigger="manual")))
    firing.start()
    assert http_server.received.wait(WAIT_S)
    assert api.call("GET", f"/api/workflows/{workflow['id']}")[1]["status"] == "running"

    # When the workflow is deleted with its schedules
    deleted = api.call("DELETE", f"/api/workflows/{workflow['id']}", query="schedules=delete")
    http_server.hold.set()
    join(firing)

    # Then the delete did not wait for the run, the run's step finished, and its outcome
    # found nothing left to record into (no row comes back)
    assert deleted == (204, None)
    [report] = reports
    assert report.outcome == "succeeded"
    assert len(http_server.requests) == 1
    assert _rows(clean_db) == {"workflows": [], "schedules": [], "schedule_runs": []}


def test_a_schedule_added_while_the_delete_runs_goes_with_the_workflow(
    api: Api,
    clean_db: str,
    eventbridge: EventBridgeSchedules,
    hooks: Callable[[str, Hook], None],
) -> None:
    workflow = _create_workflow(api)
    _create(api, uuid.UUID(workflow["id"]))
    # another client (its own connection) adds a schedule while the delete removes the first
    # one's EventBridge schedule, before the delete locks the workflow
    other_client = Database(clean_db)
    added: list[Any] = []

    def add_a_schedule(**_: Any) -> None:
        if not added:
            service = ScheduleService(
                ScheduleServiceQueries.over(other_client), EventBridgeSchedules(), lambda _: None
            )
            request = ScheduleCreate(workflowId=uuid.UUID(workflow["id"]), cron="0 8 * * *")
            added.append(service.create_schedule(ALICE, request))

    hooks("before-call.scheduler.DeleteSchedule", add_a_schedule)
    try:
        status, _ = api.call("DELETE", f"/api/workflows/{workflow['id']}", query="schedules=delete")
    finally:
        other_client.close()

    assert status == 204
    assert len(added) == 1
    assert _rows(clean_db) == {"workflows": [], "schedules": [], "schedule_runs": []}
    assert eventbridge.list_names() == []
