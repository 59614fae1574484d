"""A backfill over dates a calendar excludes (issue #26): the excluded fire times are queued
like the others, then skipped by the calendar when their turn comes, and each skip hands on the
next queued run, so the chain goes on to the end. Real Postgres, moto, a loopback Lambda."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration.policy_fixtures import HandOns, iso, runs_by_time
from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    LoopbackServer,
    Runner,
    allow_private_http_fixture,
    clock_fixture,
    dynamodb_fixture,
    http_server_fixture,
    http_steps,
    runner_fixture,
)
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


def test_a_backfill_skips_the_excluded_dates_and_runs_the_others_in_order(
    api: Api,
    runner: Runner,
    http_server: LoopbackServer,
    lambda_endpoint: list[dict[str, Any]],
) -> None:
    # Given a daily schedule that excludes two of the last five days
    workflow_id = process_queries().workflows.create_workflow(
        ALICE, "daily report", {"steps": http_steps(http_server)}
    )["id"]
    excluded = [_day(-4), _day(-2)]
    status, calendar = api.call(
        "POST",
        "/api/calendars",
        body={"name": "Holidays", "dates": [{"start": d.date().isoformat()} for d in excluded]},
    )
    assert status == 201, calendar
    status, schedule = api.call(
        "POST",
        "/api/schedules",
        body={
            "workflowId": str(workflow_id),
            "cron": "0 0 * * *",
            "excludeCalendars": [calendar["id"]],
        },
    )
    assert status == 201, schedule

    # When those five days are backfilled and the chain of hand-ons runs
    body = {"from": iso(_day(-5)), "to": iso(_day(-1))}
    status, accepted = api.call("POST", f"/api/schedules/{schedule['id']}/backfill", body=body)
    assert (status, accepted["queued"]) == (202, 5), accepted
    [invoke] = lambda_endpoint
    runner.clock.current = datetime.now(UTC)
    done = HandOns(runner, [invoke["payload"]]).drain()

    # Then every day had its turn, oldest first: the excluded ones skipped by the calendar
    days = [_day(n) for n in range(-5, 0)]
    assert [(t, report.outcome) for t, report in done] == [
        (iso(d), "skipped" if d in excluded else "succeeded") for d in days
    ]
    runs = runs_by_time(runner.queries, uuid.UUID(schedule["id"]))
    assert [(r["scheduled_time"], r["status"], r["error"]) for r in runs] == [
        (d, "skipped", "skipped by calendar Holidays") if d in excluded else (d, "succeeded", None)
        for d in days
    ]
    assert [r.headers["x-scheduled-time"] for r in http_server.requests] == [
        iso(d) for d in days if d not in excluded
    ]
