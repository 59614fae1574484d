"""Exceptions where a fire goes wrong (real Postgres, moto DynamoDB and EventBridge, fake time).
A claim of a slot with an exception that never got past its claim is settled by the
abandoned-run sweep as the exception says: a skipped slot whose skip was never recorded is
`skipped`, never missed, never caught up; a moved one whose at() delivery never started is
`missed` and alerted, not caught up (docs/exceptions.md). A moved occurrence on a date a
calendar of its schedule excludes is never reported missed (docs/calendars.md).

Found by the simulation (tests/simulation/excepted.py, calendars.py): before the fixes the
sweep recorded both claims `missed` with a Run Missed alert and queued a catch-up, which then
ran the skipped occurrence; and the missed-fire check recorded an excluded moved occurrence
whose at() was not delivered `missed`, with a Run Missed alert.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from scheduler.api.schedule_exceptions import ExceptionService, ExceptionServiceQueries
from scheduler.errors import DatabaseUnavailable, LockUnavailable
from scheduler.models.schedule_exceptions import ExceptionCreate, ScheduleException
from scheduler.policies.missed_fires import check_missed_fires
from scheduler.run.event import RunnerEvent
from scheduler.run.runner import run_fire
from scheduler.store.calendars import CalendarQueries
from scheduler.sync.eventbridge import EventBridgeSchedules

from tests.integration.policy_fixtures import (
    checking_since,
    event_for,
    make_policy_schedule,
    runs_by_time,
)
from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
    LEASE_OVER_S,
    LOCKS_TABLE,
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
    runner_fixture,
    short_retry_budget_fixture,
)
from tests.integration.test_alerts import AlertQueue, alert_queue_fixture  # noqa: F401
from tests.integration.test_runner_abandoned import (
    INVOCATION,
    LAMBDA_RETRY_S,
    _LockDown,
    _reconcile_pass,
)

pytestmark = pytest.mark.usefixtures("short_retry_budget")  # the faults never clear

BEFORE = SEVEN - timedelta(hours=1)  # when the exceptions are added
MOVED = SEVEN + timedelta(minutes=62)  # no fire time of the */5 schedules


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture(name="eventbridge")
def eventbridge_fixture(dynamodb: Any) -> EventBridgeSchedules:  # dynamodb: moto is up
    schedules = EventBridgeSchedules()
    schedules.ensure_group()
    return schedules


def _add(
    runner: Runner, eventbridge: EventBridgeSchedules, schedule: dict[str, Any], **body: Any
) -> ScheduleException:
    service = ExceptionService(
        ExceptionServiceQueries.over(runner.queries.db), eventbridge, lambda: BEFORE
    )
    return service.add_exception(None, schedule["id"], ExceptionCreate.model_validate(body))


def _three_attempts(runner: Runner, event: dict[str, Any], lock: Any, error: type) -> None:
    """The invocation and Lambda's two retries of it each claim (or resume) the slot and fail."""
    for retry in range(3):
        with pytest.raises(error):
            run_fire(
                RunnerEvent.model_validate(event),
                remaining_time_s=REMAINING_S,
                invocation_id=INVOCATION,
                queries=runner.queries.runner,
                lock=lock,
                now=runner.clock,
            )
        runner.clock.advance(LAMBDA_RETRY_S * (retry + 1))


def _pass_and_check(runner: Runner) -> list[dict[str, Any]]:
    """A reconcile pass (its sweep), then the missed-fire check: what they hand on."""
    hand_ons: list[dict[str, Any]] = []
    _reconcile_pass(runner, hand_ons)
    check_missed_fires(runner.queries.missed_fires, hand_on=hand_ons.append, now=runner.clock)
    return hand_ons


