"""A schedule's exceptions across a pause (issue #26 review), on real Postgres and moto: a moved
occurrence whose new time falls while its schedule is paused is neither run (the at() still
fires: the runner finds the schedule disabled) nor recorded `missed` after the resume, as no
cron fire time of the pause is; one whose new time passed unrun before the pause still is. A move
of an occurrence on an excluded date is never missed; a stale delivery on an excluded date leaves
the schedule's last outcome as it was; exceptions that settle nothing (stale after a cron
change) do not keep the check from the ones after them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from scheduler.api.schedule_exceptions import ExceptionService, ExceptionServiceQueries
from scheduler.models.schedule_exceptions import ExceptionCreate, ScheduleException
from scheduler.policies import excepted_fires
from scheduler.policies.missed_fires import check_missed_fires
from scheduler.run.event import RunnerEvent
from scheduler.run.runner import RunReport, run_fire
from scheduler.store.calendars import CalendarQueries
from scheduler.store.exceptions import ExceptionQueries
from scheduler.sync.eventbridge import EventBridgeSchedules

from tests.integration.policy_fixtures import checking_since, runs_by_time
from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    OWNER,
    REMAINING_S,
    SEVEN,
    LoopbackServer,
    Runner,
    allow_private_http_fixture,
    clock_fixture,
    dynamodb_fixture,
    http_server_fixture,
    http_steps,
    make_schedule,
    runner_fixture,
)
from tests.queries import AllQueries

BEFORE = SEVEN - timedelta(hours=1)
MOVED = SEVEN + timedelta(hours=1, minutes=2)  # 08:02, no fire time of the hourly cron


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture(name="eventbridge")
def eventbridge_fixture(dynamodb: Any) -> EventBridgeSchedules:  # dynamodb: moto is up
    schedules = EventBridgeSchedules()
    schedules.ensure_group()
    return schedules


def _move(
    queries: AllQueries, eventbridge: EventBridgeSchedules, schedule: dict[str, Any]
) -> ScheduleException:
    service_queries = ExceptionServiceQueries.over(queries.db)
    service = ExceptionService(service_queries, eventbridge, lambda: BEFORE)
    body = {"occurrence": _iso(SEVEN), "action": "move", "moveTo": _iso(MOVED)}
    return service.add_exception(None, schedule["id"], ExceptionCreate.model_validate(body))


def _at_delivery(runner: Runner, eventbridge: EventBridgeSchedules, move: Any) -> RunReport:
    """What EventBridge's at() of the move delivers: its target Input, the attempt filled in."""
    described = eventbridge.get(f"move-{move.id}")
    assert described is not None
    text = described["Target"]["Input"].replace("<aws.scheduler.attempt-number>", "1")
    return run_fire(
        RunnerEvent.model_validate(json.loads(text)),
        remaining_time_s=REMAINING_S,
        queries=runner.queries.runner,
        lock=runner.lock,
        now=runner.clock,
    )


def _pause(queries: AllQueries, schedule_id: Any, at: datetime) -> None:
    queries.db.execute("update schedules set enabled = false where id = %s", (schedule_id,))
    # the database's now() is real time, the test's clock is not
    queries.db.execute(
        "update schedule_fire_checks set disabled_at = %s where schedule_id = %s",
        (at, schedule_id),
    )


def _resume(queries: AllQueries, schedule_id: Any, at: datetime) -> None:
    queries.db.execute("update schedules set enabled = true where id = %s", (schedule_id,))
    checking_since(queries, schedule_id, at)  # a resume restarts the check from its moment


def _check(queries: AllQueries, at: datetime) -> Any:
    return check_missed_fires(queries.missed_fires, hand_on=lambda _: None, now=lambda: at)


def test_a_move_whose_new_time_falls_in_a_pause_is_not_missed_after_the_resume(
    runner: Runner, http_server: LoopbackServer, eventbridge: EventBridgeSchedules
) -> None:
    queries = runner.queries
    schedule = make_schedule(queries, http_steps(http_server), cron="0 * * * *")
    checking_since(queries, schedule["id"], BEFORE + timedelta(minutes=1))
    move = _move(queries, eventbridge, schedule)
    assert runner.fire(schedule, SEVEN).outcome == "ignored"  # moved: the cron runs nothing
    _pause(queries, schedule["id"], SEVEN + timedelta(minutes=30))
    # 08:02: the at() of the move still fires; the schedule is paused, nothing runs
    runner.clock.current = MOVED
    at_fire = _at_delivery(runner, eventbridge, move)
    assert (at_fire.outcome, at_fire.reason) == ("ignored", "schedule disabled")
    resumed = SEVEN + timedelta(hours=3)
    _resume(queries, schedule["id"], resumed)

    summary = _check(queries, resumed + timedelta(minutes=30))

    assert http_server.requests == []
    assert summary.missed_fires == 0
    assert runs_by_time(queries, schedule["id"]) == []  # no slot of the pause is missed


