"""The local EventBridge engine on the stack's Scheduler API (moto): what it fetches and fires."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from scheduler import cron
from scheduler.sync.eventbridge import desired_schedules

from devstack.clock import ManualClock
from devstack.engine import SchedulerEngine
from devstack.local_functions import engine_scheduler_client
from devstack.stack import Stack
from tests.e2e.conftest import WAIT_S, iso, manual_clock_start

GROUP = "engine-test"
TEMPLATE = (
    '{"s":"<aws.scheduler.scheduled-time>","a":"<aws.scheduler.attempt-number>",'
    '"e":"<aws.scheduler.execution-id>","arn":"<aws.scheduler.schedule-arn>"}'
)


@pytest.fixture
def scheduler(stack: Stack) -> Iterator[Any]:
    client = engine_scheduler_client()
    client.create_schedule_group(Name=GROUP)
    yield client
    client.delete_schedule_group(Name=GROUP)


def _put(client: Any, name: str, expression: str, state: str = "ENABLED") -> None:
    client.create_schedule(
        Name=name,
        GroupName=GROUP,
        ScheduleExpression=expression,
        ScheduleExpressionTimezone="Europe/Berlin",
        FlexibleTimeWindow={"Mode": "OFF"},
        State=state,
        Target={
            "Arn": "arn:aws:lambda:us-east-1:123456789012:function:Recorder",
            "RoleArn": "arn:aws:iam::123456789012:role/r",
            "Input": TEMPLATE,
        },
    )


def test_the_engine_fetches_only_changes_and_fires_with_context_attributes(
    scheduler: Any,
) -> None:
    # Given 30 schedules that will not fire soon and one every minute (Berlin time)
    for number in range(30):
        _put(scheduler, f"idle-{number}", "cron(0 3 1 1 ? *)")
    _put(scheduler, "every-minute", "cron(* * * * ? *)")
    fetched: list[str] = []
    scheduler.meta.events.register(
        "provide-client-params.scheduler.GetSchedule",
        lambda params, **_: fetched.append(params["Name"]),
    )
    fired: list[tuple[str, dict[str, str]]] = []
    clock = ManualClock(manual_clock_start())
    engine = SchedulerEngine(
        scheduler, GROUP, lambda arn, payload: fired.append((arn, json.loads(payload))), clock
    )
    engine.start()
    try:
        # When it has polled several times with nothing changed
        assert len(fetched) == 31
        engine.refresh(WAIT_S)
        engine.refresh(WAIT_S)
        # Then only the listing was repeated, no schedule fetched again
        assert len(fetched) == 31

        # When one is disabled and one deleted, then the clock passes a minute
        scheduler.update_schedule(
            Name="idle-0",
            GroupName=GROUP,
            ScheduleExpression="cron(0 3 1 1 ? *)",
            FlexibleTimeWindow={"Mode": "OFF"},
            State="DISABLED",
            Target={
                "Arn": "arn:aws:lambda:us-east-1:123456789012:function:Recorder",
                "RoleArn": "arn:aws:iam::123456789012:role/r",
            },
        )
        scheduler.delete_schedule(Name="idle-1", GroupName=GROUP)
        boundary = clock.now().replace(second=0) + timedelta(minutes=1)
        engine.wait_until_processed(clock.advance(31), WAIT_S)

        # Then only the changed one was fetched, and the minute fired once with its attributes
        assert fetched[31:] == ["idle-0"]
        assert engine.next_fire("idle-1") is None
        assert len(fired) == 1
        arn, event = fired[0]
        assert arn.endswith(":function:Recorder")
        assert event["s"] == iso(boundary)
        assert event["a"] == "1"
        assert event["arn"].endswith(f":schedule/{GROUP}/every-minute")
        assert event["e"] not in ("", "<aws.scheduler.execution-id>")
    finally:
        engine.stop()
        for summary in scheduler.list_schedules(GroupName=GROUP)["Schedules"]:
            scheduler.delete_schedule(Name=summary["Name"], GroupName=GROUP)


@pytest.mark.parametrize("fall_back", ["last", "both"])
def test_the_engine_fires_a_dst_policys_at_schedules_beside_the_cron(
    scheduler: Any, fall_back: str
) -> None:
    # Given the schedules the product makes for 02:30 daily in Berlin under the policy (its cron,
    # and the at() schedules for the instants of 2027-10-31's repeated 02:30 the cron cannot
    # be relied on to deliver), in the engine's group
    first, second = (datetime(2027, 10, 31, h, 30, tzinfo=UTC) for h in (0, 1))
    policy = cron.DstPolicy("skip", fall_back)  # type: ignore[arg-type]
    row = {
        "id": uuid.uuid4(),
        "workflow_id": uuid.uuid4(),
        "cron": "30 2 * * *",
        "timezone": "Europe/Berlin",
        "enabled": True,
        "dst_policy": policy.as_columns(),
    }
    for kwargs in desired_schedules(row, first - timedelta(days=30)).values():
        scheduler.create_schedule(**{**kwargs, "GroupName": GROUP})
    fired: list[str] = []

    def invoke(_: str, payload: bytes) -> None:
        fired.append(json.loads(payload)["scheduledTime"])

    clock = ManualClock(first - timedelta(minutes=5, seconds=30))
    engine = SchedulerEngine(scheduler, GROUP, invoke, clock)
    engine.start()
    try:
        # When the clock passes the repeated hour, ten minutes at a time
        while clock.now() < second + timedelta(minutes=10):
            engine.wait_until_processed(clock.advance(600), WAIT_S)
    finally:
        engine.stop()
        for summary in scheduler.list_schedules(GroupName=GROUP)["Schedules"]:
            scheduler.delete_schedule(Name=summary["Name"], GroupName=GROUP)
    # Then the cron fired at the first instant (as EventBridge's does), the at() schedules at
    # theirs; and the slots the runner claims of those deliveries are the policy's fire times
    expected = {"last": [first, second], "both": [first, first, second]}[fall_back]
    assert sorted(fired) == [iso(t) for t in expected]
    slots = {cron.policy_fire_slot("30 2 * * *", "Europe/Berlin", t, policy) for t in expected}
    wanted = cron.policy_fire_times(
        "30 2 * * *", "Europe/Berlin", first - timedelta(hours=1), 5, until=second, policy=policy
    )
    assert slots - {None} == set(wanted)
