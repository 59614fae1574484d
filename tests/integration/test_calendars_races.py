"""A calendar deleted while a schedule write references it (issue #26): whichever commits second
sees the first's work, so no schedule is left naming a calendar that is gone. Real Postgres,
moto's Scheduler; the other party holds its transaction open on a connection of its own, as
another Lambda would, and the API call under test waits on its row lock meanwhile."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg

from tests.integration.test_api import (  # noqa: F401  (fixtures)
    Api,
    _create,
    api,
    eventbridge,
    workflows,
)

WAIT_S = 30  # how long the test waits for the API call to block (a hang is a failure)


def _wait_for_a_lock_wait(database_url: str) -> None:
    """Until a backend waits on a row lock: the API call reached the other party's lock."""
    deadline = time.monotonic() + WAIT_S
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "select count(*) from pg_stat_activity"
                " where wait_event_type = 'Lock' and datname = current_database()"
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.01)
    raise AssertionError(f"no API call waited on the lock within {WAIT_S} s")


def _calendar(api: Api, name: str) -> dict[str, Any]:
    status, body = api.call("POST", "/api/calendars", body={"name": name})
    assert status == 201, body
    return body  # type: ignore[no-any-return]


def test_a_schedule_write_waiting_on_a_calendars_delete_is_refused_once_it_is_gone(
    api: Api, workflows: dict[str, uuid.UUID], clean_db: str
) -> None:
    calendar = _calendar(api, "Holidays")
    schedule = _create(api, workflows["alice"])
    with psycopg.connect(clean_db) as deleter, ThreadPoolExecutor(1) as pool:
        # Given a delete that holds the calendar (as CalendarService.delete does, FOR UPDATE)
        deleter.execute("select id from calendars where id = %s for update", (calendar["id"],))
        # When a PATCH names the calendar meanwhile
        patch = pool.submit(
            api.call,
            "PATCH",
            f"/api/schedules/{schedule['id']}",
            body={"excludeCalendars": [calendar["id"]]},
        )
        _wait_for_a_lock_wait(clean_db)
        deleter.execute("delete from calendars where id = %s", (calendar["id"],))
        deleter.commit()
        status, body = patch.result(WAIT_S)

    # Then the PATCH, which waited, finds it gone: refused, and the schedule names nothing
    assert status == 422, body
    assert f"no calendar {calendar['id']}" in body["error"]["message"]
    assert api.call("GET", f"/api/schedules/{schedule['id']}")[1]["excludeCalendars"] == []


def test_a_delete_waiting_on_a_schedule_write_that_references_the_calendar_is_refused(
    api: Api, workflows: dict[str, uuid.UUID], clean_db: str
) -> None:
    calendar = _calendar(api, "Holidays")
    schedule = _create(api, workflows["alice"])
    with psycopg.connect(clean_db) as writer, ThreadPoolExecutor(1) as pool:
        # Given a schedule write that references the calendar, not committed yet (as
        # ensure_usable_calendars does: FOR KEY SHARE, then the row's update)
        writer.execute("select id from calendars where id = %s for key share", (calendar["id"],))
        writer.execute(
            "update schedules set exclude_calendars = array[%s::uuid] where id = %s",
            (calendar["id"], schedule["id"]),
        )
        # When the calendar is deleted meanwhile
        delete = pool.submit(api.call, "DELETE", f"/api/calendars/{calendar['id']}")
        _wait_for_a_lock_wait(clean_db)
        writer.commit()
        status, body = delete.result(WAIT_S)

    # Then the delete, which waited, sees the schedule that uses it: refused, naming it
    assert status == 409, body
    assert body["error"]["details"] == [{"scheduleId": schedule["id"], "name": None}]
    assert api.call("GET", f"/api/calendars/{calendar['id']}")[0] == 200