def test_a_move_missed_before_the_pause_is_still_recorded_missed(
    runner: Runner, http_server: LoopbackServer, eventbridge: EventBridgeSchedules
) -> None:
    queries = runner.queries
    schedule = make_schedule(queries, http_steps(http_server), cron="0 * * * *")
    checking_since(queries, schedule["id"], BEFORE + timedelta(minutes=1))
    _move(queries, eventbridge, schedule)
    _pause(queries, schedule["id"], MOVED + timedelta(minutes=20))  # the at() was never delivered

    _check(queries, MOVED + timedelta(minutes=40))

    [run] = [r for r in runs_by_time(queries, schedule["id"]) if r["scheduled_time"] == SEVEN]
    assert run["status"] == "missed"
    assert run["error"] == "missed: its schedule was paused"


def test_a_move_of_an_occurrence_on_an_excluded_date_is_never_missed(
    runner: Runner, http_server: LoopbackServer, eventbridge: EventBridgeSchedules
) -> None:
    # the runner claims a moved slot on an excluded date `skipped` by the calendar (the claim
    # reads the slot's date): a lost at() delivery is not missed either, as no excluded fire is
    queries = runner.queries
    schedule = make_schedule(queries, http_steps(http_server), cron="0 * * * *")
    checking_since(queries, schedule["id"], BEFORE + timedelta(minutes=1))
    calendar = CalendarQueries(queries.db).create_calendar(
        OWNER,
        name="Holidays",
        timezone="UTC",
        note=None,
        dates=[(SEVEN.date(), SEVEN.date())],
        max_per_owner=100,
    )
    queries.schedules.update_schedule(schedule["id"], None, {"exclude_calendars": [calendar["id"]]})
    checking_since(queries, schedule["id"], BEFORE + timedelta(minutes=1))
    move = _move(queries, eventbridge, schedule)

    summary = _check(queries, MOVED + timedelta(minutes=30))  # its at() was never delivered

    assert summary.missed_fires == 0
    assert [r for r in runs_by_time(queries, schedule["id"]) if r["status"] == "missed"] == []
    # a delivery after all is skipped by the calendar, as the cron's would have been
    runner.clock.current = MOVED
    report = _at_delivery(runner, eventbridge, move)
    assert (report.outcome, report.reason) == ("skipped", "skipped by calendar Holidays")


def test_a_stale_delivery_on_an_excluded_date_leaves_the_last_run_alone(
    runner: Runner, http_server: LoopbackServer
) -> None:
    # the claim records a fire on an excluded date skipped (and the schedule's last run with it)
    # before the runner finds the delivery stale and gives the claim back: nothing ran, nothing
    # was skipped, so the schedule's last run must be as it was
    queries = runner.queries
    schedule = make_schedule(queries, http_steps(http_server))  # */5
    assert runner.fire(schedule, SEVEN).outcome == "succeeded"
    calendar = CalendarQueries(queries.db).create_calendar(
        OWNER,
        name="Holidays",
        timezone="UTC",
        note=None,
        dates=[(SEVEN.date(), SEVEN.date())],
        max_per_owner=100,
    )
    queries.schedules.update_schedule(
        schedule["id"], None, {"exclude_calendars": [calendar["id"]], "cron": "0 * * * *"}
    )
    runner.clock.advance(300)

    stale = runner.fire(schedule, SEVEN + timedelta(minutes=5))  # the old cron's, delivered late

    assert (stale.outcome, stale.reason) == ("ignored", "stale fire time")
    assert [r["scheduled_time"] for r in runs_by_time(queries, schedule["id"])] == [SEVEN]
    row = runner.schedule(schedule)
    assert (row["last_run_status"], row["last_run_scheduled_time"]) == ("succeeded", SEVEN)


def test_exceptions_that_settle_nothing_do_not_hide_the_ones_after_them(
    runner: Runner, http_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a cron change leaves exceptions whose occurrence is no fire time any more: the check
    # passes over them each time (nothing to record); more of them than a page takes must not
    # keep a real skip after them from being recorded
    monkeypatch.setattr(excepted_fires, "MAX_EXCEPTIONS", 2)
    queries = runner.queries
    changed = make_schedule(queries, http_steps(http_server), cron="0 * * * *")
    other = make_schedule(queries, http_steps(http_server), cron="0 * * * *")
    for schedule in (changed, other):
        checking_since(queries, schedule["id"], BEFORE + timedelta(minutes=1))
    exceptions = ExceptionQueries(queries.db)
    for minutes in (7, 17, 27):  # fire times of the cron before it changed to hourly
        exceptions.add_exception(
            changed["id"],
            occurrence=SEVEN + timedelta(minutes=minutes),
            action="skip",
            move_to=None,
            note=None,
            created_by="test",
        )
    exceptions.add_exception(
        other["id"],
        occurrence=MOVED - timedelta(minutes=2),
        action="skip",
        move_to=None,
        note="holiday",
        created_by="test",
    )

    summary = _check(queries, MOVED + timedelta(minutes=30))

    assert summary.skipped_by_exception == 1
    [run] = [r for r in runs_by_time(queries, other["id"]) if r["status"] == "skipped"]
    assert (run["scheduled_time"], run["error"]) == (
        MOVED - timedelta(minutes=2),
        "skipped by exception: holiday",
    )
