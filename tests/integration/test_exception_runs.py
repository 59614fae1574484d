"""A schedule's exceptions at run time (issue #26), on real Postgres and moto: the runner skips a
skipped slot (recorded, no workflow, no lease) and runs a moved one once, at the at()'s delivery,
under the original slot; the missed-fire check never reports a skipped slot and reports a moved
one only after its new time; reconcile recreates a missing at() and deletes an orphaned one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from scheduler.api.schedule_exceptions import ExceptionService, ExceptionServiceQueries
from scheduler.models.schedule_exceptions import ExceptionCreate, ScheduleException
from scheduler.policies.missed_fires import check_missed_fires
from scheduler.policies.periodic_pass import reconcile
from scheduler.run.event import RunnerEvent
from scheduler.run.runner import run_fire
from scheduler.store.exceptions import ExceptionQueries
from scheduler.sync.eventbridge import EventBridgeSchedules
from scheduler.sync.moves import reconcile_moves

from tests.integration.policy_fixtures import checking_since, runs_by_time
from tests.integration.runner_fixtures import (  # noqa: F401  (fixtures)
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
    make_schedule,
    runner_fixture,
)
from tests.queries import AllQueries

BEFORE = SEVEN - timedelta(hours=1)  # when the exceptions are added
EIGHT = SEVEN + timedelta(hours=1)
MOVED = EIGHT + timedelta(minutes=2)  # no fire time of the */5 schedules


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture(name="eventbridge")
def eventbridge_fixture(dynamodb: Any) -> EventBridgeSchedules:  # dynamodb: moto is up
    schedules = EventBridgeSchedules()
    schedules.ensure_group()
    return schedules


def _add(
    queries: AllQueries,
    eventbridge: EventBridgeSchedules,
    schedule: dict[str, Any],
    *,
    now: datetime = BEFORE,
    **body: Any,
) -> ScheduleException:
    service = ExceptionService(ExceptionServiceQueries.over(queries.db), eventbridge, lambda: now)
    return service.add_exception(None, schedule["id"], ExceptionCreate.model_validate(body))


def _at_delivery(
    runner: Runner, eventbridge: EventBridgeSchedules, move: ScheduleException, invocation: str
) -> Any:
    """What EventBridge's at() delivers: its target Input, the attempt filled in."""
    described = eventbridge.get(f"move-{move.id}")
    assert described is not None
    text = described["Target"]["Input"].replace("<aws.scheduler.attempt-number>", "1")
    return run_fire(
        RunnerEvent.model_validate(json.loads(text)),
        remaining_time_s=REMAINING_S,
        invocation_id=invocation,
        queries=runner.queries.runner,
        lock=runner.lock,
        now=runner.clock,
    )


def test_a_skipped_slot_is_recorded_skipped_without_running_or_leasing(
    runner: Runner, http_server: LoopbackServer, eventbridge: EventBridgeSchedules
) -> None:
    schedule = make_schedule(runner.queries, http_steps(http_server))
    _add(
        runner.queries, eventbridge, schedule, occurrence=_iso(SEVEN), action="skip", note="holiday"
    )

    report = runner.fire(schedule, SEVEN, invocation="first")
    duplicate = runner.fire(schedule, SEVEN, invocation="second")
    retried = runner.fire(schedule, SEVEN, invocation="first")  # Lambda's retry of the first

    assert report.outcome == "skipped"
    assert report.reason == "skipped by exception: holiday"
    assert (duplicate.outcome, retried.outcome) == ("duplicate", "duplicate")
    assert http_server.requests == []
    [run] = runner.runs(schedule)
    assert (run["status"], run["error"]) == ("skipped", "skipped by exception: holiday")
    assert run["fence"] is None  # no lease was taken
    workflow = runner.workflow(schedule)
    assert (workflow["run_count"], workflow["status"], workflow["lease_fence"]) == (0, "idle", 0)
    assert runner.schedule(schedule)["last_run_status"] == "skipped"
    # the next slot runs as usual
    runner.clock.advance(300)
    assert runner.fire(schedule, SEVEN + timedelta(minutes=5)).outcome == "succeeded"


