"""E2E: a schedule that excludes a calendar, fired by the local EventBridge engine through the
runner: the fire on an excluded date is recorded skipped by the calendar and its workflow is not
called; once the calendar no longer covers the date, the next fire runs."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from devstack.stack import Stack
from tests.e2e.conftest import (
    Api,
    MakeWorkflow,
    advance_to_next_minute,
    clock_of,
    hits_with,
    iso,
    parse_time,
    sync_engine,
)


@pytest.fixture
def calendar(api1: Api, stack: Stack) -> dict[str, object]:
    """A calendar of the stack clock's current day and the next (UTC): the next minute is in it."""
    today = clock_of(stack).now().date()
    response = api1.request(
        "POST",
        "/api/calendars",
        {
            "name": f"e2e {uuid.uuid4().hex[:8]}",
            "dates": [{"start": str(today), "end": str(today + timedelta(days=1))}],
        },
    )
    assert response.status == 201, response.body
    return dict(response.body)


def test_an_excluded_fire_is_skipped_by_the_calendar_and_the_next_one_after_an_edit_runs(
    stack: Stack, api1: Api, make_workflow: MakeWorkflow, calendar: dict[str, object]
) -> None:
    # Given an every-minute schedule excluding today's calendar
    workflow = make_workflow()
    schedule = api1.create_schedule(workflow.id, "* * * * *", excludeCalendars=[calendar["id"]])
    sync_engine(stack)

    # When the engine fires it
    skipped_at = advance_to_next_minute(stack)

    # Then the run is recorded skipped by the calendar and the workflow was not called
    runs = api1.runs(schedule["id"])
    assert [(r["status"], parse_time(r["scheduledTime"]), r["error"]) for r in runs] == [
        ("skipped", skipped_at, f"skipped by calendar {calendar['name']}")
    ]
    assert hits_with(stack, workflow.marker) == []

    # When the calendar is edited away from today, the next fire runs
    response = api1.request(
        "PATCH", f"/api/calendars/{calendar['id']}", {"dates": [{"start": "2099-01-01"}]}
    )
    assert response.status == 200, response.body
    ran_at = advance_to_next_minute(stack)
    runs = api1.runs(schedule["id"])
    assert [(r["status"], parse_time(r["scheduledTime"])) for r in runs] == [
        ("succeeded", ran_at),
        ("skipped", skipped_at),
    ]
    assert [hit["scheduledTime"] for hit in hits_with(stack, workflow.marker)] == [iso(ran_at)]
