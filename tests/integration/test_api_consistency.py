"""No half-made schedule: injected Scheduler API and database failures leave everything as before.

Scheduler API failures are injected with botocore event hooks on the moto-backed client;
database failures by terminating the API's backend from an admin connection while the
EventBridge call is in flight, so the commit that follows fails.
"""

# ruff: noqa: F811  (pytest fixtures imported from test_api are parameters here)

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from scheduler import clients
from scheduler.observability import logger
from scheduler.store.db import database
from scheduler.sync.eventbridge import EventBridgeSchedules

from devstack.apigw import LambdaContext
from tests.conftest import drop_connection
from tests.integration.test_api import (  # noqa: F401  (fixtures)
    Api,
    _create,
    api,
    database_state,
    eventbridge,
    eventbridge_state,
    workflows,
)

Hook = Callable[..., Any]


@pytest.fixture
def hooks() -> Iterator[Callable[[str, Hook], None]]:
    registered: list[tuple[str, Hook]] = []
    events = clients.aws_client("scheduler").meta.events

    def register(event_name: str, hook: Hook) -> None:
        events.register(event_name, hook)
        registered.append((event_name, hook))

    yield register
    for event_name, hook in registered:
        events.unregister(event_name, hook)


def _fail_with(code: str, *, after_calls: int = 0) -> Hook:
    """A before-call hook that lets `after_calls` calls through, then raises `code`."""
    calls = {"n": 0}

    def hook(**_: Any) -> None:
        calls["n"] += 1
        if calls["n"] > after_calls:
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, "Scheduler")

    return hook


def _kill_api_connection() -> Hook:
    """An after-call hook that drops the API's database connection once (the commit fails)."""
    killed: list[bool] = []

    def hook(**_: Any) -> None:
        if killed:
            return
        killed.append(True)
        drop_connection(database().connection())

    return hook


def _snapshot(clean_db: str, schedules: EventBridgeSchedules) -> tuple[Any, Any]:
    return database_state(clean_db), eventbridge_state(schedules)


def _assert_unavailable(status: int, body: Any) -> None:
    assert status == 503, body
    assert body["error"]["code"] == "unavailable"
    assert "nothing was changed" in body["error"]["message"]


@pytest.mark.parametrize("code", ["ThrottlingException", "InternalServerException"])
def test_create_with_scheduler_failure_leaves_nothing(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    hooks: Callable[[str, Hook], None],
    code: str,
) -> None:
    before = _snapshot(clean_db, eventbridge)
    hooks("before-call.scheduler.CreateSchedule", _fail_with(code))

    status, body = api.call(
        "POST", "/api/schedules", body={"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"}
    )

    _assert_unavailable(status, body)
    assert _snapshot(clean_db, eventbridge) == before


