"""A backfill over an occurrence moved to a time still to come (issue #26 review): the move says
when it runs, so the backfill leaves it to its at() instead of running it now (which would make
the at()'s delivery a duplicate: the run at the user's time would never happen). Real Postgres,
moto, a loopback Lambda."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from scheduler.store.exceptions import ExceptionQueries

from tests.integration.policy_fixtures import iso, runs_by_time
from tests.integration.test_api import (  # noqa: F401  (fixtures)
    ALICE,
    Api,
    api,
    eventbridge,
    lambda_endpoint,
)
from tests.queries import process_queries

_TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _day(days_from_today: int) -> datetime:
    return _TODAY + timedelta(days=days_from_today)


def test_a_backfill_leaves_an_occurrence_moved_ahead_to_its_new_time(
    api: Api, lambda_endpoint: list[dict[str, Any]]
) -> None:
    queries = process_queries()
    workflow_id = queries.workflows.create_workflow(ALICE, "daily report")["id"]
    status, schedule = api.call(
        "POST", "/api/schedules", body={"workflowId": str(workflow_id), "cron": "0 0 * * *"}
    )
    assert status == 201, schedule
    schedule_id = uuid.UUID(schedule["id"])
    # added two days ago, while yesterday's fire time was still to come: moved to tomorrow 01:00
    moved_to = _day(1) + timedelta(hours=1)
    ExceptionQueries(queries.db).add_exception(
        schedule_id,
        occurrence=_day(-1),
        action="move",
        move_to=moved_to,
        note=None,
        created_by="test",
    )
    # an occurrence moved to a time already past is backfilled like any other
    ExceptionQueries(queries.db).add_exception(
        schedule_id,
        occurrence=_day(-3),
        action="move",
        move_to=_day(-3) + timedelta(hours=5),
        note=None,
        created_by="test",
    )

    body = {"from": iso(_day(-3)), "to": iso(_day(-1))}
    status, accepted = api.call("POST", f"/api/schedules/{schedule_id}/backfill", body=body)

    assert status == 202, accepted
    assert (accepted["fires"], accepted["queued"]) == (3, 2)
    queued = [r["scheduled_time"] for r in runs_by_time(queries, schedule_id)]
    assert queued == [_day(-3), _day(-2)]  # yesterday's runs at its new time, by its at()
