"""A schedule's read previews (nextRunTimes) with exceptions that no longer apply (issue #26
review), through the API's handler on real Postgres and moto: a move whose occurrence stopped
being a fire time (a PATCH of the cron) or falls on a date a calendar excludes runs nothing (the
runner ignores its at() as stale, or skips the slot by the calendar), so its new time is no
next run; the exception itself is still listed, to be removed. And a schedule has a bounded
number of exceptions still to come (each read lists them and walks past them)."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from scheduler import cron
from scheduler.api.schedule_exceptions import (
    MAX_UPCOMING,
    ExceptionService,
    ExceptionServiceQueries,
)
from scheduler.errors import Conflict
from scheduler.models.schedule_exceptions import ExceptionCreate
from scheduler.store.db import database
from scheduler.sync.eventbridge import EventBridgeSchedules

from tests.integration.runner_fixtures import FakeClock
from tests.integration.test_api import (  # noqa: F401  (fixtures)
    Api,
    api,
    eventbridge,
    workflows,
)

DAILY = "0 7 * * *"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _moved_schedule(api: Api, workflow_id: uuid.UUID) -> tuple[dict[str, Any], datetime]:
    """A daily schedule whose second fire time is moved 3 hours later; (it, the new time)."""
    status, schedule = api.call(
        "POST", "/api/schedules", body={"workflowId": str(workflow_id), "cron": DAILY}
    )
    assert status == 201, schedule
    second = cron.next_fire_times(DAILY, "UTC", datetime.now(UTC), 2)[1]
    new_time = second + timedelta(hours=3)
    body = {"occurrence": _iso(second), "action": "move", "moveTo": _iso(new_time)}
    status, added = api.call("POST", f"/api/schedules/{schedule['id']}/exceptions", body=body)
    assert status == 201, added
    return schedule, new_time


def _next_runs(api: Api, schedule_id: str) -> tuple[list[datetime], dict[str, Any]]:
    status, detail = api.call("GET", f"/api/schedules/{schedule_id}")
    assert status == 200, detail
    return [_parse(t) for t in detail["nextRunTimes"]], detail


def test_a_move_whose_occurrence_a_cron_change_removed_is_no_next_run(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    schedule, new_time = _moved_schedule(api, workflows["alice"])
    assert new_time in _next_runs(api, schedule["id"])[0]

    status, patched = api.call(
        "PATCH", f"/api/schedules/{schedule['id']}", body={"cron": "0 8 * * *"}
    )
    assert status == 200, patched

    times, detail = _next_runs(api, schedule["id"])
    assert new_time not in times
    assert times == cron.next_fire_times("0 8 * * *", "UTC", datetime.now(UTC), len(times))
    assert len(detail["exceptions"]) == 1  # still listed: remove it to tidy up


def test_a_move_of_an_occurrence_on_an_excluded_date_is_no_next_run(
    api: Api, workflows: dict[str, uuid.UUID]
) -> None:
    schedule, new_time = _moved_schedule(api, workflows["alice"])
    occurrence = cron.next_fire_times(DAILY, "UTC", datetime.now(UTC), 2)[1]
    day = occurrence.date().isoformat()
    status, calendar = api.call(
        "POST",
        "/api/calendars",
        body={"name": "Holidays", "timezone": "UTC", "dates": [{"start": day}]},
    )
    assert status == 201, calendar
    status, patched = api.call(
        "PATCH",
        f"/api/schedules/{schedule['id']}",
        body={"excludeCalendars": [calendar["id"]]},
    )
    assert status == 200, patched

    times, _ = _next_runs(api, schedule["id"])
    assert new_time not in times  # the runner skips the slot by the calendar, moved or not
    assert occurrence not in times


def test_a_schedule_has_at_most_max_upcoming_exceptions_still_to_come(
    api: Api, workflows: dict[str, uuid.UUID], eventbridge: EventBridgeSchedules
) -> None:
    # each exception still to come is listed and walked past by every read of the schedule
    status, schedule = api.call(
        "POST", "/api/schedules", body={"workflowId": str(workflows["alice"]), "cron": DAILY}
    )
    assert status == 201, schedule
    schedule_id = uuid.UUID(schedule["id"])
    now = datetime(2030, 1, 1, tzinfo=UTC)
    clock = FakeClock(now)
    service = ExceptionService(ExceptionServiceQueries.over(database()), eventbridge, clock)
    fires = cron.next_fire_times(DAILY, "UTC", now, MAX_UPCOMING + 2)

    def skip(occurrence: datetime) -> Any:
        request = ExceptionCreate.model_validate({"occurrence": _iso(occurrence), "action": "skip"})
        return service.add_exception(None, schedule_id, request)

    for occurrence in fires[:MAX_UPCOMING]:
        skip(occurrence)

    with pytest.raises(Conflict, match=f"{MAX_UPCOMING} exceptions still to come"):
        skip(fires[MAX_UPCOMING])
    # once the first has passed it no longer counts: another may be added
    clock.advance((fires[0] - now).total_seconds() + 60)
    assert skip(fires[MAX_UPCOMING]).occurrence == fires[MAX_UPCOMING]
    status, listed = api.call("GET", f"/api/schedules/{schedule_id}/exceptions")
    assert (status, len(listed["items"])) == (200, MAX_UPCOMING + 1)