def test_the_log_of_a_failed_request_carries_its_request_id(
    api: Api,
    workflows: dict[str, uuid.UUID],
    hooks: Callable[[str, Hook], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    hooks("before-call.scheduler.CreateSchedule", _fail_with("InternalServerException"))
    event = api.event(
        "POST", "/api/schedules", body={"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"}
    )
    event["requestContext"]["requestId"] = request_id = str(uuid.uuid4())
    context = LambdaContext()

    assert api.handler(event, context)["statusCode"] == 503

    [warning] = [r for r in caplog.records if r.getMessage() == "dependency unavailable"]
    logged = json.loads(logger.registered_formatter.format(warning))
    assert logged["correlation_id"] == request_id
    assert logged["function_request_id"] == context.aws_request_id


def test_create_failing_on_the_second_half_of_a_split_leaves_nothing(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    hooks: Callable[[str, Hook], None],
) -> None:
    hooks(
        "before-call.scheduler.CreateSchedule", _fail_with("InternalServerException", after_calls=1)
    )

    status, body = api.call(
        "POST",
        "/api/schedules",
        body={"workflowId": str(workflows["alice"]), "cron": "0 9 1 * MON"},
    )

    _assert_unavailable(status, body)
    assert database_state(clean_db) == []
    assert eventbridge.list_names() == []


def test_create_with_commit_failure_removes_the_applied_schedules(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    hooks: Callable[[str, Hook], None],
) -> None:
    hooks("after-call.scheduler.CreateSchedule", _kill_api_connection())

    status, body = api.call(
        "POST", "/api/schedules", body={"workflowId": str(workflows["alice"]), "cron": "0 7 * * *"}
    )

    _assert_unavailable(status, body)
    assert database_state(clean_db) == []
    assert eventbridge.list_names() == []


@pytest.mark.parametrize(
    ("event_name", "hook_code", "after_calls", "change"),
    [
        pytest.param(
            "before-call.scheduler.UpdateSchedule",
            "ThrottlingException",
            0,
            {"cron": "*/5 * * * *", "timezone": "Asia/Tokyo"},
            id="update-throttled",
        ),
        pytest.param(
            "before-call.scheduler.CreateSchedule",
            "InternalServerException",
            0,
            {"cron": "0 9 1 * MON"},
            id="split-half-fails-after-first-updated",
        ),
        pytest.param(
            "before-call.scheduler.DeleteSchedule",
            "InternalServerException",
            0,
            {"cron": "0 7 * * *", "enabled": False},
            id="dropping-the-dow-half-fails",
        ),
    ],
)
def test_update_with_scheduler_failure_restores_the_old_state(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    hooks: Callable[[str, Hook], None],
    event_name: str,
    hook_code: str,
    after_calls: int,
    change: dict[str, Any],
) -> None:
    start_cron = "0 9 1 * TUE" if "enabled" in change else "0 7 * * *"
    schedule_id = _create(api, workflows["alice"], cron=start_cron)["id"]
    before = _snapshot(clean_db, eventbridge)
    failing = _fail_with(hook_code, after_calls=after_calls)
    hooks(event_name, failing)

    status, body = api.call("PATCH", f"/api/schedules/{schedule_id}", body=change)

    _assert_unavailable(status, body)
    clients.aws_client("scheduler").meta.events.unregister(event_name, failing)
    assert _snapshot(clean_db, eventbridge) == before


def test_update_with_commit_failure_restores_the_old_schedule(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    hooks: Callable[[str, Hook], None],
) -> None:
    schedule_id = _create(api, workflows["alice"], cron="0 9 1 * MON")["id"]
    before = _snapshot(clean_db, eventbridge)
    killer = _kill_api_connection()
    hooks("after-call.scheduler.UpdateSchedule", killer)

    status, body = api.call(
        "PATCH", f"/api/schedules/{schedule_id}", body={"cron": "*/5 * * * *", "enabled": False}
    )

    _assert_unavailable(status, body)
    assert _snapshot(clean_db, eventbridge) == before


def test_delete_with_scheduler_failure_keeps_row_and_schedules(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    hooks: Callable[[str, Hook], None],
) -> None:
    schedule_id = _create(api, workflows["alice"], cron="0 9 1 * MON")["id"]
    before = _snapshot(clean_db, eventbridge)
    # The first half is deleted, the second fails: the first must come back.
    hooks("before-call.scheduler.DeleteSchedule", _fail_with("ThrottlingException", after_calls=1))

    status, body = api.call("DELETE", f"/api/schedules/{schedule_id}")

    _assert_unavailable(status, body)
    assert _snapshot(clean_db, eventbridge) == before


def test_delete_with_commit_failure_restores_the_schedules(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    hooks: Callable[[str, Hook], None],
) -> None:
    schedule_id = _create(api, workflows["alice"])["id"]
    before = _snapshot(clean_db, eventbridge)
    hooks("after-call.scheduler.DeleteSchedule", _kill_api_connection())

    status, body = api.call("DELETE", f"/api/schedules/{schedule_id}")

    _assert_unavailable(status, body)
    assert _snapshot(clean_db, eventbridge) == before
    # and the API recovers on the next request (a fresh connection)
    assert api.call("GET", f"/api/schedules/{schedule_id}")[0] == 200
