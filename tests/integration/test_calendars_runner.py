"""The runner and the missed-fire check on a schedule that excludes calendars (issue #26): real
Postgres, moto DynamoDB, fake time.

A scheduled fire on an excluded date is recorded skipped with the calendar's name, runs nothing
and takes no lease; a duplicate delivery of it is a duplicate; a manual run is not excluded; a
calendar edited while a run is in flight leaves that run alone; the calendar's timezone decides
the date, DST days included; the missed-fire check never reports an excluded fire.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from scheduler.policies.missed_fires import check_missed_fires
from scheduler.steps.engine import RunContext
from scheduler.store.calendars import CalendarQueries

from tests.conftest import AllQueries
from tests.integration.policy_fixtures import checking_since
from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    LOCKS_TABLE,
    OWNER,
    SEVEN,
    LoopbackServer,
    Runner,
    allow_private_http_fixture,
    clock_fixture,
    dynamodb_fixture,
    hooks_fixture,
    http_server_fixture,
    http_steps,
    make_schedule,
    runner_fixture,
)

NOV_27 = date(2026, 11, 27)


def _calendar(
    queries: AllQueries,
    name: str,
    days: list[tuple[date, date]],
    timezone: str = "UTC",
    owner: uuid.UUID | None = OWNER,
) -> uuid.UUID:
    row = CalendarQueries(queries.db).create_calendar(
        owner, name=name, timezone=timezone, note=None, dates=days, max_per_owner=100
    )
    return row["id"]  # type: ignore[no-any-return]


def _exclude(queries: AllQueries, schedule: dict[str, Any], *calendars: uuid.UUID) -> None:
    queries.schedules.update_schedule(schedule["id"], None, {"exclude_calendars": list(calendars)})


def test_a_fire_on_an_excluded_date_is_skipped_by_the_calendar_and_runs_nothing(
    runner: Runner, http_server: LoopbackServer, dynamodb: Any
) -> None:
    # Given a schedule that excludes two calendars, both covering the fire's date
    schedule = make_schedule(runner.queries, http_steps(http_server))
    freeze = _calendar(runner.queries, "Year-end freeze", [(NOV_27, date(2026, 12, 31))])
    holidays = _calendar(runner.queries, "Holidays", [(NOV_27, NOV_27)])
    _exclude(runner.queries, schedule, freeze, holidays)

    # When EventBridge delivers the fire, then delivers it again
    report = runner.fire(schedule)
    again = runner.fire(schedule, invocation="another-delivery")

    # Then it is recorded skipped, naming the first calendar by name; nothing ran, no lease
    assert (report.outcome, report.reason) == ("skipped", "skipped by calendar Holidays")
    assert again.outcome == "duplicate"
    [run] = runner.runs(schedule)
    assert (run["id"], run["status"], run["trigger"]) == (report.run_id, "skipped", "schedule")
    assert run["error"] == "skipped by calendar Holidays"
    assert run["finished_at"] is not None
    assert run["fence"] is None
    assert http_server.requests == []
    assert dynamodb.scan(TableName=LOCKS_TABLE)["Items"] == []
    assert runner.workflow(schedule)["run_count"] == 0
    assert runner.schedule(schedule)["last_run_status"] == "skipped"

    # And the next fire, after the holiday but in the freeze, names the freeze
    report = runner.fire(schedule, SEVEN + timedelta(days=1))
    assert report.reason == "skipped by calendar Year-end freeze"


def test_a_manual_run_on_an_excluded_date_runs_and_other_dates_run(
    runner: Runner, http_server: LoopbackServer
) -> None:
    schedule = make_schedule(runner.queries, http_steps(http_server))
    _exclude(runner.queries, schedule, _calendar(runner.queries, "Holidays", [(NOV_27, NOV_27)]))

    assert runner.fire(schedule, trigger="manual").outcome == "succeeded"
    assert runner.fire(schedule, SEVEN - timedelta(days=1)).outcome == "succeeded"
    assert len(http_server.requests) == 2


def test_a_calendar_edited_while_a_fire_is_in_flight_leaves_that_run_alone(
    runner: Runner, hooks: dict[str, Any]
) -> None:
    # Given a run in flight on a date no calendar excludes yet
    calendar = _calendar(runner.queries, "Holidays", [(date(2027, 1, 1), date(2027, 1, 1))])
    edits = CalendarQueries(runner.queries.db)

    def edit_calendar(run: RunContext) -> None:
        # When, mid-run, the calendar is edited to exclude this very date
        edits.update_calendar(calendar, None, {"dates": [(NOV_27, NOV_27)]})

    hooks["edit"] = edit_calendar
    steps = [{"type": "hook", "name": "edit"}]
    schedule = make_schedule(runner.queries, steps, cron="* * * * *")
    _exclude(runner.queries, schedule, calendar)

    report = runner.fire(schedule)

    # Then the claimed run finishes and is recorded as it ran; the next fire that day is skipped
    assert report.outcome == "succeeded"
    next_fire = runner.fire(schedule, SEVEN + timedelta(minutes=1))
    assert (next_fire.outcome, next_fire.reason) == ("skipped", "skipped by calendar Holidays")
    assert [r["status"] for r in runner.runs(schedule)] == ["succeeded", "skipped"]


def test_the_calendars_timezone_decides_the_date_on_a_dst_day(
    runner: Runner, http_server: LoopbackServer
) -> None:
    # Given a schedule at 01:30 New York time, whose wall time happens twice on 2026-11-01
    # (EDT 05:30Z, then EST 06:30Z), and a New York calendar excluding that day
    workflow = runner.queries.workflows.create_workflow(
        OWNER, "w", {"steps": http_steps(http_server)}
    )["id"]
    schedule = runner.queries.schedules.create_schedule(
        None, workflow_id=workflow, cron="30 1 * * *", timezone="America/New_York", enabled=True
    )
    nov_1 = date(2026, 11, 1)
    _exclude(
        runner.queries,
        schedule,
        _calendar(runner.queries, "Election day", [(nov_1, nov_1)], "America/New_York"),
    )
    first, second = (datetime(2026, 11, 1, h, 30, tzinfo=UTC) for h in (5, 6))

    # When EventBridge delivers both instants of the repeated wall time
    runner.clock.current = second + timedelta(seconds=2)
    reports = [runner.fire(schedule, first), runner.fire(schedule, second)]

    # Then the one slot is skipped once, under its first instant, and nothing ran
    assert [r.outcome for r in reports] == ["skipped", "duplicate"]
    assert [(r["scheduled_time"], r["status"]) for r in runner.runs(schedule)] == [
        (first, "skipped")
    ]
    # And the next day's 01:30 EST (06:30Z on Nov 2: still Nov 1 nowhere) runs
    assert runner.fire(schedule, datetime(2026, 11, 2, 6, 30, tzinfo=UTC)).outcome == "succeeded"
    assert len(http_server.requests) == 1


def test_a_utc_calendar_excludes_by_the_utc_date_not_the_schedules(
    runner: Runner, http_server: LoopbackServer
) -> None:
    # 21:00 in New York on Nov 27 is 02:00Z on Nov 28: a UTC calendar of Nov 28 excludes it
    workflow = runner.queries.workflows.create_workflow(
        OWNER, "w", {"steps": http_steps(http_server)}
    )["id"]
    schedule = runner.queries.schedules.create_schedule(
        None, workflow_id=workflow, cron="0 21 * * *", timezone="America/New_York", enabled=True
    )
    nov_28 = date(2026, 11, 28)
    _exclude(runner.queries, schedule, _calendar(runner.queries, "UTC day", [(nov_28, nov_28)]))
    fire = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    runner.clock.current = fire + timedelta(seconds=2)

    assert runner.fire(schedule, fire).reason == "skipped by calendar UTC day"


def test_the_missed_fire_check_never_reports_an_excluded_fire(
    runner: Runner, http_server: LoopbackServer
) -> None:
    # Given an hourly schedule whose fires on Nov 27 (UTC) are excluded, all-catch-up policy,
    # and no delivery at all for a day and a half
    schedule = make_schedule(runner.queries, http_steps(http_server), cron="0 * * * *")
    runner.queries.schedules.update_schedule(schedule["id"], None, {"catchup_policy": "all"})
    _exclude(runner.queries, schedule, _calendar(runner.queries, "Holidays", [(NOV_27, NOV_27)]))
    checking_since(runner.queries, schedule["id"], datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
    at = datetime(2026, 11, 28, 1, 0, tzinfo=UTC) + timedelta(minutes=10)

    # When the check runs
    check_missed_fires(runner.queries.missed_fires, hand_on=lambda event: None, now=lambda: at)

    # Then the missed fires are those of Nov 26 and 28 only; none of Nov 27's
    slots = sorted(r["scheduled_time"] for r in runner.runs(schedule))
    assert slots, "the fires before and after the holiday are missed"
    assert not [s for s in slots if s.date() == NOV_27]
    assert {s.date() for s in slots} == {date(2026, 11, 26), date(2026, 11, 28)}


def test_a_claim_made_before_the_calendar_changed_is_resumed_and_runs(
    runner: Runner, http_server: LoopbackServer
) -> None:
    # Given an invocation that claimed the fire, then died before it started the run
    schedule = make_schedule(runner.queries, http_steps(http_server))
    calendar = _calendar(runner.queries, "Holidays", [(date(2027, 1, 1), date(2027, 1, 1))])
    _exclude(runner.queries, schedule, calendar)
    claim = runner.queries.runs.claim_run_slot(
        schedule["id"],
        schedule["workflow_id"],
        SEVEN,
        trigger="schedule",
        attempt=1,
        claim_token="the-invocation",
        started_at=runner.clock(),
        lease_expires_at=runner.clock() + timedelta(minutes=2),
    )
    assert (claim["run_status"], claim["excluded_by"]) == ("running", None)

    # When the calendar is edited to exclude the date, then Lambda retries the invocation
    CalendarQueries(runner.queries.db).update_calendar(
        calendar, None, {"dates": [(NOV_27, NOV_27)]}
    )
    report = runner.fire(schedule, invocation="the-invocation")

    # Then the claim it made decides: the run goes on
    assert (report.outcome, report.run_id) == ("succeeded", claim["run_id"])
    assert len(http_server.requests) == 1
