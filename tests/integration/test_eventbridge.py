"""The row -> EventBridge schedule(s) mapping and the Scheduler API calls, against moto."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError
from scheduler import cron
from scheduler.clients import aws_client
from scheduler.config import get_settings
from scheduler.errors import SchedulerUnavailable
from scheduler.sync import eventbridge
from scheduler.sync.eventbridge import EventBridgeSchedules, desired_schedules

SCHEDULE_ID = uuid.UUID("11111111-1111-4111-8111-111111111111")
WORKFLOW_ID = uuid.UUID("22222222-2222-4222-8222-222222222222")


def _row(**changes: Any) -> dict[str, Any]:
    row = {
        "id": SCHEDULE_ID,
        "workflow_id": WORKFLOW_ID,
        "cron": "0 7 * * *",
        "timezone": "Europe/Berlin",
        "enabled": True,
    }
    return {**row, **changes}


@pytest.fixture
def schedules(aws: None) -> EventBridgeSchedules:
    sync = EventBridgeSchedules()
    sync.ensure_group()
    return sync


def test_desired_schedule_is_the_documented_mapping() -> None:
    settings = get_settings()

    desired = desired_schedules(_row())

    assert list(desired) == [str(SCHEDULE_ID)]
    kwargs = desired[str(SCHEDULE_ID)]
    assert kwargs["GroupName"] == settings.schedule_group
    assert kwargs["ScheduleExpression"] == "cron(0 7 * * ? *)"
    assert kwargs["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert kwargs["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert kwargs["State"] == "ENABLED"
    assert kwargs["Description"] == "0 7 * * *"
    target = kwargs["Target"]
    assert target["Arn"] == settings.runner_function_arn
    assert target["RoleArn"] == settings.scheduler_role_arn
    assert target["DeadLetterConfig"] == {"Arn": settings.schedule_dlq_arn}
    assert target["RetryPolicy"] == {
        "MaximumRetryAttempts": settings.schedule_retry_attempts,
        "MaximumEventAgeInSeconds": settings.schedule_max_event_age_s,
    }
    assert target["Input"] == (
        '{"scheduleId":"11111111-1111-4111-8111-111111111111",'
        '"workflowId":"22222222-2222-4222-8222-222222222222",'
        '"scheduledTime":"<aws.scheduler.scheduled-time>",'
        '"attempt":"<aws.scheduler.attempt-number>"}'
    )


def test_day_or_split_becomes_two_named_schedules() -> None:
    desired = desired_schedules(_row(cron="0 9 1 * MON", enabled=False))

    assert list(desired) == [str(SCHEDULE_ID), f"{SCHEDULE_ID}-dow"]
    assert [kwargs["ScheduleExpression"] for kwargs in desired.values()] == [
        "cron(0 9 1 * ? *)",
        "cron(0 9 ? * 2 *)",
    ]
    assert {kwargs["State"] for kwargs in desired.values()} == {"DISABLED"}


def test_schedule_id_of_reverses_the_names() -> None:
    assert eventbridge.schedule_id_of(str(SCHEDULE_ID)) == SCHEDULE_ID
    assert eventbridge.schedule_id_of(f"{SCHEDULE_ID}-dow") == SCHEDULE_ID
    assert eventbridge.schedule_id_of("someone-elses-schedule") is None


def test_apply_creates_updates_and_drops_the_surplus_half(
    schedules: EventBridgeSchedules,
) -> None:
    schedules.apply(_row(cron="0 9 1 * MON"))
    assert sorted(schedules.list_names()) == [str(SCHEDULE_ID), f"{SCHEDULE_ID}-dow"]

    schedules.apply(_row(cron="*/5 * * * *", timezone="UTC", enabled=False))

    assert schedules.list_names() == [str(SCHEDULE_ID)]
    stored = schedules.get(str(SCHEDULE_ID))
    assert stored is not None
    assert stored["ScheduleExpression"] == cron.to_eventbridge("*/5 * * * *")[0]
    assert stored["ScheduleExpressionTimezone"] == "UTC"
    assert stored["State"] == "DISABLED"
    assert stored["Description"] == "*/5 * * * *"
    assert json.loads(stored["Target"]["Input"])["scheduleId"] == str(SCHEDULE_ID)


def test_remove_deletes_both_names_and_tolerates_missing_ones(
    schedules: EventBridgeSchedules,
) -> None:
    schedules.apply(_row(cron="0 9 1 * MON"))

    schedules.remove(SCHEDULE_ID)
    schedules.remove(SCHEDULE_ID)

    assert schedules.list_names() == []
    assert schedules.get(str(SCHEDULE_ID)) is None


def test_listing_follows_pagination(schedules: EventBridgeSchedules) -> None:
    ids = [uuid.uuid4() for _ in range(60)]  # moto pages at 50
    for schedule_id in ids:
        schedules.apply(_row(id=schedule_id))

    assert sorted(schedules.list_names()) == sorted(str(i) for i in ids)


def test_api_failures_become_scheduler_unavailable(schedules: EventBridgeSchedules) -> None:
    def throttle(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
            "CreateSchedule",
        )

    aws_client("scheduler").meta.events.register("before-call.scheduler.CreateSchedule", throttle)

    with pytest.raises(SchedulerUnavailable):
        schedules.apply(_row())
    assert schedules.list_names() == []


def _count_calls(schedules: EventBridgeSchedules) -> list[str]:
    calls: list[str] = []
    schedules.client.meta.events.register(
        "before-call.scheduler.*", lambda model, **_: calls.append(model.name)
    )
    return calls


def test_apply_with_known_state_makes_only_the_calls_it_needs(
    schedules: EventBridgeSchedules,
) -> None:
    calls = _count_calls(schedules)

    # A new row: one create per expression, no probing update, no delete
    schedules.apply(_row(), existing=())
    assert calls == ["CreateSchedule"]

    # An update that keeps one expression: one update
    calls.clear()
    schedules.apply(_row(cron="*/5 * * * *"), existing=[str(SCHEDULE_ID)])
    assert calls == ["UpdateSchedule"]

    # Splitting creates the second half; un-splitting deletes it
    calls.clear()
    schedules.apply(_row(cron="0 9 1 * MON"), existing=[str(SCHEDULE_ID)])
    assert calls == ["UpdateSchedule", "CreateSchedule"]
    calls.clear()
    schedules.apply(_row(), existing=[str(SCHEDULE_ID), f"{SCHEDULE_ID}-dow"])
    assert calls == ["UpdateSchedule", "DeleteSchedule"]
    assert schedules.list_names() == [str(SCHEDULE_ID)]


def test_apply_recovers_when_the_believed_state_is_wrong(schedules: EventBridgeSchedules) -> None:
    # Believed absent but present (a concurrent writer), then believed present but gone (drift)
    schedules.apply(_row(), existing=())
    schedules.apply(_row(cron="*/5 * * * *"), existing=())
    schedules.remove(SCHEDULE_ID)
    schedules.apply(_row(cron="0 8 * * *"), existing=[str(SCHEDULE_ID)])

    current = schedules.get(str(SCHEDULE_ID))
    assert current is not None
    assert current["ScheduleExpression"] == "cron(0 8 * * ? *)"