def test_a_skip_whose_record_never_committed_is_skipped_not_missed_nor_caught_up(
    runner: Runner,
    http_server: LoopbackServer,
    dynamodb: Any,
    eventbridge: EventBridgeSchedules,
    alert_queue: AlertQueue,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a catchupPolicy all schedule whose 07:00 is skipped
    schedule = make_policy_schedule(
        runner.queries, http_steps(http_server), cron="*/5 * * * *", catchup_policy="all"
    )
    # (the check looks from just before it: the slots after it are not due yet at the end)
    checking_since(runner.queries, schedule["id"], SEVEN - timedelta(minutes=1))
    _add(runner, eventbridge, schedule, occurrence=_iso(SEVEN), action="skip", note="holiday")

    # When every attempt of its fire claims the slot and cannot record the skip
    def down(*_: Any, **__: Any) -> None:
        raise DatabaseUnavailable("injected: the database went away")

    lock = _LockDown(dynamodb, table=LOCKS_TABLE, clock=runner.clock)  # never asked for
    with monkeypatch.context() as patch:
        patch.setattr(runner.queries.runner.runs, "record_skipped_run", down)
        _three_attempts(runner, event_for(schedule, SEVEN), lock, DatabaseUnavailable)

    # and the claim's lease expired before a pass and the check
    runner.clock.advance(LEASE_OVER_S)
    hand_ons = _pass_and_check(runner)

    # Then the slot is skipped with the exception's reason: no alert, nothing queued or run
    [run] = runs_by_time(runner.queries, schedule["id"])
    assert (run["status"], run["trigger"], run["error"]) == (
        "skipped",
        "schedule",
        "skipped by exception: holiday",
    )
    assert alert_queue.received() == []
    assert hand_ons == []
    assert http_server.requests == []


def test_a_move_whose_delivery_never_started_is_missed_and_alerted_not_caught_up(
    runner: Runner,
    http_server: LoopbackServer,
    dynamodb: Any,
    eventbridge: EventBridgeSchedules,
    alert_queue: AlertQueue,
) -> None:
    # Given a catchupPolicy all schedule (a day's window) whose 07:00 is moved to 08:02
    schedule = make_policy_schedule(
        runner.queries,
        http_steps(http_server),
        cron="*/5 * * * *",
        catchup_policy="all",
        catchup_window_seconds=86400,
    )
    checking_since(runner.queries, schedule["id"], BEFORE)
    move = _add(
        runner, eventbridge, schedule, occurrence=_iso(SEVEN), action="move", moveTo=_iso(MOVED)
    )

    # When every attempt of the at()'s delivery claims the slot and cannot take the lease
    described = eventbridge.get(f"move-{move.id}")
    assert described is not None
    event = json.loads(described["Target"]["Input"].replace("<aws.scheduler.attempt-number>", "1"))
    runner.clock.advance((MOVED - runner.clock()).total_seconds())
    lock = _LockDown(dynamodb, table=LOCKS_TABLE, clock=runner.clock)
    _three_attempts(runner, event, lock, LockUnavailable)

    # and the claim's lease expired before a pass and the check
    runner.clock.advance(LEASE_OVER_S)
    hand_ons = _pass_and_check(runner)

    # Then the slot is missed, its cause naming the move, with one Run Missed alert; no
    # catch-up is queued (the user chose its time) and nothing ran
    moved = [
        r for r in runs_by_time(runner.queries, schedule["id"]) if r["scheduled_time"] == SEVEN
    ]
    assert [(r["status"], r["trigger"]) for r in moved] == [("missed", "schedule")]
    assert f"moved to {_iso(MOVED)}: not caught up" in moved[0]["error"]
    [alert] = [a for a in alert_queue.received() if a["detail"]["scheduledTime"] == _iso(SEVEN)]
    assert alert["detail-type"] == "Run Missed"
    assert all(h["scheduledTime"] != _iso(SEVEN) for h in hand_ons)
    assert http_server.requests == []


def test_a_move_on_an_excluded_date_that_never_ran_is_not_reported_missed(
    runner: Runner,
    http_server: LoopbackServer,
    eventbridge: EventBridgeSchedules,
    alert_queue: AlertQueue,
) -> None:
    # Given a schedule whose 07:00 is moved to 08:02, and a calendar excluding that day
    schedule = make_policy_schedule(
        runner.queries, http_steps(http_server), cron="*/5 * * * *", catchup_policy="all"
    )
    checking_since(runner.queries, schedule["id"], SEVEN - timedelta(minutes=1))
    _add(runner, eventbridge, schedule, occurrence=_iso(SEVEN), action="move", moveTo=_iso(MOVED))
    calendar = CalendarQueries(runner.queries.db).create_calendar(
        OWNER,
        name="Closed",
        timezone="UTC",
        note=None,
        dates=[(SEVEN.date(), SEVEN.date())],
        max_per_owner=100,
    )
    runner.queries.schedules.update_schedule(
        schedule["id"], None, {"exclude_calendars": [calendar["id"]]}
    )

    # When the at() never delivers and the missed-fire check runs past its new time and grace
    runner.clock.advance((MOVED - runner.clock()).total_seconds() + 600)
    hand_ons = _pass_and_check(runner)

    # Then the moved occurrence is neither recorded nor alerted (the runner would have skipped
    # it), as every other fire of the day; nothing is queued or run
    assert runs_by_time(runner.queries, schedule["id"]) == []
    assert alert_queue.received() == []
    assert hand_ons == []
    assert http_server.requests == []
