"""Rows the API can no longer schedule as stored: a timezone that left the tz database (e.g.
`US/Pacific-New`, removed from tzdata in 2020b), or a cron the converter no longer accepts.
Such a row was written when it was valid, or around the API (SQL).

What a user expects of it: reading it works and says what is wrong; pausing it always works
(a paused row needs no EventBridge schedule, so when EventBridge cannot take the stored values
its schedules are removed); anything that would schedule it again asks for a new value first,
and changes nothing until it gets one.
"""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from botocore.exceptions import ClientError
from scheduler import cron
from scheduler.policies.periodic_pass import reconcile
from scheduler.sync.eventbridge import EventBridgeSchedules

from tests.integration.test_api import (  # noqa: F401  (fixtures)
    Api,
    _create,
    api,
    database_state,
    eventbridge,
    eventbridge_state,
    workflows,
)
from tests.integration.test_api_consistency import Hook, hooks  # noqa: F401  (fixture)
from tests.queries import process_queries

REMOVED_ZONE = "US/Pacific-New"
STALE = [
    pytest.param("timezone", REMOVED_ZONE, f"unknown timezone '{REMOVED_ZONE}'", id="timezone"),
    pytest.param("cron", "0 0 31 2 *", "day 31 does not occur in February", id="cron"),
]


def _store_around_the_api(database_url: str, schedule_id: str, column: str, value: str) -> None:
    assert column in ("timezone", "cron")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            f"update schedules set {column} = %s where id = %s",  # noqa: S608 (fixed names)
            (value, schedule_id),
        )


def test_the_removed_zone_is_really_gone_from_tzdata() -> None:
    with pytest.raises(cron.InvalidTimezone):
        cron.validate_timezone(REMOVED_ZONE)


@pytest.mark.parametrize(("column", "stale", "reason"), STALE)
def test_a_row_that_cannot_be_scheduled_reads_fine_and_says_why(
    api: Api, workflows: dict[str, uuid.UUID], clean_db: str, column: str, stale: str, reason: str
) -> None:
    # Given an enabled schedule whose stored value can no longer be scheduled
    created = _create(api, workflows["alice"], timezone="America/Los_Angeles")
    _store_around_the_api(clean_db, created["id"], column, stale)

    # When its owner reads it, alone and in a list
    status, detail = api.call("GET", f"/api/schedules/{created['id']}")
    listed_status, page = api.call("GET", "/api/schedules", query="enabled=true")

    # Then both answer, saying what is wrong and that it will not fire
    assert (status, listed_status) == (200, 200), (detail, page)
    assert detail[column] == stale
    assert detail["invalidReason"].startswith(f"{column}: ")
    assert reason in detail["invalidReason"]
    assert (detail["nextRunAt"], detail["nextRunTimes"]) == (None, [])
    [item] = page["items"]
    assert (item["id"], item["invalidReason"]) == (created["id"], detail["invalidReason"])
    if column == "timezone":  # the cron itself is fine: it is still described and converted
        assert detail["description"] == created["description"]
        assert detail["eventbridgeExpressions"] == created["eventbridgeExpressions"]


@pytest.mark.parametrize(("column", "stale", "reason"), STALE)
def test_pausing_a_row_that_cannot_be_scheduled_always_works(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    column: str,
    stale: str,
    reason: str,
) -> None:
    # Given an enabled schedule in EventBridge whose stored value can no longer be scheduled
    created = _create(api, workflows["alice"], timezone="America/Los_Angeles")
    _store_around_the_api(clean_db, created["id"], column, stale)
    assert list(eventbridge_state(eventbridge)) == [created["id"]]

    # When its owner pauses it
    status, body = api.call("PATCH", f"/api/schedules/{created['id']}", body={"enabled": False})

    # Then it is paused: the row is disabled, and EventBridge holds nothing that could fire it
    assert status == 200, body
    assert (body["enabled"], body["nextRunAt"]) == (False, None)
    assert reason in body["invalidReason"]
    [row] = database_state(clean_db)
    assert (row["enabled"], row[column]) == (False, stale)
    assert eventbridge_state(eventbridge) == {}
    # and a reconcile pass leaves it so (it cannot map the row, so it creates nothing for it)
    summary = reconcile(process_queries().periodic_pass, eventbridge)
    assert (summary["invalid_rows"], summary["created"]) == (1, 0)
    assert eventbridge_state(eventbridge) == {}
    # and pausing it again is still fine
    assert api.call("PATCH", f"/api/schedules/{created['id']}", body={"enabled": False})[0] == 200


