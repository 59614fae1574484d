"""No half-made one-time schedule: a Scheduler API failure on create, and a commit that fails
after EventBridge took a switch between cron and `at`, leave the database and EventBridge as
they were (the same paths as a cron schedule's: tests/integration/test_api_consistency.py)."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from scheduler.sync.eventbridge import EventBridgeSchedules

from tests.integration.test_api import (  # noqa: F401  (fixtures)
    Api,
    _create,
    api,
    eventbridge,
    workflows,
)
from tests.integration.test_api_consistency import (  # noqa: F401  (fixtures)
    Hook,
    _assert_unavailable,
    _fail_with,
    _kill_api_connection,
    _snapshot,
    hooks,
)

AT = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:00Z")


def test_create_of_a_one_time_schedule_with_scheduler_failure_leaves_nothing(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    hooks: Callable[[str, Hook], None],
) -> None:
    before = _snapshot(clean_db, eventbridge)
    hooks("before-call.scheduler.CreateSchedule", _fail_with("ThrottlingException"))

    status, body = api.call(
        "POST", "/api/schedules", body={"workflowId": str(workflows["alice"]), "at": AT}
    )

    _assert_unavailable(status, body)
    assert _snapshot(clean_db, eventbridge) == before


def test_a_switch_to_at_whose_commit_fails_restores_the_cron_schedule(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    hooks: Callable[[str, Hook], None],
) -> None:
    schedule_id = _create(api, workflows["alice"], cron="0 9 * * MON")["id"]
    before = _snapshot(clean_db, eventbridge)
    hooks("after-call.scheduler.UpdateSchedule", _kill_api_connection())

    status, body = api.call("PATCH", f"/api/schedules/{schedule_id}", body={"at": AT})

    _assert_unavailable(status, body)
    assert _snapshot(clean_db, eventbridge) == before
    described = eventbridge.get(schedule_id)
    assert described is not None
    assert described["ScheduleExpression"] == "cron(0 9 ? * 2 *)"  # MON, in EventBridge's days


def test_a_re_arm_whose_commit_fails_keeps_the_old_at(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    hooks: Callable[[str, Hook], None],
) -> None:
    schedule_id = _create(api, workflows["alice"], cron=None, at=AT)["id"]
    before = _snapshot(clean_db, eventbridge)
    hooks("after-call.scheduler.UpdateSchedule", _kill_api_connection())
    later = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:00Z")

    status, body = api.call("PATCH", f"/api/schedules/{schedule_id}", body={"at": later})

    _assert_unavailable(status, body)
    after: Any = _snapshot(clean_db, eventbridge)
    assert after == before
