"""The one-time at() schedules a DST policy adds (scheduler.sync.dst_schedules): their names,
which a row wants (inside its window, capped, nearest first), their target Input, and when one no
longer wanted is kept (its delivery may still be under way) or deleted."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from scheduler.config import get_settings
from scheduler.sync.dst_schedules import (
    MAX_DST_SCHEDULES,
    dst_instants,
    dst_name,
    keeps_dst_leftover,
    split_dst_name,
    unwanted_dst_names,
)
from scheduler.sync.eventbridge import desired_schedules, schedule_id_of

ID = uuid.UUID("00000000-0000-4000-8000-0000000d5700")
NOW = datetime(2027, 3, 1, tzinfo=UTC)
SHIFTED = datetime(2027, 3, 28, 1, 0, tzinfo=UTC)  # 03:00 CEST, after Berlin's gap
FIRST, SECOND = (datetime(2027, 10, 31, h, 30, tzinfo=UTC) for h in (0, 1))


def _row(**fields: Any) -> dict[str, Any]:
    return {
        "id": ID,
        "workflow_id": uuid.UUID(int=7),
        "cron": "30 2 * * *",
        "run_at": None,
        "timezone": "Europe/Berlin",
        "enabled": True,
        "start_at": None,
        "end_at": None,
        "flexible_window_minutes": 0,
        "dst_policy": {"spring_forward": "shift", "fall_back": "both"},
        **fields,
    }


def test_a_name_says_its_row_and_instant_and_nothing_else_is_taken_for_one() -> None:
    name = dst_name(ID, SECOND)
    assert name == f"{ID}-dst-20271031T0130Z"
    assert len(name) <= 64  # EventBridge's limit on a schedule's name
    assert split_dst_name(name) == (str(ID), SECOND)
    assert schedule_id_of(name) == ID
    for other in (str(ID), f"{ID}-dow", f"{ID}-dst-2027", f"{ID}-dst-20271031T0130", "x-dst-1"):
        assert split_dst_name(other) is None


def test_the_row_wants_an_at_per_instant_its_cron_cannot_deliver() -> None:
    desired = desired_schedules(_row(), NOW)
    assert set(desired) == {str(ID), *(dst_name(ID, t) for t in (SHIFTED, FIRST, SECOND))}
    at = desired[dst_name(ID, SECOND)]
    assert at["ScheduleExpression"] == "at(2027-10-31T01:30:00)"
    assert (at["ScheduleExpressionTimezone"], at["ActionAfterCompletion"]) == ("UTC", "DELETE")
    event = json.loads(at["Target"]["Input"])
    assert event["scheduledTime"] == "2027-10-31T01:30:00Z"  # the slot itself
    assert event["attempt"] == "<aws.scheduler.attempt-number>"
    # the default policy, a one-time row: none
    assert set(desired_schedules(_row(dst_policy=None), NOW)) == {str(ID)}
    run_at = datetime(2027, 5, 1, tzinfo=UTC)
    assert set(desired_schedules(_row(cron=None, run_at=run_at), NOW)) == {str(ID)}
    # a disabled row's are DISABLED, like its cron's
    disabled = desired_schedules(_row(enabled=False), NOW)
    assert {kwargs["State"] for kwargs in disabled.values()} == {"DISABLED"}


def test_only_instants_inside_the_window_and_at_most_the_cap() -> None:
    assert dst_instants(_row(end_at=datetime(2027, 6, 1, tzinfo=UTC)), NOW) == [SHIFTED]
    assert dst_instants(_row(start_at=datetime(2027, 10, 31, 1, tzinfo=UTC)), NOW) == [SECOND]
    # every minute: Berlin's one-hour autumn change repeats 60 wall times, 120 instants
    every_minute = dst_instants(_row(cron="* * * * *"), datetime(2027, 9, 1, tzinfo=UTC))
    assert len(every_minute) == 120
    # Antarctica/Troll's two-hour change repeats 120, 240 instants: the nearest 128 are kept
    troll = dst_instants(
        _row(cron="* * * * *", timezone="Antarctica/Troll"), datetime(2027, 9, 1, tzinfo=UTC)
    )
    assert len(troll) == MAX_DST_SCHEDULES
    assert troll == sorted(troll)
    assert troll[0] == datetime(2027, 10, 30, 23, 0, tzinfo=UTC)


def test_one_no_longer_wanted_is_kept_only_while_its_delivery_may_be_under_way() -> None:
    row = _row()
    name = dst_name(ID, SECOND)
    settle = timedelta(seconds=get_settings().schedule_max_event_age_s)
    # before its instant (the policy changed): deleted
    assert not keeps_dst_leftover(name, row, SECOND - timedelta(minutes=1))
    # from its instant until its delivery settled: kept
    assert keeps_dst_leftover(name, row, SECOND)
    assert keeps_dst_leftover(name, row, SECOND + settle - timedelta(seconds=1))
    assert not keeps_dst_leftover(name, row, SECOND + settle)
    # among what EventBridge holds, the surplus of the row's at() schedules
    existing = [str(ID), dst_name(ID, FIRST), name, dst_name(uuid.uuid4(), FIRST)]
    assert unwanted_dst_names(row, existing, {str(ID), name}, NOW) == [dst_name(ID, FIRST)]