CHANGES = {
    "enable": {"enabled": True},
    "new-cron": {"cron": "0 8 * * *"},
    "new-timezone": {"timezone": "Europe/Berlin"},
    "pause-and-new-cron": {"enabled": False, "cron": "0 8 * * *"},
}


@pytest.mark.parametrize(
    ("column", "stale", "reason", "change"),
    [
        pytest.param(*stale.values, change, id=f"{stale.id}-{name}")
        for stale in STALE
        for name, change in CHANGES.items()
        if stale.values[0] not in change  # replacing the stale value repairs it (next test)
    ],
)
def test_scheduling_it_again_asks_for_the_value_that_is_stale(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    column: str,
    stale: str,
    reason: str,
    change: dict[str, Any],
) -> None:
    # Given a paused schedule whose stored value can no longer be scheduled
    created = _create(api, workflows["alice"], timezone="America/Los_Angeles", enabled=False)
    _store_around_the_api(clean_db, created["id"], column, stale)
    before = database_state(clean_db), eventbridge_state(eventbridge)

    # When its owner changes anything but the stale value (and does not only pause it)
    status, body = api.call("PATCH", f"/api/schedules/{created['id']}", body=change)

    # Then they are told which stored value to replace, and nothing changed
    assert status == 422, body
    assert body["error"]["code"] == "invalid_input"
    message = body["error"]["message"]
    assert message.startswith(f"{column}: the stored {column} ")
    assert reason in message
    assert f"send a new {column}" in message
    assert (database_state(clean_db), eventbridge_state(eventbridge)) == before


@pytest.mark.parametrize(("column", "stale", "reason"), STALE)
def test_sending_a_new_value_repairs_it(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    column: str,
    stale: str,
    reason: str,
) -> None:
    # Given a schedule paused while its stored value could no longer be scheduled
    created = _create(api, workflows["alice"], timezone="America/Los_Angeles")
    _store_around_the_api(clean_db, created["id"], column, stale)
    assert api.call("PATCH", f"/api/schedules/{created['id']}", body={"enabled": False})[0] == 200

    # When its owner sends a new value and enables it
    fresh = {"timezone": "America/Los_Angeles", "cron": "0 8 * * *"}[column]
    status, body = api.call(
        "PATCH", f"/api/schedules/{created['id']}", body={column: fresh, "enabled": True}
    )

    # Then it is scheduled again, in EventBridge too
    assert status == 200, body
    assert (body["enabled"], body["invalidReason"], body[column]) == (True, None, fresh)
    assert body["nextRunAt"] is not None
    state = eventbridge_state(eventbridge)
    assert list(state) == [created["id"]]
    assert state[created["id"]]["State"] == "ENABLED"
    assert state[created["id"]]["ScheduleExpressionTimezone"] == "America/Los_Angeles"
    assert state[created["id"]]["ScheduleExpression"] == body["eventbridgeExpressions"][0]


def test_a_pause_eventbridge_rejects_removes_the_schedule_instead(
    api: Api,
    workflows: dict[str, uuid.UUID],
    eventbridge: EventBridgeSchedules,
    clean_db: str,
    hooks: Callable[[str, Hook], None],
) -> None:
    # Given a schedule that zoneinfo can map, but EventBridge now rejects (its own tz database)
    created = _create(api, workflows["alice"], cron="0 9 1 * MON", timezone="Europe/Kyiv")
    assert len(eventbridge_state(eventbridge)) == 2  # the day OR split: two schedules

    def reject(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "ValidationException", "Message": "Invalid timezone"}},
            "UpdateSchedule",
        )

    hooks("before-call.scheduler.UpdateSchedule", reject)

    # When its owner pauses it
    status, body = api.call("PATCH", f"/api/schedules/{created['id']}", body={"enabled": False})

    # Then the pause works: the row is disabled and neither schedule is left to fire
    assert status == 200, body
    assert body["enabled"] is False
    assert [row["enabled"] for row in database_state(clean_db)] == [False]
    assert eventbridge_state(eventbridge) == {}

    # while enabling it, which EventBridge must accept, still reports the rejection
    status, body = api.call("PATCH", f"/api/schedules/{created['id']}", body={"enabled": True})
    assert status == 422, body
    assert "Invalid timezone" in body["error"]["message"]
    assert [row["enabled"] for row in database_state(clean_db)] == [False]