def test_a_moved_slot_runs_once_at_its_new_time_under_the_original_slot(
    runner: Runner, http_server: LoopbackServer, eventbridge: EventBridgeSchedules
) -> None:
    schedule = make_schedule(runner.queries, http_steps(http_server))
    move = _add(
        runner.queries,
        eventbridge,
        schedule,
        occurrence=_iso(SEVEN),
        action="move",
        moveTo=_iso(MOVED),
    )

    # the cron's delivery at 07:00 runs nothing and claims nothing
    original = runner.fire(schedule, SEVEN)
    assert original.outcome == "ignored"
    assert original.reason == f"moved to {_iso(MOVED)}"
    assert runner.runs(schedule) == []
    # the at() fires at 08:00 with the original slot as its scheduledTime
    runner.clock.advance(3720)
    moved = _at_delivery(runner, eventbridge, move, "at-1")
    again = _at_delivery(runner, eventbridge, move, "at-2")  # EventBridge's duplicate
    late_original = runner.fire(schedule, SEVEN, invocation="late")  # a retried cron delivery

    assert moved.outcome == "succeeded"
    assert (again.outcome, late_original.outcome) == ("duplicate", "ignored")
    [request] = http_server.requests
    assert request.headers["x-scheduled-time"] == "2026-11-27T07:00:00Z"  # its identity
    [run] = runner.runs(schedule)
    assert (run["scheduled_time"], run["status"], run["trigger"]) == (
        SEVEN,
        "succeeded",
        "schedule",
    )
    assert run["started_at"] == runner.clock()


def test_a_stale_at_of_a_removed_move_runs_nothing(
    runner: Runner, http_server: LoopbackServer, eventbridge: EventBridgeSchedules
) -> None:
    schedule = make_schedule(runner.queries, http_steps(http_server))
    move = _add(
        runner.queries,
        eventbridge,
        schedule,
        occurrence=_iso(SEVEN),
        action="move",
        moveTo=_iso(MOVED),
    )
    described = eventbridge.get(f"move-{move.id}")
    assert described is not None
    runner.queries.db.execute("delete from schedule_exceptions")  # removed; its at() lingers
    # the cron's delivery runs it, as if never moved
    assert runner.fire(schedule, SEVEN).outcome == "succeeded"
    runner.clock.advance(3720)
    event = json.loads(described["Target"]["Input"].replace("<aws.scheduler.attempt-number>", "1"))
    stale = run_fire(
        RunnerEvent.model_validate(event),
        remaining_time_s=REMAINING_S,
        queries=runner.queries.runner,
        lock=runner.lock,
        now=runner.clock,
    )
    assert stale.outcome == "duplicate"
    assert len(http_server.requests) == 1


def _check(queries: AllQueries, at: datetime) -> Any:
    return check_missed_fires(queries.missed_fires, hand_on=lambda _: None, now=lambda: at)


def test_the_missed_fire_check_records_a_skip_and_waits_for_a_moves_new_time(
    runner: Runner, http_server: LoopbackServer, eventbridge: EventBridgeSchedules
) -> None:
    queries = runner.queries
    schedule = make_schedule(queries, http_steps(http_server), cron="0 * * * *")
    checking_since(queries, schedule["id"], BEFORE + timedelta(minutes=1))
    _add(queries, eventbridge, schedule, occurrence=_iso(SEVEN), action="skip")
    _add(
        queries,
        eventbridge,
        schedule,
        occurrence=_iso(EIGHT),
        action="move",
        moveTo=_iso(EIGHT + timedelta(hours=2, minutes=30)),
    )
    nine, ten = EIGHT + timedelta(hours=1), EIGHT + timedelta(hours=2)
    moved_to = ten + timedelta(minutes=30)
    for slot in (nine,):
        queries.runs.claim_run_slot(
            schedule["id"],
            schedule["workflow_id"],
            slot,
            trigger="schedule",
            attempt=1,
            claim_token="ran",
            started_at=slot,
            lease_expires_at=slot + timedelta(minutes=1),
        )

    # 09:30: 07:00 (skipped, never delivered) and 08:00 (moved to 10:30) are past, no run
    summary = _check(queries, nine + timedelta(minutes=30))

    by_time = {r["scheduled_time"]: r for r in runs_by_time(queries, schedule["id"])}
    assert by_time[SEVEN]["status"] == "skipped"
    assert by_time[SEVEN]["error"] == "skipped by exception"
    assert EIGHT not in by_time  # due at 10:30 only
    assert summary.missed_fires == 0
    assert summary.skipped_by_exception == 1
    # 10:34, inside the grace after its new time: still not missed (10:00, never run, is)
    assert _check(queries, moved_to + timedelta(minutes=4)).missed_fires == 1
    assert EIGHT not in {r["scheduled_time"] for r in runs_by_time(queries, schedule["id"])}
    # 10:36: the moved slot had no run by its new time plus the grace: missed, once
    later = _check(queries, moved_to + timedelta(minutes=6))
    again = _check(queries, moved_to + timedelta(minutes=7))
    by_time = {r["scheduled_time"]: r for r in runs_by_time(queries, schedule["id"])}
    assert by_time[EIGHT]["status"] == "missed"
    assert by_time[EIGHT]["error"].startswith(f"missed: moved to {_iso(moved_to)}")
    assert (later.missed_fires, again.missed_fires) == (1, 0)
    assert by_time[SEVEN]["status"] == "skipped"  # never missed, never caught up


def test_reconcile_recreates_a_missing_at_and_deletes_an_orphan(
    runner: Runner, eventbridge: EventBridgeSchedules, http_server: LoopbackServer
) -> None:
    queries = runner.queries
    schedule = make_schedule(queries, http_steps(http_server))
    future = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    move = ExceptionService(ExceptionServiceQueries.over(queries.db), eventbridge).add_exception(
        None,
        schedule["id"],
        ExceptionCreate.model_validate(
            {
                "occurrence": _iso(future),
                "action": "move",
                "moveTo": _iso(future + timedelta(minutes=2)),
            }
        ),
    )
    name = f"move-{move.id}"
    wanted = eventbridge.get(name)
    eventbridge.delete_one(name)  # drift: the at() is gone
    orphan = dict(wanted or {}, Name="move-00000000-0000-4000-8000-000000000001")
    for key in ("Arn", "CreationDate", "LastModificationDate"):
        orphan.pop(key, None)
    eventbridge.put_one(orphan)
    later = datetime.now(UTC) + timedelta(minutes=10)  # past the orphan's grace

    summary = reconcile_moves(ExceptionQueries(queries.db), eventbridge, now=lambda: later)

    assert (summary.created, summary.deleted, summary.failed) == (1, 1, 0)
    recreated = eventbridge.get(name)
    assert recreated is not None
    assert recreated["Target"]["Input"] == (wanted or {})["Target"]["Input"]
    assert eventbridge.get("move-00000000-0000-4000-8000-000000000001") is None
    # a second pass finds nothing to do
    again = reconcile_moves(ExceptionQueries(queries.db), eventbridge, now=lambda: later)
    assert (again.created, again.deleted) == (0, 0)
    # the periodic pass does the same
    eventbridge.delete_one(name)
    reconcile(runner.queries.periodic_pass, eventbridge, now=lambda: later)
    assert eventbridge.get(name) is not None


def test_on_berlins_autumn_night_a_skip_and_a_move_hold_at_either_instant(
    runner: Runner, http_server: LoopbackServer, eventbridge: EventBridgeSchedules
) -> None:
    # 02:30 daily in Berlin: on 2030-10-27 it reads 02:30 at 00:30Z (CEST) and at 01:30Z (CET)
    queries = runner.queries
    workflow = queries.workflows.create_workflow(OWNER, "dst", {"steps": http_steps(http_server)})
    schedule = queries.schedules.create_schedule(
        None, workflow_id=workflow["id"], cron="30 2 * * *", timezone="Europe/Berlin", enabled=True
    )
    first, second = (datetime(2030, 10, 27, h, 30, tzinfo=UTC) for h in (0, 1))
    october = datetime(2030, 10, 1, tzinfo=UTC)  # when the exceptions are added
    skipped = _add(
        queries, eventbridge, schedule, now=october, occurrence="2030-10-27T02:30:00", action="skip"
    )
    assert skipped.occurrence == first

    # EventBridge delivers the repeated wall time at its second instant, then (a duplicate) at
    # its first: the slot is skipped once, under its first instant
    late = runner.fire(schedule, second, invocation="second")
    early = runner.fire(schedule, first, invocation="first")

    assert (late.outcome, early.outcome) == ("skipped", "duplicate")
    [run] = runner.runs(schedule)
    assert (run["scheduled_time"], run["status"]) == (first, "skipped")
    assert http_server.requests == []

    # the next night's 02:30 (01:30Z) moved to 03:10 on its wall clock: the cron's delivery at
    # 01:30Z runs nothing; the at() runs it under 01:30Z
    next_slot = datetime(2030, 10, 28, 1, 30, tzinfo=UTC)
    move = _add(
        queries,
        eventbridge,
        schedule,
        now=october,
        occurrence="2030-10-28T02:30:00",
        action="move",
        moveTo="2030-10-28T03:10:00",
    )
    assert move.move_to == datetime(2030, 10, 28, 2, 10, tzinfo=UTC)
    assert runner.fire(schedule, next_slot).outcome == "ignored"
    assert _at_delivery(runner, eventbridge, move, "at").outcome == "succeeded"
    assert [r["scheduled_time"] for r in runner.runs(schedule)] == [first, next_slot]
